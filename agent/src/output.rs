//! What collectors produce in one cycle, and the payload handed to the shipper.
//!
//! Collectors push one sample at a time with borrowed labels; grouping samples into
//! wire [`Series`] happens once, when the cycle is finished.

use harbinger_shared::{Event, InventoryItem, Point, Series};
use std::collections::BTreeMap;

/// Accumulates the samples, events and inventory of one collection cycle.
#[derive(Debug, Default)]
pub struct Output {
    series: Vec<Series>,
    events: Vec<Event>,
    inventory: Vec<InventoryItem>,
}

/// One cycle's data, ready to become a batch once the shipper gives it a sequence number.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Payload {
    pub series: Vec<Series>,
    pub events: Vec<Event>,
    pub inventory: Vec<InventoryItem>,
}

impl Output {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one sample. A non-finite value is dropped here with a debug log: the
    /// collector would refuse the whole batch for it.
    pub fn push(&mut self, ts: i64, metric: &str, labels: &[(&str, &str)], value: f64) {
        if !value.is_finite() {
            tracing::debug!(metric, ?labels, value, "dropping non-finite sample");
            return;
        }
        self.series.push(Series {
            metric: metric.to_owned(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            points: vec![Point { ts, value }],
        });
    }

    pub fn event(&mut self, event: Event) {
        self.events.push(event);
    }

    pub fn inventory(&mut self, item: InventoryItem) {
        self.inventory.push(item);
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }

    pub fn inventory_items(&self) -> &[InventoryItem] {
        &self.inventory
    }

    /// The latest value recorded for `metric` with exactly `labels`.
    pub fn value(&self, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.series
            .iter()
            .rev()
            .find(|s| s.metric == metric && labels_equal(&s.labels, labels))
            .and_then(|s| s.points.last())
            .map(|p| p.value)
    }

    /// Every label set recorded for `metric`.
    pub fn label_sets(&self, metric: &str) -> Vec<&BTreeMap<String, String>> {
        self.series
            .iter()
            .filter(|s| s.metric == metric)
            .map(|s| &s.labels)
            .collect()
    }

    /// Groups samples into one series per (metric, labels), points in time order.
    pub fn finish(self) -> Payload {
        let mut series = self.series;
        series.sort_by(|a, b| (&a.metric, &a.labels).cmp(&(&b.metric, &b.labels)));
        series.dedup_by(|later, kept| {
            if later.metric == kept.metric && later.labels == kept.labels {
                kept.points.append(&mut later.points);
                true
            } else {
                false
            }
        });
        for s in &mut series {
            s.points.sort_by_key(|p| p.ts);
        }
        Payload {
            series,
            events: self.events,
            inventory: self.inventory,
        }
    }
}

fn labels_equal(map: &BTreeMap<String, String>, labels: &[(&str, &str)]) -> bool {
    map.len() == labels.len()
        && labels
            .iter()
            .all(|(k, v)| map.get(*k).is_some_and(|have| have == v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_groups_points_by_series_in_time_order() {
        let mut out = Output::new();
        out.push(20, "m", &[("a", "1")], 2.0);
        out.push(10, "m", &[("a", "1")], 1.0);
        out.push(10, "m", &[("a", "2")], 5.0);
        out.push(10, "other", &[], 7.0);
        out.push(10, "m", &[("a", "3")], f64::NAN);
        assert_eq!(out.value("m", &[("a", "1")]), Some(1.0));
        assert_eq!(out.value("m", &[("a", "3")]), None, "NaN is dropped");
        let payload = out.finish();
        assert_eq!(payload.series.len(), 3);
        let m1 = &payload.series[0];
        assert_eq!(m1.metric, "m");
        assert_eq!(m1.labels.get("a").map(String::as_str), Some("1"));
        assert_eq!(
            m1.points,
            vec![Point { ts: 10, value: 1.0 }, Point { ts: 20, value: 2.0 }]
        );
        assert_eq!(payload.series[2].metric, "other");
    }
}
