//! The hardware models the simulator knows: what each server contains.
//!
//! A hardware model defines a peer group (identical fans, disks and CPUs), so the
//! numbers that differ between models (fan speeds, disk counts, power) differ here.

/// What kind of drive occupies a bay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriveKind {
    /// Spinning SATA disk, reports ATA SMART attributes.
    Hdd,
    /// SATA SSD, also ATA SMART.
    SataSsd,
    Nvme,
}

/// One drive type in a model's bays.
#[derive(Debug, Clone, Copy)]
pub struct DriveModel {
    pub kind: DriveKind,
    pub model: &'static str,
    pub size_bytes: u64,
    pub firmware: [&'static str; 2],
    /// Typical average I/O latency at low load, seconds.
    pub base_latency_s: f64,
}

/// A server model.
#[derive(Debug, Clone, Copy)]
pub struct HardwareModel {
    pub name: &'static str,
    pub vendor: &'static str,
    pub cpu_model: &'static str,
    pub sockets: usize,
    pub logical_cpus: usize,
    /// DIMMs per socket, on channels A, B, C…
    pub dimms_per_socket: usize,
    pub dimm_bytes: u64,
    pub drives: &'static [DriveModel],
    pub fans: usize,
    pub fan_max_rpm: f64,
    /// Lower critical threshold the fan chip alarms on.
    pub fan_min_rpm: f64,
    /// The chip's RPM resolution: readings come in steps of this many RPM.
    pub fan_rpm_step: f64,
    pub fan_chip: &'static str,
    pub psus: usize,
    pub idle_watts: f64,
    pub max_watts: f64,
    /// BIOS and BMC versions: `[installed, update]`.
    pub bios: [&'static str; 2],
    pub bmc: [&'static str; 2],
}

const HDD_8T: DriveModel = DriveModel {
    kind: DriveKind::Hdd,
    model: "ST8000NM000A-2KE101",
    size_bytes: 8_001_563_222_016,
    firmware: ["SN02", "SN04"],
    base_latency_s: 0.006,
};
const HDD_4T: DriveModel = DriveModel {
    kind: DriveKind::Hdd,
    model: "HGST HUS726T4TALA6L4",
    size_bytes: 4_000_787_030_016,
    firmware: ["VKGNW40H", "VKGNW42H"],
    base_latency_s: 0.007,
};
const SSD_480: DriveModel = DriveModel {
    kind: DriveKind::SataSsd,
    model: "SAMSUNG MZ7LH480HAHQ-00005",
    size_bytes: 480_103_981_056,
    firmware: ["HXT7404Q", "HXT7904Q"],
    base_latency_s: 0.000_25,
};
const NVME_1T6: DriveModel = DriveModel {
    kind: DriveKind::Nvme,
    model: "Dell Ent NVMe P5600 MU U.2 1.6TB",
    size_bytes: 1_600_321_314_816,
    firmware: ["1.1.4", "1.2.0"],
    base_latency_s: 0.000_08,
};
const NVME_3T8: DriveModel = DriveModel {
    kind: DriveKind::Nvme,
    model: "SAMSUNG MZQL23T8HCLS-00A07",
    size_bytes: 3_840_755_982_336,
    firmware: ["GDC5602Q", "GDC5902Q"],
    base_latency_s: 0.000_09,
};

/// Every model, in a fixed order (the order drives deterministic assignment).
pub const MODELS: &[HardwareModel] = &[
    HardwareModel {
        name: "PowerEdge R640",
        vendor: "Dell Inc.",
        cpu_model: "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz",
        sockets: 2,
        logical_cpus: 64,
        dimms_per_socket: 6,
        dimm_bytes: 32 << 30,
        drives: &[SSD_480, SSD_480, NVME_1T6],
        fans: 8,
        fan_max_rpm: 16_800.0,
        fan_min_rpm: 2_160.0,
        fan_rpm_step: 120.0,
        fan_chip: "dell_smm-isa-0000",
        psus: 2,
        idle_watts: 110.0,
        max_watts: 480.0,
        bios: ["2.17.1", "2.19.1"],
        bmc: ["6.10.30.00", "7.00.00.171"],
    },
    HardwareModel {
        name: "PowerEdge R740xd",
        vendor: "Dell Inc.",
        cpu_model: "Intel(R) Xeon(R) Silver 4214 CPU @ 2.20GHz",
        sockets: 2,
        logical_cpus: 48,
        dimms_per_socket: 4,
        dimm_bytes: 32 << 30,
        drives: &[SSD_480, HDD_8T, HDD_8T, HDD_8T, HDD_8T, HDD_8T, HDD_8T],
        fans: 6,
        fan_max_rpm: 14_640.0,
        fan_min_rpm: 1_800.0,
        fan_rpm_step: 120.0,
        fan_chip: "dell_smm-isa-0000",
        psus: 2,
        idle_watts: 160.0,
        max_watts: 620.0,
        bios: ["2.15.1", "2.19.1"],
        bmc: ["6.10.30.00", "7.00.00.171"],
    },
    HardwareModel {
        name: "SYS-1029U-TRT",
        vendor: "Supermicro",
        cpu_model: "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz",
        sockets: 2,
        logical_cpus: 80,
        dimms_per_socket: 6,
        dimm_bytes: 16 << 30,
        drives: &[SSD_480, SSD_480, NVME_3T8, NVME_3T8],
        fans: 8,
        fan_max_rpm: 16_000.0,
        fan_min_rpm: 700.0,
        fan_rpm_step: 100.0,
        fan_chip: "nct6779-isa-0290",
        psus: 2,
        idle_watts: 130.0,
        max_watts: 540.0,
        bios: ["3.4", "3.9"],
        bmc: ["1.73.13", "1.74.11"],
    },
    HardwareModel {
        name: "ProLiant DL360 Gen10",
        vendor: "HPE",
        cpu_model: "Intel(R) Xeon(R) Silver 4210R CPU @ 2.40GHz",
        sockets: 2,
        logical_cpus: 40,
        dimms_per_socket: 4,
        dimm_bytes: 32 << 30,
        drives: &[HDD_4T, HDD_4T, HDD_4T, HDD_4T, NVME_1T6],
        fans: 7,
        fan_max_rpm: 15_300.0,
        fan_min_rpm: 1_500.0,
        fan_rpm_step: 60.0,
        fan_chip: "nct6775-isa-0a20",
        psus: 2,
        idle_watts: 95.0,
        max_watts: 500.0,
        bios: ["U32 v2.72", "U32 v2.90"],
        bmc: ["iLO 5 2.72", "iLO 5 2.90"],
    },
];

/// Looks a model up by name.
pub fn find(name: &str) -> Option<&'static HardwareModel> {
    MODELS.iter().find(|m| m.name == name)
}

impl HardwareModel {
    /// The DIMM label for socket `s`, slot `i` (channel letter + slot 1), e.g. `CPU0_DIMM_A1`.
    pub fn dimm_label(&self, socket: usize, slot: usize) -> String {
        let channel = (b'A' + (slot % 26) as u8) as char;
        format!("CPU{socket}_DIMM_{channel}1")
    }

    pub fn memory_bytes(&self) -> u64 {
        self.dimm_bytes * (self.sockets * self.dimms_per_socket) as u64
    }
}
