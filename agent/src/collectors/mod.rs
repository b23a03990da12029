//! Collectors: one file per source of data, and the explicit list that builds them.
//!
//! A collector only reads the host (through [`HostPaths`](crate::host_paths::HostPaths)),
//! never writes or talks to the network, and runs synchronously: the /proc and /sys
//! sources take well under a millisecond. Sources that can block (SMART, IPMI) will run
//! on their own thread behind the same trait.

pub mod edac;
pub mod hwmon;
pub mod inventory;
pub mod ipmi;
pub mod kernel;
pub mod reboot;
pub mod smart;
pub mod system;

use crate::config::AgentConfig;
use crate::identity::Identity;
use crate::output::Output;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    #[error("cannot write state file {path}: {source}")]
    WriteState {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
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

/// Every collector this build has, for the running agent: sources keep their state
/// (EDAC baselines, the kmsg position, the boot id) in `state_dir`.
pub fn registry(config: &AgentConfig, identity: &Identity) -> Vec<Box<dyn Collector>> {
    registry_with_state(config, identity, StateDir::persistent(&config.state_dir))
}

/// Every collector this build has, in the order they run. An explicit list, so that
/// what runs is visible in one place (no self-registration). `once` and `check` pass
/// [`StateDir::none`] so that they never disturb the running agent's state.
pub fn registry_with_state(
    config: &AgentConfig,
    identity: &Identity,
    state: StateDir,
) -> Vec<Box<dyn Collector>> {
    let mut list: Vec<Box<dyn Collector>> = vec![Box::new(system::SystemCollector::new(
        config.paths.clone(),
        identity,
    ))];
    if config.edac.enabled {
        list.push(Box::new(edac::EdacCollector::new(
            &config.paths,
            &config.edac,
            state.clone(),
        )));
    }
    if config.hwmon.enabled {
        list.push(Box::new(hwmon::HwmonCollector::new(
            &config.paths,
            &config.hwmon,
        )));
    }
    if config.kernel.enabled {
        list.push(Box::new(kernel::KernelCollector::new(
            &config.paths,
            &config.kernel,
            identity,
            state.clone(),
        )));
    }
    if config.reboot.enabled {
        list.push(Box::new(reboot::RebootCollector::new(
            &config.paths,
            &config.reboot,
            identity,
            state.clone(),
        )));
    }
    if config.smart.enabled {
        list.push(Box::new(smart::SmartCollector::new(config.smart.clone())));
    }
    // Like every source, a disabled one is not listed: an operator's choice is not an
    // "unavailable" finding worth an event. When enabled but absent, `check` says why.
    if config.ipmi.enabled {
        list.push(Box::new(ipmi::IpmiCollector::new(
            config.ipmi.clone(),
            state.clone(),
        )));
    }
    // After `system`: its host item is a superset of the one `system` sends, so in a
    // batch carrying both, the later, fuller one is what the collector keeps.
    if config.inventory.enabled {
        list.push(Box::new(inventory::InventoryCollector::new(
            &config.paths,
            &config.inventory,
            identity,
        )));
    }
    list
}

/// Where a source may keep small state files across agent restarts. `none()` (used by
/// `once` and `check`) neither reads nor writes, so a one-off run cannot consume what
/// the running agent has yet to report (a reboot, an EDAC increase).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDir {
    dir: Option<PathBuf>,
}

impl StateDir {
    pub fn persistent(dir: &Path) -> Self {
        Self {
            dir: Some(dir.to_owned()),
        }
    }

    pub fn none() -> Self {
        Self { dir: None }
    }

    pub fn is_persistent(&self) -> bool {
        self.dir.is_some()
    }

    /// The path of one state file, when state is kept.
    pub fn path(&self, name: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|dir| dir.join(name))
    }

    /// Reads a JSON state file. Absent, unreadable or corrupt state is logged and
    /// treated as no state: the source then starts from a fresh baseline.
    pub fn load<T: serde::de::DeserializeOwned>(&self, name: &str) -> Option<T> {
        let path = self.path(name)?;
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return None,
            Err(err) => {
                tracing::warn!(path = %path.display(), %err, "cannot read state file; starting fresh");
                return None;
            }
        };
        match serde_json::from_str(&text) {
            Ok(value) => Some(value),
            Err(err) => {
                tracing::warn!(path = %path.display(), %err, "corrupt state file; starting fresh");
                None
            }
        }
    }

    /// Writes a JSON state file atomically (temp file, then rename), so a crash leaves
    /// the old or the new state, never half of one. A no-op without a state directory.
    pub fn store<T: serde::Serialize>(&self, name: &str, value: &T) -> Result<(), CollectError> {
        let Some(path) = self.path(name) else {
            return Ok(());
        };
        let tmp = path.with_extension("tmp");
        let write = |path: &Path| -> std::io::Result<()> {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let json = serde_json::to_vec(value).map_err(std::io::Error::other)?;
            std::fs::write(&tmp, json)?;
            std::fs::rename(&tmp, path)
        };
        write(&path).map_err(|source| CollectError::WriteState { path, source })
    }
}

/// Runs a source less often than the agent's base interval: due on the first cycle,
/// then once `interval` has passed (in cycle timestamps, so it stays aligned).
#[derive(Debug, Clone)]
pub(crate) struct Every {
    interval_ms: i64,
    last: Option<i64>,
}

impl Every {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval_ms: i64::try_from(interval.as_millis()).unwrap_or(i64::MAX),
            last: None,
        }
    }

    /// True when the source should run at `ts_ms`; records the run.
    pub(crate) fn due(&mut self, ts_ms: i64) -> bool {
        match self.last {
            // A clock stepped backwards also makes the source due, rather than silent.
            Some(last) if ts_ms >= last && ts_ms - last < self.interval_ms => false,
            _ => {
                self.last = Some(ts_ms);
                true
            }
        }
    }
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
