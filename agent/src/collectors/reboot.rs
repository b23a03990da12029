//! The `reboot` source: on the agent's first cycle, tells whether the host booted since
//! the agent last ran (the kernel's boot id differs from the one saved in the state
//! directory) and whether the previous boot ended cleanly, then emits one `reboot`
//! event.
//!
//! "Clean" means the agent was stopped gracefully (SIGTERM from an orderly shutdown)
//! during the previous boot: [`mark_clean_stop`] writes a marker carrying that boot's
//! id on the way out, and this source removes it on start. No marker, or one from an
//! older boot, means the host went down under the agent: a power loss, a panic, a
//! hardware reset. New pstore records and kdump vmcores are attached as evidence.
//! Known limit: an agent stopped by hand long before an unexpected reset still leaves
//! a marker of that boot, so such a reset is classified clean.

use super::{Availability, CollectError, Collector, StateDir};
use crate::config::ConfigError;
use crate::host_paths::HostPaths;
use crate::identity::Identity;
use crate::output::Output;
use harbinger_shared::{ComponentId, Event, EventKind, Severity};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The source name, as in `harbinger_agent_source_success{source="reboot"}`.
pub const NAME: &str = "reboot";
/// The boot id of the last boot the agent saw, and the evidence already reported.
const STATE_FILE: &str = "boot.json";
/// Written on a graceful stop, removed on start.
pub const CLEAN_STOP_FILE: &str = "clean-stop.json";
/// At most this many evidence entries are listed in one event.
const MAX_EVIDENCE: usize = 20;

/// `[reboot]` in the agent configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RebootConfig {
    pub enabled: bool,
}

impl Default for RebootConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

impl RebootConfig {
    pub fn validate(&self, _prefix: &str) -> Result<(), ConfigError> {
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct BootRecord {
    boot_id: String,
    /// pstore and vmcore entries present at that boot, so only new ones count.
    #[serde(default)]
    evidence_seen: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct CleanStop {
    boot_id: Option<String>,
    ts_ms: i64,
}

/// Records that the agent is stopping gracefully during the current boot. Called from
/// the agent's shutdown path; `ts_ms` is the stop time.
pub fn mark_clean_stop(
    state_dir: &Path,
    paths: &HostPaths,
    ts_ms: i64,
) -> Result<(), CollectError> {
    let marker = CleanStop {
        boot_id: read_trimmed(&boot_id_path(paths)),
        ts_ms,
    };
    StateDir::persistent(state_dir).store(CLEAN_STOP_FILE, &marker)
}

fn boot_id_path(paths: &HostPaths) -> PathBuf {
    paths.proc("sys/kernel/random/boot_id")
}

fn read_trimmed(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// Detects a reboot once, on the first cycle of a running agent.
pub struct RebootCollector {
    boot_id: PathBuf,
    stat: PathBuf,
    pstore: PathBuf,
    crash: PathBuf,
    host: ComponentId,
    state: StateDir,
    done: bool,
}

impl RebootCollector {
    pub fn new(
        paths: &HostPaths,
        _config: &RebootConfig,
        identity: &Identity,
        state: StateDir,
    ) -> Self {
        Self {
            boot_id: boot_id_path(paths),
            stat: paths.proc("stat"),
            pstore: paths.sys("fs/pstore"),
            crash: paths.root("/var/crash"),
            host: identity.host_component(),
            state,
            done: false,
        }
    }

    /// pstore records (`dmesg-efi-…`, `console-ramoops-0`) and kdump vmcores
    /// (`/var/crash/<dir>/vmcore` on RHEL, `/var/crash/<ts>/dump.<ts>` on Debian).
    fn evidence(&self) -> Vec<String> {
        let mut found = Vec::new();
        for name in list_dir(&self.pstore) {
            found.push(format!("pstore:{name}"));
        }
        for name in list_dir(&self.crash) {
            let path = self.crash.join(&name);
            if path.is_dir() {
                for inner in list_dir(&path) {
                    if is_vmcore(&inner) {
                        found.push(format!("vmcore:/var/crash/{name}/{inner}"));
                    }
                }
            } else if is_vmcore(&name) {
                found.push(format!("vmcore:/var/crash/{name}"));
            }
        }
        found.sort();
        found
    }

    /// When this boot started (`btime` of `<procfs>/stat`), in ms.
    fn boot_time_ms(&self) -> Option<i64> {
        let text = std::fs::read_to_string(&self.stat).ok()?;
        let secs: i64 = text
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()?;
        secs.checked_mul(1000)
    }
}

fn is_vmcore(name: &str) -> bool {
    name.starts_with("vmcore") || name.starts_with("dump.")
}

fn list_dir(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

impl Collector for RebootCollector {
    fn name(&self) -> &'static str {
        NAME
    }

    fn probe(&self) -> Availability {
        match std::fs::read_to_string(&self.boot_id) {
            Ok(text) if !text.trim().is_empty() => Availability::Available,
            Ok(_) => Availability::Unavailable(format!("{} is empty", self.boot_id.display())),
            Err(err) => {
                Availability::Unavailable(format!("cannot read {}: {err}", self.boot_id.display()))
            }
        }
    }

    fn collect(&mut self, ts_ms: i64, out: &mut Output) -> Result<(), CollectError> {
        // Only a running agent (with a state directory) may consume the marker and
        // the saved boot id; `once` leaves them for it.
        if self.done || !self.state.is_persistent() {
            return Ok(());
        }
        let boot_id = std::fs::read_to_string(&self.boot_id)
            .map_err(|source| CollectError::Read {
                path: self.boot_id.clone(),
                source,
            })?
            .trim()
            .to_owned();
        let saved: Option<BootRecord> = self.state.load(STATE_FILE);
        let marker: Option<CleanStop> = self.state.load(CLEAN_STOP_FILE);
        let evidence = self.evidence();

        if let Some(previous) = saved.as_ref().filter(|s| s.boot_id != boot_id) {
            let new_evidence: Vec<&String> = evidence
                .iter()
                .filter(|e| !previous.evidence_seen.contains(e))
                .take(MAX_EVIDENCE)
                .collect();
            let clean_stop = marker
                .as_ref()
                .filter(|m| m.boot_id.as_deref() == Some(previous.boot_id.as_str()));
            out.event(reboot_event(
                self.boot_time_ms().unwrap_or(ts_ms),
                &self.host,
                &previous.boot_id,
                &boot_id,
                clean_stop,
                &new_evidence,
            ));
        }
        self.state.store(
            STATE_FILE,
            &BootRecord {
                boot_id,
                evidence_seen: evidence,
            },
        )?;
        if let Some(path) = self.state.path(CLEAN_STOP_FILE) {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(CollectError::WriteState { path, source }),
            }
        }
        self.done = true;
        Ok(())
    }
}

fn reboot_event(
    ts: i64,
    host: &ComponentId,
    previous: &str,
    current: &str,
    clean_stop: Option<&CleanStop>,
    evidence: &[&String],
) -> Event {
    let clean = clean_stop.is_some();
    let cause = if clean { "clean" } else { "unexpected" };
    let mut attrs = BTreeMap::from([
        ("cause".to_owned(), cause.to_owned()),
        // The analysis engine reads `planned`; a clean stop is the agent's best
        // knowledge that the reboot was intended.
        ("planned".to_owned(), clean.to_string()),
        ("previous_boot_id".to_owned(), previous.to_owned()),
        ("boot_id".to_owned(), current.to_owned()),
    ]);
    if let Some(marker) = clean_stop {
        attrs.insert("clean_stop_ms".to_owned(), marker.ts_ms.to_string());
    }
    let pstore: Vec<&str> = evidence
        .iter()
        .filter_map(|e| e.strip_prefix("pstore:"))
        .collect();
    let vmcores: Vec<&str> = evidence
        .iter()
        .filter_map(|e| e.strip_prefix("vmcore:"))
        .collect();
    if !pstore.is_empty() {
        attrs.insert("pstore".to_owned(), pstore.join(","));
    }
    if !vmcores.is_empty() {
        attrs.insert("vmcore".to_owned(), vmcores.join(","));
    }
    let mut message = if clean {
        "host rebooted after a clean shutdown".to_owned()
    } else {
        "host rebooted unexpectedly (the agent was not stopped before the previous boot ended)"
            .to_owned()
    };
    if !pstore.is_empty() || !vmcores.is_empty() {
        message.push_str(&format!(
            "; crash evidence: {} pstore record(s), {} vmcore(s)",
            pstore.len(),
            vmcores.len()
        ));
    }
    let severity = match (clean, evidence.is_empty()) {
        (true, true) => Severity::Info,
        (true, false) => Severity::Warning,
        (false, _) => Severity::Error,
    };
    Event {
        ts,
        kind: EventKind::new(EventKind::REBOOT),
        severity,
        component: Some(host.clone()),
        message,
        attrs,
    }
}
