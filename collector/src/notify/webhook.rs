//! The generic webhook: POSTs each notification with an `Idempotency-Key` header so
//! receivers can drop repeats (delivery is at-least-once).
//!
//! The body is Harbinger's own notification JSON, Alertmanager's v4 webhook JSON
//! ([`super::alertmanager`]) or a minijinja template ([`super::template`]). With a
//! secret configured, the request is signed: `X-Harbinger-Timestamp` carries the Unix
//! time in seconds and `X-Harbinger-Signature` is `sha256=` and the hex HMAC-SHA256 of
//! `"<timestamp>.<body>"` — the exact bytes sent. Signing the timestamp with the body
//! lets a receiver refuse old requests (replays) without trusting an unsigned header.

use super::alertmanager;
use super::http::Http;
use super::template::{self, BodyTemplate};
use super::view::IncidentView;
use super::{DeliveryContext, Notification, Notifier, NotifyError, Receipt};
use crate::config::{NotifierConfig, WebhookConfig, WebhookFormat};
use async_trait::async_trait;
use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use reqwest::Method;
use sha2::Sha256;
use std::fmt::Write as _;

pub const SIGNATURE_HEADER: &str = "X-Harbinger-Signature";
pub const TIMESTAMP_HEADER: &str = "X-Harbinger-Timestamp";

enum Body {
    Harbinger,
    Alertmanager,
    Template(Box<BodyTemplate>, String),
}

pub struct WebhookNotifier {
    name: String,
    url: reqwest::Url,
    rate_limit: Option<u32>,
    body: Body,
    secret: Option<Vec<u8>>,
    http: Http,
}

impl WebhookNotifier {
    pub fn new(common: &NotifierConfig, config: &WebhookConfig) -> Result<Self, NotifyError> {
        let fail = |message: String| NotifyError::Config {
            notifier: common.name.clone(),
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
        let body = match config.format {
            WebhookFormat::Harbinger => Body::Harbinger,
            WebhookFormat::Alertmanager => Body::Alertmanager,
            WebhookFormat::Template => {
                let source = config.template.as_deref().ok_or_else(|| {
                    fail("template: must be set with format = \"template\"".into())
                })?;
                let compiled =
                    template::compile(source).map_err(|e| fail(format!("template: {e}")))?;
                Body::Template(Box::new(compiled), config.content_type.clone())
            }
        };
        Ok(Self {
            name: common.name.clone(),
            url,
            rate_limit: common.rate_limit_per_minute,
            body,
            secret: config
                .hmac_secret
                .as_ref()
                .map(|s| s.expose().as_bytes().to_vec()),
            http: Http::new(&common.name, common.timeout.as_duration(), headers)?,
        })
    }

    /// The body bytes and content type of one notification.
    fn render(&self, notification: &Notification) -> Result<(Vec<u8>, String), NotifyError> {
        let payload = |message: String| NotifyError::Payload {
            notifier: self.name.clone(),
            message,
        };
        let json = "application/json".to_owned();
        match &self.body {
            Body::Harbinger => serde_json::to_vec(&notification.body)
                .map(|b| (b, json))
                .map_err(|e| payload(e.to_string())),
            Body::Alertmanager => {
                let view = IncidentView::parse(&notification.body).map_err(payload)?;
                let body = alertmanager::body(&notification.action, &view, &self.name);
                serde_json::to_vec(&body)
                    .map(|b| (b, json))
                    .map_err(|e| payload(e.to_string()))
            }
            Body::Template(template, content_type) => {
                let view = IncidentView::parse(&notification.body).map_err(payload)?;
                let text = template
                    .render(&notification.body, &view)
                    .map_err(payload)?;
                Ok((text.into_bytes(), content_type.clone()))
            }
        }
    }
}

/// `sha256=<hex>` of HMAC-SHA256 over `"<timestamp>.<body>"`.
pub fn signature(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length; new_from_slice cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let mut out = String::from("sha256=");
    for byte in mac.finalize().into_bytes() {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

#[async_trait]
impl Notifier for WebhookNotifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn rate_limit_per_minute(&self) -> Option<u32> {
        self.rate_limit
    }

    fn handles(&self, action: &str) -> bool {
        // Harbinger's own JSON can tell a receiver that someone took the incident;
        // Alertmanager's format has no such status.
        match self.body {
            Body::Alertmanager => matches!(action, "open" | "update" | "resolve"),
            _ => matches!(action, "open" | "update" | "acknowledge" | "resolve"),
        }
    }

    async fn deliver(
        &self,
        notification: &Notification,
        _context: &DeliveryContext,
    ) -> Result<Receipt, NotifyError> {
        let (body, content_type) = self.render(notification)?;
        let mut request = self
            .http
            .request(Method::POST, self.url.clone())
            .header("Idempotency-Key", &notification.idempotency_key)
            .header(CONTENT_TYPE, content_type);
        if let Some(secret) = &self.secret {
            let timestamp = (crate::state::now_ms() / 1_000).to_string();
            request = request
                .header(SIGNATURE_HEADER, signature(secret, &timestamp, &body))
                .header(TIMESTAMP_HEADER, timestamp);
        }
        let reply = self.http.send(request.body(body), &self.url).await?;
        Ok(Receipt {
            ticket: None,
            detail: format!("{} answered {}", self.url, reply.status),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_over_timestamp_dot_body() {
        // Computed independently: python3 hmac.new(b"Jefe", b'1700000000.{"a":1}', sha256).
        assert_eq!(
            signature(b"Jefe", "1700000000", br#"{"a":1}"#),
            "sha256=fa5f6481efc59da48b19c9dc10196c9953e5651f8304b3a318b6b87d70272e0a"
        );
        assert_ne!(
            signature(b"Jefe", "1700000001", br#"{"a":1}"#),
            signature(b"Jefe", "1700000000", br#"{"a":1}"#),
            "the timestamp is signed"
        );
    }
}
