//! The power-mode policy: which disks may be woken up to be read.
//!
//! Reading SMART data from a spun-down HDD spins it up, which costs power and wear and
//! defeats the operator's spin-down settings, so by default rotating disks are read
//! with `-n standby` and skipped while asleep. SSDs and NVMe drives may claim to be in
//! a low-power mode too, but reading them wakes nothing mechanical, so they are read
//! anyway (configurable per class and per device).

use serde::Deserialize;

/// smartctl's `-n` power modes, from "always read" to "skip unless fully active".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PowerMode {
    Never,
    Sleep,
    Standby,
    Idle,
}

/// The exit status we ask smartctl to return when it skipped a device because of its
/// power mode (`-n standby,3`). The default, 2, is the same as "open failed"; 3 (bits
/// 0 and 1) never occurs otherwise, because a command-line error (bit 0) ends smartctl
/// before any device is opened.
pub const SKIPPED_STATUS: i32 = 3;

/// What a device is, as far as the power policy cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceClass {
    Hdd,
    Ssd,
    Nvme,
}

impl DeviceClass {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceClass::Hdd => "hdd",
            DeviceClass::Ssd => "ssd",
            DeviceClass::Nvme => "nvme",
        }
    }

    /// From what a read told us: NVMe by protocol, otherwise by rotation rate
    /// (0 means solid state). Without a rotation rate we assume a spindle, the class
    /// that must not be woken.
    pub fn from_read(
        protocol: Option<&str>,
        dev_type: Option<&str>,
        rotation_rate: Option<f64>,
    ) -> Self {
        if is_nvme(protocol, dev_type) {
            DeviceClass::Nvme
        } else if rotation_rate == Some(0.0) {
            DeviceClass::Ssd
        } else {
            DeviceClass::Hdd
        }
    }

    /// Before the first read only the scan's protocol and type are known.
    pub fn from_scan(protocol: Option<&str>, dev_type: Option<&str>) -> Self {
        if is_nvme(protocol, dev_type) {
            DeviceClass::Nvme
        } else {
            DeviceClass::Hdd
        }
    }
}

fn is_nvme(protocol: Option<&str>, dev_type: Option<&str>) -> bool {
    protocol.is_some_and(|p| p.eq_ignore_ascii_case("nvme"))
        || dev_type.is_some_and(|t| t.starts_with("nvme") || t.contains("+nvme"))
}

impl PowerMode {
    /// The `-n` argument, or nothing for `never` (the default of smartctl itself).
    pub fn nocheck_arg(self) -> Option<String> {
        let mode = match self {
            PowerMode::Never => return None,
            PowerMode::Sleep => "sleep",
            PowerMode::Standby => "standby",
            PowerMode::Idle => "idle",
        };
        Some(format!("--nocheck={mode},{SKIPPED_STATUS}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_and_arguments() {
        assert_eq!(
            DeviceClass::from_read(Some("NVMe"), Some("nvme"), None),
            DeviceClass::Nvme
        );
        assert_eq!(
            DeviceClass::from_read(Some("ATA"), Some("sat"), Some(0.0)),
            DeviceClass::Ssd
        );
        assert_eq!(
            DeviceClass::from_read(Some("ATA"), Some("sat"), Some(7200.0)),
            DeviceClass::Hdd
        );
        assert_eq!(
            DeviceClass::from_read(Some("SCSI"), Some("scsi"), None),
            DeviceClass::Hdd
        );
        assert_eq!(
            DeviceClass::from_scan(Some("SCSI"), Some("megaraid,0")),
            DeviceClass::Hdd
        );
        assert_eq!(
            DeviceClass::from_scan(None, Some("sntasmedia+nvme")),
            DeviceClass::Nvme
        );
        assert_eq!(PowerMode::Never.nocheck_arg(), None);
        assert_eq!(
            PowerMode::Standby.nocheck_arg().as_deref(),
            Some("--nocheck=standby,3")
        );
    }
}
