//! Shared state of the HTTP handlers: cheap to clone, everything behind `Arc`s.

use crate::config::CollectorConfig;
use crate::detect::DetectMsg;
use crate::hot::HotCache;
use crate::store::Store;
use crate::telemetry::Telemetry;
use std::sync::Arc;
use tokio::sync::mpsc;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub config: Arc<CollectorConfig>,
    pub hot: Arc<HotCache>,
    pub telemetry: Arc<Telemetry>,
    /// Newly stored batches go to the detector task through this queue.
    pub detect: mpsc::Sender<DetectMsg>,
}

/// Wall-clock milliseconds since the Unix epoch: receive times, the ingest time policy
/// and liveness. Analysis never calls this; it runs on sample timestamps.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
