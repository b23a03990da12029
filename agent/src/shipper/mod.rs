//! The shipper: numbers queued payloads, encodes them as protocol batches and delivers
//! them to a collector, one at a time and in sequence order.
//!
//! Delivery is at-least-once: a batch is retried (with backoff, across the configured
//! collectors) until a collector answers 2xx, which means it is durable there; the
//! collector deduplicates on `(host_id, seq)`. A permanent refusal (4xx other than
//! 408/429) drops that batch, logs the collector's reason and moves on.

pub mod retry;

use crate::config::{AgentConfig, ShipperConfig};
use crate::identity::Identity;
use crate::output::Payload;
use crate::queue::BatchQueue;
use crate::scheduler::now_ms;
use crate::seq::SeqStore;
use harbinger_shared::wire::{IngestAck, IngestError, CONTENT_ENCODING_ZSTD, CONTENT_TYPE_JSON};
use harbinger_shared::{
    AgentIdentity, Batch, ComponentId, Event, EventKind, Severity, PROTOCOL_VERSION,
};
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use retry::{classify, Attempt, Backoff, RetryAction};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
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

/// Counters of what happened to batches, shared with whoever wants to observe them.
#[derive(Debug, Default)]
pub struct ShipperStats {
    delivered: AtomicU64,
    rejected: AtomicU64,
    retries: AtomicU64,
    abandoned: AtomicU64,
}

/// A point-in-time copy of [`ShipperStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Batches a collector acknowledged.
    pub delivered: u64,
    /// Batches refused permanently and dropped.
    pub rejected: u64,
    /// Failed attempts that were retried.
    pub retries: u64,
    /// Batches given up at shutdown, when the flush deadline passed.
    pub abandoned: u64,
}

impl ShipperStats {
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            delivered: self.delivered.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            abandoned: self.abandoned.load(Ordering::Relaxed),
        }
    }

    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Delivers batches to the configured collectors.
pub struct Shipper {
    client: reqwest::Client,
    endpoints: Vec<String>,
    /// The endpoint that last accepted a batch; tried first.
    preferred: usize,
    agent: AgentIdentity,
    host: ComponentId,
    interval_ms: u64,
    seq: SeqStore,
    config: ShipperConfig,
    stats: Arc<ShipperStats>,
}

enum Sealed {
    Ready { seq: u64, body: Vec<u8> },
    Skip,
    Abandon,
}

enum Outcome {
    Delivered,
    Rejected,
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
            preferred: 0,
            agent: identity.wire(),
            host: identity.host_component(),
            interval_ms: u64::try_from(config.interval.as_millis()).unwrap_or(u64::MAX),
            seq,
            config: config.shipper.clone(),
            stats: Arc::default(),
        })
    }

    pub fn stats(&self) -> Arc<ShipperStats> {
        self.stats.clone()
    }

    /// Delivers queued payloads until `stop` turns true, then keeps delivering for at
    /// most `shipper.flush_timeout` and returns.
    pub async fn run(mut self, queue: &BatchQueue, stop: watch::Receiver<bool>) {
        let mut stop = Stop::new(stop, self.config.flush_timeout);
        loop {
            let payload = if stop.stopping() {
                match queue.try_pop() {
                    Some(payload) => payload,
                    None => break,
                }
            } else {
                tokio::select! {
                    payload = queue.pop() => payload,
                    () = stop.wait() => continue,
                }
            };
            let (seq, body) = match self.seal(payload, queue, &mut stop).await {
                Sealed::Ready { seq, body } => (seq, body),
                Sealed::Skip => continue,
                Sealed::Abandon => {
                    ShipperStats::bump(&self.stats.abandoned);
                    break;
                }
            };
            match self.deliver(seq, &body, &mut stop).await {
                Outcome::Delivered => ShipperStats::bump(&self.stats.delivered),
                Outcome::Rejected => ShipperStats::bump(&self.stats.rejected),
                Outcome::Abandoned => {
                    ShipperStats::bump(&self.stats.abandoned);
                    break;
                }
            }
        }
        let left = queue.len() as u64;
        let abandoned = self.stats.snapshot().abandoned + left;
        if abandoned > 0 {
            // The in-memory queue dies with the process; the disk spool will keep these.
            tracing::error!(
                batches = abandoned,
                "stopping with undelivered batches; they are lost"
            );
        }
    }

    /// Gives the payload its sequence number (persisted first) and encodes it.
    async fn seal(&mut self, payload: Payload, queue: &BatchQueue, stop: &mut Stop) -> Sealed {
        let mut events = payload.events;
        let dropped = queue.take_unreported_drops();
        if dropped > 0 {
            events.push(Event {
                ts: now_ms(),
                kind: EventKind::new(EventKind::SPOOL_DROPPED),
                severity: Severity::Warning,
                component: Some(self.host.clone()),
                message: format!(
                    "agent queue was full: dropped the {dropped} oldest batch(es) while the collector was unreachable"
                ),
                attrs: BTreeMap::from([("dropped".to_owned(), dropped.to_string())]),
            });
        }
        let mut backoff = Backoff::new(self.config.backoff_initial, self.config.backoff_max);
        let seq = loop {
            match self.seq.assign_next() {
                Ok(seq) => break seq,
                Err(err) => {
                    tracing::error!(error = %err, "cannot persist the sequence number; holding batches until the state directory is writable");
                    if !stop.sleep(backoff.next_delay()).await {
                        return Sealed::Abandon;
                    }
                }
            }
        };
        let batch = Batch {
            protocol_version: PROTOCOL_VERSION,
            agent: self.agent.clone(),
            seq,
            interval_ms: self.interval_ms,
            series: payload.series,
            events,
            inventory: (!payload.inventory.is_empty()).then_some(payload.inventory),
        };
        match batch.encode_zstd() {
            Ok(body) => Sealed::Ready { seq, body },
            Err(err) => {
                tracing::error!(seq, error = %err, "cannot encode batch; dropped");
                ShipperStats::bump(&self.stats.rejected);
                Sealed::Skip
            }
        }
    }

    /// Tries every endpoint in turn, starting with the preferred one, backing off
    /// between rounds, until one accepts or rejects the batch or the deadline passes.
    async fn deliver(&mut self, seq: u64, body: &[u8], stop: &mut Stop) -> Outcome {
        let mut backoff = Backoff::new(self.config.backoff_initial, self.config.backoff_max);
        let mut failures = 0u32;
        loop {
            let mut wait_hint: Option<Duration> = None;
            for offset in 0..self.endpoints.len() {
                if stop.expired() {
                    return Outcome::Abandoned;
                }
                let index = (self.preferred + offset) % self.endpoints.len();
                let url = &self.endpoints[index];
                match self.attempt(index, body, stop).await {
                    AttemptResult::Done => {
                        if failures > 0 {
                            tracing::info!(seq, url, failures, "batch delivered after retries");
                        }
                        self.preferred = index;
                        return Outcome::Delivered;
                    }
                    AttemptResult::Reject { status, message } => {
                        // Data loss by decision of the collector: an operator must look.
                        tracing::error!(seq, url, status, reason = %message, "collector rejected the batch; dropped, not retried");
                        return Outcome::Rejected;
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
