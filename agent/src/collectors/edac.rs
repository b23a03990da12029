//! The `edac` source: ECC memory error counts per memory controller and per DIMM from
//! `<sysfs>/devices/system/edac/mc/mc*`, on both layouts the kernel has used (`dimmN/`
//! or `rankN/` on current kernels, `csrowN/chM_*` on older ones).
//!
//! Every increase of a DIMM's count also becomes one event carrying the DIMM and the
//! delta, so a burst of errors is visible as a burst rather than as a slope. The first
//! reading after the agent starts is a baseline, unless counts saved in the state
//! directory by the previous run of the agent (same boot) say what was already
//! reported; after a reboot the kernel's counts restart at zero, so whatever they hold
//! then happened since boot and is reported.

use super::{read_into, Availability, CollectError, Collector, Every, StateDir};
use crate::config::check_range;
use crate::config::ConfigError;
use crate::duration;
use crate::host_paths::HostPaths;
use crate::output::Output;
use harbinger_shared::catalogue::names;
use harbinger_shared::{ComponentId, ComponentKind, Event, EventKind, Severity};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The source name, as in `harbinger_agent_source_success{source="edac"}`.
pub const NAME: &str = "edac";
/// Where the counts already reported are kept, in the state directory.
const STATE_FILE: &str = "edac.json";
/// Where the EDAC memory controllers live under sysfs.
pub const MC_DIR: &str = "devices/system/edac/mc";

/// `[edac]` in the agent configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EdacConfig {
    pub enabled: bool,
    /// How often the counts are read.
    #[serde(deserialize_with = "duration::deserialize")]
    pub interval: Duration,
}

impl Default for EdacConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(10),
        }
    }
}

impl EdacConfig {
    pub fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        check_range(
            &format!("{prefix}.interval"),
            self.interval,
            Duration::from_secs(1),
            Duration::from_secs(3600),
        )
    }
}

/// One memory controller (`mcN`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Controller {
    /// `N` of `mcN`, the `controller` label.
    pub index: String,
    /// The driver's name for it (`mc_name`), e.g. `Skylake Socket#0 IMC#0`.
    pub name: Option<String>,
    pub ce: Option<u64>,
    pub ue: Option<u64>,
    /// Errors EDAC could not attribute to a DIMM.
    pub ce_noinfo: Option<u64>,
    pub ue_noinfo: Option<u64>,
    pub dimms: Vec<Dimm>,
    pub csrows: Vec<Csrow>,
}

/// One DIMM (or rank, or csrow channel on old kernels).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dimm {
    /// `dimm3`, `rank3` or `csrow0_ch1`: the `dimm` label.
    pub id: String,
    /// The DIMM's label (silkscreen name where the BIOS tells it), or `mc<N>_<id>`
    /// when the kernel has none; the DIMM's component id.
    pub label: String,
    pub location: Option<String>,
    pub size_bytes: Option<u64>,
    pub mem_type: Option<String>,
    pub edac_mode: Option<String>,
    pub ce: Option<u64>,
    pub ue: Option<u64>,
}

/// One chip-select row of the legacy layout.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Csrow {
    /// `N` of `csrowN`.
    pub index: String,
    pub ce: Option<u64>,
    pub ue: Option<u64>,
}

/// Reads every memory controller. Absent files are `None`; an absent `mc` directory is
/// an error naming it (the host has no EDAC driver loaded).
pub fn read_controllers(paths: &HostPaths) -> Result<Vec<Controller>, CollectError> {
    let base = paths.sys(MC_DIR);
    let mut controllers = Vec::new();
    for (index, dir) in numbered_dirs(&base, "mc")? {
        let mut mc = Controller {
            index,
            name: read_string(&dir.join("mc_name")),
            ce: read_u64(&dir.join("ce_count")),
            ue: read_u64(&dir.join("ue_count")),
            ce_noinfo: read_u64(&dir.join("ce_noinfo_count")),
            ue_noinfo: read_u64(&dir.join("ue_noinfo_count")),
            ..Controller::default()
        };
        let mut dimm_dirs = numbered_dirs(&dir, "dimm")?;
        dimm_dirs.extend(
            numbered_dirs(&dir, "rank")?
                .into_iter()
                .map(|(n, p)| (format!("rank{n}"), p)),
        );
        for (id, path) in dimm_dirs {
            let id = if id.starts_with("rank") {
                id
            } else {
                format!("dimm{id}")
            };
            mc.dimms.push(Dimm {
                label: label_or(read_string(&path.join("dimm_label")), &mc.index, &id),
                location: read_string(&path.join("dimm_location")),
                // `size` is in MiB.
                size_bytes: read_u64(&path.join("size")).map(|mb| mb << 20),
                mem_type: read_string(&path.join("dimm_mem_type")),
                edac_mode: read_string(&path.join("dimm_edac_mode")),
                ce: read_u64(&path.join("dimm_ce_count")),
                ue: read_u64(&path.join("dimm_ue_count")),
                id,
            });
        }
        let has_dimm_dirs = !mc.dimms.is_empty();
        for (index, path) in numbered_dirs(&dir, "csrow")? {
            mc.csrows.push(Csrow {
                index: index.clone(),
                ce: read_u64(&path.join("ce_count")),
                ue: read_u64(&path.join("ue_count")),
            });
            // Current kernels have both layouts; the csrow channels are then the same
            // DIMMs again, so they only stand in where no dimm directories exist.
            if has_dimm_dirs {
                continue;
            }
            for channel in 0.. {
                let ce = read_u64(&path.join(format!("ch{channel}_ce_count")));
                let label = read_string(&path.join(format!("ch{channel}_dimm_label")));
                if ce.is_none() && label.is_none() {
                    break;
                }
                let id = format!("csrow{index}_ch{channel}");
                mc.dimms.push(Dimm {
                    label: label_or(label, &mc.index, &id),
                    ce,
                    ue: read_u64(&path.join(format!("ch{channel}_ue_count"))),
                    id,
                    ..Dimm::default()
                });
            }
        }
        controllers.push(mc);
    }
    Ok(controllers)
}

fn label_or(label: Option<String>, controller: &str, id: &str) -> String {
    label.unwrap_or_else(|| format!("mc{controller}_{id}"))
}

/// `<prefix>N` subdirectories of `dir`, sorted by N, as (N, path). A missing `dir`
/// is an error; unreadable entries are skipped.
fn numbered_dirs(dir: &Path, prefix: &str) -> Result<Vec<(String, PathBuf)>, CollectError> {
    let entries = std::fs::read_dir(dir).map_err(|source| CollectError::Read {
        path: dir.to_owned(),
        source,
    })?;
    let mut found: Vec<(u64, String, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let n: u64 = name.strip_prefix(prefix)?.parse().ok()?;
            let path = entry.path();
            path.is_dir().then(|| (n, n.to_string(), path))
        })
        .collect();
    found.sort_by_key(|(n, _, _)| *n);
    Ok(found.into_iter().map(|(_, n, p)| (n, p)).collect())
}

fn read_string(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn read_u64(path: &Path) -> Option<u64> {
    read_string(path)?.parse().ok()
}

/// Counts already reported, saved across agent restarts within one boot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Persisted {
    boot_id: Option<String>,
    /// `mcN/<dimm id>` (or `mcN/noinfo`) → [correctable, uncorrectable].
    counts: BTreeMap<String, [u64; 2]>,
}

/// What the current reading is compared with.
#[derive(Debug)]
enum Previous {
    /// First reading after start with nothing saved: a baseline, no events.
    Baseline,
    /// Counts of the previous reading; keys absent there count from zero only when
    /// `since_boot` (a new boot), otherwise they are new DIMMs and start as a baseline.
    Known {
        counts: BTreeMap<String, [u64; 2]>,
        since_boot: bool,
    },
}

/// Reads EDAC counts and turns their increases into events.
pub struct EdacCollector {
    paths: HostPaths,
    base: PathBuf,
    boot_id_path: PathBuf,
    every: Every,
    state: StateDir,
    previous: Option<Previous>,
    saved: Option<Persisted>,
    buf: String,
}

impl EdacCollector {
    pub fn new(paths: &HostPaths, config: &EdacConfig, state: StateDir) -> Self {
        Self {
            paths: paths.clone(),
            base: paths.sys(MC_DIR),
            boot_id_path: paths.proc("sys/kernel/random/boot_id"),
            every: Every::new(config.interval),
            state,
            previous: None,
            saved: None,
            buf: String::new(),
        }
    }

    fn boot_id(&mut self) -> Option<String> {
        read_into(&self.boot_id_path, &mut self.buf).ok()?;
        let id = self.buf.trim();
        (!id.is_empty()).then(|| id.to_owned())
    }

    /// What to compare the first reading with: the saved counts of this boot, zero for
    /// a new boot, or nothing (a baseline) when no state was saved.
    fn initial_previous(&mut self, boot_id: &Option<String>) -> Previous {
        let Some(saved) = self.state.load::<Persisted>(STATE_FILE) else {
            return Previous::Baseline;
        };
        let previous = match (&saved.boot_id, boot_id) {
            (Some(saved_id), Some(now)) if saved_id == now => Previous::Known {
                counts: saved.counts.clone(),
                since_boot: false,
            },
            (Some(_), Some(_)) => Previous::Known {
                counts: BTreeMap::new(),
                since_boot: true,
            },
            // Without boot ids the saved counts cannot be placed in time.
            _ => Previous::Baseline,
        };
        self.saved = Some(saved);
        previous
    }
}

impl Collector for EdacCollector {
    fn name(&self) -> &'static str {
        NAME
    }

    fn probe(&self) -> Availability {
        match numbered_dirs(&self.base, "mc") {
            Ok(mcs) if !mcs.is_empty() => Availability::Available,
            Ok(_) => Availability::Unavailable(format!(
                "{} has no memory controllers (no EDAC driver for this memory controller)",
                self.base.display()
            )),
            Err(err) => Availability::Unavailable(format!(
                "{err} (no EDAC driver loaded, or no ECC memory)"
            )),
        }
    }

    fn collect(&mut self, ts_ms: i64, out: &mut Output) -> Result<(), CollectError> {
        if !self.every.due(ts_ms) {
            return Ok(());
        }
        let controllers = read_controllers(&self.paths)?;
        emit_samples(ts_ms, &controllers, out);

        let boot_id = self.boot_id();
        let previous = match self.previous.take() {
            Some(previous) => previous,
            None => self.initial_previous(&boot_id),
        };
        let current = counts(&controllers);
        if let Previous::Known { counts, since_boot } = &previous {
            emit_increases(ts_ms, &controllers, counts, *since_boot, out);
        }
        let persisted = Persisted {
            boot_id,
            counts: current.clone(),
        };
        self.previous = Some(Previous::Known {
            counts: current,
            since_boot: false,
        });
        if self.state.is_persistent() && self.saved.as_ref() != Some(&persisted) {
            self.state.store(STATE_FILE, &persisted)?;
            self.saved = Some(persisted);
        }
        Ok(())
    }
}

fn emit_samples(ts: i64, controllers: &[Controller], out: &mut Output) {
    for mc in controllers {
        let controller = [("controller", mc.index.as_str())];
        if let Some(ce) = mc.ce {
            out.push(ts, names::EDAC_CE, &controller, ce as f64);
        }
        if let Some(ue) = mc.ue {
            out.push(ts, names::EDAC_UE, &controller, ue as f64);
        }
        // node_exporter reports the unattributed counts as csrow "unknown".
        let rows = mc
            .csrows
            .iter()
            .map(|row| (row.index.as_str(), row.ce, row.ue))
            .chain(std::iter::once(("unknown", mc.ce_noinfo, mc.ue_noinfo)));
        for (csrow, ce, ue) in rows {
            let labels = [("controller", mc.index.as_str()), ("csrow", csrow)];
            if let Some(ce) = ce {
                out.push(ts, names::EDAC_CSROW_CE, &labels, ce as f64);
            }
            if let Some(ue) = ue {
                out.push(ts, names::EDAC_CSROW_UE, &labels, ue as f64);
            }
        }
        for dimm in &mc.dimms {
            let labels = [
                ("controller", mc.index.as_str()),
                ("dimm", dimm.id.as_str()),
                ("label", dimm.label.as_str()),
            ];
            if let Some(ce) = dimm.ce {
                out.push(ts, names::EDAC_DIMM_CE, &labels, ce as f64);
            }
            if let Some(ue) = dimm.ue {
                out.push(ts, names::EDAC_DIMM_UE, &labels, ue as f64);
            }
        }
    }
}

fn noinfo_key(mc: &Controller) -> String {
    format!("mc{}/noinfo", mc.index)
}

fn dimm_key(mc: &Controller, dimm: &Dimm) -> String {
    format!("mc{}/{}", mc.index, dimm.id)
}

fn counts(controllers: &[Controller]) -> BTreeMap<String, [u64; 2]> {
    let mut map = BTreeMap::new();
    for mc in controllers {
        map.insert(
            noinfo_key(mc),
            [mc.ce_noinfo.unwrap_or(0), mc.ue_noinfo.unwrap_or(0)],
        );
        for dimm in &mc.dimms {
            map.insert(
                dimm_key(mc, dimm),
                [dimm.ce.unwrap_or(0), dimm.ue.unwrap_or(0)],
            );
        }
    }
    map
}

/// How much a count grew. A count below the previous one means the counters were
/// reset (driver reloaded), so all of the current count is new.
fn increase(previous: Option<u64>, current: u64) -> u64 {
    match previous {
        Some(prev) if current >= prev => current - prev,
        _ => current,
    }
}

fn emit_increases(
    ts: i64,
    controllers: &[Controller],
    previous: &BTreeMap<String, [u64; 2]>,
    since_boot: bool,
    out: &mut Output,
) {
    for mc in controllers {
        let entries = mc
            .dimms
            .iter()
            .map(|d| (dimm_key(mc, d), Some(d), [d.ce, d.ue]))
            .chain(std::iter::once((
                noinfo_key(mc),
                None,
                [mc.ce_noinfo, mc.ue_noinfo],
            )));
        for (key, dimm, now) in entries {
            let before = match previous.get(&key) {
                Some(counts) => Some(*counts),
                None if since_boot => Some([0, 0]),
                // A DIMM that appeared mid-run (driver loaded late): a baseline.
                None => None,
            };
            let Some(before) = before else { continue };
            for (i, current) in now.iter().enumerate() {
                let Some(current) = current else { continue };
                let delta = increase(Some(before[i]), *current);
                if delta > 0 {
                    out.event(increase_event(ts, mc, dimm, i == 1, delta, *current));
                }
            }
        }
    }
}

fn increase_event(
    ts: i64,
    mc: &Controller,
    dimm: Option<&Dimm>,
    uncorrectable: bool,
    delta: u64,
    total: u64,
) -> Event {
    let (kind, severity, what) = if uncorrectable {
        (
            EventKind::EDAC_UNCORRECTABLE,
            Severity::Critical,
            "uncorrectable",
        )
    } else {
        (
            EventKind::EDAC_CORRECTABLE,
            Severity::Warning,
            "correctable",
        )
    };
    let plural = if delta == 1 { "" } else { "s" };
    let mut attrs = BTreeMap::from([
        ("count".to_owned(), delta.to_string()),
        ("total".to_owned(), total.to_string()),
        ("controller".to_owned(), mc.index.clone()),
    ]);
    let (component, message) = match dimm {
        Some(dimm) => {
            attrs.insert("dimm".to_owned(), dimm.id.clone());
            attrs.insert("label".to_owned(), dimm.label.clone());
            if let Some(location) = &dimm.location {
                attrs.insert("location".to_owned(), location.clone());
            }
            (
                Some(ComponentId::new(ComponentKind::Dimm, dimm.label.clone())),
                format!(
                    "{delta} {what} memory error{plural} on DIMM {} (mc{} {}), {total} since boot",
                    dimm.label, mc.index, dimm.id
                ),
            )
        }
        None => (
            None,
            format!(
                "{delta} {what} memory error{plural} on mc{} that EDAC could not attribute to a DIMM, {total} since boot",
                mc.index
            ),
        ),
    };
    Event {
        ts,
        kind: EventKind::new(kind),
        severity,
        component,
        message,
        attrs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increase_handles_resets() {
        assert_eq!(increase(Some(3), 5), 2);
        assert_eq!(increase(Some(5), 5), 0);
        assert_eq!(
            increase(Some(9), 2),
            2,
            "reset: all of the new count is new"
        );
        assert_eq!(increase(None, 4), 4);
    }

    #[test]
    fn every_gates_slow_sources() {
        let mut every = Every::new(Duration::from_secs(30));
        assert!(every.due(10_000));
        assert!(!every.due(20_000));
        assert!(!every.due(30_000));
        assert!(every.due(40_000));
        assert!(every.due(5_000), "a clock stepped back runs the source");
    }
}
