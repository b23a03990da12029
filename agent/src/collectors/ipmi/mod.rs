//! The IPMI source: sensors, thresholds, discrete states and the SEL of the local BMC
//! (`/dev/ipmi0`) and of BMCs reached over RMCP+.
//!
//! Each BMC is polled on its own thread at `ipmi.interval`; `collect` only drains what
//! the threads have finished, so a hung BMC (bounded per request by `ipmi.timeout` ×
//! `ipmi.retries`) degrades this source without ever delaying the agent's cycle.
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

use super::{Availability, CollectError, Collector, StateDir};
use crate::output::Output;
use bmc::{PollResult, Poller, Target};
use config::IpmiConfig;
use harbinger_shared::InventoryItem;
use lanplus::LanParams;
use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::time::{Duration, Instant};

pub const UP: &str = "ipmi_up";
pub const POLL_DURATION: &str = "ipmi_poll_duration_seconds";
pub const SEL_ENTRIES: &str = "ipmi_sel_entries";
pub const SEL_FREE: &str = "ipmi_sel_free_bytes";

/// The IPMI collector.
pub struct IpmiCollector {
    config: IpmiConfig,
    state: StateDir,
    workers: Option<Vec<Worker>>,
}

struct Worker {
    name: String,
    locator: PathBuf,
    results: Receiver<PollResult>,
    /// Dropping it stops the thread at its next wait.
    _stop: SyncSender<()>,
    /// When the last result arrived (or the thread started).
    last_seen: Instant,
    last_error: Option<String>,
    last_inventory: Option<InventoryItem>,
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

    fn targets(&self) -> Vec<(String, PathBuf, Target)> {
        let mut targets = Vec::new();
        if self.local_present() {
            targets.push((
                "local".to_owned(),
                self.config.local_device.clone(),
                Target::Local(self.config.local_device.clone()),
            ));
        }
        for lan in &self.config.lan {
            let name = lan.name();
            let locator = PathBuf::from(format!("lanplus://{name}"));
            // Resolved per start; an unresolvable name becomes a worker that reports it.
            let addr = (lan.host.as_str(), lan.port)
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next());
            let Some(addr) = addr else {
                tracing::warn!(bmc = %name, "cannot resolve BMC address");
                continue;
            };
            targets.push((
                name,
                locator,
                Target::Lan(LanParams {
                    addr,
                    username: lan.username.clone(),
                    password: lan.password.clone(),
                    privilege: lan.privilege.level(),
                    timeout: self.config.timeout,
                    retries: self.config.retries,
                }),
            ));
        }
        targets
    }

    fn start(&self) -> Vec<Worker> {
        let mut workers = Vec::new();
        for (name, locator, target) in self.targets() {
            let (tx, rx) = mpsc::sync_channel(4);
            let (stop_tx, stop_rx) = mpsc::sync_channel::<()>(0);
            let mut poller = Poller::new(
                name.clone(),
                target,
                self.config.timeout,
                self.state.clone(),
            );
            let interval = self.config.interval;
            let spawned = std::thread::Builder::new()
                .name(format!("ipmi {name}"))
                .spawn(move || run_worker(&mut poller, interval, &tx, &stop_rx));
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
                last_error: None,
                last_inventory: None,
            });
        }
        workers
    }

    /// How long a worker may stay silent before it counts as hung: one interval plus
    /// the longest a poll's first request can take.
    fn stale_after(&self) -> Duration {
        self.config.interval * 2 + self.config.timeout * (self.config.retries + 1)
    }
}

fn run_worker(
    poller: &mut Poller,
    interval: Duration,
    tx: &SyncSender<PollResult>,
    stop: &Receiver<()>,
) {
    loop {
        let started = Instant::now();
        let result = poller.poll(crate::scheduler::now_ms());
        // A full channel means nobody is draining (the agent is stopping): drop it.
        if tx.try_send(result).is_err() && started.elapsed() > interval {
            tracing::debug!(bmc = %poller.name, "IPMI result dropped");
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
        if self.local_present() || !self.config.lan.is_empty() {
            return Availability::Available;
        }
        Availability::Unavailable(format!(
            "no in-band device {} (load the ipmi_si and ipmi_devintf kernel modules on a host with a BMC) and no [[ipmi.lan]] BMC configured",
            self.config.local_device.display()
        ))
    }

    fn collect(&mut self, ts_ms: i64, out: &mut Output) -> Result<(), CollectError> {
        let first = self.workers.is_none();
        if first {
            self.workers = Some(self.start());
        }
        let stale_after = self.stale_after();
        // On the very first cycle only, give the BMCs one request timeout to answer, so
        // a one-shot collection has data; afterwards never wait.
        let grace = if first {
            self.config.timeout * 2
        } else {
            Duration::ZERO
        };
        let deadline = Instant::now() + grace;
        let Some(workers) = self.workers.as_mut() else {
            return Ok(());
        };
        let several = workers.len() > 1;
        let mut degraded = Vec::new();
        for worker in workers.iter_mut() {
            let mut got = false;
            loop {
                let next = if got {
                    worker
                        .results
                        .try_recv()
                        .map_err(|e| e == TryRecvError::Disconnected)
                } else {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        worker
                            .results
                            .try_recv()
                            .map_err(|e| e == TryRecvError::Disconnected)
                    } else {
                        worker
                            .results
                            .recv_timeout(left)
                            .map_err(|e| e == RecvTimeoutError::Disconnected)
                    }
                };
                match next {
                    Ok(result) => {
                        got = true;
                        worker.last_seen = Instant::now();
                        emit(worker, result, ts_ms, several, out);
                    }
                    Err(true) => {
                        worker.last_error = Some("IPMI thread stopped".into());
                        break;
                    }
                    Err(false) => break,
                }
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

fn emit(worker: &mut Worker, result: PollResult, ts_ms: i64, several: bool, out: &mut Output) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
