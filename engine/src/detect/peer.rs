//! Peer baselines: components of the same hardware model (and rack, when the rule says
//! so), compared at the same operating condition (PWM duty, load). A member that sits
//! `min_deviation` away from its group's median for `persistence` windows is a signal,
//! even inside vendor thresholds.

use super::Emit;
use crate::rules::{Direction, PeerRule};
use crate::signal::{Detector, SignalExplanation};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Per-member window accumulator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerMemberState {
    window: i64,
    sum: f64,
    count: u32,
}

impl Default for PeerMemberState {
    fn default() -> Self {
        Self {
            window: i64::MIN,
            sum: 0.0,
            count: 0,
        }
    }
}

impl PeerMemberState {
    /// Adds a sample; returns `(window, mean)` of a window that just closed.
    pub fn on_sample(&mut self, ts: i64, value: f64, window_ms: i64) -> Option<(i64, f64)> {
        let w = ts.div_euclid(window_ms);
        if w < self.window {
            return None;
        }
        let mut closed = None;
        if w > self.window && self.count > 0 {
            closed = Some((self.window, self.sum / f64::from(self.count)));
        }
        if w > self.window {
            self.window = w;
            self.sum = 0.0;
            self.count = 0;
        }
        self.sum += value;
        self.count += 1;
        closed
    }
}

/// The recent window means of a peer rule's condition series (a fan's PWM duty), so a
/// member's window is bucketed by the condition over the same window, not by whatever
/// the condition's latest sample is when the member's window closes. Batches that carry
/// several intervals, and a window closing only when the next one starts, would
/// otherwise compare a fan's speed with the duty of another time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConditionWindows {
    open: PeerMemberState,
    /// Closed windows, oldest first, at most [`CONDITION_WINDOWS_KEPT`].
    closed: std::collections::VecDeque<(i64, f64)>,
}

/// How many closed condition windows are kept: enough for a batch of several intervals
/// whose member series are processed before their condition.
pub const CONDITION_WINDOWS_KEPT: usize = 16;

impl Default for ConditionWindows {
    fn default() -> Self {
        Self {
            open: PeerMemberState::default(),
            closed: std::collections::VecDeque::with_capacity(CONDITION_WINDOWS_KEPT),
        }
    }
}

impl ConditionWindows {
    pub fn on_sample(&mut self, ts: i64, value: f64, window_ms: i64) {
        if let Some(done) = self.open.on_sample(ts, value, window_ms) {
            if self.closed.len() == CONDITION_WINDOWS_KEPT {
                self.closed.pop_front();
            }
            self.closed.push_back(done);
        }
    }

    /// The condition's mean over `window`, if it has (or is having) samples there.
    pub fn mean_at(&self, window: i64) -> Option<f64> {
        if self.open.window == window && self.open.count > 0 {
            return Some(self.open.sum / f64::from(self.open.count));
        }
        self.closed
            .iter()
            .rev()
            .find(|(w, _)| *w == window)
            .map(|(_, m)| *m)
    }
}

/// One member's identity inside a group: `(host_id, component id string)`.
pub type MemberKey = (String, String);

/// Members are keyed by one string (JSON map keys must be strings).
fn member_string(m: &MemberKey) -> String {
    format!("{}\u{1f}{}", m.0, m.1)
}

fn member_parse(s: &str) -> MemberKey {
    match s.split_once('\u{1f}') {
        Some((h, c)) => (h.to_string(), c.to_string()),
        None => (s.to_string(), String::new()),
    }
}

/// State of one peer group: pending windows and each member's streak.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PeerGroup {
    /// Window index → member values reported for it.
    pending: BTreeMap<i64, BTreeMap<String, f64>>,
    /// Member → (consecutive deviating windows, firing).
    streaks: BTreeMap<String, (u32, bool)>,
}

impl PeerGroup {
    pub fn report(&mut self, window: i64, member: MemberKey, value: f64) {
        self.pending
            .entry(window)
            .or_default()
            .insert(member_string(&member), value);
    }

    /// Evaluates every pending window older than `before`; returns emits per member.
    pub fn evaluate(
        &mut self,
        before: i64,
        rule: &PeerRule,
        group_name: &str,
    ) -> Vec<(MemberKey, Emit)> {
        let mut out = Vec::new();
        let ready: Vec<i64> = self.pending.range(..before).map(|(w, _)| *w).collect();
        for w in ready {
            let Some(values) = self.pending.remove(&w) else {
                continue;
            };
            if values.len() < rule.min_peers as usize {
                continue;
            }
            let mut sorted: Vec<f64> = values.values().copied().collect();
            sorted.sort_by(f64::total_cmp);
            let n = sorted.len();
            let median = if n % 2 == 1 {
                sorted[n / 2]
            } else {
                (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
            };
            if median.abs() < f64::EPSILON {
                continue;
            }
            for (member, v) in values {
                let dev = (v - median) / median.abs();
                let deviates = match rule.direction {
                    Direction::Up => dev >= rule.min_deviation,
                    Direction::Down => dev <= -rule.min_deviation,
                    Direction::Both => dev.abs() >= rule.min_deviation,
                };
                let entry = self.streaks.entry(member.clone()).or_insert((0, false));
                entry.0 = if deviates { entry.0 + 1 } else { 0 };
                let reference = format!(
                    "peer group {group_name}: median {:.3} over {} members",
                    median, n
                );
                if deviates && !entry.1 && entry.0 >= rule.persistence {
                    entry.1 = true;
                    out.push((
                        member_parse(&member),
                        Emit {
                            detector: Detector::Peer,
                            suffix: "",
                            // Full strength from the rule's deviation on: the deviation is
                            // already persistent and against identical parts.
                            strength: (dev.abs() / rule.min_deviation).clamp(0.5, 1.0),
                            lr: rule.lr,
                            hold_ms: None,
                            explanation: SignalExplanation {
                                summary: format!(
                                    "{} = {:.3}, {:+.0} % from its peers' median {:.3} for {} windows",
                                    rule.metric,
                                    v,
                                    dev * 100.0,
                                    median,
                                    entry.0
                                ),
                                value: Some(v),
                                reference: Some(reference),
                                ..Default::default()
                            },
                        },
                    ));
                } else if !deviates && entry.1 && dev.abs() < rule.min_deviation / 2.0 {
                    entry.1 = false;
                    out.push((
                        member_parse(&member),
                        Emit {
                            detector: Detector::Peer,
                            suffix: "",
                            strength: 0.0,
                            lr: rule.lr,
                            hold_ms: None,
                            explanation: SignalExplanation {
                                summary: format!("{} back with its peers ({:.3})", rule.metric, v),
                                value: Some(v),
                                reference: Some(reference),
                                ..Default::default()
                            },
                        },
                    ));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RulePack;

    fn fan_rule() -> PeerRule {
        RulePack::default_pack()
            .expect("pack")
            .peers
            .into_iter()
            .find(|r| r.id == "fan_slow")
            .expect("rule")
    }

    fn member(h: &str) -> MemberKey {
        (h.to_string(), "fan:nct6775/fan1".to_string())
    }

    #[test]
    fn fan_slower_than_identical_fans_fires_after_persistence() {
        let r = fan_rule();
        let mut g = PeerGroup::default();
        let mut emits = Vec::new();
        for w in 0..6 {
            for (h, rpm) in [("a", 3000.0), ("b", 3050.0), ("c", 2980.0), ("d", 2300.0)] {
                g.report(w, member(h), rpm);
            }
            emits.extend(g.evaluate(w + 1, &r, "test"));
        }
        assert_eq!(emits.len(), 1, "{emits:?}");
        assert_eq!(emits[0].0 .0, "d");
        assert!(
            emits[0].1.explanation.summary.contains("-23 %"),
            "{emits:?}"
        );
    }

    #[test]
    fn fan_within_the_band_or_too_few_peers_is_quiet() {
        let r = fan_rule();
        let mut g = PeerGroup::default();
        for w in 0..10 {
            for (h, rpm) in [("a", 3000.0), ("b", 3050.0), ("c", 2600.0)] {
                g.report(w, member(h), rpm);
            }
            assert!(g.evaluate(w + 1, &r, "t").is_empty());
        }
        let mut g = PeerGroup::default();
        for w in 0..10 {
            for (h, rpm) in [("a", 3000.0), ("d", 1000.0)] {
                g.report(w, member(h), rpm);
            }
            assert!(
                g.evaluate(w + 1, &r, "t").is_empty(),
                "two members are no group"
            );
        }
    }
}
