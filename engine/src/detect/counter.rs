//! Counters whose level and growth are evidence: SMART 5/187/188/197/198, NVMe media
//! errors, SCSI grown defects.
//!
//! The level's likelihood ratio comes from the rule's failure-rate buckets (Backblaze via
//! Scrutiny), so one stable reallocated sector (AFR 2.7 % against 2.5 % at zero) weighs
//! almost nothing, while one pending sector (34 % against 2.6 %) weighs a lot. Growth
//! within the rule's window, including the first step above zero, is further evidence
//! that decays after the window. Both are emitted only when they change.

use super::{ms, Emit, HOUR_MS};
use crate::rules::{CounterRule, Decode};
use crate::signal::{Detector, SignalExplanation};
use serde::{Deserialize, Serialize};

/// State of one counter series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CounterState {
    pub decode: Decode,
    last: Option<f64>,
    /// Value changes inside the growth window, oldest first: `(ts, value)`.
    changes: Vec<(i64, f64)>,
    /// The level LR last emitted.
    level_lr: f64,
    growth_until: i64,
}

impl Default for CounterState {
    fn default() -> Self {
        Self {
            decode: Decode::Raw,
            last: None,
            changes: Vec::new(),
            level_lr: 1.0,
            growth_until: i64::MIN,
        }
    }
}

/// The likelihood ratio of `value` under `rule`: its bucket's AFR over the zero bucket's.
pub fn level_lr(rule: &CounterRule, value: f64) -> f64 {
    if value <= 0.0 {
        return 1.0;
    }
    if rule.buckets.is_empty() {
        return rule.level_lr.unwrap_or(1.0);
    }
    let zero = rule
        .buckets
        .iter()
        .find(|b| b.lo == 0.0 && b.hi == 0.0)
        .or(rule.buckets.first())
        .map_or(1.0, |b| b.afr);
    let inside = rule
        .buckets
        .iter()
        .find(|b| (b.lo < value && value <= b.hi) || (b.lo == b.hi && b.lo == value));
    // Scrutiny's buckets have gaps (e.g. 197 = 1 lies between "=0" and "(1,2]"): a value
    // in a gap takes the bucket above it, and a value beyond the table the last bucket.
    let bucket = inside
        .or_else(|| rule.buckets.iter().find(|b| b.lo >= value))
        .or(rule.buckets.last());
    bucket.map_or(1.0, |b| (b.afr / zero).max(1.0))
}

impl CounterState {
    pub fn with_decode(decode: Decode) -> Self {
        Self {
            decode,
            ..Default::default()
        }
    }

    pub fn on_sample(&mut self, ts: i64, raw: f64, rule: &CounterRule) -> Vec<Emit> {
        let value = self.decode.apply(raw);
        let mut out = Vec::new();
        let window_ms = ms(rule.growth_window_hours, HOUR_MS);
        match self.last {
            Some(last) if last == value => {}
            Some(last) if value < last => {
                // A counter that goes down was reset (a new disk behind the same id, or
                // firmware); start again rather than reading it as negative growth.
                self.changes.clear();
                self.changes.push((ts, value));
                self.last = Some(value);
                self.emit_level(value, rule, &mut out);
            }
            previous => {
                self.changes.push((ts, value));
                // Keep the newest change older than the window: it is the value at the
                // window's start.
                let cut = ts - window_ms;
                let older = self.changes.iter().filter(|(t, _)| *t <= cut).count();
                if older > 1 {
                    self.changes.drain(..older - 1);
                }
                self.last = Some(value);
                self.emit_level(value, rule, &mut out);
                if let Some(prev) = previous {
                    let base = self.changes.first().map_or(prev, |(_, v)| *v);
                    let grown = value - base;
                    if grown >= rule.growth_min {
                        self.growth_until = ts + window_ms;
                        let first = if base <= 0.0 {
                            " (first time above zero)"
                        } else {
                            ""
                        };
                        out.push(Emit {
                            detector: Detector::Counter,
                            suffix: "#growth",
                            strength: 1.0,
                            lr: rule.growth_lr,
                            hold_ms: Some(window_ms),
                            explanation: SignalExplanation {
                                summary: format!(
                                    "{} {} -> {} within {} h{}",
                                    rule.title, base, value, rule.growth_window_hours, first
                                ),
                                value: Some(value),
                                ..Default::default()
                            },
                        });
                    }
                }
            }
        }
        out
    }

    fn emit_level(&mut self, value: f64, rule: &CounterRule, out: &mut Vec<Emit>) {
        let lr = level_lr(rule, value);
        if lr != self.level_lr {
            self.level_lr = lr;
            out.push(Emit {
                detector: Detector::Counter,
                suffix: "",
                strength: if lr > 1.0 { 1.0 } else { 0.0 },
                lr,
                hold_ms: None,
                explanation: SignalExplanation {
                    summary: format!("{} = {}", rule.title, value),
                    value: Some(value),
                    reference: Some(format!(
                        "failure-rate bucket: {:.1}x the annual failure rate at zero",
                        lr
                    )),
                    ..Default::default()
                },
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RulePack;

    fn rule(id: &str) -> CounterRule {
        RulePack::default_pack()
            .expect("pack")
            .counters
            .into_iter()
            .find(|r| r.id == id)
            .expect("rule")
    }

    const H: i64 = HOUR_MS;

    #[test]
    fn one_stable_reallocated_sector_is_nearly_nothing() {
        let r = rule("smart_reallocated");
        let mut st = CounterState::default();
        let mut all = Vec::new();
        for i in 0..500 {
            all.extend(st.on_sample(i * H, 1.0, &r));
        }
        // One level signal with LR ~1.09 (2.74 % vs 2.52 %) and no growth.
        assert_eq!(all.len(), 1, "{all:?}");
        assert!(all[0].lr < 1.2 && all[0].suffix.is_empty(), "{all:?}");
    }

    #[test]
    fn first_pending_sector_is_strong_and_grows() {
        let r = rule("smart_pending");
        let mut st = CounterState::default();
        assert!(st.on_sample(0, 0.0, &r).is_empty());
        let out = st.on_sample(H, 1.0, &r);
        assert_eq!(out.len(), 2, "{out:?}");
        // 34.2 % / 2.55 % ≈ 13.4x (smart-failure-rates.csv, 197 "(1,2]").
        assert!((out[0].lr - 13.39).abs() < 0.05, "{out:?}");
        assert_eq!(out[1].suffix, "#growth");
        assert!(out[1].explanation.summary.contains("first time above zero"));
        let out = st.on_sample(2 * H, 8.0, &r);
        assert!(
            out.iter().any(|e| e.suffix.is_empty() && e.lr > 20.0),
            "{out:?}"
        );
        assert!(out
            .iter()
            .any(|e| e.suffix == "#growth" && e.explanation.summary.contains("0 -> 8")));
    }

    #[test]
    fn seagate_packed_command_timeouts_are_decoded() {
        let r = rule("smart_command_timeout");
        let mut st = CounterState::with_decode(Decode::Low16);
        // 17180131332 = 0x0004_0004_0004: three packed 16-bit counters of 4.
        let out = st.on_sample(0, 17_180_131_332.0, &r);
        assert!(out.iter().all(|e| e.lr < 1.1), "{out:?}");
        let mut raw = CounterState::default();
        let out = raw.on_sample(0, 17_180_131_332.0, &r);
        assert!(
            out.iter().any(|e| e.lr > 10.0),
            "undecoded it must look bad: {out:?}"
        );
    }

    #[test]
    fn gaps_take_the_bucket_above() {
        let r = rule("smart_reallocated");
        assert_eq!(level_lr(&r, 0.0), 1.0);
        assert!(level_lr(&r, 1.0) > 1.0 && level_lr(&r, 1.0) < 1.2);
        assert!(level_lr(&r, 24.0) > 9.0);
        assert!(level_lr(&r, 1e9) > 50.0);
    }
}
