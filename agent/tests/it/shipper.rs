//! The shipper against a real HTTP server on 127.0.0.1: retries, rejections, fail-over,
//! queue overflow. Payloads are queued directly so each test controls what is sent.

use crate::http_stub::{Reply, Stub};
use harbinger_agent::config::AgentConfig;
use harbinger_agent::output::{Output, Payload};
use harbinger_agent::queue::BatchQueue;
use harbinger_agent::seq::SeqStore;
use harbinger_agent::shipper::Shipper;
use harbinger_agent::Identity;
use harbinger_shared::EventKind;
use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;

struct Setup {
    config: AgentConfig,
    _state: tempfile::TempDir,
}

fn setup(urls: Vec<String>) -> Setup {
    let state = tempfile::tempdir().expect("tempdir");
    let mut config = AgentConfig {
        collector_urls: urls,
        state_dir: state.path().to_owned(),
        host_id: Some("host-1".into()),
        hostname: Some("db-17".into()),
        ..AgentConfig::default()
    };
    config.shipper.backoff_initial = Duration::from_millis(10);
    config.shipper.backoff_max = Duration::from_millis(50);
    config.shipper.timeout = Duration::from_secs(5);
    config.validate().expect("valid test config");
    Setup {
        config,
        _state: state,
    }
}

fn shipper(config: &AgentConfig) -> Shipper {
    let identity = Identity::resolve(config).expect("identity from overrides");
    let seq = SeqStore::open(&config.state_dir).expect("state dir");
    Shipper::new(config, &identity, seq).expect("shipper")
}

fn payload(ts: i64, value: f64) -> Payload {
    let mut out = Output::new();
    out.push(ts, "node_load1", &[], value);
    out.finish()
}

/// Runs the shipper until `until` completes, then stops it and lets it flush.
async fn run_until(shipper: Shipper, queue: &BatchQueue, until: impl Future<Output = ()>) {
    let (tx, rx) = watch::channel(false);
    let driver = async move {
        until.await;
        tx.send(true).expect("shipper still listening");
    };
    tokio::time::timeout(Duration::from_secs(20), async {
        tokio::join!(shipper.run(queue, rx), driver);
    })
    .await
    .expect("shipper finished in time");
}

#[tokio::test]
async fn retries_after_503_honouring_retry_after_and_delivers_once() {
    let stub = Stub::start(|n, batch| match n {
        0 => Reply {
            headers: vec![("Retry-After", "1".into())],
            ..Reply::status(503)
        },
        _ => Reply::ack(batch),
    })
    .await;
    let s = setup(vec![stub.url.clone()]);
    let shipper = shipper(&s.config);
    let stats = shipper.stats();
    let queue = BatchQueue::new(10);
    queue.push(payload(1_000, 0.5));

    run_until(shipper, &queue, async {
        stub.wait_for(2).await;
    })
    .await;

    let got = stub.received();
    assert_eq!(
        got.len(),
        2,
        "one failure, one success, no duplicate after the 200"
    );
    assert_eq!((got[0].status, got[1].status), (503, 200));
    assert_eq!(
        got[0].batch.seq, got[1].batch.seq,
        "the retry resends the same batch"
    );
    assert_eq!(got[0].batch, got[1].batch);
    // Backoff alone would retry within 50 ms; Retry-After asked for a second.
    let gap = got[1].at.duration_since(got[0].at);
    assert!(gap >= Duration::from_millis(900), "retried after {gap:?}");

    let first = &got[0];
    assert_eq!(
        (first.method.as_str(), first.path.as_str()),
        ("POST", "/api/v1/ingest")
    );
    assert_eq!(first.header("content-encoding"), Some("zstd"));
    assert_eq!(first.header("content-type"), Some("application/json"));
    assert_eq!(first.batch.agent.host_id, "host-1");
    assert_eq!(first.batch.agent.hostname, "db-17");
    assert_eq!(first.batch.interval_ms, 10_000);
    assert_eq!(first.batch.series[0].points[0].value, 0.5);

    let stats = stats.snapshot();
    assert_eq!((stats.delivered, stats.retries, stats.rejected), (1, 1, 0));
}

#[tokio::test]
async fn a_400_is_not_retried_and_later_batches_still_flow() {
    let stub = Stub::start(|n, batch| match n {
        0 => Reply {
            status: 400,
            headers: vec![("Content-Type", "application/json".into())],
            body: r#"{"reason":"invalid","message":"series 0 (node_load1): point 0 has a non-finite value"}"#.into(),
        },
        _ => Reply::ack(batch),
    })
    .await;
    let s = setup(vec![stub.url.clone()]);
    let shipper = shipper(&s.config);
    let stats = shipper.stats();
    let queue = BatchQueue::new(10);
    queue.push(payload(1_000, 1.0));
    queue.push(payload(2_000, 2.0));

    run_until(shipper, &queue, async {
        stub.wait_for(2).await;
    })
    .await;

    let got = stub.received();
    assert_eq!(got.len(), 2, "the rejected batch was not sent again");
    assert_eq!((got[0].status, got[1].status), (400, 200));
    assert_eq!(
        got[1].batch.seq,
        got[0].batch.seq + 1,
        "next batch, next number"
    );
    assert_eq!(got[1].batch.series[0].points[0].value, 2.0);
    let stats = stats.snapshot();
    assert_eq!((stats.delivered, stats.rejected, stats.retries), (1, 1, 0));
}

#[tokio::test]
async fn fails_over_to_the_next_collector_and_stays_there() {
    // A port that was just free: connecting to it is refused.
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", listener.local_addr().expect("addr"))
    };
    let stub = Stub::start(|_, batch| Reply::ack(batch)).await;
    let s = setup(vec![dead, stub.url.clone()]);
    let shipper = shipper(&s.config);
    let stats = shipper.stats();
    let queue = BatchQueue::new(10);
    queue.push(payload(1_000, 1.0));
    queue.push(payload(2_000, 2.0));

    run_until(shipper, &queue, async {
        stub.wait_for(2).await;
    })
    .await;

    let got = stub.received();
    assert_eq!(got.len(), 2);
    assert!(
        got[0].batch.seq < got[1].batch.seq,
        "sent in sequence order"
    );
    let stats = stats.snapshot();
    assert_eq!(stats.delivered, 2);
    assert_eq!(
        stats.retries, 1,
        "only the first batch tried the dead collector"
    );
}

#[tokio::test]
async fn queue_overflow_is_reported_in_a_spool_dropped_event() {
    let stub = Stub::start(|_, batch| Reply::ack(batch)).await;
    let s = setup(vec![stub.url.clone()]);
    let shipper = shipper(&s.config);
    let queue = BatchQueue::new(1);
    queue.push(payload(1_000, 1.0));
    queue.push(payload(2_000, 2.0));
    queue.push(payload(3_000, 3.0));

    run_until(shipper, &queue, async {
        stub.wait_for(1).await;
    })
    .await;

    let got = stub.received();
    assert_eq!(got.len(), 1, "two of three batches were dropped");
    let batch = &got[0].batch;
    assert_eq!(batch.series[0].points[0].value, 3.0, "the newest survived");
    let dropped: Vec<_> = batch
        .events
        .iter()
        .filter(|e| e.kind.as_str() == EventKind::SPOOL_DROPPED)
        .collect();
    assert_eq!(dropped.len(), 1, "{:?}", batch.events);
    assert_eq!(dropped[0].attrs["dropped"], "2");
    assert_eq!(queue.total_drops(), 2);
}

#[tokio::test]
async fn shutdown_gives_up_after_the_flush_timeout() {
    // Always 503: the shipper must still return once the flush deadline passes.
    let stub = Stub::start(|_, _| Reply::status(503)).await;
    let mut s = setup(vec![stub.url.clone()]);
    s.config.shipper.flush_timeout = Duration::from_millis(300);
    let shipper = shipper(&s.config);
    let stats = shipper.stats();
    let queue = BatchQueue::new(10);
    queue.push(payload(1_000, 1.0));

    run_until(shipper, &queue, async {
        stub.wait_for(1).await;
    })
    .await;

    let stats = stats.snapshot();
    assert_eq!((stats.delivered, stats.abandoned), (0, 1));
    assert!(stats.retries >= 1);
}

#[tokio::test]
async fn a_hanging_request_is_cut_short_by_the_flush_deadline() {
    let stub = Stub::start(|_, _| Reply::hang()).await;
    let mut s = setup(vec![stub.url.clone()]);
    s.config.shipper.timeout = Duration::from_secs(30);
    s.config.shipper.flush_timeout = Duration::from_millis(200);
    let shipper = shipper(&s.config);
    let stats = shipper.stats();
    let queue = BatchQueue::new(10);
    queue.push(payload(1_000, 1.0));

    let started = std::time::Instant::now();
    run_until(shipper, &queue, async {
        stub.wait_for(1).await;
    })
    .await;
    // Without the deadline the shipper would wait for the 30 s request timeout.
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(stats.snapshot().abandoned, 1);
}
