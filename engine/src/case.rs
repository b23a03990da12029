//! Per-component health cases: every signal about one physical component (a disk by
//! WWN/serial, a DIMM by label, a fan, a PSU, a host) joins one case; the case's evidence
//! combines into a failure risk within the horizon, and the risk drives the incident:
//! open at `open_risk`, update when it moves materially, resolve once it has stayed under
//! `resolve_risk` for `resolve_after_minutes` (hysteresis).

use crate::rules::RulePack;
use crate::signal::{Detector, Signal, SignalExplanation};
use crate::transition::{ttf_from, Contribution, Explanation, TimeToFailure};
use harbinger_shared::Severity;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One piece of evidence in a case, keyed by rule id (+ suffix).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub detector: Detector,
    pub rule: String,
    pub strength: f64,
    pub lr: f64,
    pub first_ms: i64,
    pub last_ms: i64,
    pub hold_ms: Option<i64>,
    pub title: String,
    pub action: String,
    pub explanation: SignalExplanation,
}

impl Evidence {
    pub fn active(&self, now: i64) -> bool {
        self.strength > 0.0 && self.hold_ms.is_none_or(|h| now - self.last_ms <= h)
    }
}

/// What an open incident last told the outside.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenIncident {
    pub opened_ms: i64,
    pub revision: u32,
    pub risk: f64,
    pub severity: Severity,
    pub rules: Vec<String>,
    pub below_since: Option<i64>,
}

/// A component's health case.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Case {
    pub evidence: BTreeMap<String, Evidence>,
    /// Evidence that has gone, kept for the learning lookback: rule → (first, last, strength).
    pub past: Vec<(String, i64, i64, f64)>,
    pub open: Option<OpenIncident>,
}

/// The case's verdict at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub risk: f64,
    pub prior: f64,
    pub severity: Severity,
    pub explanation: Explanation,
    pub title: String,
    pub rules: Vec<String>,
}

pub fn severity_of(risk: f64, rules: &RulePack) -> Severity {
    if risk >= rules.scoring.critical_risk {
        Severity::Critical
    } else if risk >= rules.scoring.error_risk {
        Severity::Error
    } else {
        Severity::Warning
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    (p / (1.0 - p)).ln()
}

/// Rounds to 6 decimals so that risks print and compare stably.
pub fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

impl Case {
    /// Adds or clears evidence from a signal.
    pub fn apply(&mut self, s: &Signal) {
        let key = s.rule.clone();
        if s.strength <= 0.0 {
            if let Some(old) = self.evidence.remove(&key) {
                self.past
                    .push((old.rule, old.first_ms, s.at_ms, old.strength));
            }
            return;
        }
        let first_ms = self
            .evidence
            .get(&key)
            .filter(|e| e.active(s.at_ms))
            .map_or(s.at_ms, |e| e.first_ms);
        self.evidence.insert(
            key,
            Evidence {
                detector: s.detector,
                rule: s.rule.clone(),
                strength: s.strength,
                lr: s.lr,
                first_ms,
                last_ms: s.at_ms,
                hold_ms: s.hold_ms,
                title: s.title.clone(),
                action: s.action.clone(),
                explanation: s.explanation.clone(),
            },
        );
    }

    /// Moves expired evidence to `past` and forgets past older than `lookback_ms`.
    pub fn expire(&mut self, now: i64, lookback_ms: i64) {
        let expired: Vec<String> = self
            .evidence
            .iter()
            .filter(|(_, e)| !e.active(now))
            .map(|(k, _)| k.clone())
            .collect();
        for k in expired {
            if let Some(e) = self.evidence.remove(&k) {
                self.past.push((e.rule, e.first_ms, e.last_ms, e.strength));
            }
        }
        self.past
            .retain(|(_, _, last, _)| now - last <= lookback_ms);
    }

    /// The strongest strength per rule seen in the lookback, for learning.
    pub fn features(&self, now: i64, lookback_ms: i64) -> BTreeMap<String, f64> {
        let mut f: BTreeMap<String, f64> = BTreeMap::new();
        let recent = self
            .past
            .iter()
            .filter(|(_, _, last, _)| now - last <= lookback_ms)
            .map(|(r, _, _, s)| (r, *s));
        let current = self.evidence.values().map(|e| (&e.rule, e.strength));
        for (rule, s) in recent.chain(current) {
            let slot = f.entry(rule.clone()).or_insert(0.0);
            *slot = slot.max(s);
        }
        f
    }

    /// Signals that preceded `now`, with their lead times.
    pub fn precursors(&self, now: i64, lookback_ms: i64) -> Vec<(String, i64)> {
        let mut first: BTreeMap<String, i64> = BTreeMap::new();
        let past = self.past.iter().map(|(r, f, _, _)| (r, *f));
        let cur = self.evidence.values().map(|e| (&e.rule, e.first_ms));
        for (rule, f) in past.chain(cur) {
            if now - f <= lookback_ms && f <= now {
                let slot = first.entry(rule.clone()).or_insert(f);
                *slot = (*slot).min(f);
            }
        }
        first.into_iter().map(|(r, f)| (r, now - f)).collect()
    }

    /// Scores the case at `now`.
    pub fn assess(
        &self,
        now: i64,
        kind: &str,
        subject: &str,
        rules: &RulePack,
        weights: &BTreeMap<String, f64>,
    ) -> Assessment {
        let prior = rules.prior(kind);
        let mut log_odds = logit(prior);
        let mut contributions = Vec::new();
        let mut ttf: Option<TimeToFailure> = None;
        for e in self.evidence.values().filter(|e| e.active(now)) {
            let (w, source) = match weights.get(&e.rule) {
                Some(w) => (*w, "learned"),
                None => (e.lr.max(1e-9).ln(), "prior"),
            };
            let add = e.strength * w;
            log_odds += add;
            if let Some(t) = &e.explanation.time_to_threshold {
                let candidate = ttf_from(t, &e.rule);
                if ttf
                    .as_ref()
                    .is_none_or(|c| candidate.estimate_ms < c.estimate_ms)
                {
                    ttf = Some(candidate);
                }
            }
            contributions.push(Contribution {
                detector: e.detector,
                rule: e.rule.clone(),
                title: e.title.clone(),
                strength: e.strength,
                log_odds: round6(add),
                weight_source: source.to_string(),
                since_ms: e.first_ms,
                last_ms: e.last_ms,
                summary: e.explanation.summary.clone(),
                reference: e.explanation.reference.clone(),
                features: e.explanation.features.clone(),
            });
        }
        contributions.sort_by(|a, b| {
            b.log_odds
                .total_cmp(&a.log_odds)
                .then_with(|| a.rule.cmp(&b.rule))
        });
        let risk = round6(sigmoid(log_odds));
        let severity = severity_of(risk, rules);
        let top = contributions.first();
        let action = self
            .evidence
            .values()
            .filter(|e| e.active(now) && !e.action.is_empty())
            .max_by(|a, b| {
                (a.strength * a.lr.ln())
                    .total_cmp(&(b.strength * b.lr.ln()))
                    .then_with(|| b.rule.cmp(&a.rule))
            })
            .map(|e| e.action.clone())
            .or_else(|| rules.actions.get(kind).cloned())
            .unwrap_or_default();
        let title = match top {
            Some(c) if contributions.len() > 1 => format!(
                "{}: {} (+{} more signals)",
                subject,
                c.title,
                contributions.len() - 1
            ),
            Some(c) => format!("{}: {}", subject, c.title),
            None => format!("{subject}: no active evidence"),
        };
        let rules_list = contributions.iter().map(|c| c.rule.clone()).collect();
        Assessment {
            risk,
            prior: round6(prior),
            severity,
            title,
            rules: rules_list,
            explanation: Explanation {
                signals: contributions,
                prior: round6(prior),
                horizon_days: rules.scoring.horizon_days,
                time_to_failure: ttf,
                recommended_action: action,
                rules_version: rules.version.clone(),
            },
        }
    }
}
