//! Rows as the databases return them, and their checked conversion into the domain types
//! of [`super`], shared by both backends.
//!
//! Nothing read from the database is trusted: a JSON column that does not parse, an
//! unknown status or a malformed component id becomes [`DbError::Corrupt`] naming the
//! table, the column and the row, never a panic.

use super::{DbError, EventRow, HostRow, IncidentRow, IncidentStatus, OutboxRow};
use harbinger_shared::{Batch, ComponentId, ComponentKind, InventoryItem};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::fmt::Display;

/// The largest decompressed batch body `load_batches` will inflate. Ingest caps bodies
/// far below this (8 MiB by default); the cap only stops a damaged row from exhausting
/// memory.
pub const MAX_STORED_BATCH_BYTES: usize = 64 << 20;

/// Parses a JSON text column, naming where it came from when it does not parse.
fn json<T: DeserializeOwned>(
    text: &str,
    table: &str,
    column: &str,
    row: &dyn Display,
) -> Result<T, DbError> {
    serde_json::from_str(text)
        .map_err(|e| DbError::Corrupt(format!("{table}.{column} of {row}: {e}")))
}

/// Parses the `kind:id` form written by [`ComponentId`]'s `Display`.
pub(crate) fn parse_component(
    text: &str,
    table: &str,
    row: &dyn Display,
) -> Result<ComponentId, DbError> {
    let corrupt = |why: &str| DbError::Corrupt(format!("{table}.component of {row}: {why}"));
    let (kind, id) = text
        .split_once(':')
        .ok_or_else(|| corrupt(&format!("{text:?} is not in kind:id form")))?;
    // ComponentKind's serde form is its snake_case name, with unknown kinds mapped to
    // `Other` exactly as the wire decoder does.
    let kind: ComponentKind = serde_json::from_value(serde_json::Value::String(kind.into()))
        .map_err(|e| corrupt(&format!("kind {kind:?}: {e}")))?;
    Ok(ComponentId::new(kind, id))
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct BatchRecord {
    pub host_id: String,
    pub seq: i64,
    pub body: Vec<u8>,
}

impl BatchRecord {
    pub fn decode(self) -> Result<Batch, DbError> {
        let row = format!("host {:?} seq {}", self.host_id, self.seq);
        let batch = Batch::decode(&self.body, true, MAX_STORED_BATCH_BYTES)
            .map_err(|e| DbError::Corrupt(format!("batches.body of {row}: {e}")))?;
        // The key columns and the body are written together; a mismatch means the row
        // was altered outside the store and its body cannot be trusted to be this batch.
        if batch.agent.host_id != self.host_id || i64::try_from(batch.seq) != Ok(self.seq) {
            return Err(DbError::Corrupt(format!(
                "batches.body of {row}: body is batch {} of host {:?}",
                batch.seq, batch.agent.host_id
            )));
        }
        Ok(batch)
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct HostRecord {
    pub host_id: String,
    pub hostname: String,
    pub labels: String,
    pub agent_version: String,
    pub interval_ms: i64,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub last_seq: i64,
}

impl TryFrom<HostRecord> for HostRow {
    type Error = DbError;
    fn try_from(r: HostRecord) -> Result<Self, DbError> {
        let labels = json(
            &r.labels,
            "hosts",
            "labels",
            &format!("host {:?}", r.host_id),
        )?;
        Ok(HostRow {
            host_id: r.host_id,
            hostname: r.hostname,
            labels,
            agent_version: r.agent_version,
            interval_ms: r.interval_ms,
            first_seen_ms: r.first_seen_ms,
            last_seen_ms: r.last_seen_ms,
            last_seq: r.last_seq,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct EventRecord {
    pub id: i64,
    pub host_id: String,
    pub ts: i64,
    pub kind: String,
    pub severity: String,
    pub component: Option<String>,
    pub message: String,
    pub attrs: String,
}

impl TryFrom<EventRecord> for EventRow {
    type Error = DbError;
    fn try_from(r: EventRecord) -> Result<Self, DbError> {
        let attrs = json(&r.attrs, "events", "attrs", &format!("id {}", r.id))?;
        Ok(EventRow {
            id: r.id,
            host_id: r.host_id,
            ts: r.ts,
            kind: r.kind,
            severity: r.severity,
            component: r.component,
            message: r.message,
            attrs,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct InventoryRecord {
    pub host_id: String,
    pub component: String,
    pub attrs: String,
}

impl TryFrom<InventoryRecord> for InventoryItem {
    type Error = DbError;
    fn try_from(r: InventoryRecord) -> Result<Self, DbError> {
        let row = format!("host {:?} component {:?}", r.host_id, r.component);
        Ok(InventoryItem {
            component: parse_component(&r.component, "inventory", &row)?,
            attrs: json(&r.attrs, "inventory", "attrs", &row)?,
        })
    }
}

/// The stored attributes and source batch of one inventory item, read during ingest to
/// decide whether an incoming item is a change.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct InventoryState {
    pub attrs: String,
    pub seq: i64,
}

impl InventoryState {
    /// `None` when the stored JSON is unreadable: ingest then treats the item as changed
    /// and overwrites it, rather than refusing every later batch of that host.
    pub fn attrs(&self) -> Option<BTreeMap<String, String>> {
        serde_json::from_str(&self.attrs).ok()
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct IncidentRecord {
    pub id: i64,
    pub dedup_key: String,
    pub host_id: String,
    pub kind: String,
    pub component: Option<String>,
    pub severity: String,
    pub status: String,
    pub title: String,
    pub details: String,
    pub opened_at_ms: i64,
    pub updated_at_ms: i64,
    pub resolved_at_ms: Option<i64>,
    pub revision: i64,
}

impl TryFrom<IncidentRecord> for IncidentRow {
    type Error = DbError;
    fn try_from(r: IncidentRecord) -> Result<Self, DbError> {
        let row = format!("id {}", r.id);
        let status = match r.status.as_str() {
            "open" => IncidentStatus::Open,
            "resolved" => IncidentStatus::Resolved,
            other => {
                return Err(DbError::Corrupt(format!(
                    "incidents.status of {row}: unknown status {other:?}"
                )))
            }
        };
        Ok(IncidentRow {
            details: json(&r.details, "incidents", "details", &row)?,
            id: r.id,
            dedup_key: r.dedup_key,
            host_id: r.host_id,
            kind: r.kind,
            component: r.component,
            severity: r.severity,
            status,
            title: r.title,
            opened_at_ms: r.opened_at_ms,
            updated_at_ms: r.updated_at_ms,
            resolved_at_ms: r.resolved_at_ms,
            revision: r.revision,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct OutboxRecord {
    pub id: i64,
    pub incident_id: i64,
    pub notifier: String,
    pub action: String,
    pub idempotency_key: String,
    pub payload: String,
    pub attempts: i64,
    pub next_attempt_ms: i64,
    pub created_ms: i64,
    pub delivered_ms: Option<i64>,
    pub failed: bool,
    pub last_error: Option<String>,
}

impl TryFrom<OutboxRecord> for OutboxRow {
    type Error = DbError;
    fn try_from(r: OutboxRecord) -> Result<Self, DbError> {
        Ok(OutboxRow {
            payload: json(&r.payload, "outbox", "payload", &format!("id {}", r.id))?,
            id: r.id,
            incident_id: r.incident_id,
            notifier: r.notifier,
            action: r.action,
            idempotency_key: r.idempotency_key,
            attempts: r.attempts,
            next_attempt_ms: r.next_attempt_ms,
            created_ms: r.created_ms,
            delivered_ms: r.delivered_ms,
            failed: r.failed,
            last_error: r.last_error,
        })
    }
}

/// Converts every record, stopping at the first corrupt one.
pub(crate) fn convert<R, T>(records: Vec<R>) -> Result<Vec<T>, DbError>
where
    T: TryFrom<R, Error = DbError>,
{
    records.into_iter().map(T::try_from).collect()
}

/// Fills the `{incident_id}` and `{revision}` placeholders of a notification, which the
/// caller cannot know before the change is stored (an opened incident has no id yet).
pub(crate) fn fill_placeholders(text: &str, incident_id: i64, revision: i64) -> String {
    if !text.contains('{') {
        return text.to_owned();
    }
    text.replace("{incident_id}", &incident_id.to_string())
        .replace("{revision}", &revision.to_string())
}

/// [`fill_placeholders`] applied to every string inside a JSON payload.
pub(crate) fn fill_placeholders_json(
    value: &mut serde_json::Value,
    incident_id: i64,
    revision: i64,
) {
    match value {
        serde_json::Value::String(s) => *s = fill_placeholders(s, incident_id, revision),
        serde_json::Value::Array(items) => items
            .iter_mut()
            .for_each(|v| fill_placeholders_json(v, incident_id, revision)),
        serde_json::Value::Object(map) => map
            .values_mut()
            .for_each(|v| fill_placeholders_json(v, incident_id, revision)),
        _ => {}
    }
}

/// Clamps a caller's limit: SQLite reads a negative LIMIT as "no limit" while PostgreSQL
/// rejects it, and both backends must answer the same.
pub(crate) fn clamp_limit(limit: i64) -> i64 {
    limit.max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_round_trips_and_keeps_colons_in_the_id() {
        let id = parse_component("nic:aa:bb:cc", "inventory", &"x").expect("parse");
        assert_eq!(id, ComponentId::new(ComponentKind::Nic, "aa:bb:cc"));
        let unknown = parse_component("gpu:0", "inventory", &"x").expect("parse");
        assert_eq!(unknown.kind, ComponentKind::Other);
        let err = parse_component("nocolon", "inventory", &"row 7").expect_err("must fail");
        assert!(
            err.to_string().contains("inventory.component of row 7"),
            "{err}"
        );
    }

    #[test]
    fn placeholders_fill_keys_and_nested_payload_strings() {
        assert_eq!(
            fill_placeholders("k:{incident_id}:{revision}", 4, 2),
            "k:4:2"
        );
        let mut payload = serde_json::json!({"a": ["r{revision}", 1], "b": {"c": "{incident_id}"}});
        fill_placeholders_json(&mut payload, 9, 3);
        assert_eq!(
            payload,
            serde_json::json!({"a": ["r3", 1], "b": {"c": "9"}})
        );
    }
}
