//! The shipper against a real HTTP server on 127.0.0.1, reading a real disk spool:
//! retries, permanent refusals and the quarantine, fail-over and fail-back, backlog
//! merging, and shutdown. Records are appended to the spool directly so each test
//! controls what is sent.

use crate::http_stub::{Reply, Stub};
use harbinger_agent::config::AgentConfig;
use harbinger_agent::output::{Output, Payload};
use harbinger_agent::seq::SeqStore;
use harbinger_agent::shipper::Shipper;
use harbinger_agent::spool::{Spool, SpoolConfig, BATCH_QUARANTINED};
use harbinger_agent::Identity;
use harbinger_shared::Batch;
use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;

struct Setup {
    config: AgentConfig,
    state: tempfile::TempDir,
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
    config.spool = SpoolConfig {
        fsync: false,
        ..SpoolConfig::default()
    };
    config.validate().expect("valid test config");
    Setup { config, state }
}

impl Setup {
    fn spool(&self) -> Spool {
        let identity = Identity::resolve(&self.config).expect("identity");
        Spool::open(
            &self.state.path().join("spool"),
            self.config.spool.clone(),
            identity.host_component(),
        )
        .expect("spool")
    }

    fn shipper(&self) -> Shipper {
        let identity = Identity::resolve(&self.config).expect("identity from overrides");
        let seq = SeqStore::open(&self.config.state_dir).expect("state dir");
        Shipper::new(&self.config, &identity, seq).expect("shipper")
    }
}

fn payload(ts: i64, value: f64) -> Payload {
    let mut out = Output::new();
    out.push(ts, "node_load1", &[], value);
    out.finish()
}

fn append(spool: &Spool, ts: i64, value: f64) {
    spool.append(&payload(ts, value), ts).expect("append");
}

/// Values of `node_load1` in the batches a stub acknowledged, in arrival order.
fn acked_values(got: &[crate::http_stub::Received]) -> Vec<f64> {
    got.iter()
        .filter(|r| r.status == 200)
        .flat_map(|r| values(&r.batch))
        .collect()
}

fn values(batch: &Batch) -> Vec<f64> {
    batch
        .series
        .iter()
        .filter(|s| s.metric == "node_load1")
        .flat_map(|s| s.points.iter().map(|p| p.value))
        .collect()
}

/// Runs the shipper until `until` completes, then stops it and lets it flush.
async fn run_until(shipper: Shipper, spool: &Spool, until: impl Future<Output = ()>) {
    let (tx, rx) = watch::channel(false);
    let driver = async move {
        until.await;
        tx.send(true).expect("shipper still listening");
    };
    tokio::time::timeout(Duration::from_secs(20), async {
        tokio::join!(shipper.run(spool, rx), driver);
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
    let spool = s.spool();
    let shipper = s.shipper();
    let stats = shipper.stats();
    append(&spool, 1_000, 0.5);

    run_until(shipper, &spool, async {
        stub.wait_for(2).await;
    })
    .await;

    let got = stub.received();
    assert_eq!(got.len(), 2, "one failure, one success, no duplicate");
    assert_eq!((got[0].status, got[1].status), (503, 200));
    assert_eq!(
        got[0].batch, got[1].batch,
        "the retry resends the same batch"
    );
    // Backoff alone would retry within 50 ms; Retry-After asked for a second.
    let gap = got[1].at.duration_since(got[0].at);
    assert!(gap >= Duration::from_millis(900), "retried after {gap:?}");

    let first = &got[0];
    assert_eq!(
        (first.method.as_str(), first.path.as_str()),
        ("POST", "/api/v1/ingest")
    );
    assert_eq!(first.header("content-encoding"), Some("zstd"));
    assert_eq!(first.batch.agent.host_id, "host-1");
    assert_eq!(first.batch.interval_ms, 10_000);
    assert_eq!(values(&first.batch), [0.5]);

    let stats = stats.snapshot();
    assert_eq!((stats.delivered, stats.retries, stats.rejected), (1, 1, 0));
    assert_eq!(
        spool.stats().pending,
        0,
        "acknowledged records leave the spool"
    );
}

#[tokio::test]
async fn a_400_is_quarantined_and_reported_and_later_batches_still_flow() {
    let stub = Stub::start(|_, batch| {
        if values(batch).contains(&2.0) {
            Reply {
                status: 400,
                headers: vec![("Content-Type", "application/json".into())],
                body: r#"{"reason":"invalid","message":"value 2 is not acceptable"}"#.into(),
            }
        } else {
            Reply::ack(batch)
        }
    })
    .await;
    let s = setup(vec![stub.url.clone()]);
    let spool = s.spool();
    let shipper = s.shipper();
    let stats = shipper.stats();
    append(&spool, 1_000, 1.0);
    append(&spool, 2_000, 2.0);
    append(&spool, 3_000, 3.0);

    run_until(shipper, &spool, async {
        stub.wait_for(5).await;
    })
    .await;

    let got = stub.received();
    // One merged batch (refused), then one record per batch to isolate the bad one,
    // then the quarantine report.
    assert_eq!(
        acked_values(&got),
        [1.0, 3.0],
        "every good value exactly once"
    );
    let refused: Vec<_> = got.iter().filter(|r| r.status == 400).collect();
    assert_eq!(
        refused.len(),
        2,
        "the merged batch, then the bad record alone"
    );
    assert_eq!(values(&refused[1].batch), [2.0]);
    let report = got
        .iter()
        .filter(|r| r.status == 200)
        .flat_map(|r| r.batch.events.iter())
        .find(|e| e.kind.as_str() == BATCH_QUARANTINED)
        .expect("a batch_quarantined event reached the collector");
    assert_eq!(report.attrs["status"], "400");
    assert_eq!(report.attrs["seq"], refused[1].batch.seq.to_string());
    assert!(
        report.message.contains("value 2 is not acceptable"),
        "{}",
        report.message
    );

    let quarantine = s.state.path().join("quarantine");
    let body = std::fs::read(quarantine.join(format!("{:020}.json.zst", refused[1].batch.seq)))
        .expect("the refused body is kept");
    let kept = Batch::decode(&body, true, 1 << 20).expect("replayable body");
    assert_eq!(kept, refused[1].batch);
    assert_eq!(stats.snapshot().rejected, 1);
    assert_eq!(spool.stats().pending, 0);
}

#[tokio::test]
async fn fails_over_to_the_next_collector_and_comes_back_to_the_first() {
    // The first collector is unavailable for its first answer only.
    let first = Stub::start(|n, batch| match n {
        0 => Reply::status(503),
        _ => Reply::ack(batch),
    })
    .await;
    let second = Stub::start(|_, batch| Reply::ack(batch)).await;
    let mut s = setup(vec![first.url.clone(), second.url.clone()]);
    s.config.shipper.failback_interval = Duration::from_millis(300);
    let spool = s.spool();
    let shipper = s.shipper();
    append(&spool, 1_000, 1.0);

    run_until(shipper, &spool, async {
        second.wait_for(1).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        append(&spool, 2_000, 2.0);
        second.wait_for(2).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        append(&spool, 3_000, 3.0);
        first.wait_for(2).await;
    })
    .await;

    assert_eq!(
        acked_values(&second.received()),
        [1.0, 2.0],
        "stays on the fallback"
    );
    assert_eq!(
        acked_values(&first.received()),
        [3.0],
        "back on the first once the fail-back interval passed"
    );
    let seqs: Vec<u64> = [first.received(), second.received()]
        .iter()
        .flatten()
        .filter(|r| r.status == 200)
        .map(|r| r.batch.seq)
        .collect();
    let mut unique = seqs.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 3, "no batch acknowledged twice: {seqs:?}");
}

#[tokio::test]
async fn a_backlog_goes_out_oldest_first_in_full_batches() {
    let stub = Stub::start(|_, batch| Reply::ack(batch)).await;
    let mut s = setup(vec![stub.url.clone()]);
    s.config.shipper.max_batch_records = 20;
    let spool = s.spool();
    for i in 0..50 {
        append(&spool, 1_000 + i, i as f64);
    }
    run_until(s.shipper(), &spool, async {
        stub.wait_for(3).await;
    })
    .await;
    let got = stub.received();
    let sizes: Vec<usize> = got.iter().map(|r| values(&r.batch).len()).collect();
    assert_eq!(sizes, [20, 20, 10]);
    let all = acked_values(&got);
    assert_eq!(all, (0..50).map(|i| i as f64).collect::<Vec<_>>());
    assert!(got.windows(2).all(|w| w[0].batch.seq < w[1].batch.seq));
}

#[tokio::test]
async fn shutdown_keeps_the_batch_in_flight_for_the_next_start() {
    // Always 503: the shipper must still return once the flush deadline passes.
    let down = Stub::start(|_, _| Reply::status(503)).await;
    let mut s = setup(vec![down.url.clone()]);
    s.config.shipper.flush_timeout = Duration::from_millis(300);
    let spool = s.spool();
    let shipper = s.shipper();
    let stats = shipper.stats();
    append(&spool, 1_000, 1.0);
    run_until(shipper, &spool, async {
        down.wait_for(1).await;
    })
    .await;
    assert_eq!(stats.snapshot().abandoned, 1);
    let sent_seq = down.received()[0].batch.seq;
    drop(spool);

    // Next start, collector back: the same batch under the same number.
    let up = Stub::start(|_, batch| Reply::ack(batch)).await;
    s.config.collector_urls = vec![up.url.clone()];
    let spool = s.spool();
    assert_eq!(spool.in_flight().map(|f| f.seq), Some(sent_seq));
    run_until(s.shipper(), &spool, async {
        up.wait_for(1).await;
    })
    .await;
    let got = up.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].batch.seq, sent_seq, "resent under its number");
    assert_eq!(values(&got[0].batch), [1.0]);
    assert_eq!(spool.stats().pending, 0);
}

#[tokio::test]
async fn a_hanging_request_is_cut_short_by_the_flush_deadline() {
    let stub = Stub::start(|_, _| Reply::hang()).await;
    let mut s = setup(vec![stub.url.clone()]);
    s.config.shipper.timeout = Duration::from_secs(30);
    s.config.shipper.flush_timeout = Duration::from_millis(200);
    let spool = s.spool();
    let shipper = s.shipper();
    let stats = shipper.stats();
    append(&spool, 1_000, 1.0);

    let started = std::time::Instant::now();
    run_until(shipper, &spool, async {
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
    assert_eq!(spool.stats().pending, 1, "still spooled");
}
