//! The read path for raw samples: hot memory when it covers the range, else the store.
//!
//! [`raw_series`] is deliberately the only function that knows where samples live.
//! Today the cold path decodes whole batches from the batch log; when the compactor
//! writes per-series chunks and rollups, only this function changes.

use crate::hot::{HotCache, RawSeries, Selector, SeriesKey};
use crate::store::{BatchFilter, DbError, Store};
use harbinger_shared::Point;
use std::collections::BTreeMap;

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
    Ok(found
        .into_iter()
        .map(|(key, mut points)| {
            // Batches come in sequence order, which is not time order after a replay.
            points.sort_by_key(|p| p.ts);
            (key, points)
        })
        .collect())
}
