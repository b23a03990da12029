//! The `kernel` source: follows the kernel log (`/dev/kmsg`) and turns hardware
//! complaints (machine checks, EDAC, PCIe AER, block I/O and filesystem errors,
//! NVMe/SCSI/ATA resets and timeouts, thermal throttling, lockups, OOM kills) into
//! events, rate-limited so that a storm is one event with a count.
//!
//! Reads never block the agent: the device is opened `O_NONBLOCK` and each cycle takes
//! what is there, up to a bound. The last sequence number reported is saved in the
//! state directory with the boot id, so a restarted agent resumes where it stopped and
//! a new boot is read from its first message (catching errors logged before the agent
//! started). Where /dev/kmsg is unreadable (no CAP_SYSLOG, or a container without it)
//! the source reports itself unavailable with the reason; there is no journal
//! fallback yet.

pub mod classify;
pub mod kmsg;
pub mod limit;

use super::{Availability, CollectError, Collector, Every, StateDir};
use crate::config::{check_range, invalid, ConfigError};
use crate::duration;
use crate::host_paths::HostPaths;
use crate::identity::Identity;
use crate::output::Output;
use classify::{classify, Classified};
use harbinger_shared::catalogue::names;
use harbinger_shared::{ComponentId, ComponentKind, Event, EventKind};
use kmsg::{parse_record, KmsgReader, FACILITY_KERNEL};
use limit::{Key, RateLimiter};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The source name, as in `harbinger_agent_source_success{source="kernel"}`.
pub const NAME: &str = "kernel";
const STATE_FILE: &str = "kmsg.json";
/// Lines read per cycle at most; a backlog larger than this is read over the next
/// cycles instead of stalling this one.
const MAX_LINES_PER_CYCLE: usize = 20_000;
/// Kernel messages are cut to this length in events.
const MAX_MESSAGE_CHARS: usize = 512;

/// `[kernel]` in the agent configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KernelConfig {
    pub enabled: bool,
    #[serde(deserialize_with = "duration::deserialize")]
    pub interval: Duration,
    /// The kernel log device (an absolute path; containers may mount it elsewhere).
    pub kmsg_path: PathBuf,
    /// Messages of one kind about one device within this window become one event.
    #[serde(deserialize_with = "duration::deserialize")]
    pub rate_limit_window: Duration,
}

impl Default for KernelConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(10),
            kmsg_path: PathBuf::from("/dev/kmsg"),
            rate_limit_window: Duration::from_secs(300),
        }
    }
}

impl KernelConfig {
    pub fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        check_range(
            &format!("{prefix}.interval"),
            self.interval,
            Duration::from_secs(1),
            Duration::from_secs(3600),
        )?;
        if self.kmsg_path.as_os_str().is_empty() {
            return Err(invalid(format!("{prefix}.kmsg_path"), "must not be empty"));
        }
        check_range(
            &format!("{prefix}.rate_limit_window"),
            self.rate_limit_window,
            Duration::from_secs(1),
            Duration::from_secs(86_400),
        )
    }
}

/// Where the agent stopped reading, within one boot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Position {
    boot_id: String,
    seq: u64,
}

/// Follows the kernel log.
pub struct KernelCollector {
    kmsg_path: PathBuf,
    boot_id_path: PathBuf,
    stat_path: PathBuf,
    block_dir: PathBuf,
    state: StateDir,
    every: Every,
    limiter: RateLimiter,
    reader: Option<KmsgReader>,
    boot_id: Option<String>,
    btime_ms: Option<i64>,
    last_seq: Option<u64>,
    /// Classified messages per kind since the agent started.
    counts: BTreeMap<&'static str, u64>,
}

impl KernelCollector {
    pub fn new(
        paths: &HostPaths,
        config: &KernelConfig,
        _identity: &Identity,
        state: StateDir,
    ) -> Self {
        Self {
            kmsg_path: config.kmsg_path.clone(),
            boot_id_path: paths.proc("sys/kernel/random/boot_id"),
            stat_path: paths.proc("stat"),
            block_dir: paths.sys("block"),
            state,
            every: Every::new(config.interval),
            limiter: RateLimiter::new(
                i64::try_from(config.rate_limit_window.as_millis()).unwrap_or(i64::MAX),
            ),
            reader: None,
            boot_id: None,
            btime_ms: None,
            last_seq: None,
            counts: BTreeMap::new(),
        }
    }

    /// Opens the log and decides where to resume: after the saved sequence number if it
    /// belongs to this boot, else from the oldest message of this boot.
    fn open(&mut self) -> Result<KmsgReader, CollectError> {
        let reader = KmsgReader::open(&self.kmsg_path).map_err(|source| CollectError::Read {
            path: self.kmsg_path.clone(),
            source,
        })?;
        if self.boot_id.is_none() {
            self.boot_id = read_trimmed(&self.boot_id_path);
            self.btime_ms = read_trimmed(&self.stat_path).and_then(|stat| {
                stat.lines()
                    .find_map(|l| l.strip_prefix("btime "))
                    .and_then(|s| s.trim().parse::<i64>().ok())
                    .and_then(|s| s.checked_mul(1000))
            });
            if let (Some(saved), Some(boot_id)) =
                (self.state.load::<Position>(STATE_FILE), &self.boot_id)
            {
                if &saved.boot_id == boot_id {
                    self.last_seq = Some(saved.seq);
                }
            }
        }
        Ok(reader)
    }

    /// A SCSI/SATA disk's component from its WWN (`<sysfs>/block/sdX/device/wwid` is
    /// `naa.<hex>`), named like the SMART source names it (`0x<hex>`).
    fn disk_component(&self, device: &str) -> Option<ComponentId> {
        if !device.starts_with("sd") {
            return None;
        }
        let disk = device.trim_end_matches(|c: char| c.is_ascii_digit());
        let wwid = read_trimmed(&self.block_dir.join(disk).join("device/wwid"))?;
        let hex = wwid.strip_prefix("naa.")?;
        Some(ComponentId::new(
            ComponentKind::Disk,
            format!("0x{}", hex.to_ascii_lowercase()),
        ))
    }

    fn event(&self, cycle_ts: i64, ts_usec: u64, message: &str, c: &Classified) -> Event {
        let ts = self
            .btime_ms
            .and_then(|boot| boot.checked_add(i64::try_from(ts_usec / 1000).ok()?))
            .unwrap_or(cycle_ts);
        let mut attrs = BTreeMap::from([("source".to_owned(), "kmsg".to_owned())]);
        if let Some(subject) = &c.subject {
            attrs.insert(c.subject_attr.to_owned(), subject.clone());
        }
        if let Some(detail) = c.detail {
            attrs.insert("type".to_owned(), detail.to_owned());
        }
        let component = match (c.subject_attr, &c.subject) {
            ("cpu", Some(cpu)) => Some(ComponentId::new(ComponentKind::Cpu, cpu.clone())),
            ("dimm", Some(label)) => Some(ComponentId::new(ComponentKind::Dimm, label.clone())),
            ("device", Some(device)) => self.disk_component(device),
            _ => None,
        };
        Event {
            ts,
            kind: EventKind::new(c.kind),
            severity: c.severity,
            component,
            message: message.chars().take(MAX_MESSAGE_CHARS).collect(),
            attrs,
        }
    }
}

fn read_trimmed(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

impl Collector for KernelCollector {
    fn name(&self) -> &'static str {
        NAME
    }

    fn probe(&self) -> Availability {
        match KmsgReader::open(&self.kmsg_path) {
            Ok(_) => Availability::Available,
            Err(err) => {
                let why = match err.kind() {
                    std::io::ErrorKind::PermissionDenied => {
                        " (reading the kernel log needs root or CAP_SYSLOG)"
                    }
                    std::io::ErrorKind::NotFound => {
                        " (no kernel log device; in a container, mount the host's /dev/kmsg)"
                    }
                    _ => "",
                };
                Availability::Unavailable(format!(
                    "cannot open {}: {err}{why}; no journal fallback",
                    self.kmsg_path.display()
                ))
            }
        }
    }

    fn collect(&mut self, ts_ms: i64, out: &mut Output) -> Result<(), CollectError> {
        if !self.every.due(ts_ms) {
            return Ok(());
        }
        let mut reader = match self.reader.take() {
            Some(reader) => reader,
            None => self.open()?,
        };
        let mut lines: Vec<(u64, u64, String, Classified)> = Vec::new();
        let mut last_seq = self.last_seq;
        let result = reader.read_available(MAX_LINES_PER_CYCLE, |line| {
            let Some(record) = parse_record(line) else {
                return;
            };
            if record.facility != FACILITY_KERNEL || last_seq.is_some_and(|s| record.seq <= s) {
                return;
            }
            last_seq = Some(record.seq);
            if let Some(classified) = classify(record.message) {
                lines.push((
                    record.seq,
                    record.ts_usec,
                    record.message.to_owned(),
                    classified,
                ));
            }
        });
        let overruns = match result {
            Ok(overruns) => overruns,
            Err(source) => {
                // Dropped, so the next cycle reopens it.
                return Err(CollectError::Read {
                    path: reader.path().to_owned(),
                    source,
                });
            }
        };
        self.reader = Some(reader);
        if overruns > 0 {
            tracing::warn!(
                overruns,
                "kernel log overran between reads; some messages were lost"
            );
        }
        let moved = last_seq != self.last_seq;
        self.last_seq = last_seq;

        let classified_any = !lines.is_empty();
        let mut groups: BTreeMap<Key, (u64, Event)> = BTreeMap::new();
        for (_, ts_usec, message, classified) in &lines {
            *self.counts.entry(classified.kind).or_default() += 1;
            let key = (
                classified.kind.to_owned(),
                classified.subject.clone().unwrap_or_default(),
            );
            match groups.get_mut(&key) {
                Some((count, _)) => *count += 1,
                None => {
                    let event = self.event(ts_ms, *ts_usec, message, classified);
                    groups.insert(key, (1, event));
                }
            }
        }
        for event in self.limiter.flush(ts_ms) {
            out.event(event);
        }
        let mut fresh: Vec<Event> = groups
            .into_iter()
            .filter_map(|(key, (count, event))| self.limiter.offer(ts_ms, key, count, event))
            .collect();
        fresh.sort_by_key(|e| e.ts);
        for event in fresh {
            out.event(event);
        }
        for (kind, count) in &self.counts {
            out.push(
                ts_ms,
                names::KERNEL_MESSAGES,
                &[("kind", kind)],
                *count as f64,
            );
        }
        // Saved only when something was reported: re-reading plain messages after a
        // restart is harmless, and this keeps the agent from writing every cycle.
        if moved && classified_any {
            if let (Some(boot_id), Some(seq)) = (&self.boot_id, self.last_seq) {
                self.state.store(
                    STATE_FILE,
                    &Position {
                        boot_id: boot_id.clone(),
                        seq,
                    },
                )?;
            }
        }
        Ok(())
    }
}
