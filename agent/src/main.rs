//! The `harbinger-agent` binary: `run`, `check` and `once`.
//!
//! Exit codes: 0 success, 1 runtime error, 2 configuration error.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use harbinger_agent::{check, collect_once, run, AgentConfig, AgentError, Identity};
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "harbinger-agent", version, about = "Harbinger's host agent")]
struct Cli {
    /// TOML configuration file; without it, defaults plus environment overrides.
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Collect and ship until SIGTERM or Ctrl-C.
    Run,
    /// Validate the configuration and report which sources work on this host.
    Check,
    /// Collect once and print the batch as protocol JSON.
    Once,
}

/// An error with the exit code it maps to.
struct Failure {
    code: u8,
    error: anyhow::Error,
}

impl Failure {
    fn config(error: impl Into<anyhow::Error>) -> Self {
        Self {
            code: 2,
            error: error.into(),
        }
    }

    fn from_agent(error: AgentError) -> Self {
        let code = if error.is_config() { 2 } else { 1 };
        Self {
            code,
            error: error.into(),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            // Printed rather than logged so it shows even when RUST_LOG filters errors out.
            eprintln!("harbinger-agent: {:#}", failure.error);
            ExitCode::from(failure.code)
        }
    }
}

/// `RUST_LOG` as a comma-separated list of `level` and `target=level` (e.g.
/// `warn,harbinger_agent::shipper=debug`); anything else falls back to `info` with a
/// note on stderr.
fn init_tracing() {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let default = || Targets::new().with_default(LevelFilter::INFO);
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => spec.parse::<Targets>().unwrap_or_else(|err| {
            eprintln!(
                "harbinger-agent: RUST_LOG={spec:?} is not understood ({err}); logging at info"
            );
            default()
        }),
        _ => default(),
    };
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        // journald shows escape codes literally, so colour only on a terminal.
        .with_ansi(std::io::stderr().is_terminal());
    tracing_subscriber::registry().with(fmt).with(filter).init();
}

fn execute(cli: Cli) -> Result<(), Failure> {
    let config = AgentConfig::load(cli.config.as_deref()).map_err(Failure::config)?;
    match cli.command {
        Command::Run => run_agent(config),
        Command::Check => print_check(&config),
        Command::Once => print_once(&config),
    }
}

fn run_agent(config: AgentConfig) -> Result<(), Failure> {
    // One thread is plenty for a few file reads and one HTTP request per interval, and
    // keeps the resident set small.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .map_err(|error| Failure { code: 1, error })?;
    runtime
        .block_on(run(config, shutdown_signal()))
        .map_err(Failure::from_agent)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, "cannot listen for SIGTERM; only Ctrl-C stops the agent");
            let _ = ctrl_c.await;
        }
    }
}

#[allow(clippy::print_stdout)] // Printing the report is the point of `check`.
fn print_check(config: &AgentConfig) -> Result<(), Failure> {
    let identity = Identity::resolve(config).map_err(Failure::config)?;
    println!("config: ok");
    println!("host_id: {}", identity.host_id);
    println!("hostname: {}", identity.hostname);
    println!("collectors: {}", config.collector_urls.join(", "));
    for report in check(config) {
        match report.reason {
            None => println!("source {}: available", report.name),
            Some(reason) => println!("source {}: unavailable: {reason}", report.name),
        }
    }
    Ok(())
}

#[allow(clippy::print_stdout)] // Printing the batch is the point of `once`.
fn print_once(config: &AgentConfig) -> Result<(), Failure> {
    let batch = collect_once(config).map_err(Failure::from_agent)?;
    let json = serde_json::to_string_pretty(&batch)
        .context("cannot serialize the batch")
        .map_err(|error| Failure { code: 1, error })?;
    println!("{json}");
    Ok(())
}
