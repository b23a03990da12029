//! Learning from outcomes: which signals preceded each failure and by how long, and
//! scoring weights fitted with logistic regression (linfa) once enough failures and
//! non-failures are recorded; until then the rule pack's likelihood ratios are used.
//! Planned work (maintenance) is recorded but never learnt as failure.

use harbinger_shared::ComponentId;
use linfa::traits::Fit;
use linfa::Dataset;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "detail")]
pub enum OutcomeKind {
    UnexpectedReboot,
    Uncorrectable,
    /// A disk that disappeared.
    DiskLost,
    /// The component's serial changed: it was replaced.
    Replaced,
    HostLost,
    /// An operator's resolution code on a ticket, e.g. `hardware_replaced`, `no_fault`.
    Resolution(String),
}

impl OutcomeKind {
    /// Whether this outcome is a failure (as opposed to "no fault found").
    pub fn is_failure(&self) -> bool {
        match self {
            OutcomeKind::Resolution(code) => {
                !matches!(code.as_str(), "no_fault" | "false_positive" | "not_a_fault")
            }
            _ => true,
        }
    }
}

/// One outcome, as recorded by the engine or given by the collector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub host_id: String,
    /// The component, or `None` for the host as a whole.
    #[serde(default)]
    pub component: Option<ComponentId>,
    pub kind: OutcomeKind,
    pub at_ms: i64,
    /// Planned work (known to the caller); maintenance windows also make it planned.
    #[serde(default)]
    pub planned: bool,
}

/// A signal that preceded an outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Precursor {
    pub rule: String,
    pub lead_ms: i64,
}

/// An outcome with what preceded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutcomeRecord {
    pub outcome: Outcome,
    pub precursors: Vec<Precursor>,
}

/// Per-rule statistics, for backtests and reliability reports.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RuleStats {
    pub failures_preceded: u32,
    pub median_lead_ms: Option<i64>,
}

/// The learning state (part of the snapshot).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LearnState {
    pub outcomes: Vec<OutcomeRecord>,
    /// Training examples: max strength per rule, and whether a failure followed.
    examples: Vec<(BTreeMap<String, f64>, bool)>,
    /// Fitted log-odds weight per rule.
    pub weights: BTreeMap<String, f64>,
}

/// Weights are kept in a sane range: a fitted weight never turns evidence into an
/// alibi, nor exceeds what a hard condition weighs.
const MAX_WEIGHT: f64 = 10.0;

impl LearnState {
    pub fn record(
        &mut self,
        outcome: Outcome,
        precursors: Vec<Precursor>,
        features: BTreeMap<String, f64>,
    ) {
        if !outcome.planned {
            let failed = outcome.kind.is_failure();
            if failed || !features.is_empty() {
                self.examples.push((features, failed));
            }
        }
        self.outcomes.push(OutcomeRecord {
            outcome,
            precursors,
        });
    }

    /// A case whose evidence went away without a failure: a negative example.
    pub fn record_non_failure(&mut self, features: BTreeMap<String, f64>) {
        if !features.is_empty() {
            self.examples.push((features, false));
        }
    }

    pub fn counts(&self) -> (usize, usize) {
        let pos = self.examples.iter().filter(|e| e.1).count();
        (pos, self.examples.len() - pos)
    }

    /// Refits the weights when enough examples of both kinds exist. Returns whether it fitted.
    pub fn refit(&mut self, min_failures: u32, min_non_failures: u32, alpha: f64) -> bool {
        let (pos, neg) = self.counts();
        if pos < min_failures as usize || neg < min_non_failures as usize {
            return false;
        }
        let rules: Vec<String> = self
            .examples
            .iter()
            .flat_map(|(f, _)| f.keys().cloned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if rules.is_empty() {
            return false;
        }
        let mut x = Array2::<f64>::zeros((self.examples.len(), rules.len()));
        let mut y = Vec::with_capacity(self.examples.len());
        for (i, (f, failed)) in self.examples.iter().enumerate() {
            for (j, r) in rules.iter().enumerate() {
                x[[i, j]] = f.get(r).copied().unwrap_or(0.0);
            }
            y.push(if *failed { "failure" } else { "ok" });
        }
        let data = Dataset::new(x, Array1::from(y));
        let fitted = match LogisticRegression::default()
            .alpha(alpha)
            .max_iterations(200)
            .fit(&data)
        {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(error = %e, "outcome weights: logistic regression did not fit; keeping priors");
                return false;
            }
        };
        // linfa orders the two labels itself; make the sign mean "towards failure".
        let sign = if fitted.labels().pos.class == "failure" {
            1.0
        } else {
            -1.0
        };
        self.weights = rules
            .into_iter()
            .zip(fitted.params().iter())
            .map(|(r, w)| (r, (sign * w).clamp(0.0, MAX_WEIGHT)))
            .collect();
        true
    }

    /// Per-rule precursor statistics over unplanned failures.
    pub fn rule_stats(&self) -> BTreeMap<String, RuleStats> {
        let mut leads: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for rec in &self.outcomes {
            if rec.outcome.planned || !rec.outcome.kind.is_failure() {
                continue;
            }
            for p in &rec.precursors {
                leads.entry(p.rule.clone()).or_default().push(p.lead_ms);
            }
        }
        leads
            .into_iter()
            .map(|(rule, mut l)| {
                l.sort_unstable();
                let median = l.get(l.len() / 2).copied();
                (
                    rule,
                    RuleStats {
                        failures_preceded: l.len() as u32,
                        median_lead_ms: median,
                    },
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(planned: bool) -> Outcome {
        Outcome {
            host_id: "h".into(),
            component: None,
            kind: OutcomeKind::UnexpectedReboot,
            at_ms: 0,
            planned,
        }
    }

    #[test]
    fn fits_weights_that_separate_failures_from_noise() {
        let mut l = LearnState::default();
        for i in 0..30 {
            // "strong" precedes failures; "noise" shows up on both sides.
            let noise = if i % 2 == 0 { 1.0 } else { 0.0 };
            l.record(
                outcome(false),
                vec![],
                BTreeMap::from([("strong".into(), 1.0), ("noise".into(), noise)]),
            );
            l.record_non_failure(BTreeMap::from([
                ("noise".into(), noise),
                ("strong".into(), 0.0),
            ]));
        }
        assert!(l.refit(10, 10, 0.1));
        let strong = l.weights["strong"];
        let noise = l.weights["noise"];
        assert!(strong > 1.0 && strong > noise + 1.0, "{:?}", l.weights);
    }

    #[test]
    fn too_little_data_keeps_priors_and_planned_is_not_learnt() {
        let mut l = LearnState::default();
        for _ in 0..50 {
            l.record(outcome(true), vec![], BTreeMap::from([("x".into(), 1.0)]));
        }
        assert_eq!(l.counts(), (0, 0));
        assert!(!l.refit(10, 10, 1.0));
        assert!(l.weights.is_empty());
        assert_eq!(l.outcomes.len(), 50);
    }

    #[test]
    fn precursor_statistics() {
        let mut l = LearnState::default();
        for lead in [10, 30, 20] {
            l.record(
                outcome(false),
                vec![Precursor {
                    rule: "smart_pending".into(),
                    lead_ms: lead,
                }],
                BTreeMap::new(),
            );
        }
        let s = &l.rule_stats()["smart_pending"];
        assert_eq!(s.failures_preceded, 3);
        assert_eq!(s.median_lead_ms, Some(20));
    }
}
