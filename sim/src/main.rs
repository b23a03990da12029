//! The `harbinger-sim` binary: `generate` writes a simulated fleet to a file, `replay`
//! POSTs it through a collector's real ingest path, `evaluate` scores Harbinger's engine
//! and two reference detectors on one simulated fleet.
//!
//! Exit codes: 0 success, 1 runtime error (I/O, rejected batches), 2 bad arguments.

mod replay;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use harbinger_sim::{jsonl, FailureRates, Fleet, FleetSpec, GroundTruth};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "harbinger-sim", version, about = "Harbinger's fleet simulator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate batches as JSON lines (zstd-compressed when the name ends in .zst) plus a ground-truth JSON file.
    Generate(GenerateArgs),
    /// Generate batches ending now and POST them to a collector's /api/v1/ingest.
    Replay(replay::ReplayArgs),
    /// Feed one simulated fleet through Harbinger's engine, static Prometheus-style
    /// thresholds and Netdata-style k-means, and report recall, lead time, precision and
    /// false incidents per 1 000 server-days.
    Evaluate(EvaluateArgs),
}

#[derive(Args)]
struct EvaluateArgs {
    #[command(flatten)]
    fleet: FleetArgs,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Run only these detectors (comma-separated: harbinger, static-thresholds,
    /// netdata-kmeans); all three by default.
    #[arg(long, value_delimiter = ',')]
    detectors: Vec<String>,
}

/// The fleet to simulate.
#[derive(Args, Debug, Clone)]
pub struct FleetArgs {
    #[arg(long, default_value_t = 20)]
    hosts: usize,
    #[arg(long, default_value_t = 7.0)]
    days: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Racks (default: one per 20 hosts).
    #[arg(long)]
    racks: Option<usize>,
    /// Sites (default: one per 10 racks).
    #[arg(long)]
    sites: Option<usize>,
    /// Collection interval in seconds.
    #[arg(long, default_value_t = 60)]
    interval: u64,
    /// Collection intervals per batch.
    #[arg(long, default_value_t = 10)]
    batch_intervals: u32,
    /// Bench-data mode: pad every host to exactly this many series.
    #[arg(long)]
    series_per_host: Option<usize>,
    /// Inject no failures and no decoys (a quiet fleet, e.g. for storage benchmarks).
    #[arg(long)]
    no_failures: bool,
    /// Failure probabilities per host as JSON, overriding the defaults field by field,
    /// e.g. `{"dimm_uncorrectable": 1.0}` (fields as in the ground truth's FailureRates).
    #[arg(long, value_name = "JSON", conflicts_with = "no_failures")]
    failure_rates: Option<String>,
}

impl FleetArgs {
    /// The spec for a run starting at `start_ms`.
    pub fn spec(&self, start_ms: i64) -> anyhow::Result<FleetSpec> {
        let mut spec = FleetSpec::new(self.hosts, self.days, self.seed);
        spec.racks = self.racks.unwrap_or(spec.racks);
        spec.sites = self.sites.unwrap_or(spec.sites.min(spec.racks));
        spec.interval_ms = self.interval.saturating_mul(1_000);
        spec.batch_intervals = self.batch_intervals;
        spec.series_per_host = self.series_per_host;
        spec.start_ms = start_ms;
        // SMART every 30 minutes, as the agent's slow SMART cycle.
        spec.smart_every = u32::try_from((1_800 / self.interval.max(1)).max(1)).unwrap_or(1);
        if self.no_failures {
            spec.failures = FailureRates::none();
        }
        if let Some(json) = &self.failure_rates {
            spec.failures =
                serde_json::from_str(json).map_err(|e| harbinger_sim::SpecError::Invalid {
                    key: "--failure-rates",
                    message: e.to_string(),
                })?;
        }
        Ok(spec)
    }
}

#[derive(Args)]
struct GenerateArgs {
    #[command(flatten)]
    fleet: FleetArgs,
    /// Output file: `.jsonl`, or `.jsonl.zst` for a zstd stream.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Ground-truth file (default: the output name with `.truth.json`).
    #[arg(long, value_name = "FILE")]
    truth: Option<PathBuf>,
    /// First sample time, ms since the Unix epoch (default 2024-01-01T00:00:00Z).
    #[arg(long)]
    start_ms: Option<i64>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let result: anyhow::Result<()> = match cli.command {
        Command::Generate(args) => generate(&args),
        Command::Replay(args) => replay::run(&args),
        Command::Evaluate(args) => evaluate(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("harbinger-sim: {error:#}");
            let usage = error.downcast_ref::<harbinger_sim::SpecError>().is_some();
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// `fleet.jsonl.zst` → `fleet.truth.json`.
fn default_truth_path(out: &Path) -> PathBuf {
    let name = out.file_name().and_then(|n| n.to_str()).unwrap_or("fleet");
    let stem = name
        .trim_end_matches(".zst")
        .trim_end_matches(".jsonl")
        .trim_end_matches(".json");
    out.with_file_name(format!("{stem}.truth.json"))
}

pub fn write_truth(path: &Path, truth: &GroundTruth) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = BufWriter::new(file);
    serde_json::to_writer_pretty(&mut out, truth)
        .with_context(|| format!("cannot write {}", path.display()))?;
    out.write_all(b"\n")
        .and_then(|()| out.flush())
        .with_context(|| format!("cannot write {}", path.display()))
}

#[allow(clippy::print_stdout)] // The summary is the command's output.
fn generate(args: &GenerateArgs) -> anyhow::Result<()> {
    let spec = args
        .fleet
        .spec(args.start_ms.unwrap_or(FleetSpec::default().start_ms))?;
    let fleet = Fleet::new(&spec)?;
    let truth_path = args
        .truth
        .clone()
        .unwrap_or_else(|| default_truth_path(&args.out));
    write_truth(&truth_path, fleet.truth())?;
    let truth = fleet.truth().clone();

    let out = &args.out;
    let file = File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
    let compressed = out.extension().is_some_and(|e| e == "zst");
    let written = if compressed {
        let encoder = zstd::stream::write::Encoder::new(file, 3)
            .with_context(|| format!("cannot start zstd stream for {}", out.display()))?;
        let mut writer = BufWriter::with_capacity(1 << 20, encoder);
        let written = jsonl::write(fleet, &mut writer)
            .with_context(|| format!("writing {}", out.display()))?;
        let encoder = writer
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("writing {}", out.display()))?;
        encoder
            .finish()
            .with_context(|| format!("finishing zstd stream {}", out.display()))?;
        written
    } else {
        jsonl::write(fleet, BufWriter::with_capacity(1 << 20, file))
            .with_context(|| format!("writing {}", out.display()))?
    };
    println!(
        "wrote {} batches ({} samples, {} events) for {} hosts to {}; ground truth ({} outcomes, {} planned, {} decoys) to {}",
        written.batches,
        written.samples,
        written.events,
        truth.hosts.len(),
        out.display(),
        truth.outcomes.len(),
        truth.planned.len(),
        truth.decoys.len(),
        truth_path.display()
    );
    Ok(())
}

#[allow(clippy::print_stdout)] // The report is the command's output.
fn evaluate(args: &EvaluateArgs) -> anyhow::Result<()> {
    let spec = args.fleet.spec(FleetSpec::default().start_ms)?;
    let names: Vec<&str> = if args.detectors.is_empty() {
        harbinger_sim::eval::DETECTORS.to_vec()
    } else {
        args.detectors.iter().map(String::as_str).collect()
    };
    let report = match harbinger_sim::eval::evaluate_only(&spec, &names) {
        Ok(report) => report,
        Err(harbinger_sim::eval::EvalError::Spec(e)) => return Err(e.into()),
        Err(e @ harbinger_sim::eval::EvalError::UnknownDetector(_)) => {
            return Err(harbinger_sim::SpecError::Invalid {
                key: "--detectors",
                message: e.to_string(),
            }
            .into())
        }
        Err(e) => return Err(e.into()),
    };
    if args.json {
        let text = serde_json::to_string_pretty(&report).context("cannot encode the report")?;
        println!("{text}");
    } else {
        print!("{}", report.to_text());
    }
    Ok(())
}
