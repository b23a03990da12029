//! Rollups: min/max/sum/count/last of a series per fixed bucket (5 minutes, 1 hour),
//! computed by the compactor from complete chunk windows and read by long-range queries.
//!
//! Pure functions. A rollup row holds the buckets of one series over one row span; it
//! is encoded as five chunk-codec columns (count, min, max, sum, last) sharing the bucket
//! start times, so the same decimal/Gorilla/zstd choice applies to each column.

use crate::store::chunks::{self, ChunkError, Reader};
use harbinger_shared::Point;

/// The stored tiers, coarsest last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tier {
    Raw,
    FiveMinutes,
    OneHour,
}

impl Tier {
    pub const ALL: [Tier; 3] = [Tier::Raw, Tier::FiveMinutes, Tier::OneHour];

    /// The table holding this tier.
    pub fn table(self) -> &'static str {
        match self {
            Tier::Raw => "chunks",
            Tier::FiveMinutes => "rollups_5m",
            Tier::OneHour => "rollups_1h",
        }
    }

    /// Bucket width of a rollup tier (the raw tier has no buckets: 0).
    pub fn bucket_ms(self) -> i64 {
        match self {
            Tier::Raw => 0,
            Tier::FiveMinutes => 5 * 60_000,
            Tier::OneHour => 3_600_000,
        }
    }

    /// Time covered by one row: raw chunks are 2 h (720 points at 10 s: enough that row
    /// overhead is under 0.1 byte per sample, small enough that a 4 h query decodes
    /// little it does not need); rollup rows are a day (288 buckets) and a week (168).
    pub fn row_span_ms(self) -> i64 {
        match self {
            Tier::Raw => 2 * 3_600_000,
            Tier::FiveMinutes => 86_400_000,
            Tier::OneHour => 7 * 86_400_000,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Tier::Raw => "raw",
            Tier::FiveMinutes => "5m",
            Tier::OneHour => "1h",
        }
    }
}

/// The tier a range query reads: the coarsest one whose buckets fit a whole number of
/// times into `step_ms` and whose retention still holds `from_ms`. A range that starts
/// before every such tier's retention is served by the finest tier still holding its
/// start (a 1-minute step over data older than raw retention gets 5-minute buckets),
/// and by the 1 h tier, the longest kept, when none does.
///
/// `retention_ms` gives each tier's retention; tiers are expected to be kept longer the
/// coarser they are, which the configuration enforces. Retention drops only rows lying
/// wholly before `now - retention`, so a tier surely holds everything from the start of
/// the row containing that instant: that, not the instant, is the boundary used here.
pub fn choose(step_ms: i64, from_ms: i64, now_ms: i64, retention_ms: impl Fn(Tier) -> i64) -> Tier {
    let holds = |t: Tier| from_ms >= align(now_ms.saturating_sub(retention_ms(t)), t.row_span_ms());
    let fits =
        |t: Tier| t == Tier::Raw || (step_ms >= t.bucket_ms() && step_ms % t.bucket_ms() == 0);
    Tier::ALL
        .into_iter()
        .rev()
        .find(|&t| fits(t) && holds(t))
        .or_else(|| Tier::ALL.into_iter().find(|&t| holds(t)))
        .unwrap_or(Tier::OneHour)
}

/// Merges two sorted bucket lists of the same width: buckets with the same start are
/// combined (counts and sums add, extremes widen, `last` is `later`'s).
pub fn merge(earlier: Vec<Bucket>, later: Vec<Bucket>) -> Vec<Bucket> {
    let mut out: Vec<Bucket> = Vec::with_capacity(earlier.len() + later.len());
    let (mut a, mut b) = (earlier.into_iter().peekable(), later.into_iter().peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x.start_ms == y.start_ms => {
                let (x, y) = (a.next(), b.next());
                match (x, y) {
                    (Some(x), Some(y)) => Bucket {
                        start_ms: x.start_ms,
                        count: x.count + y.count,
                        min: x.min.min(y.min),
                        max: x.max.max(y.max),
                        sum: x.sum + y.sum,
                        last: y.last,
                    },
                    _ => break,
                }
            }
            (Some(x), Some(y)) if x.start_ms < y.start_ms => match a.next() {
                Some(x) => x,
                None => break,
            },
            (Some(_), None) => match a.next() {
                Some(x) => x,
                None => break,
            },
            (_, Some(_)) => match b.next() {
                Some(y) => y,
                None => break,
            },
            (None, None) => break,
        };
        out.push(next);
    }
    out
}

/// The start of the span of width `span` holding `ts` (floor, also for negative ts).
pub fn align(ts: i64, span: i64) -> i64 {
    ts.div_euclid(span) * span
}

/// One bucket of a rollup.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub start_ms: i64,
    pub count: u64,
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    /// The value of the latest point in the bucket.
    pub last: f64,
}

impl Bucket {
    pub fn avg(&self) -> f64 {
        self.sum / self.count as f64
    }
}

/// Buckets sorted points into aligned buckets of `width_ms`.
///
/// When every value has few decimals, sums are computed on the scaled integers, so a
/// sum of temperatures in tenths is itself exact in tenths (a float sum would carry
/// rounding noise that costs the sum column ~6 bytes per bucket instead of ~1).
pub fn buckets(points: &[Point], width_ms: i64) -> Vec<Bucket> {
    let values: Vec<f64> = points.iter().map(|p| p.value).collect();
    let mut out = float_buckets(points, width_ms);
    if let Some(digits) = chunks::decimal_digits(&values) {
        let scale = 10f64.powi(i32::from(digits));
        let mut at = 0;
        for b in &mut out {
            let n = b.count as usize;
            let total: i128 = points[at..at + n]
                .iter()
                .map(|p| (p.value * scale).round() as i128)
                .sum();
            at += n;
            if total.unsigned_abs() < (1u128 << 53) {
                b.sum = total as f64 / scale;
            }
        }
    }
    out
}

fn float_buckets(points: &[Point], width_ms: i64) -> Vec<Bucket> {
    let mut out: Vec<Bucket> = Vec::new();
    for p in points {
        let start = align(p.ts, width_ms);
        match out.last_mut() {
            Some(b) if b.start_ms == start => {
                b.count += 1;
                b.min = b.min.min(p.value);
                b.max = b.max.max(p.value);
                b.sum += p.value;
                b.last = p.value;
            }
            _ => out.push(Bucket {
                start_ms: start,
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

/// Replaces the buckets of `existing` that start in `[from_ms, to_ms)` by `fresh` (which
/// the caller computed from the complete points of that range). Both sorted.
pub fn replace_range(
    existing: Vec<Bucket>,
    fresh: &[Bucket],
    from_ms: i64,
    to_ms: i64,
) -> Vec<Bucket> {
    let mut out: Vec<Bucket> = existing
        .into_iter()
        .filter(|b| b.start_ms < from_ms || b.start_ms >= to_ms)
        .collect();
    out.extend_from_slice(fresh);
    out.sort_by_key(|b| b.start_ms);
    out
}

/// Encodes buckets as five chunk columns.
pub fn encode(buckets: &[Bucket]) -> Vec<u8> {
    let column = |f: &dyn Fn(&Bucket) -> f64| {
        let points: Vec<Point> = buckets
            .iter()
            .map(|b| Point {
                ts: b.start_ms,
                value: f(b),
            })
            .collect();
        chunks::encode(&points)
    };
    let mut out = Vec::new();
    for col in [
        column(&|b| b.count as f64),
        column(&|b| b.min),
        column(&|b| b.max),
        column(&|b| b.sum),
        column(&|b| b.last),
    ] {
        chunks::put_varint(&mut out, col.len() as u128);
        out.extend_from_slice(&col);
    }
    out
}

/// Decodes what [`encode`] wrote.
pub fn decode(bytes: &[u8]) -> Result<Vec<Bucket>, ChunkError> {
    let mut r = Reader::new(bytes);
    let mut columns: Vec<Vec<Point>> = Vec::with_capacity(5);
    for what in ["count", "min", "max", "sum", "last"] {
        let len = usize::try_from(r.varint(what)?).map_err(|_| ChunkError::Invalid(what))?;
        let slice = r.take(len, what)?;
        columns.push(chunks::decode(slice)?);
    }
    if r.remaining() > 0 {
        return Err(ChunkError::Trailing(r.remaining()));
    }
    let n = columns[0].len();
    if columns.iter().any(|c| c.len() != n) {
        return Err(ChunkError::Invalid("rollup column lengths"));
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let start = columns[0][i].ts;
        if columns.iter().any(|c| c[i].ts != start) {
            return Err(ChunkError::Invalid("rollup bucket times"));
        }
        let count = columns[0][i].value;
        if !(count >= 1.0 && count.fract() == 0.0) {
            return Err(ChunkError::Invalid("rollup bucket count"));
        }
        out.push(Bucket {
            start_ms: start,
            count: count as u64,
            min: columns[1][i].value,
            max: columns[2][i].value,
            sum: columns[3][i].value,
            last: columns[4][i].value,
        });
    }
    Ok(out)
}

/// Merges buckets of finer width into buckets of `width_ms` (e.g. 5 min → step), for
/// queries whose step is a multiple of the stored width. Input sorted.
pub fn regroup(buckets: &[Bucket], width_ms: i64, origin_ms: i64) -> Vec<Bucket> {
    let mut out: Vec<Bucket> = Vec::new();
    for b in buckets {
        let start = origin_ms + (b.start_ms - origin_ms).div_euclid(width_ms) * width_ms;
        match out.last_mut() {
            Some(o) if o.start_ms == start => {
                o.count += b.count;
                o.min = o.min.min(b.min);
                o.max = o.max.max(b.max);
                o.sum += b.sum;
                o.last = b.last;
            }
            _ => out.push(Bucket {
                start_ms: start,
                ..*b
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(n: i64, step: i64) -> Vec<Point> {
        (0..n)
            .map(|i| Point {
                ts: 1_700_000_000_000 + i * step,
                value: ((i * 37) % 101) as f64 / 10.0,
            })
            .collect()
    }

    #[test]
    fn buckets_hold_exact_aggregates() {
        let p = points(720, 10_000);
        let b = buckets(&p, Tier::FiveMinutes.bucket_ms());
        assert_eq!(b.iter().map(|b| b.count).sum::<u64>(), 720);
        for bucket in &b {
            let inside: Vec<f64> = p
                .iter()
                .filter(|x| align(x.ts, 300_000) == bucket.start_ms)
                .map(|x| x.value)
                .collect();
            assert_eq!(bucket.count as usize, inside.len());
            assert_eq!(bucket.min, inside.iter().copied().fold(f64::MAX, f64::min));
            assert_eq!(bucket.max, inside.iter().copied().fold(f64::MIN, f64::max));
            assert_eq!(bucket.last, *inside.last().expect("non-empty"));
            assert!((bucket.sum - inside.iter().sum::<f64>()).abs() < 1e-9);
        }
    }

    #[test]
    fn rollup_rows_round_trip() {
        let b = buckets(&points(8_640, 10_000), 300_000);
        let back = decode(&encode(&b)).expect("decodes");
        assert_eq!(back, b);
        assert!(decode(&encode(&b)[..10]).is_err());
        assert_eq!(decode(&encode(&[])).expect("empty decodes"), vec![]);
    }

    #[test]
    fn replacing_a_window_keeps_the_rest() {
        let all = buckets(&points(720, 10_000), 300_000);
        let from = all[4].start_ms;
        let to = all[8].start_ms;
        let fresh = vec![Bucket {
            start_ms: from,
            count: 1,
            min: 0.0,
            max: 0.0,
            sum: 0.0,
            last: 0.0,
        }];
        let merged = replace_range(all.clone(), &fresh, from, to);
        assert_eq!(merged.len(), all.len() - 3);
        assert_eq!(merged[4], fresh[0]);
        assert_eq!(merged[5], all[8]);
    }

    #[test]
    fn regroup_sums_counts_and_keeps_extremes() {
        let fine = buckets(&points(720, 10_000), 300_000);
        let coarse = regroup(&fine, 3_600_000, 0);
        let direct = buckets(&points(720, 10_000), 3_600_000);
        assert_eq!(coarse.len(), direct.len());
        for (a, b) in coarse.iter().zip(&direct) {
            assert_eq!(
                (a.start_ms, a.count, a.min, a.max, a.last),
                (b.start_ms, b.count, b.min, b.max, b.last)
            );
            assert!((a.sum - b.sum).abs() < 1e-9);
        }
    }

    const DAY: i64 = 86_400_000;

    fn defaults(t: Tier) -> i64 {
        match t {
            Tier::Raw => 30 * DAY,
            Tier::FiveMinutes => 365 * DAY,
            Tier::OneHour => 5 * 365 * DAY,
        }
    }

    #[test]
    fn tier_follows_the_step() {
        let now = 1_000 * DAY;
        // 30 days at 1 h, 1 day at 5 min and at 10 min, 1 h at 10 s.
        assert_eq!(
            choose(3_600_000, now - 30 * DAY, now, defaults),
            Tier::OneHour
        );
        assert_eq!(choose(300_000, now - DAY, now, defaults), Tier::FiveMinutes);
        assert_eq!(choose(600_000, now - DAY, now, defaults), Tier::FiveMinutes);
        assert_eq!(choose(10_000, now - 3_600_000, now, defaults), Tier::Raw);
        // A step that is no multiple of 5 min stays on raw data while raw data exists.
        assert_eq!(choose(420_000, now - DAY, now, defaults), Tier::Raw);
        assert_eq!(
            choose(5_400_000, now - DAY, now, defaults),
            Tier::FiveMinutes
        );
    }

    #[test]
    fn tier_respects_retention() {
        let now = 1_000 * DAY;
        // Older than raw retention: a fine step is served by the 5 min rollup.
        assert_eq!(
            choose(10_000, now - 31 * DAY, now, defaults),
            Tier::FiveMinutes
        );
        assert_eq!(
            choose(420_000, now - 31 * DAY, now, defaults),
            Tier::FiveMinutes
        );
        // Older than the 5 min retention: the hourly rollup, whatever the step.
        assert_eq!(
            choose(300_000, now - 400 * DAY, now, defaults),
            Tier::OneHour
        );
        assert_eq!(
            choose(10_000, now - 400 * DAY, now, defaults),
            Tier::OneHour
        );
        // Older than everything: the longest-kept tier, which may still hold the end.
        assert_eq!(
            choose(10_000, now - 9_000 * DAY, now, defaults),
            Tier::OneHour
        );
        // Raw still holds the row that contains the retention boundary (rows are 2 h).
        let now = now + 3_600_000;
        assert_eq!(choose(10_000, now - 30 * DAY, now, defaults), Tier::Raw);
        assert_eq!(
            choose(10_000, now - 30 * DAY - 3_600_000, now, defaults),
            Tier::Raw
        );
        assert_eq!(
            choose(10_000, now - 30 * DAY - 3_600_001, now, defaults),
            Tier::FiveMinutes
        );
    }

    #[test]
    fn merge_combines_equal_starts_and_keeps_order() {
        let b = |start_ms, v: f64| Bucket {
            start_ms,
            count: 1,
            min: v,
            max: v,
            sum: v,
            last: v,
        };
        let merged = merge(
            vec![b(0, 1.0), b(10, 5.0)],
            vec![b(5, 2.0), b(10, 3.0), b(20, 4.0)],
        );
        let starts: Vec<i64> = merged.iter().map(|b| b.start_ms).collect();
        assert_eq!(starts, vec![0, 5, 10, 20]);
        assert_eq!(
            merged[2],
            Bucket {
                start_ms: 10,
                count: 2,
                min: 3.0,
                max: 5.0,
                sum: 8.0,
                last: 3.0
            }
        );
    }

    #[test]
    fn align_floors_negative_times() {
        assert_eq!(align(-1, 10), -10);
        assert_eq!(align(19, 10), 10);
    }
}
