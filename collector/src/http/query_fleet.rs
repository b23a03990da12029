//! `GET /api/v1/fleet/aggregate`: one metric across hosts, combined per step into one
//! series per group of `by` labels (for example the p95 CPU temperature per rack).
//!
//! Each host's series are read as step buckets from the tier the step and the range's
//! age call for (the same choice as the host query), then combined per group and step
//! by [`FleetFn`]. `match[K]=V` and `by` look at a series' own labels first, then at its
//! host's labels (rack, role…), so host-level labels group and filter too.

use super::query::{step_query, MAX_BUCKETS};
use super::{str_param, Params};
use crate::aggregate::{self, FleetFn};
use crate::error::ApiError;
use crate::hot::Selector;
use crate::read::step_series;
use crate::rollup;
use crate::state::{now_ms, AppState};
use axum::extract::{Query, State};
use axum::Json;
use serde::Serialize;
use std::collections::BTreeMap;

/// Default range when `from` is not given.
const DEFAULT_RANGE_MS: i64 = 3_600_000;
/// Parameters this endpoint knows; anything else is refused, so a typo (`start` for
/// `from`) is named instead of silently ignored.
const KNOWN: [&str; 6] = ["metric", "fn", "step", "from", "to", "by"];

/// A parameter the request got wrong; the message starts with its name.
#[derive(Debug, thiserror::Error)]
pub enum FleetParamError {
    #[error("{0}: required")]
    Missing(&'static str),
    #[error("{0}: {1:?} is not an integer")]
    NotInteger(&'static str, String),
    #[error("fn: {0:?} is not one of avg, min, max, sum, count, p1..p99")]
    Function(String),
    #[error("to: must be after from (from={from}, to={to})")]
    Range { from: i64, to: i64 },
    #[error("step: must be at least 1, got {0}")]
    StepTooSmall(i64),
    #[error(
        "step: {step} ms gives {buckets} buckets over the range; at most {MAX_BUCKETS} allowed"
    )]
    TooManyBuckets { step: i64, buckets: i64 },
    #[error("by: {0:?} is not a label name")]
    By(String),
    #[error("{0}: a label filter needs a name, as match[rack]=r1")]
    Match(String),
    #[error("{0}: unknown parameter (known: metric, fn, step, from, to, by, match[label])")]
    Unknown(String),
}

impl From<FleetParamError> for ApiError {
    fn from(e: FleetParamError) -> Self {
        ApiError::BadRequest(e.to_string())
    }
}

#[derive(Debug, Serialize)]
pub struct FleetResult {
    pub metric: String,
    #[serde(rename = "fn")]
    pub function: String,
    pub step: i64,
    /// The tier read: `raw`, `5m` or `1h`.
    pub tier: &'static str,
    /// Where the first step starts (`from`, rounded down to a rollup tier's bucket).
    pub start: i64,
    pub by: Vec<String>,
    pub series: Vec<GroupResult>,
}

#[derive(Debug, Serialize)]
pub struct GroupResult {
    /// The group's value of each `by` label (empty when a series has none).
    pub labels: BTreeMap<String, String>,
    /// Series (host × labels) that had data in the range.
    pub members: usize,
    /// `[step_start, value]`, for the steps where any member had data.
    pub points: Vec<(i64, f64)>,
}

#[derive(Debug)]
struct FleetQuery {
    metric: String,
    function: FleetFn,
    function_name: String,
    from: i64,
    to: i64,
    step: i64,
    by: Vec<String>,
    matches: BTreeMap<String, String>,
}

pub async fn aggregate(
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> Result<Json<FleetResult>, ApiError> {
    let now = now_ms();
    let q = parse(&params, now)?;
    let step = step_query(&state, q.from, q.to, q.step, false, now);
    let selector = Selector {
        metric: Some(q.metric.clone()),
        filters: BTreeMap::new(),
    };
    type Steps = BTreeMap<i64, Vec<rollup::Bucket>>;
    let mut groups: BTreeMap<BTreeMap<String, String>, (usize, Steps)> = BTreeMap::new();
    for host in state.store.hosts().await? {
        let label = |series: &BTreeMap<String, String>, name: &str| {
            series.get(name).or_else(|| host.labels.get(name)).cloned()
        };
        let found = step_series(
            state.store.as_ref(),
            &state.hot,
            &host.host_id,
            &selector,
            &step,
        )
        .await?;
        for (key, buckets) in found {
            let wanted = q
                .matches
                .iter()
                .all(|(k, v)| label(&key.labels, k).as_ref() == Some(v));
            if !wanted {
                continue;
            }
            let group =
                q.by.iter()
                    .map(|name| (name.clone(), label(&key.labels, name).unwrap_or_default()))
                    .collect();
            let (members, steps) = groups.entry(group).or_default();
            *members += 1;
            for b in buckets {
                steps.entry(b.start_ms).or_default().push(b);
            }
        }
    }
    let series = groups
        .into_iter()
        .map(|(labels, (members, steps))| GroupResult {
            labels,
            members,
            points: steps
                .into_iter()
                .filter_map(|(ts, b)| q.function.apply(&b).map(|v| (ts, v)))
                .collect(),
        })
        .collect();
    Ok(Json(FleetResult {
        metric: q.metric,
        function: q.function_name,
        step: q.step,
        tier: step.tier.name(),
        start: step.origin(),
        by: q.by,
        series,
    }))
}

fn parse(params: &Params, now_ms: i64) -> Result<FleetQuery, FleetParamError> {
    let mut matches = BTreeMap::new();
    for (k, v) in params {
        if let Some(inner) = k.strip_prefix("match[") {
            match inner.strip_suffix(']') {
                Some(name) if valid_label(name) => {
                    matches.insert(name.to_owned(), v.clone());
                }
                _ => return Err(FleetParamError::Match(k.clone())),
            }
        } else if !KNOWN.contains(&k.as_str()) {
            return Err(FleetParamError::Unknown(k.clone()));
        }
    }
    let metric = str_param(params, "metric")
        .filter(|m| !m.is_empty())
        .ok_or(FleetParamError::Missing("metric"))?
        .to_owned();
    let function_name = str_param(params, "fn").unwrap_or("avg").to_owned();
    let function = FleetFn::parse(&function_name)
        .ok_or_else(|| FleetParamError::Function(function_name.clone()))?;
    let to = integer(params, "to")?.unwrap_or(now_ms);
    let from = integer(params, "from")?.unwrap_or(to.saturating_sub(DEFAULT_RANGE_MS));
    if to <= from {
        return Err(FleetParamError::Range { from, to });
    }
    let step = match integer(params, "step")? {
        Some(step) if step < 1 => return Err(FleetParamError::StepTooSmall(step)),
        Some(step) => step,
        None => aggregate::default_step(from, to),
    };
    let buckets = aggregate::bucket_count(from, to, step);
    if buckets > MAX_BUCKETS {
        return Err(FleetParamError::TooManyBuckets { step, buckets });
    }
    let by = match str_param(params, "by") {
        None | Some("") => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|name| {
                let name = name.trim();
                if valid_label(name) {
                    Ok(name.to_owned())
                } else {
                    Err(FleetParamError::By(name.to_owned()))
                }
            })
            .collect::<Result<_, _>>()?,
    };
    Ok(FleetQuery {
        metric,
        function,
        function_name,
        from,
        to,
        step,
        by,
        matches,
    })
}

/// The last value of an integer parameter.
fn integer(params: &Params, name: &'static str) -> Result<Option<i64>, FleetParamError> {
    str_param(params, name)
        .map(|v| {
            v.trim()
                .parse::<i64>()
                .map_err(|_| FleetParamError::NotInteger(name, v.to_owned()))
        })
        .transpose()
}

/// A Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn valid_label(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
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

    fn err(pairs: &[(&str, &str)]) -> String {
        parse(&params(pairs), 10_000_000)
            .expect_err("must fail")
            .to_string()
    }

    #[test]
    fn parses_the_documented_shape() {
        let q = parse(
            &params(&[
                ("metric", "node_hwmon_temp_celsius"),
                ("match[chip]", "coretemp"),
                ("fn", "p90"),
                ("step", "3600000"),
                ("from", "0"),
                ("to", "86400000"),
                ("by", "rack, role"),
            ]),
            0,
        )
        .expect("parses");
        assert_eq!(q.function, FleetFn::Quantile(0.9));
        assert_eq!(q.by, vec!["rack".to_owned(), "role".to_owned()]);
        assert_eq!(q.matches.get("chip").map(String::as_str), Some("coretemp"));
        assert_eq!((q.from, q.to, q.step), (0, 86_400_000, 3_600_000));
        let d = parse(&params(&[("metric", "m")]), 10_000_000).expect("defaults");
        assert_eq!(
            (d.from, d.to, d.function),
            (6_400_000, 10_000_000, FleetFn::Avg)
        );
    }

    #[test]
    fn errors_name_the_bad_parameter() {
        assert!(err(&[]).starts_with("metric:"));
        assert!(err(&[("metric", "m"), ("fn", "median")]).starts_with("fn:"));
        assert!(err(&[("metric", "m"), ("from", "5"), ("to", "5")]).starts_with("to:"));
        assert!(err(&[("metric", "m"), ("from", "x")]).starts_with("from:"));
        assert!(err(&[("metric", "m"), ("step", "0")]).starts_with("step:"));
        assert!(err(&[
            ("metric", "m"),
            ("from", "0"),
            ("to", "20000"),
            ("step", "1")
        ])
        .starts_with("step:"));
        assert!(err(&[("metric", "m"), ("by", "rack,9x")]).starts_with("by:"));
        assert!(err(&[("metric", "m"), ("match[]", "r1")]).starts_with("match[]:"));
        assert!(err(&[("metric", "m"), ("start", "0")]).starts_with("start:"));
    }
}
