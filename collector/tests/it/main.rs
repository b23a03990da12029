//! Integration tests of the collector service, all against a real server on 127.0.0.1
//! (port 0) with a SQLite store in a temporary directory, driven over HTTP with reqwest.
//!
//! One binary, one module per area; the helpers below start and stop servers, build
//! batches, and run a tiny webhook receiver that records what it is sent.

mod agent_delivery;
mod backtest;
mod compaction;
mod e2e;
mod engine;
mod escalation;
mod fleet_aggregate;
mod hardware;
mod incidents;
mod ingest;
mod jira;
mod lifecycle;
mod maintenance;
mod mock_desk;
mod notify_test;
mod pagerduty;
mod pg;
mod query;
mod routing;
mod rt;
mod servicenow;
mod storage_bench;
mod tickets_outbox;
mod tickets_store;
mod tiers;
mod webhook_formats;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use harbinger_collector::config::{CollectorConfig, NotifierConfig, NotifierKind, WebhookConfig};
use harbinger_collector::duration::HumanDuration;
use harbinger_collector::LaunchError;
use harbinger_shared::{AgentIdentity, Batch, Event, Point, Series, PROTOCOL_VERSION};
use serde_json::Value;
use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Upper bound of every wait for something asynchronous to happen.
const WAIT: Duration = Duration::from_secs(15);

/// Wall-clock milliseconds now.
pub fn now_ms() -> i64 {
    harbinger_collector::state::now_ms()
}

/// A collector running in this process.
pub struct Server {
    pub base: String,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), LaunchError>>,
}

/// A configuration for tests: data in `dir`, fast outbox and liveness checks.
pub fn test_config(dir: &Path) -> CollectorConfig {
    let mut config = CollectorConfig {
        data_dir: dir.to_owned(),
        ..CollectorConfig::default()
    };
    config.outbox.poll_interval = HumanDuration::from_millis(50);
    config.outbox.backoff_initial = HumanDuration::from_millis(20);
    config.outbox.backoff_max = HumanDuration::from_millis(200);
    config.detectors.silence_check_interval = HumanDuration::from_millis(50);
    config
}

/// A webhook notifier named `name` posting to `url`.
pub fn webhook(name: &str, url: &str) -> NotifierConfig {
    NotifierConfig {
        name: name.into(),
        timeout: HumanDuration::from_secs(2),
        rate_limit_per_minute: None,
        kind: NotifierKind::Webhook(WebhookConfig {
            url: url.into(),
            headers: BTreeMap::new(),
            format: harbinger_collector::config::WebhookFormat::Harbinger,
            template: None,
            content_type: "application/json".into(),
            hmac_secret: None,
        }),
    }
}

impl Server {
    pub async fn start(mut config: CollectorConfig) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free port");
        let addr = listener.local_addr().expect("local address");
        config.listen = addr.to_string();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(harbinger_collector::launch_with_listener(
            config,
            listener,
            async move {
                let _ = stopped.await;
            },
        ));
        let server = Server {
            base: format!("http://{addr}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("HTTP client"),
            stop: Some(stop),
            task,
        };
        let ready = eventually("the collector answers /readyz", || async {
            match server.client.get(server.url("/readyz")).send().await {
                Ok(r) if r.status().is_success() => Some(()),
                _ => None,
            }
        });
        tokio::select! {
            () = ready => {}
            _ = tokio::time::sleep(WAIT) => panic!("collector did not become ready"),
        }
        server
    }

    /// Graceful shutdown; returns once the collector has released its store.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let result = tokio::time::timeout(WAIT, &mut self.task)
            .await
            .expect("collector stops within the wait")
            .expect("collector task did not panic");
        result.expect("collector stopped cleanly");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// GET expecting 200 and JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        let response = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("GET succeeds");
        let status = response.status();
        let body = response.text().await.expect("body");
        assert_eq!(status, reqwest::StatusCode::OK, "GET {path}: {body}");
        serde_json::from_str(&body).expect("JSON body")
    }

    /// GET returning status and body text.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("GET succeeds");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    /// Posts a batch the way the agent does (zstd JSON) and returns status and JSON body.
    pub async fn ingest(&self, batch: &Batch) -> (u16, Value) {
        let body = batch.encode_zstd().expect("encode batch");
        self.post_raw(body, "application/json", Some("zstd")).await
    }

    /// Posts an arbitrary body to the ingest endpoint.
    pub async fn post_raw(
        &self,
        body: Vec<u8>,
        content_type: &str,
        encoding: Option<&str>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .post(self.url("/api/v1/ingest"))
            .header("Content-Type", content_type)
            .body(body);
        if let Some(encoding) = encoding {
            request = request.header("Content-Encoding", encoding);
        }
        let response = request.send().await.expect("POST succeeds");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, json)
    }
}

/// Polls `probe` every 25 ms until it returns `Some`, panicking after [`WAIT`].
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A batch from `host` with no series yet.
pub fn batch(host: &str, seq: u64, interval_ms: u64) -> Batch {
    Batch {
        protocol_version: PROTOCOL_VERSION,
        agent: AgentIdentity {
            host_id: host.into(),
            hostname: format!("{host}.example"),
            labels: BTreeMap::from([("rack".into(), "r1".into())]),
            agent_version: "test".into(),
        },
        seq,
        interval_ms,
        series: vec![],
        events: vec![],
        inventory: None,
    }
}

/// A series from `(ts, value)` pairs.
pub fn series(metric: &str, labels: &[(&str, &str)], points: &[(i64, f64)]) -> Series {
    Series {
        metric: metric.into(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        points: points
            .iter()
            .map(|&(ts, value)| Point { ts, value })
            .collect(),
    }
}

/// An info event.
pub fn event(ts: i64, kind: &str, message: &str) -> Event {
    Event {
        ts,
        kind: harbinger_shared::EventKind::new(kind),
        severity: harbinger_shared::Severity::Info,
        component: None,
        message: message.into(),
        attrs: BTreeMap::new(),
    }
}

/// One request the webhook receiver got.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub idempotency_key: Option<String>,
    pub authorization: Option<String>,
    pub body: Value,
}

/// A tiny webhook endpoint that records every request and answers a settable status.
pub struct Receiver {
    pub url: String,
    pub deliveries: Arc<Mutex<Vec<Delivery>>>,
    pub status: Arc<AtomicU16>,
    stop: Option<oneshot::Sender<()>>,
}

#[derive(Clone)]
struct ReceiverState {
    deliveries: Arc<Mutex<Vec<Delivery>>>,
    status: Arc<AtomicU16>,
}

async fn receive(
    State(state): State<ReceiverState>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let delivery = Delivery {
        idempotency_key: headers
            .get("Idempotency-Key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        authorization: headers
            .get("Authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: serde_json::from_str(&body).unwrap_or(Value::String(body)),
    };
    state
        .deliveries
        .lock()
        .expect("deliveries lock")
        .push(delivery);
    StatusCode::from_u16(state.status.load(Ordering::SeqCst)).expect("valid status")
}

impl Receiver {
    /// Listens on `addr` (use port 0 for a fresh one) and answers `status`.
    pub async fn start(addr: &str, status: u16) -> Receiver {
        let listener = TcpListener::bind(addr).await.expect("receiver binds");
        let local = listener.local_addr().expect("receiver address");
        let state = ReceiverState {
            deliveries: Arc::default(),
            status: Arc::new(AtomicU16::new(status)),
        };
        let (deliveries, status) = (Arc::clone(&state.deliveries), Arc::clone(&state.status));
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(state);
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Receiver {
            url: format!("http://{local}/hook"),
            deliveries,
            status,
            stop: Some(stop),
        }
    }

    pub fn received(&self) -> Vec<Delivery> {
        self.deliveries.lock().expect("deliveries lock").clone()
    }

    /// Waits until at least `n` deliveries arrived and returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Delivery> {
        eventually(&format!("the receiver got {n} deliveries"), || async {
            let got = self.received();
            (got.len() >= n).then_some(got)
        })
        .await
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
