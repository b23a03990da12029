//! Ground truth: what the simulator injected, for scoring detectors against.
//!
//! Outcomes are real failures (with the time the first observable precursor appeared,
//! if any), planned work is what must never be learnt as failure, and decoys are
//! benign oddities (one stable reallocated sector, one isolated correctable error)
//! that a good detector stays quiet about.

use harbinger_shared::ComponentId;
use serde::{Deserialize, Serialize};

/// What failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    DiskFailure,
    DimmUncorrectable,
    FanFailure,
    PsuFailure,
    /// Rack-level: every host in the rack heats up together.
    CoolingLoss,
    NvmeWearout,
    HostLost,
}

/// How much warning the failure gives: the evaluation reports lead time for slow failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pace {
    /// Precursors days to weeks ahead.
    Slow,
    /// Precursors hours ahead.
    Fast,
    /// No precursor at all.
    Sudden,
}

/// One injected failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The failing host; `None` for rack-level outcomes.
    pub host_id: Option<String>,
    pub site: String,
    pub rack: String,
    /// The failing part; `None` for host- and rack-level outcomes.
    pub component: Option<ComponentId>,
    pub kind: OutcomeKind,
    pub pace: Pace,
    /// When the failure happened (the disk died, the UE was logged, the fan stopped…).
    pub failure_ts: i64,
    /// The timestamp of the first sample or event that shows the problem, if any.
    pub first_precursor_ts: Option<i64>,
    /// True when a precursor was observable before `failure_ts`.
    pub predictable: bool,
    pub description: String,
}

/// Planned work: reboots inside it are planned, and nothing in it is a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlannedKind {
    MaintenanceWindow,
    PlannedReboot,
    FirmwareUpdate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedWork {
    pub host_id: String,
    pub kind: PlannedKind,
    pub start_ts: i64,
    pub end_ts: i64,
    pub description: String,
}

/// A benign condition that must not become an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecoyKind {
    /// One reallocated sector that never grows; the disk does not fail.
    StableReallocatedSector,
    /// A single correctable memory error, never repeated.
    IsolatedCorrectableError,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decoy {
    pub host_id: String,
    pub component: ComponentId,
    pub kind: DecoyKind,
    pub ts: i64,
    pub description: String,
}

/// A host of the simulated fleet and its place in the topology.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInfo {
    pub host_id: String,
    pub hostname: String,
    pub site: String,
    pub rack: String,
    pub hardware_model: String,
    pub role: String,
}

/// Everything the simulator injected into one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroundTruth {
    pub seed: u64,
    pub start_ms: i64,
    pub end_ms: i64,
    pub interval_ms: u64,
    pub hosts: Vec<HostInfo>,
    /// Sorted by `failure_ts`.
    pub outcomes: Vec<Outcome>,
    pub planned: Vec<PlannedWork>,
    pub decoys: Vec<Decoy>,
}

impl GroundTruth {
    /// Server-days covered by the run (hosts × days), the denominator of
    /// "false incidents per 1 000 server-days".
    pub fn server_days(&self) -> f64 {
        self.hosts.len() as f64 * (self.end_ms - self.start_ms) as f64 / 86_400_000.0
    }
}
