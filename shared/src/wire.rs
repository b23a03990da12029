//! Protocol v1: the batch an agent sends and the acknowledgement it gets back.
//!
//! A batch is JSON, sent zstd-compressed (`Content-Encoding: zstd`).
//! Samples are grouped by series inside the batch, so each label set is written once
//! per batch rather than once per sample; zstd removes most of the remaining repetition.
//! We deliberately do not keep a series dictionary *across* batches: every batch must
//! decode on its own, because the collector's batch log stores batches individually and
//! an agent may replay, reorder (fail-over) or quarantine any one of them.
//! See `docs/protocol.md`.

use crate::component::ComponentId;
use crate::event::Event;
use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

/// The protocol version this build speaks. Bumped only for incompatible changes.
pub const PROTOCOL_VERSION: u32 = 1;

/// Content type of a JSON-encoded batch.
pub const CONTENT_TYPE_JSON: &str = "application/json";
/// `Content-Encoding` value for a zstd-compressed body.
pub const CONTENT_ENCODING_ZSTD: &str = "zstd";

/// Who sent a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentIdentity {
    /// Stable host identifier (derived from `/etc/machine-id` unless configured).
    pub host_id: String,
    pub hostname: String,
    /// Operator labels such as `site`, `rack`, `role`, `chassis`, `pdu`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub agent_version: String,
}

/// One batch: the unit of shipping, acknowledgement and idempotency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    pub protocol_version: u32,
    pub agent: AgentIdentity,
    /// Per-agent sequence number, strictly increasing across agent restarts.
    /// `(agent.host_id, seq)` identifies the batch: a batch seen twice is stored once.
    pub seq: u64,
    /// The agent's base collection interval, so the collector knows when a host is silent.
    pub interval_ms: u64,
    #[serde(default)]
    pub series: Vec<Series>,
    #[serde(default)]
    pub events: Vec<Event>,
    /// Inventory items, sent only when they changed (or on agent start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<Vec<InventoryItem>>,
}

/// The points of one series (metric name + label set) inside a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub metric: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    pub points: Vec<Point>,
}

/// One sample: timestamp in milliseconds since the Unix epoch and a value.
///
/// On the wire a point is the array `[ts, value]`. JSON cannot carry NaN or
/// infinities; a `null` value decodes to NaN so that the collector can reject it
/// with a message naming the series, instead of a bare parse error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub ts: i64,
    pub value: f64,
}

impl Serialize for Point {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut tuple = serializer.serialize_tuple(2)?;
        tuple.serialize_element(&self.ts)?;
        tuple.serialize_element(&self.value)?;
        tuple.end()
    }
}

impl<'de> Deserialize<'de> for Point {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PointVisitor;
        impl<'de> Visitor<'de> for PointVisitor {
            type Value = Point;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a [timestamp_ms, value] pair")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Point, A::Error> {
                let ts: i64 = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let value: Option<f64> = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(3, &self));
                }
                Ok(Point {
                    ts,
                    value: value.unwrap_or(f64::NAN),
                })
            }
        }
        deserializer.deserialize_tuple(2, PointVisitor)
    }
}

/// One inventory item: a component and its descriptive attributes
/// (model, serial, firmware, size…). Sent when it changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryItem {
    pub component: ComponentId,
    #[serde(default)]
    pub attrs: BTreeMap<String, String>,
}

/// The collector's answer to a batch it has made durable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestAck {
    pub host_id: String,
    pub seq: u64,
    /// True when this batch had been stored before; it was not stored again.
    pub duplicate: bool,
}

/// The collector's answer to a rejected batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestError {
    /// A stable machine-readable reason, such as `bad_json` or `future_timestamp`.
    pub reason: String,
    /// A human-readable message that names the problem.
    pub message: String,
}

/// Why a body could not be turned into a [`Batch`].
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("body is not valid zstd: {0}")]
    Compression(#[source] std::io::Error),
    #[error("decompressed body exceeds the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("bad JSON at {path}: {message}")]
    Json { path: String, message: String },
    #[error("unsupported protocol version {found}; this collector speaks {supported}")]
    Version { found: u64, supported: u32 },
}

/// Why a decoded batch is not acceptable regardless of collector policy.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValidationError {
    #[error("series {index} ({metric}): point {point} has a non-finite value")]
    NonFinite {
        index: usize,
        metric: String,
        point: usize,
    },
    #[error("series {index}: invalid metric name {name:?} (expected [a-zA-Z_:][a-zA-Z0-9_:]*)")]
    MetricName { index: usize, name: String },
    #[error(
        "series {index} ({metric}): invalid label name {name:?} (expected [a-zA-Z_][a-zA-Z0-9_]*)"
    )]
    LabelName {
        index: usize,
        metric: String,
        name: String,
    },
    #[error("agent.host_id is empty")]
    EmptyHostId,
}

impl Batch {
    /// Serialize to JSON and compress with zstd at a cheap level.
    pub fn encode_zstd(&self) -> Result<Vec<u8>, std::io::Error> {
        let json = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        zstd::bulk::compress(&json, 3)
    }

    /// Decode a body, decompressing when `zstd` is true, refusing to inflate beyond `limit`.
    pub fn decode(body: &[u8], zstd: bool, limit: usize) -> Result<Batch, DecodeError> {
        let decompressed;
        let json: &[u8] = if zstd {
            decompressed = decompress_capped(body, limit)?;
            &decompressed
        } else {
            body
        };
        // Check the version before the full parse so an old or new agent gets the
        // version message rather than a confusing field error.
        #[derive(Deserialize)]
        struct VersionOnly {
            protocol_version: Option<u64>,
        }
        if let Ok(VersionOnly {
            protocol_version: Some(found),
        }) = serde_json::from_slice::<VersionOnly>(json)
        {
            if found != u64::from(PROTOCOL_VERSION) {
                return Err(DecodeError::Version {
                    found,
                    supported: PROTOCOL_VERSION,
                });
            }
        }
        let de = &mut serde_json::Deserializer::from_slice(json);
        serde_path_to_error_free(de)
    }

    /// Structural checks every receiver applies: finite values, valid names.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.agent.host_id.trim().is_empty() {
            return Err(ValidationError::EmptyHostId);
        }
        for (index, series) in self.series.iter().enumerate() {
            if !crate::catalogue::is_valid_metric_name(&series.metric) {
                return Err(ValidationError::MetricName {
                    index,
                    name: series.metric.clone(),
                });
            }
            for name in series.labels.keys() {
                if !crate::catalogue::is_valid_label_name(name) {
                    return Err(ValidationError::LabelName {
                        index,
                        metric: series.metric.clone(),
                        name: name.clone(),
                    });
                }
            }
            if let Some(point) = series.points.iter().position(|p| !p.value.is_finite()) {
                return Err(ValidationError::NonFinite {
                    index,
                    metric: series.metric.clone(),
                    point,
                });
            }
        }
        Ok(())
    }

    /// Number of samples (points over all series).
    pub fn sample_count(&self) -> usize {
        self.series.iter().map(|s| s.points.len()).sum()
    }

    /// Smallest and largest sample or event timestamp, if any.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        let sample_ts = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.ts));
        let event_ts = self.events.iter().map(|e| e.ts);
        sample_ts.chain(event_ts).fold(None, |acc, ts| match acc {
            None => Some((ts, ts)),
            Some((lo, hi)) => Some((lo.min(ts), hi.max(ts))),
        })
    }
}

fn decompress_capped(body: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    use std::io::Read;
    let decoder = zstd::stream::read::Decoder::new(body).map_err(DecodeError::Compression)?;
    let mut out = Vec::new();
    // Read one byte past the limit so an over-limit body is detected without
    // inflating a compression bomb any further.
    let read = decoder
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(DecodeError::Compression)?;
    if read > limit {
        return Err(DecodeError::TooLarge { limit });
    }
    Ok(out)
}

/// Parse while tracking the JSON path, so errors say *where* the problem is.
fn serde_path_to_error_free(
    de: &mut serde_json::Deserializer<serde_json::de::SliceRead<'_>>,
) -> Result<Batch, DecodeError> {
    let result: Result<Batch, _> = serde_path_to_error::deserialize(&mut *de);
    match result {
        Ok(batch) => {
            de.end().map_err(|e| DecodeError::Json {
                path: ".".into(),
                message: e.to_string(),
            })?;
            Ok(batch)
        }
        Err(err) => Err(DecodeError::Json {
            path: err.path().to_string(),
            message: err.into_inner().to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_batch() -> Batch {
        Batch {
            protocol_version: PROTOCOL_VERSION,
            agent: AgentIdentity {
                host_id: "h1".into(),
                hostname: "db-17".into(),
                labels: BTreeMap::from([("rack".into(), "r1".into())]),
                agent_version: "0.1.0".into(),
            },
            seq: 7,
            interval_ms: 10_000,
            series: vec![Series {
                metric: "node_load1".into(),
                labels: BTreeMap::new(),
                points: vec![Point {
                    ts: 1_700_000_000_000,
                    value: 0.5,
                }],
            }],
            events: vec![],
            inventory: None,
        }
    }

    #[test]
    fn round_trips_through_zstd() {
        let batch = sample_batch();
        let body = batch.encode_zstd().expect("encode");
        let back = Batch::decode(&body, true, 1 << 20).expect("decode");
        assert_eq!(back, batch);
    }

    #[test]
    fn point_is_a_pair_on_the_wire() {
        let json = serde_json::to_string(&sample_batch().series[0]).expect("json");
        assert!(json.contains("\"points\":[[1700000000000,0.5]]"), "{json}");
    }

    #[test]
    fn null_value_decodes_to_nan_and_fails_validation() {
        let json = r#"{"protocol_version":1,"agent":{"host_id":"h","hostname":"h"},"seq":1,"interval_ms":10000,
            "series":[{"metric":"m","points":[[1,null]]}]}"#;
        let batch = Batch::decode(json.as_bytes(), false, 1 << 20).expect("decode");
        assert!(matches!(
            batch.validate(),
            Err(ValidationError::NonFinite { point: 0, .. })
        ));
    }

    #[test]
    fn wrong_version_is_named() {
        let json = r#"{"protocol_version":9,"agent":{}}"#;
        let err = Batch::decode(json.as_bytes(), false, 1 << 20).expect_err("must fail");
        assert!(
            matches!(err, DecodeError::Version { found: 9, .. }),
            "{err}"
        );
    }

    #[test]
    fn json_error_names_the_path() {
        let json = r#"{"protocol_version":1,"agent":{"host_id":"h","hostname":"h"},"seq":"x","interval_ms":1}"#;
        let err = Batch::decode(json.as_bytes(), false, 1 << 20).expect_err("must fail");
        assert!(err.to_string().contains("seq"), "{err}");
    }

    #[test]
    fn compression_bomb_is_capped() {
        let big = vec![b' '; 10_000];
        let body = zstd::bulk::compress(&big, 3).expect("compress");
        let err = Batch::decode(&body, true, 1_000).expect_err("must fail");
        assert!(matches!(err, DecodeError::TooLarge { limit: 1_000 }));
    }
}
