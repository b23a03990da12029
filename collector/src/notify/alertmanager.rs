//! Alertmanager's webhook JSON (`version: "4"`), so bridges written for Alertmanager
//! (to chat, to ticket systems) take Harbinger's notifications unchanged.
//!
//! One notification is one group with one alert. The group key and the alert
//! fingerprint are derived from the incident fingerprint, so they stay the same for
//! every update of one occurrence (bridges dedupe on them) and change when a problem
//! comes back. Alertmanager's own fingerprint is 16 hex digits; ours is cut to that.

use super::view::{rfc3339, IncidentView};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Alertmanager's "not ended yet" `endsAt`.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// The webhook body for one notification to `receiver`.
pub fn body(action: &str, view: &IncidentView, receiver: &str) -> Value {
    let i = &view.incident;
    let resolved = action == "resolve";
    let status = if resolved { "resolved" } else { "firing" };
    let mut labels: BTreeMap<String, String> = view.host.labels.clone();
    labels.insert("alertname".into(), i.kind.clone());
    labels.insert("instance".into(), view.host.hostname.clone());
    labels.insert("host_id".into(), view.host.host_id.clone());
    labels.insert("severity".into(), i.severity.clone());
    if let Some(component) = &i.component {
        labels.insert("component".into(), component.clone());
    }
    if view.test {
        labels.insert("test".into(), "true".into());
    }
    let mut annotations = Map::new();
    annotations.insert("summary".into(), json!(view.summary()));
    annotations.insert("description".into(), json!(view.evidence_text()));
    if resolved {
        annotations.insert("resolution".into(), json!(view.resolution()));
    }
    let fingerprint = view.fingerprint();
    let group_labels: BTreeMap<String, String> = match &view.group {
        Some(group) => group.labels.clone(),
        // Ungrouped, the group is the one problem: bridges that dedupe on the group key
        // must not merge two hosts' alerts.
        None => ["alertname", "instance", "component"]
            .iter()
            .filter_map(|k| labels.get(*k).map(|v| ((*k).to_owned(), v.clone())))
            .collect(),
    };
    let ends_at = match (resolved, i.resolved_at_ms) {
        (true, Some(at)) => rfc3339(at),
        (true, None) => rfc3339(i.updated_at_ms),
        (false, _) => ZERO_TIME.to_owned(),
    };
    let alert = json!({
        "status": status,
        "labels": labels,
        "annotations": annotations,
        "startsAt": rfc3339(i.opened_at_ms),
        "endsAt": ends_at,
        "generatorURL": view.dashboard_url,
        "fingerprint": fingerprint.trim_start_matches("hb-").chars().take(16).collect::<String>(),
    });
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{{{}}}", matchers(&group_labels)),
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver,
        "groupLabels": group_labels,
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": external_url(&view.dashboard_url),
        "alerts": [alert],
    })
}

/// `a="1", b="2"` as in Alertmanager's group keys.
fn matchers(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The dashboard's base: the host link without its page.
fn external_url(dashboard_url: &str) -> String {
    match reqwest::Url::parse(dashboard_url).and_then(|u| u.join("./")) {
        Ok(mut url) => {
            url.set_query(None);
            url.to_string()
        }
        Err(_) => dashboard_url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(action: &str) -> IncidentView {
        IncidentView::parse(&json!({
            "action": action,
            "incident": {"id": 7, "dedup_key": "h1/x", "host_id": "h1", "kind": "fan_failed",
                "component": "fan:2", "severity": "error", "status": "open", "title": "fan 2 stopped",
                "details": {"rpm": 0}, "opened_at_ms": 1_000, "updated_at_ms": 2_000,
                "resolved_at_ms": if action == "resolve" { json!(3_000) } else { Value::Null }, "revision": 1},
            "host": {"host_id": "h1", "hostname": "db-17", "labels": {"rack": "r1"}},
            "dashboard_url": "http://c:8080/host.html?id=h1"
        }))
        .expect("view")
    }

    #[test]
    fn firing_and_resolved_bodies_have_alertmanagers_shape() {
        let firing = body("open", &view("open"), "bridge");
        assert_eq!(firing["version"], json!("4"));
        assert_eq!(firing["status"], json!("firing"));
        assert_eq!(firing["externalURL"], json!("http://c:8080/"));
        let alert = &firing["alerts"][0];
        assert_eq!(alert["labels"]["alertname"], json!("fan_failed"));
        assert_eq!(alert["labels"]["rack"], json!("r1"));
        assert_eq!(alert["startsAt"], json!("1970-01-01T00:00:01.000Z"));
        assert_eq!(alert["endsAt"], json!(ZERO_TIME));
        assert_eq!(alert["fingerprint"].as_str().map(str::len), Some(16));
        assert_eq!(
            firing["groupKey"],
            json!("{}:{alertname=\"fan_failed\", component=\"fan:2\", instance=\"db-17\"}")
        );

        let resolved = body("resolve", &view("resolve"), "bridge");
        assert_eq!(resolved["status"], json!("resolved"));
        assert_eq!(
            resolved["alerts"][0]["endsAt"],
            json!("1970-01-01T00:00:03.000Z")
        );
        assert_eq!(resolved["groupKey"], firing["groupKey"]);
        assert_eq!(resolved["alerts"][0]["fingerprint"], alert["fingerprint"]);
    }
}
