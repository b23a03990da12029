//! The `[smart]` section of the agent configuration.

use crate::config::ConfigError;
use crate::duration::{self, format_duration};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

use super::policy::PowerMode;

/// How the SMART source runs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmartConfig {
    pub enabled: bool,
    /// The `smartctl` binary: a bare name is looked up in `PATH` and the sbin dirs.
    pub smartctl: PathBuf,
    /// Time between two sweeps of every disk. SMART data moves slowly and reading it
    /// costs the disk a little, hence the long default.
    #[serde(deserialize_with = "duration::deserialize")]
    pub interval: Duration,
    /// The longest one `smartctl` run may take before it is killed.
    #[serde(deserialize_with = "duration::deserialize")]
    pub timeout: Duration,
    /// The most output accepted from one `smartctl` run.
    pub max_output_bytes: usize,
    /// Discover devices with `smartctl --scan-open`; off, only `devices` are read.
    pub scan: bool,
    /// Which power modes each kind of device is left alone in.
    pub power_mode: PowerPolicy,
    /// Per-device overrides and additions.
    pub devices: Vec<DeviceOverride>,
}

/// The `-n` policy per device class: `never` reads the disk whatever its power state;
/// `sleep`, `standby` and `idle` skip it while it is in that mode or a lower one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PowerPolicy {
    /// Rotating disks (and disks not read yet): keep sleeping spindles asleep.
    pub hdd: PowerMode,
    /// SATA/SAS SSDs: they may claim to sleep, but reading them costs nothing.
    pub ssd: PowerMode,
    pub nvme: PowerMode,
}

/// One `[[smart.devices]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceOverride {
    /// The device as smartctl names it: `/dev/sda`, `/dev/bus/0`, `/dev/sg1`.
    pub name: String,
    /// The `-d` type: `sat`, `nvme`, `megaraid,3`, `sat+megaraid,0`, `cciss,1`,
    /// `3ware,2`, `areca,1/1`, `usbjmicron`... An entry whose name matches exactly one
    /// scanned device replaces that device's type; otherwise it adds a device.
    #[serde(default, rename = "type")]
    pub dev_type: Option<String>,
    /// Leave this device (all types under this name, unless `type` is given) alone.
    #[serde(default)]
    pub exclude: bool,
    /// Overrides the power-mode policy for this device.
    #[serde(default)]
    pub power_mode: Option<PowerMode>,
}

impl Default for SmartConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            smartctl: PathBuf::from("smartctl"),
            interval: Duration::from_secs(30 * 60),
            timeout: Duration::from_secs(60),
            max_output_bytes: 4 << 20,
            scan: true,
            power_mode: PowerPolicy::default(),
            devices: Vec::new(),
        }
    }
}

impl Default for PowerPolicy {
    fn default() -> Self {
        Self {
            hdd: PowerMode::Standby,
            ssd: PowerMode::Never,
            nvme: PowerMode::Never,
        }
    }
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

impl SmartConfig {
    /// Checks every value; the error names the key under `smart.`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.smartctl.as_os_str().is_empty() {
            return Err(invalid("smart.smartctl", "must not be empty"));
        }
        for (key, value, min, max) in [
            (
                "smart.interval",
                self.interval,
                Duration::from_secs(1),
                Duration::from_secs(7 * 24 * 3600),
            ),
            (
                "smart.timeout",
                self.timeout,
                Duration::from_millis(100),
                Duration::from_secs(3600),
            ),
        ] {
            if value < min {
                return Err(invalid(
                    key,
                    format!("must be at least {}", format_duration(min)),
                ));
            }
            if value > max {
                return Err(invalid(
                    key,
                    format!("must be at most {}", format_duration(max)),
                ));
            }
        }
        if self.max_output_bytes < 4096 {
            return Err(invalid("smart.max_output_bytes", "must be at least 4096"));
        }
        for (i, device) in self.devices.iter().enumerate() {
            if !device.name.starts_with('/') {
                return Err(invalid(
                    format!("smart.devices[{i}].name"),
                    format!("{:?} must be an absolute device path", device.name),
                ));
            }
            if let Some(t) = &device.dev_type {
                let ok = !t.is_empty()
                    && t.chars()
                        .all(|c| c.is_ascii_alphanumeric() || ",+/_-".contains(c));
                if !ok {
                    return Err(invalid(
                        format!("smart.devices[{i}].type"),
                        format!("{t:?} is not a smartctl device type (e.g. sat, megaraid,0)"),
                    ));
                }
            }
        }
        if !self.scan
            && self
                .devices
                .iter()
                .all(|d| d.exclude || d.dev_type.is_none())
        {
            return Err(invalid(
                "smart.scan",
                "is off, so smart.devices must list at least one device with a type",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<SmartConfig, String> {
        let config: SmartConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }

    #[test]
    fn defaults_and_overrides() {
        let config = parse("").expect("defaults are valid");
        assert_eq!(config.interval, Duration::from_secs(1800));
        assert_eq!(config.power_mode.hdd, PowerMode::Standby);
        assert_eq!(config.power_mode.ssd, PowerMode::Never);
        let config = parse(
            r#"
            interval = "1h"
            [power_mode]
            ssd = "sleep"
            [[devices]]
            name = "/dev/bus/0"
            type = "megaraid,2"
            [[devices]]
            name = "/dev/sdz"
            exclude = true
            "#,
        )
        .expect("valid");
        assert_eq!(config.power_mode.ssd, PowerMode::Sleep);
        assert_eq!(config.devices[0].dev_type.as_deref(), Some("megaraid,2"));
        assert!(config.devices[1].exclude);
    }

    #[test]
    fn errors_name_the_key() {
        let err = parse("interval = \"0s\"").expect_err("too short");
        assert_eq!(err, "smart.interval: must be at least 1s");
        let err = parse("[[devices]]\nname = \"sda\"").expect_err("relative");
        assert!(err.starts_with("smart.devices[0].name:"), "{err}");
        let err =
            parse("[[devices]]\nname = \"/dev/sda\"\ntype = \"sat; rm\"").expect_err("bad type");
        assert!(err.starts_with("smart.devices[0].type:"), "{err}");
        let err = parse("scan = false").expect_err("nothing to read");
        assert!(err.starts_with("smart.scan:"), "{err}");
        let err = parse("[power_mode]\nhdd = \"off\"").expect_err("unknown mode");
        assert!(err.contains("off"), "{err}");
        let err = parse("intervall = \"1h\"").expect_err("typo");
        assert!(err.contains("intervall"), "{err}");
    }
}
