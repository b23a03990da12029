//! `harbinger-agent`: collects host metrics and hardware precursors and ships them to a
//! Harbinger collector.
//!
//! The flow is `collectors → scheduler → queue → spool → shipper → collector`:
//! [`scheduler::Scheduler`] runs every [`collectors::Collector`] at aligned timestamps,
//! each cycle becomes one [`output::Payload`] handed through the small
//! [`queue::BatchQueue`] into the disk [`spool::Spool`], and the [`shipper::Shipper`]
//! reads it back oldest first, numbers ([`seq::SeqStore`]), merges, delivers and only
//! then acknowledges it. [`self_metrics`] serves an optional local `/metrics`.
//!
//! Entry points: [`run`] (also used by the collector's all-in-one mode), [`collect_once`]
//! and [`check`].

pub mod codec;
pub mod collectors;
pub mod config;
pub mod duration;
pub mod exec;
pub mod host_paths;
pub mod identity;
pub mod output;
pub mod procfs;
pub mod queue;
pub mod scheduler;
pub mod self_metrics;
pub mod seq;
pub mod shipper;
pub mod spool;
pub mod statvfs;

pub use config::{AgentConfig, ConfigError};
pub use identity::{Identity, IdentityError};

use collectors::{registry, registry_with_state, Availability, StateDir};
use harbinger_shared::{Batch, PROTOCOL_VERSION};
use queue::BatchQueue;
use scheduler::{now_ms, Scheduler};
use seq::{SeqError, SeqStore};
use shipper::{Shipper, ShipperError};
use std::future::Future;
use tokio::sync::watch;

/// Why the agent could not start or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    State(#[from] SeqError),
    #[error(transparent)]
    Shipper(#[from] ShipperError),
    #[error(transparent)]
    Spool(#[from] spool::SpoolError),
    #[error("cannot listen for /metrics on {addr}: {source}")]
    Metrics {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

impl AgentError {
    /// True when the operator must fix the configuration (exit code 2), as opposed to a
    /// runtime failure.
    pub fn is_config(&self) -> bool {
        matches!(self, AgentError::Config(_) | AgentError::Identity(_))
    }
}

/// Whether one source works on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceReport {
    pub name: String,
    pub available: bool,
    /// Why not, when unavailable.
    pub reason: Option<String>,
}

/// Runs the agent until `shutdown` completes, then delivers what it can within
/// `shipper.flush_timeout` and returns. Works on any tokio runtime (the standalone
/// binary uses a current-thread one); it spawns no tasks.
pub async fn run(
    config: AgentConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), AgentError> {
    config.validate()?;
    let identity = Identity::resolve(&config)?;
    let seq = SeqStore::open(&config.state_dir)?;
    let shipper = Shipper::new(&config, &identity, seq)?;
    let mut scheduler = Scheduler::new(registry(&config, &identity), config.interval, &identity);
    scheduler.announce_start(now_ms());
    let queue = BatchQueue::new(config.shipper.max_queue_batches);
    let spool = spool::Spool::open(
        &config.state_dir.join("spool"),
        config.spool.clone(),
        identity.host_component(),
    )?;
    let stats = shipper.stats();
    let metrics_listener = match &config.metrics.listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| AgentError::Metrics {
                    addr: addr.clone(),
                    source,
                })?,
        ),
        None => None,
    };
    let self_metrics = metrics_listener
        .is_some()
        .then(self_metrics::SelfMetrics::default);
    let (stop_tx, stop_rx) = watch::channel(false);
    // The spool writer stops only after the scheduler, so the last cycle is kept.
    let (collected_tx, collected_rx) = watch::channel(false);
    tracing::info!(
        host_id = %identity.host_id,
        hostname = %identity.hostname,
        collectors = ?config.collector_urls,
        interval = %duration::format_duration(config.interval),
        "agent started"
    );
    let trigger = async move {
        shutdown.await;
        tracing::info!("shutting down");
        // Both receivers may already be gone if they returned; nothing to tell then.
        let _ = stop_tx.send(true);
    };
    let collect = async {
        scheduler.run(&queue, stop_rx.clone()).await;
        let _ = collected_tx.send(true);
    };
    let serve_metrics = async {
        if let (Some(listener), Some(metrics)) = (metrics_listener, self_metrics.as_ref()) {
            self_metrics::serve(listener, metrics, &spool, &stats, stop_rx.clone()).await;
        }
    };
    tokio::join!(
        collect,
        queue::feed(&queue, &spool, collected_rx, self_metrics.as_ref()),
        shipper.run(&spool, stop_rx.clone()),
        serve_metrics,
        trigger
    );
    // Reached only on a graceful stop: the next start can tell this boot ended cleanly.
    if let Err(err) =
        collectors::reboot::mark_clean_stop(&config.state_dir, &config.paths, now_ms())
    {
        tracing::warn!(error = %err, "cannot record the clean stop; the next boot will look unexpected");
    }
    Ok(())
}

/// Collects once from every available source and returns the batch, without touching
/// the state directory: its `seq` is 0 and rates that need a previous cycle (CPU usage,
/// disk utilisation and latency) are absent.
pub fn collect_once(config: &AgentConfig) -> Result<Batch, AgentError> {
    config.validate()?;
    let identity = Identity::resolve(config)?;
    let collectors = registry_with_state(config, &identity, StateDir::none());
    let mut scheduler = Scheduler::new(collectors, config.interval, &identity);
    let ts = scheduler.current_tick(now_ms());
    let payload = scheduler.cycle(ts).finish();
    Ok(Batch {
        protocol_version: PROTOCOL_VERSION,
        agent: identity.wire(),
        seq: 0,
        interval_ms: u64::try_from(config.interval.as_millis()).unwrap_or(u64::MAX),
        series: payload.series,
        events: payload.events,
        inventory: (!payload.inventory.is_empty()).then_some(payload.inventory),
    })
}

/// Which sources work on this host, and why not. Probing needs no identity, so an
/// unresolvable one (reported separately by the caller) does not hide the sources.
pub fn check(config: &AgentConfig) -> Vec<SourceReport> {
    let identity = Identity::resolve(config).unwrap_or_else(|_| Identity {
        host_id: "unresolved".to_owned(),
        hostname: "unresolved".to_owned(),
        labels: config.labels.clone(),
    });
    registry_with_state(config, &identity, StateDir::none())
        .iter()
        .map(|collector| match collector.probe() {
            Availability::Available => SourceReport {
                name: collector.name().to_owned(),
                available: true,
                reason: None,
            },
            Availability::Unavailable(reason) => SourceReport {
                name: collector.name().to_owned(),
                available: false,
                reason: Some(reason),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn run_is_send_so_the_collector_can_spawn_it() {
        let future = run(AgentConfig::default(), async {});
        assert_send(&future);
    }
}
