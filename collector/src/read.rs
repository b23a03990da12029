//! The read path: raw samples from hot memory when it covers the range, else the store;
//! rollup buckets from the rollup tables plus the batch log.
//!
//! [`raw_series`] and [`rollup_series`] are deliberately the only functions that know
//! where samples live.
//! The cold path merges the two places a stored point can be: the batch log (batches
//! not compacted yet) and the raw chunks (decoding only the rows of the series asked
//! whose span overlaps the range). Compaction moves a batch's points from one to the
//! other in one transaction; the log is read first, so a compaction running between
//! the two reads makes a point appear twice (and the merge keeps one), never vanish.

use crate::aggregate;
use crate::hot::{HotCache, RawSeries, Selector, SeriesKey};
use crate::rollup;
use crate::store::chunks;
use crate::store::{BatchFilter, DbError, Store, Tier};
use harbinger_shared::Point;
use std::collections::{BTreeMap, HashMap};

/// Batches fetched per store round trip on the cold path.
const PAGE: i64 = 256;

/// Points with `from_ms <= ts < to_ms` of the host's series matching `selector`,
/// sorted by series key, each series sorted by timestamp.
pub async fn raw_series(
    store: &dyn Store,
    hot: &HotCache,
    host_id: &str,
    selector: &Selector,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<RawSeries>, DbError> {
    if from_ms >= hot.complete_from_ms() {
        return Ok(hot.range(host_id, selector, from_ms, to_ms));
    }
    let found = log_points(store, host_id, selector, from_ms, to_ms).await?;
    let mut compacted = chunk_points(store, host_id, selector, from_ms, to_ms).await?;
    for (key, points) in found {
        compacted.entry(key).or_default().extend(points);
    }
    Ok(compacted
        .into_iter()
        .map(|(key, mut points)| {
            // Batches come in sequence order, which is not time order after a replay.
            // Chunk points come first, so a log point with the same timestamp wins, as
            // it would when the compactor merges it into the chunk.
            chunks::normalize(&mut points);
            (key, points)
        })
        .collect())
}

/// Buckets of a rollup `tier` (its own width) of the host's series matching `selector`,
/// starting in `[align(from_ms), to_ms)`, sorted by series key and start.
///
/// The stored rollup rows cover compacted windows; points still in the batch log (the
/// recent hours, and late data for old windows) are bucketed here and combined with them.
/// The log is read first, as on the raw path: a compaction between the two reads counts
/// the points of that window twice in this one answer, never drops them.
pub async fn rollup_series(
    store: &dyn Store,
    host_id: &str,
    selector: &Selector,
    tier: Tier,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<(SeriesKey, Vec<rollup::Bucket>)>, DbError> {
    let width = tier.bucket_ms().max(1);
    let from_ms = rollup::align(from_ms, width);
    let log = log_points(store, host_id, selector, from_ms, to_ms).await?;
    let mut out: BTreeMap<SeriesKey, Vec<rollup::Bucket>> = BTreeMap::new();
    let (wanted, ids) = compacted_series(store, host_id, selector).await?;
    if !ids.is_empty() {
        for row in store.load_rows(tier, &ids, from_ms, to_ms).await? {
            let buckets = rollup::decode(&row.data).map_err(|e| {
                DbError::Corrupt(format!(
                    "{} row of series {} at {}: {e}",
                    tier.table(),
                    row.series_id,
                    row.start_ms
                ))
            })?;
            let Some(key) = wanted.get(&row.series_id) else {
                continue;
            };
            let inside = buckets
                .into_iter()
                .filter(|b| b.start_ms >= from_ms && b.start_ms < to_ms);
            out.entry(key.clone()).or_default().extend(inside);
        }
    }
    for (key, mut points) in log {
        chunks::normalize(&mut points);
        let fresh = rollup::buckets(&points, width);
        let stored = out.remove(&key).unwrap_or_default();
        out.insert(key, rollup::merge(stored, fresh));
    }
    Ok(out.into_iter().filter(|(_, b)| !b.is_empty()).collect())
}

/// Points in `[from_ms, to_ms)` of the host's series matching `selector` that are still
/// in the batch log (not compacted), in batch order.
async fn log_points(
    store: &dyn Store,
    host_id: &str,
    selector: &Selector,
    from_ms: i64,
    to_ms: i64,
) -> Result<BTreeMap<SeriesKey, Vec<Point>>, DbError> {
    let mut found: BTreeMap<SeriesKey, Vec<Point>> = BTreeMap::new();
    let mut after = None;
    loop {
        let filter = BatchFilter {
            host_id: Some(host_id.to_owned()),
            from_ms,
            to_ms: to_ms.saturating_sub(1),
            after: after.take(),
            limit: PAGE,
        };
        let batches = store.load_batches(&filter).await?;
        for batch in &batches {
            for series in &batch.series {
                if !selector.matches(&series.metric, &series.labels) {
                    continue;
                }
                let in_range = series
                    .points
                    .iter()
                    .filter(|p| p.ts >= from_ms && p.ts < to_ms);
                let mut in_range = in_range.peekable();
                if in_range.peek().is_none() {
                    continue;
                }
                let key = SeriesKey {
                    metric: series.metric.clone(),
                    labels: series.labels.clone(),
                };
                found.entry(key).or_default().extend(in_range);
            }
        }
        match batches.last() {
            Some(last) if batches.len() as i64 >= PAGE => {
                let seq = i64::try_from(last.seq).unwrap_or(i64::MAX);
                after = Some((last.agent.host_id.clone(), seq));
            }
            _ => break,
        }
    }
    Ok(found)
}

/// The host's compacted series matching `selector`: key by id, and the ids.
async fn compacted_series(
    store: &dyn Store,
    host_id: &str,
    selector: &Selector,
) -> Result<(HashMap<i64, SeriesKey>, Vec<i64>), DbError> {
    let series = store
        .series(Some(host_id), selector.metric.as_deref())
        .await?;
    let wanted: HashMap<i64, SeriesKey> = series
        .into_iter()
        .filter(|s| selector.matches(&s.metric, &s.labels))
        .map(|s| {
            let key = SeriesKey {
                metric: s.metric,
                labels: s.labels,
            };
            (s.id, key)
        })
        .collect();
    let ids = wanted.keys().copied().collect();
    Ok((wanted, ids))
}

/// Points in `[from_ms, to_ms)` of the host's compacted series matching `selector`.
async fn chunk_points(
    store: &dyn Store,
    host_id: &str,
    selector: &Selector,
    from_ms: i64,
    to_ms: i64,
) -> Result<BTreeMap<SeriesKey, Vec<Point>>, DbError> {
    let (wanted, ids) = compacted_series(store, host_id, selector).await?;
    let mut out: BTreeMap<SeriesKey, Vec<Point>> = BTreeMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    for row in store.load_rows(Tier::Raw, &ids, from_ms, to_ms).await? {
        let points = chunks::decode_range(&row.data, from_ms, to_ms).map_err(|e| {
            DbError::Corrupt(format!(
                "chunks row of series {} at {}: {e}",
                row.series_id, row.start_ms
            ))
        })?;
        if let (Some(key), false) = (wanted.get(&row.series_id), points.is_empty()) {
            out.entry(key.clone()).or_default().extend(points);
        }
    }
    Ok(out)
}

/// How far before `start` a raw rate looks for the previous point, at least.
const RATE_LOOKBACK_MS: i64 = 15 * 60_000;

/// A range query at a step, on one tier.
#[derive(Debug, Clone, Copy)]
pub struct StepQuery {
    pub tier: Tier,
    pub start: i64,
    pub end: i64,
    pub step: i64,
    /// Per-second rate of a counter instead of its values.
    pub rate: bool,
}

impl StepQuery {
    /// Where the step buckets start: the query's start on raw data; on a rollup tier,
    /// the start rounded down to the tier's bucket, so no stored bucket straddles two
    /// steps (VictoriaMetrics aligns its steps the same way).
    pub fn origin(&self) -> i64 {
        match self.tier {
            Tier::Raw => self.start,
            tier => rollup::align(self.start, tier.bucket_ms()),
        }
    }
}

/// The host's series matching `selector` as step buckets over `[origin, end)`, read from
/// the query's tier; series without a bucket in range are left out.
pub async fn step_series(
    store: &dyn Store,
    hot: &HotCache,
    host_id: &str,
    selector: &Selector,
    q: &StepQuery,
) -> Result<Vec<(SeriesKey, Vec<rollup::Bucket>)>, DbError> {
    let step = q.step.max(1);
    let origin = q.origin();
    let out: Vec<(SeriesKey, Vec<rollup::Bucket>)> = if q.tier == Tier::Raw {
        // A rate at the first point in range needs the point before it.
        let from = if q.rate {
            q.start.saturating_sub(RATE_LOOKBACK_MS.max(step))
        } else {
            q.start
        };
        raw_series(store, hot, host_id, selector, from, q.end)
            .await?
            .into_iter()
            .map(|(key, points)| {
                let points = if q.rate {
                    aggregate::rate(&points)
                } else {
                    points
                };
                (key, aggregate::stats(&points, origin, q.end, step))
            })
            .collect()
    } else {
        let width = q.tier.bucket_ms();
        let from = if q.rate {
            origin.saturating_sub(width)
        } else {
            origin
        };
        rollup_series(store, host_id, selector, q.tier, from, q.end)
            .await?
            .into_iter()
            .map(|(key, buckets)| {
                let stepped = if q.rate {
                    // A rollup keeps each bucket's last value: the counter's rate is
                    // taken between those, one bucket apart.
                    let lasts: Vec<Point> = buckets
                        .iter()
                        .map(|b| Point {
                            ts: b.start_ms,
                            value: b.last,
                        })
                        .collect();
                    aggregate::stats(&aggregate::rate(&lasts), origin, q.end, step)
                } else {
                    rollup::regroup(&buckets, step, origin)
                };
                (key, stepped)
            })
            .collect()
    };
    Ok(out.into_iter().filter(|(_, b)| !b.is_empty()).collect())
}
