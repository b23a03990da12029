//! Discrete events (a SEL entry, an EDAC increment, a reboot, a kernel error) and severities.

use crate::component::ComponentId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How bad an event is. Ordered: `Info < Warning < Error < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Error,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        }
    }
}

/// The kind of an event, as a stable snake_case name.
///
/// Kept as an open string newtype rather than a closed enum so that a newer agent's
/// kinds are stored and shown by an older collector instead of rejecting the batch.
/// The constants below are the kinds this version emits or understands.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventKind(pub String);

impl EventKind {
    pub const AGENT_STARTED: &'static str = "agent_started";
    pub const SOURCE_UNAVAILABLE: &'static str = "source_unavailable";
    pub const SPOOL_DROPPED: &'static str = "spool_dropped";
    pub const REBOOT: &'static str = "reboot";
    pub const EDAC_CORRECTABLE: &'static str = "edac_correctable";
    pub const EDAC_UNCORRECTABLE: &'static str = "edac_uncorrectable";
    pub const MACHINE_CHECK: &'static str = "machine_check";
    pub const IPMI_SEL: &'static str = "ipmi_sel";
    pub const DISK_IO_ERROR: &'static str = "disk_io_error";
    pub const SMART_SELF_TEST: &'static str = "smart_self_test";
    pub const INVENTORY_CHANGED: &'static str = "inventory_changed";
    /// A kernel `EDAC` log line; context for the counted `edac_*` events of the EDAC
    /// source, kept apart so the same error is not counted twice.
    pub const EDAC_MESSAGE: &'static str = "edac_message";
    pub const PCIE_AER: &'static str = "pcie_aer";
    pub const FILESYSTEM_ERROR: &'static str = "filesystem_error";
    pub const DISK_TIMEOUT: &'static str = "disk_timeout";
    pub const DISK_RESET: &'static str = "disk_reset";
    pub const THERMAL_THROTTLE: &'static str = "thermal_throttle";
    pub const CPU_LOCKUP: &'static str = "cpu_lockup";
    pub const OOM_KILL: &'static str = "oom_kill";

    pub fn new(kind: impl Into<String>) -> Self {
        Self(kind.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One discrete happening on a host, at an event-time timestamp.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Event time in milliseconds since the Unix epoch.
    pub ts: i64,
    pub kind: EventKind,
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<ComponentId>,
    pub message: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attrs: BTreeMap<String, String>,
}
