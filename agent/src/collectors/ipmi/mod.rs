//! The IPMI source: sensors, thresholds, discrete states and the SEL of the local BMC
//! (`/dev/ipmi0`) and of BMCs reached over RMCP+, through our own code (`native`) or
//! through ipmitool or FreeIPMI (`tool.rs`, `text/`), with the same series either way.
//!
//! Each BMC is polled on its own thread at `ipmi.interval`. `collect` takes what the
//! threads have finished and, when the poll of the current interval is still running
//! on a BMC that has been answering, waits for it a little (about twice its usual
//! duration, at most `ipmi.timeout` and one second), so a cycle delivers what was read
//! during its interval. A BMC that stops answering is never waited for: its thread is
//! bounded per request by `ipmi.timeout` × `ipmi.retries`, and the source is degraded.
//! Sensor series carry a `bmc` label only when several BMCs are polled, so the common
//! single-BMC case has exactly `ipmi_sensor_value{name,type,unit}`.

pub mod bmc;
pub mod commands;
pub mod config;
pub mod exec;
pub mod lanplus;
pub mod sdr;
pub mod sel;
pub mod sensors;
pub mod text;
pub mod tool;

use super::{Availability, CollectError, Collector, StateDir};
use crate::output::Output;
use bmc::{PollResult, Poller, Target};
use config::{Backend, IpmiConfig};
use harbinger_shared::catalogue::names;
use harbinger_shared::InventoryItem;
use lanplus::LanParams;
use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::time::{Duration, Instant};
use tool::{ToolPoller, ToolTarget};

pub const UP: &str = "ipmi_up";
pub const POLL_DURATION: &str = "ipmi_poll_duration_seconds";
pub const SEL_ENTRIES: &str = "ipmi_sel_entries";
pub const SEL_FREE: &str = "ipmi_sel_free_bytes";

/// The longest `collect` waits for a poll in flight.
const MAX_COLLECT_WAIT: Duration = Duration::from_secs(1);
/// Added to twice a poll's usual duration when waiting for it: thread wake-up and
/// scheduling jitter.
const COLLECT_WAIT_SLACK: Duration = Duration::from_millis(100);

/// One BMC's poller: the native one (`bmc::Poller`) or an external tool's.
pub trait BmcPoll: Send {
    fn name(&self) -> &str;
    /// Reads the BMC once; never panics, failures go into `PollResult::error`.
    fn poll(&mut self, now_ms: i64) -> PollResult;
}

/// The IPMI collector.
pub struct IpmiCollector {
    config: IpmiConfig,
    state: StateDir,
    workers: Option<Vec<Worker>>,
}

struct Worker {
    name: String,
    locator: PathBuf,
    /// Each poll's result and when that poll started.
    results: Receiver<(Instant, PollResult)>,
    /// Dropping it stops the thread at its next wait.
    _stop: SyncSender<()>,
    /// When the last result arrived (or the thread started).
    last_seen: Instant,
    /// When the poll behind the last result started, and how long it took.
    last_started: Option<Instant>,
    last_duration: Duration,
    last_error: Option<String>,
    last_inventory: Option<InventoryItem>,
}

impl Worker {
    /// Until when to wait for this interval's poll, if at all: not when the result in
    /// hand is from a poll started within the last `interval`, not for a BMC whose last
    /// poll failed, and not past the time a healthy poll would have finished.
    fn wait_until(&self, now: Instant, interval: Duration, cap: Duration) -> Option<Instant> {
        if self.last_error.is_some() {
            return None;
        }
        let last = self.last_started?;
        if now.saturating_duration_since(last) < interval {
            return None;
        }
        let expected = last + interval + self.last_duration * 2 + COLLECT_WAIT_SLACK;
        (expected > now).then(|| expected.min(now + cap))
    }
}

impl IpmiCollector {
    pub fn new(config: IpmiConfig, state: StateDir) -> Self {
        Self {
            config,
            state,
            workers: None,
        }
    }

    fn local_present(&self) -> bool {
        self.config.local_device.exists()
    }

    fn pollers(&self) -> Vec<(PathBuf, Box<dyn BmcPoll>)> {
        let mut pollers: Vec<(PathBuf, Box<dyn BmcPoll>)> = Vec::new();
        let native = self.config.backend == Backend::Native;
        let tool = |name: String, target: ToolTarget| -> Box<dyn BmcPoll> {
            Box::new(ToolPoller::new(
                name,
                target,
                &self.config,
                self.state.clone(),
            ))
        };
        if self.local_present() {
            let device = self.config.local_device.clone();
            let poller: Box<dyn BmcPoll> = if native {
                Box::new(Poller::new(
                    "local".to_owned(),
                    Target::Local(device.clone()),
                    self.config.timeout,
                    self.state.clone(),
                ))
            } else {
                tool(
                    "local".to_owned(),
                    ToolTarget::Local {
                        device: device.clone(),
                    },
                )
            };
            pollers.push((device, poller));
        }
        for lan in &self.config.lan {
            let name = lan.name();
            let locator = PathBuf::from(format!("lanplus://{name}"));
            if !native {
                // The tool resolves the name itself, and reports it if it cannot.
                pollers.push((locator, tool(name, ToolTarget::Lan(lan.clone()))));
                continue;
            }
            // Resolved per start; an unresolvable name becomes a worker that reports it.
            let addr = (lan.host.as_str(), lan.port)
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next());
            let Some(addr) = addr else {
                tracing::warn!(bmc = %name, "cannot resolve BMC address");
                continue;
            };
            let target = Target::Lan(LanParams {
                addr,
                username: lan.username.clone(),
                password: lan.password.clone(),
                privilege: lan.privilege.level(),
                timeout: self.config.timeout,
                retries: self.config.retries,
            });
            pollers.push((
                locator,
                Box::new(Poller::new(
                    name,
                    target,
                    self.config.timeout,
                    self.state.clone(),
                )),
            ));
        }
        pollers
    }

    fn start(&self) -> Vec<Worker> {
        self.start_pollers(self.pollers())
    }

    fn start_pollers(&self, pollers: Vec<(PathBuf, Box<dyn BmcPoll>)>) -> Vec<Worker> {
        let mut workers = Vec::new();
        for (locator, mut poller) in pollers {
            let name = poller.name().to_owned();
            let (tx, rx) = mpsc::sync_channel(4);
            let (stop_tx, stop_rx) = mpsc::sync_channel::<()>(0);
            let interval = self.config.interval;
            let spawned = std::thread::Builder::new()
                .name(format!("ipmi {name}"))
                .spawn(move || run_worker(poller.as_mut(), interval, &tx, &stop_rx));
            if let Err(err) = spawned {
                tracing::warn!(bmc = %name, error = %err, "cannot start IPMI thread");
                continue;
            }
            workers.push(Worker {
                name,
                locator,
                results: rx,
                _stop: stop_tx,
                last_seen: Instant::now(),
                last_started: None,
                last_duration: Duration::ZERO,
                last_error: None,
                last_inventory: None,
            });
        }
        workers
    }

    /// How long a worker may stay silent before it counts as hung: one interval plus
    /// the longest a poll's first request can take.
    fn stale_after(&self) -> Duration {
        let first_request = match self.config.backend {
            Backend::Native => self.config.timeout * (self.config.retries + 1),
            _ => self.config.command_timeout,
        };
        self.config.interval * 2 + first_request
    }
}

fn run_worker(
    poller: &mut dyn BmcPoll,
    interval: Duration,
    tx: &SyncSender<(Instant, PollResult)>,
    stop: &Receiver<()>,
) {
    loop {
        let started = Instant::now();
        let result = poller.poll(crate::scheduler::now_ms());
        // A full channel means nobody is draining (the agent is stopping): drop it.
        if tx.try_send((started, result)).is_err() && started.elapsed() > interval {
            tracing::debug!(bmc = %poller.name(), "IPMI result dropped");
        }
        let wait = interval.saturating_sub(started.elapsed());
        match stop.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => continue,
            _ => return,
        }
    }
}

impl Collector for IpmiCollector {
    fn name(&self) -> &'static str {
        "ipmi"
    }

    fn probe(&self) -> Availability {
        if !self.config.enabled {
            return Availability::Unavailable(
                "disabled in the configuration ([ipmi] enabled = false)".into(),
            );
        }
        if !self.local_present() && self.config.lan.is_empty() {
            return Availability::Unavailable(format!(
                "no in-band device {} (load the ipmi_si and ipmi_devintf kernel modules on a host with a BMC) and no [[ipmi.lan]] BMC configured",
                self.config.local_device.display()
            ));
        }
        for program in tool::programs(self.config.backend) {
            let path = tool::program_path(self.config.tool_dir.as_deref(), program);
            if let Err(err) = crate::exec::resolve(&path) {
                return Availability::Unavailable(format!(
                    "ipmi.backend = \"{}\" needs {program}: {err}",
                    self.config.backend.name()
                ));
            }
        }
        Availability::Available
    }

    fn collect(&mut self, ts_ms: i64, out: &mut Output) -> Result<(), CollectError> {
        let first = self.workers.is_none();
        if first {
            self.workers = Some(self.start());
        }
        let stale_after = self.stale_after();
        let interval = self.config.interval;
        let cap = self.config.timeout.min(MAX_COLLECT_WAIT);
        // On the very first cycle, give the BMCs two request timeouts to answer, so a
        // one-shot collection has data.
        let first_deadline = Instant::now() + self.config.timeout * 2;
        let Some(workers) = self.workers.as_mut() else {
            return Ok(());
        };
        let several = workers.len() > 1;
        let mut degraded = Vec::new();
        for worker in workers.iter_mut() {
            let mut received: Vec<PollResult> = Vec::new();
            loop {
                let next = match worker.results.try_recv() {
                    Ok(r) => Ok(r),
                    Err(TryRecvError::Disconnected) => Err(true),
                    Err(TryRecvError::Empty) => {
                        let until = if first {
                            worker.last_started.is_none().then_some(first_deadline)
                        } else {
                            worker.wait_until(Instant::now(), interval, cap)
                        };
                        let left = until.map(|u| u.saturating_duration_since(Instant::now()));
                        match left {
                            Some(left) if !left.is_zero() => worker
                                .results
                                .recv_timeout(left)
                                .map_err(|e| e == RecvTimeoutError::Disconnected),
                            _ => Err(false),
                        }
                    }
                };
                match next {
                    Ok((started, result)) => {
                        worker.last_seen = Instant::now();
                        worker.last_started = Some(started);
                        worker.last_duration = result.duration;
                        received.push(result);
                    }
                    Err(true) => {
                        worker.last_error = Some("IPMI thread stopped".into());
                        break;
                    }
                    Err(false) => break,
                }
            }
            let got = !received.is_empty();
            let newest = received.len().saturating_sub(1);
            for (i, result) in received.into_iter().enumerate() {
                // Older results of the same cycle keep their events; their samples are
                // superseded by the newest.
                emit(worker, result, ts_ms, several, out, i == newest);
            }
            let bmc = [("bmc", worker.name.as_str())];
            if !got && worker.last_seen.elapsed() > stale_after {
                worker.last_error = Some(format!(
                    "no answer for {}s: BMC hung or unreachable",
                    worker.last_seen.elapsed().as_secs()
                ));
                out.push(ts_ms, UP, &bmc, 0.0);
            }
            if let Some(err) = &worker.last_error {
                degraded.push((worker.locator.clone(), err.clone()));
            }
        }
        match degraded.into_iter().next() {
            None => Ok(()),
            Some((path, message)) => Err(CollectError::Malformed { path, message }),
        }
    }
}

fn emit(
    worker: &mut Worker,
    result: PollResult,
    ts_ms: i64,
    several: bool,
    out: &mut Output,
    samples: bool,
) {
    let bmc = result.bmc.as_str();
    if samples {
        emit_samples(&result, ts_ms, several, out);
    }
    for event in result.events {
        out.event(event);
    }
    if let Some(item) = result.inventory {
        if worker.last_inventory.as_ref() != Some(&item) {
            out.inventory(item.clone());
            worker.last_inventory = Some(item);
        }
    }
    match (&worker.last_error, result.error) {
        (None, Some(err)) => {
            tracing::warn!(bmc, error = %err, "IPMI source degraded");
            worker.last_error = Some(err);
        }
        (Some(_), None) => {
            tracing::info!(bmc, "IPMI source recovered");
            worker.last_error = None;
        }
        (_, err) => worker.last_error = err,
    }
}

fn emit_samples(result: &PollResult, ts_ms: i64, several: bool, out: &mut Output) {
    let bmc = result.bmc.as_str();
    out.push(
        ts_ms,
        UP,
        &[("bmc", bmc)],
        if result.error.is_none() { 1.0 } else { 0.0 },
    );
    out.push(
        ts_ms,
        POLL_DURATION,
        &[("bmc", bmc)],
        result.duration.as_secs_f64(),
    );
    if let Some(sel) = result.sel {
        out.push(ts_ms, SEL_ENTRIES, &[("bmc", bmc)], f64::from(sel.entries));
        out.push(ts_ms, SEL_FREE, &[("bmc", bmc)], f64::from(sel.free_bytes));
    }
    if let Some(watts) = result.dcmi_watts {
        out.push(ts_ms, names::IPMI_DCMI_POWER, &[("bmc", bmc)], watts);
    }
    for (def, s) in &result.readings {
        let mut labels = vec![
            ("name", def.name.as_str()),
            ("type", def.type_name.as_str()),
        ];
        if several {
            labels.push(("bmc", bmc));
        }
        out.push(ts_ms, sensors::SENSOR_STATE, &labels, f64::from(s.state));
        for (threshold, value) in &s.thresholds {
            let mut l = labels.clone();
            l.push(("threshold", threshold));
            out.push(ts_ms, sensors::SENSOR_THRESHOLD, &l, *value);
        }
        for (state, asserted) in &s.discrete {
            let mut l = labels.clone();
            l.push(("state", state.as_str()));
            out.push(
                ts_ms,
                sensors::SENSOR_ASSERTED,
                &l,
                if *asserted { 1.0 } else { 0.0 },
            );
        }
        if let Some(value) = s.value {
            labels.push(("unit", def.unit.as_str()));
            out.push(ts_ms, sensors::SENSOR_VALUE, &labels, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::ipmi::sdr::SensorDef;
    use crate::collectors::ipmi::sensors::SensorSample;
    use std::sync::{Arc, Mutex};

    /// A BMC whose n-th poll takes `durations(n)` and reads n on its one sensor.
    struct FakeBmc {
        polls: Arc<Mutex<Vec<Instant>>>,
        durations: fn(usize) -> Duration,
    }

    impl BmcPoll for FakeBmc {
        fn name(&self) -> &str {
            "fake"
        }

        fn poll(&mut self, _now_ms: i64) -> PollResult {
            let n = {
                let mut polls = self.polls.lock().unwrap_or_else(|e| e.into_inner());
                polls.push(Instant::now());
                polls.len()
            };
            std::thread::sleep((self.durations)(n));
            let mut result = PollResult::empty("fake");
            let def = SensorDef {
                owner: 0x20,
                lun: 0,
                number: 1,
                name: "Fan".into(),
                sensor_type: 0x04,
                type_name: "Fan".into(),
                reading_type: 0x01,
                conversion: None,
                unit: "rpm".into(),
            };
            let sample = SensorSample {
                value: Some(n as f64),
                state: 0,
                thresholds: Vec::new(),
                discrete: Vec::new(),
            };
            result.readings.push((def, sample));
            result.duration = (self.durations)(n);
            result
        }
    }

    fn fake(durations: fn(usize) -> Duration) -> (IpmiCollector, Arc<Mutex<Vec<Instant>>>) {
        let config = IpmiConfig {
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(800),
            ..IpmiConfig::default()
        };
        let polls = Arc::new(Mutex::new(Vec::new()));
        let mut c = IpmiCollector::new(config, StateDir::none());
        let bmc = FakeBmc {
            polls: polls.clone(),
            durations,
        };
        c.workers = Some(c.start_pollers(vec![("fake".into(), Box::new(bmc))]));
        (c, polls)
    }

    fn fan(c: &mut IpmiCollector) -> (Option<f64>, Duration) {
        let mut out = Output::new();
        let started = Instant::now();
        let _ = c.collect(1_000, &mut out);
        (
            out.value(
                sensors::SENSOR_VALUE,
                &[("name", "Fan"), ("type", "Fan"), ("unit", "rpm")],
            ),
            started.elapsed(),
        )
    }

    fn wait_for_poll(polls: &Mutex<Vec<Instant>>, n: usize) -> Instant {
        loop {
            if let Some(at) = polls.lock().unwrap_or_else(|e| e.into_inner()).get(n - 1) {
                return *at;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_cycle_waits_for_the_poll_of_its_interval() {
        let (mut c, polls) = fake(|_| Duration::from_millis(200));
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(fan(&mut c).0, Some(1.0));
        // Collect while the second poll is in flight: its result belongs to this cycle.
        let second = wait_for_poll(&polls, 2);
        std::thread::sleep(Duration::from_millis(50).saturating_sub(second.elapsed()));
        let (value, waited) = fan(&mut c);
        assert_eq!(value, Some(2.0), "delivered in the cycle it was read in");
        assert!(waited < Duration::from_millis(600), "waited {waited:?}");
        // Nothing in flight and the current poll already delivered: no wait at all.
        let (value, waited) = fan(&mut c);
        assert_eq!(value, None);
        assert!(waited < Duration::from_millis(50), "waited {waited:?}");
    }

    #[test]
    fn a_hung_poll_is_not_waited_for() {
        let (mut c, polls) = fake(|n| {
            if n == 1 {
                Duration::from_millis(10)
            } else {
                Duration::from_secs(30)
            }
        });
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(fan(&mut c).0, Some(1.0));
        // Past the time a healthy second poll would have finished: no wait.
        let second = wait_for_poll(&polls, 2);
        std::thread::sleep(Duration::from_millis(300).saturating_sub(second.elapsed()));
        let (value, waited) = fan(&mut c);
        assert_eq!(value, None);
        assert!(
            waited < Duration::from_millis(50),
            "waited {waited:?} on a hung BMC"
        );
    }

    #[test]
    fn probe_explains_why_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = IpmiConfig {
            local_device: dir.path().join("ipmi0"),
            ..IpmiConfig::default()
        };
        let collector = IpmiCollector::new(config.clone(), StateDir::none());
        match collector.probe() {
            Availability::Unavailable(reason) => {
                assert!(reason.contains("ipmi0"), "{reason}");
                assert!(reason.contains("[[ipmi.lan]]"), "{reason}");
            }
            Availability::Available => panic!("no device, no LAN BMC"),
        }
        let disabled = IpmiCollector::new(
            IpmiConfig {
                enabled: false,
                ..config
            },
            StateDir::none(),
        );
        assert!(matches!(disabled.probe(), Availability::Unavailable(r) if r.contains("disabled")));
    }
}
