//! The optional local `/metrics` endpoint: the agent's latest values and its own
//! health (spool size and age, delivery counters, ship lag) in the Prometheus text
//! exposition format, so teams with Prometheus can scrape the agent directly.
//!
//! Off by default (`[metrics] listen`). A tiny HTTP/1.1 responder on the agent's own
//! runtime rather than a server framework: one request per connection, bounded reads,
//! a timeout per connection, nothing kept between scrapes but the latest payload.

use crate::output::Payload;
use crate::shipper::ShipperStats;
use crate::spool::Spool;
use harbinger_shared::catalogue;
use harbinger_shared::Series;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A request head larger than this is refused: scrapers send a few hundred bytes.
const MAX_REQUEST: usize = 8 << 10;
/// A client that does not finish its request or read the answer within this is cut.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// The `[metrics]` section of the agent configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Address of the local `/metrics` listener, e.g. `127.0.0.1:9101`. Unset: off.
    pub listen: Option<String>,
}

impl MetricsConfig {
    /// Checks the values; the error names the key.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if let Some(listen) = &self.listen {
            listen.parse::<SocketAddr>().map_err(|err| {
                (
                    "metrics.listen".to_owned(),
                    format!("{listen:?} is not an address like 127.0.0.1:9101: {err}"),
                )
            })?;
        }
        Ok(())
    }
}

/// The latest collected values, kept only while the endpoint is on.
#[derive(Debug, Default)]
pub struct SelfMetrics {
    latest: Mutex<Vec<Series>>,
}

impl SelfMetrics {
    /// Remembers a cycle's series as the latest values.
    pub fn observe(&self, payload: &Payload) {
        if payload.series.is_empty() {
            return;
        }
        let mut latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
        latest.clone_from(&payload.series);
    }

    /// The exposition text.
    pub fn render(&self, spool: &Spool, shipper: &ShipperStats, now_ms: i64) -> String {
        let mut out = String::with_capacity(16 << 10);
        {
            let latest = self.latest.lock().unwrap_or_else(PoisonError::into_inner);
            render_series(&mut out, &latest);
        }
        let spool = spool.stats();
        let ship = shipper.snapshot();
        let oldest_age = spool
            .oldest_pending_ms
            .map_or(0.0, |ts| (now_ms - ts).max(0) as f64 / 1000.0);
        let own: [(&str, &str, &str, f64); 10] = [
            (
                "harbinger_agent_spool_bytes",
                "gauge",
                "Bytes of the disk spool, both lanes.",
                spool.bytes as f64,
            ),
            (
                "harbinger_agent_spool_pending_records",
                "gauge",
                "Spool records not yet acknowledged by a collector.",
                spool.pending as f64,
            ),
            (
                "harbinger_agent_spool_oldest_pending_age_seconds",
                "gauge",
                "Age of the oldest record not yet acknowledged (0 when none).",
                oldest_age,
            ),
            (
                "harbinger_agent_spool_dropped_records_total",
                "counter",
                "Records dropped because the spool was full or could not be written.",
                spool.dropped_total as f64,
            ),
            (
                "harbinger_agent_batches_delivered_total",
                "counter",
                "Batches a collector acknowledged.",
                ship.delivered as f64,
            ),
            (
                "harbinger_agent_samples_delivered_total",
                "counter",
                "Samples in acknowledged batches.",
                ship.samples as f64,
            ),
            (
                "harbinger_agent_batches_quarantined_total",
                "counter",
                "Batches refused for good and kept in the quarantine directory.",
                ship.rejected as f64,
            ),
            (
                "harbinger_agent_delivery_retries_total",
                "counter",
                "Delivery attempts that failed and were retried.",
                ship.retries as f64,
            ),
            (
                "harbinger_agent_ship_lag_seconds",
                "gauge",
                "At the last acknowledgement, the age of the oldest record it covered.",
                ship.lag_ms as f64 / 1000.0,
            ),
            (
                "harbinger_agent_last_ack_timestamp_seconds",
                "gauge",
                "When a collector last acknowledged a batch (0: never).",
                ship.last_ack_ms as f64 / 1000.0,
            ),
        ];
        for (name, kind, help, value) in own {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        out
    }
}

fn render_series(out: &mut String, series: &[Series]) {
    let mut by_metric: BTreeMap<&str, Vec<&Series>> = BTreeMap::new();
    for s in series {
        by_metric.entry(s.metric.as_str()).or_default().push(s);
    }
    for (metric, list) in by_metric {
        if let Some(def) = catalogue::lookup(metric) {
            let _ = writeln!(out, "# HELP {metric} {}", escape_help(def.help));
            let _ = writeln!(out, "# TYPE {metric} {}", def.kind.as_str());
        }
        for s in list {
            let Some(point) = s.points.last() else {
                continue;
            };
            out.push_str(metric);
            if !s.labels.is_empty() {
                out.push('{');
                for (i, (k, v)) in s.labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{k}=\"{}\"", escape_label(v));
                }
                out.push('}');
            }
            let _ = writeln!(out, " {}", point.value);
        }
    }
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Answers scrapes on `listener` until `stop` turns true. Connections are served one
/// at a time, each bounded by a timeout: a scrape is rare and tiny.
pub async fn serve(
    listener: TcpListener,
    metrics: &SelfMetrics,
    spool: &Spool,
    shipper: &ShipperStats,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    tracing::debug!(error = %err, "metrics listener accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => return,
        };
        let answer = async {
            let body = respond(stream, |path| match path {
                "/metrics" => Some(metrics.render(spool, shipper, crate::scheduler::now_ms())),
                _ => None,
            });
            body.await
        };
        match tokio::time::timeout(CONNECTION_TIMEOUT, answer).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::debug!(error = %err, "metrics connection failed"),
            Err(_) => tracing::debug!("metrics connection timed out"),
        }
    }
}

/// Resolves when `stop` turns true (or its sender is gone), holding no borrow after.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn respond(
    mut stream: TcpStream,
    route: impl FnOnce(&str) -> Option<String>,
) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 512];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > MAX_REQUEST {
            return write(
                &mut stream,
                "431 Request Header Fields Too Large",
                "text/plain",
                "",
            )
            .await;
        }
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    if method != "GET" && method != "HEAD" {
        return write(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain",
            "only GET\n",
        )
        .await;
    }
    match route(path) {
        Some(body) if method == "GET" => {
            write(
                &mut stream,
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                &body,
            )
            .await
        }
        Some(_) => {
            write(
                &mut stream,
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                "",
            )
            .await
        }
        None => write(&mut stream, "404 Not Found", "text/plain", "try /metrics\n").await,
    }
}

async fn write(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use harbinger_shared::Point;

    #[test]
    fn latest_values_render_with_types_and_escaped_labels() {
        let metrics = SelfMetrics::default();
        metrics.observe(&Payload {
            series: vec![
                Series {
                    metric: "node_load1".into(),
                    labels: BTreeMap::new(),
                    points: vec![Point { ts: 1, value: 0.5 }, Point { ts: 2, value: 0.75 }],
                },
                Series {
                    metric: "custom_thing".into(),
                    labels: BTreeMap::from([("path".to_owned(), "a\"b\\c".to_owned())]),
                    points: vec![Point { ts: 2, value: 3.0 }],
                },
            ],
            ..Payload::default()
        });
        let mut out = String::new();
        render_series(&mut out, &metrics.latest.lock().expect("lock"));
        assert!(out.contains("# TYPE node_load1 gauge\n"), "{out}");
        assert!(out.contains("\nnode_load1 0.75\n"), "latest point: {out}");
        assert!(out.contains(r#"custom_thing{path="a\"b\\c"} 3"#), "{out}");
        assert!(
            !out.contains("# TYPE custom_thing"),
            "unknown metrics get no type"
        );
    }

    #[test]
    fn listen_must_be_an_address() {
        let bad = MetricsConfig {
            listen: Some("localhost".into()),
        };
        assert_eq!(bad.validate().expect_err("bad").0, "metrics.listen");
        let good = MetricsConfig {
            listen: Some("127.0.0.1:0".into()),
        };
        good.validate().expect("good");
        MetricsConfig::default().validate().expect("off is valid");
    }
}
