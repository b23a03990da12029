//! One BMC's poller: keeps the session (in-band device or RMCP+), the SDR cache and
//! the SEL cursor, and turns one poll into a [`PollResult`]. It runs on its own thread
//! (see `mod.rs`), so however long a BMC takes, the agent's cycle does not wait.

use super::commands::{RawThresholds, SelStamp, SensorReading, SensorThresholds};
use super::exec::{exec, BmcError};
use super::lanplus::{LanParams, LanSession};
use super::sdr::{SdrCache, SensorDef};
use super::sel::{self, SelCursor};
use super::sensors::{sample, SensorSample};
use crate::collectors::StateDir;
use harbinger_shared::{ComponentId, ComponentKind, Event, InventoryItem};
use ipmi_rs::app::GetDeviceId;
use ipmi_rs::connection::IpmiConnection;
use ipmi_rs::Ipmi;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Where a BMC is.
#[derive(Debug, Clone)]
pub enum Target {
    Local(PathBuf),
    Lan(LanParams),
}

/// What one poll found.
#[derive(Debug, Clone)]
pub struct PollResult {
    pub bmc: String,
    /// Why the poll failed (the source is then degraded); readings may still be partial.
    pub error: Option<String>,
    pub duration: Duration,
    pub readings: Vec<(SensorDef, SensorSample)>,
    pub events: Vec<Event>,
    pub inventory: Option<InventoryItem>,
    pub sel: Option<SelStamp>,
    /// The DCMI power reading in watts (external-tool backends).
    pub dcmi_watts: Option<f64>,
}

impl PollResult {
    /// A result with nothing read yet.
    pub fn empty(bmc: &str) -> Self {
        Self {
            bmc: bmc.to_owned(),
            error: None,
            duration: Duration::ZERO,
            readings: Vec::new(),
            events: Vec::new(),
            inventory: None,
            sel: None,
            dcmi_watts: None,
        }
    }
}

enum Conn {
    Local(Ipmi<ipmi_rs::File>),
    Lan(Ipmi<LanSession>),
}

/// The state kept for one BMC between polls.
pub struct Poller {
    pub name: String,
    target: Target,
    timeout: Duration,
    conn: Option<Conn>,
    sdr: SdrCache,
    cursor: Option<SelCursor>,
    state: StateDir,
}

impl Poller {
    pub fn new(name: String, target: Target, timeout: Duration, state: StateDir) -> Self {
        let cursor = state.load(&cursor_file(&name));
        Self {
            name,
            target,
            timeout,
            conn: None,
            sdr: SdrCache::default(),
            cursor,
            state,
        }
    }

    /// How many times the SDR repository has been walked.
    pub fn sdr_walks(&self) -> u64 {
        self.sdr.walks
    }

    /// Polls once; a transport failure drops the session so the next poll starts anew.
    pub fn poll(&mut self, now_ms: i64) -> PollResult {
        let started = Instant::now();
        let mut result = PollResult::empty(&self.name);
        let outcome = match self.connect() {
            Ok(mut conn) => {
                let outcome = match &mut conn {
                    Conn::Local(ipmi) => self.poll_with(ipmi, now_ms, &mut result),
                    Conn::Lan(ipmi) => self.poll_with(ipmi, now_ms, &mut result),
                };
                let keep = !matches!(&outcome, Err(err) if err.is_transport());
                if keep {
                    self.conn = Some(conn);
                }
                outcome
            }
            Err(err) => Err(err),
        };
        if let Err(err) = outcome {
            tracing::debug!(bmc = %self.name, error = %err, "IPMI poll failed");
            result.error = Some(err.to_string());
        }
        result.duration = started.elapsed();
        result
    }

    fn connect(&mut self) -> Result<Conn, BmcError> {
        if let Some(conn) = self.conn.take() {
            return Ok(conn);
        }
        let transport = |message: String| BmcError::Transport {
            bmc: self.name.clone(),
            message,
        };
        match &self.target {
            Target::Local(path) => ipmi_rs::File::new(path, self.timeout)
                .map(|file| Conn::Local(Ipmi::new(file)))
                .map_err(|err| transport(format!("cannot open {}: {err}", path.display()))),
            Target::Lan(params) => LanSession::open(params.clone())
                .map(|session| Conn::Lan(Ipmi::new(session)))
                .map_err(|err| transport(err.to_string())),
        }
    }

    fn poll_with<CON: IpmiConnection>(
        &mut self,
        ipmi: &mut Ipmi<CON>,
        now_ms: i64,
        result: &mut PollResult,
    ) -> Result<(), BmcError> {
        let bmc = self.name.clone();
        let device = exec(ipmi, &bmc, "Get Device ID", GetDeviceId)?;
        let attrs = BTreeMap::from([
            ("bmc".to_owned(), bmc.clone()),
            ("device_id".to_owned(), device.device_id.to_string()),
            (
                "device_revision".to_owned(),
                device.device_revision.to_string(),
            ),
            (
                "firmware".to_owned(),
                format!(
                    "{}.{:02}",
                    device.major_fw_revision, device.minor_fw_revision
                ),
            ),
            (
                "ipmi_version".to_owned(),
                format!("{}.{}", device.major_version, device.minor_version),
            ),
            (
                "manufacturer_id".to_owned(),
                device.manufacturer_id.to_string(),
            ),
            (
                "product_id".to_owned(),
                format!("{:#06x}", device.product_id),
            ),
        ]);
        result.inventory = Some(InventoryItem {
            component: ComponentId::new(ComponentKind::Bmc, bmc.clone()),
            attrs,
        });

        self.sdr.refresh(ipmi, &bmc)?;
        let mut first_error = None;
        for def in &self.sdr.sensors {
            if def.owner != 0x20 || def.lun != 0 {
                // Sensors behind satellite controllers need IPMB bridging; not yet.
                continue;
            }
            let reading = match exec(ipmi, &bmc, "Get Sensor Reading", SensorReading(def.number)) {
                Ok(reading) => reading,
                Err(err) if err.is_transport() => return Err(err),
                Err(err) => {
                    tracing::debug!(bmc, sensor = %def.name, error = %err, "no reading");
                    continue;
                }
            };
            let thresholds: Option<RawThresholds> =
                if def.is_threshold() && def.conversion.is_some() {
                    match exec(
                        ipmi,
                        &bmc,
                        "Get Sensor Thresholds",
                        SensorThresholds(def.number),
                    ) {
                        Ok(t) => Some(t),
                        Err(err) if err.is_transport() => return Err(err),
                        Err(err) => {
                            first_error.get_or_insert(err);
                            None
                        }
                    }
                } else {
                    None
                };
            if let Some(s) = sample(def, &reading, thresholds.as_ref()) {
                result.readings.push((def.clone(), s));
            }
        }
        if let Some(err) = first_error {
            tracing::debug!(bmc, error = %err, "some thresholds unreadable");
        }

        let (fresh, cursor, info) = sel::read_new(ipmi, &bmc, self.cursor.as_ref())?;
        result.sel = Some(info);
        for raw in &fresh {
            result
                .events
                .push(sel::to_event(raw, &self.sdr, &bmc, now_ms));
        }
        if self.cursor.as_ref() != Some(&cursor) {
            if let Err(err) = self.state.store(&cursor_file(&bmc), &cursor) {
                // The events are still sent; a restart may repeat them, never lose them.
                tracing::warn!(bmc, error = %err, "cannot persist the SEL cursor");
            }
            self.cursor = Some(cursor);
        }
        Ok(())
    }
}

impl super::BmcPoll for Poller {
    fn name(&self) -> &str {
        &self.name
    }

    fn poll(&mut self, now_ms: i64) -> PollResult {
        Poller::poll(self, now_ms)
    }
}

/// The state file holding one BMC's SEL cursor.
pub fn cursor_file(bmc: &str) -> String {
    let safe: String = bmc
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("ipmi-sel-{safe}.json")
}
