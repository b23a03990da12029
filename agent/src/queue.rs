//! The small in-memory hand-off between the scheduler and the disk spool, and the
//! loop ([`feed`]) that moves each cycle's payload into the spool.
//!
//! The scheduler never waits on the disk or the network: it pushes here and carries
//! on. The queue only fills when the spool cannot be written (disk full, I/O errors);
//! then the oldest payload is dropped and counted, and the count reaches the
//! collector in a `spool_dropped` event like any other spool loss.

use crate::output::Payload;
use crate::scheduler::now_ms;
use crate::self_metrics::SelfMetrics;
use crate::shipper::retry::Backoff;
use crate::spool::Spool;
use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// A bounded FIFO of cycle payloads with drop-oldest overflow.
#[derive(Debug)]
pub struct BatchQueue {
    inner: Mutex<Inner>,
    notify: Notify,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Inner {
    items: VecDeque<Payload>,
    /// Drops not yet reported in a `spool_dropped` event.
    unreported_drops: u64,
    total_drops: u64,
}

impl BatchQueue {
    /// `capacity` is clamped to at least one.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            notify: Notify::new(),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The critical sections cannot panic half-way, so a poisoned lock still holds
        // consistent data.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends a payload; when full, drops the oldest. Returns whether one was dropped.
    pub fn push(&self, payload: Payload) -> bool {
        let dropped = {
            let mut inner = self.lock();
            let dropped = if inner.items.len() >= self.capacity {
                inner.items.pop_front();
                inner.unreported_drops += 1;
                inner.total_drops += 1;
                Some(inner.unreported_drops)
            } else {
                None
            };
            inner.items.push_back(payload);
            dropped
        };
        match dropped {
            // Logged once per run of drops; one line per interval would flood the journal.
            Some(1) => tracing::error!(
                capacity = self.capacity,
                "hand-off queue full: dropping the oldest payloads (the spool cannot be written)"
            ),
            Some(count) => {
                tracing::debug!(
                    count,
                    "hand-off queue still full: dropped the oldest payload"
                )
            }
            None => {}
        }
        self.notify.notify_one();
        dropped.is_some()
    }

    /// The oldest payload, without waiting.
    pub fn try_pop(&self) -> Option<Payload> {
        self.lock().items.pop_front()
    }

    /// Puts a payload back at the front (its append failed; it is retried first).
    fn unpop(&self, payload: Payload) {
        let mut inner = self.lock();
        if inner.items.len() >= self.capacity {
            inner.unreported_drops += 1;
            inner.total_drops += 1;
            return;
        }
        inner.items.push_front(payload);
    }

    /// The oldest payload, waiting for one. Meant for a single consumer: `Notify`
    /// keeps one permit, so a push between the check and the wait is not lost.
    pub async fn pop(&self) -> Payload {
        loop {
            if let Some(payload) = self.try_pop() {
                return payload;
            }
            self.notify.notified().await;
        }
    }

    /// Takes the count of drops not yet reported, resetting it.
    pub fn take_unreported_drops(&self) -> u64 {
        std::mem::take(&mut self.lock().unreported_drops)
    }

    pub fn total_drops(&self) -> u64 {
        self.lock().total_drops
    }

    pub fn len(&self) -> usize {
        self.lock().items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The latest timestamp in a payload, to name it in logs.
fn payload_ts(payload: &Payload) -> i64 {
    let series = payload
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.ts));
    let events = payload.events.iter().map(|e| e.ts);
    series.chain(events).max().unwrap_or(0)
}

/// Resolves when `done` turns true (or its sender is gone), holding no borrow after.
async fn stopped(done: &mut watch::Receiver<bool>) {
    let _ = done.wait_for(|d| *d).await;
}

/// Moves payloads from `queue` into `spool` until `done` turns true (the scheduler has
/// stopped), then appends what is left and returns. `tap` sees every payload, for the
/// local `/metrics` endpoint.
pub async fn feed(
    queue: &BatchQueue,
    spool: &Spool,
    mut done: watch::Receiver<bool>,
    tap: Option<&SelfMetrics>,
) {
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    let mut failing = false;
    loop {
        let finished = *done.borrow();
        let payload = match queue.try_pop() {
            Some(payload) => payload,
            None if finished => return,
            None => tokio::select! {
                payload = queue.pop() => payload,
                // An error means the sender is gone, which also means stop.
                () = stopped(&mut done) => continue,
            },
        };
        spool.note_lost(queue.take_unreported_drops());
        if let Some(tap) = tap {
            tap.observe(&payload);
        }
        match spool.append(&payload, now_ms()) {
            Ok(report) => {
                if failing {
                    tracing::info!("spool writable again");
                    failing = false;
                    backoff.reset();
                }
                tracing::debug!(
                    ts = payload_ts(&payload),
                    series = payload.series.len(),
                    evicted = report.evicted,
                    refused = report.refused,
                    "payload spooled"
                );
            }
            Err(err) => {
                if !failing {
                    // Nothing is lost yet (the payload waits in memory), but it will be
                    // if the disk stays unwritable: an operator must look.
                    tracing::error!(error = %err, "cannot write to the spool; holding payloads in memory");
                    failing = true;
                }
                let finished = *done.borrow();
                if finished {
                    tracing::error!(
                        ts = payload_ts(&payload),
                        "stopping with a payload the spool could not take; it is lost"
                    );
                    spool.note_lost(1);
                    continue;
                }
                queue.unpop(payload);
                let delay = backoff.next_delay().max(Duration::from_millis(50));
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = stopped(&mut done) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harbinger_shared::{Point, Series};

    fn payload(ts: i64) -> Payload {
        Payload {
            series: vec![Series {
                metric: "m".into(),
                labels: Default::default(),
                points: vec![Point { ts, value: 1.0 }],
            }],
            ..Payload::default()
        }
    }

    #[test]
    fn drops_the_oldest_when_full_and_counts() {
        let queue = BatchQueue::new(2);
        assert!(!queue.push(payload(1)));
        assert!(!queue.push(payload(2)));
        assert!(queue.push(payload(3)));
        assert_eq!(queue.len(), 2);
        assert_eq!(queue.take_unreported_drops(), 1);
        assert_eq!(queue.take_unreported_drops(), 0, "reset after taking");
        assert_eq!(queue.total_drops(), 1);
        let first = queue.try_pop().expect("item");
        assert_eq!(first.series[0].points[0].ts, 2, "oldest was dropped");
    }

    #[tokio::test]
    async fn pop_waits_for_a_push() {
        let queue = std::sync::Arc::new(BatchQueue::new(4));
        let producer = queue.clone();
        let handle = tokio::spawn(async move {
            tokio::task::yield_now().await;
            producer.push(payload(7));
        });
        let got = queue.pop().await;
        assert_eq!(got.series[0].points[0].ts, 7);
        handle.await.expect("producer");
    }

    #[tokio::test]
    async fn feed_moves_everything_into_the_spool_and_drains_on_stop() {
        let dir = tempfile::tempdir().expect("tempdir");
        let host = harbinger_shared::ComponentId::new(harbinger_shared::ComponentKind::Host, "h");
        let spool =
            Spool::open(dir.path(), crate::spool::SpoolConfig::default(), host).expect("spool");
        let queue = BatchQueue::new(8);
        for ts in 1..=3 {
            queue.push(payload(ts));
        }
        let (tx, rx) = watch::channel(true);
        tokio::time::timeout(Duration::from_secs(5), feed(&queue, &spool, rx, None))
            .await
            .expect("feed returns once drained");
        drop(tx);
        assert!(queue.is_empty());
        assert_eq!(spool.stats().pending, 3);
    }
}
