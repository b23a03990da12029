//! The outbox worker: the ONLY code that sends notifications.
//!
//! Incident changes write their notifications into the outbox in the same transaction
//! (see `crate::incident`), so a notification exists if and only if its change was
//! stored. This worker delivers due rows in id order, skipping a row while an earlier
//! row of the same incident and notifier is still pending (so a service desk never sees
//! `resolve` before `open`). Delivery is at-least-once: a crash between a receiver's 2xx
//! and `outbox_delivered` resends the row with the same `Idempotency-Key`.
//!
//! Each notifier may have a rate limit (PagerDuty documents about 120 events per minute
//! per routing key): a token bucket per notifier, and a row whose notifier has no token
//! left simply stays due until a later pass. Permanent refusals (4xx other than 429) mark
//! the row failed, which the incident API shows with the error and `/metrics` counts.

use crate::config::OutboxConfig;
use crate::notify::{classify, DeliveryContext, Notification, Notifier, RetryAction};
use crate::state::now_ms;
use crate::store::{DbError, OutboxRow, Store};
use crate::telemetry::Telemetry;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};
use tracing::Instrument;

/// Rows fetched per store round trip.
const PAGE: i64 = 100;
/// A receiver's `Retry-After` is honoured up to this long.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3_600);

pub struct OutboxWorker {
    store: Arc<dyn Store>,
    notifiers: HashMap<String, Arc<dyn Notifier>>,
    config: OutboxConfig,
    telemetry: Arc<Telemetry>,
    wake: Arc<Notify>,
    limits: Mutex<HashMap<String, TokenBucket>>,
}

/// A per-minute allowance refilled continuously: `capacity` tokens at most, one per
/// delivery attempt.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    tokens: f64,
    per_second: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn per_minute(limit: u32, now: Instant) -> Self {
        let capacity = f64::from(limit.max(1));
        Self {
            capacity,
            tokens: capacity,
            per_second: capacity / 60.0,
            last: now,
        }
    }

    /// Takes a token if one is available at `now`.
    pub fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl OutboxWorker {
    pub fn new(
        store: Arc<dyn Store>,
        notifiers: &[Arc<dyn Notifier>],
        config: OutboxConfig,
        telemetry: Arc<Telemetry>,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            notifiers: notifiers
                .iter()
                .map(|n| (n.name().to_owned(), Arc::clone(n)))
                .collect(),
            limits: Mutex::new(
                notifiers
                    .iter()
                    .filter_map(|n| {
                        n.rate_limit_per_minute().map(|limit| {
                            (
                                n.name().to_owned(),
                                TokenBucket::per_minute(limit, Instant::now()),
                            )
                        })
                    })
                    .collect(),
            ),
            config,
            telemetry,
            wake,
        }
    }

    /// Whether the row's notifier may deliver now (takes a token if so).
    fn allowed(&self, notifier: &str) -> bool {
        let Ok(mut limits) = self.limits.lock() else {
            return true;
        };
        match limits.get_mut(notifier) {
            Some(bucket) => bucket.try_take(Instant::now()),
            None => true,
        }
    }

    /// Runs until `stop` turns true. A delivery in flight is finished first, so a
    /// graceful shutdown never leaves a delivered row unmarked.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        tracing::debug!(notifiers = self.notifiers.len(), "outbox worker started");
        loop {
            if *stop.borrow() {
                break;
            }
            if let Err(error) = self.pass(&stop).await {
                tracing::warn!(%error, "outbox pass failed; retrying at the next poll");
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.config.poll_interval.as_duration()) => {}
                _ = stop.changed() => {}
            }
        }
        tracing::debug!("outbox worker stopped");
    }

    /// Delivers every row that is due now and not blocked by an earlier one.
    async fn pass(&self, stop: &watch::Receiver<bool>) -> Result<(), DbError> {
        loop {
            let rows = self.store.due_outbox(now_ms(), PAGE).await?;
            let full_page = rows.len() as i64 >= PAGE;
            let mut delivered_any = false;
            for row in rows {
                if *stop.borrow() {
                    return Ok(());
                }
                if self.store.outbox_blocked(&row).await? {
                    continue;
                }
                if !self.allowed(&row.notifier) {
                    tracing::debug!(outbox_id = row.id, notifier = %row.notifier, "rate limited; stays due");
                    continue;
                }
                delivered_any |= self.attempt(&row).await?;
            }
            if !full_page || !delivered_any {
                return Ok(());
            }
        }
    }

    /// One delivery attempt and its bookkeeping. Returns whether the row was delivered.
    async fn attempt(&self, row: &OutboxRow) -> Result<bool, DbError> {
        let span = tracing::info_span!(
            "deliver",
            outbox_id = row.id,
            incident_id = row.incident_id,
            notifier = %row.notifier,
            action = %row.action,
            attempt = row.attempts + 1
        );
        self.attempt_in_span(row).instrument(span).await
    }

    async fn attempt_in_span(&self, row: &OutboxRow) -> Result<bool, DbError> {
        let Some(notifier) = self.notifiers.get(&row.notifier) else {
            let message = format!("notifier {:?} is no longer configured", row.notifier);
            tracing::error!(%message, "notification cannot be delivered");
            self.store.outbox_failed(row.id, &message).await?;
            self.telemetry.outbox_failed();
            return Ok(false);
        };
        let notification = Notification {
            incident_id: row.incident_id,
            idempotency_key: row.idempotency_key.clone(),
            action: row.action.clone(),
            body: delivery_body(row),
        };
        let context = DeliveryContext {
            store: Arc::clone(&self.store),
        };
        match notifier.deliver(&notification, &context).await {
            Ok(receipt) => {
                self.store.outbox_delivered(row.id, now_ms()).await?;
                self.telemetry.outbox_delivered();
                tracing::info!(
                    key = %row.idempotency_key,
                    ticket = receipt.ticket.as_deref().unwrap_or(""),
                    detail = %receipt.detail,
                    "notification delivered"
                );
                Ok(true)
            }
            Err(error) => {
                let message = error.to_string();
                match classify(&error) {
                    RetryAction::Retry { after } => {
                        let delay = retry_delay(row.attempts, &self.config, after, fastrand::f64());
                        let next = now_ms()
                            .saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
                        self.store.outbox_retry(row.id, next, &message).await?;
                        self.telemetry.outbox_retried();
                        tracing::warn!(%message, retry_in_ms = delay.as_millis() as u64, "delivery failed; will retry");
                    }
                    RetryAction::Permanent => {
                        self.store.outbox_failed(row.id, &message).await?;
                        self.telemetry.outbox_failed();
                        // An operator must act: the service desk refused the ticket.
                        tracing::error!(%message, "delivery refused; not retrying");
                    }
                }
                Ok(false)
            }
        }
    }
}

/// Exponential backoff with full jitter (`jitter` in `[0, 1)`): a random delay up to
/// `min(backoff_max, backoff_initial * 2^attempts)`, but never shorter than the
/// receiver's `Retry-After`.
pub fn retry_delay(
    attempts: i64,
    config: &OutboxConfig,
    retry_after: Option<Duration>,
    jitter: f64,
) -> Duration {
    let exponent = u32::try_from(attempts.clamp(0, 30)).unwrap_or(30);
    let ceiling = config
        .backoff_initial
        .as_duration()
        .saturating_mul(1u32 << exponent)
        .min(config.backoff_max.as_duration());
    let jittered = ceiling.mul_f64(jitter.clamp(0.0, 1.0));
    match retry_after {
        Some(after) => jittered.max(after.min(MAX_RETRY_AFTER)),
        None => jittered,
    }
}

/// The body as sent: the stored payload with the store-filled placeholders turned back
/// into the numbers the incident API also returns.
pub fn delivery_body(row: &OutboxRow) -> Value {
    let mut body = row.payload.clone();
    if let Value::Object(map) = &mut body {
        map.insert(
            "idempotency_key".into(),
            Value::String(row.idempotency_key.clone()),
        );
        if let Some(Value::Object(incident)) = map.get_mut("incident") {
            incident.insert("id".into(), Value::from(row.incident_id));
            if let Some(Value::String(revision)) = incident.get("revision") {
                if let Ok(revision) = revision.parse::<i64>() {
                    incident.insert("revision".into(), Value::from(revision));
                }
            }
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duration::HumanDuration;
    use serde_json::json;

    fn config() -> OutboxConfig {
        OutboxConfig {
            poll_interval: HumanDuration::from_secs(1),
            backoff_initial: HumanDuration::from_millis(100),
            backoff_max: HumanDuration::from_millis(1_000),
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_ceiling_with_full_jitter() {
        let c = config();
        assert_eq!(retry_delay(0, &c, None, 1.0), Duration::from_millis(100));
        assert_eq!(retry_delay(2, &c, None, 1.0), Duration::from_millis(400));
        assert_eq!(retry_delay(10, &c, None, 1.0), Duration::from_millis(1_000));
        assert_eq!(retry_delay(10, &c, None, 0.5), Duration::from_millis(500));
        assert_eq!(retry_delay(3, &c, None, 0.0), Duration::ZERO);
        assert_eq!(
            retry_delay(1_000, &c, None, 1.0),
            Duration::from_millis(1_000)
        );
    }

    #[test]
    fn token_bucket_allows_the_limit_then_refills_with_time() {
        let start = Instant::now();
        let mut bucket = TokenBucket::per_minute(120, start);
        let taken = (0..200).filter(|_| bucket.try_take(start)).count();
        assert_eq!(taken, 120, "a full bucket holds one minute's allowance");
        assert!(!bucket.try_take(start + Duration::from_millis(100)));
        // 120 per minute is 2 per second.
        assert!(bucket.try_take(start + Duration::from_millis(600)));
        assert!(!bucket.try_take(start + Duration::from_millis(650)));
    }

    #[test]
    fn retry_after_is_a_floor() {
        let c = config();
        let after = Some(Duration::from_secs(30));
        assert_eq!(retry_delay(0, &c, after, 0.3), Duration::from_secs(30));
    }

    #[test]
    fn body_gets_numeric_id_and_revision() {
        let row = OutboxRow {
            id: 1,
            incident_id: 12,
            notifier: "n".into(),
            action: "open".into(),
            idempotency_key: "k#1/open/1".into(),
            payload: json!({"incident": {"id": "12", "revision": "1", "title": "t"}}),
            attempts: 0,
            next_attempt_ms: 0,
            created_ms: 0,
            delivered_ms: None,
            failed: false,
            last_error: None,
        };
        let body = delivery_body(&row);
        assert_eq!(body["incident"]["id"], json!(12));
        assert_eq!(body["incident"]["revision"], json!(1));
        assert_eq!(body["idempotency_key"], json!("k#1/open/1"));
    }
}
