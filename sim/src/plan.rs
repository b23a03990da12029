//! Planning a run: the fleet's layout, every injected fault and every piece of planned work.
//!
//! Planning happens once, before the first batch, from the seed alone: it yields one
//! [`HostPlan`] per host (what the host contains and what will happen to it) and the
//! [`GroundTruth`]. Each host and rack draws from its own random stream, so adding a
//! host does not reshuffle the others.

use crate::hardware::{self, DriveKind, DriveModel, HardwareModel};
use crate::load::{LoadProfile, Role};
use crate::rng::{self, Rng};
use crate::spec::FleetSpec;
use crate::trajectory::{self, CoolingEpisode};
use crate::truth::{
    Decoy, DecoyKind, GroundTruth, HostInfo, Outcome, OutcomeKind, Pace, PlannedKind, PlannedWork,
};
use harbinger_shared::{ComponentId, ComponentKind};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// Random stream identifiers.
const STREAM_HOST: u64 = 1;
const STREAM_RACK: u64 = 2;
const STREAM_ID: u64 = 3;

/// Sites and their UTC offsets in minutes; local time drives the load cycles.
const SITES: [(&str, i64); 6] = [
    ("fra1", 60),
    ("ams1", 60),
    ("iad1", -300),
    ("sfo1", -480),
    ("sin1", 480),
    ("syd1", 600),
];

/// The UTC offset of a site the planner names, in ms (0 for unknown sites).
pub fn site_offset_ms(site: &str) -> i64 {
    SITES
        .iter()
        .find(|(name, _)| *name == site)
        .map_or(0, |(_, minutes)| minutes * 60_000)
}

/// Nominal inlet temperature of a healthy rack and the IPMI inlet thresholds.
pub const RACK_INLET_C: f64 = 22.0;
pub const INLET_WARNING_C: f64 = 32.0;
pub const INLET_CRITICAL_C: f64 = 38.0;

/// The run's time grid.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub start: i64,
    pub end: i64,
    pub interval: i64,
    pub steps: u64,
    pub smart_every: u64,
}

impl Clock {
    pub fn new(spec: &FleetSpec) -> Self {
        Self {
            start: spec.aligned_start_ms(),
            end: spec.end_ms(),
            interval: spec.interval_ms as i64,
            steps: spec.intervals(),
            smart_every: u64::from(spec.smart_every),
        }
    }

    /// The timestamp of step `k` on a host with this phase.
    pub fn ts(&self, k: u64, phase: i64) -> i64 {
        self.start + k as i64 * self.interval + phase
    }

    /// The first step whose timestamp is at or after `t`.
    pub fn step_at_or_after(&self, t: i64, phase: i64) -> u64 {
        let offset = t - self.start - phase;
        if offset <= 0 {
            0
        } else {
            (offset + self.interval - 1).div_euclid(self.interval) as u64
        }
    }

    pub fn is_smart_step(&self, k: u64) -> bool {
        k % self.smart_every == 0
    }

    /// The first SMART step at or after step `k`.
    pub fn smart_step_at_or_after(&self, k: u64) -> u64 {
        k.div_ceil(self.smart_every) * self.smart_every
    }

    fn span(&self) -> i64 {
        self.end - self.start
    }

    /// A point at fraction `f` of the run, whole seconds.
    fn at(&self, f: f64) -> i64 {
        let t = self.start + (self.span() as f64 * f) as i64;
        t - t.rem_euclid(1_000)
    }
}

/// What is in a drive bay and what happens to it.
#[derive(Debug, Clone)]
pub struct DiskPlan {
    pub drive: &'static DriveModel,
    /// Kernel name: `sda`, `nvme0n1`…
    pub device: String,
    pub serial: String,
    pub fate: DiskFate,
    /// A dead disk is swapped for a new one (new serial) at this time.
    pub replacement: Option<(i64, String)>,
    pub power_on_hours: u64,
    /// NVMe endurance used at the start of the run.
    pub nvme_used: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DiskFate {
    Healthy,
    StableReallocated { at: i64 },
    Degrading { onset: i64, fail: i64 },
    Sudden { fail: i64 },
    NvmeWearout { onset: i64, fail: i64 },
}

impl DiskFate {
    /// When the disk dies and disappears, if it does.
    pub fn death(&self) -> Option<i64> {
        match *self {
            DiskFate::Degrading { fail, .. } | DiskFate::Sudden { fail } => Some(fail),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct DimmPlan {
    pub controller: usize,
    pub slot: usize,
    pub label: String,
    pub serial: String,
    /// Correctable-error bursts `(ts, count)`, in time order.
    pub bursts: Vec<(i64, u64)>,
    /// The uncorrectable error ending the fault.
    pub uncorrectable_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct FanPlan {
    /// 1-based, as the chip numbers them.
    pub number: usize,
    /// Manufacturing spread around the model's nominal speed.
    pub spread: f64,
    pub wear: Option<(i64, i64)>,
    /// A failed fan is replaced at this time.
    pub replaced_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct PsuPlan {
    pub number: usize,
    pub serial: String,
    pub fault: Option<PsuFault>,
}

#[derive(Debug, Clone, Copy)]
pub struct PsuFault {
    pub ripple_from: Option<i64>,
    pub fail: i64,
    pub replaced_at: Option<i64>,
}

impl PsuPlan {
    /// Whether the supply is delivering power at `t`.
    pub fn ok_at(&self, t: i64) -> bool {
        match self.fault {
            Some(f) => t < f.fail || f.replaced_at.is_some_and(|r| t >= r),
            None => true,
        }
    }
}

/// What a firmware update changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirmwareChange {
    Bios,
    Bmc,
    /// Drive firmware of the disk in this bay.
    Disk(usize),
}

/// A reboot: the host is down in `[down_at, up_at)`.
#[derive(Debug, Clone, Copy)]
pub struct Reboot {
    pub down_at: i64,
    pub up_at: i64,
    pub planned: bool,
    pub firmware: Option<FirmwareChange>,
}

/// Everything about one host, fixed before generation starts.
#[derive(Debug, Clone)]
pub struct HostPlan {
    pub index: usize,
    pub host_id: String,
    pub hostname: String,
    pub site: String,
    pub rack: String,
    pub tz_offset_ms: i64,
    pub model: &'static HardwareModel,
    pub load: LoadProfile,
    pub phase_ms: i64,
    /// This host's inlet offset from the rack's nominal inlet (position in the rack).
    pub inlet_offset_c: f64,
    /// `/data` fill rate, fraction per day.
    pub data_fill_per_day: f64,
    pub disks: Vec<DiskPlan>,
    pub dimms: Vec<DimmPlan>,
    pub fans: Vec<FanPlan>,
    pub psus: Vec<PsuPlan>,
    /// In time order.
    pub reboots: Vec<Reboot>,
    pub cooling: Vec<CoolingEpisode>,
    pub lost_at: Option<i64>,
    /// The host's first boot, before the run.
    pub boot_ms: i64,
}

/// Plans the whole run.
pub fn plan(spec: &FleetSpec, clock: &Clock) -> (Vec<HostPlan>, GroundTruth) {
    let models: Vec<&'static HardwareModel> = if spec.hardware_models.is_empty() {
        hardware::MODELS.iter().collect()
    } else {
        spec.hardware_models
            .iter()
            .filter_map(|name| hardware::find(name))
            .collect()
    };
    let mut truth = GroundTruth {
        seed: spec.seed,
        start_ms: clock.start,
        end_ms: clock.end,
        interval_ms: spec.interval_ms,
        hosts: Vec::with_capacity(spec.hosts),
        outcomes: Vec::new(),
        planned: Vec::new(),
        decoys: Vec::new(),
    };

    let racks: Vec<RackPlan> = (0..spec.racks)
        .map(|r| plan_rack(spec, clock, r, &mut truth))
        .collect();

    let mut hosts = Vec::with_capacity(spec.hosts);
    for index in 0..spec.hosts {
        let rack = &racks[index % spec.racks];
        // Hardware is bought per rack, so a rack mostly holds one model: peers share a rack.
        let model = models[(index % spec.racks + index / (spec.racks * 8)) % models.len()];
        let host = plan_host(spec, clock, index, rack, model, &mut truth);
        truth.hosts.push(HostInfo {
            host_id: host.host_id.clone(),
            hostname: host.hostname.clone(),
            site: host.site.clone(),
            rack: host.rack.clone(),
            hardware_model: model.name.to_owned(),
            role: host.load.role.as_str().to_owned(),
        });
        hosts.push(host);
    }
    truth.outcomes.sort_by(|a, b| {
        (a.failure_ts, &a.host_id, &a.component).cmp(&(b.failure_ts, &b.host_id, &b.component))
    });
    truth
        .planned
        .sort_by(|a, b| (a.start_ts, &a.host_id, a.kind).cmp(&(b.start_ts, &b.host_id, b.kind)));
    truth
        .decoys
        .sort_by(|a, b| (a.ts, &a.host_id).cmp(&(b.ts, &b.host_id)));
    (hosts, truth)
}

struct RackPlan {
    site: String,
    tz_offset_ms: i64,
    name: String,
    cooling: Vec<CoolingEpisode>,
}

fn plan_rack(spec: &FleetSpec, clock: &Clock, r: usize, truth: &mut GroundTruth) -> RackPlan {
    let mut rng = Rng::derive(spec.seed, STREAM_RACK, r as u64);
    let site_index = r % spec.sites;
    let (site, tz) = match SITES.get(site_index) {
        Some((name, offset)) => ((*name).to_owned(), *offset),
        None => (format!("site{site_index}"), 0),
    };
    let name = format!("{site}-r{:02}", r / spec.sites + 1);
    let mut cooling = Vec::new();
    if rng.chance(spec.failures.cooling_loss) && clock.span() >= 12 * HOUR_MS {
        let start = clock.at(rng.range(0.2, 0.85));
        // Enough rise to cross the critical inlet threshold within the ramp.
        let delta_c = INLET_CRITICAL_C - RACK_INLET_C + rng.range(1.5, 5.0);
        let episode = CoolingEpisode {
            start,
            ramp_ms: rng.int(HOUR_MS, 3 * HOUR_MS),
            hold_ms: rng.int(2 * HOUR_MS, 5 * HOUR_MS),
            recover_ms: HOUR_MS,
            delta_c,
        };
        let critical_at = episode.reaches(INLET_CRITICAL_C - RACK_INLET_C);
        if let Some(failure_ts) = critical_at.filter(|t| *t < clock.end) {
            truth.outcomes.push(Outcome {
                host_id: None,
                site: site.clone(),
                rack: name.clone(),
                component: None,
                kind: OutcomeKind::CoolingLoss,
                pace: Pace::Fast,
                failure_ts,
                first_precursor_ts: episode.reaches(2.0),
                predictable: true,
                description: format!(
                    "rack {name} loses cooling: inlet rises {delta_c:.1} °C over {} min and crosses {INLET_CRITICAL_C} °C",
                    episode.ramp_ms / 60_000
                ),
            });
        }
        cooling.push(episode);
    }
    RackPlan {
        site,
        tz_offset_ms: tz * 60_000,
        name,
        cooling,
    }
}

fn hex_id(seed: u64, index: usize, salt: u64) -> String {
    format!(
        "{:016x}{:016x}",
        rng::hash(&[seed, STREAM_ID, index as u64, salt]),
        rng::hash(&[seed, STREAM_ID, index as u64, salt + 1])
    )
}

fn serial(prefix: &str, seed: u64, words: &[u64]) -> String {
    let mut all = vec![seed, 0x5e71a1];
    all.extend_from_slice(words);
    format!("{prefix}{:010X}", rng::hash(&all) & 0xff_ffff_ffff)
}

fn drive_prefix(kind: DriveKind) -> &'static str {
    match kind {
        DriveKind::Hdd => "ZL",
        DriveKind::SataSsd => "S4",
        DriveKind::Nvme => "PHA",
    }
}

fn plan_host(
    spec: &FleetSpec,
    clock: &Clock,
    index: usize,
    rack: &RackPlan,
    model: &'static HardwareModel,
    truth: &mut GroundTruth,
) -> HostPlan {
    let mut rng = Rng::derive(spec.seed, STREAM_HOST, index as u64);
    let host_id = hex_id(spec.seed, index, 0);
    let role = if model
        .drives
        .iter()
        .filter(|d| d.kind == DriveKind::Hdd)
        .count()
        >= 6
    {
        Role::Storage
    } else {
        [Role::Web, Role::Web, Role::Db, Role::Batch][rng.index(4)]
    };
    let hostname = format!("{}-{}-{:04}", role.as_str(), rack.site, index + 1);
    let load = LoadProfile::new(role, rng::hash(&[spec.seed, index as u64, 0x10ad]));
    // The same per-host phase function as the agent (FNV-1a of the host id).
    let phase_ms = (rng::fnv1a(host_id.as_bytes()) % spec.interval_ms) as i64;

    let mut ata = 0usize;
    let mut nvme = 0usize;
    let mut disks: Vec<DiskPlan> = model
        .drives
        .iter()
        .enumerate()
        .map(|(bay, drive)| {
            let device = if drive.kind == DriveKind::Nvme {
                nvme += 1;
                format!("nvme{}n1", nvme - 1)
            } else {
                ata += 1;
                format!("sd{}", (b'a' + (ata - 1) as u8) as char)
            };
            DiskPlan {
                drive,
                device,
                serial: serial(
                    drive_prefix(drive.kind),
                    spec.seed,
                    &[index as u64, bay as u64],
                ),
                fate: DiskFate::Healthy,
                replacement: None,
                power_on_hours: rng.int(2_000, 40_000) as u64,
                nvme_used: rng.range(0.01, 0.35),
            }
        })
        .collect();
    let mut dimms: Vec<DimmPlan> = (0..model.sockets)
        .flat_map(|s| (0..model.dimms_per_socket).map(move |d| (s, d)))
        .map(|(socket, slot)| DimmPlan {
            controller: socket,
            slot,
            label: model.dimm_label(socket, slot),
            serial: serial(
                "",
                spec.seed,
                &[index as u64, 0xd1, (socket * 32 + slot) as u64],
            ),
            bursts: Vec::new(),
            uncorrectable_at: None,
        })
        .collect();
    let mut fans: Vec<FanPlan> = (1..=model.fans)
        .map(|number| FanPlan {
            number,
            spread: rng.range(0.97, 1.03),
            wear: None,
            replaced_at: None,
        })
        .collect();
    let mut psus: Vec<PsuPlan> = (1..=model.psus)
        .map(|number| PsuPlan {
            number,
            serial: serial("CN", spec.seed, &[index as u64, 0x95, number as u64]),
            fault: None,
        })
        .collect();

    let mut ctx = HostCtx {
        clock,
        host_id: &host_id,
        hostname: &hostname,
        site: &rack.site,
        rack: &rack.name,
        phase: phase_ms,
        truth,
    };
    let rates = &spec.failures;
    let mut reboots = Vec::new();

    if rng.chance(rates.disk_degrading) {
        if let Some(bay) = pick_disk(&mut rng, &disks, |d| d.drive.kind != DriveKind::Nvme) {
            let fail = clock.at(rng.range(0.35, 0.95));
            let onset = lead_onset(&mut rng, clock, fail, 3 * DAY_MS, 21 * DAY_MS);
            disks[bay].fate = DiskFate::Degrading { onset, fail };
            ctx.disk_failure(&disks[bay], fail, Pace::Slow, &mut rng);
        }
    }
    if rng.chance(rates.disk_sudden) {
        if let Some(bay) = pick_disk(&mut rng, &disks, |_| true) {
            let fail = clock.at(rng.range(0.2, 0.95));
            disks[bay].fate = DiskFate::Sudden { fail };
            ctx.disk_failure(&disks[bay], fail, Pace::Sudden, &mut rng);
        }
    }
    if rng.chance(rates.nvme_wearout) {
        if let Some(bay) = pick_disk(&mut rng, &disks, |d| d.drive.kind == DriveKind::Nvme) {
            let fail = clock.at(rng.range(0.4, 0.95));
            let onset = lead_onset(&mut rng, clock, fail, 7 * DAY_MS, 45 * DAY_MS);
            disks[bay].fate = DiskFate::NvmeWearout { onset, fail };
            disks[bay].nvme_used = rng.range(0.85, 0.95);
            ctx.nvme_wearout(&disks[bay], onset, fail);
        }
    }
    if rng.chance(rates.stable_reallocated) {
        if let Some(bay) = pick_disk(&mut rng, &disks, |d| d.drive.kind != DriveKind::Nvme) {
            // Often already there when the run starts; either way it never grows.
            let at = if rng.chance(0.5) {
                clock.start - DAY_MS
            } else {
                clock.at(rng.range(0.1, 0.9))
            };
            disks[bay].fate = DiskFate::StableReallocated { at };
            let component = ComponentId::new(ComponentKind::Disk, disks[bay].serial.clone());
            ctx.truth.decoys.push(Decoy {
                host_id: host_id.clone(),
                component,
                kind: DecoyKind::StableReallocatedSector,
                ts: at.max(clock.start),
                description: format!(
                    "{} ({}) gains one reallocated sector and never fails",
                    disks[bay].device, disks[bay].serial
                ),
            });
        }
    }
    if rng.chance(rates.dimm_uncorrectable) {
        let d = rng.index(dimms.len());
        let ue = clock.at(rng.range(0.35, 0.95));
        let onset = lead_onset(&mut rng, clock, ue, DAY_MS, 14 * DAY_MS);
        dimms[d].bursts = clustered_bursts(&mut rng, onset, ue);
        dimms[d].uncorrectable_at = Some(ue);
        let down_at = ue + 20_000;
        reboots.push(Reboot {
            down_at,
            up_at: down_at + rng.int(3, 7) * 60_000,
            planned: false,
            firmware: None,
        });
        ctx.dimm(&dimms[d], onset, ue);
    }
    if rng.chance(rates.isolated_correctable) {
        let d = rng.index(dimms.len());
        if dimms[d].bursts.is_empty() {
            let at = clock.at(rng.range(0.1, 0.9));
            dimms[d].bursts.push((at, 1));
            ctx.truth.decoys.push(Decoy {
                host_id: host_id.clone(),
                component: ComponentId::new(ComponentKind::Dimm, dimms[d].label.clone()),
                kind: DecoyKind::IsolatedCorrectableError,
                ts: at,
                description: format!(
                    "one correctable error on {}, never repeated",
                    dimms[d].label
                ),
            });
        }
    }
    if rng.chance(rates.fan_failure) {
        let f = rng.index(fans.len());
        let fail = clock.at(rng.range(0.4, 0.95));
        let onset = lead_onset(&mut rng, clock, fail, 5 * DAY_MS, 30 * DAY_MS);
        fans[f].wear = Some((onset, fail));
        fans[f].replaced_at = Some(fail + rng.int(DAY_MS, 2 * DAY_MS));
        ctx.fan(model, &fans[f], onset, fail);
    }
    if rng.chance(rates.psu_failure) {
        let p = rng.index(psus.len());
        let fail = clock.at(rng.range(0.3, 0.95));
        // Most failing supplies show rail ripple for hours to days; some just drop out.
        let ripple_from = rng
            .chance(0.7)
            .then(|| lead_onset(&mut rng, clock, fail, 6 * HOUR_MS, 3 * DAY_MS));
        let fault = PsuFault {
            ripple_from,
            fail,
            replaced_at: Some(fail + rng.int(DAY_MS, 3 * DAY_MS)),
        };
        psus[p].fault = Some(fault);
        ctx.psu(&psus[p], fault);
    }
    let lost_at = rng.chance(rates.host_lost).then(|| {
        let at = clock.at(rng.range(0.3, 0.95));
        ctx.truth.outcomes.push(Outcome {
            host_id: Some(host_id.clone()),
            site: rack.site.clone(),
            rack: rack.name.clone(),
            component: Some(ComponentId::new(ComponentKind::Host, host_id.clone())),
            kind: OutcomeKind::HostLost,
            pace: Pace::Sudden,
            failure_ts: at,
            first_precursor_ts: None,
            predictable: false,
            description: format!("{hostname} stops responding and never comes back"),
        });
        at
    });
    if rng.chance(spec.planned.maintenance) && clock.span() >= 6 * HOUR_MS {
        let start = clock.at(rng.range(0.1, 0.9));
        let end = start + rng.int(60, 180) * 60_000;
        let down_at = start + rng.int(10, 40) * 60_000;
        let up_at = down_at + rng.int(3, 8) * 60_000;
        let firmware = rng
            .chance(spec.planned.firmware_update)
            .then(|| match rng.index(3) {
                0 => FirmwareChange::Bios,
                1 => FirmwareChange::Bmc,
                _ => FirmwareChange::Disk(rng.index(disks.len())),
            });
        reboots.push(Reboot {
            down_at,
            up_at,
            planned: true,
            firmware,
        });
        ctx.maintenance(start, end, down_at, up_at, firmware, model, &disks);
    }
    reboots.sort_by_key(|r| r.down_at);
    // Overlapping downtimes (a UE during a maintenance reboot) would make boot order
    // ambiguous; the later one is dropped, which keeps the data self-consistent.
    let mut kept: Vec<Reboot> = Vec::with_capacity(reboots.len());
    for r in reboots {
        if kept.last().is_none_or(|last| r.down_at >= last.up_at) {
            kept.push(r);
        }
    }

    for disk in &mut disks {
        if let Some(fail) = disk.fate.death() {
            let at = fail + rng.int(DAY_MS, 3 * DAY_MS);
            let new_serial = serial(
                drive_prefix(disk.drive.kind),
                spec.seed,
                &[index as u64, 0xeb1ace, fail as u64],
            );
            disk.replacement = Some((at, new_serial));
        }
    }

    HostPlan {
        index,
        host_id,
        hostname,
        site: rack.site.clone(),
        rack: rack.name.clone(),
        tz_offset_ms: rack.tz_offset_ms,
        model,
        load,
        phase_ms,
        inlet_offset_c: rng.range(-1.5, 2.5),
        data_fill_per_day: rng.range(0.0005, 0.006),
        disks,
        dimms,
        fans,
        psus,
        reboots: kept,
        cooling: rack.cooling.clone(),
        lost_at,
        boot_ms: clock.start - rng.int(DAY_MS, 200 * DAY_MS),
    }
}

fn pick_disk(rng: &mut Rng, disks: &[DiskPlan], fits: impl Fn(&DiskPlan) -> bool) -> Option<usize> {
    let candidates: Vec<usize> = (0..disks.len())
        .filter(|&i| disks[i].fate == DiskFate::Healthy && fits(&disks[i]))
        .collect();
    (!candidates.is_empty()).then(|| candidates[rng.index(candidates.len())])
}

/// An onset `lo..hi` before `fail`, but never before a tenth of the run has passed, so
/// detectors have some healthy history to learn from.
fn lead_onset(rng: &mut Rng, clock: &Clock, fail: i64, lo: i64, hi: i64) -> i64 {
    let earliest = clock.at(0.1);
    let onset = fail - rng.int(lo, hi);
    let onset = onset.max(earliest).min(fail - 60_000);
    onset - onset.rem_euclid(1_000)
}

/// Correctable-error bursts that accelerate towards the uncorrectable error: "in more
/// than 85 % of cases a correctable error is followed by another in the same month"
/// (Schroeder et al. 2009), and errors cluster on a faulty DIMM.
fn clustered_bursts(rng: &mut Rng, onset: i64, ue: i64) -> Vec<(i64, u64)> {
    let mut bursts = vec![(onset, 1 + rng.int(0, 3) as u64)];
    let span = (ue - onset).max(1) as f64;
    let mut t = onset;
    loop {
        let u = (t - onset) as f64 / span;
        let mean_gap = span / 6.0 * (1.0 - 0.9 * u).max(0.05);
        t += rng.exp(mean_gap).max(1_000.0) as i64;
        t -= t.rem_euclid(1_000);
        if t >= ue || bursts.len() >= 400 {
            break;
        }
        let u = (t - onset) as f64 / span;
        let count = 1 + rng.int(0, 2 + (30.0 * u * u) as i64) as u64;
        bursts.push((t, count));
    }
    bursts
}

/// Writes outcomes and planned work for one host into the ground truth.
struct HostCtx<'a> {
    clock: &'a Clock,
    host_id: &'a str,
    hostname: &'a str,
    site: &'a str,
    rack: &'a str,
    phase: i64,
    truth: &'a mut GroundTruth,
}

impl HostCtx<'_> {
    fn outcome(
        &mut self,
        component: ComponentId,
        kind: OutcomeKind,
        pace: Pace,
        failure_ts: i64,
        first_precursor_ts: Option<i64>,
        description: String,
    ) {
        let first_precursor_ts = first_precursor_ts.filter(|t| *t < failure_ts);
        self.truth.outcomes.push(Outcome {
            host_id: Some(self.host_id.to_owned()),
            site: self.site.to_owned(),
            rack: self.rack.to_owned(),
            component: Some(component),
            kind,
            pace,
            failure_ts,
            first_precursor_ts,
            predictable: first_precursor_ts.is_some(),
            description,
        });
    }

    /// The first SMART sample at or after `from` for which `shows` holds, before `until`.
    fn first_smart_sample(
        &self,
        from: i64,
        until: i64,
        shows: impl Fn(i64) -> bool,
    ) -> Option<i64> {
        let mut k = self
            .clock
            .smart_step_at_or_after(self.clock.step_at_or_after(from, self.phase));
        while k < self.clock.steps {
            let ts = self.clock.ts(k, self.phase);
            if ts >= until {
                return None;
            }
            if shows(ts) {
                return Some(ts);
            }
            k += self.clock.smart_every;
        }
        None
    }

    /// The first base-interval sample at or after `from`, before `until`.
    fn first_sample(&self, from: i64, until: i64) -> Option<i64> {
        let k = self.clock.step_at_or_after(from, self.phase);
        let ts = self.clock.ts(k, self.phase);
        (k < self.clock.steps && ts < until).then_some(ts)
    }

    fn disk_failure(&mut self, disk: &DiskPlan, fail: i64, pace: Pace, rng: &mut Rng) {
        let _ = rng;
        let component = ComponentId::new(ComponentKind::Disk, disk.serial.clone());
        let (first, how) = match disk.fate {
            DiskFate::Degrading { onset, fail } => (
                self.first_smart_sample(onset, fail, |t| {
                    trajectory::degrading_disk(onset, fail, t).pending > 0
                }),
                "degrades (pending → reallocated → uncorrectable → I/O errors) and dies",
            ),
            _ => (None, "dies without warning"),
        };
        let description = format!(
            "{} {} ({}, {}) on {} {how}",
            disk.drive.model, disk.device, disk.serial, disk.drive.firmware[0], self.hostname
        );
        self.outcome(
            component,
            OutcomeKind::DiskFailure,
            pace,
            fail,
            first,
            description,
        );
    }

    fn nvme_wearout(&mut self, disk: &DiskPlan, onset: i64, fail: i64) {
        let component = ComponentId::new(ComponentKind::Disk, disk.serial.clone());
        let start = self.clock.start;
        let used0 = disk.nvme_used;
        let first = self.first_smart_sample(onset, fail, |t| {
            trajectory::nvme(used0, Some((onset, fail)), start, t).available_spare < 1.0
        });
        let description = format!(
            "{} {} ({}) on {} wears out: available spare falls below {:.0} %",
            disk.drive.model,
            disk.device,
            disk.serial,
            self.hostname,
            trajectory::NVME_SPARE_THRESHOLD * 100.0
        );
        self.outcome(
            component,
            OutcomeKind::NvmeWearout,
            Pace::Slow,
            fail,
            first,
            description,
        );
    }

    fn dimm(&mut self, dimm: &DimmPlan, onset: i64, ue: i64) {
        let component = ComponentId::new(ComponentKind::Dimm, dimm.label.clone());
        let description = format!(
            "{} on {}: {} correctable-error bursts, then an uncorrectable error and a crash",
            dimm.label,
            self.hostname,
            dimm.bursts.len()
        );
        // The first burst is logged as an event at its own time.
        self.outcome(
            component,
            OutcomeKind::DimmUncorrectable,
            Pace::Slow,
            ue,
            Some(onset),
            description,
        );
    }

    fn fan(&mut self, model: &HardwareModel, fan: &FanPlan, onset: i64, fail: i64) {
        let component = ComponentId::new(ComponentKind::Fan, format!("FAN{}", fan.number));
        // Observable once the fan turns 10 % slower than its peers at the same PWM.
        let u10 = (0.10 / trajectory::FAN_DECAY).powf(1.0 / 1.5);
        let from = onset + ((fail - onset) as f64 * u10).ceil() as i64;
        let first = self.first_sample(from, fail);
        let description = format!(
            "FAN{} on {} ({}) wears: RPM at constant PWM decays until it stops",
            fan.number, self.hostname, model.name
        );
        self.outcome(
            component,
            OutcomeKind::FanFailure,
            Pace::Slow,
            fail,
            first,
            description,
        );
    }

    fn psu(&mut self, psu: &PsuPlan, fault: PsuFault) {
        let component = ComponentId::new(ComponentKind::Psu, format!("PS{}", psu.number));
        let first = fault
            .ripple_from
            .and_then(|from| self.first_sample(from + (fault.fail - from) / 10, fault.fail));
        let (pace, how) = match first {
            Some(_) => (Pace::Fast, "shows 12 V ripple, then fails"),
            None => (Pace::Sudden, "fails without warning"),
        };
        let description = format!(
            "PS{} ({}) on {} {how}; redundancy lost",
            psu.number, psu.serial, self.hostname
        );
        self.outcome(
            component,
            OutcomeKind::PsuFailure,
            pace,
            fault.fail,
            first,
            description,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn maintenance(
        &mut self,
        start: i64,
        end: i64,
        down_at: i64,
        up_at: i64,
        firmware: Option<FirmwareChange>,
        model: &HardwareModel,
        disks: &[DiskPlan],
    ) {
        let host_id = self.host_id.to_owned();
        let mut push = |kind, start_ts, end_ts, description: String| {
            self.truth.planned.push(PlannedWork {
                host_id: host_id.clone(),
                kind,
                start_ts,
                end_ts,
                description,
            });
        };
        push(
            PlannedKind::MaintenanceWindow,
            start,
            end,
            format!("maintenance on {}", self.hostname),
        );
        push(
            PlannedKind::PlannedReboot,
            down_at,
            up_at,
            format!("planned reboot of {}", self.hostname),
        );
        if let Some(change) = firmware {
            let what = match change {
                FirmwareChange::Bios => format!("BIOS {} → {}", model.bios[0], model.bios[1]),
                FirmwareChange::Bmc => format!("BMC {} → {}", model.bmc[0], model.bmc[1]),
                FirmwareChange::Disk(bay) => {
                    let d = &disks[bay];
                    format!(
                        "{} ({}) firmware {} → {}",
                        d.device, d.serial, d.drive.firmware[0], d.drive.firmware[1]
                    )
                }
            };
            push(
                PlannedKind::FirmwareUpdate,
                down_at,
                up_at,
                format!("firmware update on {}: {what}", self.hostname),
            );
        }
    }
}
