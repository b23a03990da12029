//! Notifiers: the service-desk integrations the outbox delivers through.
//!
//! A notifier only delivers; it never decides when or whether to retry. The decision
//! is [`classify`], one function for every notifier, kept separate from the backoff
//! schedule (which lives in the outbox). Notifiers read the incident from the outbox
//! row's body ([`view::IncidentView`]), never from detector internals, and keep their
//! fingerprint → ticket references in the store ([`tickets::TicketBook`]).

pub mod alertmanager;
pub mod http;
pub mod jira;
pub mod pagerduty;
pub mod rt;
pub mod servicenow;
pub mod template;
pub mod tickets;
pub mod view;
pub mod webhook;

use crate::config::{NotifierConfig, NotifierKind};
use crate::store::Store;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// One notification to deliver: the outbox row's key, action and body.
#[derive(Debug, Clone)]
pub struct Notification {
    pub incident_id: i64,
    pub idempotency_key: String,
    pub action: String,
    pub body: serde_json::Value,
}

/// What the receiver said when it accepted a notification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Receipt {
    /// The desk's id of the ticket the notification went to, when it has tickets.
    pub ticket: Option<String>,
    /// A short account for logs and `notify-test`, e.g. `created ticket 12`.
    pub detail: String,
}

/// What a delivery may use besides the notification: the store, for ticket references.
#[derive(Clone)]
pub struct DeliveryContext {
    pub store: Arc<dyn Store>,
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
    /// The receiver answered 2xx but said in the body that it did not do it (Request
    /// Tracker answers some failed updates with 200 and the error in its message list).
    #[error("notifier {notifier}: {url} refused the change: {message}")]
    Rejected {
        notifier: String,
        url: String,
        message: String,
    },
    /// The receiver's answer was not what its API documents.
    #[error("notifier {notifier}: unexpected answer from {url}: {message}")]
    Protocol {
        notifier: String,
        url: String,
        message: String,
    },
    /// The notification body is not one this notifier can read.
    #[error("notifier {notifier}: notification body: {message}")]
    Payload { notifier: String, message: String },
    /// The ticket references could not be read or written.
    #[error("notifier {notifier}: ticket store: {message}")]
    Store { notifier: String, message: String },
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
/// honour `Retry-After`), and so is a store hiccup; any other status, a refusal inside a
/// 2xx, an unreadable answer or body is a permanent refusal of this notification.
pub fn classify(error: &NotifyError) -> RetryAction {
    match error {
        NotifyError::Network { .. } | NotifyError::Timeout { .. } | NotifyError::Store { .. } => {
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
        NotifyError::Rejected { .. }
        | NotifyError::Protocol { .. }
        | NotifyError::Payload { .. }
        | NotifyError::Config { .. } => RetryAction::Permanent,
    }
}

/// Something that can deliver a notification to one service desk.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// The configured name, as stored in outbox rows.
    fn name(&self) -> &str;
    /// Deliveries per minute this notifier may make, if limited.
    fn rate_limit_per_minute(&self) -> Option<u32>;
    /// Delivers once. `Ok` only when the receiver accepted it.
    async fn deliver(
        &self,
        notification: &Notification,
        context: &DeliveryContext,
    ) -> Result<Receipt, NotifyError>;
    /// Whether this notifier takes notifications with `action`. Every notifier takes
    /// `open`, `update` and `resolve`; `acknowledge` (someone took the incident in
    /// another desk) only goes to those that can show it.
    fn handles(&self, action: &str) -> bool {
        matches!(action, "open" | "update" | "resolve")
    }
    /// The two-way sync of this desk, when it has one and it is enabled.
    fn ticket_sync(&self) -> Option<&dyn TicketSync> {
        None
    }
}

/// A ticket's state in its desk, as the two-way sync reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeskState {
    /// Still being worked, nobody has taken it.
    Active,
    /// Somebody took it (an owner, an "in progress" state).
    Acknowledged { by: String },
    /// Resolved by `by` with a resolution code.
    Resolved { by: String, code: String },
    /// Closed as "won't fix" (RT `rejected`, ServiceNow "Canceled").
    WontFix { by: String, code: String },
    /// The ticket no longer exists.
    Gone,
}

/// Reading tickets back from a desk that allows it.
#[async_trait]
pub trait TicketSync: Send + Sync {
    /// How often the desk is polled.
    fn interval(&self) -> Duration;
    /// How long a component is silenced after a "won't fix".
    fn wont_fix_silence(&self) -> Duration;
    /// The state of one ticket.
    async fn ticket_state(&self, ticket_id: &str) -> Result<DeskState, NotifyError>;
}

/// Builds every configured notifier.
pub fn build(configs: &[NotifierConfig]) -> Result<Vec<Arc<dyn Notifier>>, NotifyError> {
    configs
        .iter()
        .map(|config| -> Result<Arc<dyn Notifier>, NotifyError> {
            Ok(match &config.kind {
                NotifierKind::Webhook(w) => Arc::new(webhook::WebhookNotifier::new(config, w)?),
                NotifierKind::RequestTracker(rt) => Arc::new(rt::RtNotifier::new(config, rt)?),
                NotifierKind::PagerDuty(pd) => {
                    Arc::new(pagerduty::PagerDutyNotifier::new(config, pd)?)
                }
                NotifierKind::ServiceNow(sn) => {
                    Arc::new(servicenow::ServiceNowNotifier::new(config, sn)?)
                }
                NotifierKind::Jira(jira) => Arc::new(jira::JiraNotifier::new(config, jira)?),
            })
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
        let rejected = NotifyError::Rejected {
            notifier: "n".into(),
            url: "u".into(),
            message: "Status 'bogus' isn't a valid status".into(),
        };
        assert_eq!(classify(&rejected), RetryAction::Permanent);
        let store = NotifyError::Store {
            notifier: "n".into(),
            message: "locked".into(),
        };
        assert_eq!(classify(&store), RetryAction::Retry { after: None });
    }
}
