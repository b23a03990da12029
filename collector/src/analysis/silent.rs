//! `host_silent`: no batch from a host for `silent_intervals` of its own intervals.
//!
//! Liveness is inherently about arrival time, so this is the one detector evaluated on
//! the wall clock, passed in by the caller as `now_ms`.

use super::{Condition, Evidence, Finding};
use harbinger_shared::{ComponentId, ComponentKind, Severity};
use serde_json::json;

pub const KIND: &str = "host_silent";

/// What liveness needs to know about a host.
#[derive(Debug, Clone, PartialEq)]
pub struct Liveness {
    pub host_id: String,
    pub hostname: String,
    pub interval_ms: i64,
    /// Receive time of the latest batch.
    pub last_seen_ms: i64,
}

pub fn dedup_key(host_id: &str) -> String {
    format!("{host_id}/{KIND}")
}

/// Whether a host that last reported at `last_seen_ms` is silent at `now_ms`.
pub fn is_silent(interval_ms: i64, last_seen_ms: i64, now_ms: i64, silent_intervals: u32) -> bool {
    interval_ms > 0
        && now_ms - last_seen_ms > interval_ms.saturating_mul(i64::from(silent_intervals))
}

/// One finding per host: firing when silent, clear otherwise. Hosts reporting an
/// interval of 0 cannot be judged and are skipped.
pub fn evaluate(hosts: &[Liveness], now_ms: i64, silent_intervals: u32) -> Vec<Finding> {
    hosts
        .iter()
        .filter(|h| h.interval_ms > 0)
        .map(|h| {
            let condition = if is_silent(h.interval_ms, h.last_seen_ms, now_ms, silent_intervals) {
                let silent_for = now_ms - h.last_seen_ms;
                let details = json!({
                    "last_seen_ms": h.last_seen_ms,
                    "interval_ms": h.interval_ms,
                    "silent_intervals": silent_intervals,
                });
                Condition::Firing(Evidence {
                    severity: Severity::Error,
                    title: format!(
                        "Host {} silent: no data for {} s",
                        h.hostname,
                        silent_for / 1_000
                    ),
                    // Silence only grows; an update per check would be noise.
                    level: None,
                    min_change: f64::INFINITY,
                    details: match details {
                        serde_json::Value::Object(map) => map,
                        _ => serde_json::Map::new(),
                    },
                })
            } else {
                Condition::Clear {
                    summary: format!("host {} is reporting again", h.hostname),
                }
            };
            finding(&h.host_id, now_ms, condition)
        })
        .collect()
}

/// A batch from the host arrived at `received_at_ms`: whatever silence there was is over.
pub fn arrived(host_id: &str, hostname: &str, received_at_ms: i64) -> Finding {
    finding(
        host_id,
        received_at_ms,
        Condition::Clear {
            summary: format!("host {hostname} is reporting again"),
        },
    )
}

fn finding(host_id: &str, at_ms: i64, condition: Condition) -> Finding {
    Finding {
        dedup_key: dedup_key(host_id),
        host_id: host_id.to_owned(),
        kind: KIND,
        component: Some(ComponentId::new(ComponentKind::Host, host_id).to_string()),
        at_ms,
        condition,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(last_seen_ms: i64) -> Liveness {
        Liveness {
            host_id: "h1".into(),
            hostname: "db-17".into(),
            interval_ms: 200,
            last_seen_ms,
        }
    }

    #[test]
    fn silent_after_the_configured_number_of_intervals() {
        let at = |now| evaluate(&[host(1_000)], now, 3).remove(0).condition;
        assert!(matches!(at(1_600), Condition::Clear { .. }));
        match at(1_601) {
            Condition::Firing(e) => {
                assert_eq!(e.details.get("last_seen_ms"), Some(&json!(1_000)));
                assert_eq!(e.severity, Severity::Error);
            }
            other => panic!("expected firing, got {other:?}"),
        }
    }

    #[test]
    fn zero_interval_is_not_judged() {
        let mut h = host(0);
        h.interval_ms = 0;
        assert!(evaluate(&[h], 1_000_000, 3).is_empty());
        assert_eq!(arrived("h1", "db-17", 5).dedup_key, "h1/host_silent");
    }
}
