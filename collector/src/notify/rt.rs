//! Request Tracker 5 through REST2: one ticket per incident occurrence in a queue, with
//! the fingerprint and host in custom fields; evidence updates are private comments;
//! recovery comments and sets the status to `resolved`. After a restart the ticket is
//! found again by TicketSQL on the fingerprint field, so no second ticket is created.
//!
//! RT answers some failed updates with 200 and the failure inside its message list
//! (`["Ticket 1: Status 'bogus' isn't a valid status for this ticket."]`), so every
//! status change is confirmed by reading the ticket back.
//!
//! The two-way sync reads tickets back: an owner other than `Nobody` acknowledges,
//! `resolved` resolves (with the optional resolution custom field as the outcome),
//! `rejected` is "won't fix", `deleted` or 404 is gone.

use super::http::Http;
use super::tickets::{is_active, TicketBook};
use super::view::IncidentView;
use super::{DeliveryContext, DeskState, Notification, Notifier, NotifyError, Receipt, TicketSync};
use crate::config::{NotifierConfig, RtConfig};
use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use reqwest::{Method, Url};
use serde_json::{json, Value};
use std::time::Duration;

/// RT's user for "no owner".
const NOBODY: &str = "Nobody";

pub struct RtNotifier {
    name: String,
    /// The REST2 base, ending in `/`.
    base: Url,
    queue: String,
    fingerprint_field: String,
    host_field: String,
    resolution_field: Option<String>,
    sync_interval: Option<Duration>,
    wont_fix_silence: Duration,
    rate_limit: Option<u32>,
    http: Http,
}

impl RtNotifier {
    pub fn new(common: &NotifierConfig, config: &RtConfig) -> Result<Self, NotifyError> {
        let fail = |message: String| NotifyError::Config {
            notifier: common.name.clone(),
            message,
        };
        let mut base = config.url.trim_end_matches('/').to_owned();
        base.push('/');
        let base = Url::parse(&base).map_err(|e| fail(format!("url: {e}")))?;
        let mut token = HeaderValue::from_str(&format!("token {}", config.token.expose()))
            .map_err(|_| fail("token: not a valid header value".into()))?;
        token.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, token);
        Ok(Self {
            name: common.name.clone(),
            base,
            queue: config.queue.clone(),
            fingerprint_field: config.fingerprint_field.clone(),
            host_field: config.host_field.clone(),
            resolution_field: config.resolution_field.clone(),
            sync_interval: config.sync_interval.map(|d| d.as_duration()),
            wont_fix_silence: config.wont_fix_silence.as_duration(),
            rate_limit: common.rate_limit_per_minute,
            http: Http::new(&common.name, common.timeout.as_duration(), headers)?,
        })
    }

    fn url(&self, path: &str) -> Result<Url, NotifyError> {
        self.base.join(path).map_err(|e| NotifyError::Config {
            notifier: self.name.clone(),
            message: format!("url {path:?} under {}: {e}", self.base),
        })
    }

    fn protocol(&self, url: &Url, message: impl Into<String>) -> NotifyError {
        NotifyError::Protocol {
            notifier: self.name.clone(),
            url: url.to_string(),
            message: message.into(),
        }
    }

    /// The active ticket carrying `fingerprint`, by TicketSQL.
    pub async fn search(&self, fingerprint: &str) -> Result<Option<String>, NotifyError> {
        let mut url = self.url("tickets")?;
        // Fingerprints are [a-z0-9-] (see view::fingerprint); the queue and field names
        // come from the operator's configuration, so quotes in them are escaped.
        let query = format!(
            "Queue='{}' AND CF.{{{}}}='{}' AND Status='__Active__'",
            quote(&self.queue),
            self.fingerprint_field,
            quote(fingerprint)
        );
        url.query_pairs_mut()
            .append_pair("query", &query)
            .append_pair("fields", "Status")
            .append_pair("orderby", "id")
            .append_pair("order", "ASC");
        let reply = self.http.send_json(Method::GET, &url, None).await?;
        let body = reply.json(&self.name, &url)?;
        let items = body
            .get("items")
            .and_then(Value::as_array)
            .ok_or_else(|| self.protocol(&url, "search answer has no items list"))?;
        match items.first() {
            Some(item) => Ok(Some(id_of(item).ok_or_else(|| {
                self.protocol(&url, format!("search item without id: {item}"))
            })?)),
            None => Ok(None),
        }
    }

    async fn create(&self, view: &IncidentView, fingerprint: &str) -> Result<String, NotifyError> {
        let url = self.url("ticket")?;
        let mut fields = serde_json::Map::new();
        fields.insert(self.fingerprint_field.clone(), json!(fingerprint));
        if !self.host_field.is_empty() {
            fields.insert(self.host_field.clone(), json!(view.host.hostname));
        }
        let body = json!({
            "Queue": self.queue,
            "Subject": format!("[harbinger] {}", view.summary()),
            "Content": view.evidence_text(),
            "ContentType": "text/plain",
            "Priority": priority(&view.incident.severity),
            "CustomFields": fields,
        });
        let reply = self.http.send_json(Method::POST, &url, Some(&body)).await?;
        let answer = reply.json(&self.name, &url)?;
        id_of(&answer)
            .ok_or_else(|| self.protocol(&url, format!("create answer without id: {answer}")))
    }

    async fn comment(&self, ticket: &str, text: &str) -> Result<(), NotifyError> {
        let url = self.url(&format!("ticket/{ticket}/comment"))?;
        let body = json!({"Content": text, "ContentType": "text/plain"});
        let reply = self.http.send_json(Method::POST, &url, Some(&body)).await?;
        let messages = messages(&reply.json(&self.name, &url)?);
        // "Comments added" is RT's only success message here; anything else is RT
        // explaining, with a 2xx, why it did not add the comment.
        if messages.iter().any(|m| m.contains("added")) {
            Ok(())
        } else {
            Err(NotifyError::Rejected {
                notifier: self.name.clone(),
                url: url.to_string(),
                message: messages.join("; "),
            })
        }
    }

    /// Sets the status and reads the ticket back to confirm it (the 200 quirk).
    pub async fn set_status(&self, ticket: &str, status: &str) -> Result<(), NotifyError> {
        let url = self.url(&format!("ticket/{ticket}"))?;
        let reply = self
            .http
            .send_json(Method::PUT, &url, Some(&json!({ "Status": status })))
            .await?;
        let messages = messages(&reply.json(&self.name, &url)?);
        let now = self.read(ticket).await?;
        let actual = now.get("Status").and_then(Value::as_str).unwrap_or("");
        if actual == status {
            Ok(())
        } else {
            Err(NotifyError::Rejected {
                notifier: self.name.clone(),
                url: url.to_string(),
                message: format!(
                    "status is {actual:?}, not {status:?}; RT said: {}",
                    messages.join("; ")
                ),
            })
        }
    }

    async fn read(&self, ticket: &str) -> Result<Value, NotifyError> {
        let url = self.url(&format!("ticket/{ticket}"))?;
        let reply = self.http.send_json(Method::GET, &url, None).await?;
        reply.json(&self.name, &url)
    }

    /// The value of a ticket custom field by name, from a read ticket.
    fn custom_field(ticket: &Value, name: &str) -> Option<String> {
        ticket
            .get("CustomFields")?
            .as_array()?
            .iter()
            .find(|cf| cf.get("name").and_then(Value::as_str) == Some(name))?
            .get("values")?
            .as_array()?
            .iter()
            .filter_map(Value::as_str)
            .find(|v| !v.trim().is_empty())
            .map(str::to_owned)
    }

    async fn open_or_update(
        &self,
        view: &IncidentView,
        book: &TicketBook<'_>,
    ) -> Result<Receipt, NotifyError> {
        let fingerprint = view.fingerprint();
        let known = book.get(&fingerprint).await?.filter(is_active);
        let existing = match known {
            Some(ticket) => Some(ticket.ticket_id),
            None => {
                let found = self.search(&fingerprint).await?;
                if let Some(id) = &found {
                    tracing::info!(ticket = %id, %fingerprint, "found the ticket by fingerprint");
                    book.remember(&fingerprint, view.incident.id, id).await?;
                }
                found
            }
        };
        match existing {
            // The open was delivered before (a repeat after a crash or restart): the
            // ticket already holds the opening evidence.
            Some(id) if view.action == "open" => Ok(Receipt {
                detail: format!("ticket {id} already open"),
                ticket: Some(id),
            }),
            Some(id) => {
                let text = format!(
                    "Evidence update (revision {}):\n\n{}",
                    view.incident.revision,
                    view.evidence_text()
                );
                self.comment(&id, &text).await?;
                Ok(Receipt {
                    detail: format!("commented on ticket {id}"),
                    ticket: Some(id),
                })
            }
            None => {
                let id = self.create(view, &fingerprint).await?;
                book.remember(&fingerprint, view.incident.id, &id).await?;
                Ok(Receipt {
                    detail: format!("created ticket {id}"),
                    ticket: Some(id),
                })
            }
        }
    }

    async fn resolve(
        &self,
        view: &IncidentView,
        book: &TicketBook<'_>,
    ) -> Result<Receipt, NotifyError> {
        let fingerprint = view.fingerprint();
        let known = book.get(&fingerprint).await?;
        let ticket = match &known {
            // Resolved or rejected in RT by a person: nothing left to do there.
            Some(t) if !is_active(t) => {
                return Ok(Receipt {
                    detail: format!("ticket {} is already {}", t.ticket_id, t.status),
                    ticket: Some(t.ticket_id.clone()),
                })
            }
            Some(t) => Some(t.ticket_id.clone()),
            None => self.search(&fingerprint).await?,
        };
        let Some(id) = ticket else {
            return Ok(Receipt {
                ticket: None,
                detail: "no active ticket to resolve".into(),
            });
        };
        let text = format!(
            "Resolved: {}\n\n{}",
            view.resolution(),
            view.evidence_text()
        );
        self.comment(&id, &text).await?;
        self.set_status(&id, "resolved").await?;
        match known {
            Some(t) => book.set_status(&t, "resolved").await?,
            None => {
                book.remember(&fingerprint, view.incident.id, &id).await?;
                if let Some(t) = book.get(&fingerprint).await? {
                    book.set_status(&t, "resolved").await?;
                }
            }
        }
        Ok(Receipt {
            detail: format!("resolved ticket {id}"),
            ticket: Some(id),
        })
    }
}

#[async_trait]
impl Notifier for RtNotifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn rate_limit_per_minute(&self) -> Option<u32> {
        self.rate_limit
    }

    async fn deliver(
        &self,
        notification: &Notification,
        context: &DeliveryContext,
    ) -> Result<Receipt, NotifyError> {
        let view =
            IncidentView::parse(&notification.body).map_err(|message| NotifyError::Payload {
                notifier: self.name.clone(),
                message,
            })?;
        let book = TicketBook::new(context.store.as_ref(), &self.name);
        match notification.action.as_str() {
            "open" | "update" => self.open_or_update(&view, &book).await,
            "resolve" => self.resolve(&view, &book).await,
            other => Err(NotifyError::Payload {
                notifier: self.name.clone(),
                message: format!("unknown action {other:?}"),
            }),
        }
    }

    fn ticket_sync(&self) -> Option<&dyn TicketSync> {
        self.sync_interval.map(|_| self as &dyn TicketSync)
    }
}

#[async_trait]
impl TicketSync for RtNotifier {
    fn interval(&self) -> Duration {
        self.sync_interval.unwrap_or(Duration::from_secs(60))
    }

    fn wont_fix_silence(&self) -> Duration {
        self.wont_fix_silence
    }

    async fn ticket_state(&self, ticket_id: &str) -> Result<DeskState, NotifyError> {
        let ticket = match self.read(ticket_id).await {
            Ok(ticket) => ticket,
            Err(NotifyError::Status { status: 404, .. }) => return Ok(DeskState::Gone),
            Err(other) => return Err(other),
        };
        let user = |field: &str| {
            ticket
                .get(field)
                .and_then(|u| u.get("id"))
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_owned()
        };
        let status = ticket.get("Status").and_then(Value::as_str).unwrap_or("");
        let code = |default: &str| {
            self.resolution_field
                .as_deref()
                .and_then(|field| Self::custom_field(&ticket, field))
                .unwrap_or_else(|| default.to_owned())
        };
        Ok(match status {
            "resolved" => DeskState::Resolved {
                by: user("LastUpdatedBy"),
                code: code("resolved"),
            },
            "rejected" => DeskState::WontFix {
                by: user("LastUpdatedBy"),
                code: code("won't fix"),
            },
            "deleted" => DeskState::Gone,
            _ => {
                let owner = user("Owner");
                if owner == NOBODY || owner == "unknown" {
                    DeskState::Active
                } else {
                    DeskState::Acknowledged { by: owner }
                }
            }
        })
    }
}

/// RT's ids come as strings in some answers and numbers in others.
fn id_of(value: &Value) -> Option<String> {
    match value.get("id")? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The message list RT answers updates with.
fn messages(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items
            .iter()
            .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_owned))
            .collect(),
        other => vec![other.to_string()],
    }
}

/// Escapes a value for a single-quoted TicketSQL string.
fn quote(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\'', "\\'")
}

/// RT priorities are 0-99; severities map onto the upper half so people can go lower.
fn priority(severity: &str) -> u8 {
    match severity {
        "critical" => 90,
        "error" => 70,
        "warning" => 50,
        _ => 30,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_messages_in_both_shapes() {
        assert_eq!(id_of(&json!({"id": "12"})).as_deref(), Some("12"));
        assert_eq!(id_of(&json!({"id": 12})).as_deref(), Some("12"));
        assert_eq!(id_of(&json!({"id": ""})), None);
        assert_eq!(messages(&json!(["a", "b"])), ["a", "b"]);
    }

    #[test]
    fn ticketsql_quoting() {
        assert_eq!(quote("O'Brien"), "O\\'Brien");
    }

    #[test]
    fn custom_fields_by_name() {
        let t = json!({"CustomFields": [
            {"name": "Host", "values": ["h"]},
            {"name": "Resolution", "values": ["", "disk replaced"]}
        ]});
        assert_eq!(
            RtNotifier::custom_field(&t, "Resolution").as_deref(),
            Some("disk replaced")
        );
        assert_eq!(RtNotifier::custom_field(&t, "Missing"), None);
    }
}
