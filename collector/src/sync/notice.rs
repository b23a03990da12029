//! Notifications about a stored incident that do not come from a detector finding: an
//! acknowledgement forwarded from one desk to the others, a repeat, an escalation.
//!
//! The body has exactly the shape `crate::incident` queues (the contract of
//! `notify::view::IncidentView`), built from the stored row as it will be after the
//! change, so every notifier reads these like any other notification. `{incident_id}`
//! and `{revision}` are filled by the store in the change's transaction.

use crate::detect::dashboard_url;
use crate::incident::{HostInfo, PAYLOAD_VERSION};
use crate::store::{DbError, IncidentRow, NewOutbox, Store};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The host of an incident as notifications describe it; the host id stands in for a
/// host the store no longer knows.
pub async fn host_info(
    store: &dyn Store,
    public_url: &str,
    host_id: &str,
) -> Result<HostInfo, DbError> {
    let host = store.host(host_id).await?;
    Ok(HostInfo {
        host_id: host_id.to_owned(),
        hostname: host
            .as_ref()
            .map_or_else(|| host_id.to_owned(), |h| h.hostname.clone()),
        labels: host.map(|h| h.labels).unwrap_or_else(BTreeMap::new),
        dashboard_url: dashboard_url(public_url, host_id),
    })
}

/// One outbox row for `notifier` about `after`, the incident as it will be stored.
pub fn notification(
    notifier: &str,
    action: &str,
    idempotency_key: &str,
    after: &IncidentRow,
    host: &HostInfo,
) -> NewOutbox {
    let payload = json!({
        "version": PAYLOAD_VERSION,
        "idempotency_key": idempotency_key,
        "action": action,
        "incident": {
            "id": "{incident_id}",
            "dedup_key": after.dedup_key,
            "host_id": after.host_id,
            "kind": after.kind,
            "component": after.component,
            "severity": after.severity,
            "status": after.status.as_str(),
            "title": after.title,
            "details": after.details,
            "opened_at_ms": after.opened_at_ms,
            "updated_at_ms": after.updated_at_ms,
            "resolved_at_ms": after.resolved_at_ms,
            "revision": "{revision}",
        },
        "host": {
            "host_id": host.host_id,
            "hostname": host.hostname,
            "labels": host.labels,
        },
        "dashboard_url": host.dashboard_url,
    });
    NewOutbox {
        notifier: notifier.to_owned(),
        action: action.to_owned(),
        idempotency_key: idempotency_key.to_owned(),
        payload,
    }
}

/// `details` as an object with `key` set to `value` (a non-object becomes an object).
pub fn with_detail(details: &Value, key: &str, value: Value) -> Value {
    let mut map = match details {
        Value::Object(map) => map.clone(),
        _ => serde_json::Map::new(),
    };
    map.insert(key.to_owned(), value);
    Value::Object(map)
}
