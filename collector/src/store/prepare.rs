//! Turns a [`Batch`] into the column values both backends write, so the SQL files only
//! differ in dialect and never in what they store.
//!
//! Everything here is computed once per batch (never per sample): the time range and
//! sample count are single passes the wire type already offers.

use super::DbError;
use harbinger_shared::{Batch, Event, InventoryItem};
use serde::Serialize;

/// The values of one batch as the store writes them.
#[derive(Debug)]
pub(crate) struct PreparedBatch<'a> {
    pub host_id: &'a str,
    pub seq: i64,
    pub hostname: &'a str,
    pub labels: String,
    pub agent_version: &'a str,
    pub interval_ms: i64,
    pub min_ts: i64,
    pub max_ts: i64,
    pub sample_count: i64,
    pub received_ms: i64,
    pub events: Vec<PreparedEvent<'a>>,
    pub inventory: Vec<PreparedItem>,
}

/// One event row.
#[derive(Debug)]
pub(crate) struct PreparedEvent<'a> {
    pub ts: i64,
    pub kind: &'a str,
    pub severity: &'static str,
    pub component: Option<String>,
    pub message: &'a str,
    pub attrs: String,
}

/// One inventory item: the component in `kind:id` form and its attributes as JSON.
#[derive(Debug)]
pub(crate) struct PreparedItem {
    pub component: String,
    pub attrs: String,
    /// Kept parsed so a change can be detected without comparing JSON text, whose
    /// formatting differs between backends (PostgreSQL normalises jsonb).
    pub attrs_map: std::collections::BTreeMap<String, String>,
}

impl<'a> PreparedBatch<'a> {
    pub fn new(batch: &'a Batch, received_ms: i64) -> Result<Self, DbError> {
        let host_id = batch.agent.host_id.as_str();
        let seq = to_i64(batch.seq, "seq", host_id)?;
        let interval_ms = to_i64(batch.interval_ms, "interval_ms", host_id)?;
        let sample_count = to_i64(batch.sample_count() as u64, "sample_count", host_id)?;
        // A batch with neither samples nor events (inventory only) is placed at its
        // receive time, so that time-range reads still find it.
        let (min_ts, max_ts) = batch.time_range().unwrap_or((received_ms, received_ms));
        let events = batch
            .events
            .iter()
            .map(|event| PreparedEvent::new(event, host_id, seq))
            .collect::<Result<Vec<_>, _>>()?;
        let inventory = batch
            .inventory
            .iter()
            .flatten()
            .map(|item| PreparedItem::new(item, host_id, seq))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            host_id,
            seq,
            hostname: &batch.agent.hostname,
            labels: to_json(&batch.agent.labels, "agent.labels", host_id, seq)?,
            agent_version: &batch.agent.agent_version,
            interval_ms,
            min_ts,
            max_ts,
            sample_count,
            received_ms,
            events,
            inventory,
        })
    }
}

impl<'a> PreparedEvent<'a> {
    fn new(event: &'a Event, host_id: &str, seq: i64) -> Result<Self, DbError> {
        Ok(Self {
            ts: event.ts,
            kind: event.kind.as_str(),
            severity: event.severity.as_str(),
            component: event.component.as_ref().map(ToString::to_string),
            message: &event.message,
            attrs: to_json(&event.attrs, "events.attrs", host_id, seq)?,
        })
    }
}

impl PreparedItem {
    fn new(item: &InventoryItem, host_id: &str, seq: i64) -> Result<Self, DbError> {
        Ok(Self {
            component: item.component.to_string(),
            attrs: to_json(&item.attrs, "inventory.attrs", host_id, seq)?,
            attrs_map: item.attrs.clone(),
        })
    }
}

/// Both databases store 64-bit signed integers; a wire `u64` beyond that range cannot be
/// stored faithfully, so it is refused rather than wrapped.
fn to_i64(value: u64, field: &str, host_id: &str) -> Result<i64, DbError> {
    i64::try_from(value).map_err(|_| {
        encode_error(format!(
            "batch from host {host_id:?}: {field} {value} does not fit a signed 64-bit column"
        ))
    })
}

fn to_json<T: Serialize>(
    value: &T,
    what: &str,
    host_id: &str,
    seq: i64,
) -> Result<String, DbError> {
    serde_json::to_string(value).map_err(|e| {
        encode_error(format!(
            "batch {seq} from host {host_id:?}: cannot encode {what} as JSON: {e}"
        ))
    })
}

/// A value the store was asked to write but cannot represent.
pub(crate) fn encode_error(message: String) -> DbError {
    DbError::Other(sqlx::Error::Encode(message.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use harbinger_shared::{
        AgentIdentity, ComponentId, ComponentKind, EventKind, Point, Series, Severity,
        PROTOCOL_VERSION,
    };
    use std::collections::BTreeMap;

    fn batch(seq: u64) -> Batch {
        Batch {
            protocol_version: PROTOCOL_VERSION,
            agent: AgentIdentity {
                host_id: "h1".into(),
                hostname: "db-17".into(),
                labels: BTreeMap::from([("rack".into(), "r1".into())]),
                agent_version: "0.1.0".into(),
            },
            seq,
            interval_ms: 10_000,
            series: vec![Series {
                metric: "node_load1".into(),
                labels: BTreeMap::new(),
                points: vec![
                    Point {
                        ts: 200,
                        value: 1.0,
                    },
                    Point {
                        ts: 300,
                        value: 2.0,
                    },
                ],
            }],
            events: vec![Event {
                ts: 100,
                kind: EventKind::new(EventKind::REBOOT),
                severity: Severity::Warning,
                component: Some(ComponentId::new(ComponentKind::Host, "h1")),
                message: "rebooted".into(),
                attrs: BTreeMap::new(),
            }],
            inventory: None,
        }
    }

    #[test]
    fn range_and_count_cover_samples_and_events() {
        let b = batch(3);
        let p = PreparedBatch::new(&b, 9_999).expect("prepare");
        assert_eq!(
            (p.min_ts, p.max_ts, p.sample_count, p.seq),
            (100, 300, 2, 3)
        );
        assert_eq!(p.labels, r#"{"rack":"r1"}"#);
        assert_eq!(p.events[0].component.as_deref(), Some("host:h1"));
    }

    #[test]
    fn empty_batch_sits_at_receive_time() {
        let mut b = batch(3);
        b.series.clear();
        b.events.clear();
        let p = PreparedBatch::new(&b, 9_999).expect("prepare");
        assert_eq!((p.min_ts, p.max_ts, p.sample_count), (9_999, 9_999, 0));
    }

    #[test]
    fn seq_beyond_i64_is_refused_with_host_and_field() {
        let b = batch(u64::MAX);
        let err = PreparedBatch::new(&b, 0).expect_err("must refuse");
        let text = err.to_string();
        assert!(text.contains("\"h1\"") && text.contains("seq"), "{text}");
    }
}
