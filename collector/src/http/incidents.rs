//! Incident endpoints: the list and one incident with its notifications.

use super::{int_param, limit_param, str_param, Params};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{IncidentRow, OutboxRow};
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct IncidentDetail {
    pub incident: IncidentRow,
    pub notifications: Vec<OutboxRow>,
}

pub async fn list(
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<Json<Vec<IncidentRow>>, ApiError> {
    let open_only = match str_param(&params, "status") {
        None | Some("all") => false,
        Some("open") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "status: {other:?} is not one of open, all"
            )))
        }
    };
    let limit = limit_param(&params, 100, 10_000)?;
    let host = str_param(&params, "host_id").filter(|h| !h.is_empty());
    Ok(Json(state.store.incidents(host, open_only, limit).await?))
}

pub async fn detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<IncidentDetail>, ApiError> {
    let params: Params = vec![("id".into(), id.clone())];
    let id = int_param(&params, "id")?.unwrap_or_default();
    let incident = find(&state, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("incident {id} does not exist")))?;
    let notifications = state.store.outbox_for_incident(id).await?;
    Ok(Json(IncidentDetail {
        incident,
        notifications,
    }))
}

/// The store has no lookup by id yet, so this scans the incident list (newest first),
/// which stays cheap while incidents number in the thousands.
async fn find(state: &AppState, id: i64) -> Result<Option<IncidentRow>, ApiError> {
    Ok(state
        .store
        .incidents(None, false, i64::MAX)
        .await?
        .into_iter()
        .find(|i| i.id == id))
}
