//! Dynamic seasonal baselines: per series, a robust centre and spread for every hour of
//! the day and every hour of the week, learnt with exponential forgetting.
//!
//! Samples are averaged over short windows; each closed window is compared with its
//! slot (hour-of-week once that slot is warm, else hour-of-day), and then teaches it.
//! Learning clips the residual at `clip` spreads (a Huber-style update), so one bad hour
//! cannot drag the baseline, while a lasting change is adopted at the forgetting rate.
//! Until a slot has been visited `warmup_visits` times (days, for hour-of-day slots) the
//! detector reports that it is warming up instead of alarming; a deviation must persist `persistence` windows.

use super::{Emit, HOUR_MS};
use crate::rules::{BaselineRule, BaselineSettings, Direction};
use crate::signal::{Detector, SignalExplanation};
use serde::{Deserialize, Serialize};

/// Scale factor from a mean absolute deviation to a normal standard deviation.
const MAD_TO_SIGMA: f64 = 1.2533;
const DAY_SLOTS: usize = 24;
/// A deviating window teaches its slot at this fraction of the normal rate: a cooling
/// failure must not become "normal" within the hour, yet a lasting change of level is
/// still adopted over days.
const DEVIATING_RATE: f64 = 0.05;
const WEEK_SLOTS: usize = 168;
const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// One seasonal slot: centre, spread and how many windows it has seen.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Slot {
    pub centre: f64,
    pub spread: f64,
    pub n: u32,
}

impl Slot {
    /// Learns one window mean. `slow` marks a deviating window; `seed` is the slot to
    /// start from when this one is empty (the hour-of-week slot starts from the
    /// hour-of-day one, so a week slot born during an anomaly does not adopt it).
    fn learn(
        &mut self,
        x: f64,
        settings: &BaselineSettings,
        min_spread: f64,
        slow: bool,
        seed: Option<Slot>,
    ) {
        if self.n == 0 {
            match seed.filter(|s| s.n > 0) {
                Some(s) => {
                    self.centre = s.centre;
                    self.spread = s.spread;
                }
                None => {
                    self.centre = x;
                    self.spread = min_spread;
                    self.n = 1;
                    return;
                }
            }
        }
        let per_window = window_forgetting(settings);
        let a = if slow {
            per_window * DEVIATING_RATE
        } else if self.n < warm_windows(settings) {
            // Average plainly during warm-up, then forget exponentially.
            1.0 / (f64::from(self.n) + 1.0)
        } else {
            per_window
        };
        let s = self.spread.max(min_spread);
        let r = (x - self.centre).clamp(-settings.clip * s, settings.clip * s);
        self.centre += a * r;
        self.spread += a * (r.abs() * MAD_TO_SIGMA - self.spread);
        self.n = self.n.saturating_add(1);
    }
}

/// Windows in one visit of a slot (an hour).
fn windows_per_visit(settings: &BaselineSettings) -> f64 {
    (60.0 / settings.window_minutes).max(1.0)
}

/// The per-window weight that gives `forgetting` per visit.
fn window_forgetting(settings: &BaselineSettings) -> f64 {
    1.0 - (1.0 - settings.forgetting).powf(1.0 / windows_per_visit(settings))
}

/// Windows a slot needs before it may alarm.
fn warm_windows(settings: &BaselineSettings) -> u32 {
    (f64::from(settings.warmup_visits) * windows_per_visit(settings)).ceil() as u32
}

/// State of one series' baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineState {
    window: i64,
    sum: f64,
    count: u32,
    day: Vec<Slot>,
    week: Vec<Slot>,
    streak: u32,
    firing: bool,
}

/// A read-only view of a baseline, for dashboards (the band) and tests.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BaselineView {
    pub warming_up: bool,
    pub centre: f64,
    pub spread: f64,
    /// `week` when the hour-of-week slot is used, `day` for hour-of-day.
    pub seasonal: &'static str,
    pub windows_seen: u32,
}

impl Default for BaselineState {
    fn default() -> Self {
        Self {
            window: i64::MIN,
            sum: 0.0,
            count: 0,
            day: vec![Slot::default(); DAY_SLOTS],
            week: vec![Slot::default(); WEEK_SLOTS],
            streak: 0,
            firing: false,
        }
    }
}

/// Hour of the week with Monday 00:00 UTC as 0 (the epoch was a Thursday).
fn hour_of_week(ts: i64) -> usize {
    ((ts.div_euclid(HOUR_MS) + 72).rem_euclid(WEEK_SLOTS as i64)) as usize
}

impl BaselineState {
    /// Adds one sample; returns a signal when a closed window changes the conclusion.
    pub fn on_sample(
        &mut self,
        ts: i64,
        value: f64,
        rule: &BaselineRule,
        settings: &BaselineSettings,
        window_ms: i64,
    ) -> Option<Emit> {
        let w = ts.div_euclid(window_ms);
        let mut out = None;
        if w != self.window {
            if self.count > 0 && w > self.window {
                let mean = self.sum / f64::from(self.count);
                out = self.close(self.window * window_ms, mean, rule, settings);
            }
            if w < self.window {
                // An older window than the open one: late data is ignored, not learnt.
                return None;
            }
            self.window = w;
            self.sum = 0.0;
            self.count = 0;
        }
        self.sum += value;
        self.count += 1;
        out
    }

    /// The baseline that applies at `ts`.
    pub fn view(&self, ts: i64, settings: &BaselineSettings) -> BaselineView {
        let how = hour_of_week(ts);
        let week = self.week[how];
        let day = self.day[how % DAY_SLOTS];
        let warm = warm_windows(settings);
        if week.n >= warm {
            BaselineView {
                warming_up: false,
                centre: week.centre,
                spread: week.spread,
                seasonal: "week",
                windows_seen: week.n,
            }
        } else {
            BaselineView {
                warming_up: day.n < warm,
                centre: day.centre,
                spread: day.spread,
                seasonal: "day",
                windows_seen: day.n,
            }
        }
    }

    fn close(
        &mut self,
        start: i64,
        mean: f64,
        rule: &BaselineRule,
        settings: &BaselineSettings,
    ) -> Option<Emit> {
        let how = hour_of_week(start);
        let view = self.view(start, settings);
        let mut out = None;
        let mut deviating = false;
        if !view.warming_up {
            let spread = view.spread.max(rule.min_spread);
            let z = (mean - view.centre) / spread;
            let deviates = match rule.direction {
                Direction::Up => z > settings.deviation,
                Direction::Down => z < -settings.deviation,
                Direction::Both => z.abs() > settings.deviation,
            };
            // Clearing needs the value back inside half the band, so a value hovering at
            // the edge does not flap.
            let recovered = z.abs() < settings.deviation / 2.0;
            deviating = deviates || self.firing;
            if deviates {
                self.streak += 1;
            } else {
                self.streak = 0;
            }
            let reference = format!(
                "seasonal baseline ({} slot {} {:02}h): {:.4} ± {:.4}",
                view.seasonal,
                WEEKDAYS[how / 24],
                how % 24,
                view.centre,
                spread
            );
            if !self.firing && self.streak >= settings.persistence {
                self.firing = true;
                let strength = (z.abs() / (2.0 * settings.deviation)).clamp(0.5, 1.0);
                out = Some(Emit {
                    detector: Detector::Baseline,
                    suffix: "",
                    strength,
                    lr: rule.lr,
                    hold_ms: None,
                    explanation: SignalExplanation {
                        summary: format!(
                            "{} = {:.4} for {} windows, {:.1} spreads from its usual {:.4}",
                            rule.metric, mean, self.streak, z, view.centre
                        ),
                        value: Some(mean),
                        reference: Some(reference),
                        ..Default::default()
                    },
                });
            } else if self.firing && recovered {
                self.firing = false;
                out = Some(Emit {
                    detector: Detector::Baseline,
                    suffix: "",
                    strength: 0.0,
                    lr: rule.lr,
                    hold_ms: None,
                    explanation: SignalExplanation {
                        summary: format!("{} back to {:.4}", rule.metric, mean),
                        value: Some(mean),
                        reference: Some(reference),
                        ..Default::default()
                    },
                });
            }
        }
        let day = self.day[how % DAY_SLOTS];
        self.week[how].learn(mean, settings, rule.min_spread, deviating, Some(day));
        self.day[how % DAY_SLOTS].learn(mean, settings, rule.min_spread, deviating, None);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RulePack;

    const MIN: i64 = 60_000;
    /// Monday 2024-01-01 00:00 UTC.
    const MONDAY: i64 = 1_704_067_200_000;

    fn cpu_rule() -> (BaselineRule, BaselineSettings) {
        let pack = RulePack::default_pack().expect("default pack");
        let rule = pack
            .baselines
            .iter()
            .find(|r| r.id == "cpu")
            .expect("cpu rule")
            .clone();
        (rule, pack.baseline.clone())
    }

    /// Runs `days` of 1-minute samples through a baseline; returns the emitted signals.
    fn run(days: i64, value: impl Fn(i64) -> f64) -> (Vec<(i64, Emit)>, BaselineState) {
        let (rule, settings) = cpu_rule();
        let mut st = BaselineState::default();
        let mut out = Vec::new();
        for m in 0..days * 24 * 60 {
            let ts = MONDAY + m * MIN;
            if let Some(e) = st.on_sample(ts, value(ts), &rule, &settings, 5 * MIN) {
                out.push((ts, e));
            }
        }
        (out, st)
    }

    /// Small deterministic noise in [-0.02, 0.02].
    fn noise(ts: i64) -> f64 {
        let x = (ts / MIN).wrapping_mul(2_654_435_761) % 1000;
        (x as f64 / 1000.0 - 0.5) * 0.04
    }

    #[test]
    fn stays_quiet_on_a_nightly_backup() {
        // 10 % CPU by day, 85 % from 02:00 to 03:10 every night (the backup), three weeks.
        let (signals, _) = run(21, |ts| {
            let minute_of_day = (ts - MONDAY).rem_euclid(24 * 60 * MIN) / MIN;
            let base = if (120..190).contains(&minute_of_day) {
                0.85
            } else {
                0.10
            };
            base + noise(ts)
        });
        assert!(signals.is_empty(), "{signals:?}");
    }

    #[test]
    fn alarms_on_a_lasting_rise_at_an_unusual_hour_and_clears() {
        let anomaly = MONDAY + 14 * 24 * 60 * MIN + 14 * 60 * MIN; // day 15, 14:00
        let (signals, _) = run(16, |ts| {
            let v = if (anomaly..anomaly + 40 * MIN).contains(&ts) {
                0.9
            } else {
                0.1
            };
            v + noise(ts)
        });
        assert_eq!(signals.len(), 2, "{signals:?}");
        let (at, fire) = &signals[0];
        assert!(fire.strength > 0.0);
        // Three 5-minute windows must deviate before it fires.
        assert!(
            *at >= anomaly + 15 * MIN && *at <= anomaly + 20 * MIN,
            "{at}"
        );
        assert!(fire
            .explanation
            .reference
            .as_deref()
            .is_some_and(|r| r.contains("Mon 14h")));
        assert_eq!(signals[1].1.strength, 0.0);
    }

    #[test]
    fn warms_up_before_alarming() {
        // A spike on the very first day is not judged: the slot has not seen enough.
        let (signals, st) = run(1, |ts| if ts < MONDAY + 30 * MIN { 0.9 } else { 0.1 });
        assert!(signals.is_empty(), "{signals:?}");
        let (_, settings) = cpu_rule();
        assert!(st.view(MONDAY + 25 * 60 * MIN, &settings).seasonal == "day");
        let fresh = BaselineState::default();
        assert!(fresh.view(MONDAY, &settings).warming_up);
    }

    #[test]
    fn a_short_spike_does_not_persist() {
        let spike = MONDAY + 8 * 24 * 60 * MIN + 10 * 60 * MIN;
        let (signals, _) = run(9, |ts| {
            if (spike..spike + 9 * MIN).contains(&ts) {
                0.95
            } else {
                0.1 + noise(ts)
            }
        });
        assert!(signals.is_empty(), "{signals:?}");
    }
}
