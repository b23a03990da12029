//! Compaction of the batch log into per-series chunks and rollups, the same on both
//! backends: this module holds the logic, the backends provide the few row operations
//! of [`ChunkTx`] inside one write transaction.
//!
//! Crash safety rests on one rule: the chunk rows, the rollup rows and the marking of
//! the batches they came from as compacted are written in ONE transaction. A kill at any
//! point leaves either the batches (uncompacted, still read from the log) or the chunks
//! (with the batches marked, no longer read from the log), never neither and never both.
//!
//! A window that already has a chunk (data that arrived late, e.g. an agent's spool
//! replayed after an outage) is merged: the stored points are decoded, the new ones
//! added (a new point replaces a stored one with the same timestamp), and the row and
//! the rollup buckets of that window are rewritten from the merged points. Rollup
//! buckets never straddle a chunk window, so they are always computed from complete data.

use super::chunks::{self};
use super::{CompactionReport, DbError};
use crate::rollup::{self, align, Tier};
use async_trait::async_trait;
use harbinger_shared::{Batch, Point};
use std::collections::BTreeMap;

/// The row operations compaction needs, inside one open write transaction.
#[async_trait]
pub(crate) trait ChunkTx: Send {
    /// The id of the series, inserting it when new.
    async fn series_id(
        &mut self,
        host_id: &str,
        metric: &str,
        labels: &str,
    ) -> Result<i64, DbError>;
    /// The stored row of a tier, if any.
    async fn row(
        &mut self,
        tier: Tier,
        series_id: i64,
        start_ms: i64,
    ) -> Result<Option<Vec<u8>>, DbError>;
    /// Inserts or replaces a row.
    async fn put_row(
        &mut self,
        tier: Tier,
        series_id: i64,
        start_ms: i64,
        count: i64,
        data: &[u8],
    ) -> Result<(), DbError>;
    /// Marks a batch compacted and drops its body; false when it was not pending.
    async fn mark_compacted(&mut self, host_id: &str, seq: i64) -> Result<bool, DbError>;
}

/// Series identity as stored: host, metric and the canonical JSON of the labels.
pub(crate) type SeriesIdent = (String, String, String);

/// What one compaction transaction will write, computed before it starts.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// Per series, per raw window start: the new points in batch order.
    pub series: BTreeMap<SeriesIdent, BTreeMap<i64, Vec<Point>>>,
    /// The batches consumed, as `(host_id, seq)`.
    pub batches: Vec<(String, i64)>,
    pub samples: u64,
}

impl Plan {
    /// Groups the points of batches (given in `(host_id, seq)` order, so that a later
    /// batch's point wins a timestamp tie) by series and raw window.
    pub fn new(batches: &[Batch]) -> Result<Self, DbError> {
        let span = Tier::Raw.row_span_ms();
        let mut plan = Plan::default();
        for batch in batches {
            let host = &batch.agent.host_id;
            let seq = i64::try_from(batch.seq).map_err(|_| {
                DbError::Corrupt(format!(
                    "batch {} of host {host:?}: seq beyond i64",
                    batch.seq
                ))
            })?;
            plan.batches.push((host.clone(), seq));
            for series in &batch.series {
                let labels = serde_json::to_string(&series.labels).map_err(|e| {
                    DbError::Corrupt(format!(
                        "batch {seq} of host {host:?}: labels of {} do not encode: {e}",
                        series.metric
                    ))
                })?;
                let windows = plan
                    .series
                    .entry((host.clone(), series.metric.clone(), labels))
                    .or_default();
                for p in &series.points {
                    windows.entry(align(p.ts, span)).or_default().push(*p);
                }
                plan.samples += series.points.len() as u64;
            }
        }
        Ok(plan)
    }
}

/// Writes the plan through `tx`. The caller commits (or, on error, rolls back).
pub(crate) async fn apply(tx: &mut dyn ChunkTx, plan: &Plan) -> Result<CompactionReport, DbError> {
    let span = Tier::Raw.row_span_ms();
    let mut report = CompactionReport {
        batches: plan.batches.len() as u64,
        samples: plan.samples,
        ..CompactionReport::default()
    };
    for ((host, metric, labels), windows) in &plan.series {
        let id = tx.series_id(host, metric, labels).await?;
        for (&window, fresh) in windows {
            let mut points = match tx.row(Tier::Raw, id, window).await? {
                Some(bytes) => {
                    report.merged += 1;
                    chunks::decode(&bytes).map_err(|e| corrupt(Tier::Raw, id, window, &e))?
                }
                None => Vec::new(),
            };
            points.extend_from_slice(fresh);
            chunks::normalize(&mut points);
            let data = chunks::encode(&points);
            tx.put_row(Tier::Raw, id, window, points.len() as i64, &data)
                .await?;
            report.chunks += 1;
            report.chunk_bytes += data.len() as u64;
            for tier in [Tier::FiveMinutes, Tier::OneHour] {
                let fresh = rollup::buckets(&points, tier.bucket_ms());
                let row_start = align(window, tier.row_span_ms());
                let existing = match tx.row(tier, id, row_start).await? {
                    Some(bytes) => {
                        rollup::decode(&bytes).map_err(|e| corrupt(tier, id, row_start, &e))?
                    }
                    None => Vec::new(),
                };
                let merged = rollup::replace_range(existing, &fresh, window, window + span);
                let count: u64 = merged.iter().map(|b| b.count).sum();
                tx.put_row(tier, id, row_start, count as i64, &rollup::encode(&merged))
                    .await?;
            }
        }
    }
    for (host, seq) in &plan.batches {
        if !tx.mark_compacted(host, *seq).await? {
            return Err(DbError::Conflict(format!(
                "batch {seq} of host {host:?} was compacted by someone else meanwhile"
            )));
        }
    }
    Ok(report)
}

fn corrupt(tier: Tier, id: i64, start: i64, e: &chunks::ChunkError) -> DbError {
    DbError::Corrupt(format!(
        "{} row of series {id} at {start}: {e}",
        tier.table()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use harbinger_shared::{AgentIdentity, Series, PROTOCOL_VERSION};

    fn batch(seq: u64, points: &[(i64, f64)]) -> Batch {
        Batch {
            protocol_version: PROTOCOL_VERSION,
            agent: AgentIdentity {
                host_id: "h".into(),
                hostname: "h".into(),
                labels: BTreeMap::new(),
                agent_version: String::new(),
            },
            seq,
            interval_ms: 10_000,
            series: vec![Series {
                metric: "m".into(),
                labels: BTreeMap::from([("dev".into(), "a".into())]),
                points: points
                    .iter()
                    .map(|&(ts, value)| Point { ts, value })
                    .collect(),
            }],
            events: vec![],
            inventory: None,
        }
    }

    /// An in-memory ChunkTx, to test the merge logic without a database.
    #[derive(Default)]
    struct Memory {
        rows: BTreeMap<(Tier, i64, i64), Vec<u8>>,
        pending: Vec<(String, i64)>,
    }

    #[async_trait]
    impl ChunkTx for Memory {
        async fn series_id(&mut self, _: &str, _: &str, _: &str) -> Result<i64, DbError> {
            Ok(1)
        }
        async fn row(&mut self, t: Tier, id: i64, s: i64) -> Result<Option<Vec<u8>>, DbError> {
            Ok(self.rows.get(&(t, id, s)).cloned())
        }
        async fn put_row(
            &mut self,
            t: Tier,
            id: i64,
            s: i64,
            _: i64,
            d: &[u8],
        ) -> Result<(), DbError> {
            self.rows.insert((t, id, s), d.to_vec());
            Ok(())
        }
        async fn mark_compacted(&mut self, host: &str, seq: i64) -> Result<bool, DbError> {
            let before = self.pending.len();
            self.pending.retain(|(h, s)| !(h == host && *s == seq));
            Ok(self.pending.len() < before)
        }
    }

    #[tokio::test]
    async fn late_data_merges_into_the_window_and_its_rollups() {
        let w = 7_200_000 * 1000;
        let mut tx = Memory {
            pending: vec![("h".into(), 1), ("h".into(), 2)],
            ..Memory::default()
        };
        let first = Plan::new(&[batch(1, &[(w, 1.0), (w + 20_000, 3.0)])]).expect("plan");
        apply(&mut tx, &first).await.expect("first");
        // A late batch fills the gap and re-sends one timestamp with a new value.
        let late = Plan::new(&[batch(2, &[(w + 10_000, 2.0), (w + 20_000, 4.0)])]).expect("plan");
        let report = apply(&mut tx, &late).await.expect("late");
        assert_eq!(report.merged, 1);
        let raw = chunks::decode(&tx.rows[&(Tier::Raw, 1, w)]).expect("raw");
        let values: Vec<f64> = raw.iter().map(|p| p.value).collect();
        assert_eq!(values, vec![1.0, 2.0, 4.0]);
        let hour = rollup::decode(&tx.rows[&(Tier::OneHour, 1, align(w, 7 * 86_400_000))])
            .expect("rollup");
        assert_eq!(hour.len(), 1);
        assert_eq!(
            (hour[0].count, hour[0].min, hour[0].max, hour[0].sum),
            (3, 1.0, 4.0, 7.0)
        );
    }

    #[tokio::test]
    async fn a_batch_no_longer_pending_aborts_the_transaction() {
        let mut tx = Memory::default();
        let plan = Plan::new(&[batch(1, &[(0, 1.0)])]).expect("plan");
        let err = apply(&mut tx, &plan).await.expect_err("must refuse");
        assert!(matches!(err, DbError::Conflict(_)), "{err}");
    }

    #[test]
    fn plan_splits_points_by_window() {
        let span = Tier::Raw.row_span_ms();
        let plan = Plan::new(&[batch(1, &[(span - 10_000, 1.0), (span, 2.0)])]).expect("plan");
        let windows = plan.series.values().next().expect("one series");
        assert_eq!(windows.keys().copied().collect::<Vec<_>>(), vec![0, span]);
        assert_eq!(plan.samples, 2);
    }
}
