//! Detectors: each turns samples (or events) of one series or component into signals.
//!
//! Detectors hold only their own small state and return an [`Emit`] when their
//! conclusion changes; the engine attaches host, component, rule title and action.
//! None of them allocates per sample.

pub mod baseline;
pub mod counter;
pub mod multivariate;
pub mod peer;
pub mod rate;
pub mod theil_sen;
pub mod trend;

use crate::signal::{Detector, SignalExplanation};

/// A detector's conclusion, before the engine turns it into a [`crate::Signal`].
#[derive(Debug, Clone, PartialEq)]
pub struct Emit {
    pub detector: Detector,
    /// Appended to the rule id to tell evidence of one rule apart (e.g. `#growth`).
    pub suffix: &'static str,
    pub strength: f64,
    pub lr: f64,
    pub hold_ms: Option<i64>,
    pub explanation: SignalExplanation,
}

pub(crate) const HOUR_MS: i64 = 3_600_000;
pub(crate) const DAY_MS: i64 = 24 * HOUR_MS;

/// Converts a duration in (fractional) units to whole milliseconds.
pub(crate) fn ms(units: f64, unit_ms: i64) -> i64 {
    (units * unit_ms as f64).round() as i64
}
