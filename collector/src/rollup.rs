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

    #[test]
    fn align_floors_negative_times() {
        assert_eq!(align(-1, 10), -10);
        assert_eq!(align(19, 10), 10);
    }
}
