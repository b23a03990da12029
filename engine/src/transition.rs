//! What the engine tells the collector: incidents opened, updated and resolved, each
//! with the explanation a service desk ticket carries.

use crate::signal::{Detector, TimeToThreshold};
use harbinger_shared::{ComponentId, Severity};
use serde::{Deserialize, Serialize};

/// What happened to an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Open,
    Update,
    Resolve,
}

/// A place (rack, chassis, PDU, site) an incident is about, for topology incidents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Place {
    /// The label, e.g. `rack`.
    pub label: String,
    pub value: String,
    /// Hosts of the place showing the signal.
    pub hosts: Vec<String>,
}

/// One signal's part in an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contribution {
    pub detector: Detector,
    pub rule: String,
    pub title: String,
    pub strength: f64,
    /// Log-odds this evidence adds (strength × weight).
    pub log_odds: f64,
    /// `prior` when the weight is the rule pack's likelihood ratio, `learned` when it was
    /// fitted from this fleet's outcomes.
    pub weight_source: String,
    pub since_ms: i64,
    pub last_ms: i64,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<(String, f64)>,
}

/// Time-to-failure estimate of an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeToFailure {
    pub estimate_ms: i64,
    pub low_ms: i64,
    pub high_ms: Option<i64>,
    /// Where it comes from, e.g. `trend nvme_wear` or `risk horizon`.
    pub basis: String,
}

/// Why an incident exists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// Contributing signals, strongest first.
    pub signals: Vec<Contribution>,
    /// Prior probability of failure within the horizon for this kind of component.
    pub prior: f64,
    pub horizon_days: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_failure: Option<TimeToFailure>,
    pub recommended_action: String,
    pub rules_version: String,
}

/// One incident transition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub action: Action,
    /// Stable identity: `<host_id>/<kind>:<id>` for a component, `place/<label>=<value>`
    /// for a place. Equal keys are the same incident across restarts.
    pub dedup_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<ComponentId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<Place>,
    /// Event time of the transition.
    pub at_ms: i64,
    /// Event time the incident opened (same for all its transitions).
    pub opened_ms: i64,
    /// 0 at open, +1 per update, and the resolve carries the next number.
    pub revision: u32,
    pub severity: Severity,
    /// Probability of failure within the horizon (0..1).
    pub risk: f64,
    pub title: String,
    pub explanation: Explanation,
    /// Why it resolved (`risk below threshold`, `component replaced`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

pub(crate) fn ttf_from(t: &TimeToThreshold, rule: &str) -> TimeToFailure {
    TimeToFailure {
        estimate_ms: t.estimate_ms,
        low_ms: t.low_ms,
        high_ms: t.high_ms,
        basis: format!("trend {rule}: {} -> {}", t.current, t.threshold),
    }
}
