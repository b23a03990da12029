//! `harbinger-sim replay`: POST a simulated fleet through a collector's real ingest path.
//!
//! The fleet is generated on a blocking thread into a bounded channel (so memory stays
//! bounded however long the run), and `--concurrency` workers send each batch
//! zstd-compressed to `POST /api/v1/ingest`, optionally paced to `--rate` batches per
//! second. The run ends at the current time, so the collector's future-timestamp check
//! passes. Temporary failures (connection errors, 429, 5xx) are retried with backoff;
//! a 4xx rejection is counted, logged with the collector's reason, and fails the run.

use crate::FleetArgs;
use anyhow::Context as _;
use clap::Args;
use harbinger_shared::wire::{CONTENT_ENCODING_ZSTD, CONTENT_TYPE_JSON};
use harbinger_shared::Batch;
use harbinger_sim::Fleet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Mutex};

const DAY_MS: f64 = 86_400_000.0;
const MAX_ATTEMPTS: u32 = 6;

#[derive(Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    fleet: FleetArgs,
    /// Collector base URL, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    url: String,
    /// Pace to at most this many batches per second (default: as fast as possible).
    #[arg(long)]
    rate: Option<f64>,
    /// Batches in flight at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Bearer token sent as `Authorization`, when the collector requires one.
    #[arg(long)]
    token: Option<String>,
    /// Also write the ground truth here.
    #[arg(long, value_name = "FILE")]
    truth: Option<PathBuf>,
}

#[derive(Default)]
struct Counters {
    batches: AtomicU64,
    samples: AtomicU64,
    duplicates: AtomicU64,
    rejected: AtomicU64,
    failed: AtomicU64,
}

#[allow(clippy::print_stdout)] // The summary is the command's output.
pub fn run(args: &ReplayArgs) -> anyhow::Result<()> {
    if args.concurrency == 0 {
        anyhow::bail!("--concurrency: must be at least 1");
    }
    if args.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        anyhow::bail!("--rate: must be a positive number of batches per second");
    }
    // The run ends now: the collector refuses timestamps from the future.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the system clock is before 1970")?
        .as_millis() as i64;
    let start_ms = now_ms - (args.fleet.days * DAY_MS) as i64;
    let fleet = Fleet::new(&args.fleet.spec(start_ms)?)?;
    if let Some(path) = &args.truth {
        crate::write_truth(path, fleet.truth())?;
    }
    let endpoint = format!("{}/api/v1/ingest", args.url.trim_end_matches('/'));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let counters = Arc::new(Counters::default());
    let started = Instant::now();
    runtime.block_on(send_all(fleet, args, &endpoint, counters.clone()))?;
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    let samples = counters.samples.load(Ordering::Relaxed);
    let rejected = counters.rejected.load(Ordering::Relaxed);
    let failed = counters.failed.load(Ordering::Relaxed);
    println!(
        "sent {} batches ({} samples, {} duplicates) to {endpoint} in {elapsed:.1} s: {:.0} samples/s; {rejected} rejected, {failed} failed",
        counters.batches.load(Ordering::Relaxed),
        samples,
        counters.duplicates.load(Ordering::Relaxed),
        samples as f64 / elapsed,
    );
    if rejected + failed > 0 {
        anyhow::bail!("{rejected} batches rejected and {failed} failed after retries (see the log for reasons)");
    }
    Ok(())
}

async fn send_all(
    fleet: Fleet,
    args: &ReplayArgs,
    endpoint: &str,
    counters: Arc<Counters>,
) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .context("cannot build the HTTP client")?;
    let (tx, rx) = mpsc::channel::<Batch>(args.concurrency * 4);
    let producer = tokio::task::spawn_blocking(move || {
        for batch in fleet {
            if tx.blocking_send(batch).is_err() {
                break; // Every worker stopped.
            }
        }
    });
    let rx = Arc::new(Mutex::new(rx));
    let pace = args.rate.map(|rate| {
        let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Arc::new(Mutex::new(interval))
    });
    let reporter = {
        let counters = counters.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            tick.tick().await;
            loop {
                tick.tick().await;
                let samples = counters.samples.load(Ordering::Relaxed);
                tracing::info!(
                    batches = counters.batches.load(Ordering::Relaxed),
                    samples,
                    samples_per_s = (samples as f64 / started.elapsed().as_secs_f64()) as u64,
                    "replaying"
                );
            }
        })
    };
    let mut workers = Vec::with_capacity(args.concurrency);
    for _ in 0..args.concurrency {
        let (rx, pace, client, counters) =
            (rx.clone(), pace.clone(), client.clone(), counters.clone());
        let endpoint = endpoint.to_owned();
        let token = args.token.clone();
        workers.push(tokio::spawn(async move {
            loop {
                let Some(batch) = rx.lock().await.recv().await else {
                    return;
                };
                if let Some(pace) = &pace {
                    pace.lock().await.tick().await;
                }
                send_one(&client, &endpoint, token.as_deref(), &batch, &counters).await;
            }
        }));
    }
    for worker in workers {
        worker.await.context("a replay worker panicked")?;
    }
    reporter.abort();
    producer.await.context("the generator thread panicked")?;
    Ok(())
}

async fn send_one(
    client: &reqwest::Client,
    endpoint: &str,
    token: Option<&str>,
    batch: &Batch,
    counters: &Counters,
) {
    let (host, seq) = (&batch.agent.host_id, batch.seq);
    let body = match batch.encode_zstd() {
        Ok(body) => body,
        Err(error) => {
            tracing::error!(%host, seq, %error, "cannot encode batch");
            counters.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let mut delay = Duration::from_millis(200);
    for attempt in 1..=MAX_ATTEMPTS {
        let mut request = client
            .post(endpoint)
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE_JSON)
            .header(reqwest::header::CONTENT_ENCODING, CONTENT_ENCODING_ZSTD)
            .body(body.clone());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let retry_reason = match request.send().await {
            Ok(response) if response.status().is_success() => {
                let body = response.bytes().await.unwrap_or_default();
                let duplicate = serde_json::from_slice::<harbinger_shared::IngestAck>(&body)
                    .map(|ack| ack.duplicate)
                    .unwrap_or(false);
                counters.batches.fetch_add(1, Ordering::Relaxed);
                counters
                    .samples
                    .fetch_add(batch.sample_count() as u64, Ordering::Relaxed);
                if duplicate {
                    counters.duplicates.fetch_add(1, Ordering::Relaxed);
                }
                return;
            }
            Ok(response) => {
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                if status.as_u16() != 429 && status.is_client_error() {
                    let text: String = text.chars().take(300).collect();
                    tracing::warn!(%host, seq, %status, body = %text, "batch rejected");
                    counters.rejected.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                format!("HTTP {status}")
            }
            Err(error) => error.to_string(),
        };
        tracing::debug!(%host, seq, attempt, reason = %retry_reason, "retrying batch");
        if attempt == MAX_ATTEMPTS {
            tracing::error!(%host, seq, reason = %retry_reason, "batch failed after {MAX_ATTEMPTS} attempts");
            counters.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}
