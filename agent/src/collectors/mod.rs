//! Collectors: one file per source of data, and the explicit list that builds them.
//!
//! A collector only reads the host (through [`HostPaths`](crate::host_paths::HostPaths)),
//! never writes or talks to the network, and runs synchronously: the /proc and /sys
//! sources take well under a millisecond. Sources that can block (SMART, IPMI) will run
//! on their own thread behind the same trait.

pub mod system;

use crate::config::AgentConfig;
use crate::identity::Identity;
use crate::output::Output;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Whether a source can work on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    Available,
    /// The reason names what is missing, e.g. `cannot read /proc/stat: …`.
    Unavailable(String),
}

/// Why one collection failed. The scheduler records it and carries on with the others.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CollectError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Malformed { path: PathBuf, message: String },
}

/// One source of samples, events and inventory.
pub trait Collector: Send {
    /// Stable name, used as the `source` label and in `agent check`.
    fn name(&self) -> &'static str;
    /// Whether this source can work here, and if not, why.
    fn probe(&self) -> Availability;
    /// Reads the source once; `ts_ms` is the cycle's aligned timestamp, for samples and
    /// for rates computed against the previous cycle.
    fn collect(&mut self, ts_ms: i64, out: &mut Output) -> Result<(), CollectError>;
}

/// Every collector this build has, in the order they run. An explicit list, so that
/// what runs is visible in one place (no self-registration).
pub fn registry(config: &AgentConfig, identity: &Identity) -> Vec<Box<dyn Collector>> {
    vec![Box::new(system::SystemCollector::new(
        config.paths.clone(),
        identity,
    ))]
}

/// Reads a whole file into `buf` (cleared first), reusing its allocation across cycles.
pub(crate) fn read_into(path: &Path, buf: &mut String) -> Result<(), CollectError> {
    buf.clear();
    std::fs::File::open(path)
        .and_then(|mut file| file.read_to_string(buf))
        .map(drop)
        .map_err(|source| CollectError::Read {
            path: path.to_owned(),
            source,
        })
}
