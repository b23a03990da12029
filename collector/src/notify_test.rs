//! `harbinger-collector notify-test <route>`: sends a clearly marked test incident
//! through every notifier of one route and reports what each answered.
//!
//! Delivery is direct, not through the outbox, and the collector's store is never
//! opened: an operator checking credentials must not leave a fake incident behind. The
//! desks that keep fingerprint → ticket references (RT, ServiceNow, Jira) get a scratch
//! store in a temporary directory, removed afterwards, so the test ticket can still be
//! resolved in the same run (a test ticket left open would page or sit in a queue).

use crate::config::{CollectorConfig, NotifierConfig};
use crate::incident::PAYLOAD_VERSION;
use crate::notify::{self, DeliveryContext, Notification, NotifyError, Receipt};
use crate::routing::Router;
use crate::state::now_ms;
use crate::store::{self, DbError, IncidentChange, NewIncident};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::PathBuf;
use tracing::Instrument;

/// Title of every test incident.
pub const TEST_TITLE: &str = "[TEST] Harbinger notification test";
/// The host test incidents name (no real host has it: agents use machine ids).
pub const TEST_HOST: &str = "harbinger-notify-test";

/// Why the test could not be run at all (a notifier's failure is an [`Attempt`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyTestError {
    #[error("route {route:?} does not exist; routes: {}", known.join(", "))]
    UnknownRoute { route: String, known: Vec<String> },
    #[error("route {route:?} has no notifiers")]
    NoNotifiers { route: String },
    #[error(transparent)]
    Notifier(#[from] NotifyError),
    #[error("cannot create the scratch directory {path}: {source}")]
    Scratch {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the scratch store in {path}: {source}")]
    Store {
        path: PathBuf,
        #[source]
        source: DbError,
    },
}

/// One delivery of the test and what came of it.
#[derive(Debug)]
pub struct Attempt {
    pub notifier: String,
    /// The notifier type, e.g. `request_tracker`.
    pub kind: &'static str,
    pub action: &'static str,
    pub result: Result<Receipt, NotifyError>,
}

impl Attempt {
    pub fn ok(&self) -> bool {
        self.result.is_ok()
    }
}

/// Sends the test incident through `route` (a route name, its position such as
/// `routes[1]`, or `default` without routes): `open` to every notifier, then `resolve`
/// to those that accepted it unless `keep_open`.
pub async fn run(
    config: &CollectorConfig,
    route: &str,
    keep_open: bool,
) -> Result<Vec<Attempt>, NotifyTestError> {
    let all: Vec<String> = config.notifiers.iter().map(|n| n.name.clone()).collect();
    let router = Router::new(&config.routes, all);
    let Some(matched) = router.find(route) else {
        return Err(NotifyTestError::UnknownRoute {
            route: route.to_owned(),
            known: route_names(config),
        });
    };
    let configs: Vec<NotifierConfig> = config
        .notifiers
        .iter()
        .filter(|n| matched.notifiers.contains(&n.name))
        .cloned()
        .collect();
    if configs.is_empty() {
        return Err(NotifyTestError::NoNotifiers {
            route: route.to_owned(),
        });
    }
    let notifiers = notify::build(&configs)?;
    let scratch = Scratch::create()?;
    let store = store::open(&scratch.0.join("notify-test.db").display().to_string())
        .await
        .map_err(|source| NotifyTestError::Store {
            path: scratch.0.clone(),
            source,
        })?;
    let at = now_ms();
    // Ticket references point at an incident: the scratch store holds the test one.
    let incident = store
        .apply_incident_change(
            IncidentChange::Open(NewIncident {
                dedup_key: format!("{TEST_HOST}/notify_test/{}", matched.route),
                host_id: TEST_HOST.to_owned(),
                kind: "notify_test".to_owned(),
                component: None,
                severity: "info".to_owned(),
                title: format!("{TEST_TITLE} (route {})", matched.route),
                details: json!({ "test": true }),
                at_ms: at,
            }),
            vec![],
        )
        .await
        .map_err(|source| NotifyTestError::Store {
            path: scratch.0.clone(),
            source,
        })?;
    let context = DeliveryContext { store };
    let public_url = config.public_url();
    let mut attempts = Vec::new();
    for (notifier, config) in notifiers.iter().zip(&configs) {
        let kind = config.type_name();
        let span = tracing::info_span!("notify_test", notifier = notifier.name());
        let actions: &[&'static str] = if keep_open {
            &["open"]
        } else {
            &["open", "resolve"]
        };
        for &action in actions {
            let notification = Notification {
                incident_id: incident.id,
                idempotency_key: format!("notify-test/{route}/{at}/{action}/1"),
                action: action.to_owned(),
                body: test_body(&matched.route, incident.id, action, at, &public_url),
            };
            let result = notifier
                .deliver(&notification, &context)
                .instrument(span.clone())
                .await;
            let failed = result.is_err();
            attempts.push(Attempt {
                notifier: notifier.name().to_owned(),
                kind,
                action,
                result,
            });
            // Resolving what was never opened would only repeat the failure.
            if failed {
                break;
            }
        }
    }
    Ok(attempts)
}

/// The notification body of the test incident: the outbox's body shape with
/// `"test": true`, a `[TEST]` title and details saying what it is.
pub fn test_body(route: &str, id: i64, action: &str, at_ms: i64, public_url: &str) -> Value {
    let resolved = action == "resolve";
    let dedup_key = format!("{TEST_HOST}/notify_test/{route}");
    json!({
        "version": PAYLOAD_VERSION,
        "idempotency_key": format!("notify-test/{route}/{at_ms}/{action}/1"),
        "action": action,
        "test": true,
        "incident": {
            "id": id,
            "dedup_key": dedup_key,
            "host_id": TEST_HOST,
            "kind": "notify_test",
            "component": null,
            "severity": "info",
            "status": if resolved { "resolved" } else { "open" },
            "title": format!("{TEST_TITLE} (route {route})"),
            "details": {
                "test": true,
                "route": route,
                "note": "sent by harbinger-collector notify-test; no action is needed",
                "resolution": "notification test finished",
            },
            "opened_at_ms": at_ms,
            "updated_at_ms": at_ms,
            "resolved_at_ms": if resolved { Some(at_ms) } else { None },
            "revision": if resolved { 2 } else { 1 },
        },
        "host": {
            "host_id": TEST_HOST,
            "hostname": TEST_HOST,
            "labels": { "harbinger_test": "true" },
        },
        "dashboard_url": public_url,
    })
}

/// One line per attempt: `<notifier> (<type>) <action>: ok: <detail> [ticket <id>]` or
/// `FAILED: <error>`.
pub fn render(attempts: &[Attempt]) -> String {
    let mut out = String::new();
    for a in attempts {
        let _ = write!(out, "{} ({}) {}: ", a.notifier, a.kind, a.action);
        let _ = match &a.result {
            Ok(receipt) => match &receipt.ticket {
                Some(ticket) => writeln!(out, "ok: {} [ticket {ticket}]", receipt.detail),
                None => writeln!(out, "ok: {}", receipt.detail),
            },
            Err(error) => writeln!(out, "FAILED: {error}"),
        };
    }
    out
}

/// Every route's name (or position), depth first, for the unknown-route message.
fn route_names(config: &CollectorConfig) -> Vec<String> {
    fn walk(routes: &[crate::config::RouteConfig], prefix: &str, out: &mut Vec<String>) {
        for (i, r) in routes.iter().enumerate() {
            let path = format!("{prefix}[{i}]");
            out.push(r.name.clone().unwrap_or_else(|| path.clone()));
            walk(&r.routes, &format!("{path}.routes"), out);
        }
    }
    let mut out = Vec::new();
    if config.routes.is_empty() {
        out.push("default".to_owned());
    }
    walk(&config.routes, "routes", &mut out);
    out
}

/// A temporary directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn create() -> Result<Self, NotifyTestError> {
        let path = std::env::temp_dir().join(format!(
            "harbinger-notify-test-{}-{}",
            std::process::id(),
            now_ms()
        ));
        std::fs::create_dir_all(&path).map_err(|source| NotifyTestError::Scratch {
            path: path.clone(),
            source,
        })?;
        Ok(Self(path))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_dir_all(&self.0) {
            tracing::warn!(path = %self.0.display(), %error, "scratch store not removed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::view::IncidentView;

    #[test]
    fn the_test_body_is_a_marked_incident_notifiers_can_read() {
        let view = IncidentView::parse(&test_body("pager", 1, "open", 1_000, "http://c/"))
            .expect("notifiers can read it");
        assert!(view.test);
        assert!(view.incident.title.starts_with(TEST_TITLE));
        assert!(view.summary().starts_with("[TEST] "), "{}", view.summary());
        assert_eq!(view.summary().matches("[TEST]").count(), 1);
        assert!(view.evidence_text().contains("THIS IS A TEST"));
        let resolved = IncidentView::parse(&test_body("pager", 1, "resolve", 1_000, "http://c/"))
            .expect("resolve body");
        assert_eq!(resolved.incident.status, "resolved");
        assert_eq!(
            resolved.fingerprint(),
            view.fingerprint(),
            "one test ticket"
        );
    }

    #[tokio::test]
    async fn an_unknown_route_lists_the_known_ones() {
        let config = CollectorConfig::from_toml(
            "[[notifiers]]\nname = \"n\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:1/\"\n\
             [[routes]]\nname = \"pager\"\nnotifiers = [\"n\"]\n",
        )
        .expect("parses");
        let err = run(&config, "nope", false).await.expect_err("unknown");
        assert!(err.to_string().contains("routes: pager"), "{err}");
    }
}
