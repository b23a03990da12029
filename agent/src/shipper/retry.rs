//! Retry policy: *whether* to retry (one classification function) kept apart from
//! *when* (exponential backoff with full jitter), as in vector's `RetryLogic`.
//!
//! The classification follows the protocol (`docs/protocol.md`, "Answers"): network
//! errors, timeouts, 408, 429 and 5xx are temporary; any other non-2xx answer is a
//! verdict on the batch itself and retrying it would fail the same way forever.

use std::time::Duration;

/// What one delivery attempt ended with, as far as the retry policy cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt<'a> {
    /// No HTTP answer: connection refused or reset, DNS failure, TLS failure, timeout.
    Transport,
    /// An HTTP answer; `retry_after` is the raw `Retry-After` header, if any.
    Status {
        code: u16,
        retry_after: Option<&'a str>,
    },
}

/// What to do about an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAction {
    /// Delivered (the collector made the batch durable).
    Done,
    /// Temporary failure: try again, not before `after` when the server said so.
    Retry { after: Option<Duration> },
    /// Permanent refusal of this batch: drop it, never retry.
    Reject,
}

/// Upper bound on an honoured `Retry-After`, so a misconfigured proxy cannot park the
/// agent for a day.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

/// The single place that decides between done, retry and reject.
pub fn classify(attempt: Attempt<'_>) -> RetryAction {
    match attempt {
        Attempt::Transport => RetryAction::Retry { after: None },
        Attempt::Status { code, retry_after } => match code {
            200..=299 => RetryAction::Done,
            408 | 429 | 500..=599 => RetryAction::Retry {
                after: retry_after.and_then(parse_retry_after),
            },
            _ => RetryAction::Reject,
        },
    }
}

/// `Retry-After` in delta-seconds, capped at [`MAX_RETRY_AFTER`]. The HTTP-date form is
/// not honoured (our collector never sends it); the backoff applies instead.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let seconds: u64 = value.trim().parse().ok()?;
    Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
}

/// Exponential backoff with full jitter: the n-th delay is uniform in
/// `[0, min(max, initial × 2ⁿ)]`, which spreads a fleet's retries after a collector
/// outage instead of having every agent knock at the same instants.
#[derive(Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
    rng: fastrand::Rng,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self::with_rng(initial, max, fastrand::Rng::new())
    }

    /// With a seeded generator, for reproducible tests.
    pub fn with_rng(initial: Duration, max: Duration, rng: fastrand::Rng) -> Self {
        Self {
            initial,
            max: max.max(initial),
            attempt: 0,
            rng,
        }
    }

    /// The cap of the next delay (before jitter).
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// The next delay, and advances the attempt count.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = u64::try_from(self.ceiling().as_millis()).unwrap_or(u64::MAX);
        self.attempt = self.attempt.saturating_add(1);
        Duration::from_millis(self.rng.u64(0..=ceiling))
    }

    /// Back to the initial delay (after a success).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, retry_after: Option<&str>) -> RetryAction {
        classify(Attempt::Status { code, retry_after })
    }

    #[test]
    fn classification_follows_the_protocol() {
        assert_eq!(status(200, None), RetryAction::Done);
        assert_eq!(status(204, None), RetryAction::Done);
        assert_eq!(
            classify(Attempt::Transport),
            RetryAction::Retry { after: None }
        );
        assert_eq!(status(503, None), RetryAction::Retry { after: None });
        assert_eq!(status(500, Some("x")), RetryAction::Retry { after: None });
        assert_eq!(
            status(429, Some("7")),
            RetryAction::Retry {
                after: Some(Duration::from_secs(7))
            }
        );
        assert_eq!(status(408, None), RetryAction::Retry { after: None });
        for code in [301, 400, 401, 404, 413, 415, 422] {
            assert_eq!(status(code, Some("5")), RetryAction::Reject, "{code}");
        }
    }

    #[test]
    fn retry_after_is_capped_and_dates_are_ignored() {
        assert_eq!(parse_retry_after(" 2 "), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("999999"), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn backoff_doubles_to_the_cap_with_jitter_below_the_ceiling() {
        let mut backoff = Backoff::with_rng(
            Duration::from_millis(100),
            Duration::from_millis(1_000),
            fastrand::Rng::with_seed(7),
        );
        let mut ceilings = Vec::new();
        for _ in 0..6 {
            let ceiling = backoff.ceiling();
            let delay = backoff.next_delay();
            assert!(delay <= ceiling, "{delay:?} > {ceiling:?}");
            ceilings.push(ceiling.as_millis());
        }
        assert_eq!(ceilings, [100, 200, 400, 800, 1_000, 1_000]);
        backoff.reset();
        assert_eq!(backoff.ceiling(), Duration::from_millis(100));
        for _ in 0..100 {
            backoff.next_delay();
        }
        assert_eq!(
            backoff.ceiling(),
            Duration::from_millis(1_000),
            "no overflow"
        );
    }

    #[test]
    fn jitter_spreads_delays() {
        let mut backoff = Backoff::with_rng(
            Duration::from_secs(10),
            Duration::from_secs(10),
            fastrand::Rng::with_seed(1),
        );
        let delays: std::collections::HashSet<_> = (0..20).map(|_| backoff.next_delay()).collect();
        assert!(
            delays.len() > 10,
            "full jitter gives varied delays: {delays:?}"
        );
    }
}
