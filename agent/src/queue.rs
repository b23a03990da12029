//! The bounded in-memory queue between the scheduler and the shipper.
//!
//! When the collector is away longer than the queue holds, the oldest batch is dropped
//! and counted, and the shipper reports the count in a `spool_dropped` event. A disk
//! spool replaces this type in a later issue; it keeps the same small interface.

use crate::output::Payload;
use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use tokio::sync::Notify;

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
            // Logged once per run of drops; the count reaches the collector in the
            // `spool_dropped` event, and one line per interval would flood the journal.
            Some(1) => tracing::error!(
                capacity = self.capacity,
                "batch queue full: dropping the oldest batches (collector unreachable for too long)"
            ),
            Some(count) => {
                tracing::debug!(count, "batch queue still full: dropped the oldest batch")
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

    /// The oldest payload, waiting for one. Meant for a single consumer (the shipper):
    /// `Notify` keeps one permit, so a push between the check and the wait is not lost.
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
}
