//! Trends to threshold: a robust (Theil–Sen) line through a slowly moving series, with a
//! confidence interval, extrapolated to the threshold: NVMe wear and spare, reallocated
//! sector growth, filesystem fill, fan RPM decay.
//!
//! One point per `sample_minutes` (the period's last value) is kept, up to `points`. A
//! time to threshold inside the rule's horizon is evidence, stronger the sooner it is.

use super::{ms, theil_sen, Emit, DAY_MS, HOUR_MS};
use crate::rules::{Direction, TrendRule};
use crate::signal::{Detector, SignalExplanation, TimeToThreshold};
use serde::{Deserialize, Serialize};

/// State of one trended series.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TrendState {
    period: i64,
    last_ts: i64,
    last_value: f64,
    has_value: bool,
    /// Kept points `(ts, value)`, oldest first.
    points: Vec<(i64, f64)>,
    /// Strength last emitted (0 = not firing).
    strength: f64,
}

impl TrendState {
    /// Adds one sample; when a period closes, refits and maybe emits.
    /// `threshold` is the rule's threshold or the per-series one.
    pub fn on_sample(
        &mut self,
        ts: i64,
        value: f64,
        rule: &TrendRule,
        threshold: f64,
        scratch: &mut Vec<f64>,
    ) -> Option<Emit> {
        let period_ms = ms(rule.sample_minutes, 60_000).max(1);
        let p = ts.div_euclid(period_ms);
        let mut out = None;
        if self.has_value && p > self.period {
            self.points.push((self.last_ts, self.last_value));
            if self.points.len() > rule.points as usize {
                self.points.remove(0);
            }
            out = self.evaluate(rule, threshold, scratch);
        } else if self.has_value && p < self.period {
            return None;
        }
        self.period = p;
        self.last_ts = ts;
        self.last_value = value;
        self.has_value = true;
        out
    }

    fn evaluate(
        &mut self,
        rule: &TrendRule,
        threshold: f64,
        scratch: &mut Vec<f64>,
    ) -> Option<Emit> {
        if self.points.len() < rule.min_points as usize {
            return None;
        }
        let &(t_now, current) = self.points.last()?;
        let t0 = self.points[0].0;
        // Fit in hours from the first point, for numerically tame slopes.
        let pts: Vec<(f64, f64)> = self
            .points
            .iter()
            .map(|(t, v)| ((t - t0) as f64 / HOUR_MS as f64, *v))
            .collect();
        let fit = theil_sen::fit(&pts, scratch)?;
        let x_now = (t_now - t0) as f64 / HOUR_MS as f64;
        let fitted_now = fit.intercept + fit.slope * x_now;
        let up = rule.direction == Direction::Up;
        let gap = threshold - fitted_now;
        // Hours to threshold at a slope, if moving towards it.
        let hours_at = |slope: f64| -> Option<f64> {
            let towards = if up { slope > 0.0 } else { slope < 0.0 };
            if (up && gap <= 0.0) || (!up && gap >= 0.0) {
                return Some(0.0);
            }
            towards.then(|| gap / slope)
        };
        let (steep, shallow) = if up {
            (fit.slope_high, fit.slope_low)
        } else {
            (fit.slope_low, fit.slope_high)
        };
        let horizon_h = rule.horizon_days * 24.0;
        let estimate = hours_at(fit.slope).filter(|h| *h <= horizon_h);
        let strength = match estimate {
            // The sooner, the stronger; at the horizon's edge it is barely evidence.
            Some(h) => (1.0 - h / horizon_h).clamp(0.1, 1.0),
            None => 0.0,
        };
        let strength = (strength * 10.0).round() / 10.0;
        if strength == self.strength {
            return None;
        }
        self.strength = strength;
        let ttt = estimate.map(|h| TimeToThreshold {
            estimate_ms: ms(h, HOUR_MS),
            low_ms: ms(hours_at(steep).unwrap_or(h), HOUR_MS),
            high_ms: hours_at(shallow).map(|x| ms(x, HOUR_MS)),
            threshold,
            current,
        });
        let per_day = fit.slope * 24.0;
        Some(Emit {
            detector: Detector::Trend,
            suffix: "",
            strength,
            lr: rule.lr,
            hold_ms: None,
            explanation: SignalExplanation {
                summary: match estimate {
                    Some(h) => format!(
                        "{} at {:.4}, moving {:+.4}/day: reaches {} in ~{:.1} days",
                        rule.metric,
                        current,
                        per_day,
                        threshold,
                        h / 24.0
                    ),
                    None => format!("{} no longer heading to {}", rule.metric, threshold),
                },
                value: Some(current),
                reference: Some(format!(
                    "Theil-Sen over {} points ({:.0} days), slope 95 % interval [{:+.4}, {:+.4}]/day",
                    self.points.len(),
                    (t_now - t0) as f64 / DAY_MS as f64,
                    fit.slope_low * 24.0,
                    fit.slope_high * 24.0
                )),
                time_to_threshold: ttt,
                ..Default::default()
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RulePack;

    fn rule(id: &str) -> TrendRule {
        RulePack::default_pack()
            .expect("pack")
            .trends
            .into_iter()
            .find(|r| r.id == id)
            .expect("rule")
    }

    #[test]
    fn filesystem_filling_gives_time_to_full_with_interval() {
        let r = rule("filesystem_fill");
        let mut st = TrendState::default();
        let mut scratch = Vec::new();
        let mut last = None;
        // +1 % per hour from 50 %, hourly samples with a little noise, 12 hours.
        for h in 0..13 {
            let v = 0.5 + 0.01 * h as f64 + if h % 3 == 0 { 0.002 } else { 0.0 };
            last = st
                .on_sample(h * HOUR_MS, v, &r, r.threshold, &mut scratch)
                .or(last);
        }
        let e = last.expect("a filling filesystem is a signal");
        let ttt = e.explanation.time_to_threshold.expect("ttt");
        let days = ttt.estimate_ms as f64 / DAY_MS as f64;
        // 50 % left at ~1 %/h is ~2 days.
        assert!((1.7..2.3).contains(&days), "{days}");
        assert!(ttt.low_ms <= ttt.estimate_ms);
        assert!(ttt.high_ms.is_some_and(|h| h >= ttt.estimate_ms));
        assert!(e.strength > 0.5);
    }

    #[test]
    fn flat_noisy_series_is_quiet() {
        let r = rule("filesystem_fill");
        let mut st = TrendState::default();
        let mut scratch = Vec::new();
        for h in 0..72 {
            let v = 0.6 + if h % 2 == 0 { 0.01 } else { -0.01 };
            assert!(st
                .on_sample(h * HOUR_MS, v, &r, 1.0, &mut scratch)
                .is_none());
        }
    }

    #[test]
    fn fan_decay_towards_its_minimum() {
        let r = rule("fan_decay");
        let mut st = TrendState::default();
        let mut scratch = Vec::new();
        let mut last = None;
        // 3000 rpm losing 40 rpm a day, sampled every 6 h, min 2200: ~20 days left.
        for i in 0..20 {
            let v = 3000.0 - 10.0 * i as f64;
            last = st
                .on_sample(i * 6 * HOUR_MS, v, &r, 2200.0, &mut scratch)
                .or(last);
        }
        let e = last.expect("decay");
        let days = e.explanation.time_to_threshold.expect("ttt").estimate_ms as f64 / DAY_MS as f64;
        assert!((15.0..20.0).contains(&days), "{days}");
    }
}
