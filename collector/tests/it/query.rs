//! Range queries: step buckets with exact min/max/avg, `fn=rate` across a counter
//! reset, label filters, and the same answers from hot memory and from the batch log.

use crate::{batch, now_ms, series, test_config, Server};
use serde_json::{json, Value};

/// Ingests the test series for `host` with their first sample at `t0`.
async fn ingest_fixture(server: &Server, host: &str, t0: i64) {
    let mut b = batch(host, 1, 1_000);
    b.series.push(series(
        "node_load1",
        &[],
        &[
            (t0, 1.0),
            (t0 + 2_000, 3.0),
            (t0 + 4_000, 2.0),
            (t0 + 10_000, 10.0),
            (t0 + 25_000, 4.0),
            (t0 + 30_000, 99.0),
        ],
    ));
    b.series.push(series(
        "node_network_receive_bytes_total",
        &[("device", "eth0")],
        // 20/s into t0, 100/s, a reset (50/s from zero), 10/s, then 20/s.
        &[
            (t0 - 5_000, 0.0),
            (t0, 100.0),
            (t0 + 2_000, 300.0),
            (t0 + 3_000, 50.0),
            (t0 + 6_000, 80.0),
            (t0 + 12_000, 200.0),
        ],
    ));
    b.series.push(series(
        "node_network_receive_bytes_total",
        &[("device", "eth1")],
        &[(t0, 0.0), (t0 + 1_000, 1_000.0)],
    ));
    let (status, ack) = server.ingest(&b).await;
    assert_eq!(status, 200, "{ack}");
}

async fn query(server: &Server, host: &str, params: &str) -> Value {
    server
        .get_json(&format!("/api/v1/hosts/{host}/query?{params}"))
        .await
}

/// Asserts the answers of both hosts, which hold the same data at different times.
async fn check(server: &Server, host: &str, t0: i64) {
    let gauge = query(
        server,
        host,
        &format!(
            "metric=node_load1&start={t0}&end={}&step=10000",
            t0 + 30_000
        ),
    )
    .await;
    assert_eq!(gauge["metric"], "node_load1");
    assert_eq!(gauge["step"], 10_000);
    assert_eq!(
        gauge["series"],
        json!([{"labels": {}, "points": [
            [t0, 1.0, 3.0, 2.0],
            [t0 + 10_000, 10.0, 10.0, 10.0],
            [t0 + 20_000, 4.0, 4.0, 4.0],
        ]}]),
        "{host}: the point at end is outside the half-open range"
    );

    let rate = query(
        server,
        host,
        &format!("metric=node_network_receive_bytes_total&fn=rate&label.device=eth0&start={t0}&end={}&step=10000", t0 + 20_000),
    )
    .await;
    assert_eq!(
        rate["series"],
        json!([{"labels": {"device": "eth0"}, "points": [
            [t0, 10.0, 100.0, 45.0],
            [t0 + 10_000, 20.0, 20.0, 20.0],
        ]}]),
        "{host}: rate with a counter reset"
    );

    let both = query(
        server,
        host,
        &format!(
            "metric=node_network_receive_bytes_total&start={t0}&end={}&step=20000",
            t0 + 20_000
        ),
    )
    .await;
    let devices: Vec<&str> = both["series"]
        .as_array()
        .expect("series array")
        .iter()
        .filter_map(|s| s["labels"]["device"].as_str())
        .collect();
    assert_eq!(
        devices,
        vec!["eth0", "eth1"],
        "{host}: no filter, every series"
    );
    assert_eq!(
        both["series"][1]["points"],
        json!([[t0, 0.0, 1000.0, 500.0]])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_queries_bucket_and_rate_exactly_from_hot_and_cold_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(test_config(dir.path())).await;
    let hot_t0 = (now_ms() - 600_000) / 1_000 * 1_000;
    // Two days back is far outside the 6 h hot window: read from the batch log.
    let cold_t0 = hot_t0 - 2 * 86_400_000;
    ingest_fixture(&server, "q-hot", hot_t0).await;
    ingest_fixture(&server, "q-cold", cold_t0).await;
    check(&server, "q-hot", hot_t0).await;
    check(&server, "q-cold", cold_t0).await;

    let series = server.get_json("/api/v1/hosts/q-hot/series").await;
    assert_eq!(
        series,
        json!([
            {"metric": "node_load1", "labels": {}},
            {"metric": "node_network_receive_bytes_total", "labels": {"device": "eth0"}},
            {"metric": "node_network_receive_bytes_total", "labels": {"device": "eth1"}},
        ])
    );

    let (status, body) = server
        .get(&format!(
            "/api/v1/hosts/q-hot/query?metric=node_load1&start=0&end={}&step=1",
            20_000
        ))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("step"), "{body}");
    let (status, body) = server
        .get(&format!(
            "/api/v1/hosts/q-hot/query?metric=node_load1&start={hot_t0}&end={hot_t0}"
        ))
        .await;
    assert_eq!(status, 400, "{body}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_window_is_rebuilt_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(test_config(dir.path())).await;
    let t0 = (now_ms() - 600_000) / 1_000 * 1_000;
    ingest_fixture(&server, "q-restart", t0).await;
    server.stop().await;

    let server = Server::start(test_config(dir.path())).await;
    check(&server, "q-restart", t0).await;
    let (_, metrics) = server.get("/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|l| l == "harbinger_collector_hot_series 3"),
        "the rebuilt hot window holds the three series:\n{metrics}"
    );
    server.stop().await;
}
