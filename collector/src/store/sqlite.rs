//! The default store: one SQLite file in the data directory.
//!
//! SQLite allows one writer at a time, so every write goes through a pool of exactly one
//! connection (writes queue in the pool instead of spinning on `SQLITE_BUSY`), and reads
//! use a separate small pool. In WAL mode readers see the last committed state and never
//! wait for the writer. `synchronous=FULL` makes each commit fsync the WAL: a 2xx to an
//! agent means the batch survives power loss, not just a process crash.

use super::prepare::{encode_error, PreparedBatch, PreparedItem};
use super::rows::{
    clamp_limit, convert, fill_placeholders, fill_placeholders_json, BatchRecord, EventRecord,
    HostRecord, IncidentRecord, InventoryRecord, InventoryState, OutboxRecord,
};
use super::{
    audit_row, outcome_row, silence_row, ticket_row, AuditEntry, AuditTuple, OutcomeRow,
    OutcomeTuple, SilenceRow, SilenceTuple, TicketRow, TicketTuple, AUDIT_COLUMNS, OUTCOME_COLUMNS,
    SILENCE_COLUMNS, TICKET_COLUMNS,
};
use super::{fleet_item, inventory_state_row, FleetItem, InventoryStateRow, InventoryStateTuple};
use super::{
    AppendOutcome, BatchFilter, DbError, EventRow, HostRow, IncidentChange, IncidentRow, NewOutbox,
    OutboxRow, Store,
};
use async_trait::async_trait;
use harbinger_shared::{Batch, InventoryItem};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a connection waits on a lock held by another process (a backup, the
/// `sqlite3` shell) before giving up. Within this process writes never contend.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Readers: the dashboard and API. Small, because SQLite reads are CPU-bound and the
/// machine may have two cores.
const READ_CONNECTIONS: u32 = 4;
/// Page size of new databases. Chunks are 0.1–3.4 KB: packed into SQLite's default
/// 4 KiB pages they left 16 % of the chunk table's leaf pages empty, 4 % at 16 KiB;
/// larger pages cost more in the many small tables (BENCHMARKS.md "Storage").
/// Existing databases keep theirs.
pub const PAGE_SIZE: u32 = 16_384;

const HOST_COLUMNS: &str = "host_id, hostname, labels, agent_version, interval_ms, \
     first_seen_ms, last_seen_ms, last_seq";
const EVENT_COLUMNS: &str = "id, host_id, ts, kind, severity, component, message, attrs";
const INCIDENT_COLUMNS: &str = "id, dedup_key, host_id, kind, component, severity, status, \
     title, details, opened_at_ms, updated_at_ms, resolved_at_ms, revision";
const OUTBOX_COLUMNS: &str = "id, incident_id, notifier, action, idempotency_key, payload, \
     attempts, next_attempt_ms, created_ms, delivered_ms, failed, last_error";

/// Compaction, chunk reads and retention (the chunk methods of [`Store`]).
#[path = "sqlite_chunks.rs"]
pub(crate) mod chunk_store;

/// The SQLite implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    path: PathBuf,
    writer: SqlitePool,
    reader: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating it and its parent directories if needed) the database named by
    /// `sqlite://path`, `sqlite:path` or a bare path, and applies pending migrations.
    pub async fn open(url_or_path: &str) -> Result<Self, DbError> {
        Self::open_with_page_size(url_or_path, PAGE_SIZE).await
    }

    /// [`open`](Self::open) with another page size for a NEW database (the storage
    /// benchmark compares sizes with it). An existing database keeps the page size it
    /// was created with: SQLite cannot change it in WAL mode, and silently ignores the
    /// request.
    pub async fn open_with_page_size(url_or_path: &str, page_size: u32) -> Result<Self, DbError> {
        let path = parse_location(url_or_path)?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent).await.map_err(|e| {
                config_error(format!(
                    "cannot create directory {} for the SQLite database: {e}",
                    parent.display()
                ))
            })?;
        }
        let base = SqliteConnectOptions::new()
            .filename(&path)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        // The writer is never closed for idleness: keeping one connection open keeps
        // the WAL and its index in place, so readers never reopen a WAL-less file.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(
                // sqlx issues `page_size` before `journal_mode`, as SQLite requires for
                // it to apply to a new file.
                base.clone()
                    .create_if_missing(true)
                    .page_size(page_size)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full),
            )
            .await
            .map_err(|e| open_error(&path, e))?;
        sqlx::migrate!("../migrations/sqlite")
            .run(&writer)
            .await
            .inspect_err(
                |e| tracing::error!(path = %path.display(), error = %e, "SQLite migration failed"),
            )?;
        // Readers open read-write but with `query_only`: a read-only handle could not
        // create the WAL index (-shm) if it ever went missing.
        let reader = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .connect_with(base.pragma("query_only", "ON"))
            .await
            .map_err(|e| open_error(&path, e))?;
        tracing::info!(path = %path.display(), "SQLite store open");
        Ok(Self {
            path,
            writer,
            reader,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes both pools, waiting for connections in use to be returned. Afterwards the
    /// file is consistent on disk and can be copied or reopened.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    /// Starts a write transaction. `BEGIN IMMEDIATE` takes the write lock up front, so a
    /// transaction that reads first can never fail to upgrade its lock half-way.
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, DbError> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }
}

/// Accepts `sqlite://path`, `sqlite:path` and a bare path.
fn parse_location(url_or_path: &str) -> Result<PathBuf, DbError> {
    let raw = url_or_path
        .strip_prefix("sqlite://")
        .or_else(|| url_or_path.strip_prefix("sqlite:"))
        .unwrap_or(url_or_path);
    if raw.is_empty() {
        return Err(config_error(format!(
            "database URL {url_or_path:?} names no SQLite file"
        )));
    }
    // Two pools must see the same data, and the store promises durability: both rule
    // out an in-memory database.
    if raw == ":memory:" || raw.starts_with("file::memory:") {
        return Err(config_error(format!(
            "database URL {url_or_path:?}: an in-memory SQLite database is not supported; name a file"
        )));
    }
    Ok(PathBuf::from(raw))
}

fn config_error(message: String) -> DbError {
    DbError::Other(sqlx::Error::Configuration(message.into()))
}

fn open_error(path: &Path, error: sqlx::Error) -> DbError {
    tracing::error!(path = %path.display(), error = %error, "cannot open SQLite database");
    DbError::Other(error)
}

/// Maps a unique violation to `Conflict` with the caller's explanation.
fn on_unique(error: sqlx::Error, conflict: impl FnOnce() -> String) -> DbError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => DbError::Conflict(conflict()),
        _ => DbError::Other(error),
    }
}

/// Stores one inventory item if it is new or changed, keeping its history. An item from
/// an older batch than the stored one (a replay after fail-over) is ignored.
async fn upsert_item(
    tx: &mut Transaction<'static, Sqlite>,
    batch: &PreparedBatch<'_>,
    item: &PreparedItem,
) -> Result<(), DbError> {
    let stored: Option<InventoryState> =
        sqlx::query_as("SELECT attrs, seq FROM inventory WHERE host_id = ? AND component = ?")
            .bind(batch.host_id)
            .bind(&item.component)
            .fetch_optional(&mut **tx)
            .await?;
    match stored {
        Some(state) if state.seq > batch.seq => return Ok(()),
        Some(state) if state.attrs().as_ref() == Some(&item.attrs_map) => {
            sqlx::query("UPDATE inventory SET seq = ? WHERE host_id = ? AND component = ?")
                .bind(batch.seq)
                .bind(batch.host_id)
                .bind(&item.component)
                .execute(&mut **tx)
                .await?;
            return Ok(());
        }
        Some(_) | None => {}
    }
    sqlx::query(
        "INSERT INTO inventory (host_id, component, attrs, updated_ms, seq) VALUES (?, ?, ?, ?, ?) \
         ON CONFLICT (host_id, component) DO UPDATE SET \
         attrs = excluded.attrs, updated_ms = excluded.updated_ms, seq = excluded.seq",
    )
    .bind(batch.host_id)
    .bind(&item.component)
    .bind(&item.attrs)
    .bind(batch.received_ms)
    .bind(batch.seq)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO inventory_history (host_id, component, attrs, at_ms, seq) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(batch.host_id)
    .bind(&item.component)
    .bind(&item.attrs)
    .bind(batch.received_ms)
    .bind(batch.seq)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Explains why an Update/Resolve matched no open incident.
async fn not_open(tx: &mut Transaction<'static, Sqlite>, id: i64) -> DbError {
    let exists = sqlx::query_scalar::<_, i64>("SELECT id FROM incidents WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await;
    match exists {
        Ok(Some(_)) => DbError::Conflict(format!("incident {id} is already resolved")),
        Ok(None) => DbError::NotFound,
        Err(e) => DbError::Other(e),
    }
}

// The analysis engine's snapshot, outcomes feed and maintenance windows (issue 5).
#[path = "sqlite_engine.rs"]
pub(crate) mod engine;

#[async_trait]
impl Store for SqliteStore {
    async fn save_engine_snapshot(
        &self,
        snapshot: &super::EngineSnapshotRow,
    ) -> Result<(), DbError> {
        self.engine_save_snapshot(snapshot).await
    }

    async fn load_engine_snapshot(&self) -> Result<Option<super::EngineSnapshotRow>, DbError> {
        self.engine_load_snapshot().await
    }

    async fn outcomes_after(&self, after_id: i64, limit: i64) -> Result<Vec<OutcomeRow>, DbError> {
        self.engine_outcomes_after(after_id, limit).await
    }

    async fn add_maintenance(&self, window: &super::MaintenanceRow) -> Result<i64, DbError> {
        self.engine_add_maintenance(window).await
    }

    async fn maintenance_windows(
        &self,
        now_ms: i64,
    ) -> Result<Vec<super::MaintenanceRow>, DbError> {
        self.engine_maintenance(now_ms).await
    }

    async fn delete_maintenance(&self, id: i64, at_ms: i64) -> Result<bool, DbError> {
        self.engine_delete_maintenance(id, at_ms).await
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, fields(host_id = %batch.agent.host_id, seq = batch.seq))]
    async fn append_batch(
        &self,
        batch: &Batch,
        body_zstd: &[u8],
        received_at_ms: i64,
    ) -> Result<AppendOutcome, DbError> {
        let p = PreparedBatch::new(batch, received_at_ms)?;
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO batches (host_id, seq, received_ms, min_ts, max_ts, sample_count, body) \
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (host_id, seq) DO NOTHING",
        )
        .bind(p.host_id)
        .bind(p.seq)
        .bind(p.received_ms)
        .bind(p.min_ts)
        .bind(p.max_ts)
        .bind(p.sample_count)
        .bind(body_zstd)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            tx.rollback().await?;
            tracing::debug!("duplicate batch; nothing written");
            return Ok(AppendOutcome::Duplicate);
        }
        // Identity columns follow the highest seq, so a replayed old batch cannot roll
        // back a hostname or label change. In an UPDATE, `hosts.*` are the old values.
        sqlx::query(
            "INSERT INTO hosts (host_id, hostname, labels, agent_version, interval_ms, \
                                first_seen_ms, last_seen_ms, last_seq) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7) \
             ON CONFLICT (host_id) DO UPDATE SET \
               hostname = CASE WHEN excluded.last_seq > hosts.last_seq THEN excluded.hostname ELSE hosts.hostname END, \
               labels = CASE WHEN excluded.last_seq > hosts.last_seq THEN excluded.labels ELSE hosts.labels END, \
               agent_version = CASE WHEN excluded.last_seq > hosts.last_seq THEN excluded.agent_version ELSE hosts.agent_version END, \
               interval_ms = CASE WHEN excluded.last_seq > hosts.last_seq THEN excluded.interval_ms ELSE hosts.interval_ms END, \
               first_seen_ms = MIN(hosts.first_seen_ms, excluded.first_seen_ms), \
               last_seen_ms = MAX(hosts.last_seen_ms, excluded.last_seen_ms), \
               last_seq = MAX(hosts.last_seq, excluded.last_seq)",
        )
        .bind(p.host_id)
        .bind(p.hostname)
        .bind(&p.labels)
        .bind(p.agent_version)
        .bind(p.interval_ms)
        .bind(p.received_ms)
        .bind(p.seq)
        .execute(&mut *tx)
        .await?;
        for event in &p.events {
            sqlx::query(
                "INSERT INTO events (host_id, ts, kind, severity, component, message, attrs) \
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(p.host_id)
            .bind(event.ts)
            .bind(event.kind)
            .bind(event.severity)
            .bind(event.component.as_deref())
            .bind(event.message)
            .bind(&event.attrs)
            .execute(&mut *tx)
            .await?;
        }
        for item in &p.inventory {
            upsert_item(&mut tx, &p, item).await?;
        }
        tx.commit().await?;
        Ok(AppendOutcome::Stored)
    }

    async fn load_batches(&self, filter: &BatchFilter) -> Result<Vec<Batch>, DbError> {
        let limit = clamp_limit(filter.limit);
        let records: Vec<BatchRecord> = match (&filter.host_id, &filter.after) {
            (Some(host), after) => {
                // Within one host, "after (h, s)" is just a lower bound on seq. Stored
                // seqs come from a u64, so -1 is below all of them.
                let after_seq = match after {
                    Some((after_host, _)) if after_host > host => return Ok(Vec::new()),
                    Some((after_host, after_seq)) if after_host == host => *after_seq,
                    Some(_) | None => -1,
                };
                sqlx::query_as(
                    "SELECT host_id, seq, body FROM batches \
                     WHERE compacted = 0 AND host_id = ? AND seq > ? AND max_ts >= ? AND min_ts <= ? \
                     ORDER BY seq LIMIT ?",
                )
                .bind(host)
                .bind(after_seq)
                .bind(filter.from_ms)
                .bind(filter.to_ms)
                .bind(limit)
                .fetch_all(&self.reader)
                .await?
            }
            (None, Some((after_host, after_seq))) => {
                sqlx::query_as(
                    "SELECT host_id, seq, body FROM batches \
                     WHERE compacted = 0 AND (host_id, seq) > (?, ?) AND max_ts >= ? AND min_ts <= ? \
                     ORDER BY host_id, seq LIMIT ?",
                )
                .bind(after_host)
                .bind(after_seq)
                .bind(filter.from_ms)
                .bind(filter.to_ms)
                .bind(limit)
                .fetch_all(&self.reader)
                .await?
            }
            (None, None) => {
                sqlx::query_as(
                    "SELECT host_id, seq, body FROM batches \
                     WHERE compacted = 0 AND max_ts >= ? AND min_ts <= ? ORDER BY host_id, seq LIMIT ?",
                )
                .bind(filter.from_ms)
                .bind(filter.to_ms)
                .bind(limit)
                .fetch_all(&self.reader)
                .await?
            }
        };
        records.into_iter().map(BatchRecord::decode).collect()
    }

    async fn compact(
        &self,
        cutoff_ms: i64,
        max_batches: i64,
    ) -> Result<super::CompactionReport, DbError> {
        self.compact_chunks(cutoff_ms, max_batches).await
    }

    async fn series(
        &self,
        host_id: Option<&str>,
        metric: Option<&str>,
    ) -> Result<Vec<super::SeriesRow>, DbError> {
        self.series_rows(host_id, metric).await
    }

    async fn load_rows(
        &self,
        tier: super::Tier,
        series_ids: &[i64],
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<super::ChunkRow>, DbError> {
        self.chunk_rows(tier, series_ids, from_ms, to_ms).await
    }

    async fn apply_retention(&self, tier: super::Tier, before_ms: i64) -> Result<u64, DbError> {
        self.retention(tier, before_ms).await
    }

    async fn trim_tombstones(&self, received_before_ms: i64) -> Result<u64, DbError> {
        self.tombstone_trim(received_before_ms).await
    }

    async fn storage_stats(&self) -> Result<super::StorageStats, DbError> {
        self.stats().await
    }

    async fn hosts(&self) -> Result<Vec<HostRow>, DbError> {
        let records: Vec<HostRecord> = sqlx::query_as(&format!(
            "SELECT {HOST_COLUMNS} FROM hosts ORDER BY host_id"
        ))
        .fetch_all(&self.reader)
        .await?;
        convert(records)
    }

    async fn host(&self, host_id: &str) -> Result<Option<HostRow>, DbError> {
        let record: Option<HostRecord> = sqlx::query_as(&format!(
            "SELECT {HOST_COLUMNS} FROM hosts WHERE host_id = ?"
        ))
        .bind(host_id)
        .fetch_optional(&self.reader)
        .await?;
        record.map(HostRow::try_from).transpose()
    }

    async fn latest_event_ms(&self, host_id: &str) -> Result<Option<i64>, DbError> {
        // The (host_id, max_ts) index answers this without reading bodies.
        let newest: Option<i64> =
            sqlx::query_scalar("SELECT MAX(max_ts) FROM batches WHERE host_id = ?")
                .bind(host_id)
                .fetch_one(&self.reader)
                .await?;
        Ok(newest)
    }

    async fn events(
        &self,
        host_id: &str,
        from_ms: i64,
        to_ms: i64,
        limit: i64,
    ) -> Result<Vec<EventRow>, DbError> {
        let records: Vec<EventRecord> = sqlx::query_as(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE host_id = ? AND ts >= ? AND ts <= ? \
             ORDER BY ts DESC, id DESC LIMIT ?"
        ))
        .bind(host_id)
        .bind(from_ms)
        .bind(to_ms)
        .bind(clamp_limit(limit))
        .fetch_all(&self.reader)
        .await?;
        convert(records)
    }

    async fn inventory(&self, host_id: &str) -> Result<Vec<InventoryItem>, DbError> {
        let records: Vec<InventoryRecord> = sqlx::query_as(
            "SELECT host_id, component, attrs FROM inventory WHERE host_id = ? ORDER BY component",
        )
        .bind(host_id)
        .fetch_all(&self.reader)
        .await?;
        convert(records)
    }

    async fn inventory_history(
        &self,
        host_id: &str,
        component: Option<&str>,
    ) -> Result<Vec<InventoryStateRow>, DbError> {
        let tuples: Vec<InventoryStateTuple> = sqlx::query_as(
            "SELECT component, attrs, at_ms, seq FROM inventory_history \
             WHERE host_id = ?1 AND (?2 IS NULL OR component = ?2) ORDER BY at_ms, id",
        )
        .bind(host_id)
        .bind(component)
        .fetch_all(&self.reader)
        .await?;
        tuples
            .into_iter()
            .map(|t| inventory_state_row(host_id, t))
            .collect()
    }

    async fn fleet_inventory(&self, kind: Option<&str>) -> Result<Vec<FleetItem>, DbError> {
        let prefix = kind.map(|k| format!("{k}:"));
        let records: Vec<InventoryRecord> = sqlx::query_as(
            "SELECT host_id, component, attrs FROM inventory \
             WHERE ?1 IS NULL OR substr(component, 1, length(?1)) = ?1 \
             ORDER BY host_id, component",
        )
        .bind(prefix)
        .fetch_all(&self.reader)
        .await?;
        records.into_iter().map(fleet_item).collect()
    }

    async fn open_incident(&self, dedup_key: &str) -> Result<Option<IncidentRow>, DbError> {
        let record: Option<IncidentRecord> = sqlx::query_as(&format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE dedup_key = ? AND status = 'open'"
        ))
        .bind(dedup_key)
        .fetch_optional(&self.reader)
        .await?;
        record.map(IncidentRow::try_from).transpose()
    }

    async fn incidents(
        &self,
        host_id: Option<&str>,
        open_only: bool,
        limit: i64,
    ) -> Result<Vec<IncidentRow>, DbError> {
        // Filters are added only when asked for, so each variant is a plain indexed
        // query rather than one generic plan with `? IS NULL OR …` branches.
        let mut sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE TRUE");
        if host_id.is_some() {
            sql.push_str(" AND host_id = ?");
        }
        if open_only {
            sql.push_str(" AND status = 'open'");
        }
        sql.push_str(" ORDER BY opened_at_ms DESC, id DESC LIMIT ?");
        let mut query = sqlx::query_as::<_, IncidentRecord>(&sql);
        if let Some(host_id) = host_id {
            query = query.bind(host_id);
        }
        let records = query
            .bind(clamp_limit(limit))
            .fetch_all(&self.reader)
            .await?;
        convert(records)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn apply_incident_change(
        &self,
        change: IncidentChange,
        notifications: Vec<NewOutbox>,
    ) -> Result<IncidentRow, DbError> {
        let mut tx = self.begin_write().await?;
        let (record, at_ms) = match change {
            IncidentChange::Open(new) => {
                let details = serde_json::to_string(&new.details)
                    .map_err(|e| encode_error(format!("incident details: {e}")))?;
                let record: IncidentRecord = sqlx::query_as(&format!(
                    "INSERT INTO incidents (dedup_key, host_id, kind, component, severity, status, \
                         title, details, opened_at_ms, updated_at_ms, resolved_at_ms, revision) \
                     VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6, ?7, ?8, ?8, NULL, 1) \
                     RETURNING {INCIDENT_COLUMNS}"
                ))
                .bind(&new.dedup_key)
                .bind(&new.host_id)
                .bind(&new.kind)
                .bind(new.component.as_deref())
                .bind(&new.severity)
                .bind(&new.title)
                .bind(&details)
                .bind(new.at_ms)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| {
                    on_unique(e, || {
                        format!(
                            "an incident with dedup_key {:?} is already open",
                            new.dedup_key
                        )
                    })
                })?;
                (record, new.at_ms)
            }
            IncidentChange::Update {
                id,
                severity,
                title,
                details,
                at_ms,
            } => {
                let details = serde_json::to_string(&details)
                    .map_err(|e| encode_error(format!("incident {id} details: {e}")))?;
                let record: Option<IncidentRecord> = sqlx::query_as(&format!(
                    "UPDATE incidents SET severity = ?, title = ?, details = ?, \
                         updated_at_ms = ?, revision = revision + 1 \
                     WHERE id = ? AND status = 'open' RETURNING {INCIDENT_COLUMNS}"
                ))
                .bind(&severity)
                .bind(&title)
                .bind(&details)
                .bind(at_ms)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                match record {
                    Some(record) => (record, at_ms),
                    None => return Err(not_open(&mut tx, id).await),
                }
            }
            IncidentChange::Resolve { id, details, at_ms } => {
                let details = serde_json::to_string(&details)
                    .map_err(|e| encode_error(format!("incident {id} details: {e}")))?;
                let record: Option<IncidentRecord> = sqlx::query_as(&format!(
                    "UPDATE incidents SET status = 'resolved', details = ?2, updated_at_ms = ?1, \
                         resolved_at_ms = ?1, revision = revision + 1 \
                     WHERE id = ?3 AND status = 'open' RETURNING {INCIDENT_COLUMNS}"
                ))
                .bind(at_ms)
                .bind(&details)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                match record {
                    Some(record) => (record, at_ms),
                    None => return Err(not_open(&mut tx, id).await),
                }
            }
        };
        let incident = IncidentRow::try_from(record)?;
        for note in notifications {
            let key = fill_placeholders(&note.idempotency_key, incident.id, incident.revision);
            let mut payload = note.payload;
            fill_placeholders_json(&mut payload, incident.id, incident.revision);
            let payload = serde_json::to_string(&payload)
                .map_err(|e| encode_error(format!("outbox payload for {key:?}: {e}")))?;
            let inserted = sqlx::query(
                "INSERT INTO outbox (incident_id, notifier, action, idempotency_key, payload, \
                     attempts, next_attempt_ms, created_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?6) ON CONFLICT (notifier, idempotency_key) DO NOTHING",
            )
            .bind(incident.id)
            .bind(&note.notifier)
            .bind(&note.action)
            .bind(&key)
            .bind(&payload)
            .bind(at_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                tracing::debug!(idempotency_key = %key, "notification already queued; skipped");
            }
        }
        tx.commit().await?;
        Ok(incident)
    }

    async fn due_outbox(&self, now_ms: i64, limit: i64) -> Result<Vec<OutboxRow>, DbError> {
        let records: Vec<OutboxRecord> = sqlx::query_as(&format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox \
             WHERE delivered_ms IS NULL AND failed = 0 AND next_attempt_ms <= ? \
             ORDER BY id LIMIT ?"
        ))
        .bind(now_ms)
        .bind(clamp_limit(limit))
        .fetch_all(&self.reader)
        .await?;
        convert(records)
    }

    async fn outbox_blocked(&self, row: &OutboxRow) -> Result<bool, DbError> {
        let blocked: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM outbox WHERE incident_id = ? AND notifier = ? \
                 AND id < ? AND delivered_ms IS NULL AND failed = 0)",
        )
        .bind(row.incident_id)
        .bind(&row.notifier)
        .bind(row.id)
        .fetch_one(&self.reader)
        .await?;
        Ok(blocked)
    }

    async fn outbox_delivered(&self, id: i64, at_ms: i64) -> Result<(), DbError> {
        let updated =
            sqlx::query("UPDATE outbox SET delivered_ms = ?, attempts = attempts + 1 WHERE id = ?")
                .bind(at_ms)
                .bind(id)
                .execute(&self.writer)
                .await?
                .rows_affected();
        found(updated)
    }

    async fn outbox_retry(
        &self,
        id: i64,
        next_attempt_ms: i64,
        error: &str,
    ) -> Result<(), DbError> {
        let updated = sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_ms = ?, last_error = ? \
             WHERE id = ?",
        )
        .bind(next_attempt_ms)
        .bind(error)
        .bind(id)
        .execute(&self.writer)
        .await?
        .rows_affected();
        found(updated)
    }

    async fn outbox_failed(&self, id: i64, error: &str) -> Result<(), DbError> {
        let updated = sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, failed = 1, last_error = ? WHERE id = ?",
        )
        .bind(error)
        .bind(id)
        .execute(&self.writer)
        .await?
        .rows_affected();
        found(updated)
    }

    async fn outbox_for_incident(&self, incident_id: i64) -> Result<Vec<OutboxRow>, DbError> {
        let records: Vec<OutboxRecord> = sqlx::query_as(&format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE incident_id = ? ORDER BY id"
        ))
        .bind(incident_id)
        .fetch_all(&self.reader)
        .await?;
        convert(records)
    }

    async fn incident(&self, id: i64) -> Result<Option<IncidentRow>, DbError> {
        let record: Option<IncidentRecord> = sqlx::query_as(&format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.reader)
        .await?;
        record.map(IncidentRow::try_from).transpose()
    }

    async fn ticket(
        &self,
        notifier: &str,
        fingerprint: &str,
    ) -> Result<Option<TicketRow>, DbError> {
        let found: Option<TicketTuple> = sqlx::query_as(&format!(
            "SELECT {TICKET_COLUMNS} FROM tickets WHERE notifier = ? AND fingerprint = ?"
        ))
        .bind(notifier)
        .bind(fingerprint)
        .fetch_optional(&self.reader)
        .await?;
        Ok(found.map(ticket_row))
    }

    async fn save_ticket(&self, t: &TicketRow) -> Result<(), DbError> {
        sqlx::query(&format!(
            "INSERT INTO tickets ({TICKET_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (notifier, fingerprint) DO UPDATE SET incident_id = excluded.incident_id, \
             ticket_id = excluded.ticket_id, status = excluded.status, updated_ms = excluded.updated_ms"
        ))
        .bind(&t.notifier)
        .bind(&t.fingerprint)
        .bind(t.incident_id)
        .bind(&t.ticket_id)
        .bind(&t.status)
        .bind(t.created_ms)
        .bind(t.updated_ms)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn active_tickets(&self, notifier: &str) -> Result<Vec<TicketRow>, DbError> {
        let rows: Vec<TicketTuple> = sqlx::query_as(&format!(
            "SELECT {TICKET_COLUMNS} FROM tickets WHERE notifier = ? \
             AND status IN ('open', 'acknowledged') ORDER BY created_ms, fingerprint"
        ))
        .bind(notifier)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.into_iter().map(ticket_row).collect())
    }

    async fn tickets_for_incident(&self, incident_id: i64) -> Result<Vec<TicketRow>, DbError> {
        let rows: Vec<TicketTuple> = sqlx::query_as(&format!(
            "SELECT {TICKET_COLUMNS} FROM tickets WHERE incident_id = ? \
             ORDER BY notifier, fingerprint"
        ))
        .bind(incident_id)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.into_iter().map(ticket_row).collect())
    }

    async fn record_audit(&self, e: &AuditEntry) -> Result<i64, DbError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO audit_log (at_ms, actor, source, action, incident_id, ticket_id, detail) \
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(e.at_ms)
        .bind(&e.actor)
        .bind(&e.source)
        .bind(&e.action)
        .bind(e.incident_id)
        .bind(&e.ticket_id)
        .bind(&e.detail)
        .fetch_one(&self.writer)
        .await?;
        Ok(id)
    }

    async fn audit_log(
        &self,
        incident_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, DbError> {
        let rows: Vec<AuditTuple> = match incident_id {
            Some(incident_id) => {
                sqlx::query_as(&format!(
                    "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE incident_id = ? \
                 ORDER BY id DESC LIMIT ?"
                ))
                .bind(incident_id)
                .bind(clamp_limit(limit))
                .fetch_all(&self.reader)
                .await?
            }
            None => {
                sqlx::query_as(&format!(
                    "SELECT {AUDIT_COLUMNS} FROM audit_log ORDER BY id DESC LIMIT ?"
                ))
                .bind(clamp_limit(limit))
                .fetch_all(&self.reader)
                .await?
            }
        };
        Ok(rows.into_iter().map(audit_row).collect())
    }

    async fn record_outcome(&self, o: &OutcomeRow) -> Result<i64, DbError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO outcomes (incident_id, source, code, note, at_ms) \
             VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(o.incident_id)
        .bind(&o.source)
        .bind(&o.code)
        .bind(&o.note)
        .bind(o.at_ms)
        .fetch_one(&self.writer)
        .await?;
        Ok(id)
    }

    async fn outcomes(&self, incident_id: i64) -> Result<Vec<OutcomeRow>, DbError> {
        let rows: Vec<OutcomeTuple> = sqlx::query_as(&format!(
            "SELECT {OUTCOME_COLUMNS} FROM outcomes WHERE incident_id = ? ORDER BY id"
        ))
        .bind(incident_id)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.into_iter().map(outcome_row).collect())
    }

    async fn add_silence(&self, s: &SilenceRow) -> Result<i64, DbError> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO silences (host_id, component, until_ms, reason, created_ms) \
             VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&s.host_id)
        .bind(&s.component)
        .bind(s.until_ms)
        .bind(&s.reason)
        .bind(s.created_ms)
        .fetch_one(&self.writer)
        .await?;
        Ok(id)
    }

    async fn active_silences(
        &self,
        host_id: Option<&str>,
        now_ms: i64,
    ) -> Result<Vec<SilenceRow>, DbError> {
        let rows: Vec<SilenceTuple> = match host_id {
            Some(host_id) => {
                sqlx::query_as(&format!(
                    "SELECT {SILENCE_COLUMNS} FROM silences WHERE host_id = ? AND until_ms > ? \
                 ORDER BY id"
                ))
                .bind(host_id)
                .bind(now_ms)
                .fetch_all(&self.reader)
                .await?
            }
            None => {
                sqlx::query_as(&format!(
                    "SELECT {SILENCE_COLUMNS} FROM silences WHERE until_ms > ? ORDER BY id"
                ))
                .bind(now_ms)
                .fetch_all(&self.reader)
                .await?
            }
        };
        Ok(rows.into_iter().map(silence_row).collect())
    }
}

/// An UPDATE by id that touched nothing means the id does not exist.
fn found(rows_affected: u64) -> Result<(), DbError> {
    if rows_affected == 0 {
        Err(DbError::NotFound)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn page_size(store: &SqliteStore) -> i64 {
        sqlx::query_scalar("PRAGMA page_size")
            .fetch_one(&store.reader)
            .await
            .expect("page size")
    }

    #[tokio::test]
    async fn new_databases_get_the_page_size_and_old_ones_keep_theirs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fresh = dir.path().join("fresh.db").display().to_string();
        let store = SqliteStore::open(&fresh).await.expect("open");
        assert_eq!(page_size(&store).await, i64::from(PAGE_SIZE));
        store.close().await;

        // A database created with SQLite's default keeps it when reopened.
        let old = dir.path().join("old.db").display().to_string();
        let store = SqliteStore::open_with_page_size(&old, 4_096)
            .await
            .expect("open old");
        assert_eq!(page_size(&store).await, 4_096);
        store.close().await;
        let store = SqliteStore::open(&old).await.expect("reopen");
        assert_eq!(page_size(&store).await, 4_096);
        store.ping().await.expect("usable");
        store.close().await;
    }

    #[test]
    fn locations_accept_url_forms_and_bare_paths() {
        let p = |s: &str| parse_location(s).expect("valid location");
        assert_eq!(p("sqlite:///var/lib/h.db"), PathBuf::from("/var/lib/h.db"));
        assert_eq!(p("sqlite://data/h.db"), PathBuf::from("data/h.db"));
        assert_eq!(p("sqlite:h.db"), PathBuf::from("h.db"));
        assert_eq!(p("/tmp/x/h.db"), PathBuf::from("/tmp/x/h.db"));
        assert!(parse_location("sqlite::memory:").is_err());
        assert!(parse_location("sqlite://").is_err());
    }
}
