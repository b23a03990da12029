//! SQLite side of compaction, chunk reads, retention and storage statistics: the SQL
//! behind the chunk methods of [`Store`](super::Store), implemented on [`SqliteStore`].
//!
//! Compaction decodes and groups the pending batches on a reader connection first, so
//! the single writer connection (and with it ingest) is held only for the row writes.

use super::SqliteStore;
use crate::rollup::Tier;
use crate::store::compactor::{self, ChunkTx, Plan};
use crate::store::rows::BatchRecord;
use crate::store::{ChunkRow, CompactionReport, DbError, SeriesRow, StorageStats, TierStats};
use async_trait::async_trait;
use sqlx::{Sqlite, Transaction};
use std::collections::BTreeMap;

/// Series ids per `IN (…)` list: well under SQLite's bound-parameter limit.
const IDS_PER_QUERY: usize = 500;

struct SqliteChunkTx {
    tx: Transaction<'static, Sqlite>,
}

#[async_trait]
impl ChunkTx for SqliteChunkTx {
    async fn series_id(
        &mut self,
        host_id: &str,
        metric: &str,
        labels: &str,
    ) -> Result<i64, DbError> {
        let found: Option<(i64,)> =
            sqlx::query_as("SELECT id FROM series WHERE host_id = ? AND metric = ? AND labels = ?")
                .bind(host_id)
                .bind(metric)
                .bind(labels)
                .fetch_optional(&mut *self.tx)
                .await?;
        if let Some((id,)) = found {
            return Ok(id);
        }
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO series (host_id, metric, labels) VALUES (?, ?, ?) RETURNING id",
        )
        .bind(host_id)
        .bind(metric)
        .bind(labels)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(id)
    }

    async fn row(
        &mut self,
        tier: Tier,
        series_id: i64,
        start_ms: i64,
    ) -> Result<Option<Vec<u8>>, DbError> {
        let sql = format!(
            "SELECT data FROM {} WHERE series_id = ? AND start_ts = ?",
            tier.table()
        );
        let row: Option<(Vec<u8>,)> = sqlx::query_as(&sql)
            .bind(series_id)
            .bind(start_ms)
            .fetch_optional(&mut *self.tx)
            .await?;
        Ok(row.map(|(data,)| data))
    }

    async fn put_row(
        &mut self,
        tier: Tier,
        series_id: i64,
        start_ms: i64,
        count: i64,
        data: &[u8],
    ) -> Result<(), DbError> {
        let sql = format!(
            "INSERT INTO {} (series_id, start_ts, count, data) VALUES (?, ?, ?, ?) \
             ON CONFLICT (series_id, start_ts) DO UPDATE SET count = excluded.count, data = excluded.data",
            tier.table()
        );
        sqlx::query(&sql)
            .bind(series_id)
            .bind(start_ms)
            .bind(count)
            .bind(data)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    async fn mark_compacted(&mut self, host_id: &str, seq: i64) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE batches SET compacted = 1, body = x'' \
             WHERE host_id = ? AND seq = ? AND compacted = 0",
        )
        .bind(host_id)
        .bind(seq)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        Ok(done == 1)
    }
}

impl SqliteStore {
    #[tracing::instrument(level = "debug", skip(self))]
    pub(super) async fn compact_chunks(
        &self,
        cutoff_ms: i64,
        max_batches: i64,
    ) -> Result<CompactionReport, DbError> {
        let records: Vec<BatchRecord> = sqlx::query_as(
            "SELECT host_id, seq, body FROM batches WHERE compacted = 0 AND max_ts < ? \
             ORDER BY host_id, seq LIMIT ?",
        )
        .bind(cutoff_ms)
        .bind(max_batches.max(1))
        .fetch_all(&self.reader)
        .await?;
        if records.is_empty() {
            return Ok(CompactionReport::default());
        }
        let batches = records
            .into_iter()
            .map(BatchRecord::decode)
            .collect::<Result<Vec<_>, _>>()?;
        let plan = Plan::new(&batches)?;
        let mut tx = SqliteChunkTx {
            tx: self.begin_write().await?,
        };
        let report = compactor::apply(&mut tx, &plan).await?;
        tx.tx.commit().await?;
        Ok(report)
    }

    pub(super) async fn series_rows(
        &self,
        host_id: Option<&str>,
        metric: Option<&str>,
    ) -> Result<Vec<SeriesRow>, DbError> {
        let rows: Vec<(i64, String, String, String)> = sqlx::query_as(
            "SELECT id, host_id, metric, labels FROM series \
             WHERE (?1 IS NULL OR host_id = ?1) AND (?2 IS NULL OR metric = ?2) ORDER BY id",
        )
        .bind(host_id)
        .bind(metric)
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter().map(series_row).collect()
    }

    pub(super) async fn chunk_rows(
        &self,
        tier: Tier,
        series_ids: &[i64],
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<ChunkRow>, DbError> {
        let mut out = Vec::new();
        // A row starting after from - span still reaches into the range.
        let lower = from_ms.saturating_sub(tier.row_span_ms());
        for ids in series_ids.chunks(IDS_PER_QUERY) {
            let marks = vec!["?"; ids.len()].join(", ");
            let sql = format!(
                "SELECT series_id, start_ts, count, data FROM {} \
                 WHERE series_id IN ({marks}) AND start_ts > ? AND start_ts < ? \
                 ORDER BY series_id, start_ts",
                tier.table()
            );
            let mut query = sqlx::query_as::<_, (i64, i64, i64, Vec<u8>)>(&sql);
            for id in ids {
                query = query.bind(id);
            }
            let rows = query
                .bind(lower)
                .bind(to_ms)
                .fetch_all(&self.reader)
                .await?;
            out.extend(rows.into_iter().map(chunk_row));
        }
        out.sort_by_key(|r| (r.series_id, r.start_ms));
        Ok(out)
    }

    pub(super) async fn retention(&self, tier: Tier, before_ms: i64) -> Result<u64, DbError> {
        let sql = format!("DELETE FROM {} WHERE start_ts <= ?", tier.table());
        let removed = sqlx::query(&sql)
            .bind(before_ms.saturating_sub(tier.row_span_ms()))
            .execute(&self.writer)
            .await?
            .rows_affected();
        Ok(removed)
    }

    pub(super) async fn tombstone_trim(&self, received_before_ms: i64) -> Result<u64, DbError> {
        Ok(
            sqlx::query("DELETE FROM batches WHERE compacted = 1 AND received_ms < ?")
                .bind(received_before_ms)
                .execute(&self.writer)
                .await?
                .rows_affected(),
        )
    }

    pub(super) async fn stats(&self) -> Result<StorageStats, DbError> {
        let (pending_batches, pending_samples, tombstones): (i64, i64, i64) = sqlx::query_as(
            "SELECT COALESCE(SUM(compacted = 0), 0), \
                    COALESCE(SUM(CASE WHEN compacted = 0 THEN sample_count ELSE 0 END), 0), \
                    COALESCE(SUM(compacted = 1), 0) FROM batches",
        )
        .fetch_one(&self.reader)
        .await?;
        let (series,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM series")
            .fetch_one(&self.reader)
            .await?;
        let mut tiers = BTreeMap::new();
        for tier in Tier::ALL {
            let sql = format!(
                "SELECT COUNT(*), COALESCE(SUM(count), 0), COALESCE(SUM(length(data)), 0) FROM {}",
                tier.table()
            );
            let (rows, samples, bytes): (i64, i64, i64) =
                sqlx::query_as(&sql).fetch_one(&self.reader).await?;
            tiers.insert(
                tier.name().to_owned(),
                TierStats {
                    rows,
                    samples,
                    bytes,
                },
            );
        }
        Ok(StorageStats {
            pending_batches,
            pending_samples,
            tombstones,
            series,
            tiers,
        })
    }
}

pub(crate) fn series_row(
    (id, host_id, metric, labels): (i64, String, String, String),
) -> Result<SeriesRow, DbError> {
    let labels = serde_json::from_str(&labels)
        .map_err(|e| DbError::Corrupt(format!("series.labels of series {id}: {e}")))?;
    Ok(SeriesRow {
        id,
        host_id,
        metric,
        labels,
    })
}

pub(crate) fn chunk_row((series_id, start_ms, count, data): (i64, i64, i64, Vec<u8>)) -> ChunkRow {
    ChunkRow {
        series_id,
        start_ms,
        count,
        data,
    }
}
