//! `harbinger-storage-bench`: the storage measurements of BENCHMARKS.md on simulated
//! fleet data (harbinger-sim's bench mode: 325 series per host, aligned 10 s samples).
//!
//! - `codecs`: packs every series' 2 h windows with each value codec (decimal scaling,
//!   Gorilla XOR, each with and without the zstd pass, and the per-chunk best of them,
//!   which is what the compactor stores) and prints bytes/sample per variant and per
//!   kind of series.
//! - `storage`: appends the same batches to a SQLite store, compacts them, and prints
//!   ingest rate, compaction rate, bytes/sample of the chunk tier and of the whole
//!   database file after VACUUM, bytes per table with its indexes and overflow pages
//!   (SQLite `dbstat`), and read latencies of one series over 4 h and one host's
//!   series over 1 h. `--page-size` creates the database with another page size.
//!
//! `--smoke` shrinks everything so a test can run it end to end in seconds.

#![allow(clippy::print_stdout)] // Printing the results is this binary's job.

use anyhow::Context;
use clap::{Parser, Subcommand};
use harbinger_collector::hot::{HotCache, Selector};
use harbinger_collector::read::raw_series;
use harbinger_collector::store::chunks::{self, EncodeOptions, ValueCodec};
use harbinger_collector::store::sqlite::SqliteStore;
use harbinger_collector::store::Store;
use harbinger_shared::{Batch, Point};
use harbinger_sim::{Fleet, FleetSpec};
use std::collections::BTreeMap;
use std::time::Instant;

const HOUR: i64 = 3_600_000;

#[derive(Debug, Parser)]
struct Args {
    /// Tiny sizes, for the CI smoke test.
    #[arg(long, global = true)]
    smoke: bool,
    /// Simulated hosts.
    #[arg(long, global = true, default_value_t = 20)]
    hosts: usize,
    /// Simulated hours.
    #[arg(long, global = true, default_value_t = 4)]
    hours: i64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Codecs,
    Storage {
        /// Directory for the database (a temporary one by default).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
        /// SQLite page size of the new database (the collector's default when absent).
        #[arg(long)]
        page_size: Option<u32>,
    },
    /// Writes the same samples as JSON lines for VictoriaMetrics' `/api/v1/import`
    /// (one line per series per batch), to compare with the same data there.
    VmExport {
        #[arg(long)]
        out: std::path::PathBuf,
    },
}

fn fleet(args: &Args) -> anyhow::Result<Fleet> {
    let (hosts, hours) = if args.smoke {
        (2, 2)
    } else {
        (args.hosts, args.hours)
    };
    let spec = FleetSpec {
        hosts,
        racks: hosts.div_ceil(10).max(1),
        duration_ms: hours * HOUR,
        interval_ms: 10_000,
        batch_intervals: 1,
        smart_every: 30,
        series_per_host: Some(325),
        ..FleetSpec::default()
    };
    Fleet::new(&spec).context("fleet spec")
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    match &args.command {
        Command::Codecs => codecs(&args),
        Command::VmExport { out } => vm_export(&args, out),
        Command::Storage { dir, page_size } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            runtime.block_on(storage(&args, dir.clone(), *page_size))
        }
    }
}

/// Series kind for the per-kind table: by metric name family.
fn kind(metric: &str) -> &'static str {
    if metric.starts_with("smart_") || metric.contains("_errors") || metric.contains("edac") {
        "counters (SMART, EDAC, errors)"
    } else if metric.contains("temp")
        || metric.contains("celsius")
        || metric.contains("fan")
        || metric.contains("volt")
        || metric.contains("watt")
        || metric.contains("power")
    {
        "sensors (temperature, fan, power)"
    } else if metric.starts_with("node_cpu") || metric.contains("load") {
        "CPU and load"
    } else {
        "other system metrics"
    }
}

fn codecs(args: &Args) -> anyhow::Result<()> {
    let span = 2 * HOUR;
    let mut windows: BTreeMap<(String, String, i64), Vec<Point>> = BTreeMap::new();
    for batch in fleet(args)? {
        for s in &batch.series {
            let key = format!("{}{:?}", s.metric, s.labels);
            for p in &s.points {
                windows
                    .entry((
                        batch.agent.host_id.clone(),
                        key.clone(),
                        p.ts.div_euclid(span),
                    ))
                    .or_default()
                    .push(*p);
            }
        }
    }
    let variants: [(&str, EncodeOptions); 5] = [
        (
            "decimal only",
            EncodeOptions {
                decimal: true,
                gorilla: false,
                zstd: false,
            },
        ),
        (
            "Gorilla only",
            EncodeOptions {
                decimal: false,
                gorilla: true,
                zstd: false,
            },
        ),
        (
            "Gorilla + zstd",
            EncodeOptions {
                decimal: false,
                gorilla: true,
                zstd: true,
            },
        ),
        (
            "best of both, no zstd",
            EncodeOptions {
                decimal: true,
                gorilla: true,
                zstd: false,
            },
        ),
        ("best of both + zstd (stored)", EncodeOptions::default()),
    ];
    let mut samples = 0u64;
    let mut bytes = [0u64; 5];
    let mut by_kind: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let mut wins: BTreeMap<String, u64> = BTreeMap::new();
    let started = Instant::now();
    for ((_, key, _), points) in &windows {
        samples += points.len() as u64;
        for (i, (_, options)) in variants.iter().enumerate() {
            let encoded = chunks::encode_with(points, *options);
            bytes[i] += encoded.len() as u64;
            if i == 4 {
                let metric = key.split('{').next().unwrap_or(key);
                let entry = by_kind.entry(kind(metric)).or_default();
                entry.0 += points.len() as u64;
                entry.1 += encoded.len() as u64;
                let info = chunks::info(&encoded)?;
                let name = match info.codec {
                    Some(ValueCodec::Decimal { order, .. }) => format!("decimal order {order}"),
                    Some(ValueCodec::Gorilla) => "Gorilla".into(),
                    None => "empty".into(),
                };
                *wins
                    .entry(format!("{name}{}", if info.zstd { " + zstd" } else { "" }))
                    .or_default() += 1;
            }
        }
    }
    let elapsed = started.elapsed();
    println!(
        "{} chunks, {samples} samples ({} windows of 2 h)",
        windows.len(),
        windows.len()
    );
    println!("| value codec | bytes/sample |");
    println!("| --- | --- |");
    for (i, (name, _)) in variants.iter().enumerate() {
        println!("| {name} | {:.3} |", bytes[i] as f64 / samples as f64);
    }
    println!();
    println!("| series kind (stored codec) | samples | bytes/sample |");
    println!("| --- | --- | --- |");
    for (k, (n, b)) in &by_kind {
        println!("| {k} | {n} | {:.3} |", *b as f64 / *n as f64);
    }
    println!();
    println!("| codec chosen | chunks |");
    println!("| --- | --- |");
    for (name, n) in &wins {
        println!("| {name} | {n} |");
    }
    println!();
    println!(
        "encode, all 5 variants: {:.1} M samples/s",
        (samples * 5) as f64 / elapsed.as_secs_f64() / 1e6
    );
    Ok(())
}

async fn storage(
    args: &Args,
    dir: Option<std::path::PathBuf>,
    page_size: Option<u32>,
) -> anyhow::Result<()> {
    let page_size = page_size.unwrap_or(harbinger_collector::store::sqlite::PAGE_SIZE);
    let keep = dir.is_some();
    let dir = dir.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("harbinger-storage-bench-{}", std::process::id()))
    });
    std::fs::create_dir_all(&dir)?;
    let db = dir.join("bench.db");
    let _ = std::fs::remove_file(&db);
    let store = SqliteStore::open_with_page_size(&db.display().to_string(), page_size).await?;
    let batches: Vec<Batch> = fleet(args)?.collect();
    let bodies: Vec<Vec<u8>> = batches
        .iter()
        .map(|b| b.encode_zstd())
        .collect::<Result<_, _>>()?;
    let samples: u64 = batches.iter().map(|b| b.sample_count() as u64).sum();
    let (from, to) = batches
        .iter()
        .filter_map(Batch::time_range)
        .fold((i64::MAX, i64::MIN), |(a, b), (x, y)| (a.min(x), b.max(y)));

    let started = Instant::now();
    for (b, body) in batches.iter().zip(&bodies) {
        store.append_batch(b, body, to).await?;
    }
    let ingest = started.elapsed();
    let log_bytes = std::fs::metadata(&db)?.len() + wal_len(&db);

    let started = Instant::now();
    let mut compacted = 0u64;
    loop {
        let step = store.compact(i64::MAX, 2_048).await?;
        if step.batches == 0 {
            break;
        }
        compacted += step.samples;
    }
    let compaction = started.elapsed();
    store.trim_tombstones(i64::MAX).await?;
    let stats = store.storage_stats().await?;
    let raw = stats.tiers.get("raw").copied().unwrap_or_default();

    // One series over 4 h (or the whole run) and one host's series over 1 h, from chunks.
    let hot = HotCache::new(1_000, harbinger_collector::state::now_ms());
    let host = batches
        .first()
        .map(|b| b.agent.host_id.clone())
        .unwrap_or_default();
    let metric = batches
        .first()
        .and_then(|b| b.series.first())
        .map(|s| s.metric.clone())
        .unwrap_or_default();
    let one = Selector {
        metric: Some(metric),
        filters: batches
            .first()
            .and_then(|b| b.series.first())
            .map(|s| s.labels.clone())
            .unwrap_or_default(),
    };
    let mut single = Vec::new();
    let mut host_hour = Vec::new();
    let mut got = (0, 0);
    for _ in 0..7 {
        let t = Instant::now();
        let r = raw_series(
            &store,
            &hot,
            &host,
            &one,
            from,
            (from + 4 * HOUR).min(to + 1),
        )
        .await?;
        single.push(t.elapsed().as_secs_f64() * 1e3);
        got.0 = r.iter().map(|s| s.1.len()).sum::<usize>();
        let t = Instant::now();
        let r = raw_series(
            &store,
            &hot,
            &host,
            &Selector::default(),
            from,
            (from + HOUR).min(to + 1),
        )
        .await?;
        host_hour.push(t.elapsed().as_secs_f64() * 1e3);
        got.1 = r.len();
    }
    store.close().await;
    // The whole file, indexes and free pages squeezed out.
    let conn_url = format!("sqlite://{}", db.display());
    let actual_page_size: i64;
    let tables: Vec<(String, i64, i64)>;
    {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&conn_url).await?;
        sqlx::query("VACUUM").execute(&mut conn).await?;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut conn)
            .await?;
        actual_page_size = sqlx::query_scalar("PRAGMA page_size")
            .fetch_one(&mut conn)
            .await?;
        // Bytes per table with its indexes, and the overflow pages among them (dbstat).
        tables = sqlx::query_as(
            "SELECT m.tbl_name, SUM(d.pgsize), \
                    SUM(CASE WHEN d.pagetype = 'overflow' THEN d.pgsize ELSE 0 END) \
             FROM dbstat d JOIN sqlite_master m ON m.name = d.name \
             GROUP BY m.tbl_name",
        )
        .fetch_all(&mut conn)
        .await?;
        conn.close().await?;
    }
    let file_bytes = std::fs::metadata(&db)?.len() + wal_len(&db);

    println!(
        "samples: {samples} in {} batches, {} series",
        batches.len(),
        stats.series
    );
    println!(
        "ingest (append_batch, one durable transaction per batch, no HTTP): {:.0} samples/s",
        samples as f64 / ingest.as_secs_f64()
    );
    println!(
        "batch log on disk before compaction: {:.2} bytes/sample",
        log_bytes as f64 / samples as f64
    );
    println!(
        "compaction: {:.0} samples/s ({compacted} samples)",
        compacted as f64 / compaction.as_secs_f64()
    );
    println!(
        "raw chunks: {} rows, {:.3} bytes/sample (data only)",
        raw.rows,
        raw.bytes as f64 / raw.samples.max(1) as f64
    );
    for tier in ["5m", "1h"] {
        let t = stats.tiers.get(tier).copied().unwrap_or_default();
        println!("rollups {tier}: {} rows, {} bytes", t.rows, t.bytes);
    }
    println!(
        "database file after VACUUM (chunks + rollups + series + indexes): {:.3} bytes/sample (page size {actual_page_size})",
        file_bytes as f64 / samples as f64
    );
    let on_disk = |name: &str| {
        tables
            .iter()
            .find(|t| t.0 == name)
            .map_or((0, 0), |t| (t.1, t.2))
    };
    for name in ["chunks", "rollups_5m", "rollups_1h", "series"] {
        let (bytes, overflow) = on_disk(name);
        println!("  table {name} with its indexes: {bytes} bytes, {overflow} in overflow pages");
    }
    let raw_tier = on_disk("chunks").0 + on_disk("series").0;
    println!(
        "raw tier on disk (chunks + its indexes + series, dbstat): {:.3} bytes/sample",
        raw_tier as f64 / samples as f64
    );
    println!(
        "query one series 4 h ({} points): median {:.2} ms",
        got.0,
        median(&mut single)
    );
    println!(
        "query one host, all {} series, 1 h: median {:.2} ms",
        got.1,
        median(&mut host_hour)
    );
    if !keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    anyhow::ensure!(
        raw.samples as u64 == samples,
        "compaction lost or duplicated samples: {} != {samples}",
        raw.samples
    );
    Ok(())
}

fn vm_export(args: &Args, out: &std::path::Path) -> anyhow::Result<()> {
    use std::io::Write;
    let file = std::fs::File::create(out).with_context(|| format!("create {}", out.display()))?;
    let mut w = std::io::BufWriter::new(file);
    let mut samples = 0u64;
    for batch in fleet(args)? {
        for s in &batch.series {
            let mut metric = serde_json::Map::new();
            metric.insert("__name__".into(), s.metric.clone().into());
            metric.insert("host".into(), batch.agent.host_id.clone().into());
            for (k, v) in &s.labels {
                metric.insert(k.clone(), v.clone().into());
            }
            let line = serde_json::json!({
                "metric": metric,
                "values": s.points.iter().map(|p| p.value).collect::<Vec<_>>(),
                "timestamps": s.points.iter().map(|p| p.ts).collect::<Vec<_>>(),
            });
            serde_json::to_writer(&mut w, &line)?;
            w.write_all(b"\n")?;
            samples += s.points.len() as u64;
        }
    }
    w.flush()?;
    println!("samples: {samples}");
    Ok(())
}

fn wal_len(db: &std::path::Path) -> u64 {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}
