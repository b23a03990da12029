//! PagerDuty Events API v2: `trigger` on open and on every evidence update (PagerDuty
//! adds a repeated trigger to the open alert's log), `acknowledge` when someone took the
//! incident, `resolve` when it cleared.
//!
//! The `dedup_key` is the incident fingerprint ([`IncidentView::fingerprint`]): a hash
//! of the problem's dedup key *and the opening time of this occurrence* (or of the
//! group's, for grouped incidents). So every trigger, acknowledge and resolve of one
//! occurrence share a key, while a problem that clears and comes back gets a new key.
//! That matches PagerDuty's semantics instead of fighting them: after a resolve, a
//! trigger with the same key opens a new PagerDuty incident, and an acknowledge or
//! resolve for an old key is dropped. A late, re-delivered event of a resolved
//! occurrence therefore cannot reopen or close the wrong PagerDuty incident.
//!
//! PagerDuty answers 202 when it *queued* the event; 400 means the event is invalid
//! and is never retried (it would fail the same way); 429 and 5xx are retried by the
//! outbox (see [`super::classify`]). The routing key is the credential and is never logged.

use super::http::Http;
use super::view::{rfc3339, IncidentView};
use super::{DeliveryContext, Notification, Notifier, NotifyError, Receipt};
use crate::config::{NotifierConfig, PagerDutyConfig};
use async_trait::async_trait;
use reqwest::header::HeaderMap;
use reqwest::{Method, Url};
use serde_json::{json, Map, Value};

/// PagerDuty's documented limit of `payload.summary`.
pub const SUMMARY_MAX: usize = 1024;
/// PagerDuty's documented limit of `dedup_key`.
pub const DEDUP_KEY_MAX: usize = 255;
/// PagerDuty documents about 120 events per minute per integration key.
pub const DEFAULT_RATE_LIMIT: u32 = 120;

pub struct PagerDutyNotifier {
    name: String,
    url: Url,
    routing_key: String,
    group_label: String,
    rate_limit: Option<u32>,
    http: Http,
}

impl PagerDutyNotifier {
    pub fn new(common: &NotifierConfig, config: &PagerDutyConfig) -> Result<Self, NotifyError> {
        let url = Url::parse(&config.url).map_err(|e| NotifyError::Config {
            notifier: common.name.clone(),
            message: format!("url: {e}"),
        })?;
        Ok(Self {
            name: common.name.clone(),
            url,
            routing_key: config.routing_key.expose().to_owned(),
            group_label: config.group_label.clone(),
            rate_limit: Some(common.rate_limit_per_minute.unwrap_or(DEFAULT_RATE_LIMIT)),
            http: Http::new(&common.name, common.timeout.as_duration(), HeaderMap::new())?,
        })
    }

    /// The event for one notification; `None` for an action PagerDuty has no event for.
    pub fn event(&self, action: &str, view: &IncidentView) -> Option<Value> {
        let dedup_key = view.fingerprint();
        let event_action = match action {
            "open" | "update" => "trigger",
            "acknowledge" => "acknowledge",
            "resolve" => "resolve",
            _ => return None,
        };
        if event_action != "trigger" {
            return Some(json!({
                "routing_key": self.routing_key,
                "event_action": event_action,
                "dedup_key": dedup_key,
            }));
        }
        let i = &view.incident;
        let mut payload = Map::new();
        payload.insert(
            "summary".into(),
            json!(truncate(&view.summary(), SUMMARY_MAX)),
        );
        payload.insert("source".into(), json!(view.host.hostname));
        payload.insert("severity".into(), json!(severity(&i.severity)));
        payload.insert("timestamp".into(), json!(rfc3339(i.updated_at_ms)));
        if let Some(component) = &i.component {
            payload.insert("component".into(), json!(component));
        }
        let group = view
            .host
            .labels
            .get(&self.group_label)
            .cloned()
            .or_else(|| view.group.as_ref().map(|g| g.key.clone()));
        if let Some(group) = group {
            payload.insert("group".into(), json!(group));
        }
        payload.insert("class".into(), json!(i.kind));
        payload.insert("custom_details".into(), custom_details(view, &dedup_key));
        let mut event = json!({
            "routing_key": self.routing_key,
            "event_action": "trigger",
            "dedup_key": dedup_key,
            "payload": payload,
            "client": "Harbinger",
        });
        if let Ok(url) = Url::parse(&view.dashboard_url) {
            if matches!(url.scheme(), "http" | "https") {
                event["client_url"] = json!(view.dashboard_url);
                event["links"] = json!([{
                    "href": view.dashboard_url,
                    "text": format!("{} in the Harbinger dashboard", view.host.hostname),
                }]);
            }
        }
        Some(event)
    }
}

/// The evidence and where it comes from; PagerDuty shows this object on the alert.
fn custom_details(view: &IncidentView, fingerprint: &str) -> Value {
    let i = &view.incident;
    let mut details = Map::new();
    if view.test {
        details.insert(
            "test".into(),
            json!("THIS IS A TEST NOTIFICATION from harbinger-collector notify-test"),
        );
    }
    details.insert("evidence".into(), i.details.clone());
    details.insert("host_id".into(), json!(view.host.host_id));
    details.insert("labels".into(), json!(view.host.labels));
    details.insert("incident_id".into(), json!(i.id));
    details.insert("revision".into(), json!(i.revision));
    details.insert("opened_at".into(), json!(rfc3339(i.opened_at_ms)));
    details.insert("fingerprint".into(), json!(fingerprint));
    if let Some(group) = &view.group {
        details.insert(
            "group".into(),
            json!({"key": group.key, "labels": group.labels, "open_incidents": group.members_open}),
        );
    }
    Value::Object(details)
}

/// Harbinger severities are PagerDuty's four; anything unknown is `info`.
pub fn severity(severity: &str) -> &'static str {
    match severity {
        "critical" => "critical",
        "error" => "error",
        "warning" => "warning",
        _ => "info",
    }
}

/// At most `max` characters, with an ellipsis when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[async_trait]
impl Notifier for PagerDutyNotifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn rate_limit_per_minute(&self) -> Option<u32> {
        self.rate_limit
    }

    fn handles(&self, action: &str) -> bool {
        matches!(action, "open" | "update" | "acknowledge" | "resolve")
    }

    async fn deliver(
        &self,
        notification: &Notification,
        _context: &DeliveryContext,
    ) -> Result<Receipt, NotifyError> {
        let view =
            IncidentView::parse(&notification.body).map_err(|message| NotifyError::Payload {
                notifier: self.name.clone(),
                message,
            })?;
        let Some(event) = self.event(&notification.action, &view) else {
            return Err(NotifyError::Payload {
                notifier: self.name.clone(),
                message: format!("unknown action {:?}", notification.action),
            });
        };
        let reply = self
            .http
            .send_json(Method::POST, &self.url, Some(&event))
            .await?;
        let answer = reply.json(&self.name, &self.url)?;
        // 202 {"status":"success","message":"Event processed","dedup_key":"…"}
        let status = answer.get("status").and_then(Value::as_str).unwrap_or("");
        if status != "success" {
            return Err(NotifyError::Rejected {
                notifier: self.name.clone(),
                url: self.url.to_string(),
                message: format!("status {status:?}: {answer}"),
            });
        }
        let key = answer
            .get("dedup_key")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Ok(Receipt {
            detail: format!(
                "{} accepted ({}) with dedup_key {key}",
                event["event_action"].as_str().unwrap_or_default(),
                reply.status
            ),
            ticket: Some(key),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncate("abc", 3), "abc");
        let long = "é".repeat(2_000);
        let cut = truncate(&long, SUMMARY_MAX);
        assert_eq!(cut.chars().count(), SUMMARY_MAX);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn severities_map_onto_pagerdutys_four() {
        assert_eq!(severity("critical"), "critical");
        assert_eq!(severity("error"), "error");
        assert_eq!(severity("warning"), "warning");
        assert_eq!(severity("info"), "info");
        assert_eq!(severity("whatever"), "info");
    }
}
