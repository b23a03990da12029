//! The shipper: reads the spool oldest first, merges records into protocol batches
//! (bounded by records, bytes and age), delivers them and acknowledges the spool only
//! on a 2xx, which means the batch is durable at the collector.
//!
//! - One batch is in flight at a time; its sequence number and record range are in the
//!   spool ledger before it is first sent, so after a crash the same records go out
//!   under the same number and the collector stores them once.
//! - A backlog (after an outage) is replayed back to back in full-size batches; fresh
//!   cycles keep being spooled meanwhile and follow it, so order per source holds.
//! - Retries (network errors, timeouts, 408, 429, 5xx) back off with full jitter and
//!   honour `Retry-After` (see [`retry`], the one place that classifies). Collectors
//!   are tried in configuration order from the one that last worked; when that is not
//!   the first, the first is tried again every `shipper.failback_interval`.
//! - A permanent refusal of a multi-record batch is retried record by record, so only
//!   the records the collector really refuses go to the [`quarantine`], each reported
//!   with a `batch_quarantined` event; later batches keep flowing.

pub mod quarantine;
pub mod retry;

use crate::config::{AgentConfig, ShipperConfig};
use crate::identity::Identity;
use crate::scheduler::now_ms;
use crate::seq::SeqStore;
use crate::spool::{ReadBatch, ReadLimits, Record, Spool, BATCH_QUARANTINED};
use harbinger_shared::wire::{IngestAck, IngestError, CONTENT_ENCODING_ZSTD, CONTENT_TYPE_JSON};
use harbinger_shared::{
    AgentIdentity, Batch, ComponentId, Event, EventKind, InventoryItem, Point, Series, Severity,
    PROTOCOL_VERSION,
};
use quarantine::Quarantine;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use retry::{classify, Attempt, Backoff, RetryAction};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// The collector's ingest path, appended to each configured base URL.
pub const INGEST_PATH: &str = "/api/v1/ingest";

/// Why the shipper could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ShipperError {
    #[error("cannot build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// Counters of what happened to batches, shared with `/metrics` and tests.
#[derive(Debug, Default)]
pub struct ShipperStats {
    delivered: AtomicU64,
    samples: AtomicU64,
    rejected: AtomicU64,
    retries: AtomicU64,
    abandoned: AtomicU64,
    lag_ms: AtomicI64,
    last_ack_ms: AtomicI64,
}

/// A point-in-time copy of [`ShipperStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Batches a collector acknowledged.
    pub delivered: u64,
    /// Samples in those batches.
    pub samples: u64,
    /// Batches refused permanently and quarantined.
    pub rejected: u64,
    /// Failed attempts that were retried.
    pub retries: u64,
    /// Batches still undelivered when the flush deadline passed at shutdown (they stay
    /// in the spool).
    pub abandoned: u64,
    /// Age of the oldest record of the last acknowledged batch, at acknowledgement.
    pub lag_ms: i64,
    pub last_ack_ms: i64,
}

impl ShipperStats {
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            delivered: self.delivered.load(Ordering::Relaxed),
            samples: self.samples.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            abandoned: self.abandoned.load(Ordering::Relaxed),
            lag_ms: self.lag_ms.load(Ordering::Relaxed),
            last_ack_ms: self.last_ack_ms.load(Ordering::Relaxed),
        }
    }

    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Delivers spooled records to the configured collectors.
pub struct Shipper {
    client: reqwest::Client,
    endpoints: Vec<String>,
    /// The endpoint that last accepted a batch; tried first.
    active: usize,
    /// When to try the first endpoint again while another one is active.
    failback_at: Option<Instant>,
    agent: AgentIdentity,
    host: ComponentId,
    interval_ms: u64,
    seq: SeqStore,
    config: ShipperConfig,
    stats: Arc<ShipperStats>,
    quarantine: Quarantine,
    /// After a multi-record batch was refused: send one record per batch up to here.
    split_until: Option<[u64; 2]>,
    /// Batch bodies: zstd level 3 like `Batch::encode_zstd`, with a kept context.
    encoder: crate::codec::Encoder,
}

/// A batch sealed with its number, ready to (re)send.
struct Sealed {
    seq: u64,
    ends: [u64; 2],
    body: Vec<u8>,
    records: usize,
    samples: usize,
    oldest_ms: i64,
}

enum Next {
    Batch(Sealed),
    /// Stopping and nothing (more) to send within the deadline.
    Done,
}

enum Outcome {
    Delivered,
    Rejected { status: u16, message: String },
    Abandoned,
}

enum AttemptResult {
    Done,
    Retry {
        after: Option<Duration>,
        why: String,
    },
    Reject {
        status: u16,
        message: String,
    },
}

impl Shipper {
    pub fn new(
        config: &AgentConfig,
        identity: &Identity,
        seq: SeqStore,
    ) -> Result<Self, ShipperError> {
        let client = reqwest::Client::builder()
            .timeout(config.shipper.timeout)
            .connect_timeout(config.shipper.timeout.min(Duration::from_secs(5)))
            // A redirected POST turns into a GET on most redirects; a collector URL that
            // redirects is a configuration error to surface, not to follow.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("harbinger-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ShipperError::Client)?;
        let endpoints = config
            .collector_urls
            .iter()
            .map(|base| format!("{}{INGEST_PATH}", base.trim_end_matches('/')))
            .collect();
        Ok(Self {
            client,
            endpoints,
            active: 0,
            failback_at: None,
            agent: identity.wire(),
            host: identity.host_component(),
            interval_ms: u64::try_from(config.interval.as_millis()).unwrap_or(u64::MAX),
            seq,
            config: config.shipper.clone(),
            stats: Arc::default(),
            quarantine: Quarantine::new(config.state_dir.join("quarantine")),
            split_until: None,
            encoder: crate::codec::Encoder::new(3),
        })
    }

    pub fn stats(&self) -> Arc<ShipperStats> {
        self.stats.clone()
    }

    /// Delivers spooled records until `stop` turns true, then keeps delivering for at
    /// most `shipper.flush_timeout` and returns. What is left stays in the spool.
    pub async fn run(mut self, spool: &Spool, stop: watch::Receiver<bool>) {
        let mut stop = Stop::new(stop, self.config.flush_timeout);
        let mut pending = self.resume(spool);
        loop {
            let sealed = match pending.take() {
                Some(sealed) => sealed,
                None => match self.next(spool, &mut stop).await {
                    Next::Batch(sealed) => sealed,
                    Next::Done => break,
                },
            };
            match self.deliver(sealed.seq, &sealed.body, &mut stop).await {
                Outcome::Delivered => self.delivered(spool, &sealed),
                Outcome::Rejected { status, message } => {
                    self.rejected(spool, sealed, status, &message)
                }
                Outcome::Abandoned => {
                    ShipperStats::bump(&self.stats.abandoned);
                    break;
                }
            }
        }
        if let Err(err) = spool.flush() {
            tracing::warn!(error = %err, "cannot record the last acknowledgement; the next start resends that batch under its own number");
        }
        let left = spool.stats();
        if left.pending > 0 {
            tracing::info!(
                records = left.pending,
                bytes = left.bytes,
                "stopping; undelivered records stay in the spool for the next start"
            );
        }
    }

    /// Rebuilds the batch that was in flight when the agent stopped, with its number.
    fn resume(&mut self, spool: &Spool) -> Option<Sealed> {
        let flight = spool.in_flight()?;
        let read = match spool.read(ReadLimits {
            max_records: usize::MAX,
            max_bytes: usize::MAX,
            through: Some(flight.ends),
        }) {
            Ok(read) => read,
            Err(err) => {
                tracing::error!(error = %err, seq = flight.seq, "cannot re-read the batch in flight; its records will go out under a new number");
                return None;
            }
        };
        if read.is_empty() {
            if let Err(err) = spool.ack(flight.ends) {
                tracing::warn!(error = %err, "cannot update the spool ledger");
            }
            return None;
        }
        tracing::info!(
            seq = flight.seq,
            records = read.records.len(),
            "resending the batch in flight at the last stop"
        );
        self.seal_with(flight.seq, read)
    }

    /// Waits for records, forms the next batch, numbers it and records it in flight.
    async fn next(&mut self, spool: &Spool, stop: &mut Stop) -> Next {
        let mut backoff = Backoff::new(self.config.backoff_initial, self.config.backoff_max);
        loop {
            if stop.stopping() {
                if !spool.has_pending() || stop.expired() {
                    return Next::Done;
                }
            } else if !spool.has_pending() {
                tokio::select! {
                    () = spool.wait_for_pending() => {}
                    () = stop.wait() => continue,
                }
            }
            let split = self.split_until.is_some();
            let limits = ReadLimits {
                max_records: if split {
                    1
                } else {
                    self.config.max_batch_records
                },
                max_bytes: self.config.max_batch_bytes,
                through: None,
            };
            let read = match spool.read(limits) {
                Ok(read) => read,
                Err(err) => {
                    tracing::error!(error = %err, "cannot read the spool");
                    if !stop.sleep(backoff.next_delay()).await {
                        return Next::Done;
                    }
                    continue;
                }
            };
            if read.is_empty() {
                // Only corrupt records were found: they are skipped for good.
                if let Err(err) = spool.ack(read.ends) {
                    tracing::warn!(error = %err, "cannot update the spool ledger");
                }
                continue;
            }
            if !split && !stop.stopping() && self.should_wait(&read) {
                let oldest = read.records[0].created_ms;
                let due = oldest.saturating_add(duration_ms(self.config.max_batch_age));
                let wait = Duration::from_millis(u64::try_from(due - now_ms()).unwrap_or(0));
                stop.sleep(wait.min(self.config.max_batch_age)).await;
                continue;
            }
            if let Some(until) = self.split_until {
                if read.ends[0] >= until[0] && read.ends[1] >= until[1] {
                    self.split_until = None;
                }
            }
            let seq = loop {
                match self.seq.assign_next() {
                    Ok(seq) => break seq,
                    Err(err) => {
                        tracing::error!(error = %err, "cannot persist the sequence number; holding batches until the state directory is writable");
                        if !stop.sleep(backoff.next_delay()).await {
                            return Next::Done;
                        }
                    }
                }
            };
            let ends = read.ends;
            let Some(sealed) = self.seal_with(seq, read) else {
                // Unencodable records (never expected): skipped, counted as refused.
                if let Err(err) = spool.ack(ends) {
                    tracing::warn!(error = %err, "cannot update the spool ledger");
                }
                continue;
            };
            loop {
                match spool.begin(seq, ends) {
                    Ok(()) => return Next::Batch(sealed),
                    Err(err) => {
                        tracing::error!(error = %err, "cannot record the batch in flight; holding it until the spool is writable");
                        if !stop.sleep(backoff.next_delay()).await {
                            return Next::Done;
                        }
                    }
                }
            }
        }
    }

    /// Whether a partial batch should wait for company (`shipper.max_batch_age`).
    fn should_wait(&self, read: &ReadBatch) -> bool {
        if self.config.max_batch_age.is_zero()
            || read.records.len() >= self.config.max_batch_records
            || read.json_bytes >= self.config.max_batch_bytes / 2
        {
            return false;
        }
        let oldest = read.records[0].created_ms;
        now_ms() < oldest.saturating_add(duration_ms(self.config.max_batch_age))
    }

    /// Merges records into one batch numbered `seq` and encodes it.
    fn seal_with(&mut self, seq: u64, read: ReadBatch) -> Option<Sealed> {
        let records = read.records.len();
        let oldest_ms = read.records.iter().map(|r| r.created_ms).min().unwrap_or(0);
        let (series, events, inventory) = merge(read.records);
        let batch = Batch {
            protocol_version: PROTOCOL_VERSION,
            agent: self.agent.clone(),
            seq,
            interval_ms: self.interval_ms,
            series,
            events,
            inventory: (!inventory.is_empty()).then_some(inventory),
        };
        let samples = batch.sample_count();
        match self.encoder.encode(&batch) {
            Ok((body, _)) => Some(Sealed {
                seq,
                ends: read.ends,
                body,
                records,
                samples,
                oldest_ms,
            }),
            Err(err) => {
                tracing::error!(seq, error = %err, "cannot encode batch; its records are skipped");
                ShipperStats::bump(&self.stats.rejected);
                None
            }
        }
    }

    fn delivered(&mut self, spool: &Spool, sealed: &Sealed) {
        ShipperStats::bump(&self.stats.delivered);
        self.stats
            .samples
            .fetch_add(sealed.samples as u64, Ordering::Relaxed);
        let now = now_ms();
        self.stats
            .lag_ms
            .store((now - sealed.oldest_ms).max(0), Ordering::Relaxed);
        self.stats.last_ack_ms.store(now, Ordering::Relaxed);
        if let Err(err) = spool.ack(sealed.ends) {
            // The collector has the batch; if the ledger cannot say so, the next start
            // resends it under the same number and the collector ignores the repeat.
            tracing::error!(seq = sealed.seq, error = %err, "cannot record an acknowledgement in the spool ledger");
        }
    }

    fn rejected(&mut self, spool: &Spool, sealed: Sealed, status: u16, message: &str) {
        if sealed.records > 1 {
            tracing::warn!(
                seq = sealed.seq,
                status,
                reason = message,
                records = sealed.records,
                "collector refused a merged batch; resending its records one by one to isolate the bad ones"
            );
            self.split_until = Some(sealed.ends);
            if let Err(err) = spool.abandon() {
                tracing::error!(error = %err, "cannot update the spool ledger");
            }
            return;
        }
        ShipperStats::bump(&self.stats.rejected);
        let stored = self.quarantine.store(sealed.seq, &sealed.body, message);
        let place = match &stored {
            Ok(path) => path.display().to_string(),
            Err(err) => format!("not kept: {err}"),
        };
        // Data refused by the collector: an operator must look.
        tracing::error!(seq = sealed.seq, status, reason = message, quarantine = %place,
            "collector refused the batch for good; quarantined, not retried");
        if let Err(err) = spool.ack(sealed.ends) {
            tracing::error!(error = %err, "cannot update the spool ledger");
        }
        let event = Event {
            ts: now_ms(),
            kind: EventKind::new(BATCH_QUARANTINED),
            severity: Severity::Error,
            component: Some(self.host.clone()),
            message: format!(
                "collector refused batch {} with HTTP {status}: {message}",
                sealed.seq
            ),
            attrs: BTreeMap::from([
                ("seq".to_owned(), sealed.seq.to_string()),
                ("status".to_owned(), status.to_string()),
                ("samples".to_owned(), sealed.samples.to_string()),
                ("reason".to_owned(), message.chars().take(300).collect()),
            ]),
        };
        let payload = crate::output::Payload {
            events: vec![event],
            ..Default::default()
        };
        if let Err(err) = spool.append(&payload, now_ms()) {
            tracing::warn!(error = %err, "cannot spool the quarantine report");
        }
    }

    /// The order in which to try endpoints for the next attempt round.
    fn order(&mut self) -> Vec<usize> {
        let n = self.endpoints.len();
        let mut order: Vec<usize> = (0..n).map(|i| (self.active + i) % n).collect();
        if self.active != 0 {
            if let Some(at) = self.failback_at {
                if Instant::now() >= at {
                    order.retain(|&i| i != 0);
                    order.insert(0, 0);
                    self.failback_at = Some(Instant::now() + self.config.failback_interval);
                }
            }
        }
        order
    }

    /// Tries the endpoints, backing off between rounds, until one accepts or rejects
    /// the batch or the flush deadline passes.
    async fn deliver(&mut self, seq: u64, body: &[u8], stop: &mut Stop) -> Outcome {
        let mut backoff = Backoff::new(self.config.backoff_initial, self.config.backoff_max);
        let mut failures = 0u32;
        loop {
            let mut wait_hint: Option<Duration> = None;
            for index in self.order() {
                if stop.expired() {
                    return Outcome::Abandoned;
                }
                let url = self.endpoints[index].clone();
                match self.attempt(index, body, stop).await {
                    AttemptResult::Done => {
                        if failures > 0 {
                            tracing::info!(seq, url, failures, "batch delivered after retries");
                        }
                        if index != self.active {
                            tracing::info!(url, "now shipping to this collector");
                            self.active = index;
                            self.failback_at = (index != 0)
                                .then(|| Instant::now() + self.config.failback_interval);
                        }
                        return Outcome::Delivered;
                    }
                    AttemptResult::Reject { status, message } => {
                        return Outcome::Rejected { status, message };
                    }
                    AttemptResult::Retry { after, why } => {
                        if failures == 0 {
                            tracing::warn!(seq, url, error = %why, "delivery failed; will retry");
                        } else {
                            tracing::debug!(seq, url, error = %why, failures, "delivery failed again");
                        }
                        failures += 1;
                        ShipperStats::bump(&self.stats.retries);
                        wait_hint = wait_hint.max(after);
                    }
                }
            }
            let delay = backoff.next_delay().max(wait_hint.unwrap_or_default());
            if !stop.sleep(delay).await {
                return Outcome::Abandoned;
            }
        }
    }

    async fn attempt(&self, index: usize, body: &[u8], stop: &mut Stop) -> AttemptResult {
        let url = &self.endpoints[index];
        let request = self
            .client
            .post(url)
            .header(CONTENT_TYPE, CONTENT_TYPE_JSON)
            .header(CONTENT_ENCODING, CONTENT_ENCODING_ZSTD)
            .body(body.to_vec())
            .send();
        let mut request = std::pin::pin!(request);
        // A stop signal during the request starts the flush deadline, which then bounds
        // the rest of the request instead of the full `shipper.timeout`.
        let response = loop {
            match stop.deadline {
                Some(deadline) => match tokio::time::timeout_at(deadline, &mut request).await {
                    Ok(response) => break response,
                    Err(_) => {
                        return AttemptResult::Retry {
                            after: None,
                            why: "shutdown flush deadline reached".into(),
                        }
                    }
                },
                None => tokio::select! {
                    response = &mut request => break response,
                    () = stop.wait() => {}
                },
            }
        };
        let response = match response {
            Ok(response) => response,
            Err(err) => {
                let after = match classify(Attempt::Transport) {
                    RetryAction::Retry { after } => after,
                    RetryAction::Done | RetryAction::Reject => None,
                };
                return AttemptResult::Retry {
                    after,
                    why: error_chain(&err),
                };
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        match classify(Attempt::Status {
            code: status,
            retry_after: retry_after.as_deref(),
        }) {
            RetryAction::Done => {
                let body = response.bytes().await.unwrap_or_default();
                match serde_json::from_slice::<IngestAck>(&body) {
                    Ok(ack) => tracing::debug!(
                        url,
                        seq = ack.seq,
                        duplicate = ack.duplicate,
                        "batch acknowledged"
                    ),
                    // 2xx is the durability promise; an odd body does not undo it.
                    Err(err) => {
                        tracing::debug!(url, error = %err, "2xx with an unreadable acknowledgement")
                    }
                }
                AttemptResult::Done
            }
            RetryAction::Retry { after } => AttemptResult::Retry {
                after,
                why: format!("HTTP {status}"),
            },
            RetryAction::Reject => {
                let text = response.text().await.unwrap_or_default();
                let message = match serde_json::from_str::<IngestError>(&text) {
                    Ok(err) => format!("{}: {}", err.reason, err.message),
                    Err(_) => text.chars().take(200).collect(),
                };
                AttemptResult::Reject { status, message }
            }
        }
    }
}

/// Merges records (oldest first) into one batch's series, events and inventory:
/// points of the same series are concatenated in order, inventory keeps the latest
/// item per component.
fn merge(mut records: Vec<Record>) -> (Vec<Series>, Vec<Event>, Vec<InventoryItem>) {
    // The steady state: one cycle's records, whose series the cycle already grouped and
    // sorted. Moving them saves rebuilding the map for every batch.
    let mut fast = Vec::new();
    if let Some(only) = single_sample_record(&records) {
        fast = std::mem::take(&mut records[only].data.series);
    }
    let mut series: BTreeMap<(String, BTreeMap<String, String>), Vec<Point>> = BTreeMap::new();
    let mut events = Vec::new();
    let mut inventory: Vec<InventoryItem> = Vec::new();
    for record in records {
        for s in record.data.series {
            series
                .entry((s.metric, s.labels))
                .or_default()
                .extend(s.points);
        }
        events.extend(record.data.events);
        for item in record.data.inventory {
            inventory.retain(|have| have.component != item.component);
            inventory.push(item);
        }
    }
    if !fast.is_empty() {
        return (fast, events, inventory);
    }
    let series = series
        .into_iter()
        .map(|((metric, labels), points)| Series {
            metric,
            labels,
            points,
        })
        .collect();
    (series, events, inventory)
}

/// The index of the only record carrying samples, when its series are strictly sorted
/// (grouped) and their points in time order, i.e. already what [`merge`] would build.
fn single_sample_record(records: &[Record]) -> Option<usize> {
    let mut with_series = records
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.data.series.is_empty());
    let (index, record) = with_series.next()?;
    if with_series.next().is_some() {
        return None;
    }
    let series = &record.data.series;
    let grouped = series
        .windows(2)
        .all(|w| (&w[0].metric, &w[0].labels) < (&w[1].metric, &w[1].labels));
    let ordered = series
        .iter()
        .all(|s| s.points.windows(2).all(|p| p[0].ts <= p[1].ts));
    (grouped && ordered).then_some(index)
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Shutdown state: before the stop signal, waits are unbounded; after it, everything is
/// bounded by the flush deadline.
struct Stop {
    rx: watch::Receiver<bool>,
    flush: Duration,
    deadline: Option<Instant>,
}

impl Stop {
    fn new(rx: watch::Receiver<bool>, flush: Duration) -> Self {
        Self {
            rx,
            flush,
            deadline: None,
        }
    }

    fn begin_flush(&mut self) {
        if self.deadline.is_none() {
            self.deadline = Some(Instant::now() + self.flush);
        }
    }

    /// Whether the stop signal has arrived (a dropped sender counts as one).
    fn stopping(&mut self) -> bool {
        if self.deadline.is_none() && (*self.rx.borrow() || self.rx.has_changed().is_err()) {
            self.begin_flush();
        }
        self.deadline.is_some()
    }

    fn expired(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Resolves when the stop signal arrives, and starts the flush deadline.
    async fn wait(&mut self) {
        // An error means the sender is gone, which is a stop too.
        let _ = self.rx.wait_for(|stopped| *stopped).await;
        self.begin_flush();
    }

    /// Sleeps for `delay`, or less if the flush deadline comes first; returns `false`
    /// when it stopped at the deadline.
    async fn sleep(&mut self, delay: Duration) -> bool {
        let until = Instant::now() + delay;
        loop {
            match self.deadline {
                Some(deadline) if deadline < until => {
                    tokio::time::sleep_until(deadline).await;
                    return false;
                }
                Some(_) => {
                    tokio::time::sleep_until(until).await;
                    return true;
                }
                None => tokio::select! {
                    () = tokio::time::sleep_until(until) => return true,
                    () = self.wait() => {}
                },
            }
        }
    }
}

/// An error with its sources, since reqwest's top-level message alone ("error sending
/// request") hides the cause (connection refused, DNS, TLS…).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Payload;
    use crate::spool::Lane;

    fn record(id: u64, ts: i64, inv: &str) -> Record {
        Record {
            lane: Lane::Bulk,
            id,
            created_ms: ts,
            data: Payload {
                series: vec![Series {
                    metric: "m".into(),
                    labels: BTreeMap::new(),
                    points: vec![Point {
                        ts,
                        value: ts as f64,
                    }],
                }],
                events: Vec::new(),
                inventory: vec![InventoryItem {
                    component: ComponentId::new(harbinger_shared::ComponentKind::Host, "h"),
                    attrs: BTreeMap::from([("v".to_owned(), inv.to_owned())]),
                }],
            },
        }
    }

    #[test]
    fn merge_concatenates_points_in_order_and_keeps_the_latest_inventory() {
        let (series, events, inventory) = merge(vec![
            record(1, 10, "a"),
            record(2, 20, "b"),
            record(3, 30, "c"),
        ]);
        assert_eq!(series.len(), 1);
        let ts: Vec<_> = series[0].points.iter().map(|p| p.ts).collect();
        assert_eq!(ts, [10, 20, 30]);
        assert!(events.is_empty());
        assert_eq!(inventory.len(), 1);
        assert_eq!(inventory[0].attrs["v"], "c");
    }

    fn series(metric: &str, label: &str, ts: &[i64]) -> Series {
        Series {
            metric: metric.into(),
            labels: BTreeMap::from([("l".to_owned(), label.to_owned())]),
            points: ts.iter().map(|&ts| Point { ts, value: 1.0 }).collect(),
        }
    }

    #[test]
    fn a_single_record_is_moved_as_is_only_when_already_grouped() {
        let mut one = record(1, 10, "a");
        one.data.series = vec![
            series("a", "1", &[10]),
            series("a", "2", &[10]),
            series("b", "1", &[10]),
        ];
        let mut hardware = record(2, 10, "b");
        hardware.data.series.clear();
        let (merged, _, inventory) = merge(vec![one.clone(), hardware]);
        assert_eq!(merged, one.data.series);
        assert_eq!(inventory[0].attrs["v"], "b", "inventory still merged");

        // Duplicates or disorder inside the one record still go through the map.
        let mut messy = record(1, 10, "a");
        messy.data.series = vec![
            series("b", "1", &[20]),
            series("a", "1", &[10]),
            series("b", "1", &[10]),
        ];
        let (merged, _, _) = merge(vec![messy]);
        assert_eq!(
            merged,
            vec![series("a", "1", &[10]), series("b", "1", &[20, 10])]
        );
    }
}
