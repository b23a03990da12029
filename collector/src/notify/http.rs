//! The HTTP plumbing every notifier shares: one client per notifier with its timeout
//! and credential headers, and the mapping of transport failures and non-2xx answers
//! to [`NotifyError`], so that [`super::classify`] sees the same errors from every desk.

use super::NotifyError;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Method, Url};
use serde_json::Value;
use std::time::Duration;

/// How much of an error response body is kept for the outbox row and the log.
const BODY_EXCERPT: usize = 512;

/// A 2xx answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    /// The body as JSON; `Protocol` when it is not.
    pub fn json(&self, notifier: &str, url: &Url) -> Result<Value, NotifyError> {
        serde_json::from_str(&self.body).map_err(|e| NotifyError::Protocol {
            notifier: notifier.to_owned(),
            url: url.to_string(),
            message: format!("body is not JSON ({e}): {}", excerpt(&self.body)),
        })
    }
}

/// One notifier's HTTP client.
pub struct Http {
    notifier: String,
    client: reqwest::Client,
}

impl Http {
    /// `headers` are sent with every request; mark credentials sensitive before.
    pub fn new(notifier: &str, timeout: Duration, headers: HeaderMap) -> Result<Self, NotifyError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .default_headers(headers)
            // RT answers a User-Agent containing "Mozilla" with a login redirect.
            .user_agent(concat!("harbinger-collector/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| NotifyError::Config {
                notifier: notifier.to_owned(),
                message: format!("cannot build HTTP client: {e}"),
            })?;
        Ok(Self {
            notifier: notifier.to_owned(),
            client,
        })
    }

    pub fn notifier(&self) -> &str {
        &self.notifier
    }

    /// A request builder, for callers that need more than [`send_json`](Self::send_json).
    pub fn request(&self, method: Method, url: Url) -> reqwest::RequestBuilder {
        self.client.request(method, url)
    }

    /// Sends a JSON body (or none) and returns the 2xx answer.
    pub async fn send_json(
        &self,
        method: Method,
        url: &Url,
        body: Option<&Value>,
    ) -> Result<Reply, NotifyError> {
        let mut request = self
            .client
            .request(method, url.clone())
            .header("Accept", "application/json");
        if let Some(body) = body {
            request = request.json(body);
        }
        self.send(request, url).await
    }

    /// Sends a prepared request; non-2xx answers become `Status` errors.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
        url: &Url,
    ) -> Result<Reply, NotifyError> {
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                NotifyError::Timeout {
                    notifier: self.notifier.clone(),
                    url: url.to_string(),
                }
            } else {
                NotifyError::Network {
                    notifier: self.notifier.clone(),
                    url: url.to_string(),
                    message: error_chain(&e),
                }
            }
        })?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let body = response.text().await.map_err(|e| NotifyError::Network {
            notifier: self.notifier.clone(),
            url: url.to_string(),
            message: format!("reading the answer: {}", error_chain(&e)),
        })?;
        if status.is_success() {
            return Ok(Reply {
                status: status.as_u16(),
                body,
            });
        }
        Err(NotifyError::Status {
            notifier: self.notifier.clone(),
            url: url.to_string(),
            status: status.as_u16(),
            retry_after,
            body: excerpt(&body),
        })
    }
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after)
}

/// `Retry-After` in its delta-seconds form. The HTTP-date form is rare from APIs and is
/// treated as absent, which falls back to the normal backoff.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The start of a body, cut on a character boundary.
pub fn excerpt(body: &str) -> String {
    let mut end = body.len().min(BODY_EXCERPT);
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    body[..end].trim().to_owned()
}

/// reqwest's top-level message is often just "error sending request"; the cause is below.
pub fn error_chain(error: &dyn std::error::Error) -> String {
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
