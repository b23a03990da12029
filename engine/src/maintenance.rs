//! Maintenance windows: planned work per host or per label selector. Inside one,
//! incidents do not open, reboots are planned, and no failure is learnt.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One window of planned work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaintenanceWindow {
    pub id: String,
    pub start_ms: i64,
    pub end_ms: i64,
    /// Hosts it covers by id; empty means "select by labels only".
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Every label here must match the host's (e.g. `rack = "r12"`); empty with empty
    /// `hosts` covers no host, so a window is never fleet-wide by accident.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl MaintenanceWindow {
    /// Whether the window covers `host_id` (with `labels`) at `ts`.
    pub fn covers(&self, host_id: &str, labels: &BTreeMap<String, String>, ts: i64) -> bool {
        if ts < self.start_ms || ts >= self.end_ms {
            return false;
        }
        if self.hosts.is_empty() && self.labels.is_empty() {
            return false;
        }
        let host_ok = self.hosts.is_empty() || self.hosts.iter().any(|h| h == host_id);
        let labels_ok = self
            .labels
            .iter()
            .all(|(k, v)| labels.get(k).is_some_and(|x| x == v));
        host_ok && labels_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_by_host_or_labels_within_time() {
        let rack = BTreeMap::from([("rack".to_string(), "r1".to_string())]);
        let w = MaintenanceWindow {
            id: "m".into(),
            start_ms: 100,
            end_ms: 200,
            hosts: vec![],
            labels: rack.clone(),
        };
        assert!(w.covers("h", &rack, 150));
        assert!(!w.covers("h", &rack, 200));
        assert!(!w.covers("h", &BTreeMap::new(), 150));
        let by_host = MaintenanceWindow {
            hosts: vec!["h".into()],
            labels: BTreeMap::new(),
            ..w.clone()
        };
        assert!(by_host.covers("h", &BTreeMap::new(), 100));
        assert!(!by_host.covers("g", &BTreeMap::new(), 100));
        let nothing = MaintenanceWindow {
            labels: BTreeMap::new(),
            ..w
        };
        assert!(!nothing.covers("h", &rack, 150));
    }
}
