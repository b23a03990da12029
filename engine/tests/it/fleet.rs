//! Helpers that build batches the way an agent would send them.

use harbinger_engine::{Engine, RulePack, Transition};
use harbinger_shared::{
    AgentIdentity, Batch, ComponentId, ComponentKind, Event, EventKind, InventoryItem, Point,
    Series, Severity, PROTOCOL_VERSION,
};
use std::collections::BTreeMap;

pub const MIN: i64 = 60_000;
pub const HOUR: i64 = 60 * MIN;
pub const DAY: i64 = 24 * HOUR;
/// Monday 2024-01-01 00:00 UTC.
pub const T0: i64 = 1_704_067_200_000;

pub fn engine() -> Engine {
    Engine::new(RulePack::default_pack().expect("default rule pack"))
}

pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// An inventory item: kind, id and attributes.
pub type Item<'a> = (ComponentKind, &'a str, &'a [(&'a str, &'a str)]);

/// One batch of a host: `(metric, labels, value)` samples at `ts`.
pub struct B {
    pub batch: Batch,
}

impl B {
    pub fn new(host: &str, host_labels: &[(&str, &str)], seq: u64) -> B {
        B {
            batch: Batch {
                protocol_version: PROTOCOL_VERSION,
                agent: AgentIdentity {
                    host_id: host.to_string(),
                    hostname: format!("{host}.example"),
                    labels: labels(host_labels),
                    agent_version: "test".into(),
                },
                seq,
                interval_ms: 60_000,
                series: Vec::new(),
                events: Vec::new(),
                inventory: None,
            },
        }
    }

    pub fn sample(mut self, metric: &str, l: &[(&str, &str)], ts: i64, value: f64) -> B {
        self.batch.series.push(Series {
            metric: metric.to_string(),
            labels: labels(l),
            points: vec![Point { ts, value }],
        });
        self
    }

    pub fn event(
        mut self,
        kind: &str,
        ts: i64,
        message: &str,
        component: Option<ComponentId>,
        attrs: &[(&str, &str)],
    ) -> B {
        self.batch.events.push(Event {
            ts,
            kind: EventKind::new(kind),
            severity: Severity::Warning,
            component,
            message: message.to_string(),
            attrs: labels(attrs),
        });
        self
    }

    pub fn inventory(mut self, items: Vec<Item<'_>>) -> B {
        self.batch.inventory = Some(
            items
                .into_iter()
                .map(|(k, id, attrs)| InventoryItem {
                    component: ComponentId::new(k, id),
                    attrs: labels(attrs),
                })
                .collect(),
        );
        self
    }
}

/// Feeds and collects.
pub fn feed(e: &mut Engine, b: B, out: &mut Vec<Transition>) {
    out.extend(e.feed(&b.batch));
}

/// A SMART sample for `disk`'s attribute `attr`.
pub fn with_smart(b: B, disk: &str, attr: &str, ts: i64, value: f64) -> B {
    b.sample(
        harbinger_engine::names::SMART_ATTRIBUTE_RAW,
        &[("device_id", disk), ("attribute_id", attr)],
        ts,
        value,
    )
}

/// A deterministic pseudo-random stream (no RNG dependency needed in tests).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next_f64(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}
