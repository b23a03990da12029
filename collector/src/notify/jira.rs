//! Jira Cloud REST v3 (and Jira Service Management projects): one issue per incident
//! occurrence (or ticket group) with the fingerprint as a label, evidence updates as
//! comments, and recovery through the transition whose target status category is
//! `done` (transition ids and names are workflow-specific; the category is not).
//!
//! v3 takes rich text only as Atlassian Document Format, so descriptions and comments
//! are built as ADF documents ([`adf`]); a plain string would be answered 400.
//!
//! Jira search is eventually consistent: an issue created a moment ago may not be
//! found yet. The local fingerprint → issue reference ([`TicketBook`]) is therefore the
//! source of truth, and the JQL search (`POST /rest/api/3/search/jql`, the endpoint that
//! replaced the removed `/rest/api/3/search`) is only the fallback after a restart with
//! a lost store.

use super::http::Http;
use super::tickets::{is_active, TicketBook};
use super::view::IncidentView;
use super::{DeliveryContext, Notification, Notifier, NotifyError, Receipt};
use crate::config::{JiraConfig, NotifierConfig};
use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use reqwest::{Method, Url};
use serde_json::{json, Value};

/// Jira's limit on `summary`.
pub const SUMMARY_MAX: usize = 255;

enum Auth {
    Basic { email: String, token: String },
    Bearer,
}

pub struct JiraNotifier {
    name: String,
    /// The site, ending in `/`.
    base: Url,
    auth: Auth,
    config: JiraConfig,
    rate_limit: Option<u32>,
    http: Http,
}

/// Builders of Atlassian Document Format nodes.
pub mod adf {
    use serde_json::{json, Value};

    /// A document of block nodes.
    pub fn doc(content: Vec<Value>) -> Value {
        json!({"type": "doc", "version": 1, "content": content})
    }

    /// A paragraph of plain text; ADF forbids empty text nodes, so an empty paragraph
    /// has no content at all.
    pub fn paragraph(text: &str) -> Value {
        if text.is_empty() {
            return json!({"type": "paragraph", "content": []});
        }
        json!({"type": "paragraph", "content": [{"type": "text", "text": text}]})
    }

    /// A paragraph with one linked text.
    pub fn link(text: &str, href: &str) -> Value {
        json!({"type": "paragraph", "content": [{
            "type": "text", "text": text,
            "marks": [{"type": "link", "attrs": {"href": href}}]
        }]})
    }

    pub fn heading(level: u8, text: &str) -> Value {
        json!({"type": "heading", "attrs": {"level": level},
            "content": [{"type": "text", "text": text}]})
    }

    /// Preformatted text (no marks allowed inside a code block).
    pub fn code_block(text: &str) -> Value {
        if text.is_empty() {
            return json!({"type": "codeBlock", "content": []});
        }
        json!({"type": "codeBlock", "content": [{"type": "text", "text": text}]})
    }
}

impl JiraNotifier {
    pub fn new(common: &NotifierConfig, config: &JiraConfig) -> Result<Self, NotifyError> {
        let fail = |message: String| NotifyError::Config {
            notifier: common.name.clone(),
            message,
        };
        let mut base = config.url.trim_end_matches('/').to_owned();
        base.push('/');
        let base = Url::parse(&base).map_err(|e| fail(format!("url: {e}")))?;
        let mut headers = HeaderMap::new();
        let auth = match (&config.email, &config.api_token, &config.bearer_token) {
            (_, _, Some(token)) => {
                let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                    .map_err(|_| fail("bearer_token: not a valid header value".into()))?;
                value.set_sensitive(true);
                headers.insert(AUTHORIZATION, value);
                Auth::Bearer
            }
            (Some(email), Some(token), None) => Auth::Basic {
                email: email.clone(),
                token: token.expose().to_owned(),
            },
            _ => {
                return Err(fail(
                    "set either email and api_token, or bearer_token".into(),
                ))
            }
        };
        Ok(Self {
            name: common.name.clone(),
            base,
            auth,
            config: config.clone(),
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

    /// Sends and returns the body (`Null` for an empty 204).
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
        if let Auth::Basic { email, token } = &self.auth {
            request = request.basic_auth(email, Some(token));
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let reply = self.http.send(request, url).await?;
        if reply.body.trim().is_empty() {
            return Ok(Value::Null);
        }
        reply.json(&self.name, url)
    }

    /// The key of an issue not done that carries the fingerprint label.
    pub async fn search(&self, fingerprint: &str) -> Result<Option<String>, NotifyError> {
        let url = self.url("rest/api/3/search/jql")?;
        let jql = format!(
            "project = \"{}\" AND labels = \"{fingerprint}\" AND statusCategory != Done ORDER BY created ASC",
            self.config.project
        );
        let body = json!({"jql": jql, "fields": ["status"], "maxResults": 1});
        let answer = self.send(Method::POST, &url, Some(&body)).await?;
        let issues = answer
            .get("issues")
            .and_then(Value::as_array)
            .ok_or_else(|| self.protocol(&url, "search answer has no issues list"))?;
        Ok(issues
            .first()
            .and_then(|i| i.get("key"))
            .and_then(Value::as_str)
            .map(str::to_owned))
    }

    fn description(view: &IncidentView) -> Value {
        let mut content = Vec::new();
        if view.test {
            content.push(adf::paragraph(
                "THIS IS A TEST NOTIFICATION from harbinger-collector notify-test; no action is needed.",
            ));
        }
        content.push(adf::heading(3, &view.summary()));
        content.push(adf::code_block(&view.evidence_text()));
        if !view.dashboard_url.is_empty() {
            content.push(adf::link(
                "Open the host in the Harbinger dashboard",
                &view.dashboard_url,
            ));
        }
        adf::doc(content)
    }

    async fn create(&self, view: &IncidentView, fingerprint: &str) -> Result<String, NotifyError> {
        let url = self.url("rest/api/3/issue")?;
        let mut labels = self.config.labels.clone();
        labels.push(fingerprint.to_owned());
        let mut fields = json!({
            "project": {"key": self.config.project},
            "issuetype": {"name": self.config.issue_type},
            "summary": super::pagerduty::truncate(&view.summary(), SUMMARY_MAX),
            "labels": labels,
            "description": Self::description(view),
        });
        if let Some(priority) = self.config.priorities.get(&view.incident.severity) {
            fields["priority"] = json!({ "name": priority });
        }
        let answer = self
            .send(Method::POST, &url, Some(&json!({ "fields": fields })))
            .await?;
        answer
            .get("key")
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| self.protocol(&url, format!("create answer without key: {answer}")))
    }

    fn comment_body(&self, text: &str) -> Value {
        let mut body = json!({ "body": adf::doc(vec![adf::code_block(text)]) });
        if self.config.internal_comments {
            body["properties"] = json!([{"key": "sd.public.comment", "value": {"internal": true}}]);
        }
        body
    }

    async fn comment(&self, key: &str, text: &str) -> Result<(), NotifyError> {
        let url = self.url(&format!("rest/api/3/issue/{key}/comment"))?;
        self.send(Method::POST, &url, Some(&self.comment_body(text)))
            .await?;
        Ok(())
    }

    /// Moves the issue through the transition that leads to a `done` status.
    async fn transition_to_done(&self, key: &str, text: &str) -> Result<(), NotifyError> {
        let url = self.url(&format!("rest/api/3/issue/{key}/transitions"))?;
        let answer = self.send(Method::GET, &url, None).await?;
        let transitions = answer
            .get("transitions")
            .and_then(Value::as_array)
            .ok_or_else(|| self.protocol(&url, "answer has no transitions list"))?;
        let done = transitions.iter().find(|t| {
            t.pointer("/to/statusCategory/key").and_then(Value::as_str) == Some("done")
                && t.get("isAvailable").and_then(Value::as_bool) != Some(false)
        });
        let Some(id) = done.and_then(|t| t.get("id")).and_then(Value::as_str) else {
            let names: Vec<&str> = transitions
                .iter()
                .filter_map(|t| t.get("name").and_then(Value::as_str))
                .collect();
            return Err(NotifyError::Rejected {
                notifier: self.name.clone(),
                url: url.to_string(),
                message: format!(
                    "issue {key} has no transition to a done status (available: {})",
                    names.join(", ")
                ),
            });
        };
        let mut body = json!({
            "transition": {"id": id},
            "update": {"comment": [{"add": {"body": adf::doc(vec![adf::code_block(text)])}}]},
        });
        if let Some(resolution) = &self.config.resolution {
            body["fields"] = json!({"resolution": {"name": resolution}});
        }
        self.send(Method::POST, &url, Some(&body)).await?;
        Ok(())
    }

    async fn existing(
        &self,
        view: &IncidentView,
        book: &TicketBook<'_>,
    ) -> Result<Option<String>, NotifyError> {
        let fingerprint = view.fingerprint();
        if let Some(ticket) = book.get(&fingerprint).await?.filter(is_active) {
            return Ok(Some(ticket.ticket_id));
        }
        let found = self.search(&fingerprint).await?;
        if let Some(key) = &found {
            tracing::info!(issue = %key, %fingerprint, "found the issue by fingerprint label");
            book.remember(&fingerprint, view.incident.id, key).await?;
        }
        Ok(found)
    }

    async fn open_or_update(
        &self,
        view: &IncidentView,
        book: &TicketBook<'_>,
    ) -> Result<Receipt, NotifyError> {
        match self.existing(view, book).await? {
            Some(key) if view.action == "open" => Ok(Receipt {
                detail: format!("issue {key} already open"),
                ticket: Some(key),
            }),
            Some(key) => {
                let text = format!(
                    "Evidence update (revision {}):\n\n{}",
                    view.incident.revision,
                    view.evidence_text()
                );
                self.comment(&key, &text).await?;
                Ok(Receipt {
                    detail: format!("commented on issue {key}"),
                    ticket: Some(key),
                })
            }
            None => {
                let fingerprint = view.fingerprint();
                let key = self.create(view, &fingerprint).await?;
                book.remember(&fingerprint, view.incident.id, &key).await?;
                Ok(Receipt {
                    detail: format!("created issue {key}"),
                    ticket: Some(key),
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
        if let Some(t) = book.get(&fingerprint).await? {
            if !is_active(&t) {
                return Ok(Receipt {
                    detail: format!("issue {} is already {}", t.ticket_id, t.status),
                    ticket: Some(t.ticket_id),
                });
            }
        }
        let Some(key) = self.existing(view, book).await? else {
            return Ok(Receipt {
                ticket: None,
                detail: "no open issue to resolve".into(),
            });
        };
        let text = format!(
            "Resolved: {}\n\n{}",
            view.resolution(),
            view.evidence_text()
        );
        self.transition_to_done(&key, &text).await?;
        if let Some(t) = book.get(&fingerprint).await? {
            book.set_status(&t, "resolved").await?;
        }
        Ok(Receipt {
            detail: format!("resolved issue {key}"),
            ticket: Some(key),
        })
    }
}

#[async_trait]
impl Notifier for JiraNotifier {
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
            "acknowledge" => {
                let Some(key) = self.existing(&view, &book).await? else {
                    return Ok(Receipt {
                        ticket: None,
                        detail: "no open issue to note the acknowledgement on".into(),
                    });
                };
                let by = view
                    .incident
                    .details
                    .get("acknowledged_by")
                    .and_then(Value::as_str)
                    .unwrap_or("someone");
                self.comment(&key, &format!("Acknowledged by {by}."))
                    .await?;
                Ok(Receipt {
                    detail: format!("noted the acknowledgement on issue {key}"),
                    ticket: Some(key),
                })
            }
            "resolve" => self.resolve(&view, &book).await,
            other => Err(NotifyError::Payload {
                notifier: self.name.clone(),
                message: format!("unknown action {other:?}"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adf_never_has_empty_text_nodes() {
        assert_eq!(adf::paragraph("")["content"], json!([]));
        assert_eq!(adf::code_block("")["content"], json!([]));
        let doc = adf::doc(vec![adf::paragraph("a"), adf::link("b", "http://x/")]);
        assert_eq!(doc["version"], json!(1));
        assert_eq!(
            doc["content"][1]["content"][0]["marks"][0]["attrs"]["href"],
            json!("http://x/")
        );
    }
}
