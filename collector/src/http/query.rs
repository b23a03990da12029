//! `GET /api/v1/hosts/{host_id}/query`: one metric's series over a time range,
//! bucketed by step into min/max/avg, optionally as a per-second rate, read from the
//! tier the step and the range's age call for (raw chunks, 5 min or 1 h rollups).

use super::{int_param, label_filters, str_param, Params};
use crate::aggregate::{self, Bucket};
use crate::compaction;
use crate::error::ApiError;
use crate::hot::Selector;
use crate::read::{step_series, StepQuery};
use crate::rollup;
use crate::state::{now_ms, AppState};
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Serialize;
use std::collections::BTreeMap;

/// More buckets than this are refused: the answer would be too big to be useful.
pub(super) const MAX_BUCKETS: i64 = 11_000;
/// Default range when `start` is not given.
const DEFAULT_RANGE_MS: i64 = 3_600_000;

#[derive(Debug, Serialize)]
pub struct QueryResult {
    pub metric: String,
    pub step: i64,
    /// The tier the answer was read from: `raw`, `5m` or `1h` (see `rollup::choose`).
    pub tier: &'static str,
    /// Where the first step starts: `start`, rounded down to the tier's bucket on a
    /// rollup tier.
    pub start: i64,
    pub series: Vec<SeriesResult>,
}

#[derive(Debug, Serialize)]
pub struct SeriesResult {
    pub labels: BTreeMap<String, String>,
    pub points: Vec<Bucket>,
}

/// A validated range query.
#[derive(Debug)]
struct RangeQuery {
    metric: String,
    start: i64,
    end: i64,
    step: i64,
    rate: bool,
    filters: BTreeMap<String, String>,
}

pub async fn range(
    State(state): State<AppState>,
    Path(host_id): Path<String>,
    Query(params): Query<Params>,
) -> Result<Json<QueryResult>, ApiError> {
    let now = now_ms();
    let q = parse(&params, now)?;
    super::hosts::known_host(&state, &host_id).await?;
    let selector = Selector {
        metric: Some(q.metric.clone()),
        filters: q.filters.clone(),
    };
    let step = step_query(&state, q.start, q.end, q.step, q.rate, now);
    let series = step_series(state.store.as_ref(), &state.hot, &host_id, &selector, &step)
        .await?
        .into_iter()
        .map(|(key, buckets)| SeriesResult {
            labels: key.labels,
            points: buckets.iter().map(aggregate::to_api).collect(),
        })
        .collect();
    Ok(Json(QueryResult {
        metric: q.metric,
        step: q.step,
        tier: step.tier.name(),
        start: step.origin(),
        series,
    }))
}

/// The step query of a validated range, on the tier its step and age call for.
pub(super) fn step_query(
    state: &AppState,
    start: i64,
    end: i64,
    step: i64,
    rate: bool,
    now: i64,
) -> StepQuery {
    let storage = &state.config.storage;
    let tier = rollup::choose(step, start, now, |t| compaction::retention_ms(storage, t));
    StepQuery {
        tier,
        start,
        end,
        step,
        rate,
    }
}

fn parse(params: &Params, now_ms: i64) -> Result<RangeQuery, ApiError> {
    let metric = str_param(params, "metric")
        .filter(|m| !m.is_empty())
        .ok_or_else(|| ApiError::BadRequest("metric: required".into()))?
        .to_owned();
    let end = int_param(params, "end")?.unwrap_or(now_ms);
    let start = int_param(params, "start")?.unwrap_or(end.saturating_sub(DEFAULT_RANGE_MS));
    if end <= start {
        return Err(ApiError::BadRequest(format!(
            "end: must be after start (start={start}, end={end})"
        )));
    }
    let step = match int_param(params, "step")? {
        Some(step) if step < 1 => {
            return Err(ApiError::BadRequest(format!(
                "step: must be at least 1, got {step}"
            )))
        }
        Some(step) => step,
        None => aggregate::default_step(start, end),
    };
    let buckets = aggregate::bucket_count(start, end, step);
    if buckets > MAX_BUCKETS {
        return Err(ApiError::BadRequest(format!(
            "step: {step} ms gives {buckets} buckets over the range; at most {MAX_BUCKETS} allowed"
        )));
    }
    let rate = match str_param(params, "fn") {
        None | Some("") => false,
        Some("rate") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "fn: {other:?} is not supported (only \"rate\")"
            )))
        }
    };
    Ok(RangeQuery {
        metric,
        start,
        end,
        step,
        rate,
        filters: label_filters(params),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_cover_the_last_hour_in_720_buckets() {
        let q = parse(&params(&[("metric", "m")]), 10_000_000).expect("parse");
        assert_eq!(
            (q.start, q.end, q.step, q.rate),
            (6_400_000, 10_000_000, 5_000, false)
        );
    }

    #[test]
    fn refuses_bad_ranges_and_steps() {
        let err = |p: &[(&str, &str)]| parse(&params(p), 0).expect_err("must fail").to_string();
        assert!(err(&[]).starts_with("metric"));
        assert!(err(&[("metric", "m"), ("start", "10"), ("end", "10")]).starts_with("end"));
        assert!(err(&[
            ("metric", "m"),
            ("start", "0"),
            ("end", "10"),
            ("step", "0")
        ])
        .starts_with("step"));
        assert!(err(&[
            ("metric", "m"),
            ("start", "0"),
            ("end", "11001"),
            ("step", "1")
        ])
        .starts_with("step"));
        assert!(err(&[("metric", "m"), ("start", "x")]).starts_with("start"));
        assert!(err(&[("metric", "m"), ("fn", "deriv")]).starts_with("fn"));
        assert!(parse(
            &params(&[
                ("metric", "m"),
                ("start", "0"),
                ("end", "11000"),
                ("step", "1")
            ]),
            0
        )
        .is_ok());
    }

    #[test]
    fn label_filters_are_collected() {
        let q = parse(
            &params(&[
                ("metric", "m"),
                ("label.device", "sda"),
                ("label.cpu", "total"),
                ("fn", "rate"),
            ]),
            5_000_000,
        )
        .expect("parse");
        assert!(q.rate);
        assert_eq!(q.filters.get("device").map(String::as_str), Some("sda"));
        assert_eq!(q.filters.len(), 2);
    }
}
