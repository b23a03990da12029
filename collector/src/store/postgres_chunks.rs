//! PostgreSQL side of compaction, chunk reads, retention and storage statistics.
//!
//! Several collectors may share the database; compaction is singleton work, so each
//! compaction transaction first takes a transaction-scoped advisory lock and gives up
//! (reporting nothing done) when another collector holds it.
//!
//! The chunk and rollup tables are range-partitioned on `start_ts`. Partitions are
//! created before the compaction transaction (in their own short statements, since
//! attaching a partition locks the parent table) and retention drops whole partitions
//! once every row in them is older than the cutoff. Data is therefore kept at least as
//! long as the retention, and at most one partition span longer.

use super::PgStore;
use crate::rollup::{align, Tier};
use crate::store::compactor::{self, ChunkTx, Plan};
use crate::store::rows::BatchRecord;
use crate::store::sqlite::chunk_store::{chunk_row, series_row};
use crate::store::{ChunkRow, CompactionReport, DbError, SeriesRow, StorageStats, TierStats};
use async_trait::async_trait;
use sqlx::{Postgres, Transaction};
use std::collections::{BTreeMap, BTreeSet};

/// Advisory lock key of the compactor ("HBCOMP" in ASCII).
const COMPACTION_LOCK: i64 = 0x4842_434f_4d50;

/// Time span of one partition of a tier: the raw tier (30 days by default) in days,
/// the 5-minute tier (a year) in 30-day months, the hourly tier (years) in 364-day years.
fn partition_span_ms(tier: Tier) -> i64 {
    const DAY: i64 = 86_400_000;
    match tier {
        Tier::Raw => DAY,
        Tier::FiveMinutes => 30 * DAY,
        Tier::OneHour => 364 * DAY,
    }
}

/// `chunks_p1704067200000`; negative starts (never written by real agents) get `n`.
fn partition_name(tier: Tier, start: i64) -> String {
    if start < 0 {
        format!("{}_n{}", tier.table(), start.unsigned_abs())
    } else {
        format!("{}_p{start}", tier.table())
    }
}

fn partition_start(tier: Tier, name: &str) -> Option<i64> {
    let rest = name.strip_prefix(tier.table())?.strip_prefix('_')?;
    if let Some(n) = rest.strip_prefix('n') {
        n.parse::<i64>().ok().map(|v| -v)
    } else {
        rest.strip_prefix('p')?.parse().ok()
    }
}

struct PgChunkTx {
    tx: Transaction<'static, Postgres>,
}

#[async_trait]
impl ChunkTx for PgChunkTx {
    async fn series_id(
        &mut self,
        host_id: &str,
        metric: &str,
        labels: &str,
    ) -> Result<i64, DbError> {
        let found: Option<(i64,)> = sqlx::query_as(
            "SELECT id FROM series WHERE host_id = $1 AND metric = $2 AND labels = $3",
        )
        .bind(host_id)
        .bind(metric)
        .bind(labels)
        .fetch_optional(&mut *self.tx)
        .await?;
        if let Some((id,)) = found {
            return Ok(id);
        }
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO series (host_id, metric, labels) VALUES ($1, $2, $3) RETURNING id",
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
            "SELECT data FROM {} WHERE series_id = $1 AND start_ts = $2",
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
            "INSERT INTO {} (series_id, start_ts, count, data) VALUES ($1, $2, $3, $4) \
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
            "UPDATE batches SET compacted = TRUE, body = ''::bytea \
             WHERE host_id = $1 AND seq = $2 AND NOT compacted",
        )
        .bind(host_id)
        .bind(seq)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        Ok(done == 1)
    }
}

impl PgStore {
    /// Creates the partitions the plan's rows fall into, if missing.
    async fn ensure_partitions(&self, plan: &Plan) -> Result<(), DbError> {
        let mut needed = BTreeSet::new();
        for windows in plan.series.values() {
            for &window in windows.keys() {
                for tier in Tier::ALL {
                    let row_start = align(window, tier.row_span_ms());
                    needed.insert((tier, align(row_start, partition_span_ms(tier))));
                }
            }
        }
        for (tier, start) in needed {
            let name = partition_name(tier, start);
            let (exists,): (bool,) = sqlx::query_as("SELECT to_regclass($1) IS NOT NULL")
                .bind(&name)
                .fetch_one(&self.pool)
                .await?;
            if exists {
                continue;
            }
            let sql = format!(
                "CREATE TABLE IF NOT EXISTS {name} PARTITION OF {} FOR VALUES FROM ({start}) TO ({})",
                tier.table(),
                start.saturating_add(partition_span_ms(tier))
            );
            if let Err(error) = sqlx::query(&sql).execute(&self.pool).await {
                // Another collector may have created it between the check and here.
                let (exists,): (bool,) = sqlx::query_as("SELECT to_regclass($1) IS NOT NULL")
                    .bind(&name)
                    .fetch_one(&self.pool)
                    .await?;
                if !exists {
                    return Err(error.into());
                }
            }
            tracing::info!(partition = %name, "created partition");
        }
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip(self))]
    pub(super) async fn compact_chunks(
        &self,
        cutoff_ms: i64,
        max_batches: i64,
    ) -> Result<CompactionReport, DbError> {
        let records: Vec<BatchRecord> = sqlx::query_as(
            "SELECT host_id, seq, body FROM batches WHERE NOT compacted AND max_ts < $1 \
             ORDER BY host_id, seq LIMIT $2",
        )
        .bind(cutoff_ms)
        .bind(max_batches.max(1))
        .fetch_all(&self.pool)
        .await?;
        if records.is_empty() {
            return Ok(CompactionReport::default());
        }
        let batches = records
            .into_iter()
            .map(BatchRecord::decode)
            .collect::<Result<Vec<_>, _>>()?;
        let plan = Plan::new(&batches)?;
        self.ensure_partitions(&plan).await?;
        let mut tx = PgChunkTx {
            tx: self.pool.begin().await?,
        };
        let (locked,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_xact_lock($1)")
            .bind(COMPACTION_LOCK)
            .fetch_one(&mut *tx.tx)
            .await?;
        if !locked {
            tracing::debug!("another collector is compacting");
            return Ok(CompactionReport::default());
        }
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
             WHERE ($1::text IS NULL OR host_id = $1) AND ($2::text IS NULL OR metric = $2) \
             ORDER BY id",
        )
        .bind(host_id)
        .bind(metric)
        .fetch_all(&self.pool)
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
        let sql = format!(
            "SELECT series_id, start_ts, count, data FROM {} \
             WHERE series_id = ANY($1) AND start_ts > $2 AND start_ts < $3 \
             ORDER BY series_id, start_ts",
            tier.table()
        );
        let rows: Vec<(i64, i64, i64, Vec<u8>)> = sqlx::query_as(&sql)
            .bind(series_ids)
            .bind(from_ms.saturating_sub(tier.row_span_ms()))
            .bind(to_ms)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(chunk_row).collect())
    }

    pub(super) async fn retention(&self, tier: Tier, before_ms: i64) -> Result<u64, DbError> {
        let names: Vec<(String,)> = sqlx::query_as(
            "SELECT c.relname::text FROM pg_inherits i \
             JOIN pg_class c ON c.oid = i.inhrelid \
             JOIN pg_class p ON p.oid = i.inhparent \
             WHERE p.relname = $1 AND p.relnamespace = current_schema()::regnamespace",
        )
        .bind(tier.table())
        .fetch_all(&self.pool)
        .await?;
        let mut dropped = 0;
        for (name,) in names {
            let Some(start) = partition_start(tier, &name) else {
                tracing::warn!(partition = %name, "partition not named by the compactor; left alone");
                continue;
            };
            // Rows start inside the partition and reach one row span beyond it.
            let newest_end = start
                .saturating_add(partition_span_ms(tier))
                .saturating_add(tier.row_span_ms());
            if newest_end <= before_ms {
                sqlx::query(&format!("DROP TABLE IF EXISTS {name}"))
                    .execute(&self.pool)
                    .await?;
                tracing::info!(partition = %name, tier = tier.name(), "retention dropped partition");
                dropped += 1;
            }
        }
        Ok(dropped)
    }

    pub(super) async fn tombstone_trim(&self, received_before_ms: i64) -> Result<u64, DbError> {
        Ok(
            sqlx::query("DELETE FROM batches WHERE compacted AND received_ms < $1")
                .bind(received_before_ms)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    pub(super) async fn stats(&self) -> Result<StorageStats, DbError> {
        let (pending_batches, pending_samples, tombstones): (i64, i64, i64) = sqlx::query_as(
            "SELECT COUNT(*) FILTER (WHERE NOT compacted), \
                    COALESCE(SUM(sample_count) FILTER (WHERE NOT compacted), 0)::bigint, \
                    COUNT(*) FILTER (WHERE compacted) FROM batches",
        )
        .fetch_one(&self.pool)
        .await?;
        let (series,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM series")
            .fetch_one(&self.pool)
            .await?;
        let mut tiers = BTreeMap::new();
        for tier in Tier::ALL {
            let sql = format!(
                "SELECT COUNT(*), COALESCE(SUM(count), 0)::bigint, \
                        COALESCE(SUM(length(data)), 0)::bigint FROM {}",
                tier.table()
            );
            let (rows, samples, bytes): (i64, i64, i64) =
                sqlx::query_as(&sql).fetch_one(&self.pool).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names_round_trip() {
        for tier in Tier::ALL {
            for start in [0, 1_704_067_200_000, -86_400_000] {
                assert_eq!(
                    partition_start(tier, &partition_name(tier, start)),
                    Some(start)
                );
            }
        }
        assert_eq!(partition_start(Tier::Raw, "chunks_default"), None);
        assert_eq!(partition_start(Tier::Raw, "rollups_5m_p0"), None);
    }
}
