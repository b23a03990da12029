//! Compaction of the batch log into chunks and rollups (issue 7), through the public
//! `Store` trait and the real collector binary:
//! - answers are the same before and after compaction, late data merges, retention
//!   drops tiers by age; on SQLite always and on PostgreSQL when `HARBINGER_TEST_PG_URL`
//!   is set, where the two backends must also give identical answers;
//! - crash safety: the collector is killed with SIGKILL at random moments while it
//!   compacts, and after every kill the stored totals and every point are exactly those
//!   ingested (nothing lost, nothing counted twice).

use harbinger_collector::compaction;
use harbinger_collector::config::StorageConfig;
use harbinger_collector::hot::{HotCache, RawSeries, Selector};
use harbinger_collector::read::raw_series;
use harbinger_collector::rollup;
use harbinger_collector::store::sqlite::SqliteStore;
use harbinger_collector::store::{self, chunks, Store, Tier};
use harbinger_shared::{AgentIdentity, Batch, Point, Series, PROTOCOL_VERSION};
use sqlx::Connection;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// 2024-01-01T00:00:00Z: event time of the first sample, far older than any hot window.
const T0: i64 = 1_704_067_200_000;
const STEP: i64 = 10_000;
const HOUR: i64 = 3_600_000;

/// A host's batch `seq` carrying `per_batch` steps of `series` series, shaped like
/// hardware telemetry: a counter that rarely moves, a temperature, a noisy ratio.
fn batch(host: usize, seq: u64, per_batch: i64, series: usize) -> Batch {
    let first = T0 + (seq as i64) * per_batch * STEP + host as i64 * 137;
    let mut out = Vec::new();
    for s in 0..series {
        let points = (0..per_batch)
            .map(|k| {
                let i = (seq as i64) * per_batch + k;
                let value = match s % 3 {
                    0 => (i / 97) as f64,
                    1 => ((450 + (i * 7 + s as i64) % 13) as f64) / 10.0,
                    _ => ((i * 2_654_435_761 + s as i64) % 1_000_003) as f64 / 1_000_003.0,
                };
                Point {
                    ts: first + k * STEP,
                    value,
                }
            })
            .collect();
        out.push(Series {
            metric: format!("m{}", s % 4),
            labels: BTreeMap::from([("dev".into(), format!("d{s}"))]),
            points,
        });
    }
    Batch {
        protocol_version: PROTOCOL_VERSION,
        agent: AgentIdentity {
            host_id: format!("host-{host:02}"),
            hostname: format!("host-{host:02}.example"),
            labels: BTreeMap::from([("rack".into(), format!("r{}", host % 2))]),
            agent_version: "test".into(),
        },
        seq,
        interval_ms: STEP as u64,
        series: out,
        events: vec![],
        inventory: None,
    }
}

async fn ingest(store: &dyn Store, batches: &[Batch]) {
    for b in batches {
        let body = b.encode_zstd().expect("encode");
        store
            .append_batch(b, &body, T0 + 30 * 86_400_000)
            .await
            .expect("append");
    }
}

/// Every point of a host, as the read path answers it.
async fn all_points(store: &dyn Store, host: &str) -> Vec<RawSeries> {
    // An empty hot cache that promises nothing before "now": reads go to the store.
    let hot = HotCache::new(1_000, harbinger_collector::state::now_ms());
    raw_series(store, &hot, host, &Selector::default(), 0, i64::MAX)
        .await
        .expect("read")
}

fn bits(series: &[RawSeries]) -> Vec<(String, Vec<(i64, u64)>)> {
    series
        .iter()
        .map(|(k, p)| {
            (
                format!("{}{:?}", k.metric, k.labels),
                p.iter().map(|p| (p.ts, p.value.to_bits())).collect(),
            )
        })
        .collect()
}

/// The story both backends tell; returns what was read at each stage, for comparing
/// the backends with each other.
async fn story(store: Arc<dyn Store>) -> Vec<String> {
    let mut seen = Vec::new();
    // 3 hosts × 6 h of 10 s samples, in batches of 6 steps, 9 series each.
    let batches: Vec<Batch> = (0..3)
        .flat_map(|h| (0..360).map(move |seq| batch(h, seq, 6, 9)))
        .collect();
    let total: u64 = batches.iter().map(|b| b.sample_count() as u64).sum();
    ingest(store.as_ref(), &batches).await;
    let before = all_points(store.as_ref(), "host-01").await;
    assert_eq!(before.len(), 9);

    // Compact the first 4 h only: two closed chunk windows.
    let cutoff = T0 + 4 * HOUR;
    let pass = compaction::run_once(
        store.as_ref(),
        &StorageConfig {
            compact_batches: 100,
            ..StorageConfig::default()
        },
        cutoff,
        T0 + 7 * HOUR,
        None,
    )
    .await
    .expect("compaction pass");
    assert!(pass.transactions >= 2, "{pass:?}");
    let stats = store.storage_stats().await.expect("stats");
    let raw = stats.tiers["raw"];
    assert_eq!(raw.samples as u64 + stats.pending_samples as u64, total);
    assert!(raw.samples > 0 && stats.pending_samples > 0, "{stats:?}");
    // 3 hosts × 9 series × 2 windows.
    assert_eq!(raw.rows, 54);
    assert_eq!(stats.tiers["5m"].samples, raw.samples);
    assert_eq!(stats.tiers["1h"].samples, raw.samples);
    // A third of these series are pseudo-random 20-digit fractions (~7 bytes each even
    // with Gorilla); the counters and temperatures cost well under one byte.
    let bytes_per_sample = raw.bytes as f64 / raw.samples as f64;
    assert!(bytes_per_sample < 3.0, "{bytes_per_sample} bytes/sample");

    // The same answers, now partly from chunks and partly from the log.
    let after = all_points(store.as_ref(), "host-01").await;
    assert_eq!(bits(&after), bits(&before));
    seen.push(format!("{:?}", bits(&after)));

    // Selection by metric and label, and a range inside one chunk.
    let hot = HotCache::new(1_000, harbinger_collector::state::now_ms());
    let selector = Selector {
        metric: Some("m1".into()),
        filters: BTreeMap::from([("dev".into(), "d5".into())]),
    };
    let narrow = raw_series(
        store.as_ref(),
        &hot,
        "host-01",
        &selector,
        T0 + HOUR,
        T0 + HOUR + 60_000,
    )
    .await
    .expect("narrow read");
    assert_eq!(narrow.len(), 1);
    assert_eq!(narrow[0].1.len(), 6);
    assert!(narrow[0]
        .1
        .iter()
        .all(|p| p.ts >= T0 + HOUR && p.ts < T0 + HOUR + 60_000));
    seen.push(format!("{:?}", bits(&narrow)));

    // A replayed batch of an already compacted window is still a duplicate.
    let replay = batch(1, 10, 6, 9);
    let body = replay.encode_zstd().expect("encode");
    let outcome = store
        .append_batch(&replay, &body, T0 + 31 * 86_400_000)
        .await
        .expect("append replay");
    assert_eq!(outcome, store::AppendOutcome::Duplicate);

    // Late data (a new seq) into a compacted window merges into its chunk.
    let mut late = batch(1, 10_000, 1, 1);
    late.series[0].points = vec![Point {
        ts: T0 + 5,
        value: 42.5,
    }];
    ingest(store.as_ref(), &[late]).await;
    let pass = compaction::run_once(
        store.as_ref(),
        &StorageConfig::default(),
        cutoff,
        T0 + 7 * HOUR,
        None,
    )
    .await
    .expect("second pass");
    assert_eq!(pass.compacted.merged, 1, "{pass:?}");
    let merged = all_points(store.as_ref(), "host-01").await;
    let first = &merged
        .iter()
        .find(|(k, _)| k.metric == "m0" && k.labels["dev"] == "d0")
        .expect("series d0")
        .1;
    assert_eq!(first[0].ts, T0 + 5);
    assert_eq!(first[0].value, 42.5);
    assert_eq!(first.len(), 2_161);

    // Rollups of the compacted windows: 5-minute buckets of 30 samples each.
    let series = store
        .series(Some("host-02"), Some("m2"))
        .await
        .expect("series");
    assert_eq!(series.len(), 2);
    let ids: Vec<i64> = series.iter().map(|s| s.id).collect();
    let rows = store
        .load_rows(Tier::FiveMinutes, &ids, T0, cutoff)
        .await
        .expect("rollup rows");
    assert_eq!(rows.len(), 2, "one day row per series");
    let buckets = rollup::decode(&rows[0].data).expect("rollup decodes");
    assert_eq!(buckets.len(), 48);
    assert!(buckets.iter().all(|b| b.count == 30));
    seen.push(format!("{buckets:?}"));

    // Retention: raw older than the cutoff goes, rollups stay.
    let far = T0 + 400 * 86_400_000;
    let removed = store
        .apply_retention(Tier::Raw, far)
        .await
        .expect("retention");
    assert!(removed > 0);
    let stats = store.storage_stats().await.expect("stats");
    assert_eq!(stats.tiers["raw"].rows, 0);
    assert!(stats.tiers["5m"].rows > 0 && stats.tiers["1h"].rows > 0);
    store
        .apply_retention(Tier::FiveMinutes, far)
        .await
        .expect("5m retention");
    let stats = store.storage_stats().await.expect("stats");
    assert_eq!(stats.tiers["5m"].rows, 0);
    assert!(stats.tiers["1h"].rows > 0);
    // Retention that is not due yet removes nothing.
    assert_eq!(
        store.apply_retention(Tier::OneHour, T0).await.expect("1h"),
        0
    );
    // Tombstones go after the dedup window.
    let trimmed = store.trim_tombstones(i64::MAX).await.expect("trim");
    assert!(trimmed > 0);
    assert_eq!(store.storage_stats().await.expect("stats").tombstones, 0);
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_story_on_sqlite_and_postgres_gives_identical_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = store::open(&dir.path().join("h.db").display().to_string())
        .await
        .expect("open SQLite");
    let from_sqlite = story(sqlite).await;
    let Ok(admin_url) = std::env::var("HARBINGER_TEST_PG_URL") else {
        eprintln!("SKIPPED: compaction story on PostgreSQL (set HARBINGER_TEST_PG_URL)");
        return;
    };
    let db = PgDatabase::create(&admin_url).await;
    let pg = store::open(&db.url()).await.expect("open PostgreSQL");
    let from_pg = story(pg).await;
    assert_eq!(from_sqlite, from_pg);
}

/// SIGKILLs a real collector at random moments while it compacts; after each kill the
/// store holds every ingested point exactly once, in the log or in a chunk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_compaction_loses_nothing_and_counts_nothing_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("harbinger.db");
    let batches: Vec<Batch> = (0..4)
        .flat_map(|h| (0..120).map(move |seq| batch(h, seq, 6, 12)))
        .collect();
    let total: i64 = batches.iter().map(|b| b.sample_count() as i64).sum();
    let store = SqliteStore::open(&db.display().to_string())
        .await
        .expect("open");
    ingest(&store, &batches).await;
    let mut expected = Vec::new();
    for h in 0..4 {
        expected.push(bits(&all_points(&store, &format!("host-{h:02}")).await));
    }
    store.close().await;

    let config = dir.path().join("collector.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = {:?}\n[storage]\ncompact_interval = \"10ms\"\ncompact_batches = 3\n\
             # The data is from 2024: keep it past retention to count it.\n\
             raw_retention = \"100000d\"\nrollup_5m_retention = \"100000d\"\nrollup_1h_retention = \"100000d\"\n",
            dir.path().display().to_string()
        ),
    )
    .expect("write config");
    let mut rng = fastrand::Rng::with_seed(7);
    let (mut kills, mut partial) = (0, 0);
    for round in 0..60 {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_harbinger-collector"))
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the collector");
        tokio::time::sleep(Duration::from_millis(rng.u64(20..400))).await;
        child.kill().expect("SIGKILL the collector");
        child.wait().expect("reap the collector");
        kills += 1;

        let store = SqliteStore::open(&db.display().to_string())
            .await
            .expect("reopen after kill");
        let stats = store.storage_stats().await.expect("stats");
        assert_eq!(
            stats.tiers["raw"].samples + stats.pending_samples,
            total,
            "round {round}: {stats:?}"
        );
        for (h, want) in expected.iter().enumerate() {
            let got = bits(&all_points(&store, &format!("host-{h:02}")).await);
            assert!(
                &got == want,
                "round {round}: host {h} differs after the kill"
            );
        }
        let done = stats.pending_batches == 0;
        if !done && stats.tiers["raw"].samples > 0 {
            partial += 1;
        }
        if done {
            assert_eq!(stats.tiers["5m"].samples, total);
            assert_eq!(stats.tiers["1h"].samples, total);
        }
        store.close().await;
        if done && partial >= 2 {
            break;
        }
    }
    assert!(
        partial >= 2,
        "only {partial} of {kills} kills landed mid-compaction; the test proved too little"
    );
}

/// A throw-away PostgreSQL database, dropped however the test ends.
struct PgDatabase {
    admin_url: String,
    name: String,
}

impl PgDatabase {
    async fn create(admin_url: &str) -> PgDatabase {
        let name = format!("harbinger_compact_{:016x}", fastrand::u64(..));
        let mut admin = sqlx::PgConnection::connect(admin_url)
            .await
            .expect("connect to HARBINGER_TEST_PG_URL");
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        admin.close().await.expect("close the admin connection");
        PgDatabase {
            admin_url: admin_url.to_owned(),
            name,
        }
    }

    fn url(&self) -> String {
        let mut url = reqwest::Url::parse(&self.admin_url).expect("HARBINGER_TEST_PG_URL is a URL");
        url.set_path(&self.name);
        url.to_string()
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (url, sql) = (
            self.admin_url.clone(),
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&url).await.ok()?;
                sqlx::raw_sql(&sql).execute(&mut admin).await.ok()?;
                admin.close().await.ok()
            })
        })
        .join();
    }
}

#[test]
fn chunk_codec_is_reachable_from_outside() {
    // The codec is public so the benchmarks can measure it; one round trip here keeps
    // that surface honest.
    let p = vec![Point { ts: 1, value: 2.5 }];
    assert_eq!(chunks::decode(&chunks::encode(&p)).expect("decodes"), p);
}
