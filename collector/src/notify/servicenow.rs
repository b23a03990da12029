//! ServiceNow incidents through the Table API: one incident per incident occurrence
//! (or ticket group), with `correlation_id` = the fingerprint and `correlation_display`
//! = `Harbinger`; evidence updates append `work_notes` (a journal field: every PATCH
//! with a value adds an entry); recovery sets the configured resolved state, close code
//! and close notes. After a restart with no local reference, the open incident is found
//! by `correlation_id` (`active=true`), so no second incident is created.
//!
//! Instances run business rules and data policies that can quietly keep a state
//! change from happening, so the resolve asks for `state` back and checks it.
//!
//! The two-way sync reads incidents back: New with nobody assigned is untouched, an
//! assignee or In Progress / On Hold acknowledges, Resolved or Closed resolves with the
//! close code as the outcome, Canceled or a configured "won't fix" close code silences
//! the component, 404 is gone.

use super::http::Http;
use super::tickets::{is_active, TicketBook};
use super::view::IncidentView;
use super::{DeliveryContext, DeskState, Notification, Notifier, NotifyError, Receipt, TicketSync};
use crate::config::{NotifierConfig, ServiceNowConfig};
use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use reqwest::{Method, Url};
use serde_json::{json, Map, Value};
use std::time::Duration;

/// The `short_description` column is `string(160)` on the incident table.
pub const SHORT_DESCRIPTION_MAX: usize = 160;
/// States of the Helsinki+ incident model the sync reads.
const STATE_NEW: &str = "1";
const STATE_RESOLVED: &str = "6";
const STATE_CLOSED: &str = "7";
const STATE_CANCELED: &str = "8";

enum Auth {
    Basic { user: String, password: String },
    Bearer,
}

pub struct ServiceNowNotifier {
    name: String,
    /// `<instance>/api/now/table/<table>`, without a trailing slash.
    table_url: Url,
    auth: Auth,
    config: ServiceNowConfig,
    rate_limit: Option<u32>,
    http: Http,
}

impl ServiceNowNotifier {
    pub fn new(common: &NotifierConfig, config: &ServiceNowConfig) -> Result<Self, NotifyError> {
        let fail = |message: String| NotifyError::Config {
            notifier: common.name.clone(),
            message,
        };
        let base = config.url.trim_end_matches('/');
        let table_url = Url::parse(&format!("{base}/api/now/table/{}", config.table))
            .map_err(|e| fail(format!("url: {e}")))?;
        let mut headers = HeaderMap::new();
        let auth = match (&config.username, &config.password, &config.token) {
            (_, _, Some(token)) => {
                let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                    .map_err(|_| fail("token: not a valid header value".into()))?;
                value.set_sensitive(true);
                headers.insert(AUTHORIZATION, value);
                Auth::Bearer
            }
            (Some(user), Some(password), None) => Auth::Basic {
                user: user.clone(),
                password: password.expose().to_owned(),
            },
            _ => return Err(fail("set either username and password, or token".into())),
        };
        Ok(Self {
            name: common.name.clone(),
            table_url,
            auth,
            config: config.clone(),
            rate_limit: common.rate_limit_per_minute,
            http: Http::new(&common.name, common.timeout.as_duration(), headers)?,
        })
    }

    /// `…/incident` or `…/incident/<sys_id>` with query parameters.
    fn url(&self, sys_id: Option<&str>, query: &[(&str, &str)]) -> Url {
        let mut url = self.table_url.clone();
        if let Some(id) = sys_id {
            if let Ok(mut segments) = url.path_segments_mut() {
                segments.push(id);
            }
        }
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        url
    }

    async fn send(
        &self,
        method: Method,
        url: &Url,
        body: Option<&Value>,
    ) -> Result<Value, NotifyError> {
        let mut request = self
            .http
            .request(method, url.clone())
            .header("Accept", "application/json");
        if let Auth::Basic { user, password } = &self.auth {
            request = request.basic_auth(user, Some(password));
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let reply = self.http.send(request, url).await?;
        let answer = reply.json(&self.name, url)?;
        answer
            .get("result")
            .cloned()
            .ok_or_else(|| self.protocol(url, format!("answer has no result: {answer}")))
    }

    fn protocol(&self, url: &Url, message: impl Into<String>) -> NotifyError {
        NotifyError::Protocol {
            notifier: self.name.clone(),
            url: url.to_string(),
            message: message.into(),
        }
    }

    /// The active incident carrying `fingerprint` as its correlation id.
    pub async fn search(&self, fingerprint: &str) -> Result<Option<String>, NotifyError> {
        // Fingerprints are [a-z0-9-]: nothing to escape in the encoded query.
        let query = format!("correlation_id={fingerprint}^active=true");
        let url = self.url(
            None,
            &[
                ("sysparm_query", &query),
                ("sysparm_fields", "sys_id,number,state"),
                ("sysparm_limit", "1"),
            ],
        );
        let result = self.send(Method::GET, &url, None).await?;
        let items = result
            .as_array()
            .ok_or_else(|| self.protocol(&url, "search result is not a list"))?;
        match items.first() {
            None => Ok(None),
            Some(item) => item
                .get("sys_id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(|s| Some(s.to_owned()))
                .ok_or_else(|| self.protocol(&url, format!("search item without sys_id: {item}"))),
        }
    }

    async fn create(
        &self,
        view: &IncidentView,
        fingerprint: &str,
    ) -> Result<(String, String), NotifyError> {
        let url = self.url(
            None,
            &[
                ("sysparm_input_display_value", "true"),
                ("sysparm_exclude_reference_link", "true"),
                ("sysparm_fields", "sys_id,number,state"),
            ],
        );
        let (urgency, impact) = urgency_impact(&view.incident.severity);
        let mut body = Map::new();
        body.insert(
            "short_description".into(),
            json!(super::pagerduty::truncate(
                &view.summary(),
                SHORT_DESCRIPTION_MAX
            )),
        );
        body.insert("description".into(), json!(view.evidence_text()));
        body.insert("urgency".into(), json!(urgency));
        body.insert("impact".into(), json!(impact));
        body.insert("correlation_id".into(), json!(fingerprint));
        body.insert("correlation_display".into(), json!("Harbinger"));
        body.insert("contact_type".into(), json!("monitoring"));
        if let Some(caller) = &self.config.caller {
            body.insert("caller_id".into(), json!(caller));
        }
        if let Some(group) = &self.config.assignment_group {
            body.insert("assignment_group".into(), json!(group));
        }
        if let Some(category) = &self.config.category {
            body.insert("category".into(), json!(category));
        }
        let result = self
            .send(Method::POST, &url, Some(&Value::Object(body)))
            .await?;
        let sys_id = result
            .get("sys_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                self.protocol(&url, format!("create answer without sys_id: {result}"))
            })?;
        let number = result
            .get("number")
            .and_then(Value::as_str)
            .unwrap_or_default();
        Ok((sys_id.to_owned(), number.to_owned()))
    }

    async fn patch(&self, sys_id: &str, body: &Value) -> Result<Value, NotifyError> {
        let url = self.url(
            Some(sys_id),
            &[
                ("sysparm_exclude_reference_link", "true"),
                ("sysparm_fields", "sys_id,number,state"),
            ],
        );
        self.send(Method::PATCH, &url, Some(body)).await
    }

    async fn open_or_update(
        &self,
        view: &IncidentView,
        book: &TicketBook<'_>,
    ) -> Result<Receipt, NotifyError> {
        let fingerprint = view.fingerprint();
        let existing = match book.get(&fingerprint).await?.filter(is_active) {
            Some(ticket) => Some(ticket.ticket_id),
            None => {
                // A create that timed out may have happened: search before creating.
                let found = self.search(&fingerprint).await?;
                if let Some(id) = &found {
                    tracing::info!(sys_id = %id, %fingerprint, "found the incident by correlation_id");
                    book.remember(&fingerprint, view.incident.id, id).await?;
                }
                found
            }
        };
        match existing {
            Some(id) if view.action == "open" => Ok(Receipt {
                detail: format!("incident {id} already open"),
                ticket: Some(id),
            }),
            Some(id) => {
                let (urgency, impact) = urgency_impact(&view.incident.severity);
                let note = format!(
                    "Evidence update (revision {}):\n\n{}",
                    view.incident.revision,
                    view.evidence_text()
                );
                self.patch(
                    &id,
                    &json!({"work_notes": note, "urgency": urgency, "impact": impact}),
                )
                .await?;
                Ok(Receipt {
                    detail: format!("added work notes to incident {id}"),
                    ticket: Some(id),
                })
            }
            None => {
                let (id, number) = self.create(view, &fingerprint).await?;
                book.remember(&fingerprint, view.incident.id, &id).await?;
                Ok(Receipt {
                    detail: format!("created incident {number} ({id})"),
                    ticket: Some(id),
                })
            }
        }
    }

    async fn acknowledge(
        &self,
        view: &IncidentView,
        book: &TicketBook<'_>,
    ) -> Result<Receipt, NotifyError> {
        let fingerprint = view.fingerprint();
        let Some(ticket) = book.get(&fingerprint).await?.filter(is_active) else {
            return Ok(Receipt {
                ticket: None,
                detail: "no active incident to note the acknowledgement on".into(),
            });
        };
        let by = view
            .incident
            .details
            .get("acknowledged_by")
            .and_then(Value::as_str)
            .unwrap_or("someone");
        self.patch(
            &ticket.ticket_id,
            &json!({ "work_notes": format!("Acknowledged by {by}.") }),
        )
        .await?;
        Ok(Receipt {
            detail: format!("noted the acknowledgement on incident {}", ticket.ticket_id),
            ticket: Some(ticket.ticket_id),
        })
    }

    async fn resolve(
        &self,
        view: &IncidentView,
        book: &TicketBook<'_>,
    ) -> Result<Receipt, NotifyError> {
        let fingerprint = view.fingerprint();
        let known = book.get(&fingerprint).await?;
        let id = match &known {
            Some(t) if !is_active(t) => {
                return Ok(Receipt {
                    detail: format!("incident {} is already {}", t.ticket_id, t.status),
                    ticket: Some(t.ticket_id.clone()),
                })
            }
            Some(t) => Some(t.ticket_id.clone()),
            None => self.search(&fingerprint).await?,
        };
        let Some(id) = id else {
            return Ok(Receipt {
                ticket: None,
                detail: "no active incident to resolve".into(),
            });
        };
        let body = json!({
            "state": self.config.resolve_state,
            "close_code": self.config.close_code,
            "close_notes": format!("{} {}", self.config.close_notes, view.resolution()),
            "work_notes": format!("Resolved: {}\n\n{}", view.resolution(), view.evidence_text()),
        });
        let result = self.patch(&id, &body).await?;
        let state = result.get("state").and_then(Value::as_str).unwrap_or("");
        if state != self.config.resolve_state {
            return Err(NotifyError::Rejected {
                notifier: self.name.clone(),
                url: self.url(Some(&id), &[]).to_string(),
                message: format!(
                    "state is {state:?} after the resolve, not {:?} (a business rule or data policy?)",
                    self.config.resolve_state
                ),
            });
        }
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
            detail: format!("resolved incident {id}"),
            ticket: Some(id),
        })
    }
}

/// ServiceNow's 1 (high) … 3 (low); priority is computed by the instance from both.
pub fn urgency_impact(severity: &str) -> (&'static str, &'static str) {
    match severity {
        "critical" => ("1", "1"),
        "error" => ("1", "2"),
        "warning" => ("2", "2"),
        _ => ("3", "3"),
    }
}

/// A field read with `sysparm_display_value=all` is `{display_value, value}`; without,
/// a plain string. Returns (value, display).
fn field(record: &Value, name: &str) -> (String, String) {
    match record.get(name) {
        Some(Value::Object(map)) => {
            let get = |k: &str| map.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            (get("value"), get("display_value"))
        }
        Some(Value::String(s)) => (s.clone(), s.clone()),
        _ => (String::new(), String::new()),
    }
}

#[async_trait]
impl Notifier for ServiceNowNotifier {
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
            "acknowledge" => self.acknowledge(&view, &book).await,
            "resolve" => self.resolve(&view, &book).await,
            other => Err(NotifyError::Payload {
                notifier: self.name.clone(),
                message: format!("unknown action {other:?}"),
            }),
        }
    }

    fn ticket_sync(&self) -> Option<&dyn TicketSync> {
        self.config.sync_interval.map(|_| self as &dyn TicketSync)
    }
}

#[async_trait]
impl TicketSync for ServiceNowNotifier {
    fn interval(&self) -> Duration {
        self.config
            .sync_interval
            .map_or(Duration::from_secs(60), |d| d.as_duration())
    }

    fn wont_fix_silence(&self) -> Duration {
        self.config.wont_fix_silence.as_duration()
    }

    async fn ticket_state(&self, sys_id: &str) -> Result<DeskState, NotifyError> {
        let url = self.url(
            Some(sys_id),
            &[
                ("sysparm_display_value", "all"),
                ("sysparm_exclude_reference_link", "true"),
                (
                    "sysparm_fields",
                    "state,close_code,assigned_to,resolved_by,sys_updated_by",
                ),
            ],
        );
        let record = match self.send(Method::GET, &url, None).await {
            Ok(record) => record,
            Err(NotifyError::Status { status: 404, .. }) => return Ok(DeskState::Gone),
            Err(other) => return Err(other),
        };
        let (state, _) = field(&record, "state");
        let (_, close_code) = field(&record, "close_code");
        let (_, assigned) = field(&record, "assigned_to");
        let (_, resolved_by) = field(&record, "resolved_by");
        let (updated_by, _) = field(&record, "sys_updated_by");
        let or = |a: &str, b: &str| {
            if a.is_empty() {
                b.to_owned()
            } else {
                a.to_owned()
            }
        };
        let by = or(&resolved_by, &or(&updated_by, "unknown"));
        let wont_fix = self
            .config
            .wont_fix_close_codes
            .iter()
            .any(|c| c.eq_ignore_ascii_case(&close_code));
        Ok(match state.as_str() {
            STATE_CANCELED => DeskState::WontFix {
                by,
                code: or(&close_code, "canceled"),
            },
            STATE_RESOLVED | STATE_CLOSED if wont_fix => DeskState::WontFix {
                by,
                code: close_code,
            },
            STATE_RESOLVED | STATE_CLOSED => DeskState::Resolved {
                by,
                code: or(&close_code, "resolved"),
            },
            STATE_NEW if assigned.is_empty() => DeskState::Active,
            "" => return Err(self.protocol(&url, format!("record without state: {record}"))),
            _ => DeskState::Acknowledged {
                by: or(&assigned, &or(&updated_by, "unknown")),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_in_both_shapes() {
        let all = json!({"state": {"value": "6", "display_value": "Resolved"}, "n": 1});
        assert_eq!(field(&all, "state"), ("6".into(), "Resolved".into()));
        let plain = json!({"state": "2"});
        assert_eq!(field(&plain, "state"), ("2".into(), "2".into()));
        assert_eq!(field(&plain, "missing"), (String::new(), String::new()));
    }

    #[test]
    fn severity_to_urgency_and_impact() {
        assert_eq!(urgency_impact("critical"), ("1", "1"));
        assert_eq!(urgency_impact("warning"), ("2", "2"));
        assert_eq!(urgency_impact("info"), ("3", "3"));
    }
}
