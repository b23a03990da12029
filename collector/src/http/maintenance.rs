//! Maintenance windows over HTTP: `POST /api/v1/maintenance` declares planned work for a
//! host or a label selector, `GET /api/v1/maintenance` lists the active and upcoming
//! windows, `DELETE /api/v1/maintenance/{id}` withdraws one.
//!
//! Inside a window the analysis engine opens no incident, marks reboots as planned and
//! learns no failure. Every change is written to the audit log, because a window
//! silences detection and someone must be answerable for it. After a change the
//! detector task is told through its queue, so the window applies to every batch
//! stored after the answer; the detector's periodic tick reloads windows too, which
//! covers a change made by another collector sharing a PostgreSQL store (within one
//! tick, `detectors.silence_check_interval`).

use super::{str_param, Params};
use crate::detect::DetectMsg;
use crate::error::ApiError;
use crate::state::{now_ms, AppState};
use crate::store::{AuditEntry, MaintenanceRow};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A window longer than this is refused: suppression that outlives anyone's memory of
/// it is how real failures go unnoticed.
pub const MAX_WINDOW_MS: i64 = 90 * 24 * 3_600_000;
/// Longest accepted `reason` and `actor`, in characters.
const MAX_TEXT: usize = 1_000;

/// The body of `POST /api/v1/maintenance`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWindow {
    /// The host under maintenance; with `labels` too, the host must also match them.
    #[serde(default)]
    pub host_id: Option<String>,
    /// A label selector: every listed label must match (e.g. `{"rack": "r12"}`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Start and end, ms since the Unix epoch (end exclusive).
    pub start_ms: i64,
    pub end_ms: i64,
    /// Why: a change ticket, "disk swap in r12", …
    pub reason: String,
    /// Who declared it, for the audit log; `api` when not given.
    #[serde(default)]
    pub actor: Option<String>,
}

/// A window as listed: the stored row and whether it is running now.
#[derive(Debug, Clone, Serialize)]
pub struct WindowView {
    #[serde(flatten)]
    pub window: MaintenanceRow,
    /// `active` (now within the window) or `upcoming`.
    pub state: &'static str,
}

impl NewWindow {
    /// Checks the request against the wall clock `now`; the message names the field.
    pub fn validate(&self, now: i64) -> Result<(), String> {
        if let Some(host) = &self.host_id {
            if host.trim().is_empty() {
                return Err("host_id: must not be empty".into());
            }
        }
        if self.host_id.is_none() && self.labels.is_empty() {
            return Err(
                "host_id: give a host_id or a label selector (labels), or both; a window never covers the whole fleet by accident".into(),
            );
        }
        for (k, v) in &self.labels {
            if k.trim().is_empty() {
                return Err("labels: a label name must not be empty".into());
            }
            if v.is_empty() {
                return Err(format!("labels.{k}: must not be empty"));
            }
        }
        if self.start_ms < 0 {
            return Err(format!(
                "start_ms: {} is before the Unix epoch",
                self.start_ms
            ));
        }
        if self.end_ms <= self.start_ms {
            return Err(format!(
                "end_ms: {} must be after start_ms ({})",
                self.end_ms, self.start_ms
            ));
        }
        if self.end_ms <= now {
            return Err(format!(
                "end_ms: {} is in the past (now is {now}); a window must not have ended yet",
                self.end_ms
            ));
        }
        if self.end_ms - self.start_ms > MAX_WINDOW_MS {
            return Err(format!(
                "end_ms: the window lasts {} days, more than the maximum of {} days",
                (self.end_ms - self.start_ms) / 86_400_000,
                MAX_WINDOW_MS / 86_400_000
            ));
        }
        if self.reason.trim().is_empty() {
            return Err("reason: must not be empty (it goes to the audit log)".into());
        }
        if self.reason.chars().count() > MAX_TEXT {
            return Err(format!("reason: longer than {MAX_TEXT} characters"));
        }
        if let Some(actor) = &self.actor {
            if actor.trim().is_empty() || actor.chars().count() > MAX_TEXT {
                return Err(format!(
                    "actor: must be between 1 and {MAX_TEXT} characters"
                ));
            }
        }
        Ok(())
    }
}

/// The audit log's description of a window.
fn describe(w: &MaintenanceRow) -> String {
    let mut scope = Vec::new();
    if !w.hosts.is_empty() {
        scope.push(format!("host {}", w.hosts.join(",")));
    }
    if !w.labels.is_empty() {
        let labels: Vec<String> = w.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        scope.push(format!("labels {}", labels.join(",")));
    }
    format!(
        "maintenance window {}: {} from {} to {} ms: {}",
        w.id,
        scope.join(" and "),
        w.start_ms,
        w.end_ms,
        w.reason
    )
}

fn audit(actor: &str, action: &str, detail: String) -> AuditEntry {
    AuditEntry {
        id: 0,
        at_ms: now_ms(),
        actor: actor.to_owned(),
        source: "api".into(),
        action: action.to_owned(),
        incident_id: None,
        ticket_id: None,
        detail,
    }
}

/// Tells the detector to reload windows; a stopped detector is no error (the next
/// start loads them from the store).
async fn wake_detector(state: &AppState) {
    if state
        .detect
        .send(DetectMsg::MaintenanceChanged)
        .await
        .is_err()
    {
        tracing::warn!("detector gone; maintenance windows apply when it next starts");
    }
}

pub async fn create(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<MaintenanceRow>), ApiError> {
    let mut de = serde_json::Deserializer::from_slice(&body);
    let new: NewWindow = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| ApiError::BadJson(format!("maintenance window: {e}")))?;
    let now = now_ms();
    new.validate(now).map_err(ApiError::Invalid)?;
    let mut row = MaintenanceRow {
        id: 0,
        start_ms: new.start_ms,
        end_ms: new.end_ms,
        hosts: new.host_id.iter().map(|h| h.trim().to_owned()).collect(),
        labels: new.labels,
        reason: new.reason.trim().to_owned(),
        created_ms: now,
    };
    row.id = state.store.add_maintenance(&row).await?;
    let actor = new.actor.as_deref().unwrap_or("api").trim().to_owned();
    tracing::info!(id = row.id, hosts = ?row.hosts, labels = ?row.labels, start_ms = row.start_ms,
        end_ms = row.end_ms, %actor, "maintenance window added");
    wake_detector(&state).await;
    // The window is in force already; a failed audit is answered as an error so the
    // caller knows the record is incomplete (retrying adds an overlapping window, which
    // changes nothing for detection).
    state
        .store
        .record_audit(&audit(&actor, "maintenance_add", describe(&row)))
        .await?;
    Ok((StatusCode::CREATED, Json(row)))
}

pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<WindowView>>, ApiError> {
    let now = now_ms();
    let rows = state.store.maintenance_windows(now).await?;
    Ok(Json(
        rows.into_iter()
            .map(|w| WindowView {
                state: if w.start_ms <= now {
                    "active"
                } else {
                    "upcoming"
                },
                window: w,
            })
            .collect(),
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> Result<StatusCode, ApiError> {
    let id: i64 = id
        .trim()
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("id: {id:?} is not an integer")))?;
    let actor = match str_param(&params, "actor") {
        None => "api".to_owned(),
        Some(a) if !a.trim().is_empty() && a.chars().count() <= MAX_TEXT => a.trim().to_owned(),
        Some(_) => {
            return Err(ApiError::BadRequest(format!(
                "actor: must be between 1 and {MAX_TEXT} characters"
            )))
        }
    };
    // Read the window first so the audit entry says what was withdrawn.
    let now = now_ms();
    let existing = state
        .store
        .maintenance_windows(i64::MIN)
        .await?
        .into_iter()
        .find(|w| w.id == id);
    if !state.store.delete_maintenance(id, now).await? {
        return Err(ApiError::NotFound(format!(
            "maintenance window {id} does not exist or was already deleted"
        )));
    }
    tracing::info!(id, %actor, "maintenance window deleted");
    wake_detector(&state).await;
    let detail = existing.map_or_else(|| format!("maintenance window {id}"), |w| describe(&w));
    state
        .store
        .record_audit(&audit(&actor, "maintenance_delete", detail))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window() -> NewWindow {
        NewWindow {
            host_id: Some("h1".into()),
            labels: BTreeMap::new(),
            start_ms: 1_000,
            end_ms: 5_000,
            reason: "disk swap".into(),
            actor: None,
        }
    }

    fn field(w: &NewWindow) -> String {
        let message = w.validate(2_000).expect_err("invalid");
        message.split(':').next().unwrap_or_default().to_owned()
    }

    #[test]
    fn validation_names_the_field() {
        assert_eq!(window().validate(2_000), Ok(()));
        let by_labels = NewWindow {
            host_id: None,
            labels: BTreeMap::from([("rack".into(), "r1".into())]),
            ..window()
        };
        assert_eq!(by_labels.validate(2_000), Ok(()));
        assert_eq!(
            field(&NewWindow {
                host_id: None,
                ..window()
            }),
            "host_id"
        );
        assert_eq!(
            field(&NewWindow {
                host_id: Some(" ".into()),
                ..window()
            }),
            "host_id"
        );
        assert_eq!(
            field(&NewWindow {
                end_ms: 1_000,
                ..window()
            }),
            "end_ms"
        );
        assert_eq!(
            field(&NewWindow {
                end_ms: 1_500,
                ..window()
            }),
            "end_ms"
        );
        assert_eq!(
            field(&NewWindow {
                end_ms: 1_000 + MAX_WINDOW_MS + 1,
                ..window()
            }),
            "end_ms"
        );
        assert_eq!(
            field(&NewWindow {
                start_ms: -1,
                ..window()
            }),
            "start_ms"
        );
        assert_eq!(
            field(&NewWindow {
                reason: "  ".into(),
                ..window()
            }),
            "reason"
        );
        assert_eq!(
            field(&NewWindow {
                labels: BTreeMap::from([("rack".into(), String::new())]),
                ..window()
            }),
            "labels.rack"
        );
    }

    #[test]
    fn audit_detail_names_scope_and_reason() {
        let row = MaintenanceRow {
            id: 7,
            start_ms: 1,
            end_ms: 2,
            hosts: vec!["h1".into()],
            labels: BTreeMap::from([("rack".into(), "r1".into())]),
            reason: "swap".into(),
            created_ms: 0,
        };
        assert_eq!(
            describe(&row),
            "maintenance window 7: host h1 and labels rack=r1 from 1 to 2 ms: swap"
        );
    }
}
