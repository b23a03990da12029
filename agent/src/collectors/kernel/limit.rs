//! Rate limiting of kernel events: a storm of the same message becomes one event with
//! a count instead of thousands.
//!
//! Per key (event kind and subject), the first occurrence is reported at once; what
//! follows within the window is counted and reported as one summary event when the
//! window ends. Time is the cycle timestamp, so the outcome does not depend on how
//! fast the agent runs.

use harbinger_shared::Event;
use std::collections::HashMap;

/// Keys kept at most; beyond this, new keys are reported unlimited rather than
/// growing memory without bound (a storm over thousands of distinct devices is rare).
const MAX_KEYS: usize = 4096;

/// (event kind, subject)
pub type Key = (String, String);

struct Window {
    start_ms: i64,
    suppressed: u64,
    /// The last suppressed event, reused for the summary.
    last: Option<Event>,
}

pub struct RateLimiter {
    window_ms: i64,
    windows: HashMap<Key, Window>,
}

impl RateLimiter {
    pub fn new(window_ms: i64) -> Self {
        Self {
            window_ms,
            windows: HashMap::new(),
        }
    }

    /// Offers `count` occurrences seen at cycle `now_ms`, summarised by `event`; returns
    /// the event with its `count` attribute when it should be sent now.
    pub fn offer(&mut self, now_ms: i64, key: Key, count: u64, mut event: Event) -> Option<Event> {
        if let Some(window) = self.windows.get_mut(&key) {
            if now_ms < window.start_ms + self.window_ms {
                window.suppressed += count;
                window.last = Some(event);
                return None;
            }
        }
        if self.windows.len() < MAX_KEYS || self.windows.contains_key(&key) {
            self.windows.insert(
                key,
                Window {
                    start_ms: now_ms,
                    suppressed: 0,
                    last: None,
                },
            );
        }
        event.attrs.insert("count".to_owned(), count.to_string());
        Some(event)
    }

    /// Summaries of windows that ended by `now_ms`. A window that suppressed something
    /// starts again, so an ongoing storm stays at one event per window.
    pub fn flush(&mut self, now_ms: i64) -> Vec<Event> {
        let mut out = Vec::new();
        let window_ms = self.window_ms;
        self.windows.retain(|_, window| {
            if now_ms < window.start_ms + window_ms {
                return true;
            }
            match window.last.take() {
                Some(mut event) if window.suppressed > 0 => {
                    event
                        .attrs
                        .insert("count".to_owned(), window.suppressed.to_string());
                    event
                        .attrs
                        .insert("rate_limited".to_owned(), "true".to_owned());
                    event.message = format!(
                        "{} similar kernel messages in {}s; last: {}",
                        window.suppressed,
                        window_ms / 1000,
                        event.message
                    );
                    out.push(event);
                    window.start_ms = now_ms;
                    window.suppressed = 0;
                    true
                }
                _ => false,
            }
        });
        out.sort_by_key(|e| e.ts);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harbinger_shared::{EventKind, Severity};

    fn event(ts: i64) -> Event {
        Event {
            ts,
            kind: EventKind::new(EventKind::DISK_IO_ERROR),
            severity: Severity::Error,
            component: None,
            message: "I/O error, dev sdb".into(),
            attrs: Default::default(),
        }
    }

    fn key() -> Key {
        (EventKind::DISK_IO_ERROR.to_owned(), "sdb".to_owned())
    }

    #[test]
    fn a_storm_is_one_event_then_one_summary() {
        let mut limiter = RateLimiter::new(60_000);
        let first = limiter
            .offer(0, key(), 3, event(1))
            .expect("first goes out");
        assert_eq!(first.attrs["count"], "3");
        for i in 1..5 {
            assert!(limiter.offer(i * 10_000, key(), 100, event(i)).is_none());
        }
        assert!(limiter.flush(50_000).is_empty(), "window still open");
        let summary = limiter.flush(60_000);
        assert_eq!(summary.len(), 1);
        assert_eq!(summary[0].attrs["count"], "400");
        assert_eq!(summary[0].attrs["rate_limited"], "true");
        // The storm goes on: still limited in the next window.
        assert!(limiter.offer(70_000, key(), 1, event(7)).is_none());
        // A quiet window ends the limiting.
        assert_eq!(limiter.flush(120_000).len(), 1);
        assert!(limiter.flush(180_000).is_empty());
        assert!(limiter.offer(190_000, key(), 1, event(19)).is_some());
    }

    #[test]
    fn different_subjects_are_limited_apart() {
        let mut limiter = RateLimiter::new(60_000);
        assert!(limiter.offer(0, key(), 1, event(0)).is_some());
        let other = (EventKind::DISK_IO_ERROR.to_owned(), "sdc".to_owned());
        assert!(limiter.offer(0, other, 1, event(0)).is_some());
    }
}
