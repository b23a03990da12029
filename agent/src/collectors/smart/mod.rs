//! The `smart` source: disk health from `smartctl --json`.
//!
//! A sweep discovers devices (`discover`), reads each with `smartctl --json -x` under
//! the power-mode policy (`policy`), decodes the exit status (`exit`) and the JSON
//! (`json`, `decode`, `report`), and turns it into samples, `smart_self_test` events
//! and disk inventory. Sweeps run on their own interval (default 30 min) on a worker
//! thread, because one sweep can take seconds per disk and a hung `smartctl` must not
//! delay the other sources: each scheduler cycle only drains finished sweeps and ships
//! their readings with the cycle's timestamp. The scheduler's
//! `harbinger_agent_source_success{source="smart"}` reflects the latest finished
//! sweep; `harbinger_agent_smart_sweep_duration_seconds` and
//! `harbinger_agent_smart_devices{outcome}` describe it.

pub mod config;
pub mod decode;
pub mod discover;
pub mod exit;
pub mod json;
pub mod policy;
pub mod report;

use super::{Availability, CollectError, Collector};
use crate::exec::{self, CommandError, Limits};
use crate::output::Output;
use crate::scheduler::now_ms;
use config::SmartConfig;
use discover::{apply_overrides, parse_scan, Target};
use harbinger_shared::catalogue::names;
use harbinger_shared::{ComponentId, ComponentKind, Event, EventKind, InventoryItem, Severity};
use policy::{DeviceClass, PowerMode};
use report::{interpret, DiskReport, ReadError, Reading};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The source name, as in `harbinger_agent_source_success{source="smart"}`.
pub const NAME: &str = "smart";

/// The oldest smartctl with `--json`.
const MIN_VERSION: (u32, u32) = (7, 0);

/// How long the first cycle waits for the first sweep, so that `once` and the first
/// batch carry SMART data; a slower sweep is shipped by a later cycle instead.
const FIRST_SWEEP_WAIT: Duration = Duration::from_secs(15);

/// The SMART source; the sweeps run on a worker thread started by the first collect.
pub struct SmartCollector {
    config: SmartConfig,
    first_wait: Duration,
    worker: Option<Worker>,
    /// The latest finished sweep's failure, returned by every collect until the next
    /// sweep finishes, so that the scheduler's success metric describes the sweep.
    last_error: Option<String>,
}

struct Worker {
    results: mpsc::Receiver<SweepResult>,
    /// Dropped with the collector, which tells the worker to stop after its sweep.
    _stop: mpsc::Sender<()>,
    first_received: bool,
}

/// Everything one sweep produced.
#[derive(Debug, Default)]
pub struct SweepResult {
    pub readings: Vec<Reading>,
    pub events: Vec<Event>,
    pub inventory: Vec<InventoryItem>,
    /// Set when the sweep as a whole failed: discovery failed, or no device was read.
    pub error: Option<String>,
    pub duration: Duration,
    pub read: usize,
    pub asleep: usize,
    pub failed: usize,
}

impl SmartCollector {
    pub fn new(config: SmartConfig) -> Self {
        Self::with_first_wait(config, FIRST_SWEEP_WAIT)
    }

    /// Like [`new`](Self::new), with a different wait for the first sweep.
    pub fn with_first_wait(config: SmartConfig, first_wait: Duration) -> Self {
        Self {
            config,
            first_wait,
            worker: None,
            last_error: None,
        }
    }

    fn start_worker(&self) -> Result<Worker, std::io::Error> {
        let (tx, results) = mpsc::channel();
        let (stop, stop_rx) = mpsc::channel::<()>();
        let mut sweeper = Sweeper::new(self.config.clone());
        let interval = self.config.interval;
        std::thread::Builder::new()
            .name("smart-sweeper".to_owned())
            .stack_size(256 * 1024)
            .spawn(move || loop {
                let result = sweeper.sweep();
                if tx.send(result).is_err() {
                    return;
                }
                match stop_rx.recv_timeout(interval) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
            })?;
        Ok(Worker {
            results,
            _stop: stop,
            first_received: false,
        })
    }

    fn error(&self, message: String) -> CollectError {
        CollectError::Malformed {
            path: self.config.smartctl.clone(),
            message,
        }
    }
}

impl Collector for SmartCollector {
    fn name(&self) -> &'static str {
        NAME
    }

    fn probe(&self) -> Availability {
        match probe(&self.config) {
            Ok(()) => Availability::Available,
            Err(reason) => Availability::Unavailable(reason),
        }
    }

    fn collect(&mut self, ts_ms: i64, out: &mut Output) -> Result<(), CollectError> {
        if self.worker.is_none() {
            let worker = self.start_worker().map_err(|err| {
                self.error(format!("cannot start the SMART worker thread: {err}"))
            })?;
            self.worker = Some(worker);
        }
        let Some(worker) = self.worker.as_mut() else {
            return Ok(());
        };
        let mut finished = Vec::new();
        if !worker.first_received {
            if let Ok(result) = worker.results.recv_timeout(self.first_wait) {
                worker.first_received = true;
                finished.push(result);
            }
        }
        let mut died = false;
        loop {
            match worker.results.try_recv() {
                Ok(result) => {
                    worker.first_received = true;
                    finished.push(result);
                }
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    died = true;
                    break;
                }
            }
        }
        if died {
            // The worker only ends when told to, so this is a panic; start a new one
            // next cycle rather than going silent.
            self.worker = None;
            self.last_error = Some("the SMART worker thread stopped unexpectedly".to_owned());
        }
        for result in finished {
            ship(result, ts_ms, out, &mut self.last_error);
        }
        match &self.last_error {
            Some(message) => Err(self.error(message.clone())),
            None => Ok(()),
        }
    }
}

fn ship(result: SweepResult, ts: i64, out: &mut Output, last_error: &mut Option<String>) {
    for r in &result.readings {
        let labels: Vec<(&str, &str)> = r.labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        out.push(ts, r.metric, &labels, r.value);
    }
    out.push(
        ts,
        names::AGENT_SMART_SWEEP_DURATION,
        &[],
        result.duration.as_secs_f64(),
    );
    for (outcome, n) in [
        ("read", result.read),
        ("asleep", result.asleep),
        ("failed", result.failed),
    ] {
        out.push(
            ts,
            names::AGENT_SMART_DEVICES,
            &[("outcome", outcome)],
            n as f64,
        );
    }
    for event in result.events {
        out.event(event);
    }
    for item in result.inventory {
        out.inventory(item);
    }
    *last_error = result.error;
}

/// Whether smartctl is usable here: present, new enough for `--json`, and allowed to
/// open at least one device. The reason names what is missing.
pub fn probe(config: &SmartConfig) -> Result<(), String> {
    if !config.enabled {
        return Err("disabled in the configuration (smart.enabled = false)".to_owned());
    }
    let limits = Limits {
        timeout: config.timeout,
        max_stdout: config.max_output_bytes,
    };
    let version = exec::run(&config.smartctl, &["--version"], limits).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&version.stdout);
    let found = parse_version(&text).ok_or_else(|| {
        format!(
            "{}: cannot read a version from `smartctl --version` (exit {})",
            config.smartctl.display(),
            version.code
        )
    })?;
    if found < MIN_VERSION {
        return Err(format!(
            "smartctl {}.{} is too old: JSON output needs smartctl {}.{} or later",
            found.0, found.1, MIN_VERSION.0, MIN_VERSION.1
        ));
    }
    let configured = config
        .devices
        .iter()
        .any(|d| !d.exclude && d.dev_type.is_some());
    if !config.scan {
        return Ok(());
    }
    let scan = scan(config)?;
    let targets = apply_overrides(scan.devices.clone(), &config.devices);
    if !targets.is_empty() || configured {
        return Ok(());
    }
    if let Some(denied) = scan.failed.iter().find(|f| f.is_permission()) {
        return Err(format!(
            "no permission to open disks ({}: {}); run the agent as root or with CAP_SYS_RAWIO and CAP_SYS_ADMIN",
            denied.name, denied.reason
        ));
    }
    if let Some(failed) = scan.failed.first() {
        return Err(format!(
            "smartctl cannot open any disk ({}: {})",
            failed.name, failed.reason
        ));
    }
    Err("smartctl --scan-open found no disks".to_owned())
}

fn scan(config: &SmartConfig) -> Result<discover::Scan, String> {
    let limits = Limits {
        timeout: config.timeout,
        max_stdout: config.max_output_bytes,
    };
    let output = exec::run(&config.smartctl, &["--scan-open", "--json=c"], limits)
        .map_err(|e| e.to_string())?;
    parse_scan(&output.stdout).map_err(|e| e.to_string())
}

/// `smartctl 7.3 2022-02-28 r5338 …` → (7, 3).
pub fn parse_version(text: &str) -> Option<(u32, u32)> {
    let line = text.lines().find(|l| l.starts_with("smartctl "))?;
    let version = line.split_whitespace().nth(1)?;
    let (major, minor) = version.split_once('.').unwrap_or((version, "0"));
    let minor: String = minor.chars().take_while(char::is_ascii_digit).collect();
    Some((major.parse().ok()?, minor.parse().unwrap_or(0)))
}

/// What the sweeper remembers about one disk between sweeps.
#[derive(Default)]
struct DiskState {
    inventory: Option<BTreeMap<String, String>>,
    /// Failed self-test entries already seen; `None` until the first read, whose
    /// entries are the baseline (they are not news, and a restart must not repeat them).
    self_test_failures: Option<HashSet<(u64, u64, u64)>>,
}

/// Runs sweeps; keeps what it learnt about each device.
pub struct Sweeper {
    config: SmartConfig,
    limits: Limits,
    /// Per target key: its class and disk id once read.
    known: HashMap<String, (DeviceClass, String)>,
    disks: HashMap<String, DiskState>,
    /// Target keys whose last read failed, to warn once per failure.
    failing: HashSet<String>,
}

impl Sweeper {
    pub fn new(config: SmartConfig) -> Self {
        let limits = Limits {
            timeout: config.timeout,
            max_stdout: config.max_output_bytes,
        };
        Self {
            config,
            limits,
            known: HashMap::new(),
            disks: HashMap::new(),
            failing: HashSet::new(),
        }
    }

    /// Discovers and reads every device once.
    pub fn sweep(&mut self) -> SweepResult {
        let started = Instant::now();
        let mut result = SweepResult::default();
        let scanned = if self.config.scan {
            match scan(&self.config) {
                Ok(scan) => {
                    for failure in &scan.failed {
                        tracing::debug!(device = %failure.name, reason = %failure.reason, "smartctl cannot open device");
                    }
                    result.failed += scan.failed.len();
                    scan.devices
                }
                Err(err) => {
                    result.error = Some(format!("device discovery failed: {err}"));
                    Vec::new()
                }
            }
        } else {
            Vec::new()
        };
        let targets = apply_overrides(scanned, &self.config.devices);
        let mut seen_disks = HashSet::new();
        for target in &targets {
            self.read_one(target, &mut result, &mut seen_disks);
        }
        // Forget disks that are gone, so the state stays as small as the host's disks;
        // after a failed discovery nothing is known to be gone.
        if result.error.is_none() {
            self.disks.retain(|id, _| seen_disks.contains(id));
            let keys: HashSet<String> = targets.iter().map(Target::key).collect();
            self.known.retain(|k, _| keys.contains(k));
        }
        if result.error.is_none() && result.read == 0 && result.asleep == 0 && result.failed > 0 {
            result.error = Some(format!("none of {} devices could be read", result.failed));
        }
        result.duration = started.elapsed();
        tracing::debug!(
            read = result.read,
            asleep = result.asleep,
            failed = result.failed,
            duration_ms = result.duration.as_millis() as u64,
            "SMART sweep finished"
        );
        result
    }

    fn read_one(&mut self, target: &Target, result: &mut SweepResult, seen: &mut HashSet<String>) {
        let key = target.key();
        let known = self.known.get(&key).cloned();
        let class = known.as_ref().map(|(c, _)| *c).unwrap_or_else(|| {
            DeviceClass::from_scan(target.protocol.as_deref(), target.dev_type.as_deref())
        });
        let mode = target
            .power_mode
            .unwrap_or_else(|| mode_for(&self.config, class));
        let nocheck = mode.nocheck_arg();
        let mut args: Vec<String> = vec!["--json=c".into(), "-x".into()];
        args.extend(nocheck.clone());
        if let Some(t) = &target.dev_type {
            args.push("-d".into());
            args.push(t.clone());
        }
        args.push(target.name.clone());
        let outcome = exec::run(&self.config.smartctl, &args, self.limits)
            .map_err(ReadFailure::Command)
            .and_then(|o| {
                interpret(&key, &o.stdout, o.code, nocheck.is_some()).map_err(ReadFailure::Read)
            });
        match outcome {
            Ok(report) => {
                result.read += 1;
                if self.failing.remove(&key) {
                    tracing::info!(device = %key, "SMART device readable again");
                }
                seen.insert(report.device_id.clone());
                self.known
                    .insert(key.clone(), (report.class, report.device_id.clone()));
                self.absorb(&key, report, result);
            }
            Err(ReadFailure::Read(ReadError::Asleep { .. })) => {
                result.asleep += 1;
                tracing::debug!(device = %key, ?mode, "disk asleep, not woken");
                if let Some((_, id)) = known {
                    seen.insert(id.clone());
                    result.readings.push(Reading {
                        metric: names::SMART_STANDBY,
                        labels: vec![("device_id", id)],
                        value: 1.0,
                    });
                }
            }
            Err(err) => {
                result.failed += 1;
                if let Some((_, id)) = known {
                    // Keep its state: a disk that fails one read is still there.
                    seen.insert(id);
                }
                if self.failing.insert(key.clone()) {
                    tracing::warn!(device = %key, error = %err, "cannot read SMART data");
                } else {
                    tracing::debug!(device = %key, error = %err, "still cannot read SMART data");
                }
            }
        }
    }

    fn absorb(&mut self, key: &str, mut report: DiskReport, result: &mut SweepResult) {
        let component = ComponentId::new(ComponentKind::Disk, report.device_id.clone());
        if !report.failing_attributes.is_empty() || report.smart_passed == Some(false) {
            tracing::debug!(device = key, id = %report.device_id, failing = ?report.failing_attributes, status = %report.status, "disk reports failing");
        }
        result.readings.append(&mut report.readings);
        result.readings.push(Reading {
            metric: names::SMART_STANDBY,
            labels: vec![("device_id", report.device_id.clone())],
            value: 0.0,
        });
        let state = self.disks.entry(report.device_id.clone()).or_default();
        if state.inventory.as_ref() != Some(&report.inventory) {
            state.inventory = Some(report.inventory.clone());
            result.inventory.push(InventoryItem {
                component: component.clone(),
                attrs: report.inventory.clone(),
            });
        }
        let entry_key = |e: &json::SelfTestEntry| {
            (
                e.lifetime_hours.unwrap_or(0),
                e.test_type.value.unwrap_or(0),
                e.status.value.unwrap_or(0),
            )
        };
        let current: HashSet<_> = report.failed_self_tests.iter().map(entry_key).collect();
        if let Some(previous) = &state.self_test_failures {
            let now = now_ms();
            for entry in report
                .failed_self_tests
                .iter()
                .filter(|e| !previous.contains(&entry_key(e)))
            {
                result
                    .events
                    .push(self_test_event(now, &component, &report, entry, key));
            }
        }
        state.self_test_failures = Some(current);
    }
}

fn self_test_event(
    ts: i64,
    component: &ComponentId,
    report: &DiskReport,
    entry: &json::SelfTestEntry,
    device: &str,
) -> Event {
    let test = entry
        .test_type
        .string
        .clone()
        .unwrap_or_else(|| "self-test".to_owned());
    let status = entry
        .status
        .string
        .clone()
        .unwrap_or_else(|| "failed".to_owned());
    let model = report.inventory.get("model").cloned().unwrap_or_default();
    let mut attrs = BTreeMap::from([
        ("device_id".to_owned(), report.device_id.clone()),
        ("device".to_owned(), device.to_owned()),
        ("test".to_owned(), test.clone()),
        ("status".to_owned(), status.clone()),
    ]);
    if let Some(h) = entry.lifetime_hours {
        attrs.insert("lifetime_hours".to_owned(), h.to_string());
    }
    if let Some(lba) = entry.lba {
        attrs.insert("lba".to_owned(), lba.to_string());
    }
    let at_lba = entry
        .lba
        .map(|l| format!(" at LBA {l}"))
        .unwrap_or_default();
    Event {
        ts,
        kind: EventKind::new(EventKind::SMART_SELF_TEST),
        severity: Severity::Error,
        component: Some(component.clone()),
        message: format!(
            "SMART {test} self-test on disk {} ({model}) failed: {status}{at_lba}",
            report.device_id
        ),
        attrs,
    }
}

/// A device read that produced no report.
#[derive(Debug, thiserror::Error)]
enum ReadFailure {
    #[error(transparent)]
    Command(CommandError),
    #[error(transparent)]
    Read(ReadError),
}

/// The configured power mode for a class of device.
fn mode_for(config: &SmartConfig, class: DeviceClass) -> PowerMode {
    match class {
        DeviceClass::Hdd => config.power_mode.hdd,
        DeviceClass::Ssd => config.power_mode.ssd,
        DeviceClass::Nvme => config.power_mode.nvme,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(
            parse_version(
                "smartctl 7.3 2022-02-28 r5338 [x86_64-linux-6.1.0] (local build)\nCopyright"
            ),
            Some((7, 3))
        );
        assert_eq!(parse_version("smartctl 6.6 2016-05-31 r4324"), Some((6, 6)));
        assert_eq!(parse_version("smartctl 7.5-pre"), Some((7, 5)));
        assert_eq!(parse_version("garbage"), None);
    }
}
