//! Templated webhook bodies with minijinja (Jinja2 syntax), so a receiver that wants its
//! own JSON or text needs a template in the config, not a bridge.
//!
//! The template sees the notification body as it is sent to every notifier (`action`,
//! `incident`, `host`, `group`, `dashboard_url`, `test`) plus values desks use:
//! `fingerprint`, `summary`, `evidence` (plain text) and `resolution`. Undefined
//! variables are errors rather than empty strings, so a typo in a template is refused
//! at start-up (`compile`) or surfaces as a permanent delivery failure, never as a
//! silently empty field.

use super::view::IncidentView;
use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;

const NAME: &str = "body";

/// A compiled body template.
pub struct BodyTemplate {
    env: Environment<'static>,
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env
}

/// Checks a template's syntax; the error says where it is wrong.
pub fn compile(source: &str) -> Result<BodyTemplate, String> {
    let mut env = environment();
    env.add_template_owned(NAME.to_owned(), source.to_owned())
        .map_err(|e| describe(&e))?;
    Ok(BodyTemplate { env })
}

impl BodyTemplate {
    /// Renders the body of one notification.
    pub fn render(&self, body: &Value, view: &IncidentView) -> Result<String, String> {
        let mut context = match body {
            Value::Object(map) => map.clone(),
            _ => serde_json::Map::new(),
        };
        context.insert("fingerprint".into(), Value::String(view.fingerprint()));
        context.insert("summary".into(), Value::String(view.summary()));
        context.insert("evidence".into(), Value::String(view.evidence_text()));
        context.insert("resolution".into(), Value::String(view.resolution()));
        let template = self.env.get_template(NAME).map_err(|e| describe(&e))?;
        template
            .render(minijinja::Value::from_serialize(&context))
            .map_err(|e| describe(&e))
    }
}

/// minijinja's message plus its line, when it knows it.
fn describe(error: &minijinja::Error) -> String {
    match error.line() {
        Some(line) => format!("template line {line}: {error}"),
        None => format!("template: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body() -> Value {
        json!({
            "version": "1", "action": "open", "idempotency_key": "k",
            "incident": {"id": 7, "dedup_key": "h1/x", "host_id": "h1", "kind": "fan_failed",
                "component": "fan:2", "severity": "error", "status": "open", "title": "fan 2 stopped",
                "details": {"rpm": 0}, "opened_at_ms": 1_000, "updated_at_ms": 1_000,
                "resolved_at_ms": null, "revision": 1},
            "host": {"host_id": "h1", "hostname": "db-17", "labels": {"rack": "r1"}},
            "dashboard_url": "http://c/host.html?id=h1"
        })
    }

    #[test]
    fn renders_body_fields_and_derived_values() {
        let template = compile(
            r#"{"text": {{ summary | tojson }}, "sev": "{{ incident.severity }}", "fp": "{{ fingerprint }}", "rack": "{{ host.labels.rack }}"}"#,
        )
        .expect("compiles");
        let body = body();
        let view = IncidentView::parse(&body).expect("view");
        let out = template.render(&body, &view).expect("renders");
        let parsed: Value = serde_json::from_str(&out).expect("valid JSON");
        assert_eq!(parsed["text"], json!("db-17: fan 2 stopped"));
        assert_eq!(parsed["sev"], json!("error"));
        assert_eq!(parsed["rack"], json!("r1"));
        assert_eq!(parsed["fp"], json!(view.fingerprint()));
    }

    #[test]
    fn syntax_errors_and_undefined_names_are_refused() {
        let err = compile("{{ incident.title ").err().expect("syntax error");
        assert!(err.contains("line 1"), "{err}");
        let template = compile("{{ incident.no_such_field }}").expect("compiles");
        let body = body();
        let view = IncidentView::parse(&body).expect("view");
        assert!(template.render(&body, &view).is_err());
    }
}
