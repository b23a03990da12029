//! `harbinger-collector`: ingests agent batches, stores time series, detects problems,
//! opens incidents, notifies service desks through a durable outbox and serves the
//! dashboard.
//!
//! Entry points: [`launch`] (binds `config.listen`) and [`launch_with_listener`] (for
//! tests and the all-in-one mode, which bind first), plus [`http::router`] for driving
//! handlers without a socket. The flow of one batch:
//! `http::ingest → store.append_batch (commit) → hot cache + detect task →
//! incident::plan → store.apply_incident_change (+ outbox rows) → outbox worker → notify`.

pub mod aggregate;
pub mod analysis;
pub mod backtest;
pub mod compaction;
pub mod config;
pub mod dashboard;
pub mod detect;
pub mod duration;
pub mod error;
pub mod escalation;
pub mod hot;
pub mod http;
pub mod incident;
pub mod notify;
pub mod notify_test;
pub mod outbox;
pub mod read;
pub mod rollup;
pub mod routing;
pub mod state;
pub mod store;
pub mod sync;
pub mod telemetry;

use crate::analysis::Settings;
use crate::config::{CollectorConfig, ConfigError};
use crate::detect::{Detector, Replay};
use crate::hot::HotCache;
use crate::outbox::OutboxWorker;
use crate::state::{now_ms, AppState};
use crate::store::{BatchFilter, DbError, Store};
use crate::telemetry::Telemetry;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Notify};

/// Batches queued between ingest and the detector task before ingest waits.
const DETECT_QUEUE: usize = 1_024;
/// Batches fetched per store round trip while rebuilding the hot window.
const REBUILD_PAGE: i64 = 256;
/// How often points older than the hot window are dropped.
const EVICT_EVERY: Duration = Duration::from_secs(30);

/// Why the collector could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LaunchError {
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the store ({backend}): {source}")]
    Store {
        backend: &'static str,
        #[source]
        source: DbError,
    },
    #[error("cannot rebuild the hot window from the store: {0}")]
    Rebuild(#[source] DbError),
    #[error("cannot set up notifier: {0}")]
    Notifier(#[from] notify::NotifyError),
    #[error("analysis.rules: {0}")]
    Rules(#[from] analysis::health::HealthError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// Binds `config.listen` and runs until `shutdown` completes.
pub async fn launch(
    config: CollectorConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), LaunchError> {
    config.validate()?;
    let addr = config.listen_addr()?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| LaunchError::Bind {
            addr: addr.to_string(),
            source,
        })?;
    launch_with_listener(config, listener, shutdown).await
}

/// Runs the collector on an already bound listener until `shutdown` completes, then
/// drains requests in flight, lets the detector finish queued batches and stops the
/// outbox worker after its current delivery.
pub async fn launch_with_listener(
    config: CollectorConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), LaunchError> {
    config.validate()?;
    if config.uses_embedded_store() {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| LaunchError::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
    }
    let url = config.database_url();
    let backend = if config.uses_embedded_store() {
        "sqlite"
    } else {
        "postgres"
    };
    let store = store::open(&url)
        .await
        .map_err(|source| LaunchError::Store { backend, source })?;
    let notifiers = notify::build(&config.notifiers)?;
    let telemetry = Arc::new(Telemetry::default());
    let outbox_wake = Arc::new(Notify::new());
    let hot = Arc::new(HotCache::new(
        config.ingest.hot_window.as_millis_i64(),
        now_ms(),
    ));
    let detector = Detector::new(
        Arc::clone(&store),
        Settings {
            filesystem_full_ratio: config.detectors.filesystem_full_ratio,
        },
        config.detectors.silent_intervals,
        notifiers.iter().map(|n| n.name().to_owned()).collect(),
        config.public_url(),
        Arc::clone(&telemetry),
        Arc::clone(&outbox_wake),
    );
    let detector = detector.with_router(routing::Router::new(
        &config.routes,
        notifiers.iter().map(|n| n.name().to_owned()).collect(),
    ));
    let (rules, overrides) = analysis::health::load_rules(config.analysis.rules.as_deref())?;
    let mut detector = detector.with_rules(rules, config.analysis.snapshot_every.as_duration());
    if let Some(path) = &config.analysis.rules {
        detector
            .audit_rules(&path.display().to_string(), &overrides)
            .await;
    }
    detector.restore().await;
    rebuild(store.as_ref(), &hot, &mut detector)
        .await
        .map_err(LaunchError::Rebuild)?;

    let local = listener.local_addr().map_err(LaunchError::Serve)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let (detect_tx, detect_rx) = mpsc::channel(DETECT_QUEUE);
    let detector_task = tokio::spawn(detector.run(
        detect_rx,
        stop_rx.clone(),
        config.detectors.silence_check_interval.as_duration(),
    ));
    // The desks' two-way sync (a no-op task when no notifier polls its desk).
    let sync_task = tokio::spawn(
        sync::SyncWorker::new(
            Arc::clone(&store),
            &notifiers,
            config.public_url(),
            Arc::clone(&outbox_wake),
        )
        .run(stop_rx.clone()),
    );
    // Repeats and escalations on event time (a no-op task when no route asks for them);
    // checked at the liveness-check cadence.
    let escalation_task = tokio::spawn(
        escalation::Escalator::new(
            Arc::clone(&store),
            &config.routes,
            notifiers.iter().map(|n| n.name().to_owned()).collect(),
            config.public_url(),
            Arc::clone(&outbox_wake),
        )
        .run(
            stop_rx.clone(),
            config.detectors.silence_check_interval.as_duration(),
        ),
    );
    let outbox_task = tokio::spawn(
        OutboxWorker::new(
            Arc::clone(&store),
            &notifiers,
            config.outbox.clone(),
            Arc::clone(&telemetry),
            outbox_wake,
        )
        .run(stop_rx.clone()),
    );
    let compaction_task = tokio::spawn(compaction::run(
        Arc::clone(&store),
        config.storage.clone(),
        config.ingest.hot_window.as_millis_i64(),
        stop_rx.clone(),
    ));
    let evict_task = tokio::spawn(evict_loop(Arc::clone(&hot), stop_rx));

    let state = AppState {
        store,
        config: Arc::new(config),
        hot,
        telemetry,
        detect: detect_tx,
    };
    tracing::info!(addr = %local, backend, "collector listening");
    let served = axum::serve(listener, http::router(state))
        .with_graceful_shutdown(shutdown)
        .await;
    tracing::info!("shutting down");
    // The router (and with it every sender to the detector) is gone now; stop the
    // background tasks and wait for them so the store is released when we return.
    let _ = stop_tx.send(true);
    for (name, task) in [
        ("detector", detector_task),
        ("outbox", outbox_task),
        ("sync", sync_task),
        ("escalation", escalation_task),
        ("evict", evict_task),
        ("compaction", compaction_task),
    ] {
        if let Err(error) = task.await {
            tracing::error!(task = name, %error, "background task panicked");
        }
    }
    served.map_err(LaunchError::Serve)
}

/// Loads the hot window from the batch log and replays it through the detectors.
async fn rebuild(
    store: &dyn Store,
    hot: &HotCache,
    detector: &mut Detector,
) -> Result<(), DbError> {
    let started = std::time::Instant::now();
    let mut replay = Replay::default();
    let mut after = None;
    let mut batches = 0usize;
    loop {
        let page = store
            .load_batches(&BatchFilter {
                host_id: None,
                from_ms: hot.complete_from_ms(),
                to_ms: i64::MAX,
                after: after.take(),
                limit: REBUILD_PAGE,
            })
            .await?;
        for batch in &page {
            hot.insert(batch);
            detector.replay_batch(&mut replay, batch);
        }
        batches += page.len();
        match page.last() {
            Some(last) if page.len() as i64 >= REBUILD_PAGE => {
                after = Some((
                    last.agent.host_id.clone(),
                    i64::try_from(last.seq).unwrap_or(i64::MAX),
                ));
            }
            _ => break,
        }
    }
    detector.finish_replay(replay).await;
    let (series, points) = hot.stats();
    tracing::info!(
        batches,
        series,
        points,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "hot window rebuilt"
    );
    Ok(())
}

async fn evict_loop(hot: Arc<HotCache>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(EVICT_EVERY) => hot.evict(now_ms()),
            _ = stop.changed() => break,
        }
    }
}
