//! The background compactor: every `storage.compact_interval` it moves closed windows
//! of the batch log into chunks and rollups, then applies retention per tier and trims
//! old duplicate guards (tombstones) from the log.
//!
//! A window is closed once it lies wholly before `now - ingest.hot_window`, aligned down
//! to the raw chunk span: the hot cache is rebuilt from the batch log at start-up, so the
//! log must keep the hot window. Each compaction step is one transaction (see
//! `store/compactor.rs`), so stopping or killing the collector at any moment is safe.

use crate::config::StorageConfig;
use crate::rollup::{align, Tier};
use crate::store::{CompactionReport, DbError, Store};
use std::sync::Arc;
use tokio::sync::watch;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    pub compacted: CompactionReport,
    pub transactions: u64,
    /// Rows (SQLite) or partitions (PostgreSQL) removed by retention, all tiers.
    pub expired: u64,
    pub tombstones_trimmed: u64,
}

/// The end of the last closed window at `now_ms`.
pub fn cutoff(now_ms: i64, hot_window_ms: i64) -> i64 {
    align(
        now_ms.saturating_sub(hot_window_ms),
        Tier::Raw.row_span_ms(),
    )
}

/// The retention of a tier.
pub fn retention_ms(storage: &StorageConfig, tier: Tier) -> i64 {
    match tier {
        Tier::Raw => storage.raw_retention.as_millis_i64(),
        Tier::FiveMinutes => storage.rollup_5m_retention.as_millis_i64(),
        Tier::OneHour => storage.rollup_1h_retention.as_millis_i64(),
    }
}

/// One pass: compacts everything pending before `cutoff_ms`, then retention and the
/// tombstone trim as of `now_ms`. `stop` ends the compaction loop early (between
/// transactions).
pub async fn run_once(
    store: &dyn Store,
    storage: &StorageConfig,
    cutoff_ms: i64,
    now_ms: i64,
    stop: Option<&watch::Receiver<bool>>,
) -> Result<Pass, DbError> {
    let mut pass = Pass::default();
    loop {
        if stop.is_some_and(|s| *s.borrow()) {
            return Ok(pass);
        }
        let step = store.compact(cutoff_ms, storage.compact_batches).await?;
        if step.batches == 0 {
            break;
        }
        pass.transactions += 1;
        let c = &mut pass.compacted;
        c.batches += step.batches;
        c.samples += step.samples;
        c.chunks += step.chunks;
        c.merged += step.merged;
        c.chunk_bytes += step.chunk_bytes;
    }
    for tier in Tier::ALL {
        let before = now_ms.saturating_sub(retention_ms(storage, tier));
        pass.expired += store.apply_retention(tier, before).await?;
    }
    pass.tombstones_trimmed = store
        .trim_tombstones(now_ms.saturating_sub(storage.dedup_window.as_millis_i64()))
        .await?;
    Ok(pass)
}

/// Runs passes until `stop` turns true. Errors are logged and retried next interval:
/// the log keeps the data meanwhile, so nothing is lost by waiting.
pub async fn run(
    store: Arc<dyn Store>,
    storage: StorageConfig,
    hot_window_ms: i64,
    mut stop: watch::Receiver<bool>,
) {
    let every = storage.compact_interval.as_duration();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => break,
        }
        let now = crate::state::now_ms();
        let started = std::time::Instant::now();
        match run_once(
            store.as_ref(),
            &storage,
            cutoff(now, hot_window_ms),
            now,
            Some(&stop),
        )
        .await
        {
            Ok(pass) if pass.transactions > 0 || pass.expired > 0 => tracing::info!(
                batches = pass.compacted.batches,
                samples = pass.compacted.samples,
                chunks = pass.compacted.chunks,
                merged = pass.compacted.merged,
                chunk_bytes = pass.compacted.chunk_bytes,
                expired = pass.expired,
                tombstones = pass.tombstones_trimmed,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "compaction pass"
            ),
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "compaction pass failed; retrying next interval"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutoff_is_the_start_of_the_window_holding_now_minus_hot() {
        let span = Tier::Raw.row_span_ms();
        assert_eq!(cutoff(10 * span + 5, span), 9 * span);
        assert_eq!(cutoff(10 * span, 0), 10 * span);
    }
}
