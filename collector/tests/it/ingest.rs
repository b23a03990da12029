//! `POST /api/v1/ingest`: every rejection class leaves stored data untouched, replays
//! are acknowledged as duplicates and stored once, and old history is accepted.

use crate::{batch, event, now_ms, series, test_config, Server};
use serde_json::Value;

const HOST: &str = "ingest-host";

/// What a client can see of the host's stored data.
async fn snapshot(server: &Server) -> Vec<Value> {
    vec![
        server.get_json("/api/v1/hosts").await,
        server
            .get_json(&format!("/api/v1/hosts/{HOST}/series"))
            .await,
        server
            .get_json(&format!("/api/v1/hosts/{HOST}/events"))
            .await,
        server
            .get_json(&format!("/api/v1/hosts/{HOST}/inventory"))
            .await,
    ]
}

fn assert_rejected(
    what: &str,
    (status, body): (u16, Value),
    want_status: u16,
    reason: &str,
    names: &str,
) {
    assert_eq!(status, want_status, "{what}: {body}");
    assert_eq!(body["reason"], reason, "{what}: {body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(names),
        "{what}: message {message:?} should name {names:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_batches_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = test_config(dir.path());
    config.ingest.max_body_bytes = 64 * 1024;
    config.ingest.max_decompressed_bytes = 256 * 1024;
    let server = Server::start(config).await;
    let now = now_ms();

    let mut good = batch(HOST, 1, 60_000);
    good.series
        .push(series("node_load1", &[], &[(now - 1_000, 0.5)]));
    good.events
        .push(event(now - 1_000, "agent_started", "agent started"));
    let (status, ack) = server.ingest(&good).await;
    assert_eq!(status, 200, "{ack}");
    assert_eq!(ack["duplicate"], false);
    let before = snapshot(&server).await;
    assert_eq!(
        before[1].as_array().map(Vec::len),
        Some(1),
        "one series stored: {}",
        before[1]
    );
    assert_eq!(
        before[2].as_array().map(Vec::len),
        Some(1),
        "one event stored: {}",
        before[2]
    );

    let json = |b: &harbinger_shared::Batch| serde_json::to_vec(b).expect("json");

    let bad_json = br#"{"protocol_version":1,"agent":{"host_id":"ingest-host","hostname":"h"},"seq":"two","interval_ms":1000}"#;
    assert_rejected(
        "bad JSON",
        server
            .post_raw(bad_json.to_vec(), "application/json", None)
            .await,
        400,
        "bad_json",
        "seq",
    );

    let mut v2 = serde_json::to_value(batch(HOST, 2, 60_000)).expect("json");
    v2["protocol_version"] = Value::from(2);
    let v2 = serde_json::to_vec(&v2).expect("json");
    assert_rejected(
        "wrong version",
        server.post_raw(v2, "application/json", None).await,
        400,
        "unsupported_version",
        "version 2",
    );

    let mut big = batch(HOST, 3, 60_000);
    big.events
        .push(event(now, "agent_started", &"x".repeat(100 * 1024)));
    assert_rejected(
        "over the body limit",
        server.post_raw(json(&big), "application/json", None).await,
        413,
        "too_large",
        "ingest.max_body_bytes",
    );

    let mut bomb = batch(HOST, 3, 60_000);
    bomb.events
        .push(event(now, "agent_started", &"y".repeat(512 * 1024)));
    let bomb = zstd::bulk::compress(&json(&bomb), 3).expect("compress");
    assert!(
        bomb.len() < 64 * 1024,
        "the bomb must pass the compressed limit"
    );
    assert_rejected(
        "over the decompressed limit",
        server
            .post_raw(bomb, "application/json", Some("zstd"))
            .await,
        413,
        "too_large",
        "max_decompressed_bytes",
    );

    let null_value = format!(
        r#"{{"protocol_version":1,"agent":{{"host_id":"{HOST}","hostname":"h"}},"seq":4,"interval_ms":60000,
            "series":[{{"metric":"node_memory_used_ratio","points":[[{now},null]]}}]}}"#
    );
    assert_rejected(
        "non-finite value",
        server
            .post_raw(null_value.into_bytes(), "application/json", None)
            .await,
        400,
        "invalid",
        "node_memory_used_ratio",
    );

    let mut future = batch(HOST, 5, 60_000);
    future.series.push(series("node_load1", &[], &[(now, 1.0)]));
    future.series.push(series(
        "node_disk_io_latency_seconds",
        &[("device", "sda")],
        &[(now + 3_600_000, 1.0)],
    ));
    assert_rejected(
        "future timestamp",
        server.ingest(&future).await,
        400,
        "future_timestamp",
        "node_disk_io_latency_seconds{device=\"sda\"}",
    );

    let mut future_event = batch(HOST, 5, 60_000);
    future_event
        .series
        .push(series("node_load1", &[], &[(now, 1.0)]));
    future_event
        .events
        .push(event(now + 3_600_000, "reboot", "from the future"));
    assert_rejected(
        "future event",
        server.ingest(&future_event).await,
        400,
        "future_timestamp",
        "reboot",
    );

    let mut old = batch(HOST, 6, 60_000);
    old.series
        .push(series("node_load1", &[], &[(now - 500 * 86_400_000, 1.0)]));
    assert_rejected(
        "too old",
        server.ingest(&old).await,
        400,
        "too_old",
        "node_load1",
    );

    assert_rejected(
        "bad zstd",
        server
            .post_raw(
                b"definitely not zstd".to_vec(),
                "application/json",
                Some("zstd"),
            )
            .await,
        400,
        "bad_encoding",
        "zstd",
    );
    assert_rejected(
        "unknown encoding",
        server
            .post_raw(json(&good), "application/json", Some("gzip"))
            .await,
        415,
        "bad_encoding",
        "gzip",
    );
    assert_rejected(
        "wrong content type",
        server.post_raw(json(&good), "text/plain", None).await,
        415,
        "unsupported_media_type",
        "text/plain",
    );

    let mut bad_label = batch(HOST, 7, 60_000);
    bad_label
        .series
        .push(series("node_load1", &[("bad-label", "x")], &[(now, 1.0)]));
    assert_rejected(
        "bad label name",
        server.ingest(&bad_label).await,
        400,
        "invalid",
        "bad-label",
    );

    assert_eq!(
        snapshot(&server).await,
        before,
        "rejected batches must not change stored data"
    );

    let (_, metrics) = server.get("/metrics").await;
    for line in [
        "harbinger_collector_batches_rejected_total{reason=\"too_large\"} 2",
        "harbinger_collector_batches_rejected_total{reason=\"future_timestamp\"} 2",
        "harbinger_collector_batches_rejected_total{reason=\"unsupported_media_type\"} 1",
        "harbinger_collector_batches_ingested_total 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "missing {line:?} in /metrics:\n{metrics}"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_batch_is_acknowledged_as_duplicate_and_stored_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(test_config(dir.path())).await;
    let now = now_ms();
    let mut first = batch(HOST, 41, 60_000);
    first
        .series
        .push(series("node_load1", &[], &[(now - 2_000, 0.25)]));
    first.events.push(event(now - 2_000, "reboot", "rebooted"));

    let (status, ack) = server.ingest(&first).await;
    assert_eq!(
        (status, &ack["duplicate"]),
        (200, &Value::Bool(false)),
        "{ack}"
    );
    // Sent uncompressed the second time: the idempotency key is (host, seq), not the bytes.
    let (status, ack) = server
        .post_raw(
            serde_json::to_vec(&first).expect("json"),
            "application/json",
            None,
        )
        .await;
    assert_eq!(status, 200, "{ack}");
    assert_eq!(ack["duplicate"], true, "{ack}");
    assert_eq!(ack["seq"], 41);
    assert_eq!(ack["host_id"], HOST);

    let events = server
        .get_json(&format!("/api/v1/hosts/{HOST}/events"))
        .await;
    assert_eq!(
        events.as_array().map(Vec::len),
        Some(1),
        "stored once: {events}"
    );
    let query = server
        .get_json(&format!(
            "/api/v1/hosts/{HOST}/query?metric=node_load1&start={}&end={}&step=1000",
            now - 10_000,
            now
        ))
        .await;
    assert_eq!(
        query["series"][0]["points"].as_array().map(Vec::len),
        Some(1),
        "{query}"
    );
    let (_, metrics) = server.get("/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|l| l == "harbinger_collector_batches_duplicate_total 1"),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn month_old_history_is_accepted_and_queryable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(test_config(dir.path())).await;
    let ts = now_ms() - 30 * 86_400_000;
    let mut old = batch(HOST, 7, 10_000);
    old.series.push(series(
        "node_memory_used_ratio",
        &[],
        &[(ts, 0.25), (ts + 10_000, 0.75)],
    ));
    old.events.push(event(ts, "reboot", "rebooted a month ago"));
    let (status, ack) = server.ingest(&old).await;
    assert_eq!(status, 200, "{ack}");

    // Far outside the hot window: answered from the batch log.
    let query = server
        .get_json(&format!(
            "/api/v1/hosts/{HOST}/query?metric=node_memory_used_ratio&start={ts}&end={}&step=20000",
            ts + 20_000
        ))
        .await;
    assert_eq!(
        query["series"][0]["points"],
        serde_json::json!([[ts, 0.25, 0.75, 0.5]]),
        "{query}"
    );
    let events = server
        .get_json(&format!(
            "/api/v1/hosts/{HOST}/events?start={}&end={}",
            ts - 1,
            ts + 1
        ))
        .await;
    assert_eq!(events[0]["message"], "rebooted a month ago", "{events}");
    let listed = server
        .get_json(&format!(
            "/api/v1/hosts/{HOST}/series?start={}&end={}",
            ts - 1,
            ts + 1
        ))
        .await;
    assert_eq!(
        listed,
        serde_json::json!([{"metric": "node_memory_used_ratio", "labels": {}}])
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_hosts_are_404_and_health_endpoints_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(test_config(dir.path())).await;
    for path in [
        "/api/v1/hosts/nobody",
        "/api/v1/hosts/nobody/series",
        "/api/v1/hosts/nobody/query?metric=node_load1",
        "/api/v1/incidents/12345",
    ] {
        let (status, body) = server.get(path).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
    assert_eq!(server.get("/healthz").await, (200, "ok".to_owned()));
    assert_eq!(server.get("/readyz").await.0, 200);
    let (status, page) = server.get("/").await;
    assert_eq!(status, 200);
    assert!(
        page.to_ascii_lowercase().contains("<html"),
        "dashboard page: {page:.200}"
    );
    server.stop().await;
}
