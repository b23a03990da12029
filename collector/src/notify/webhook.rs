//! The generic JSON webhook: POSTs the notification body with an `Idempotency-Key`
//! header so receivers can drop repeats (delivery is at-least-once).

use super::http::Http;
use super::{DeliveryContext, Notification, Notifier, NotifyError, Receipt};
use crate::config::{NotifierConfig, WebhookConfig};
use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Method;

pub struct WebhookNotifier {
    name: String,
    url: reqwest::Url,
    rate_limit: Option<u32>,
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
        Ok(Self {
            name: common.name.clone(),
            url,
            rate_limit: common.rate_limit_per_minute,
            http: Http::new(&common.name, common.timeout.as_duration(), headers)?,
        })
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn rate_limit_per_minute(&self) -> Option<u32> {
        self.rate_limit
    }

    async fn deliver(
        &self,
        notification: &Notification,
        _context: &DeliveryContext,
    ) -> Result<Receipt, NotifyError> {
        let request = self
            .http
            .request(Method::POST, self.url.clone())
            .header("Idempotency-Key", &notification.idempotency_key)
            .json(&notification.body);
        let reply = self.http.send(request, &self.url).await?;
        Ok(Receipt {
            ticket: None,
            detail: format!("{} answered {}", self.url, reply.status),
        })
    }
}
