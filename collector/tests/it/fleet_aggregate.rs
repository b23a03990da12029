//! `GET /api/v1/fleet/aggregate` over real HTTP: four hosts in two racks, a metric with
//! a second chip that `match[chip]` must exclude, grouped `by=rack` (a host label) and
//! combined per step with each function, on a compacted range (read from the hourly
//! rollup) and on raw data, with errors that name the bad parameter. On SQLite always,
//! on PostgreSQL when `HARBINGER_TEST_PG_URL` is set.

use crate::tiers::{block, fast_compaction, wait_compacted, DAY, HOUR, METRIC, MINUTE};
use crate::{batch, now_ms, series, Server};
use harbinger_collector::config::CollectorConfig;
use harbinger_collector::rollup::align;
use harbinger_collector::store;
use serde_json::Value;
use std::collections::BTreeMap;

const HOSTS: [(&str, &str, f64); 4] = [
    ("fa-1", "r1", 0.0),
    ("fa-2", "r1", 3.0),
    ("fa-3", "r2", 10.0),
    ("fa-4", "r2", 20.0),
];

/// `[ts, value]` per group label value, from the answer.
fn groups(answer: &Value) -> BTreeMap<String, Vec<(i64, f64)>> {
    answer["series"]
        .as_array()
        .expect("series")
        .iter()
        .map(|g| {
            let rack = g["labels"]["rack"].as_str().unwrap_or("").to_owned();
            let points = g["points"]
                .as_array()
                .expect("points")
                .iter()
                .map(|p| (p[0].as_i64().expect("ts"), p[1].as_f64().expect("value")))
                .collect();
            (rack, points)
        })
        .collect()
}

/// Per step: each host's samples in it (only coretemp), grouped by rack.
fn per_step(
    data: &BTreeMap<&str, Vec<(i64, f64)>>,
    origin: i64,
    step: i64,
) -> BTreeMap<String, BTreeMap<i64, Vec<Vec<f64>>>> {
    let mut out: BTreeMap<String, BTreeMap<i64, Vec<Vec<f64>>>> = BTreeMap::new();
    for (host, rack, _) in HOSTS {
        let mut by_step: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
        for &(ts, v) in &data[host] {
            by_step
                .entry(origin + (ts - origin).div_euclid(step) * step)
                .or_default()
                .push(v);
        }
        for (start, values) in by_step {
            out.entry(rack.to_owned())
                .or_default()
                .entry(start)
                .or_default()
                .push(values);
        }
    }
    out
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// What `fn` gives for one step's per-host samples.
fn apply(function: &str, hosts: &[Vec<f64>]) -> f64 {
    let means: Vec<f64> = hosts.iter().map(|v| mean(v)).collect();
    match function {
        "avg" => mean(&means),
        "sum" => means.iter().sum(),
        "count" => hosts.len() as f64,
        "min" => hosts
            .iter()
            .flatten()
            .copied()
            .fold(f64::INFINITY, f64::min),
        "max" => hosts
            .iter()
            .flatten()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max),
        // Two hosts per rack: the median is halfway between their means.
        "p50" => mean(&means),
        other => panic!("no expectation for {other}"),
    }
}

async fn check(
    server: &Server,
    data: &BTreeMap<&str, Vec<(i64, f64)>>,
    from: i64,
    to: i64,
    step: i64,
    tier: &str,
) {
    for function in ["avg", "min", "max", "sum", "count", "p50"] {
        let answer = server
            .get_json(&format!(
                "/api/v1/fleet/aggregate?metric={METRIC}&match[chip]=coretemp&fn={function}&step={step}&from={from}&to={to}&by=rack"
            ))
            .await;
        assert_eq!(answer["tier"], tier, "{answer}");
        assert_eq!(answer["fn"], function);
        let origin = answer["start"].as_i64().expect("start");
        let want = per_step(data, origin, step);
        let got = groups(&answer);
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            vec!["r1", "r2"],
            "{function}: one series per rack"
        );
        for (rack, steps) in &want {
            let points = &got[rack];
            assert_eq!(points.len(), steps.len(), "{function} {rack}: steps");
            for ((ts, value), (start, hosts)) in points.iter().zip(steps) {
                assert_eq!(ts, start, "{function} {rack}");
                let expect = apply(function, hosts);
                assert!(
                    (value - expect).abs() < 1e-9,
                    "{function} {rack} at {ts}: {value} vs {expect}"
                );
            }
        }
        for g in answer["series"].as_array().expect("series") {
            assert_eq!(g["members"], 2, "two coretemp series per rack: {g}");
        }
    }
}

async fn story(config: CollectorConfig) {
    let url = config.database_url();
    let server = Server::start(config).await;
    let now = now_ms();
    let t0 = align(now - 10 * DAY, DAY) + 2 * HOUR;
    let mut data: BTreeMap<&str, Vec<(i64, f64)>> = BTreeMap::new();
    for (i, (host, rack, bias)) in HOSTS.into_iter().enumerate() {
        // Hosts report at different offsets and rates: fa-4 only every other minute.
        let mut points = block(t0 + i as i64 * 1_000, 240, bias);
        if host == "fa-4" {
            points.retain(|(ts, _)| (ts - t0) / MINUTE % 2 == 0);
        }
        let mut b = batch(host, 1, MINUTE as u64);
        b.agent.labels = BTreeMap::from([("rack".into(), rack.into())]);
        b.series
            .push(series(METRIC, &[("chip", "coretemp")], &points));
        // A chip the filter excludes, far hotter so it would show in every function.
        let decoy: Vec<(i64, f64)> = points.iter().map(|&(t, v)| (t, v + 500.0)).collect();
        b.series.push(series(METRIC, &[("chip", "nvme")], &decoy));
        let (status, ack) = server.ingest(&b).await;
        assert_eq!(status, 200, "{ack}");
        data.insert(host, points);
    }
    let store = store::open(&url)
        .await
        .expect("open the store beside the server");
    wait_compacted(store.as_ref(), 0).await;

    // Hourly steps over a month: the 1 h rollup.
    check(&server, &data, now - 30 * DAY, now, HOUR, "1h").await;
    // Two hours at 5 min, then at 1 min (raw).
    check(&server, &data, t0, t0 + 4 * HOUR, 5 * MINUTE, "5m").await;
    check(&server, &data, t0, t0 + 4 * HOUR, MINUTE, "raw").await;

    // No `by`: one fleet-wide series; count sees all four hosts.
    let all = server
        .get_json(&format!(
            "/api/v1/fleet/aggregate?metric={METRIC}&match[chip]=coretemp&fn=count&step={HOUR}&from={t0}&to={}",
            t0 + HOUR
        ))
        .await;
    assert_eq!(all["series"].as_array().map(Vec::len), Some(1), "{all}");
    assert_eq!(all["series"][0]["points"][0][1], 4.0, "{all}");
    assert_eq!(all["series"][0]["members"], 4);
    // Without the filter the decoy chip counts too.
    let unfiltered = server
        .get_json(&format!(
            "/api/v1/fleet/aggregate?metric={METRIC}&fn=max&step={HOUR}&from={t0}&to={}&by=rack,chip",
            t0 + HOUR
        ))
        .await;
    assert_eq!(
        unfiltered["series"].as_array().map(Vec::len),
        Some(4),
        "{unfiltered}"
    );

    for (params, param) in [
        ("fn=median", "fn"),
        ("from=yesterday", "from"),
        ("from=10&to=5", "to"),
        ("step=0", "step"),
        ("by=rack,2x", "by"),
        ("match[]=x", "match[]"),
        ("start=0", "start"),
    ] {
        let (status, body) = server
            .get(&format!("/api/v1/fleet/aggregate?metric={METRIC}&{params}"))
            .await;
        assert_eq!(status, 400, "{params}: {body}");
        let body: Value = serde_json::from_str(&body).expect("JSON error");
        assert_eq!(body["reason"], "bad_request");
        let message = body["message"].as_str().expect("message");
        assert!(
            message.starts_with(&format!("{param}:")),
            "{params}: {message}"
        );
    }
    let (status, body) = server.get("/api/v1/fleet/aggregate?fn=avg").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("metric: required"), "{body}");

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_aggregate_groups_hosts_by_rack_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    story(fast_compaction(dir.path(), None)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_aggregate_groups_hosts_by_rack_on_postgres() {
    let Ok(admin_url) = std::env::var("HARBINGER_TEST_PG_URL") else {
        eprintln!("SKIPPED: fleet aggregate on PostgreSQL (set HARBINGER_TEST_PG_URL)");
        return;
    };
    let database = crate::pg::Database::create(&admin_url).await;
    let dir = tempfile::tempdir().expect("tempdir");
    story(fast_compaction(dir.path(), Some(database.url()))).await;
}
