//! Physical component identities: the key that joins evidence from every source.
//!
//! A disk is identified by WWN or serial, never by `/dev/sdX`; a DIMM by its label.
//! The string form `kind:id` (for example `disk:5000c500a1b2c3d4`) is used in
//! dedup keys, labels and URLs.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What kind of physical (or logical) part a component is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentKind {
    Host,
    Cpu,
    Dimm,
    Disk,
    Filesystem,
    Fan,
    Psu,
    Nic,
    Sensor,
    Bmc,
    /// A kind this build does not know yet; kept so newer agents stay readable.
    #[serde(other)]
    Other,
}

impl ComponentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentKind::Host => "host",
            ComponentKind::Cpu => "cpu",
            ComponentKind::Dimm => "dimm",
            ComponentKind::Disk => "disk",
            ComponentKind::Filesystem => "filesystem",
            ComponentKind::Fan => "fan",
            ComponentKind::Psu => "psu",
            ComponentKind::Nic => "nic",
            ComponentKind::Sensor => "sensor",
            ComponentKind::Bmc => "bmc",
            ComponentKind::Other => "other",
        }
    }
}

/// A component of one host: its kind and a stable identifier within the host.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ComponentId {
    pub kind: ComponentKind,
    pub id: String,
}

impl ComponentId {
    pub fn new(kind: ComponentKind, id: impl Into<String>) -> Self {
        Self {
            kind,
            id: id.into(),
        }
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.id)
    }
}
