//! The disk spool: every cycle's data waits here until a collector has acknowledged it.
//!
//! # Constraints
//! - A record leaves the spool only when the collector acknowledged the batch carrying
//!   it (2xx: durable there), when the collector refused it for good (it then goes to
//!   the shipper's quarantine first), or when the full-spool policy drops it. Each
//!   drop is counted and reported to the collector as a `spool_dropped` event.
//! - A SIGKILL at any instant loses nothing that was appended and corrupts nothing that
//!   is read back: records are checksummed, the tail is validated on start, and the
//!   batch in flight is recorded before it is sent, so that after a crash the same
//!   records go out again under the same sequence number (the collector stores a
//!   batch once per `(host_id, seq)`).
//! - Bounded: segments of both lanes together never exceed `spool.max_bytes`; nothing
//!   in memory grows with the backlog (the shipper reads a bounded batch at a time).
//! - Appending never waits for the network; the scheduler's collection never blocks
//!   on the collector.
//! - Hardware events are never the first thing dropped (see lanes below).
//!
//! # Lanes
//! Each cycle's payload is split in two lanes, each its own directory of segments:
//! `critical` holds hardware events (SEL, EDAC, machine checks, disk errors, SMART
//! self-tests, reboots), inventory and the agent's own loss reports; `bulk` holds the
//! samples and the remaining events. Every policy evicts `bulk` first, and a `bulk`
//! record never evicts a `critical` one. Order is kept within each lane (hence per
//! source); the shipper merges the lanes by creation time.
//!
//! # On-disk format (all integers little-endian)
//! ```text
//! <state_dir>/spool/ledger                      key=value lines, replaced atomically
//! <state_dir>/spool/{critical,bulk}/<first id, 20 digits>.seg
//!   segment := magic "HBSPOOL1" record*
//!   record  := len u32 | crc u32 | id u64 | created_ms i64 | body[len]
//!   crc     := CRC-32C of id, created_ms and body
//!   body    := zstd(JSON {series?, events?, inventory?})   (agent-internal, not wire)
//! ```
//! Record ids increase by one per lane and are never reused (the next id is above
//! every id in the segments and in the ledger). A segment is closed once it reaches
//! `spool.segment_bytes` (at most a quarter of `max_bytes`, so eviction is gradual)
//! and deleted once every record in it is acknowledged.
//!
//! The ledger holds per lane `acked` (every id up to it will never be sent again) and
//! `written`, the lifetime drop count, and the batch in flight (`seq` and per-lane last
//! id). It is written through a temp file, fsync and rename, so it is always whole.
//!
//! # Acknowledgements
//! The ledger is written once per batch, when the batch is recorded in flight
//! ([`Spool::begin`], before it is first sent). An acknowledgement only updates memory
//! and reaches the ledger with the next batch's `begin`, on a graceful stop
//! ([`Spool::flush`], also run on drop), or before a segment file is deleted. A crash in
//! between leaves the acknowledged batch recorded as in flight: the next start sends it
//! again under the same sequence number and the collector, which stores a batch once per
//! `(host_id, seq)`, answers that it is a duplicate. Nothing is lost and nothing is
//! stored twice; the saving is half of the ledger's fsyncs, the largest part of the
//! agent's per-cycle cost after collection itself.
//!
//! # Recovery on start
//! 1. Each segment is scanned; at the first record that is incomplete, fails its
//!    checksum or does not increase the id, the file is truncated there (a torn tail
//!    from a crash mid-write). A file without the full magic is a torn creation and
//!    is removed when it holds nothing else; one with foreign content is renamed to
//!    `*.corrupt` and left for an operator.
//! 2. Segments wholly at or below `acked` are deleted; empty older segments too.
//! 3. A corrupt ledger (never expected: it is replaced atomically) restarts from the
//!    oldest record on disk. That may resend acknowledged records under new numbers,
//!    which is logged as an error; losing them would be worse.
//!
//! # When full
//! [`WhenFull`] decides, per record that does not fit. Both evict whole segments, oldest
//! first, `bulk` before `critical`.

pub mod ledger;
pub mod segment;

use crate::output::Payload;
use harbinger_shared::{ComponentId, Event, EventKind, InventoryItem, Series, Severity};
use ledger::{InFlight, Ledger, LedgerError, LedgerState};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use tokio::sync::Notify;

/// Event kind of a batch the collector refused for good (kept in the quarantine).
pub const BATCH_QUARANTINED: &str = "batch_quarantined";

/// Drops are reported at most this often while they keep happening, so that a long
/// outage with a full spool does not fill the critical lane with loss reports.
const REPORT_EVERY_MS: i64 = 60_000;
/// The smallest segment, so a tiny spool still holds a few cycles per file.
const MIN_SEGMENT: u64 = 4 << 10;

/// What to do with a record that does not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Evict the oldest segments (bulk first) to make room: the newest data wins.
    DropOldest,
    /// Keep the backlog and stop taking new samples (bulk) until there is room again;
    /// hardware events still get in, evicting the oldest samples if they must.
    ShedBulk,
}

/// The `[spool]` section of the agent configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolConfig {
    /// Upper bound of the spool on disk in bytes, both lanes together.
    pub max_bytes: u64,
    /// A segment file is closed at this size (capped at a quarter of `max_bytes`).
    pub segment_bytes: u64,
    /// What happens to data that does not fit.
    pub when_full: WhenFull,
    /// fsync every appended record and every ledger update. Without it a crash of the
    /// process loses nothing (the page cache survives it), a power cut may.
    pub fsync: bool,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        Self {
            // About five days of a typical host at 10 s (~1.5 KiB per cycle compressed).
            max_bytes: 64 << 20,
            segment_bytes: 1 << 20,
            when_full: WhenFull::DropOldest,
            fsync: true,
        }
    }
}

impl SpoolConfig {
    /// Checks the values; the error names the key.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.max_bytes < 16 << 10 {
            return Err(("spool.max_bytes".into(), "must be at least 16384".into()));
        }
        if self.segment_bytes < MIN_SEGMENT {
            return Err((
                "spool.segment_bytes".into(),
                format!("must be at least {MIN_SEGMENT}"),
            ));
        }
        Ok(())
    }

    fn segment_cap(&self) -> u64 {
        self.segment_bytes.min(self.max_bytes / 4).max(MIN_SEGMENT)
    }
}

/// The two lanes, in eviction order last to first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    Critical = 0,
    Bulk = 1,
}

impl Lane {
    const ALL: [Lane; 2] = [Lane::Critical, Lane::Bulk];

    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Critical => "critical",
            Lane::Bulk => "bulk",
        }
    }
}

/// Whether an event goes to the critical lane.
pub fn is_critical(kind: &str) -> bool {
    matches!(
        kind,
        EventKind::REBOOT
            | EventKind::EDAC_CORRECTABLE
            | EventKind::EDAC_UNCORRECTABLE
            | EventKind::MACHINE_CHECK
            | EventKind::IPMI_SEL
            | EventKind::DISK_IO_ERROR
            | EventKind::SMART_SELF_TEST
            | EventKind::SPOOL_DROPPED
            | EventKind::INVENTORY_CHANGED
            | BATCH_QUARANTINED
    )
}

/// Why the spool could not be opened or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpoolError {
    #[error("spool {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("cannot encode a spool record: {0}")]
    Encode(String),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_owned(),
        source,
    }
}

/// One record read back, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub lane: Lane,
    pub id: u64,
    pub created_ms: i64,
    pub data: Payload,
}

/// How much one read may return.
#[derive(Debug, Clone, Copy)]
pub struct ReadLimits {
    pub max_records: usize,
    /// Bound on the decoded JSON of the records together (at least one is returned).
    pub max_bytes: usize,
    /// Read only up to these ids per lane (rebuilding the batch in flight).
    pub through: Option<[u64; 2]>,
}

/// Records read from the spool, oldest first, and how far they reach per lane.
#[derive(Debug, Clone, Default)]
pub struct ReadBatch {
    pub records: Vec<Record>,
    /// Per lane, the last id consumed (records returned or skipped as corrupt).
    pub ends: [u64; 2],
    /// Decoded JSON size of the records.
    pub json_bytes: usize,
}

impl ReadBatch {
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// What one append did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppendReport {
    /// Records evicted to make room.
    pub evicted: u64,
    /// Whether this payload's bulk part was refused (shed, or larger than the spool).
    pub refused: bool,
}

/// A point-in-time view for `/metrics` and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpoolStats {
    pub bytes: u64,
    pub segments: usize,
    /// Records not yet acknowledged, both lanes.
    pub pending: u64,
    /// Creation time of the oldest record not yet acknowledged.
    pub oldest_pending_ms: Option<i64>,
    pub dropped_total: u64,
}

#[derive(Debug)]
struct Segment {
    first_id: u64,
    /// `first_id - 1` while empty.
    last_id: u64,
    bytes: u64,
    path: PathBuf,
    /// Where reading may start: advanced past acknowledged records as reads skip them.
    cursor: segment::Cursor,
}

impl Segment {
    /// Where to start reading for records above `after`.
    fn cursor_for(&self, after: u64) -> segment::Cursor {
        if self.cursor.id <= after {
            self.cursor
        } else {
            segment::Cursor::start(0)
        }
    }
}

#[derive(Debug)]
struct LaneState {
    lane: Lane,
    dir: PathBuf,
    segments: VecDeque<Segment>,
    /// Open on the last segment while it has room.
    writer: Option<segment::Writer>,
    next_id: u64,
}

#[derive(Debug)]
struct Inner {
    lanes: [LaneState; 2],
    state: LedgerState,
    /// Dropped records not yet reported in a `spool_dropped` event.
    unreported: u64,
    last_report_ms: i64,
    /// Whether the previous append lost something (a drop run is under way).
    losing: bool,
    /// An acknowledgement not yet written to the ledger (see "Acknowledgements").
    unsaved_ack: bool,
    /// Record bodies; level 1, since a cycle compresses ~6x already and the agent's CPU
    /// budget is tight.
    encoder: crate::codec::Encoder,
}

/// The spool of one agent. Cheap to share by reference between the writer and the
/// shipper (one mutex, never held across an await).
#[derive(Debug)]
pub struct Spool {
    inner: Mutex<Inner>,
    /// Used by [`Spool::read`] outside the main lock.
    decoder: Mutex<crate::codec::Decoder>,
    notify: Notify,
    ledger: Ledger,
    config: SpoolConfig,
    host: ComponentId,
}

#[derive(Serialize)]
struct RecordRef<'a> {
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    series: &'a [Series],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    events: Vec<&'a Event>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    inventory: &'a [InventoryItem],
}

#[derive(Deserialize)]
struct RecordOwned {
    #[serde(default)]
    series: Vec<Series>,
    #[serde(default)]
    events: Vec<Event>,
    #[serde(default)]
    inventory: Vec<InventoryItem>,
}

impl Spool {
    /// Opens (creating if needed) the spool in `dir`, recovering from any crash.
    /// `host` is the component loss reports are about.
    pub fn open(dir: &Path, config: SpoolConfig, host: ComponentId) -> Result<Self, SpoolError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let ledger = Ledger::new(dir);
        let (mut state, ledger_ok) = match ledger.load() {
            Ok(state) => (state, true),
            Err(LedgerError::Corrupt { path, message }) => {
                tracing::error!(path = %path.display(), %message,
                    "spool ledger is corrupt; resending everything still on disk (the collector may store some of it twice)");
                (LedgerState::default(), false)
            }
            Err(err) => return Err(err.into()),
        };
        let mut lanes = Vec::with_capacity(2);
        for lane in Lane::ALL {
            let lane_dir = dir.join(lane.as_str());
            fs::create_dir_all(&lane_dir).map_err(io_err(&lane_dir))?;
            let l = lane as usize;
            let mut recovered = recover_lane(lane, &lane_dir, state.acked[l])?;
            let highest = recovered
                .segments
                .back()
                .map_or(0, |s| s.last_id)
                .max(state.acked[l])
                .max(state.written[l]);
            if !ledger_ok {
                state.acked[l] = recovered
                    .segments
                    .front()
                    .map_or(highest, |s| s.first_id - 1);
            }
            let on_disk = recovered.segments.back().map_or(0, |s| s.last_id);
            if state.written[l] > on_disk && state.written[l] > state.acked[l] {
                tracing::warn!(lane = lane.as_str(), ledger = state.written[l], on_disk,
                    "records the ledger saw written are not on disk (power loss without spool.fsync?)");
            }
            recovered.next_id = highest + 1;
            state.written[l] = highest;
            lanes.push(recovered);
        }
        if let Some(flight) = state.in_flight {
            if flight.ends[0] < state.acked[0] || flight.ends[1] < state.acked[1] {
                state.in_flight = None;
            }
        }
        let Ok(lanes) = <[LaneState; 2]>::try_from(lanes) else {
            unreachable!("two lanes were pushed");
        };
        let spool = Self {
            inner: Mutex::new(Inner {
                lanes,
                state,
                unreported: 0,
                last_report_ms: i64::MIN / 2,
                losing: false,
                unsaved_ack: false,
                encoder: crate::codec::Encoder::new(1),
            }),
            decoder: Mutex::new(crate::codec::Decoder::new()),
            notify: Notify::new(),
            ledger,
            config,
            host,
        };
        {
            let mut inner = spool.lock();
            spool.delete_acked(&mut inner);
            let state = inner.state;
            spool.ledger.store(&state, spool.config.fsync)?;
            let stats = spool.stats_locked(&inner);
            tracing::info!(
                dir = %dir.display(),
                bytes = stats.bytes,
                pending = stats.pending,
                in_flight = ?inner.state.in_flight.map(|f| f.seq),
                "spool opened"
            );
        }
        Ok(spool)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // No critical section panics half-way through an update, so the data behind a
        // poisoned lock is consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn config(&self) -> &SpoolConfig {
        &self.config
    }

    /// Appends one cycle's payload, split by lane, applying the full-spool policy.
    /// A pending loss report rides along as a `spool_dropped` event.
    pub fn append(&self, payload: &Payload, now_ms: i64) -> Result<AppendReport, SpoolError> {
        let mut inner = self.lock();
        let mut report = AppendReport::default();
        let mut extra = Vec::new();
        if inner.unreported > 0
            && (!inner.losing || now_ms - inner.last_report_ms >= REPORT_EVERY_MS)
        {
            extra.push(self.drop_event(inner.unreported, now_ms));
            inner.unreported = 0;
            inner.last_report_ms = now_ms;
        }
        let (critical, bulk): (Vec<&Event>, Vec<&Event>) = payload
            .events
            .iter()
            .chain(extra.iter())
            .partition(|e| is_critical(e.kind.as_str()));
        let critical_part = RecordRef {
            series: &[],
            events: critical,
            inventory: &payload.inventory,
        };
        let bulk_part = RecordRef {
            series: &payload.series,
            events: bulk,
            inventory: &[],
        };
        for (lane, part) in [(Lane::Critical, critical_part), (Lane::Bulk, bulk_part)] {
            if part.series.is_empty() && part.events.is_empty() && part.inventory.is_empty() {
                continue;
            }
            let (body, _) = inner
                .encoder
                .encode(&part)
                .map_err(|e| SpoolError::Encode(e.to_string()))?;
            match self.append_record(&mut inner, lane, now_ms, &body)? {
                Some(evicted) => report.evicted += evicted,
                None => {
                    report.refused = true;
                    inner.state.dropped_total += 1;
                    inner.unreported += 1;
                }
            }
        }
        let losing = report.refused || report.evicted > 0;
        if losing && !inner.losing {
            // Data loss: an operator should give the spool more room or fix the path to
            // the collector. Logged once per run of losses; the count goes to the
            // collector as an event.
            tracing::error!(
                max_bytes = self.config.max_bytes,
                policy = ?self.config.when_full,
                evicted = report.evicted,
                refused = report.refused,
                "spool full: dropping data"
            );
        } else if !losing && inner.losing {
            tracing::info!("spool has room again");
        }
        inner.losing = losing;
        drop(inner);
        self.notify.notify_one();
        Ok(report)
    }

    /// Counts records lost before they reached the spool (the in-memory hand-off
    /// overflowed), so they are reported like spool drops.
    pub fn note_lost(&self, records: u64) {
        if records == 0 {
            return;
        }
        let mut inner = self.lock();
        inner.unreported += records;
        inner.state.dropped_total += records;
    }

    fn drop_event(&self, dropped: u64, now_ms: i64) -> Event {
        Event {
            ts: now_ms,
            kind: EventKind::new(EventKind::SPOOL_DROPPED),
            severity: Severity::Warning,
            component: Some(self.host.clone()),
            message: format!(
                "agent spool was full ({} bytes, policy {:?}): {dropped} record(s) dropped",
                self.config.max_bytes, self.config.when_full
            ),
            attrs: BTreeMap::from([
                ("dropped".to_owned(), dropped.to_string()),
                ("max_bytes".to_owned(), self.config.max_bytes.to_string()),
            ]),
        }
    }

    /// Appends one encoded body to `lane`; `None` if refused by the policy, otherwise
    /// how many records were evicted to make room.
    fn append_record(
        &self,
        inner: &mut Inner,
        lane: Lane,
        created_ms: i64,
        body: &[u8],
    ) -> Result<Option<u64>, SpoolError> {
        let l = lane as usize;
        let id = inner.lanes[l].next_id;
        let record = segment::encode(id, created_ms, body);
        let need = record.len() as u64 + segment::MAGIC.len() as u64;
        let mut evicted = 0;
        while total_bytes(inner) + need > self.config.max_bytes {
            let victim = match (lane, self.config.when_full) {
                (Lane::Bulk, WhenFull::ShedBulk) => None,
                (Lane::Bulk, WhenFull::DropOldest) => {
                    (!inner.lanes[1].segments.is_empty()).then_some(1)
                }
                (Lane::Critical, _) => [1, 0]
                    .into_iter()
                    .find(|&v| !inner.lanes[v].segments.is_empty()),
            };
            match victim {
                Some(v) => evicted += self.evict_oldest(inner, v)?,
                None => {
                    tracing::debug!(
                        lane = lane.as_str(),
                        bytes = record.len(),
                        "record refused: spool full"
                    );
                    inner.state.dropped_total += evicted;
                    inner.unreported += evicted;
                    return Ok(None);
                }
            }
        }
        inner.state.dropped_total += evicted;
        inner.unreported += evicted;
        let cap = self.config.segment_cap();
        let lane_state = &mut inner.lanes[l];
        let roll = match &lane_state.writer {
            Some(writer) => {
                writer.len > segment::MAGIC.len() as u64 && writer.len + record.len() as u64 > cap
            }
            None => true,
        };
        if roll {
            lane_state.writer = None;
            let path = lane_state.dir.join(segment::file_name(id));
            let writer =
                segment::Writer::create(path.clone(), self.config.fsync).map_err(io_err(&path))?;
            if self.config.fsync {
                fs::File::open(&lane_state.dir)
                    .and_then(|d| d.sync_all())
                    .map_err(io_err(&lane_state.dir))?;
            }
            lane_state.segments.push_back(Segment {
                first_id: id,
                last_id: id - 1,
                bytes: writer.len,
                path,
                cursor: segment::Cursor::start(id - 1),
            });
            lane_state.writer = Some(writer);
        }
        let Some(writer) = lane_state.writer.as_mut() else {
            unreachable!("a writer was just opened");
        };
        writer
            .append(&record, self.config.fsync)
            .map_err(io_err(&writer.path))?;
        if let Some(last) = lane_state.segments.back_mut() {
            last.last_id = id;
            last.bytes = writer.len;
        }
        lane_state.next_id = id + 1;
        inner.state.written[l] = id;
        Ok(Some(evicted))
    }

    /// Deletes the oldest segment of lane `l`; returns how many unacknowledged records
    /// went with it.
    fn evict_oldest(&self, inner: &mut Inner, l: usize) -> Result<u64, SpoolError> {
        let acked = inner.state.acked[l];
        let lane = &mut inner.lanes[l];
        let Some(victim) = lane.segments.pop_front() else {
            return Ok(0);
        };
        if lane.segments.is_empty() {
            lane.writer = None;
        }
        fs::remove_file(&victim.path).map_err(io_err(&victim.path))?;
        let lost = victim
            .last_id
            .saturating_sub(acked.max(victim.first_id.saturating_sub(1)));
        inner.state.acked[l] = acked.max(victim.last_id);
        tracing::debug!(lane = lane.lane.as_str(), path = %victim.path.display(), lost, "evicted spool segment");
        Ok(lost)
    }

    /// Reads the oldest records not yet acknowledged, merged across lanes by creation
    /// time, within `limits`.
    pub fn read(&self, limits: ReadLimits) -> Result<ReadBatch, SpoolError> {
        let mut inner = self.lock();
        let mut per_lane: [VecDeque<segment::RawRecord>; 2] = Default::default();
        let mut ends = inner.state.acked;
        for lane in Lane::ALL {
            let l = lane as usize;
            let after = inner.state.acked[l];
            let through = limits.through.map_or(u64::MAX, |t| t[l]);
            for seg in &mut inner.lanes[l].segments {
                if per_lane[l].len() >= limits.max_records || seg.first_id > through {
                    break;
                }
                if seg.last_id <= after {
                    continue;
                }
                let want = limits.max_records - per_lane[l].len();
                let got =
                    segment::read_range(&seg.path, seg.cursor_for(after), after, through, want)
                        .map_err(io_err(&seg.path))?;
                if let Some(cursor) = got.skipped_to {
                    seg.cursor = cursor;
                }
                let reached = got.records.len() < want;
                per_lane[l].extend(got.records);
                if got.corrupt && reached {
                    // Bit rot after the start-up scan: skip the rest of this segment
                    // rather than stall on it forever.
                    let skip_to = seg.last_id.min(through);
                    tracing::error!(path = %seg.path.display(), skip_to,
                        "corrupt record in spool segment; skipping the rest of it");
                    per_lane[l].push_back(segment::RawRecord {
                        id: skip_to,
                        created_ms: i64::MIN,
                        body: Vec::new(),
                    });
                    break;
                }
            }
        }
        drop(inner);
        let mut batch = ReadBatch::default();
        let mut decoder = self.decoder.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if batch.records.len() >= limits.max_records {
                break;
            }
            let next = match (per_lane[0].front(), per_lane[1].front()) {
                (Some(c), Some(b)) => {
                    if c.created_ms <= b.created_ms {
                        0
                    } else {
                        1
                    }
                }
                (Some(_), None) => 0,
                (None, Some(_)) => 1,
                (None, None) => break,
            };
            let Some(raw) = per_lane[next].front() else {
                break;
            };
            if raw.body.is_empty() {
                // The corrupt-tail marker above.
                ends[next] = raw.id;
                per_lane[next].pop_front();
                continue;
            }
            let json = match decoder.decode(raw.body.as_slice()) {
                Ok(json) => json,
                Err(err) => {
                    tracing::error!(lane = Lane::ALL[next].as_str(), id = raw.id, error = %err, "undecodable spool record skipped");
                    ends[next] = raw.id;
                    per_lane[next].pop_front();
                    continue;
                }
            };
            if !batch.records.is_empty() && batch.json_bytes + json.len() > limits.max_bytes {
                break;
            }
            let Some(raw) = per_lane[next].pop_front() else {
                break;
            };
            ends[next] = raw.id;
            match serde_json::from_slice::<RecordOwned>(&json) {
                Ok(owned) => {
                    batch.json_bytes += json.len();
                    batch.records.push(Record {
                        lane: Lane::ALL[next],
                        id: raw.id,
                        created_ms: raw.created_ms,
                        data: Payload {
                            series: owned.series,
                            events: owned.events,
                            inventory: owned.inventory,
                        },
                    });
                }
                Err(err) => {
                    tracing::error!(lane = Lane::ALL[next].as_str(), id = raw.id, error = %err, "undecodable spool record skipped");
                }
            }
        }
        batch.ends = ends;
        Ok(batch)
    }

    /// Whether any record waits to be sent.
    pub fn has_pending(&self) -> bool {
        let inner = self.lock();
        Lane::ALL
            .iter()
            .any(|&l| inner.lanes[l as usize].next_id - 1 > inner.state.acked[l as usize])
    }

    /// Waits until a record waits to be sent. Meant for one consumer (the shipper).
    pub async fn wait_for_pending(&self) {
        loop {
            if self.has_pending() {
                return;
            }
            self.notify.notified().await;
        }
    }

    /// The batch that was in flight when the agent last stopped, if any.
    pub fn in_flight(&self) -> Option<InFlight> {
        self.lock().state.in_flight
    }

    /// Records that `seq` now carries the records up to `ends`, before it is sent.
    pub fn begin(&self, seq: u64, ends: [u64; 2]) -> Result<(), SpoolError> {
        let mut inner = self.lock();
        let previous = inner.state.in_flight;
        inner.state.in_flight = Some(InFlight { seq, ends });
        if let Err(err) = self.save(&mut inner) {
            inner.state.in_flight = previous;
            return Err(err);
        }
        Ok(())
    }

    /// Forgets the batch in flight without acknowledging its records (the collector
    /// refused it as a whole; its records will be sent again one by one).
    pub fn abandon(&self) -> Result<(), SpoolError> {
        let mut inner = self.lock();
        inner.state.in_flight = None;
        self.save(&mut inner)
    }

    /// The records up to `ends` are done with: acknowledged or quarantined. The ledger
    /// is written with the next [`begin`](Self::begin) (see "Acknowledgements" above),
    /// or now when a segment file can go.
    pub fn ack(&self, ends: [u64; 2]) -> Result<(), SpoolError> {
        let mut inner = self.lock();
        for (acked, end) in inner.state.acked.iter_mut().zip(ends) {
            *acked = (*acked).max(end);
        }
        inner.state.in_flight = None;
        inner.unsaved_ack = true;
        let deletable = (0..2).any(|l| {
            let lane = &inner.lanes[l];
            lane.segments.len() > 1 && lane.segments[0].last_id <= inner.state.acked[l]
        });
        if deletable {
            // A segment is deleted only once the ledger says its records are done, so
            // that a crash cannot leave a ledger pointing into a missing file.
            self.save(&mut inner)?;
            self.delete_acked(&mut inner);
        }
        Ok(())
    }

    /// Writes an acknowledgement still held in memory to the ledger. Called on a
    /// graceful stop (and by `Drop`); a crash instead resends the last acknowledged
    /// batch under its own number, which the collector recognises as a duplicate.
    pub fn flush(&self) -> Result<(), SpoolError> {
        let mut inner = self.lock();
        if inner.unsaved_ack {
            self.save(&mut inner)?;
        }
        Ok(())
    }

    fn save(&self, inner: &mut Inner) -> Result<(), SpoolError> {
        let state = inner.state;
        self.ledger.store(&state, self.config.fsync)?;
        inner.unsaved_ack = false;
        Ok(())
    }

    /// Deletes closed segments whose records are all acknowledged. A failure only
    /// delays the deletion (logged); the ledger already says they are done.
    fn delete_acked(&self, inner: &mut Inner) {
        for l in 0..2 {
            let acked = inner.state.acked[l];
            let lane = &mut inner.lanes[l];
            while lane.segments.len() > 1 && lane.segments[0].last_id <= acked {
                if let Some(seg) = lane.segments.pop_front() {
                    if let Err(err) = fs::remove_file(&seg.path) {
                        tracing::warn!(path = %seg.path.display(), error = %err, "cannot delete acknowledged spool segment");
                    }
                }
            }
        }
    }

    pub fn stats(&self) -> SpoolStats {
        let inner = self.lock();
        self.stats_locked(&inner)
    }

    fn stats_locked(&self, inner: &Inner) -> SpoolStats {
        let mut oldest: Option<i64> = None;
        for l in 0..2 {
            let acked = inner.state.acked[l];
            if let Some(seg) = inner.lanes[l].segments.iter().find(|s| s.last_id > acked) {
                if let Ok(Some(ts)) =
                    segment::first_created_after(&seg.path, seg.cursor_for(acked), acked)
                {
                    oldest = Some(oldest.map_or(ts, |o| o.min(ts)));
                }
            }
        }
        SpoolStats {
            bytes: total_bytes(inner),
            segments: inner.lanes.iter().map(|l| l.segments.len()).sum(),
            pending: (0..2)
                .map(|l| (inner.lanes[l].next_id - 1).saturating_sub(inner.state.acked[l]))
                .sum(),
            oldest_pending_ms: oldest,
            dropped_total: inner.state.dropped_total,
        }
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if let Err(err) = self.flush() {
            tracing::warn!(error = %err, "cannot record the last acknowledgement; the next start resends that batch under its own number");
        }
    }
}

fn total_bytes(inner: &Inner) -> u64 {
    inner
        .lanes
        .iter()
        .flat_map(|l| l.segments.iter())
        .map(|s| s.bytes)
        .sum()
}

/// Scans one lane directory, truncating torn tails and removing torn creations.
fn recover_lane(lane: Lane, dir: &Path, acked: u64) -> Result<LaneState, SpoolError> {
    let mut names: Vec<(u64, PathBuf)> = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        match name.to_str().and_then(segment::parse_file_name) {
            Some(id) => names.push((id, entry.path())),
            None => {
                tracing::debug!(path = %entry.path().display(), "ignoring non-segment file in spool")
            }
        }
    }
    names.sort();
    let mut segments: VecDeque<Segment> = VecDeque::new();
    let mut prev = 0u64;
    for (name_id, path) in names {
        let scan = segment::scan(&path, prev).map_err(io_err(&path))?;
        if scan.bad_magic {
            let torn = scan.file_len <= segment::MAGIC.len() as u64;
            if torn {
                tracing::warn!(path = %path.display(), "removing a spool segment torn at creation");
                fs::remove_file(&path).map_err(io_err(&path))?;
            } else {
                let aside = path.with_extension("corrupt");
                tracing::error!(path = %path.display(), aside = %aside.display(),
                    "spool segment has a foreign header; set aside");
                fs::rename(&path, &aside).map_err(io_err(&path))?;
            }
            continue;
        }
        if scan.valid_len < scan.file_len {
            tracing::warn!(path = %path.display(), valid = scan.valid_len, cut = scan.file_len - scan.valid_len,
                "truncating a torn spool segment tail");
            let file = fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(io_err(&path))?;
            file.set_len(scan.valid_len).map_err(io_err(&path))?;
            file.sync_all().map_err(io_err(&path))?;
        }
        let first_id = scan.first_id.unwrap_or(name_id.max(prev + 1));
        let last_id = scan.last_id.unwrap_or(first_id - 1);
        if let Some(last) = scan.last_id {
            prev = last;
        }
        segments.push_back(Segment {
            first_id,
            last_id,
            bytes: scan.valid_len,
            path,
            cursor: segment::Cursor::start(first_id - 1),
        });
    }
    // Empty segments before the last carry nothing and would only confuse eviction.
    let keep_last = segments.len().saturating_sub(1);
    let mut kept = VecDeque::with_capacity(segments.len());
    for (i, seg) in segments.into_iter().enumerate() {
        if i < keep_last && (seg.last_id < seg.first_id || seg.last_id <= acked) {
            fs::remove_file(&seg.path).map_err(io_err(&seg.path))?;
        } else {
            kept.push_back(seg);
        }
    }
    let writer = match kept.back() {
        Some(last) => Some(
            segment::Writer::reopen(last.path.clone(), last.bytes).map_err(io_err(&last.path))?,
        ),
        None => None,
    };
    Ok(LaneState {
        lane,
        dir: dir.to_owned(),
        segments: kept,
        writer,
        next_id: 1,
    })
}

#[cfg(test)]
mod tests;
