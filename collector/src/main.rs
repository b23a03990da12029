//! The `harbinger-collector` binary: `serve` runs the collector from a config file;
//! `all-in-one` runs a collector on embedded SQLite and an agent for this machine in one
//! process, the quickest way to see Harbinger work.

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use harbinger_collector::config::CollectorConfig;
use harbinger_collector::duration::parse_duration;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

#[derive(Debug, Parser)]
#[command(
    name = "harbinger-collector",
    version,
    about = "Harbinger collector: ingest, storage, detection, notification and dashboard"
)]
struct Cli {
    /// Log line format (logs go to stderr).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the collector.
    Serve {
        /// TOML configuration file; defaults apply when absent.
        #[arg(long, env = "HARBINGER_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Run a collector on embedded SQLite plus an agent for this machine.
    AllInOne {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Directory for the database and the agent's state.
        #[arg(long, default_value = "./harbinger-data")]
        data_dir: PathBuf,
        /// The agent's collection interval, e.g. 10s.
        #[arg(long, default_value = "10s", value_parser = parse_interval)]
        interval: Duration,
    },
    /// Send a clearly marked test incident through every notifier of a route and
    /// report what each answered; exits non-zero if any failed.
    NotifyTest {
        /// The route's name, its position (`routes[1]`), or `default` without routes.
        route: String,
        /// TOML configuration file; defaults apply when absent.
        #[arg(long, env = "HARBINGER_CONFIG")]
        config: Option<PathBuf>,
        /// Leave the test ticket open instead of resolving it right away.
        #[arg(long)]
        keep_open: bool,
    },
    /// Replay stored history through a fresh analysis engine and score it.
    Backtest {
        /// Start of the range: RFC 3339 or milliseconds since the epoch.
        #[arg(long)]
        from: String,
        /// End of the range: RFC 3339 or milliseconds since the epoch.
        #[arg(long)]
        to: String,
        /// A rule-pack override file to try instead of the default pack.
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Directory of the embedded SQLite database.
        #[arg(
            long,
            default_value = "./harbinger-data",
            conflicts_with = "database_url"
        )]
        data_dir: PathBuf,
        /// `postgres://…` or `sqlite://path` instead of the data directory.
        #[arg(long, env = "HARBINGER_DATABASE_URL")]
        database_url: Option<String>,
        /// Machine-readable JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    parse_duration(text).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(%error, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve { config } => serve(config).await,
            Command::AllInOne {
                listen,
                data_dir,
                interval,
            } => all_in_one(listen, data_dir, interval).await,
            Command::NotifyTest {
                route,
                config,
                keep_open,
            } => notify_test(route, config, keep_open).await,
            Command::Backtest {
                from,
                to,
                rules,
                data_dir,
                database_url,
                json,
            } => backtest(from, to, rules, data_dir, database_url, json).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

#[allow(clippy::print_stdout)] // The report on stdout is the point of the command.
async fn backtest(
    from: String,
    to: String,
    rules: Option<PathBuf>,
    data_dir: PathBuf,
    database_url: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    use harbinger_collector::backtest as bt;
    let from_ms = bt::parse_time("--from", &from)?;
    let to_ms = bt::parse_time("--to", &to)?;
    if from_ms >= to_ms {
        return Err(bt::BacktestError::Range.into());
    }
    let (pack, overrides) = harbinger_collector::analysis::health::load_rules(rules.as_deref())?;
    for o in &overrides {
        tracing::info!(key = %o.key, old = ?o.old, new = %o.new, "rule override");
    }
    let url = database_url.unwrap_or_else(|| data_dir.join("harbinger.db").display().to_string());
    let store = harbinger_collector::store::open(&url)
        .await
        .with_context(|| format!("cannot open the store at {}", data_dir.display()))?;
    let batches = bt::load_history(store.as_ref(), from_ms, to_ms).await?;
    let outcomes = bt::load_outcomes(store.as_ref(), from_ms, to_ms).await?;
    let report = bt::run(pack, &batches, outcomes, from_ms, to_ms);
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", bt::render(&report));
    }
    Ok(())
}

#[allow(clippy::print_stdout)] // The per-notifier report on stdout is the point.
async fn notify_test(route: String, path: Option<PathBuf>, keep_open: bool) -> anyhow::Result<()> {
    use harbinger_collector::notify_test;
    let config = CollectorConfig::load(path.as_deref())?;
    config.validate()?;
    let attempts = notify_test::run(&config, &route, keep_open).await?;
    print!("{}", notify_test::render(&attempts));
    let failed = attempts.iter().filter(|a| !a.ok()).count();
    if failed > 0 {
        anyhow::bail!(
            "{failed} of {} test deliveries through route {route:?} failed",
            attempts.len()
        );
    }
    Ok(())
}

async fn serve(path: Option<PathBuf>) -> anyhow::Result<()> {
    let config = CollectorConfig::load(path.as_deref())?;
    config.validate()?;
    harbinger_collector::launch(config, shutdown_signal()).await?;
    Ok(())
}

async fn all_in_one(listen: String, data_dir: PathBuf, interval: Duration) -> anyhow::Result<()> {
    let mut config = CollectorConfig::default();
    config.apply_env(|name| std::env::var(name).ok());
    config.listen = listen;
    config.data_dir = data_dir;
    config.validate()?;
    let listener = TcpListener::bind(config.listen_addr()?)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    // With port 0 the real port is only known now; links and the agent need it.
    let local = listener
        .local_addr()
        .context("listener has no local address")?;
    config.listen = local.to_string();
    let base_url = format!("http://{local}/");

    let agent = harbinger_agent::AgentConfig {
        collector_urls: vec![format!("http://{local}")],
        state_dir: config.data_dir.join("agent"),
        interval,
        ..Default::default()
    };
    agent.validate().context("agent configuration")?;
    std::fs::create_dir_all(&agent.state_dir)
        .with_context(|| format!("cannot create {}", agent.state_dir.display()))?;

    let (collector_stop, collector_stop_rx) = watch::channel(false);
    let (agent_stop, agent_stop_rx) = watch::channel(false);
    let mut collector = tokio::spawn(harbinger_collector::launch_with_listener(
        config,
        listener,
        stopped(collector_stop_rx),
    ));

    wait_ready(&base_url, &mut collector).await?;
    print_dashboard_url(&base_url);
    let mut agent_task = tokio::spawn(harbinger_agent::run(agent, stopped(agent_stop_rx)));

    let early = tokio::select! {
        _ = shutdown_signal() => None,
        result = &mut collector => Some(("collector", joined(result))),
        result = &mut agent_task => Some(("agent", joined(result))),
    };
    if let Some((which, result)) = early {
        let _ = agent_stop.send(true);
        let _ = collector_stop.send(true);
        return match result {
            Ok(()) => Err(anyhow::anyhow!("the {which} stopped unexpectedly")),
            Err(error) => Err(error.context(format!("the {which} failed"))),
        };
    }
    // Stop the agent first so its last batches still reach the collector.
    let _ = agent_stop.send(true);
    agent_task.await.context("agent task")??;
    let _ = collector_stop.send(true);
    collector.await.context("collector task")??;
    Ok(())
}

/// A task's outcome, whether it panicked or returned an error.
fn joined<E>(result: Result<Result<(), E>, tokio::task::JoinError>) -> anyhow::Result<()>
where
    E: std::error::Error + Send + Sync + 'static,
{
    Ok(result??)
}

/// Waits until the collector answers `/readyz`, or fails if it stopped instead.
async fn wait_ready(
    base_url: &str,
    collector: &mut tokio::task::JoinHandle<Result<(), harbinger_collector::LaunchError>>,
) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .context("cannot build HTTP client")?;
    let url = format!("{base_url}readyz");
    loop {
        tokio::select! {
            result = &mut *collector => {
                result.context("collector task")??;
                anyhow::bail!("the collector stopped before it was ready");
            }
            _ = tokio::time::sleep(Duration::from_millis(50)) => {
                if let Ok(response) = client.get(&url).send().await {
                    if response.status().is_success() {
                        return Ok(());
                    }
                }
            }
        }
    }
}

// The dashboard URL on stdout is this command's output; logs go to stderr.
#[allow(clippy::print_stdout)]
fn print_dashboard_url(base_url: &str) {
    use std::io::Write;
    println!("Harbinger dashboard: {base_url}");
    let _ = std::io::stdout().flush();
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    // An error means the sender is gone, which is as good as being told to stop.
    let _ = rx.wait_for(|stop| *stop).await;
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutdown requested");
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // journald and log files show escape codes literally: colour only on a terminal.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
