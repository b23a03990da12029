//! Signals: what a detector concluded about one component at one event time.

use harbinger_shared::ComponentId;
use serde::{Deserialize, Serialize};

/// The family of detector that produced a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Detector {
    Hard,
    Event,
    Counter,
    Rate,
    Baseline,
    Peer,
    Multivariate,
    Trend,
    Liveness,
}

impl Detector {
    pub fn as_str(self) -> &'static str {
        match self {
            Detector::Hard => "hard",
            Detector::Event => "event",
            Detector::Counter => "counter",
            Detector::Rate => "rate",
            Detector::Baseline => "baseline",
            Detector::Peer => "peer",
            Detector::Multivariate => "multivariate",
            Detector::Trend => "trend",
            Detector::Liveness => "liveness",
        }
    }
}

/// A time-to-threshold estimate with its interval, in milliseconds from `at_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TimeToThreshold {
    pub estimate_ms: i64,
    /// Sooner end of the interval (from the steeper bound of the slope).
    pub low_ms: i64,
    /// Later end; `None` when the slope's interval includes "not moving".
    pub high_ms: Option<i64>,
    /// The threshold and the value now, in the series' unit.
    pub threshold: f64,
    pub current: f64,
}

/// What a detector says about why it fired, in a form an incident can carry.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SignalExplanation {
    /// One sentence, e.g. `pending sectors 0 -> 8 within 72 h`.
    pub summary: String,
    /// The measured value, in the series' unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The baseline or peer group used, e.g. `seasonal Tue 14h: 0.12 ± 0.03`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Features that contributed most (multivariate), with their share of the distance.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<(String, f64)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_threshold: Option<TimeToThreshold>,
}

/// One signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    pub host_id: String,
    pub component: ComponentId,
    pub detector: Detector,
    /// The rule id in the rule pack (e.g. `smart_pending`).
    pub rule: String,
    /// 0..1: how strongly the evidence holds; 0 means the condition cleared.
    pub strength: f64,
    /// The prior likelihood ratio of this evidence at full strength.
    pub lr: f64,
    pub at_ms: i64,
    /// How long the evidence counts after `at_ms` when not refreshed (event-like
    /// evidence); `None` for a level condition that holds until it clears.
    pub hold_ms: Option<i64>,
    pub title: String,
    pub action: String,
    pub explanation: SignalExplanation,
}
