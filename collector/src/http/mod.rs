//! The HTTP surface: every route is listed here, with the layers that wrap them.
//!
//! Handlers contain no SQL (all of it is in `store/`) and send no notifications (only
//! the outbox does).

mod hardware;
mod health;
mod hosts;
mod incidents;
mod ingest;
mod maintenance;
mod query;
mod query_fleet;

use crate::error::ApiError;
use crate::state::AppState;
use axum::routing::{get, post};
use axum::Router;
use std::collections::BTreeMap;
use tower_http::trace::TraceLayer;

/// The whole API and the embedded dashboard, ready to serve.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/ingest", post(ingest::ingest))
        .route("/api/v1/hosts", get(hosts::list))
        .route("/api/v1/hosts/{host_id}", get(hosts::one))
        .route("/api/v1/hosts/{host_id}/series", get(hosts::series))
        .route("/api/v1/hosts/{host_id}/query", get(query::range))
        .route("/api/v1/hosts/{host_id}/events", get(hosts::events))
        .route("/api/v1/hosts/{host_id}/inventory", get(hosts::inventory))
        .route(
            "/api/v1/hosts/{host_id}/inventory/history",
            get(hardware::inventory_history),
        )
        .route("/api/v1/hosts/{host_id}/latest", get(hardware::latest))
        .route("/api/v1/fleet/firmware", get(hardware::fleet_firmware))
        .route("/api/v1/fleet/aggregate", get(query_fleet::aggregate))
        .route("/api/v1/incidents", get(incidents::list))
        .route("/api/v1/incidents/{id}", get(incidents::detail))
        .route(
            "/api/v1/maintenance",
            get(maintenance::list).post(maintenance::create),
        )
        .route(
            "/api/v1/maintenance/{id}",
            axum::routing::delete(maintenance::delete),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .merge(crate::dashboard::router())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Query parameters as ordered pairs, so repeated and prefixed keys (`label.K=V`)
/// survive; axum's `Query<Vec<(String, String)>>` yields them in this form.
pub(crate) type Params = Vec<(String, String)>;

/// The last value of a parameter, parsed as an integer, naming it when malformed.
pub(crate) fn int_param(params: &Params, name: &str) -> Result<Option<i64>, ApiError> {
    params
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| {
            v.trim()
                .parse::<i64>()
                .map_err(|_| ApiError::BadRequest(format!("{name}: {v:?} is not an integer")))
        })
        .transpose()
}

/// The last value of a string parameter.
pub(crate) fn str_param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `label.K=V` parameters as a filter map.
pub(crate) fn label_filters(params: &Params) -> BTreeMap<String, String> {
    params
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("label.").map(|k| (k.to_owned(), v.clone())))
        .collect()
}

/// A `limit` parameter, defaulted and capped.
pub(crate) fn limit_param(params: &Params, default: i64, max: i64) -> Result<i64, ApiError> {
    match int_param(params, "limit")? {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::BadRequest(format!(
            "limit: {n} is out of range 1..={max}"
        ))),
    }
}
