//! Helpers shared by the simulator tests: small specs and an index of generated data.

use harbinger_shared::{Batch, Event, Point};
use harbinger_sim::{FailureRates, Fleet, FleetSpec, PlannedRates};
use std::collections::BTreeMap;

/// A small, fast spec: `hosts` hosts over `days` days at a 5-minute interval.
pub fn small_spec(hosts: usize, days: f64, seed: u64) -> FleetSpec {
    FleetSpec {
        hosts,
        racks: hosts.div_ceil(4),
        sites: 1,
        duration_ms: (days * 86_400_000.0) as i64,
        interval_ms: 300_000,
        batch_intervals: 6,
        smart_every: 2,
        seed,
        ..FleetSpec::default()
    }
}

/// Every failure kind injected on every host, no decoys, no planned work.
pub fn all_failures(mut spec: FleetSpec) -> FleetSpec {
    spec.failures = FailureRates {
        disk_degrading: 1.0,
        disk_sudden: 1.0,
        dimm_uncorrectable: 1.0,
        fan_failure: 1.0,
        psu_failure: 1.0,
        nvme_wearout: 1.0,
        host_lost: 0.0,
        cooling_loss: 1.0,
        stable_reallocated: 0.0,
        isolated_correctable: 0.0,
    };
    spec.planned = PlannedRates {
        maintenance: 0.0,
        firmware_update: 0.0,
    };
    spec
}

/// Series key: host, metric and labels as `k=v` pairs.
pub type Key = (String, String, Vec<(String, String)>);

/// All points and events of a run, by series and by host.
#[derive(Default)]
pub struct Index {
    pub series: BTreeMap<Key, Vec<Point>>,
    pub events: BTreeMap<String, Vec<Event>>,
}

impl Index {
    /// Indexes every batch, keeping only metrics `keep` accepts (to bound memory).
    pub fn build(fleet: Fleet, keep: impl Fn(&str) -> bool) -> Index {
        let mut index = Index::default();
        for batch in fleet {
            index.add(&batch, &keep);
        }
        index
    }

    fn add(&mut self, batch: &Batch, keep: &impl Fn(&str) -> bool) {
        let host = batch.agent.host_id.clone();
        for s in &batch.series {
            if !keep(&s.metric) {
                continue;
            }
            let labels = s
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            self.series
                .entry((host.clone(), s.metric.clone(), labels))
                .or_default()
                .extend(s.points.iter().copied());
        }
        self.events
            .entry(host)
            .or_default()
            .extend(batch.events.iter().cloned());
    }

    /// The points of the series of `host` named `metric` whose labels include all of `labels`.
    pub fn find(&self, host: &str, metric: &str, labels: &[(&str, &str)]) -> Vec<&Vec<Point>> {
        self.series
            .iter()
            .filter(|((h, m, ls), _)| {
                h == host
                    && m == metric
                    && labels
                        .iter()
                        .all(|(k, v)| ls.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, points)| points)
            .collect()
    }

    pub fn one(&self, host: &str, metric: &str, labels: &[(&str, &str)]) -> &Vec<Point> {
        let found = self.find(host, metric, labels);
        assert_eq!(
            found.len(),
            1,
            "expected one series {metric} {labels:?} on {host}, found {}",
            found.len()
        );
        found[0]
    }

    pub fn events_of(&self, host: &str, kind: &str) -> Vec<&Event> {
        self.events
            .get(host)
            .map(|events| events.iter().filter(|e| e.kind.as_str() == kind).collect())
            .unwrap_or_default()
    }
}
