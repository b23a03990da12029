//! Pure arithmetic of range queries: counter rates and step buckets.
//!
//! Kept apart from the HTTP handler and the read path so the exact numbers the API
//! promises can be unit-tested without a server.

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
    let step = step.max(1);
    let mut out: Vec<Bucket> = Vec::new();
    let mut current: Option<(i64, f64, f64, f64, u32)> = None;
    for p in points.iter().filter(|p| p.ts >= start && p.ts < end) {
        let bucket_start = start + (p.ts - start) / step * step;
        match &mut current {
            Some((ts, min, max, sum, n)) if *ts == bucket_start => {
                *min = min.min(p.value);
                *max = max.max(p.value);
                *sum += p.value;
                *n += 1;
            }
            _ => {
                if let Some(done) = current.take() {
                    out.push(finish(done));
                }
                current = Some((bucket_start, p.value, p.value, p.value, 1));
            }
        }
    }
    if let Some(done) = current {
        out.push(finish(done));
    }
    out
}

fn finish((ts, min, max, sum, n): (i64, f64, f64, f64, u32)) -> Bucket {
    (ts, min, max, sum / f64::from(n))
}

/// The default step: at most ~720 buckets over the range, never below 1 ms.
pub fn default_step(start: i64, end: i64) -> i64 {
    let span = end.saturating_sub(start).max(1);
    ((span + 719) / 720).max(1)
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

    #[test]
    fn default_step_caps_buckets() {
        assert_eq!(default_step(0, 3_600_000), 5_000);
        assert_eq!(default_step(0, 10), 1);
        assert_eq!(bucket_count(0, 3_600_000, 5_000), 720);
        assert_eq!(bucket_count(0, 11, 5), 3);
    }
}
