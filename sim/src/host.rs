//! One simulated host: its sensors, counters and failures, stepped interval by interval.
//!
//! A host turns its [`HostPlan`] into batches exactly as an agent would ship them:
//! samples on an aligned grid with the host's phase, SMART on a slower cycle, events
//! when they happen (held while the host is down, as the SEL keeps them), and the
//! inventory on start, after every boot and whenever a part or firmware changes.

use crate::extras::Extras;
use crate::hardware::DriveKind;
use crate::names::{self, attr, ipmi, ipmi_state, label as l, smart};
use crate::plan::{
    Clock, DiskFate, DiskPlan, FirmwareChange, HostPlan, INLET_CRITICAL_C, INLET_WARNING_C,
    RACK_INLET_C,
};
use crate::registry::{quantize, round_to, Registry};
use crate::rng::Rng;
use crate::trajectory;
use harbinger_shared::catalogue::names as sys;
use harbinger_shared::{
    AgentIdentity, Batch, ComponentId, ComponentKind, Event, EventKind, InventoryItem, Severity,
    PROTOCOL_VERSION,
};
use std::collections::BTreeMap;

const HOUR_MS: f64 = 3_600_000.0;
const DAY_MS: i64 = 86_400_000;
const GIB: f64 = 1_073_741_824.0;

/// Series slots of one drive bay's kernel block device (they survive a disk swap).
#[derive(Debug, Clone)]
struct BlockSlots {
    util: usize,
    latency: usize,
    reads: usize,
    writes: usize,
    read_bytes: usize,
    written_bytes: usize,
}

/// SMART series of the disk currently in the bay (they change with its serial).
#[derive(Debug, Clone)]
enum SmartSlots {
    Ata {
        status: usize,
        attrs: Vec<usize>,
    },
    Nvme {
        status: usize,
        used: usize,
        spare: usize,
        media: usize,
        warning: usize,
    },
}

#[derive(Debug, Clone)]
struct DiskSim {
    plan: DiskPlan,
    block: BlockSlots,
    smart: SmartSlots,
    replaced: bool,
    firmware: usize,
    counters: [u64; 4],
}

impl DiskSim {
    fn serial(&self) -> &str {
        match (&self.plan.replacement, self.replaced) {
            (Some((_, serial)), true) => serial,
            _ => &self.plan.serial,
        }
    }

    /// The fate of the disk currently in the bay (a replacement is healthy).
    fn fate(&self) -> DiskFate {
        if self.replaced {
            DiskFate::Healthy
        } else {
            self.plan.fate
        }
    }

    fn present(&self, t: i64) -> bool {
        self.replaced || self.plan.fate.death().is_none_or(|death| t < death)
    }
}

#[derive(Debug, Clone)]
struct SysSlots {
    cpu: usize,
    load: [usize; 3],
    mem_total: usize,
    mem_available: usize,
    mem_used: usize,
    /// `[size, free, avail, used_ratio]` for `/` and `/data`.
    fs: [[usize; 4]; 2],
    net: [usize; 4],
    uptime: usize,
    boot_time: usize,
    package_temp: Vec<usize>,
    fans: Vec<[usize; 3]>,
    fan_state: Vec<usize>,
    edac: Vec<[usize; 2]>,
    inlet: [usize; 2],
    exhaust: [usize; 2],
    power: usize,
    psu_power: Vec<usize>,
    psu_state: Vec<usize>,
    redundancy: usize,
    rails: Vec<[usize; 2]>,
}

/// A simulated host.
#[derive(Debug, Clone)]
pub struct HostSim {
    pub plan: HostPlan,
    clock: Clock,
    rng: Rng,
    reg: Registry,
    slots: SysSlots,
    disks: Vec<DiskSim>,
    extras: Extras,
    seq: u64,
    /// Timestamp of the previous step, events in `(prev_ts, ts]` belong to the current one.
    prev_ts: i64,
    boot_ms: i64,
    reboot_cursor: usize,
    burst_cursor: Vec<usize>,
    ce: Vec<u64>,
    ue: Vec<u64>,
    pending_events: Vec<Event>,
    inventory_due: bool,
    bios: usize,
    bmc: usize,
    cpu_noise: f64,
    load: [f64; 3],
    package_temp: Vec<f64>,
    net: [u64; 2],
    mem_base: f64,
    data_base: f64,
}

impl HostSim {
    pub fn new(
        plan: HostPlan,
        clock: Clock,
        seed: u64,
        series_target: Option<usize>,
    ) -> Result<Self, String> {
        let mut rng = Rng::derive(seed, 0x5e7, plan.index as u64);
        let mut reg = Registry::default();
        let model = plan.model;
        let disks = plan
            .disks
            .iter()
            .map(|d| {
                let dev = [(l::DEVICE, d.device.as_str())];
                let block = BlockSlots {
                    util: reg.add(sys::DISK_UTILISATION, &dev),
                    latency: reg.add(sys::DISK_LATENCY, &dev),
                    reads: reg.add(sys::DISK_READS, &dev),
                    writes: reg.add(sys::DISK_WRITES, &dev),
                    read_bytes: reg.add(sys::DISK_READ_BYTES, &dev),
                    written_bytes: reg.add(sys::DISK_WRITTEN_BYTES, &dev),
                };
                let smart = smart_slots(&mut reg, d.drive.kind, &d.serial);
                DiskSim {
                    plan: d.clone(),
                    block,
                    smart,
                    replaced: false,
                    firmware: 0,
                    counters: [0; 4],
                }
            })
            .collect::<Vec<_>>();
        let fs = [0, 1].map(|i| {
            let (device, mountpoint, fstype) = filesystem(&plan, i);
            let labels = [
                (l::DEVICE, device.as_str()),
                (l::MOUNTPOINT, mountpoint),
                (l::FSTYPE, fstype),
            ];
            [
                sys::FS_SIZE,
                sys::FS_FREE,
                sys::FS_AVAIL,
                sys::FS_USED_RATIO,
            ]
            .map(|m| reg.add(m, &labels))
        });
        let eth = [(l::DEVICE, "eth0")];
        let net = [
            sys::NET_RX_BYTES,
            sys::NET_TX_BYTES,
            sys::NET_RX_ERRS,
            sys::NET_TX_ERRS,
        ]
        .map(|m| reg.add(m, &eth));
        let package_temp = (0..model.sockets)
            .map(|s| {
                let chip = format!("coretemp-isa-{s:04}");
                let label = format!("Package id {s}");
                reg.add(
                    names::HWMON_TEMP,
                    &[(l::CHIP, &chip), (l::SENSOR, "temp1"), (l::LABEL, &label)],
                )
            })
            .collect();
        let fans = plan
            .fans
            .iter()
            .map(|f| {
                let fan_sensor = format!("fan{}", f.number);
                let pwm_sensor = format!("pwm{}", f.number);
                let label = format!("FAN{}", f.number);
                let chip = model.fan_chip;
                [
                    reg.add(
                        names::FAN_RPM,
                        &[
                            (l::CHIP, chip),
                            (l::SENSOR, &fan_sensor),
                            (l::LABEL, &label),
                        ],
                    ),
                    reg.add(
                        names::FAN_MIN_RPM,
                        &[
                            (l::CHIP, chip),
                            (l::SENSOR, &fan_sensor),
                            (l::LABEL, &label),
                        ],
                    ),
                    reg.add(
                        names::PWM_RATIO,
                        &[
                            (l::CHIP, chip),
                            (l::SENSOR, &pwm_sensor),
                            (l::LABEL, &label),
                        ],
                    ),
                ]
            })
            .collect();
        let fan_state = plan
            .fans
            .iter()
            .map(|f| {
                reg.add(
                    names::IPMI_STATE,
                    &[
                        (l::NAME, &format!("FAN{}", f.number)),
                        (l::TYPE, ipmi::TYPE_FAN),
                    ],
                )
            })
            .collect();
        let edac = plan
            .dimms
            .iter()
            .map(|d| {
                let controller = d.controller.to_string();
                let dimm = d.slot.to_string();
                let labels = [
                    (l::CONTROLLER, controller.as_str()),
                    (l::DIMM, dimm.as_str()),
                    (l::LABEL, d.label.as_str()),
                ];
                [
                    reg.add(names::EDAC_CORRECTABLE, &labels),
                    reg.add(names::EDAC_UNCORRECTABLE, &labels),
                ]
            })
            .collect();
        let ipmi_pair = |reg: &mut Registry, name: &str, kind: &str, unit: &str| {
            [
                reg.add(
                    names::IPMI_VALUE,
                    &[(l::NAME, name), (l::TYPE, kind), (l::UNIT, unit)],
                ),
                reg.add(names::IPMI_STATE, &[(l::NAME, name), (l::TYPE, kind)]),
            ]
        };
        let inlet = ipmi_pair(
            &mut reg,
            ipmi::INLET_TEMP,
            ipmi::TYPE_TEMPERATURE,
            ipmi::UNIT_CELSIUS,
        );
        let exhaust = ipmi_pair(
            &mut reg,
            ipmi::EXHAUST_TEMP,
            ipmi::TYPE_TEMPERATURE,
            ipmi::UNIT_CELSIUS,
        );
        let rails = ipmi::RAILS
            .iter()
            .map(|(name, _)| ipmi_pair(&mut reg, name, ipmi::TYPE_VOLTAGE, ipmi::UNIT_VOLTS))
            .collect();
        let power = reg.add(
            names::IPMI_VALUE,
            &[
                (l::NAME, ipmi::PWR_CONSUMPTION),
                (l::TYPE, ipmi::TYPE_CURRENT),
                (l::UNIT, ipmi::UNIT_WATTS),
            ],
        );
        let psu_power = plan
            .psus
            .iter()
            .map(|p| {
                reg.add(
                    names::IPMI_VALUE,
                    &[
                        (l::NAME, &ipmi::ps_input_power(p.number)),
                        (l::TYPE, ipmi::TYPE_CURRENT),
                        (l::UNIT, ipmi::UNIT_WATTS),
                    ],
                )
            })
            .collect();
        let psu_state = plan
            .psus
            .iter()
            .map(|p| {
                reg.add(
                    names::IPMI_STATE,
                    &[
                        (l::NAME, &ipmi::ps_status(p.number)),
                        (l::TYPE, ipmi::TYPE_POWER_SUPPLY),
                    ],
                )
            })
            .collect();
        let redundancy = reg.add(
            names::IPMI_STATE,
            &[
                (l::NAME, ipmi::PS_REDUNDANCY),
                (l::TYPE, ipmi::TYPE_POWER_SUPPLY),
            ],
        );
        let slots = SysSlots {
            cpu: reg.add(sys::CPU_USAGE, &[(l::CPU, "total")]),
            load: [sys::LOAD1, sys::LOAD5, sys::LOAD15].map(|m| reg.add(m, &[])),
            mem_total: reg.add(sys::MEM_TOTAL, &[]),
            mem_available: reg.add(sys::MEM_AVAILABLE, &[]),
            mem_used: reg.add(sys::MEM_USED_RATIO, &[]),
            fs,
            net,
            uptime: reg.add(sys::UPTIME, &[]),
            boot_time: reg.add(sys::BOOT_TIME, &[]),
            package_temp,
            fans,
            fan_state,
            edac,
            inlet,
            exhaust,
            power,
            psu_power,
            psu_state,
            redundancy,
            rails,
        };
        let base = reg.len();
        let extras = match series_target {
            Some(target) => Extras::register(&mut reg, &plan, target, base, seed)?,
            None => Extras::default(),
        };
        let sockets = model.sockets;
        let dimms = plan.dimms.len();
        Ok(Self {
            mem_base: rng.range(0.3, 0.65),
            data_base: rng.range(0.2, 0.6),
            boot_ms: plan.boot_ms,
            prev_ts: i64::MIN,
            plan,
            clock,
            rng,
            reg,
            slots,
            disks,
            extras,
            seq: 0,
            reboot_cursor: 0,
            burst_cursor: vec![0; dimms],
            ce: vec![0; dimms],
            ue: vec![0; dimms],
            pending_events: Vec::new(),
            inventory_due: true,
            bios: 0,
            bmc: 0,
            cpu_noise: 0.0,
            load: [0.0; 3],
            package_temp: vec![40.0; sockets],
            net: [0; 2],
        })
    }

    /// Number of series this host has registered.
    pub fn series_count(&self) -> usize {
        self.reg.len()
    }

    /// Whether the host is gone for good at `ts`.
    pub fn lost(&self, ts: i64) -> bool {
        self.plan.lost_at.is_some_and(|lost| ts >= lost)
    }

    /// Generates the batch for steps `first..first + count`, or `None` if the host sent
    /// nothing in that window (down, or lost).
    pub fn batch(&mut self, first: u64, count: u64) -> Option<Batch> {
        let end = (first + count).min(self.clock.steps);
        for k in first..end {
            let ts = self.clock.ts(k, self.plan.phase_ms);
            if self.lost(ts) {
                break;
            }
            self.step(k, ts);
        }
        let inventory = (self.inventory_due && self.is_up(self.prev_ts)).then(|| {
            self.inventory_due = false;
            self.inventory(self.prev_ts)
        });
        if !self.reg.has_points() && inventory.is_none() {
            // Events wait in `pending_events` for a batch with samples, like the agent's
            // sources, which only run while the host is up.
            return None;
        }
        self.seq += 1;
        let mut events = std::mem::take(&mut self.pending_events);
        events.sort_by_key(|e| e.ts);
        Some(Batch {
            protocol_version: PROTOCOL_VERSION,
            agent: self.identity(),
            seq: self.seq,
            interval_ms: self.clock.interval as u64,
            series: self.reg.drain(),
            events,
            inventory,
        })
    }

    fn identity(&self) -> AgentIdentity {
        let p = &self.plan;
        let pdu = format!(
            "{}-pdu-{}",
            p.rack,
            if p.index % 2 == 0 { "a" } else { "b" }
        );
        AgentIdentity {
            host_id: p.host_id.clone(),
            hostname: p.hostname.clone(),
            labels: BTreeMap::from([
                ("site".to_owned(), p.site.clone()),
                ("rack".to_owned(), p.rack.clone()),
                ("role".to_owned(), p.load.role.as_str().to_owned()),
                ("pdu".to_owned(), pdu),
                ("hardware_model".to_owned(), p.model.name.to_owned()),
            ]),
            agent_version: concat!("sim-", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }

    fn is_up(&self, ts: i64) -> bool {
        !self
            .plan
            .reboots
            .iter()
            .any(|r| ts >= r.down_at && ts < r.up_at)
    }

    fn event(
        &mut self,
        ts: i64,
        kind: &str,
        severity: Severity,
        component: Option<ComponentId>,
        message: String,
        attrs: &[(&str, String)],
    ) {
        self.pending_events.push(Event {
            ts,
            kind: EventKind::new(kind),
            severity,
            component,
            message,
            attrs: attrs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        });
    }

    fn step(&mut self, k: u64, ts: i64) {
        let prev = if self.prev_ts == i64::MIN {
            ts - self.clock.interval
        } else {
            self.prev_ts
        };
        self.prev_ts = ts;
        self.happenings(prev, ts);
        if !self.is_up(ts) {
            return;
        }
        self.boot_if_due(ts);
        self.sample(k, ts);
    }

    /// Reboots whose downtime ended by `ts`: the agent starts, logs the boot and re-sends inventory.
    fn boot_if_due(&mut self, ts: i64) {
        while let Some(reboot) = self.plan.reboots.get(self.reboot_cursor).copied() {
            if ts < reboot.up_at {
                break;
            }
            self.reboot_cursor += 1;
            let boot = reboot.up_at - 90_000;
            self.boot_ms = boot;
            self.load = [0.0; 3];
            match reboot.firmware {
                Some(FirmwareChange::Bios) => self.bios = 1,
                Some(FirmwareChange::Bmc) => self.bmc = 1,
                Some(FirmwareChange::Disk(bay)) => {
                    if let Some(d) = self.disks.get_mut(bay) {
                        d.firmware = 1;
                    }
                }
                None => {}
            }
            // As the agent's reboot source: a planned reboot is an orderly shutdown.
            let cause = if reboot.planned {
                attr::CAUSE_CLEAN
            } else {
                attr::CAUSE_UNEXPECTED
            };
            let severity = if reboot.planned {
                Severity::Info
            } else {
                Severity::Error
            };
            let host = Some(ComponentId::new(
                ComponentKind::Host,
                self.plan.host_id.clone(),
            ));
            self.event(
                boot,
                EventKind::REBOOT,
                severity,
                host,
                format!("host booted ({cause} reboot)"),
                &[
                    (attr::CAUSE, cause.to_owned()),
                    (attr::PLANNED, reboot.planned.to_string()),
                ],
            );
            self.inventory_due = true;
        }
    }

    /// Events in `(prev, ts]`: memory errors, disk deaths and swaps, fan and PSU faults.
    fn happenings(&mut self, prev: i64, ts: i64) {
        let within = |t: i64| t > prev && t <= ts;
        for d in 0..self.plan.dimms.len() {
            while let Some(&(at, count)) = self.plan.dimms[d].bursts.get(self.burst_cursor[d]) {
                if at > ts {
                    break;
                }
                self.burst_cursor[d] += 1;
                self.ce[d] += count;
                let dimm = &self.plan.dimms[d];
                let (label, mc, slot) = (dimm.label.clone(), dimm.controller, dimm.slot);
                self.event(
                    at,
                    EventKind::EDAC_CORRECTABLE,
                    Severity::Warning,
                    Some(ComponentId::new(ComponentKind::Dimm, label.clone())),
                    format!("{count} corrected memory error(s) on {label} (mc{mc} csrow{slot} channel0)"),
                    &[(attr::COUNT, count.to_string())],
                );
            }
            if let Some(at) = self.plan.dimms[d].uncorrectable_at.filter(|t| within(*t)) {
                self.ue[d] += 1;
                let label = self.plan.dimms[d].label.clone();
                let component = Some(ComponentId::new(ComponentKind::Dimm, label.clone()));
                self.event(
                    at,
                    EventKind::EDAC_UNCORRECTABLE,
                    Severity::Critical,
                    component.clone(),
                    format!("1 uncorrected memory error on {label}"),
                    &[(attr::COUNT, "1".to_owned())],
                );
                self.event(
                    at,
                    EventKind::MACHINE_CHECK,
                    Severity::Critical,
                    component,
                    format!(
                        "Machine check: memory read error on {label}, processor context corrupt"
                    ),
                    &[],
                );
            }
        }
        for bay in 0..self.disks.len() {
            let disk = &self.disks[bay];
            let serial = disk.serial().to_owned();
            let device = disk.plan.device.clone();
            let component = Some(ComponentId::new(ComponentKind::Disk, serial.clone()));
            let (replaced, fate) = (disk.replaced, disk.plan.fate);
            if !replaced {
                if let Some(death) = fate.death().filter(|t| within(*t)) {
                    for i in 0..3 {
                        self.event(
                            death + i * 1_000,
                            EventKind::DISK_IO_ERROR,
                            Severity::Critical,
                            component.clone(),
                            format!(
                                "I/O error, dev {device}, sector {} op 0x0:(READ); device offline",
                                1_000_000 + i
                            ),
                            &[(attr::DEVICE, device.clone())],
                        );
                    }
                    self.inventory_due = true;
                }
                if let DiskFate::Degrading { onset, fail } = fate {
                    if ts < fail {
                        let rate = trajectory::degrading_disk(onset, fail, ts).io_errors_per_hour;
                        let expected = rate * (ts - prev) as f64 / HOUR_MS;
                        let n = (expected + self.rng.f64()) as i64;
                        for _ in 0..n {
                            let at = prev + 1 + self.rng.int(0, ts - prev);
                            let sector = self.rng.int(10_000, 7_000_000_000);
                            self.event(at, EventKind::DISK_IO_ERROR, Severity::Error, component.clone(),
                                format!("blk_update_request: I/O error, dev {device}, sector {sector} op 0x0:(READ)"),
                                &[(attr::DEVICE, device.clone())]);
                        }
                    }
                }
            }
            if let Some((at, new_serial)) = self.disks[bay].plan.replacement.clone() {
                if !self.disks[bay].replaced && at <= ts {
                    let kind = self.disks[bay].plan.drive.kind;
                    let smart = smart_slots(&mut self.reg, kind, &new_serial);
                    let disk = &mut self.disks[bay];
                    disk.replaced = true;
                    disk.smart = smart;
                    disk.plan.power_on_hours = 0;
                    disk.plan.nvme_used = 0.0;
                    self.inventory_due = true;
                }
            }
        }
        for f in 0..self.plan.fans.len() {
            let (number, wear, replaced_at) = {
                let fan = &self.plan.fans[f];
                (fan.number, fan.wear, fan.replaced_at)
            };
            if let Some((_, fail)) = wear.filter(|(_, fail)| within(*fail)) {
                let name = format!("FAN{number}");
                self.event(
                    fail,
                    EventKind::IPMI_SEL,
                    Severity::Critical,
                    Some(ComponentId::new(ComponentKind::Fan, name.clone())),
                    sel_message(&name, ipmi::TYPE_FAN, "Lower Critical going low"),
                    &sel_attrs(&name, ipmi::TYPE_FAN, "Lower Critical going low"),
                );
            }
            if replaced_at.is_some_and(within) {
                self.inventory_due = true;
            }
        }
        for p in 0..self.plan.psus.len() {
            let (number, fault) = (self.plan.psus[p].number, self.plan.psus[p].fault);
            let Some(fault) = fault else { continue };
            let name = format!("PS{number}");
            let component = Some(ComponentId::new(ComponentKind::Psu, name.clone()));
            if within(fault.fail) {
                self.event(
                    fault.fail,
                    EventKind::IPMI_SEL,
                    Severity::Critical,
                    component.clone(),
                    sel_message(
                        &ipmi::ps_status(number),
                        ipmi::TYPE_POWER_SUPPLY,
                        "Failure detected",
                    ),
                    &sel_attrs(
                        &ipmi::ps_status(number),
                        ipmi::TYPE_POWER_SUPPLY,
                        "Failure detected",
                    ),
                );
                self.event(
                    fault.fail + 1_000,
                    EventKind::IPMI_SEL,
                    Severity::Error,
                    component.clone(),
                    sel_message(
                        ipmi::PS_REDUNDANCY,
                        ipmi::TYPE_POWER_SUPPLY,
                        "Redundancy Lost",
                    ),
                    &sel_attrs(
                        ipmi::PS_REDUNDANCY,
                        ipmi::TYPE_POWER_SUPPLY,
                        "Redundancy Lost",
                    ),
                );
            }
            if let Some(at) = fault.replaced_at.filter(|t| within(*t)) {
                self.event(
                    at,
                    EventKind::IPMI_SEL,
                    Severity::Info,
                    component,
                    sel_message(
                        &ipmi::ps_status(number),
                        ipmi::TYPE_POWER_SUPPLY,
                        "Presence detected",
                    ),
                    &sel_attrs(
                        &ipmi::ps_status(number),
                        ipmi::TYPE_POWER_SUPPLY,
                        "Presence detected",
                    ),
                );
                self.inventory_due = true;
            }
        }
    }

    /// All samples of one collection cycle.
    fn sample(&mut self, k: u64, ts: i64) {
        let model = self.plan.model;
        let local = ts + self.plan.tz_offset_ms;
        let act = self.plan.load.activity(local);
        let interval_s = self.clock.interval as f64 / 1_000.0;

        // CPU: the workload plus slowly wandering noise (AR(1)), as real utilisation wanders.
        self.cpu_noise = 0.9 * self.cpu_noise + 0.025 * self.rng.normal();
        let cpu = (act.cpu + self.cpu_noise + 0.01 * self.rng.normal()).clamp(0.005, 1.0);
        self.reg.push(self.slots.cpu, ts, round_to(cpu, 4));
        let runnable =
            cpu * model.logical_cpus as f64 * 0.6 + 0.2 * act.io + 0.1 * self.rng.normal().abs();
        for (i, horizon_s) in [60.0, 300.0, 900.0].into_iter().enumerate() {
            let alpha = 1.0 - (-interval_s / horizon_s).exp();
            self.load[i] += alpha * (runnable - self.load[i]);
            self.reg
                .push(self.slots.load[i], ts, round_to(self.load[i], 2));
        }

        // Memory: page cache grows with the day and with the backup.
        let total = model.memory_bytes() as f64;
        let used = (self.mem_base
            + 0.08 * act.day
            + if act.backup { 0.06 } else { 0.0 }
            + 0.004 * self.rng.normal())
        .clamp(0.05, 0.98);
        let available = quantize(total * (1.0 - used), 4096.0);
        self.reg.push(self.slots.mem_total, ts, total);
        self.reg.push(self.slots.mem_available, ts, available);
        self.reg
            .push(self.slots.mem_used, ts, 1.0 - available / total);

        // Cooling: rack inlet, fans, package temperatures, PWM control.
        let hour = (local.rem_euclid(DAY_MS)) as f64 / HOUR_MS;
        let cooling_rise: f64 = self.plan.cooling.iter().map(|c| c.rise(ts)).sum();
        let inlet = RACK_INLET_C
            + self.plan.inlet_offset_c
            + 0.4 * (std::f64::consts::TAU * (hour - 14.0) / 24.0).cos()
            + cooling_rise
            + 0.25 * self.rng.normal();
        let health: Vec<f64> = self
            .plan
            .fans
            .iter()
            .map(|f| {
                if f.replaced_at.is_some_and(|r| ts >= r) {
                    1.0
                } else {
                    trajectory::fan_health(f.wear, ts)
                }
            })
            .collect();
        let airflow = health.iter().sum::<f64>() / health.len().max(1) as f64;
        let any_stopped = health.iter().any(|h| *h <= 0.0);
        for s in 0..self.package_temp.len() {
            let target = inlet
                + 12.0
                + 50.0 * cpu.powf(1.1) * (1.0 + 0.03 * s as f64)
                + (1.0 - airflow) * 30.0;
            self.package_temp[s] += 0.6 * (target - self.package_temp[s]);
            let reading = (self.package_temp[s] + 0.4 * self.rng.normal()).round();
            self.reg.push(self.slots.package_temp[s], ts, reading);
        }
        let hottest = self.package_temp.iter().copied().fold(f64::MIN, f64::max);
        let pwm = if any_stopped {
            1.0
        } else {
            (0.2 + 0.8 * ((hottest - 50.0) / 35.0).clamp(0.0, 1.0)
                + ((inlet - 25.0) / 15.0).clamp(0.0, 0.4))
            .min(1.0)
        };
        let pwm = (pwm * 255.0).round() / 255.0;
        for (f, fan) in self.plan.fans.iter().enumerate() {
            let rpm = model.fan_max_rpm
                * pwm.powf(0.85)
                * fan.spread
                * health[f]
                * (1.0 + 0.008 * self.rng.normal());
            let rpm = quantize(rpm.max(0.0), model.fan_rpm_step);
            let [rpm_slot, min_slot, pwm_slot] = self.slots.fans[f];
            self.reg.push(rpm_slot, ts, rpm);
            self.reg.push(min_slot, ts, model.fan_min_rpm);
            self.reg.push(pwm_slot, ts, pwm);
            let state = if rpm < model.fan_min_rpm {
                ipmi_state::CRITICAL
            } else {
                ipmi_state::OK
            };
            self.reg.push(self.slots.fan_state[f], ts, state);
        }
        let inlet_reading = inlet.round();
        let inlet_state = threshold_state(inlet_reading, INLET_WARNING_C, INLET_CRITICAL_C);
        self.reg.push(self.slots.inlet[0], ts, inlet_reading);
        self.reg.push(self.slots.inlet[1], ts, inlet_state);

        // Power: load-dependent draw shared by the working supplies.
        let power_frac = (cpu.powf(0.9) * 0.8 + act.io * 0.1 + pwm.powi(3) * 0.1).clamp(0.0, 1.0);
        let watts = model.idle_watts
            + (model.max_watts - model.idle_watts) * power_frac
            + 3.0 * self.rng.normal();
        let exhaust = (inlet + 6.0 + 14.0 * power_frac + 0.3 * self.rng.normal()).round();
        self.reg.push(self.slots.exhaust[0], ts, exhaust);
        self.reg.push(
            self.slots.exhaust[1],
            ts,
            threshold_state(exhaust, 60.0, 70.0),
        );
        self.reg.push(self.slots.power, ts, watts.round());
        let working: Vec<bool> = self.plan.psus.iter().map(|p| p.ok_at(ts)).collect();
        let n_ok = working.iter().filter(|w| **w).count().max(1) as f64;
        let mut ripple: f64 = 0.0;
        for (p, psu) in self.plan.psus.iter().enumerate() {
            let share = if working[p] {
                watts / n_ok * (1.0 + 0.03 * (p as f64 - 0.5)) / 0.94
            } else {
                0.0
            };
            self.reg.push(self.slots.psu_power[p], ts, share.round());
            let state = if working[p] {
                ipmi_state::OK
            } else {
                ipmi_state::CRITICAL
            };
            self.reg.push(self.slots.psu_state[p], ts, state);
            if let Some(f) = psu.fault {
                ripple = ripple.max(trajectory::psu_ripple(f.ripple_from, f.fail, ts));
            }
        }
        let redundant = working.iter().all(|w| *w);
        self.reg.push(
            self.slots.redundancy,
            ts,
            if redundant {
                ipmi_state::OK
            } else {
                ipmi_state::CRITICAL
            },
        );
        for (r, (_, nominal)) in ipmi::RAILS.iter().enumerate() {
            let (sag, noise) = if r == 0 {
                (0.025 * ripple, 0.002 + 0.012 * ripple)
            } else {
                (0.0, 0.002)
            };
            let volts = round_to(nominal * (1.0 - sag + noise * self.rng.normal()), 3);
            let deviation = (volts / nominal - 1.0).abs();
            self.reg.push(self.slots.rails[r][0], ts, volts);
            self.reg.push(
                self.slots.rails[r][1],
                ts,
                threshold_state(deviation, 0.05, 0.08),
            );
        }

        // Memory errors: counters only ever increase.
        for d in 0..self.plan.dimms.len() {
            self.reg.push(self.slots.edac[d][0], ts, self.ce[d] as f64);
            self.reg.push(self.slots.edac[d][1], ts, self.ue[d] as f64);
        }

        self.disks_and_filesystems(k, ts, &act, inlet);

        let rx = act.net * 40e6 * interval_s * (1.0 + 0.1 * self.rng.normal().abs());
        let tx = act.net
            * if act.backup { 90e6 } else { 25e6 }
            * interval_s
            * (1.0 + 0.1 * self.rng.normal().abs());
        self.net[0] += rx as u64;
        self.net[1] += tx as u64;
        self.reg.push(self.slots.net[0], ts, self.net[0] as f64);
        self.reg.push(self.slots.net[1], ts, self.net[1] as f64);
        self.reg.push(self.slots.net[2], ts, 0.0);
        self.reg.push(self.slots.net[3], ts, 0.0);
        self.reg.push(
            self.slots.uptime,
            ts,
            round_to((ts - self.boot_ms) as f64 / 1_000.0, 2),
        );
        self.reg
            .push(self.slots.boot_time, ts, (self.boot_ms / 1_000) as f64);

        let smart_step = self.clock.is_smart_step(k);
        let temps = self.package_temp.clone();
        self.extras.sample(
            &mut self.reg,
            &mut self.rng,
            ts,
            interval_s,
            cpu,
            act.io,
            &temps,
            smart_step,
        );
    }

    fn disks_and_filesystems(&mut self, k: u64, ts: i64, act: &crate::load::Activity, inlet: f64) {
        let interval_s = self.clock.interval as f64 / 1_000.0;
        let smart_step = self.clock.is_smart_step(k);
        let start = self.clock.start;
        for bay in 0..self.disks.len() {
            if !self.disks[bay].present(ts) {
                continue;
            }
            let kind = self.disks[bay].plan.drive.kind;
            let fate = self.disks[bay].fate();
            let wear = match fate {
                DiskFate::Degrading { onset, fail } => trajectory::degrading_disk(onset, fail, ts),
                _ => trajectory::DiskWear {
                    latency_factor: 1.0,
                    ..Default::default()
                },
            };
            let (busy_scale, max_iops, op_bytes) = match kind {
                DriveKind::Hdd => (1.0, 180.0, 256.0 * 1024.0),
                DriveKind::SataSsd => (0.7, 40_000.0, 32.0 * 1024.0),
                DriveKind::Nvme => (0.3, 300_000.0, 32.0 * 1024.0),
            };
            let os_disk = if bay == 0 { 0.4 } else { 1.0 };
            let util =
                (act.io * busy_scale * os_disk * (1.0 + 0.15 * self.rng.normal())).clamp(0.0, 1.0);
            let base = self.disks[bay].plan.drive.base_latency_s;
            let latency = base
                * (1.0 + 6.0 * util * util)
                * wear.latency_factor
                * (1.0 + 0.1 * self.rng.normal()).abs().max(0.3);
            let ops = util * max_iops * interval_s * 0.5;
            let disk = &mut self.disks[bay];
            disk.counters[0] += (ops * 0.6) as u64;
            disk.counters[1] += (ops * 0.4) as u64;
            disk.counters[2] += (ops * 0.6 * op_bytes) as u64;
            disk.counters[3] += (ops * 0.4 * op_bytes) as u64;
            let b = disk.block.clone();
            let counters = disk.counters;
            self.reg.push(b.util, ts, round_to(util, 4));
            self.reg.push(b.latency, ts, round_to(latency, 6));
            self.reg.push(b.reads, ts, counters[0] as f64);
            self.reg.push(b.writes, ts, counters[1] as f64);
            self.reg.push(b.read_bytes, ts, counters[2] as f64);
            self.reg.push(b.written_bytes, ts, counters[3] as f64);
            if !smart_step {
                continue;
            }
            let disk = &self.disks[bay];
            match &disk.smart {
                SmartSlots::Ata { status, attrs } => {
                    let reallocated = match fate {
                        DiskFate::StableReallocated { at } if ts >= at => 1,
                        _ => wear.reallocated,
                    };
                    let hours = disk.plan.power_on_hours + ((ts - start) / 3_600_000) as u64;
                    let temp = (inlet + 9.0 + 6.0 * util).round();
                    let values: [f64; 8] = [
                        reallocated as f64,
                        hours as f64,
                        wear.reported_uncorrect as f64,
                        wear.command_timeout as f64,
                        temp,
                        wear.pending as f64,
                        wear.offline_uncorrectable as f64,
                        0.0,
                    ];
                    let status = *status;
                    let attrs = attrs.clone();
                    self.reg
                        .push(status, ts, if wear.smart_failed { 0.0 } else { 1.0 });
                    for (slot, value) in attrs.iter().zip(values) {
                        self.reg.push(*slot, ts, value);
                    }
                }
                SmartSlots::Nvme {
                    status,
                    used,
                    spare,
                    media,
                    warning,
                } => {
                    let wearout = match fate {
                        DiskFate::NvmeWearout { onset, fail } => Some((onset, fail)),
                        _ => None,
                    };
                    let n = trajectory::nvme(disk.plan.nvme_used, wearout, start, ts);
                    let slots = [*status, *used, *spare, *media, *warning];
                    self.reg.push(
                        slots[0],
                        ts,
                        if n.critical_warning == 0 { 1.0 } else { 0.0 },
                    );
                    self.reg.push(slots[1], ts, n.percentage_used);
                    self.reg.push(slots[2], ts, n.available_spare);
                    self.reg.push(slots[3], ts, n.media_errors as f64);
                    self.reg.push(slots[4], ts, f64::from(n.critical_warning));
                }
            }
        }

        // `/` saws between log rotations at 03:00 local; `/data` fills steadily.
        let local = ts + self.plan.tz_offset_ms;
        let since_rotation = (local - 3 * 3_600_000).rem_euclid(DAY_MS) as f64 / DAY_MS as f64;
        let days = (ts - start) as f64 / DAY_MS as f64;
        let root_used = 0.22 + 0.03 * since_rotation + 0.0004 * days;
        let data_used = (self.data_base + self.plan.data_fill_per_day * days).min(0.99);
        let data_size = self
            .plan
            .disks
            .iter()
            .skip(1)
            .map(|d| d.drive.size_bytes as f64)
            .sum::<f64>()
            .max(400.0 * GIB);
        for (i, (size, used, reserved)) in [
            (100.0 * GIB, root_used, 0.05),
            (data_size * 0.98, data_used, 0.0),
        ]
        .into_iter()
        .enumerate()
        {
            let size = quantize(size, 4096.0);
            let avail = quantize(size * (1.0 - used - reserved).max(0.0), 4096.0);
            let free = quantize(avail + size * reserved, 4096.0);
            let denominator = size - free + avail;
            let ratio = if denominator > 0.0 {
                1.0 - avail / denominator
            } else {
                0.0
            };
            let [s_size, s_free, s_avail, s_ratio] = self.slots.fs[i];
            self.reg.push(s_size, ts, size);
            self.reg.push(s_free, ts, free);
            self.reg.push(s_avail, ts, avail);
            self.reg.push(s_ratio, ts, round_to(ratio, 6));
        }
    }

    /// The full inventory as the agent would send it at `ts`.
    fn inventory(&self, ts: i64) -> Vec<InventoryItem> {
        let p = &self.plan;
        let model = p.model;
        let item = |kind, id: String, attrs: &[(&str, String)]| InventoryItem {
            component: ComponentId::new(kind, id),
            attrs: attrs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        };
        let mut items = vec![item(
            ComponentKind::Host,
            p.host_id.clone(),
            &[
                ("hostname", p.hostname.clone()),
                ("vendor", model.vendor.to_owned()),
                ("model", model.name.to_owned()),
                ("bios_version", model.bios[self.bios].to_owned()),
                ("bmc_version", model.bmc[self.bmc].to_owned()),
                ("cpu_model", model.cpu_model.to_owned()),
                ("cpu_count", model.logical_cpus.to_string()),
                ("memory_total_bytes", model.memory_bytes().to_string()),
            ],
        )];
        for d in self.disks.iter().filter(|d| d.present(ts)) {
            let kind = match d.plan.drive.kind {
                DriveKind::Hdd => "hdd",
                DriveKind::SataSsd => "ssd",
                DriveKind::Nvme => "nvme",
            };
            items.push(item(
                ComponentKind::Disk,
                d.serial().to_owned(),
                &[
                    ("device", d.plan.device.clone()),
                    ("model", d.plan.drive.model.to_owned()),
                    ("serial", d.serial().to_owned()),
                    ("firmware", d.plan.drive.firmware[d.firmware].to_owned()),
                    ("size_bytes", d.plan.drive.size_bytes.to_string()),
                    ("type", kind.to_owned()),
                ],
            ));
        }
        for d in &p.dimms {
            items.push(item(
                ComponentKind::Dimm,
                d.label.clone(),
                &[
                    ("size_bytes", model.dimm_bytes.to_string()),
                    ("serial", d.serial.clone()),
                    ("part_number", "M393A4K40DB3-CWE".to_owned()),
                ],
            ));
        }
        for psu in &p.psus {
            let replaced = psu
                .fault
                .and_then(|f| f.replaced_at)
                .is_some_and(|r| ts >= r);
            let serial = if replaced {
                format!("{}R", psu.serial)
            } else {
                psu.serial.clone()
            };
            if !psu.ok_at(ts) {
                continue;
            }
            items.push(item(
                ComponentKind::Psu,
                format!("PS{}", psu.number),
                &[("serial", serial), ("capacity_watts", "750".to_owned())],
            ));
        }
        items
    }
}

fn smart_slots(reg: &mut Registry, kind: DriveKind, serial: &str) -> SmartSlots {
    let id = [(l::DEVICE_ID, serial)];
    let status = reg.add(names::SMART_STATUS, &id);
    match kind {
        DriveKind::Nvme => SmartSlots::Nvme {
            status,
            used: reg.add(names::NVME_PERCENTAGE_USED, &id),
            spare: reg.add(names::NVME_AVAILABLE_SPARE, &id),
            media: reg.add(names::NVME_MEDIA_ERRORS, &id),
            warning: reg.add(names::NVME_CRITICAL_WARNING, &id),
        },
        DriveKind::Hdd | DriveKind::SataSsd => SmartSlots::Ata {
            status,
            attrs: smart::REPORTED
                .iter()
                .map(|(attr_id, name)| {
                    let attr_id = attr_id.to_string();
                    reg.add(
                        names::SMART_ATTRIBUTE_RAW,
                        &[
                            (l::DEVICE_ID, serial),
                            (l::ATTRIBUTE_ID, &attr_id),
                            (l::ATTRIBUTE_NAME, name),
                        ],
                    )
                })
                .collect(),
        },
    }
}

/// `(device, mountpoint, fstype)` of filesystem `i` (0 `/`, 1 `/data`).
fn filesystem(plan: &HostPlan, i: usize) -> (String, &'static str, &'static str) {
    let first = plan
        .disks
        .first()
        .map(|d| d.device.as_str())
        .unwrap_or("sda");
    let part = if first.starts_with("nvme") { "p2" } else { "2" };
    if i == 0 {
        (format!("/dev/{first}{part}"), "/", "ext4")
    } else {
        ("/dev/mapper/vg0-data".to_owned(), "/data", "xfs")
    }
}

fn threshold_state(value: f64, warning: f64, critical: f64) -> f64 {
    if value >= critical {
        ipmi_state::CRITICAL
    } else if value >= warning {
        ipmi_state::NON_CRITICAL
    } else {
        ipmi_state::OK
    }
}

/// A SEL entry's message as the agent's SEL decoder words it.
fn sel_message(sensor: &str, sensor_type: &str, description: &str) -> String {
    format!("{sensor} ({sensor_type}): {description} {}", attr::ASSERTED)
}

/// A SEL entry's attributes as the agent's SEL decoder writes them.
fn sel_attrs(sensor: &str, sensor_type: &str, description: &str) -> [(&'static str, String); 4] {
    [
        (attr::SENSOR, sensor.to_owned()),
        (attr::SENSOR_TYPE, sensor_type.to_owned()),
        (attr::DESCRIPTION, description.to_owned()),
        (attr::DIRECTION, attr::ASSERTED.to_owned()),
    ]
}
