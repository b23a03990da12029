//! Host endpoints: the fleet list, one host, its series, events and inventory.

use super::{int_param, limit_param, Params};
use crate::analysis::silent::is_silent;
use crate::error::ApiError;
use crate::hot::Selector;
use crate::read::raw_series;
use crate::state::{now_ms, AppState};
use crate::store::{EventRow, HostRow};
use axum::extract::{Path, Query, State};
use axum::Json;
use harbinger_shared::InventoryItem;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Incidents read per host-status computation; more open incidents than this on one
/// collector would be a problem of its own.
const OPEN_INCIDENTS_SCAN: i64 = 100_000;

/// A host with its current status, as the dashboard shows it.
#[derive(Debug, Serialize)]
pub struct HostView {
    #[serde(flatten)]
    pub host: HostRow,
    /// `silent`, `incident` or `ok`.
    pub status: &'static str,
    pub open_incidents: usize,
}

#[derive(Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct SeriesView {
    pub metric: String,
    pub labels: BTreeMap<String, String>,
}

fn view(host: HostRow, open_incidents: usize, now_ms: i64, silent_intervals: u32) -> HostView {
    let status = if is_silent(
        host.interval_ms,
        host.last_seen_ms,
        now_ms,
        silent_intervals,
    ) {
        "silent"
    } else if open_incidents > 0 {
        "incident"
    } else {
        "ok"
    };
    HostView {
        host,
        status,
        open_incidents,
    }
}

pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<HostView>>, ApiError> {
    let hosts = state.store.hosts().await?;
    let mut open: HashMap<String, usize> = HashMap::new();
    for incident in state
        .store
        .incidents(None, true, OPEN_INCIDENTS_SCAN)
        .await?
    {
        *open.entry(incident.host_id).or_default() += 1;
    }
    let now = now_ms();
    let silent_intervals = state.config.detectors.silent_intervals;
    Ok(Json(
        hosts
            .into_iter()
            .map(|h| {
                let n = open.get(&h.host_id).copied().unwrap_or(0);
                view(h, n, now, silent_intervals)
            })
            .collect(),
    ))
}

pub async fn one(
    State(state): State<AppState>,
    Path(host_id): Path<String>,
) -> Result<Json<HostView>, ApiError> {
    let host = known_host(&state, &host_id).await?;
    let open = state
        .store
        .incidents(Some(&host_id), true, OPEN_INCIDENTS_SCAN)
        .await?
        .len();
    Ok(Json(view(
        host,
        open,
        now_ms(),
        state.config.detectors.silent_intervals,
    )))
}

/// Series with data in `[start, end)`; by default those in the hot window.
pub async fn series(
    State(state): State<AppState>,
    Path(host_id): Path<String>,
    Query(params): Query<Params>,
) -> Result<Json<Vec<SeriesView>>, ApiError> {
    known_host(&state, &host_id).await?;
    let start = int_param(&params, "start")?.unwrap_or_else(|| state.hot.complete_from_ms());
    let end = int_param(&params, "end")?.unwrap_or(i64::MAX);
    let raw = raw_series(
        state.store.as_ref(),
        &state.hot,
        &host_id,
        &Selector::default(),
        start,
        end,
    )
    .await?;
    let mut out: Vec<SeriesView> = raw
        .into_iter()
        .map(|(key, _)| SeriesView {
            metric: key.metric,
            labels: key.labels,
        })
        .collect();
    out.sort();
    Ok(Json(out))
}

pub async fn events(
    State(state): State<AppState>,
    Path(host_id): Path<String>,
    Query(params): Query<Params>,
) -> Result<Json<Vec<EventRow>>, ApiError> {
    known_host(&state, &host_id).await?;
    let start = int_param(&params, "start")?.unwrap_or(0);
    let end = int_param(&params, "end")?.unwrap_or(i64::MAX);
    if end < start {
        return Err(ApiError::BadRequest(format!(
            "end: must not be before start (start={start}, end={end})"
        )));
    }
    let limit = limit_param(&params, 100, 10_000)?;
    Ok(Json(state.store.events(&host_id, start, end, limit).await?))
}

pub async fn inventory(
    State(state): State<AppState>,
    Path(host_id): Path<String>,
) -> Result<Json<Vec<InventoryItem>>, ApiError> {
    known_host(&state, &host_id).await?;
    Ok(Json(state.store.inventory(&host_id).await?))
}

/// The host, or 404 naming it.
pub(crate) async fn known_host(state: &AppState, host_id: &str) -> Result<HostRow, ApiError> {
    state
        .store
        .host(host_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("host {host_id:?} is not known")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(last_seen_ms: i64) -> HostRow {
        HostRow {
            host_id: "h".into(),
            hostname: "h".into(),
            labels: BTreeMap::new(),
            agent_version: String::new(),
            interval_ms: 1_000,
            first_seen_ms: 0,
            last_seen_ms,
            last_seq: 1,
        }
    }

    #[test]
    fn silence_beats_incidents_which_beat_ok() {
        assert_eq!(view(host(0), 2, 3_001, 3).status, "silent");
        assert_eq!(view(host(0), 2, 3_000, 3).status, "incident");
        assert_eq!(view(host(0), 0, 3_000, 3).status, "ok");
    }

    #[test]
    fn view_serializes_flat() {
        let json = serde_json::to_value(view(host(0), 1, 0, 3)).expect("json");
        assert_eq!(json["host_id"], "h");
        assert_eq!(json["status"], "incident");
        assert_eq!(json["open_incidents"], 1);
    }
}
