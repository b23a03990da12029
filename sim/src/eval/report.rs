//! The evaluation report: per detector, the four numbers issue 5 asks for, as JSON or
//! as a table for people.

use crate::{FleetSpec, GroundTruth, Pace};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Issue 5's targets for Harbinger.
pub const TARGET_RECALL: f64 = 0.95;
pub const TARGET_LEAD_HOURS: f64 = 24.0;
pub const TARGET_FALSE_PER_1000: f64 = 1.0;

/// One detector's results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DetectorReport {
    pub detector: String,
    /// Incidents opened outside planned work.
    pub incidents: usize,
    pub true_incidents: usize,
    pub false_incidents: usize,
    /// Failures that gave any precursor.
    pub predictable_failures: usize,
    pub detected_failures: usize,
    pub recall: Option<f64>,
    pub slow_failures: usize,
    pub slow_detected: usize,
    /// Median of failure time − first incident time over detected slow failures.
    pub median_lead_time_hours: Option<f64>,
    pub precision: Option<f64>,
    pub false_per_1000_server_days: f64,
    /// False incidents by the rule or model that opened them.
    pub false_by_rule: BTreeMap<String, usize>,
    /// Predictable failures it did not detect in time.
    pub missed: Vec<String>,
}

/// The whole run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub hosts: usize,
    pub days: f64,
    pub seed: u64,
    pub interval_s: u64,
    pub server_days: f64,
    pub batches: u64,
    pub samples: u64,
    pub outcomes: usize,
    pub outcomes_by_pace: BTreeMap<String, usize>,
    pub decoys: usize,
    pub planned_work: usize,
    pub detectors: Vec<DetectorReport>,
}

impl Report {
    pub fn new(
        spec: &FleetSpec,
        truth: &GroundTruth,
        batches: u64,
        samples: u64,
        detectors: Vec<DetectorReport>,
    ) -> Self {
        let mut by_pace = BTreeMap::new();
        for o in &truth.outcomes {
            let pace = match o.pace {
                Pace::Slow => "slow",
                Pace::Fast => "fast",
                Pace::Sudden => "sudden",
            };
            *by_pace.entry(pace.to_owned()).or_insert(0) += 1;
        }
        Self {
            hosts: truth.hosts.len(),
            days: spec.duration_ms as f64 / 86_400_000.0,
            seed: spec.seed,
            interval_s: spec.interval_ms / 1_000,
            server_days: truth.server_days(),
            batches,
            samples,
            outcomes: truth.outcomes.len(),
            outcomes_by_pace: by_pace,
            decoys: truth.decoys.len(),
            planned_work: truth.planned.len(),
            detectors,
        }
    }

    /// A plain-text table.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} hosts x {:.1} days (seed {}, {} s interval): {:.0} server-days, {} samples; {} outcomes {:?}, {} decoys, {} planned",
            self.hosts, self.days, self.seed, self.interval_s, self.server_days, self.samples,
            self.outcomes, self.outcomes_by_pace, self.decoys, self.planned_work
        );
        let _ = writeln!(
            out,
            "{:<20} {:>14} {:>16} {:>10} {:>18} {:>10}",
            "detector", "recall", "median lead (h)", "precision", "false/1000 srv-d", "incidents"
        );
        for d in &self.detectors {
            let recall = format!(
                "{} ({}/{})",
                pct(d.recall),
                d.detected_failures,
                d.predictable_failures
            );
            let lead = d
                .median_lead_time_hours
                .map_or("-".to_owned(), |h| format!("{h:.1}"));
            let _ = writeln!(
                out,
                "{:<20} {:>14} {:>16} {:>10} {:>18.2} {:>10}",
                d.detector,
                recall,
                lead,
                pct(d.precision),
                d.false_per_1000_server_days,
                d.incidents
            );
        }
        let _ = writeln!(
            out,
            "targets: recall >= {:.0} %, median lead >= {TARGET_LEAD_HOURS} h (slow failures), <= {TARGET_FALSE_PER_1000} false incident per 1000 server-days",
            TARGET_RECALL * 100.0
        );
        for d in &self.detectors {
            if !d.false_by_rule.is_empty() {
                let _ = writeln!(
                    out,
                    "{} false incidents by rule: {:?}",
                    d.detector, d.false_by_rule
                );
            }
            for m in &d.missed {
                let _ = writeln!(out, "{} missed: {m}", d.detector);
            }
        }
        out
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or("-".to_owned(), |v| format!("{:.1} %", v * 100.0))
}
