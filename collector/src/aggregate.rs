//! Pure arithmetic of range queries: counter rates and step buckets.
//!
//! Kept apart from the HTTP handler and the read path so the exact numbers the API
//! promises can be unit-tested without a server.

use crate::rollup;
use harbinger_shared::Point;

/// One bucket as the API returns it: `[start_ts, min, max, avg]`.
pub type Bucket = (i64, f64, f64, f64);

/// Turns counter samples into per-second rates between consecutive points, each placed
/// at the later point's timestamp. A decrease is a counter reset, so the rate counts
/// from zero. Pairs with a non-increasing timestamp carry no rate and are skipped.
pub fn rate(points: &[Point]) -> Vec<Point> {
    points
        .windows(2)
        .filter_map(|pair| {
            let (prev, next) = (pair[0], pair[1]);
            let dt_ms = next.ts - prev.ts;
            if dt_ms <= 0 {
                return None;
            }
            let delta = if next.value >= prev.value {
                next.value - prev.value
            } else {
                next.value
            };
            Some(Point {
                ts: next.ts,
                value: delta * 1_000.0 / dt_ms as f64,
            })
        })
        .collect()
}

/// Buckets points with `start <= ts < end` into `[start + k*step, start + (k+1)*step)`
/// and returns min/max/avg per non-empty bucket, in time order. Points must be sorted.
pub fn bucket(points: &[Point], start: i64, end: i64, step: i64) -> Vec<Bucket> {
    stats(points, start, end, step).iter().map(to_api).collect()
}

/// Like [`bucket`], keeping count, sum and last: the shape rollups are stored in, so raw
/// and rollup answers go through the same code after this point.
pub fn stats(points: &[Point], start: i64, end: i64, step: i64) -> Vec<rollup::Bucket> {
    let step = step.max(1);
    let mut out: Vec<rollup::Bucket> = Vec::new();
    for p in points.iter().filter(|p| p.ts >= start && p.ts < end) {
        let bucket_start = start + (p.ts - start) / step * step;
        match out.last_mut() {
            Some(b) if b.start_ms == bucket_start => {
                b.count += 1;
                b.min = b.min.min(p.value);
                b.max = b.max.max(p.value);
                b.sum += p.value;
                b.last = p.value;
            }
            _ => out.push(rollup::Bucket {
                start_ms: bucket_start,
                count: 1,
                min: p.value,
                max: p.value,
                sum: p.value,
                last: p.value,
            }),
        }
    }
    out
}

/// A stored-shape bucket as the API returns it.
pub fn to_api(b: &rollup::Bucket) -> Bucket {
    (b.start_ms, b.min, b.max, b.avg())
}

/// How a fleet aggregate combines the series of a group within one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FleetFn {
    /// Mean of the series' means: every series counts once, however often it reports.
    Avg,
    /// Smallest sample of any series.
    Min,
    /// Largest sample of any series.
    Max,
    /// Sum of the series' means (e.g. the power drawn by a rack).
    Sum,
    /// Number of series reporting in the step.
    Count,
    /// Quantile (0..1) of the series' means, interpolated between ranks as Prometheus'
    /// `quantile` does.
    Quantile(f64),
}

impl FleetFn {
    /// Parses `avg|min|max|sum|count|pNN` (NN from 1 to 99, e.g. `p95`).
    pub fn parse(s: &str) -> Option<FleetFn> {
        Some(match s {
            "avg" => FleetFn::Avg,
            "min" => FleetFn::Min,
            "max" => FleetFn::Max,
            "sum" => FleetFn::Sum,
            "count" => FleetFn::Count,
            _ => {
                let n: u8 = s.strip_prefix('p')?.parse().ok()?;
                if !(1..=99).contains(&n) || s.len() > 3 {
                    return None;
                }
                FleetFn::Quantile(f64::from(n) / 100.0)
            }
        })
    }

    /// The value of one step from the buckets the group's series have in it; `None`
    /// when there are none.
    pub fn apply(self, buckets: &[rollup::Bucket]) -> Option<f64> {
        if buckets.is_empty() {
            return None;
        }
        let means = || buckets.iter().map(rollup::Bucket::avg);
        Some(match self {
            FleetFn::Avg => means().sum::<f64>() / buckets.len() as f64,
            FleetFn::Min => buckets.iter().map(|b| b.min).fold(f64::INFINITY, f64::min),
            FleetFn::Max => buckets
                .iter()
                .map(|b| b.max)
                .fold(f64::NEG_INFINITY, f64::max),
            FleetFn::Sum => means().sum(),
            FleetFn::Count => buckets.len() as f64,
            FleetFn::Quantile(q) => {
                let mut v: Vec<f64> = means().collect();
                v.sort_by(f64::total_cmp);
                let rank = q * (v.len() - 1) as f64;
                let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
                v[lo] + (v[hi] - v[lo]) * (rank - lo as f64)
            }
        })
    }
}

/// The default step: at most ~720 buckets over the range, never below 1 ms; above
/// 5 minutes rounded up to whole rollup buckets, so long ranges read a rollup tier.
pub fn default_step(start: i64, end: i64) -> i64 {
    let span = end.saturating_sub(start).max(1);
    let step = ((span + 719) / 720).max(1);
    match [rollup::Tier::OneHour, rollup::Tier::FiveMinutes]
        .into_iter()
        .map(rollup::Tier::bucket_ms)
        .find(|&width| step > width)
    {
        Some(width) => (step + width - 1) / width * width,
        None => step,
    }
}

/// Number of buckets a query would produce at most.
pub fn bucket_count(start: i64, end: i64, step: i64) -> i64 {
    let span = end.saturating_sub(start);
    let step = step.max(1);
    span / step + i64::from(span % step != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(values: &[(i64, f64)]) -> Vec<Point> {
        values
            .iter()
            .map(|&(ts, value)| Point { ts, value })
            .collect()
    }

    #[test]
    fn buckets_have_exact_min_max_avg_and_skip_empty_ones() {
        let points = pts(&[
            (0, 1.0),
            (5, 3.0),
            (9, 2.0),
            (25, 10.0),
            (30, 4.0),
            (40, 99.0),
        ]);
        assert_eq!(
            bucket(&points, 0, 40, 10),
            vec![
                (0, 1.0, 3.0, 2.0),
                (20, 10.0, 10.0, 10.0),
                (30, 4.0, 4.0, 4.0)
            ]
        );
    }

    #[test]
    fn bucket_boundaries_start_at_the_query_start() {
        // Buckets are [7,17) and [17,27): 16 falls in the first, 17 opens the second.
        let points = pts(&[(3, 9.0), (7, 1.0), (16, 2.0), (17, 4.0)]);
        assert_eq!(
            bucket(&points, 7, 100, 10),
            vec![(7, 1.0, 2.0, 1.5), (17, 4.0, 4.0, 4.0)]
        );
    }

    #[test]
    fn rate_handles_counter_resets() {
        // 100 → 300 over 2 s = 100/s; reset to 50 over 1 s = 50/s; 50 → 80 over 3 s = 10/s.
        let points = pts(&[(0, 100.0), (2_000, 300.0), (3_000, 50.0), (6_000, 80.0)]);
        assert_eq!(
            rate(&points),
            pts(&[(2_000, 100.0), (3_000, 50.0), (6_000, 10.0)])
        );
    }

    #[test]
    fn rate_skips_repeated_timestamps() {
        let points = pts(&[(0, 1.0), (0, 2.0), (1_000, 4.0)]);
        assert_eq!(rate(&points), pts(&[(1_000, 2.0)]));
    }

    fn b(min: f64, max: f64, sum: f64, count: u64) -> rollup::Bucket {
        rollup::Bucket {
            start_ms: 0,
            count,
            min,
            max,
            sum,
            last: max,
        }
    }

    #[test]
    fn fleet_functions_combine_series_means_and_extremes() {
        // Three series with means 1, 2 and 6.
        let group = [
            b(0.0, 2.0, 2.0, 2),
            b(2.0, 2.0, 2.0, 1),
            b(4.0, 8.0, 18.0, 3),
        ];
        let f = |name: &str| {
            FleetFn::parse(name)
                .expect("known function")
                .apply(&group)
                .expect("non-empty")
        };
        assert_eq!(f("avg"), 3.0);
        assert_eq!(f("min"), 0.0);
        assert_eq!(f("max"), 8.0);
        assert_eq!(f("sum"), 9.0);
        assert_eq!(f("count"), 3.0);
        assert_eq!(f("p50"), 2.0);
        // rank 0.9 * 2 = 1.8: 2 + 0.8 * (6 - 2).
        assert!((f("p90") - 5.2).abs() < 1e-12);
        assert_eq!(FleetFn::Avg.apply(&[]), None);
        assert_eq!(FleetFn::Quantile(0.99).apply(&group[..1]), Some(1.0));
    }

    #[test]
    fn fleet_function_names_are_strict() {
        assert_eq!(FleetFn::parse("p95"), Some(FleetFn::Quantile(0.95)));
        for bad in ["p0", "p100", "p", "p9x", "p095", "median", "AVG", ""] {
            assert_eq!(FleetFn::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn stats_keep_count_sum_and_last() {
        let points = pts(&[(0, 1.0), (5, 3.0), (9, 2.0), (25, 10.0)]);
        let s = stats(&points, 0, 40, 10);
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].count, s[0].sum, s[0].last), (3, 6.0, 2.0));
        assert_eq!(to_api(&s[1]), (20, 10.0, 10.0, 10.0));
    }

    #[test]
    fn default_step_caps_buckets() {
        assert_eq!(default_step(0, 3_600_000), 5_000);
        assert_eq!(default_step(0, 10), 1);
        // 7 days: 14 min, a whole number of 5 min buckets; 60 days: 2 h.
        assert_eq!(default_step(0, 7 * 86_400_000), 900_000);
        assert_eq!(default_step(0, 60 * 86_400_000), 7_200_000);
        assert_eq!(default_step(0, 720 * 300_000), 300_000);
        assert_eq!(bucket_count(0, 3_600_000, 5_000), 720);
        assert_eq!(bucket_count(0, 11, 5), 3);
    }
}
