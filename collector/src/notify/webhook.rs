//! The generic JSON webhook: POSTs the notification body with an `Idempotency-Key`
//! header so receivers can drop repeats (delivery is at-least-once).

use super::{Notification, Notifier, NotifyError};
use crate::config::WebhookConfig;
use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use std::time::Duration;

/// How much of an error response body is kept for the outbox row and the log.
const BODY_EXCERPT: usize = 512;

pub struct WebhookNotifier {
    name: String,
    url: reqwest::Url,
    client: reqwest::Client,
}

impl WebhookNotifier {
    pub fn new(config: &WebhookConfig) -> Result<Self, NotifyError> {
        let fail = |message: String| NotifyError::Config {
            notifier: config.name.clone(),
            message,
        };
        let url = reqwest::Url::parse(&config.url).map_err(|e| fail(format!("url: {e}")))?;
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| fail(format!("header {name:?}: {e}")))?;
            let mut value = HeaderValue::from_str(value.expose())
                .map_err(|_| fail(format!("header {name}: invalid value")))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let client = reqwest::Client::builder()
            .timeout(config.timeout.as_duration())
            .default_headers(headers)
            .user_agent(concat!("harbinger-collector/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| fail(format!("cannot build HTTP client: {e}")))?;
        Ok(Self {
            name: config.name.clone(),
            url,
            client,
        })
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    fn name(&self) -> &str {
        &self.name
    }

    async fn deliver(&self, notification: &Notification) -> Result<(), NotifyError> {
        let url = self.url.to_string();
        let response = self
            .client
            .post(self.url.clone())
            .header("Idempotency-Key", &notification.idempotency_key)
            .json(&notification.body)
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    NotifyError::Timeout {
                        notifier: self.name.clone(),
                        url: url.clone(),
                    }
                } else {
                    NotifyError::Network {
                        notifier: self.name.clone(),
                        url: url.clone(),
                        message: error_chain(&e),
                    }
                }
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let body = response.text().await.unwrap_or_default();
        Err(NotifyError::Status {
            notifier: self.name.clone(),
            url,
            status: status.as_u16(),
            retry_after,
            body: excerpt(&body),
        })
    }
}

/// `Retry-After` in its delta-seconds form. The HTTP-date form is rare from APIs and is
/// treated as absent, which falls back to the normal backoff.
fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn excerpt(body: &str) -> String {
    let mut end = body.len().min(BODY_EXCERPT);
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    body[..end].trim().to_owned()
}

/// reqwest's top-level message is often just "error sending request"; the cause is below.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
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

    #[test]
    fn retry_after_seconds_only() {
        assert_eq!(parse_retry_after(" 30 "), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn excerpt_respects_char_boundaries() {
        let long = "é".repeat(400);
        let cut = excerpt(&long);
        assert!(cut.len() <= BODY_EXCERPT && cut.chars().all(|c| c == 'é'));
    }
}
