//! The storage boundary: ALL SQL lives below this module.
//!
//! One [`Store`] trait, two implementations: SQLite (default, a file in the data
//! directory, WAL mode) and PostgreSQL (when the URL starts with `postgres://`).
//! Migrations for each backend live in `migrations/<backend>/` and are applied at start-up.
//!
//! Ingest appends each batch once to the batch log, keyed by `(host_id, seq)`: the
//! durable record and the idempotency key in one. There is deliberately no table with
//! one row per sample (DESIGN.md §5: 55–85 k rows/s is far below the target).
//! Compressed per-series chunks and rollups will be built from the batch log by a
//! compactor later; [`Store::load_batches`] is the seam the query path reads through
//! until then.

use async_trait::async_trait;
use harbinger_shared::{Batch, InventoryItem};
use serde::Serialize;
use std::collections::BTreeMap;

pub mod chunks;
mod compactor;
pub mod postgres;
mod prepare;
mod rows;
pub mod sqlite;

pub use crate::rollup::Tier;
pub use rows::MAX_STORED_BATCH_BYTES;

/// Errors from the store. Details of `Other` are logged, never sent to clients.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Other(#[from] sqlx::Error),
}

/// Whether an appended batch was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOutcome {
    Stored,
    /// `(host_id, seq)` was already in the batch log; nothing was written.
    Duplicate,
}

/// A host as the collector knows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostRow {
    pub host_id: String,
    pub hostname: String,
    pub labels: BTreeMap<String, String>,
    pub agent_version: String,
    pub interval_ms: i64,
    /// Wall-clock receive time (ms) of the first and the latest batch.
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub last_seq: i64,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRow {
    pub id: i64,
    pub host_id: String,
    pub ts: i64,
    pub kind: String,
    pub severity: String,
    /// `kind:id` form of the component, if any.
    pub component: Option<String>,
    pub message: String,
    pub attrs: BTreeMap<String, String>,
}

/// One state of an inventory item, as it was from `at_ms` (the collector's receive time
/// of the batch `seq` that brought it) until the next state of the same component.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InventoryStateRow {
    /// `kind:id` form.
    pub component: String,
    pub attrs: BTreeMap<String, String>,
    pub at_ms: i64,
    pub seq: i64,
}

/// One item of one host's latest inventory, in a fleet-wide listing.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetItem {
    pub host_id: String,
    pub item: InventoryItem,
}

/// Columns of `inventory_history` as read by both backends: component, attrs, at_ms, seq.
pub(crate) type InventoryStateTuple = (String, String, i64, i64);

pub(crate) fn inventory_state_row(
    host_id: &str,
    t: InventoryStateTuple,
) -> Result<InventoryStateRow, DbError> {
    let attrs = serde_json::from_str(&t.1).map_err(|e| {
        DbError::Corrupt(format!(
            "inventory_history.attrs of host {host_id:?} component {:?} seq {}: {e}",
            t.0, t.3
        ))
    })?;
    Ok(InventoryStateRow {
        component: t.0,
        attrs,
        at_ms: t.2,
        seq: t.3,
    })
}

pub(crate) fn fleet_item(record: rows::InventoryRecord) -> Result<FleetItem, DbError> {
    let host_id = record.host_id.clone();
    Ok(FleetItem {
        host_id,
        item: InventoryItem::try_from(record)?,
    })
}

/// Which batches to load: by host (or all) and by overlap with an event-time range.
#[derive(Debug, Clone, Default)]
pub struct BatchFilter {
    pub host_id: Option<String>,
    /// Batches whose `[min_ts, max_ts]` overlaps `[from_ms, to_ms]`.
    pub from_ms: i64,
    pub to_ms: i64,
    /// Resume after this `(host_id, seq)` (pagination in `(host_id, seq)` order).
    pub after: Option<(String, i64)>,
    pub limit: i64,
}

/// Lifecycle state of an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    Open,
    Resolved,
}

impl IncidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Open => "open",
            IncidentStatus::Resolved => "resolved",
        }
    }
}

/// A stored incident.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentRow {
    pub id: i64,
    /// Stable key for "the same problem": at most one *open* incident per key.
    pub dedup_key: String,
    pub host_id: String,
    /// The detector or rule that opened it, e.g. `filesystem_full`, `host_silent`.
    pub kind: String,
    pub component: Option<String>,
    pub severity: String,
    pub status: IncidentStatus,
    pub title: String,
    /// Evidence and explanation, free-form JSON owned by the detector.
    pub details: serde_json::Value,
    pub opened_at_ms: i64,
    pub updated_at_ms: i64,
    pub resolved_at_ms: Option<i64>,
    /// Incremented on every stored change; used in idempotency keys.
    pub revision: i64,
}

/// A new incident to open.
#[derive(Debug, Clone)]
pub struct NewIncident {
    pub dedup_key: String,
    pub host_id: String,
    pub kind: String,
    pub component: Option<String>,
    pub severity: String,
    pub title: String,
    pub details: serde_json::Value,
    pub at_ms: i64,
}

/// A state change applied to an incident together with the notifications it causes.
#[derive(Debug, Clone)]
pub enum IncidentChange {
    Open(NewIncident),
    Update {
        id: i64,
        severity: String,
        title: String,
        details: serde_json::Value,
        at_ms: i64,
    },
    Resolve {
        id: i64,
        details: serde_json::Value,
        at_ms: i64,
    },
}

/// A notification queued in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxRow {
    pub id: i64,
    pub incident_id: i64,
    pub notifier: String,
    /// `open`, `update` or `resolve`.
    pub action: String,
    /// Unique per notifier; sent with the delivery so receivers can drop repeats.
    pub idempotency_key: String,
    pub payload: serde_json::Value,
    pub attempts: i64,
    pub next_attempt_ms: i64,
    pub created_ms: i64,
    pub delivered_ms: Option<i64>,
    /// Set when delivery failed permanently (a 4xx other than 429); never retried.
    pub failed: bool,
    pub last_error: Option<String>,
}

/// A notification to enqueue. `incident_id` and `{revision}` placeholders are resolved by
/// the store inside the same transaction as the incident change.
///
/// The store sets the row's `incident_id` itself, and replaces the literal text
/// `{incident_id}` and `{revision}` in `idempotency_key` and in every string of `payload`
/// with the incident's id and its revision after the change (1 for an open). A key that
/// is already in the outbox for the same notifier is skipped, so re-applying a change cannot queue a repeat.
#[derive(Debug, Clone)]
pub struct NewOutbox {
    pub notifier: String,
    pub action: String,
    /// Built by the caller from the incident's dedup key, action and revision.
    pub idempotency_key: String,
    pub payload: serde_json::Value,
}

/// A ticket a notifier holds in a service desk for one incident occurrence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TicketRow {
    pub notifier: String,
    /// `hb-…`, derived from the incident's dedup key and opening time.
    pub fingerprint: String,
    pub incident_id: i64,
    /// The desk's id for it: an RT ticket number, a ServiceNow sys_id, a Jira key.
    pub ticket_id: String,
    /// `open`, `acknowledged`, `resolved`, `rejected` or `gone`.
    pub status: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// One entry of the audit log: something a service desk (or a person there) did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// Assigned by the store; ignored on insert.
    pub id: i64,
    pub at_ms: i64,
    /// Who did it, as the desk names them (e.g. an RT user name).
    pub actor: String,
    /// Where it came from: the notifier name.
    pub source: String,
    /// `acknowledge`, `resolve`, `silence`, …
    pub action: String,
    pub incident_id: Option<i64>,
    pub ticket_id: Option<String>,
    pub detail: String,
}

/// How an incident ended according to the people who worked it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutcomeRow {
    /// Assigned by the store; ignored on insert.
    pub id: i64,
    pub incident_id: i64,
    pub source: String,
    /// The resolution code, e.g. `disk replaced`, `won't fix`.
    pub code: String,
    pub note: String,
    pub at_ms: i64,
}

/// Notifications about a host (or one of its components) are held back until `until_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SilenceRow {
    /// Assigned by the store; ignored on insert.
    pub id: i64,
    pub host_id: String,
    /// `None` silences the whole host.
    pub component: Option<String>,
    pub until_ms: i64,
    pub reason: String,
    pub created_ms: i64,
}

/// The stored state of the analysis engine (see `detect`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineSnapshotRow {
    pub taken_ms: i64,
    /// Newest event time the engine had seen.
    pub watermark_ms: i64,
    pub rules_version: String,
    /// JSON object host_id -> newest batch seq included in the snapshot.
    pub fed: String,
    /// Newest outcome id already given to the engine.
    pub outcome_after: i64,
    /// The engine snapshot as serde_json.
    pub body: String,
}

/// A maintenance window: planned work per host or per label selector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MaintenanceRow {
    /// Assigned by the store; ignored on insert.
    pub id: i64,
    pub start_ms: i64,
    pub end_ms: i64,
    pub hosts: Vec<String>,
    pub labels: std::collections::BTreeMap<String, String>,
    pub reason: String,
    pub created_ms: i64,
}

/// What one compaction transaction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CompactionReport {
    /// Batches moved out of the log (0: nothing was pending before the cutoff).
    pub batches: u64,
    /// Samples they carried.
    pub samples: u64,
    /// Raw chunk rows written, and how many of them merged into an existing row.
    pub chunks: u64,
    pub merged: u64,
    pub chunk_bytes: u64,
}

/// A series as the chunk tables know it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeriesRow {
    pub id: i64,
    pub host_id: String,
    pub metric: String,
    pub labels: BTreeMap<String, String>,
}

/// One stored row of a tier: a raw chunk or a rollup row, still encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkRow {
    pub series_id: i64,
    /// Start of the row's span ([`Tier::row_span_ms`]).
    pub start_ms: i64,
    /// Points (raw) or samples summarised (rollups).
    pub count: i64,
    pub data: Vec<u8>,
}

/// Sizes of the storage, for `/metrics`, tests and the benchmarks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StorageStats {
    /// Batches in the log not yet compacted, and their samples.
    pub pending_batches: i64,
    pub pending_samples: i64,
    /// Compacted batches kept as duplicate guards.
    pub tombstones: i64,
    pub series: i64,
    /// Per tier: rows, samples (raw: points; rollups: samples summarised) and data bytes.
    pub tiers: BTreeMap<String, TierStats>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TierStats {
    pub rows: i64,
    pub samples: i64,
    pub bytes: i64,
}

/// All persistence the collector needs. Implementations must be safe to share.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Cheap liveness query for `/readyz`.
    async fn ping(&self) -> Result<(), DbError>;

    /// Durably appends a validated batch (its raw zstd body as received, or re-encoded),
    /// upserts the host, stores its events and changed inventory, all in one transaction.
    /// Returns only after commit. A `(host_id, seq)` already stored changes nothing.
    async fn append_batch(
        &self,
        batch: &Batch,
        body_zstd: &[u8],
        received_at_ms: i64,
    ) -> Result<AppendOutcome, DbError>;

    /// Decoded batches overlapping the filter, ordered by `(host_id, seq)`. Batches already
    /// compacted into chunks are not returned.
    async fn load_batches(&self, filter: &BatchFilter) -> Result<Vec<Batch>, DbError>;

    /// Compacts up to `max_batches` pending batches whose samples all lie before
    /// `cutoff_ms` into chunks and rollups, in one transaction (see `store/compactor.rs`).
    /// A report with `batches == 0` means nothing was pending before the cutoff. On
    /// PostgreSQL, a collector that finds another one compacting returns that too.
    async fn compact(&self, cutoff_ms: i64, max_batches: i64) -> Result<CompactionReport, DbError>;

    /// Compacted series, of one host or all, of one metric or all, by id.
    async fn series(
        &self,
        host_id: Option<&str>,
        metric: Option<&str>,
    ) -> Result<Vec<SeriesRow>, DbError>;

    /// Rows of a tier of these series whose span overlaps `[from_ms, to_ms)`, ordered by
    /// series and start.
    async fn load_rows(
        &self,
        tier: Tier,
        series_ids: &[i64],
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<ChunkRow>, DbError>;

    /// Drops rows of a tier lying wholly before `before_ms`; returns rows (SQLite) or
    /// partitions (PostgreSQL, where whole partitions are dropped) removed.
    async fn apply_retention(&self, tier: Tier, before_ms: i64) -> Result<u64, DbError>;

    /// Deletes compacted batches' tombstones received before `received_before_ms`; a
    /// replay of such a batch afterwards is stored again and merges by timestamp.
    async fn trim_tombstones(&self, received_before_ms: i64) -> Result<u64, DbError>;

    async fn storage_stats(&self) -> Result<StorageStats, DbError>;

    async fn hosts(&self) -> Result<Vec<HostRow>, DbError>;
    async fn host(&self, host_id: &str) -> Result<Option<HostRow>, DbError>;
    /// The host's event time: the newest sample or event timestamp of any batch it sent
    /// (`max_ts` of the batch log, compacted rows included), `None` before its first batch.
    async fn latest_event_ms(&self, host_id: &str) -> Result<Option<i64>, DbError>;

    /// Events of a host with `from_ms <= ts <= to_ms`, newest first, at most `limit`.
    async fn events(
        &self,
        host_id: &str,
        from_ms: i64,
        to_ms: i64,
        limit: i64,
    ) -> Result<Vec<EventRow>, DbError>;

    /// The latest inventory of a host.
    async fn inventory(&self, host_id: &str) -> Result<Vec<InventoryItem>, DbError>;

    /// Every state a host's inventory items have had (only `component`'s, in `kind:id`
    /// form, when set), oldest first: by receive time, then by insertion.
    async fn inventory_history(
        &self,
        host_id: &str,
        component: Option<&str>,
    ) -> Result<Vec<InventoryStateRow>, DbError>;

    /// The latest inventory of every host, only components of `kind` (e.g. `disk`) when
    /// set, ordered by host and component.
    async fn fleet_inventory(&self, kind: Option<&str>) -> Result<Vec<FleetItem>, DbError>;

    /// The open incident with this dedup key, if any.
    async fn open_incident(&self, dedup_key: &str) -> Result<Option<IncidentRow>, DbError>;

    /// All incidents, newest first; only open ones when `open_only`.
    async fn incidents(
        &self,
        host_id: Option<&str>,
        open_only: bool,
        limit: i64,
    ) -> Result<Vec<IncidentRow>, DbError>;

    /// Applies the change and enqueues its notifications in one transaction.
    /// Returns the incident as stored after the change.
    ///
    /// `Open` stores revision 1; a second open with the key of an open incident is
    /// `Conflict`. `Update` and `Resolve` bump the revision; on an unknown id they are
    /// `NotFound`, on a resolved incident `Conflict`.
    async fn apply_incident_change(
        &self,
        change: IncidentChange,
        notifications: Vec<NewOutbox>,
    ) -> Result<IncidentRow, DbError>;

    /// Undelivered, not permanently failed rows with `next_attempt_ms <= now_ms`, by id.
    /// Each row is due first at the `at_ms` of the change that queued it.
    async fn due_outbox(&self, now_ms: i64, limit: i64) -> Result<Vec<OutboxRow>, DbError>;
    /// Undelivered, not failed rows for this incident and notifier with a smaller id.
    async fn outbox_blocked(&self, row: &OutboxRow) -> Result<bool, DbError>;
    /// Marks a row delivered. This and the two calls below count one attempt each;
    /// an unknown id is `NotFound`.
    async fn outbox_delivered(&self, id: i64, at_ms: i64) -> Result<(), DbError>;
    /// Records a temporary failure: the row is due again at `next_attempt_ms`.
    async fn outbox_retry(&self, id: i64, next_attempt_ms: i64, error: &str)
        -> Result<(), DbError>;
    /// Records a permanent failure: the row is never due again.
    async fn outbox_failed(&self, id: i64, error: &str) -> Result<(), DbError>;
    /// Every outbox row of an incident, by id (for the API and tests).
    async fn outbox_for_incident(&self, incident_id: i64) -> Result<Vec<OutboxRow>, DbError>;

    /// One incident by id.
    async fn incident(&self, id: i64) -> Result<Option<IncidentRow>, DbError>;

    /// The ticket a notifier holds under a fingerprint, whatever its status.
    async fn ticket(&self, notifier: &str, fingerprint: &str)
        -> Result<Option<TicketRow>, DbError>;
    /// Inserts or replaces the ticket under `(notifier, fingerprint)`.
    async fn save_ticket(&self, ticket: &TicketRow) -> Result<(), DbError>;
    /// A notifier's tickets whose status is `open` or `acknowledged`, oldest first.
    async fn active_tickets(&self, notifier: &str) -> Result<Vec<TicketRow>, DbError>;
    /// Every ticket of an incident, across notifiers.
    async fn tickets_for_incident(&self, incident_id: i64) -> Result<Vec<TicketRow>, DbError>;

    /// Appends to the audit log; returns the entry's id.
    async fn record_audit(&self, entry: &AuditEntry) -> Result<i64, DbError>;
    /// Audit entries, newest first; of one incident when `incident_id` is set.
    async fn audit_log(
        &self,
        incident_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, DbError>;

    /// Records how an incident ended; returns the outcome's id.
    async fn record_outcome(&self, outcome: &OutcomeRow) -> Result<i64, DbError>;
    async fn outcomes(&self, incident_id: i64) -> Result<Vec<OutcomeRow>, DbError>;

    /// Adds a silence; returns its id.
    async fn add_silence(&self, silence: &SilenceRow) -> Result<i64, DbError>;
    /// Silences with `until_ms > now_ms`, for one host or all.
    async fn active_silences(
        &self,
        host_id: Option<&str>,
        now_ms: i64,
    ) -> Result<Vec<SilenceRow>, DbError>;

    // ----- analysis engine (issue 5) ----------------------------------------------

    /// Replaces the stored engine snapshot with `snapshot`.
    async fn save_engine_snapshot(&self, snapshot: &EngineSnapshotRow) -> Result<(), DbError>;
    /// The stored engine snapshot, if any.
    async fn load_engine_snapshot(&self) -> Result<Option<EngineSnapshotRow>, DbError>;
    /// Outcomes with `id > after_id`, oldest first, at most `limit`.
    async fn outcomes_after(&self, after_id: i64, limit: i64) -> Result<Vec<OutcomeRow>, DbError>;
    /// Adds a maintenance window; returns its id.
    async fn add_maintenance(&self, window: &MaintenanceRow) -> Result<i64, DbError>;
    /// Maintenance windows not deleted and ending after `now_ms`, by id.
    async fn maintenance_windows(&self, now_ms: i64) -> Result<Vec<MaintenanceRow>, DbError>;
    /// Marks a window deleted at `at_ms`; `false` when no such live window exists.
    async fn delete_maintenance(&self, id: i64, at_ms: i64) -> Result<bool, DbError>;
}

/// Column tuples of the ticket tables, shared by both backends' queries.
pub(crate) type TicketTuple = (String, String, i64, String, String, i64, i64);
pub(crate) type AuditTuple = (
    i64,
    i64,
    String,
    String,
    String,
    Option<i64>,
    Option<String>,
    String,
);
pub(crate) type OutcomeTuple = (i64, i64, String, String, String, i64);
pub(crate) type SilenceTuple = (i64, String, Option<String>, i64, String, i64);

pub(crate) const TICKET_COLUMNS: &str =
    "notifier, fingerprint, incident_id, ticket_id, status, created_ms, updated_ms";
pub(crate) const AUDIT_COLUMNS: &str =
    "id, at_ms, actor, source, action, incident_id, ticket_id, detail";
pub(crate) const OUTCOME_COLUMNS: &str = "id, incident_id, source, code, note, at_ms";
pub(crate) const SILENCE_COLUMNS: &str = "id, host_id, component, until_ms, reason, created_ms";

pub(crate) fn ticket_row(t: TicketTuple) -> TicketRow {
    TicketRow {
        notifier: t.0,
        fingerprint: t.1,
        incident_id: t.2,
        ticket_id: t.3,
        status: t.4,
        created_ms: t.5,
        updated_ms: t.6,
    }
}

pub(crate) fn audit_row(t: AuditTuple) -> AuditEntry {
    AuditEntry {
        id: t.0,
        at_ms: t.1,
        actor: t.2,
        source: t.3,
        action: t.4,
        incident_id: t.5,
        ticket_id: t.6,
        detail: t.7,
    }
}

pub(crate) fn outcome_row(t: OutcomeTuple) -> OutcomeRow {
    OutcomeRow {
        id: t.0,
        incident_id: t.1,
        source: t.2,
        code: t.3,
        note: t.4,
        at_ms: t.5,
    }
}

pub(crate) fn silence_row(t: SilenceTuple) -> SilenceRow {
    SilenceRow {
        id: t.0,
        host_id: t.1,
        component: t.2,
        until_ms: t.3,
        reason: t.4,
        created_ms: t.5,
    }
}

/// Opens the store named by `url`: `sqlite://path` (or a bare path) or `postgres://…`.
/// Applies migrations before returning.
pub async fn open(url: &str) -> Result<std::sync::Arc<dyn Store>, DbError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(postgres::PgStore::connect(url).await?))
    } else {
        Ok(std::sync::Arc::new(sqlite::SqliteStore::open(url).await?))
    }
}
