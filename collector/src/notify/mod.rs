//! Notifiers: the service-desk integrations the outbox delivers through.
//!
//! A notifier only delivers; it never decides when or whether to retry. The decision
//! is [`classify`], one function for every notifier, kept separate from the backoff
//! schedule (which lives in the outbox).

pub mod webhook;

use crate::config::NotifierConfig;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// One notification to deliver: the outbox row's key, action and body.
#[derive(Debug, Clone)]
pub struct Notification {
    pub idempotency_key: String,
    pub action: String,
    pub body: serde_json::Value,
}

/// Why a delivery did not succeed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// The request did not complete: connection refused, reset, DNS, TLS.
    #[error("notifier {notifier}: request to {url} failed: {message}")]
    Network {
        notifier: String,
        url: String,
        message: String,
    },
    /// The request did not complete within the notifier's timeout.
    #[error("notifier {notifier}: request to {url} timed out")]
    Timeout { notifier: String, url: String },
    /// The receiver answered with a non-2xx status.
    #[error("notifier {notifier}: {url} answered {status}: {body}")]
    Status {
        notifier: String,
        url: String,
        status: u16,
        retry_after: Option<Duration>,
        /// The start of the response body, for the operator.
        body: String,
    },
    /// The notifier could not be built from its configuration.
    #[error("notifier {notifier}: {message}")]
    Config { notifier: String, message: String },
}

/// What to do after a failed delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAction {
    /// Try again later; `after` is the receiver's `Retry-After`, if it gave one.
    Retry { after: Option<Duration> },
    /// Never retry: the receiver refused this notification.
    Permanent,
}

/// The retry policy: network errors, timeouts, 429 and 5xx are temporary (429 and 503
/// honour `Retry-After`); any other status is a permanent refusal of this notification.
pub fn classify(error: &NotifyError) -> RetryAction {
    match error {
        NotifyError::Network { .. } | NotifyError::Timeout { .. } => {
            RetryAction::Retry { after: None }
        }
        NotifyError::Status {
            status,
            retry_after,
            ..
        } => match status {
            429 | 500..=599 => RetryAction::Retry {
                after: *retry_after,
            },
            _ => RetryAction::Permanent,
        },
        NotifyError::Config { .. } => RetryAction::Permanent,
    }
}

/// Something that can deliver a notification to one service desk.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// The configured name, as stored in outbox rows.
    fn name(&self) -> &str;
    /// Delivers once. `Ok` only when the receiver accepted it (2xx).
    async fn deliver(&self, notification: &Notification) -> Result<(), NotifyError>;
}

/// Builds every configured notifier.
pub fn build(configs: &[NotifierConfig]) -> Result<Vec<Arc<dyn Notifier>>, NotifyError> {
    configs
        .iter()
        .map(|config| match config {
            NotifierConfig::Webhook(w) => {
                webhook::WebhookNotifier::new(w).map(|n| Arc::new(n) as Arc<dyn Notifier>)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, retry_after: Option<Duration>) -> NotifyError {
        NotifyError::Status {
            notifier: "n".into(),
            url: "u".into(),
            status,
            retry_after,
            body: String::new(),
        }
    }

    #[test]
    fn classification() {
        let network = NotifyError::Network {
            notifier: "n".into(),
            url: "u".into(),
            message: "refused".into(),
        };
        assert_eq!(classify(&network), RetryAction::Retry { after: None });
        let wait = Some(Duration::from_secs(7));
        assert_eq!(
            classify(&status(429, wait)),
            RetryAction::Retry { after: wait }
        );
        assert_eq!(
            classify(&status(503, None)),
            RetryAction::Retry { after: None }
        );
        assert_eq!(classify(&status(400, None)), RetryAction::Permanent);
        assert_eq!(classify(&status(404, None)), RetryAction::Permanent);
    }
}
