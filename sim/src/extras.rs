//! Bench-data mode: pad each host to an exact series count with realistic filler.
//!
//! Storage benchmarks (issue 7) want about 325 series per host with the mix a real
//! fleet has: counters that never change (most SMART attributes), values that move
//! slowly (per-core temperatures) and noisy ones (per-CPU mode counters). The filler is
//! drawn round-robin from those three kinds so every host carries the same mix.

use crate::hardware::DriveKind;
use crate::names::{self, label as l, smart};
use crate::plan::HostPlan;
use crate::registry::{round_to, Registry};
use crate::rng::{self, Rng};
use harbinger_shared::catalogue::names as sys;

const CPU_MODES: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];

#[derive(Debug, Clone)]
enum Extra {
    CoreTemp {
        slot: usize,
        socket: usize,
        offset: f64,
    },
    CpuSeconds {
        slot: usize,
        mode: usize,
        total: f64,
    },
    SmartConstant {
        slot: usize,
        value: f64,
    },
}

/// The padding series of one host.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    series: Vec<Extra>,
}

impl Extras {
    /// Registers `target - base` padding series; the error names the key and the limit.
    pub fn register(
        reg: &mut Registry,
        plan: &HostPlan,
        target: usize,
        base: usize,
        seed: u64,
    ) -> Result<Self, String> {
        let model = plan.model;
        if target < base {
            return Err(format!(
                "fleet.series_per_host: {target} is fewer than the {base} series a {} host always sends",
                model.name
            ));
        }
        let cores_per_socket = (model.logical_cpus / 2 / model.sockets).max(1);
        let temps: Vec<(usize, usize)> = (0..model.sockets)
            .flat_map(|s| (0..cores_per_socket).map(move |c| (s, c)))
            .collect();
        let cpus: Vec<(usize, usize)> = (0..model.logical_cpus)
            .flat_map(|c| (0..CPU_MODES.len()).map(move |m| (c, m)))
            .collect();
        let ata: Vec<&str> = plan
            .disks
            .iter()
            .filter(|d| d.drive.kind != DriveKind::Nvme)
            .map(|d| d.serial.as_str())
            .collect();
        let attrs: Vec<(usize, usize)> = (0..smart::CONSTANT_EXTRAS.len())
            .flat_map(|a| (0..ata.len()).map(move |d| (d, a)))
            .collect();
        let need = target - base;
        let capacity = temps.len() + cpus.len() + attrs.len();
        if need > capacity {
            return Err(format!(
                "fleet.series_per_host: {target} is more than the {} series a {} host can carry",
                base + capacity,
                model.name
            ));
        }
        let mut series = Vec::with_capacity(need);
        let (mut t, mut c, mut a) = (0, 0, 0);
        let mut kind = 0;
        while series.len() < need {
            match kind % 3 {
                0 if t < temps.len() => {
                    let (socket, core) = temps[t];
                    t += 1;
                    let chip = format!("coretemp-isa-{socket:04}");
                    let sensor = format!("temp{}", core + 2);
                    let label = format!("Core {core}");
                    let slot = reg.add(
                        names::HWMON_TEMP,
                        &[(l::CHIP, &chip), (l::SENSOR, &sensor), (l::LABEL, &label)],
                    );
                    let offset =
                        -1.0 - 6.0 * rng::unit(&[seed, plan.index as u64, 0xc0de, t as u64]);
                    series.push(Extra::CoreTemp {
                        slot,
                        socket,
                        offset,
                    });
                }
                1 if c < cpus.len() => {
                    let (cpu, mode) = cpus[c];
                    c += 1;
                    let cpu = cpu.to_string();
                    let slot = reg.add(
                        sys::CPU_SECONDS,
                        &[(l::CPU, &cpu), (l::MODE, CPU_MODES[mode])],
                    );
                    series.push(Extra::CpuSeconds {
                        slot,
                        mode,
                        total: 0.0,
                    });
                }
                2 if a < attrs.len() => {
                    let (disk, attr) = attrs[a];
                    a += 1;
                    let (id, name) = smart::CONSTANT_EXTRAS[attr];
                    let id = id.to_string();
                    let slot = reg.add(
                        names::SMART_ATTRIBUTE_RAW,
                        &[
                            (l::DEVICE_ID, ata[disk]),
                            (l::ATTRIBUTE_ID, &id),
                            (l::ATTRIBUTE_NAME, name),
                        ],
                    );
                    let value =
                        (rng::unit(&[seed, plan.index as u64, 0x5a, a as u64]) * 5_000.0).floor();
                    series.push(Extra::SmartConstant { slot, value });
                }
                _ => {}
            }
            kind += 1;
        }
        Ok(Self { series })
    }

    #[allow(clippy::too_many_arguments)]
    pub fn sample(
        &mut self,
        reg: &mut Registry,
        rng: &mut Rng,
        ts: i64,
        interval_s: f64,
        cpu: f64,
        io: f64,
        package_temps: &[f64],
        smart_step: bool,
    ) {
        for extra in &mut self.series {
            match extra {
                Extra::CoreTemp {
                    slot,
                    socket,
                    offset,
                } => {
                    let package = package_temps.get(*socket).copied().unwrap_or(40.0);
                    reg.push(*slot, ts, (package + *offset + 0.5 * rng.normal()).round());
                }
                Extra::CpuSeconds { slot, mode, total } => {
                    let share = match *mode {
                        0 => 0.7 * cpu,
                        1 => 0.01 * cpu,
                        2 => 0.2 * cpu,
                        3 => 1.0 - cpu,
                        4 => 0.05 * io,
                        5 => 0.01 * cpu,
                        6 => 0.05 * cpu,
                        _ => 0.0,
                    };
                    *total += (share * (1.0 + 0.2 * rng.normal())).max(0.0) * interval_s;
                    // USER_HZ is 100: the kernel counts in hundredths of a second.
                    reg.push(*slot, ts, round_to(*total, 2));
                }
                Extra::SmartConstant { slot, value } => {
                    if smart_step {
                        reg.push(*slot, ts, *value);
                    }
                }
            }
        }
    }
}
