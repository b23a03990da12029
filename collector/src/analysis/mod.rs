//! Detection: turns samples and liveness into [`Finding`]s.
//!
//! INVARIANT: this module is pure and driven by event time. It uses no async runtime,
//! database, HTTP client or wall clock; where a detector needs "now" (liveness), the
//! caller passes it.
//! Feeding the same batches in the same order always yields the same findings, which is
//! what makes replays and backtests meaningful.
//!
//! Detectors here are stateless rules; the incident engine (`crate::incident`) decides
//! from a finding and the stored incident whether anything changes. Hysteresis is
//! expressed as [`Condition::Holding`], so that the decision needs no detector memory.

pub mod filesystem;
pub mod health;
pub mod silent;

use harbinger_shared::{Batch, Severity};
use std::collections::HashMap;

/// What a detector concluded about one potential problem at one event time.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// Stable identity of the problem, e.g. `h1/filesystem_full//var`.
    pub dedup_key: String,
    pub host_id: String,
    /// The detector, e.g. `filesystem_full`.
    pub kind: &'static str,
    /// `kind:id` form of the component concerned.
    pub component: Option<String>,
    /// Event time of the evidence (wall time only for liveness).
    pub at_ms: i64,
    pub condition: Condition,
}

/// The state of the condition a finding reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// The problem is present.
    Firing(Evidence),
    /// Inside the hysteresis band: keeps an open incident open (its evidence may be
    /// updated) but never opens one.
    Holding(Evidence),
    /// The problem is gone.
    Clear { summary: String },
}

/// Why a condition fires, in a form the incident engine can compare over time.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    pub severity: Severity,
    pub title: String,
    /// The measured quantity (e.g. a fill ratio), compared against the last notified
    /// value to decide whether an update is worth sending.
    pub level: Option<f64>,
    /// The smallest change of `level` that counts as material.
    pub min_change: f64,
    /// Detector-specific facts, stored with the incident and sent to service desks.
    pub details: serde_json::Map<String, serde_json::Value>,
}

/// Settings of the batch-driven detectors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    pub filesystem_full_ratio: f64,
}

/// Runs every batch-driven detector, dropping findings older than one already seen for
/// the same problem: a spool replay of old batches must not reopen what newer data closed.
#[derive(Debug)]
pub struct Engine {
    settings: Settings,
    latest: HashMap<String, i64>,
}

impl Engine {
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            latest: HashMap::new(),
        }
    }

    /// Findings of one batch: at most one per problem, from its newest evidence.
    pub fn feed(&mut self, batch: &Batch) -> Vec<Finding> {
        let findings = filesystem::evaluate(batch, self.settings.filesystem_full_ratio);
        findings
            .into_iter()
            .filter(|f| {
                let latest = self.latest.entry(f.dedup_key.clone()).or_insert(i64::MIN);
                if f.at_ms < *latest {
                    return false;
                }
                *latest = f.at_ms;
                true
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harbinger_shared::{AgentIdentity, Point, Series, PROTOCOL_VERSION};
    use std::collections::BTreeMap;

    pub(crate) fn fs_batch(seq: u64, ts: i64, ratio: f64) -> Batch {
        Batch {
            protocol_version: PROTOCOL_VERSION,
            agent: AgentIdentity {
                host_id: "h1".into(),
                hostname: "db-17".into(),
                labels: BTreeMap::new(),
                agent_version: String::new(),
            },
            seq,
            interval_ms: 10_000,
            series: vec![Series {
                metric: "node_filesystem_used_ratio".into(),
                labels: BTreeMap::from([
                    ("device".into(), "/dev/sda1".into()),
                    ("mountpoint".into(), "/var".into()),
                    ("fstype".into(), "ext4".into()),
                ]),
                points: vec![Point { ts, value: ratio }],
            }],
            events: vec![],
            inventory: None,
        }
    }

    #[test]
    fn stale_findings_are_dropped() {
        let mut engine = Engine::new(Settings {
            filesystem_full_ratio: 0.9,
        });
        assert_eq!(engine.feed(&fs_batch(2, 2_000, 0.5)).len(), 1);
        // An older batch replayed later says nothing about the present.
        assert!(engine.feed(&fs_batch(1, 1_000, 0.95)).is_empty());
        assert_eq!(engine.feed(&fs_batch(3, 3_000, 0.95)).len(), 1);
    }
}
