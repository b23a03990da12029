//! Error rates per component over sliding windows: correctable ECC errors per DIMM
//! (single, burst, storm), kernel I/O errors per device.
//!
//! Counting is per component, so many errors from one DIMM are one fault growing, not
//! many findings (Sridharan et al.: count faults, not errors). Counts live in hourly
//! buckets, so a window is a sum over at most 168 small integers.

use super::{ms, Emit, DAY_MS};
use crate::rules::RateRule;
use crate::signal::{Detector, SignalExplanation};
use serde::{Deserialize, Serialize};

const BUCKETS: usize = 168;
const HOUR: i64 = super::HOUR_MS;

/// State of one component's rate under one rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateState {
    counts: Vec<u32>,
    /// Hour index of the newest bucket.
    head: i64,
    /// For counter sources: the last counter value.
    last: Option<f64>,
    /// Highest level emitted, and when (levels are re-emitted when their hold half-expires).
    level: Option<usize>,
    level_at: i64,
}

impl Default for RateState {
    fn default() -> Self {
        Self {
            counts: vec![0; BUCKETS],
            head: i64::MIN,
            last: None,
            level: None,
            level_at: i64::MIN,
        }
    }
}

impl RateState {
    /// A counter sample: its increase since the last sample is the number of errors.
    pub fn on_counter(&mut self, ts: i64, value: f64, rule: &RateRule) -> Option<Emit> {
        let inc = match self.last {
            // A decrease is a reset (reboot): the counter starts from zero again.
            Some(last) if value >= last => value - last,
            Some(_) => value,
            None => 0.0,
        };
        self.last = Some(value);
        if inc <= 0.0 {
            return None;
        }
        self.add(ts, inc.min(f64::from(u32::MAX)) as u32, rule)
    }

    /// One occurrence of an event.
    pub fn on_event(&mut self, ts: i64, rule: &RateRule) -> Option<Emit> {
        self.add(ts, 1, rule)
    }

    fn add(&mut self, ts: i64, n: u32, rule: &RateRule) -> Option<Emit> {
        let hour = ts.div_euclid(HOUR);
        if self.head == i64::MIN {
            self.head = hour;
        }
        if hour > self.head {
            let steps = (hour - self.head).min(BUCKETS as i64);
            for k in 1..=steps {
                let idx = (self.head + k).rem_euclid(BUCKETS as i64) as usize;
                self.counts[idx] = 0;
            }
            self.head = hour;
        } else if self.head - hour >= BUCKETS as i64 {
            return None;
        }
        let idx = hour.rem_euclid(BUCKETS as i64) as usize;
        self.counts[idx] = self.counts[idx].saturating_add(n);
        let mut reached = None;
        let mut counted = 0u64;
        for (i, level) in rule.levels.iter().enumerate() {
            let hours = (level.window_hours.ceil() as i64).clamp(1, BUCKETS as i64);
            let c = self.count_last(hours);
            let spread_enough = level
                .min_distinct_hours
                .is_none_or(|want| self.active_hours(hours) >= u64::from(want));
            if c as f64 >= level.count && spread_enough {
                reached = Some(i);
                counted = c;
            }
        }
        let i = reached?;
        let hold = ms(rule.hold_days, DAY_MS);
        let refresh = self.level_at + hold / 2 <= ts;
        if self.level.is_some_and(|l| l >= i) && !refresh {
            return None;
        }
        self.level = Some(i);
        self.level_at = ts;
        let level = &rule.levels[i];
        Some(Emit {
            detector: Detector::Rate,
            suffix: "",
            strength: 1.0,
            lr: level.lr,
            hold_ms: Some(hold),
            explanation: SignalExplanation {
                summary: format!(
                    "{}: {} ({} in {} h)",
                    rule.title, level.name, counted, level.window_hours
                ),
                value: Some(counted as f64),
                reference: Some(match level.min_distinct_hours {
                    Some(hours) => format!(
                        "{} threshold: {} per {} h in at least {} separate hours",
                        level.name, level.count, level.window_hours, hours
                    ),
                    None => format!(
                        "{} threshold: {} per {} h",
                        level.name, level.count, level.window_hours
                    ),
                }),
                ..Default::default()
            },
        })
    }

    /// Hours with at least one error among the last `hours`.
    fn active_hours(&self, hours: i64) -> u64 {
        (0..hours)
            .filter(|k| self.counts[(self.head - k).rem_euclid(BUCKETS as i64) as usize] > 0)
            .count() as u64
    }

    fn count_last(&self, hours: i64) -> u64 {
        (0..hours)
            .map(|k| self.counts[(self.head - k).rem_euclid(BUCKETS as i64) as usize] as u64)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RulePack;

    fn ecc() -> RateRule {
        RulePack::default_pack()
            .expect("pack")
            .rates
            .into_iter()
            .find(|r| r.id == "ecc_correctable")
            .expect("rule")
    }

    #[test]
    fn ecc_single_then_burst_then_storm() {
        let r = ecc();
        let mut st = RateState::default();
        assert!(
            st.on_counter(0, 100.0, &r).is_none(),
            "first sample is a base, not errors"
        );
        let e = st.on_counter(60_000, 101.0, &r).expect("single");
        assert_eq!(e.lr, 3.0);
        // Nine more within the day: a burst (mcelog: 10 per 24 h).
        let mut last = None;
        for i in 0..9 {
            last = st
                .on_counter(120_000 + i * 60_000, 102.0 + i as f64, &r)
                .or(last);
        }
        assert_eq!(last.expect("burst").lr, 150.0);
        // Forty more: a storm (rasdaemon: 50 per 24 h).
        let e = st.on_counter(HOUR * 3, 150.0, &r).expect("storm");
        assert_eq!(e.lr, 400.0);
        assert!(e.explanation.summary.contains("storm"));
    }

    #[test]
    fn errors_recurring_over_weeks_are_recurring_never_a_burst() {
        let r = ecc();
        let mut st = RateState::default();
        let mut lrs = Vec::new();
        st.on_counter(0, 0.0, &r);
        // One error every two days for a month: single, then recurring, never a burst.
        for d in 1..=15 {
            if let Some(e) = st.on_counter(d * 2 * DAY_MS, d as f64, &r) {
                lrs.push(e.lr);
            }
        }
        assert_eq!(lrs.first(), Some(&3.0), "{lrs:?}");
        assert!(lrs.contains(&100.0), "{lrs:?}");
        assert!(lrs.iter().all(|lr| *lr == 3.0 || *lr == 100.0), "{lrs:?}");
    }

    #[test]
    fn one_burst_in_one_hour_is_not_recurring() {
        let r = ecc();
        let mut st = RateState::default();
        st.on_counter(0, 0.0, &r);
        // Four errors within the same hour, then nothing for a week.
        let mut lrs = Vec::new();
        for i in 1..=4 {
            if let Some(e) = st.on_counter(HOUR + i * 60_000, i as f64, &r) {
                lrs.push(e.lr);
            }
        }
        for d in 1..=7 {
            if let Some(e) = st.on_counter(d * DAY_MS, 4.0, &r) {
                lrs.push(e.lr);
            }
        }
        assert_eq!(lrs, [3.0], "{lrs:?}");
    }

    #[test]
    fn reset_counter_is_not_a_storm() {
        let r = ecc();
        let mut st = RateState::default();
        st.on_counter(0, 5000.0, &r);
        // After a reboot the counter starts again at 0: no increase of 5000.
        assert!(st.on_counter(HOUR, 0.0, &r).is_none());
    }
}
