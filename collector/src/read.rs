//! The read path for raw samples: hot memory when it covers the range, else the store.
//!
//! [`raw_series`] is deliberately the only function that knows where samples live.
//! The cold path merges the two places a stored point can be: the batch log (batches
//! not compacted yet) and the raw chunks (decoding only the rows of the series asked
//! whose span overlaps the range). Compaction moves a batch's points from one to the
//! other in one transaction; the log is read first, so a compaction running between
//! the two reads makes a point appear twice (and the merge keeps one), never vanish.

use crate::hot::{HotCache, RawSeries, Selector, SeriesKey};
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

/// Points in `[from_ms, to_ms)` of the host's compacted series matching `selector`.
async fn chunk_points(
    store: &dyn Store,
    host_id: &str,
    selector: &Selector,
    from_ms: i64,
    to_ms: i64,
) -> Result<BTreeMap<SeriesKey, Vec<Point>>, DbError> {
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
    let mut out: BTreeMap<SeriesKey, Vec<Point>> = BTreeMap::new();
    if wanted.is_empty() {
        return Ok(out);
    }
    let ids: Vec<i64> = wanted.keys().copied().collect();
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
