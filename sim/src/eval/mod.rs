//! `harbinger-sim evaluate`: one simulated fleet, fed in one pass through Harbinger's
//! engine and two reference detectors, scored against the ground truth.
//!
//! The references are what operators run today: static thresholds as in common
//! Prometheus alert-rule sets ([`thresholds`]) and Netdata's per-metric k-means anomaly
//! detection ([`kmeans`]). Every detector sees exactly the same batches, in event-time
//! order, and reports incidents; [`score`] matches them to injected outcomes.

pub mod harbinger;
pub mod kmeans;
pub mod report;
pub mod score;
pub mod thresholds;

use crate::{Fleet, FleetSpec, GroundTruth, SpecError};
use harbinger_shared::{Batch, ComponentId};
pub use report::{DetectorReport, Report};

/// Why an evaluation could not run.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("fleet spec: {0}")]
    Spec(#[from] SpecError),
    #[error("harbinger engine: default rule pack: {0}")]
    Rules(#[from] harbinger_engine::RuleError),
    #[error("unknown detector {0:?} (known: harbinger, static-thresholds, netdata-kmeans)")]
    UnknownDetector(String),
}

/// One incident a detector opened.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    /// `None` for a place (rack, site…) incident.
    pub host_id: Option<String>,
    /// `None` or a `host` component for host-level incidents.
    pub component: Option<ComponentId>,
    /// `(label, value)` of a place incident, e.g. `("rack", "r03")`.
    pub place: Option<(String, String)>,
    pub opened_ms: i64,
    /// Which rule or model opened it, for the report's breakdown.
    pub rule: String,
}

/// A detector under evaluation: fed every batch in event-time order, then asked for
/// the incidents it opened.
pub trait Detector {
    fn name(&self) -> &'static str;
    fn feed(&mut self, batch: &Batch);
    fn finish(&mut self, end_ms: i64) -> Vec<Incident>;
}

/// The detectors an evaluation can run, by the names reports use.
pub const DETECTORS: [&str; 3] = [harbinger::NAME, thresholds::NAME, kmeans::NAME];

/// Generates the fleet once and runs every detector over it.
pub fn evaluate(spec: &FleetSpec) -> Result<Report, EvalError> {
    evaluate_only(spec, &DETECTORS)
}

/// Generates the fleet once and runs the named detectors (see [`DETECTORS`]) over it;
/// skipping the references makes a tuning run of Harbinger alone several times faster.
pub fn evaluate_only(spec: &FleetSpec, names: &[&str]) -> Result<Report, EvalError> {
    let fleet = Fleet::new(spec)?;
    let truth: GroundTruth = fleet.truth().clone();
    let mut detectors: Vec<Box<dyn Detector>> = Vec::new();
    for name in names {
        match *name {
            harbinger::NAME => detectors.push(Box::new(harbinger::Harbinger::new(&truth)?)),
            thresholds::NAME => detectors.push(Box::new(thresholds::StaticThresholds::new(
                spec.interval_ms,
                spec.batch_intervals,
            ))),
            kmeans::NAME => detectors.push(Box::new(kmeans::NetdataKmeans::new(spec.seed))),
            other => return Err(EvalError::UnknownDetector(other.to_owned())),
        }
    }
    let mut batches = 0_u64;
    let mut samples = 0_u64;
    for batch in fleet {
        batches += 1;
        samples += batch
            .series
            .iter()
            .map(|s| s.points.len() as u64)
            .sum::<u64>();
        for d in &mut detectors {
            d.feed(&batch);
        }
        if batches % 20_000 == 0 {
            tracing::info!(batches, samples, "evaluating");
        }
    }
    let reports = detectors
        .iter_mut()
        .map(|d| {
            let incidents = d.finish(truth.end_ms);
            score::score(d.name(), &incidents, &truth)
        })
        .collect();
    Ok(Report::new(spec, &truth, batches, samples, reports))
}
