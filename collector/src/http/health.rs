//! `/healthz` (the process answers), `/readyz` (the store answers) and `/metrics`.

use crate::error::ApiError;
use crate::state::AppState;
use crate::telemetry::Gauges;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    state.store.ping().await.map_err(ApiError::Unavailable)?;
    Ok("ready")
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let hosts_known = match state.store.hosts().await {
        Ok(hosts) => hosts.len() as u64,
        Err(error) => {
            // Still serve the counters; a scrape is most useful exactly when the store is ill.
            tracing::warn!(%error, "metrics: cannot count hosts");
            0
        }
    };
    let (hot_series, hot_points) = state.hot.stats();
    let body = state.telemetry.render(Gauges {
        hosts_known,
        hot_series: hot_series as u64,
        hot_points: hot_points as u64,
    });
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        body,
    )
}
