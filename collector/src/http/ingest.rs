//! `POST /api/v1/ingest`: accept a batch, make it durable, then answer.
//!
//! Checks run cheapest first (headers, size, decoding, validation, time policy) and a
//! rejected batch changes nothing. The 200 `IngestAck` is sent only after
//! `store.append_batch` returned, i.e. after commit; only then is the batch handed to
//! the hot cache and the detectors. A duplicate `(host_id, seq)` is acknowledged with
//! `duplicate: true` and not processed again.

use crate::detect::DetectMsg;
use crate::error::ApiError;
use crate::state::{now_ms, AppState};
use crate::store::AppendOutcome;
use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::HeaderMap;
use axum::Json;
use harbinger_shared::wire::{DecodeError, CONTENT_ENCODING_ZSTD};
use harbinger_shared::{Batch, IngestAck};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// zstd level used when an uncompressed body is compressed for the batch log.
const STORE_ZSTD_LEVEL: i32 = 3;

pub async fn ingest(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<IngestAck>, ApiError> {
    match accept(&state, &headers, body).await {
        Ok(ack) => Ok(Json(ack)),
        Err(error) => {
            state.telemetry.batch_rejected(error.reason());
            if error.status_code().is_client_error() {
                // A client problem, not ours: the agent quarantines and logs it too.
                tracing::warn!(reason = error.reason(), %error, "batch rejected");
            }
            Err(error)
        }
    }
}

async fn accept(state: &AppState, headers: &HeaderMap, body: Body) -> Result<IngestAck, ApiError> {
    check_content_type(headers)?;
    let zstd = is_zstd(headers)?;
    let limits = &state.config.ingest;
    let body = read_body(headers, body, limits.max_body_bytes).await?;

    let max_decompressed = limits.max_decompressed_bytes;
    // Decoding, validation and compression are CPU work on up to tens of MiB: keep
    // them off the async workers.
    let (batch, body_zstd) =
        tokio::task::spawn_blocking(move || decode(&body, zstd, max_decompressed))
            .await
            .map_err(|e| ApiError::Internal(format!("decode task failed: {e}")))??;

    let received_at_ms = now_ms();
    check_time(
        &batch,
        received_at_ms,
        limits.max_future_skew.as_millis_i64(),
        limits.history_horizon.as_millis_i64(),
    )?;

    let started = Instant::now();
    let outcome = state
        .store
        .append_batch(&batch, &body_zstd, received_at_ms)
        .await?;
    state.telemetry.append_latency(started.elapsed());

    let ack = IngestAck {
        host_id: batch.agent.host_id.clone(),
        seq: batch.seq,
        duplicate: outcome == AppendOutcome::Duplicate,
    };
    match outcome {
        AppendOutcome::Duplicate => {
            state.telemetry.batch_duplicate();
            tracing::debug!(host_id = %ack.host_id, seq = ack.seq, "duplicate batch acknowledged");
        }
        AppendOutcome::Stored => {
            state.telemetry.batch_stored(batch.sample_count());
            tracing::debug!(host_id = %ack.host_id, seq = ack.seq, samples = batch.sample_count(), "batch stored");
            let batch = Arc::new(batch);
            state.hot.insert(&batch);
            let msg = DetectMsg::Batch {
                batch,
                received_at_ms,
            };
            if state.detect.send(msg).await.is_err() {
                // Only during shutdown; the start-up replay analyses the batch next time.
                tracing::warn!(host_id = %ack.host_id, seq = ack.seq, "detector gone; batch stored but not analysed");
            }
        }
    }
    Ok(ack)
}

fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return Err(ApiError::UnsupportedMediaType(
            "missing Content-Type; expected application/json".into(),
        ));
    };
    let text = value.to_str().unwrap_or_default();
    let essence = text.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type {text:?} is not supported; expected application/json"
        )))
    }
}

fn is_zstd(headers: &HeaderMap) -> Result<bool, ApiError> {
    let Some(value) = headers.get(CONTENT_ENCODING) else {
        return Ok(false);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text.eq_ignore_ascii_case(CONTENT_ENCODING_ZSTD) {
        Ok(true)
    } else if text.is_empty() || text.eq_ignore_ascii_case("identity") {
        Ok(false)
    } else {
        Err(ApiError::BadEncoding {
            message: format!("Content-Encoding {text:?} is not supported; use zstd or none"),
            unsupported: true,
        })
    }
}

async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::TooLarge(format!(
            "request body exceeds the limit of {limit} bytes (ingest.max_body_bytes)"
        ))
    };
    // Refuse early when the client announced the size, before reading anything.
    let announced = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes().to_vec()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(error) => Err(ApiError::BadRequest(format!(
            "cannot read request body: {error}"
        ))),
    }
}

/// Decodes and validates; returns the batch and the zstd body for the batch log.
fn decode(body: &[u8], zstd: bool, max_decompressed: usize) -> Result<(Batch, Vec<u8>), ApiError> {
    let batch = Batch::decode(body, zstd, max_decompressed).map_err(|e| match e {
        DecodeError::Compression(_) => ApiError::BadEncoding {
            message: e.to_string(),
            unsupported: false,
        },
        DecodeError::TooLarge { .. } => {
            ApiError::TooLarge(format!("{e} (ingest.max_decompressed_bytes)"))
        }
        DecodeError::Json { .. } => ApiError::BadJson(e.to_string()),
        DecodeError::Version { .. } => ApiError::UnsupportedVersion(e.to_string()),
    })?;
    batch
        .validate()
        .map_err(|e| ApiError::Invalid(e.to_string()))?;
    let body_zstd = if zstd {
        body.to_vec()
    } else {
        zstd::bulk::compress(body, STORE_ZSTD_LEVEL)
            .map_err(|e| ApiError::Internal(format!("cannot compress batch for storage: {e}")))?
    };
    Ok((batch, body_zstd))
}

/// The time policy: history back to the horizon is valid (spool replays, simulators),
/// the future beyond a small skew is a broken clock. The first offender is named.
fn check_time(
    batch: &Batch,
    now_ms: i64,
    max_skew_ms: i64,
    horizon_ms: i64,
) -> Result<(), ApiError> {
    let latest_ok = now_ms.saturating_add(max_skew_ms);
    let earliest_ok = now_ms.saturating_sub(horizon_ms);
    for series in &batch.series {
        for point in &series.points {
            if point.ts > latest_ok {
                return Err(ApiError::FutureTimestamp(format!(
                    "series {}: point at {} is {} ms ahead of the collector's clock ({now_ms}); at most {max_skew_ms} ms allowed (ingest.max_future_skew)",
                    describe(&series.metric, &series.labels),
                    point.ts,
                    point.ts - now_ms
                )));
            }
            if point.ts < earliest_ok {
                return Err(ApiError::TooOld(format!(
                    "series {}: point at {} is older than the history horizon ({earliest_ok}, ingest.history_horizon)",
                    describe(&series.metric, &series.labels),
                    point.ts
                )));
            }
        }
    }
    for (index, event) in batch.events.iter().enumerate() {
        let what = format!("event {index} ({})", event.kind.as_str());
        if event.ts > latest_ok {
            return Err(ApiError::FutureTimestamp(format!(
                "{what}: timestamp {} is {} ms ahead of the collector's clock ({now_ms}); at most {max_skew_ms} ms allowed (ingest.max_future_skew)",
                event.ts,
                event.ts - now_ms
            )));
        }
        if event.ts < earliest_ok {
            return Err(ApiError::TooOld(format!(
                "{what}: timestamp {} is older than the history horizon ({earliest_ok}, ingest.history_horizon)",
                event.ts
            )));
        }
    }
    Ok(())
}

/// `metric{k="v",…}`, the way people read series.
fn describe(metric: &str, labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return metric.to_owned();
    }
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{metric}{{{}}}", pairs.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use harbinger_shared::{AgentIdentity, Point, Series, PROTOCOL_VERSION};

    fn batch(ts: i64) -> Batch {
        Batch {
            protocol_version: PROTOCOL_VERSION,
            agent: AgentIdentity {
                host_id: "h".into(),
                hostname: "h".into(),
                labels: BTreeMap::new(),
                agent_version: String::new(),
            },
            seq: 1,
            interval_ms: 1_000,
            series: vec![Series {
                metric: "node_disk_io_latency_seconds".into(),
                labels: BTreeMap::from([("device".into(), "sda".into())]),
                points: vec![Point { ts, value: 1.0 }],
            }],
            events: vec![],
            inventory: None,
        }
    }

    #[test]
    fn time_policy_names_the_series() {
        let now = 1_000_000;
        assert!(check_time(&batch(now + 100), now, 100, 1_000).is_ok());
        assert!(check_time(&batch(now - 1_000), now, 100, 1_000).is_ok());
        let future = check_time(&batch(now + 101), now, 100, 1_000).expect_err("future");
        assert_eq!(future.reason(), "future_timestamp");
        assert!(
            future
                .to_string()
                .contains("node_disk_io_latency_seconds{device=\"sda\"}"),
            "{future}"
        );
        let old = check_time(&batch(now - 1_001), now, 100, 1_000).expect_err("old");
        assert_eq!(old.reason(), "too_old");
    }

    #[test]
    fn plain_bodies_are_compressed_for_the_log() {
        let json = serde_json::to_vec(&batch(5)).expect("json");
        let (decoded, stored) = decode(&json, false, 1 << 20).expect("decode");
        assert_eq!(decoded, batch(5));
        let back = Batch::decode(&stored, true, 1 << 20).expect("stored body decodes");
        assert_eq!(back, batch(5));
    }

    #[test]
    fn decode_errors_map_to_reasons() {
        let reason =
            |body: &[u8], zstd: bool| decode(body, zstd, 1 << 20).expect_err("must fail").reason();
        assert_eq!(reason(b"not json", false), "bad_json");
        assert_eq!(reason(b"not zstd", true), "bad_encoding");
        assert_eq!(
            reason(br#"{"protocol_version":2}"#, false),
            "unsupported_version"
        );
        let mut nan = batch(5);
        nan.series[0].points[0].value = f64::NAN;
        let json = serde_json::to_vec(&nan).expect("json");
        assert_eq!(reason(&json, false), "invalid");
    }
}
