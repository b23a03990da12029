//! The query API picks its tier by step and by the range's age (issue 7): over real
//! HTTP, after the collector's own compactor has built the rollups and retention has
//! dropped old raw chunks, a coarse step reads the 1 h rollup, a medium one the 5 min
//! rollup, a fine one raw chunks, and a range older than raw retention is served from a
//! rollup. Each answer names its tier and holds exactly what that tier holds, checked
//! against the generated samples and against the stored rollup rows. On SQLite always,
//! on PostgreSQL when `HARBINGER_TEST_PG_URL` is set.

use crate::{batch, eventually, now_ms, series, test_config, Server};
use harbinger_collector::config::{CollectorConfig, Secret};
use harbinger_collector::duration::HumanDuration;
use harbinger_collector::rollup::{self, align};
use harbinger_collector::store::{self, Store, Tier};
use serde_json::Value;

pub const MINUTE: i64 = 60_000;
pub const HOUR: i64 = 3_600_000;
pub const DAY: i64 = 86_400_000;
pub const METRIC: &str = "node_hwmon_temp_celsius";
const COUNTER: &str = "node_network_receive_bytes_total";

/// Samples every minute for `minutes` from `t0`: temperatures in tenths, shifted by `bias`.
pub fn block(t0: i64, minutes: i64, bias: f64) -> Vec<(i64, f64)> {
    (0..minutes)
        .map(|i| (t0 + i * MINUTE, bias + 40.0 + ((i * 7) % 23) as f64 / 10.0))
        .collect()
}

/// `[start, min, max, avg]` of the points per `width` bucket counted from `origin`.
pub fn expected(points: &[(i64, f64)], origin: i64, width: i64) -> Vec<(i64, f64, f64, f64)> {
    let mut out: Vec<(i64, f64, f64, f64, f64)> = Vec::new();
    for &(ts, v) in points {
        let start = origin + (ts - origin).div_euclid(width) * width;
        match out.last_mut() {
            Some(b) if b.0 == start => {
                b.1 = b.1.min(v);
                b.2 = b.2.max(v);
                b.3 += v;
                b.4 += 1.0;
            }
            _ => out.push((start, v, v, v, 1.0)),
        }
    }
    out.into_iter()
        .map(|(s, min, max, sum, n)| (s, min, max, sum / n))
        .collect()
}

/// The `[ts, min, max, avg]` points of the answer's only series.
pub fn points(answer: &Value) -> Vec<(i64, f64, f64, f64)> {
    let series = answer["series"].as_array().expect("series array");
    assert_eq!(series.len(), 1, "one series expected: {answer}");
    series[0]["points"]
        .as_array()
        .expect("points")
        .iter()
        .map(|p| {
            let f = |i: usize| p[i].as_f64().expect("number");
            (p[0].as_i64().expect("ts"), f(1), f(2), f(3))
        })
        .collect()
}

pub fn assert_close(got: &[(i64, f64, f64, f64)], want: &[(i64, f64, f64, f64)], what: &str) {
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: bucket count\n got {got:?}\nwant {want:?}"
    );
    for (g, w) in got.iter().zip(want) {
        assert_eq!((g.0, g.1, g.2), (w.0, w.1, w.2), "{what}: start/min/max");
        assert!((g.3 - w.3).abs() < 1e-9, "{what}: avg {} vs {}", g.3, w.3);
    }
}

/// A collector that compacts every 50 ms and keeps only the last hour hot.
pub fn fast_compaction(dir: &std::path::Path, database_url: Option<String>) -> CollectorConfig {
    let mut config = test_config(dir);
    config.storage.compact_interval = HumanDuration::from_millis(50);
    config.ingest.hot_window = HumanDuration::from_secs(3_600);
    config.database_url = database_url.map(Secret::new);
    config
}

/// Waits until the collector's compactor has left only `pending` batches in the log.
pub async fn wait_compacted(store: &dyn Store, pending: i64) {
    eventually(
        "the compactor empties the log up to the hot window",
        || async {
            let stats = store.storage_stats().await.ok()?;
            (stats.pending_batches == pending).then_some(())
        },
    )
    .await;
}

async fn query(server: &Server, params: &str) -> Value {
    server
        .get_json(&format!(
            "/api/v1/hosts/tier-a/query?metric={METRIC}&{params}"
        ))
        .await
}

async fn story(config: CollectorConfig) {
    let url = config.database_url();
    let server = Server::start(config).await;
    let now = now_ms();
    // A: older than raw retention (30 d); B: 10 days old; C: the last half hour.
    let a0 = align(now - 35 * DAY, DAY) + HOUR;
    let b0 = align(now - 10 * DAY, DAY) + 2 * HOUR;
    let c0 = align(now, MINUTE) - 30 * MINUTE;
    let (a, b, c) = (
        block(a0, 180, 0.0),
        block(b0, 180, 5.0),
        block(c0, 30, 10.0),
    );
    for (seq, points) in [(1, &a), (2, &b), (3, &c)] {
        let mut batch = batch("tier-a", seq, MINUTE as u64);
        batch
            .series
            .push(series(METRIC, &[("chip", "coretemp")], points));
        // A counter going up 6 per minute (0.1/s), reset to 0 at the start of each block.
        let counter: Vec<(i64, f64)> = points
            .iter()
            .enumerate()
            .map(|(i, &(ts, _))| (ts, 6.0 * i as f64))
            .collect();
        batch.series.push(series(COUNTER, &[], &counter));
        let (status, ack) = server.ingest(&batch).await;
        assert_eq!(status, 200, "{ack}");
    }

    let store = store::open(&url)
        .await
        .expect("open the store beside the server");
    wait_compacted(store.as_ref(), 1).await;
    let ids: Vec<i64> = store
        .series(Some("tier-a"), Some(METRIC))
        .await
        .expect("series")
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids.len(), 1, "one temperature series");
    eventually("retention drops block A's raw chunks", || async {
        let rows = store
            .load_rows(Tier::Raw, &ids, a0, a0 + 3 * HOUR)
            .await
            .ok()?;
        rows.is_empty().then_some(())
    })
    .await;
    let raw_b = store
        .load_rows(Tier::Raw, &ids, b0, b0 + 3 * HOUR)
        .await
        .expect("raw rows of B");
    assert!(!raw_b.is_empty(), "block B is within raw retention");

    // Long range, coarse step: the hourly rollup, plus the log for the last half hour.
    let from = now - 36 * DAY;
    let long = query(&server, &format!("start={from}&end={now}&step={HOUR}")).await;
    assert_eq!(long["tier"], "1h", "{long}");
    let origin = align(from, HOUR);
    assert_eq!(long["start"], origin);
    let all: Vec<(i64, f64)> = a.iter().chain(&b).chain(&c).copied().collect();
    assert_close(
        &points(&long),
        &expected(&all, origin, HOUR),
        "30+ days at 1h",
    );
    // ... and those are the stored hourly buckets, not a recomputation.
    let stored: Vec<(i64, f64, f64, f64)> = store
        .load_rows(Tier::OneHour, &ids, a0, a0 + 3 * HOUR)
        .await
        .expect("1h rows")
        .iter()
        .flat_map(|row| rollup::decode(&row.data).expect("1h row decodes"))
        .filter(|bucket| bucket.start_ms < a0 + 3 * HOUR)
        .map(|bucket| (bucket.start_ms, bucket.min, bucket.max, bucket.avg()))
        .collect();
    assert_close(&points(&long)[..3], &stored, "block A against the 1h rows");

    // A day at 5 min: the 5 min rollup.
    let day = query(
        &server,
        &format!("start={}&end={}&step={}", b0, b0 + DAY, 5 * MINUTE),
    )
    .await;
    assert_eq!(day["tier"], "5m", "{day}");
    assert_close(&points(&day), &expected(&b, b0, 5 * MINUTE), "a day at 5m");
    // A 15 min step is three 5 min buckets each.
    let quarter = query(
        &server,
        &format!("start={}&end={}&step={}", b0, b0 + DAY, 15 * MINUTE),
    )
    .await;
    assert_eq!(quarter["tier"], "5m", "{quarter}");
    assert_close(
        &points(&quarter),
        &expected(&b, b0, 15 * MINUTE),
        "a day at 15m",
    );

    // An hour at 1 min: raw chunks, one sample per bucket.
    let hour = query(
        &server,
        &format!("start={}&end={}&step={MINUTE}", b0 + HOUR, b0 + 2 * HOUR),
    )
    .await;
    assert_eq!(hour["tier"], "raw", "{hour}");
    let want: Vec<(i64, f64, f64, f64)> = b[60..120].iter().map(|&(t, v)| (t, v, v, v)).collect();
    assert_close(&points(&hour), &want, "an hour at 1m");

    // Older than raw retention at 1 min: the raw chunks are gone, the 5 min rollup answers.
    let old = query(
        &server,
        &format!("start={a0}&end={}&step={MINUTE}", a0 + 3 * HOUR),
    )
    .await;
    assert_eq!(old["tier"], "5m", "{old}");
    assert_close(
        &points(&old),
        &expected(&a, a0, 5 * MINUTE),
        "block A at 1m",
    );

    // A rate from the hourly rollup's last values: 360 per hour is 0.1/s; the first hour
    // has no earlier bucket to take a rate from.
    let rate = server
        .get_json(&format!(
            "/api/v1/hosts/tier-a/query?metric={COUNTER}&fn=rate&start={a0}&end={}&step={HOUR}",
            a0 + 3 * HOUR
        ))
        .await;
    assert_eq!(rate["tier"], "1h", "{rate}");
    assert_close(
        &points(&rate),
        &[(a0 + HOUR, 0.1, 0.1, 0.1), (a0 + 2 * HOUR, 0.1, 0.1, 0.1)],
        "rate from 1h rollups",
    );

    // A recent range at 1 h: nothing compacted yet, the log's points bucketed hourly.
    let recent = query(
        &server,
        &format!("start={}&end={now}&step={HOUR}", now - 2 * HOUR),
    )
    .await;
    assert_eq!(recent["tier"], "1h", "{recent}");
    assert_close(
        &points(&recent),
        &expected(&c, align(now - 2 * HOUR, HOUR), HOUR),
        "recent at 1h",
    );

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_tier_follows_step_and_retention_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    story(fast_compaction(dir.path(), None)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_tier_follows_step_and_retention_on_postgres() {
    let Ok(admin_url) = std::env::var("HARBINGER_TEST_PG_URL") else {
        eprintln!("SKIPPED: query tiers on PostgreSQL (set HARBINGER_TEST_PG_URL)");
        return;
    };
    let database = crate::pg::Database::create(&admin_url).await;
    let dir = tempfile::tempdir().expect("tempdir");
    story(fast_compaction(dir.path(), Some(database.url()))).await;
}
