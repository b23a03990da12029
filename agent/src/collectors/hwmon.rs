//! The `hwmon` source: fans, PWM duty, temperatures, voltages, power and current from
//! `<sysfs>/class/hwmon/hwmon*`, with the limits and alarm flags the chips expose.
//!
//! The `chip` label must survive reboots, and `hwmonN` numbering does not (it follows
//! driver load order), so, as node_exporter does, the chip is named after the device
//! its `device` symlink points to (`platform_coretemp_0`, `nvme_nvme0`); the driver's
//! `name` is kept in `node_hwmon_chip_names`. `label` is the `*_label` file where the
//! driver has one, else the sensor's own name, so label sets are always complete.
//! A `pwmN` output takes the label of `fanN`: on Super-I/O chips pwmN drives fanN,
//! and this way a fan and its duty cycle differ only in `sensor`.

use super::{Availability, CollectError, Collector, Every};
use crate::config::{check_range, ConfigError};
use crate::duration;
use crate::host_paths::HostPaths;
use crate::output::Output;
use harbinger_shared::catalogue::names;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The source name, as in `harbinger_agent_source_success{source="hwmon"}`.
pub const NAME: &str = "hwmon";

/// `[hwmon]` in the agent configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HwmonConfig {
    pub enabled: bool,
    #[serde(deserialize_with = "duration::deserialize")]
    pub interval: Duration,
}

impl Default for HwmonConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(10),
        }
    }
}

impl HwmonConfig {
    pub fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        check_range(
            &format!("{prefix}.interval"),
            self.interval,
            Duration::from_secs(1),
            Duration::from_secs(3600),
        )
    }
}

/// The sensor types read, and the files of each that matter.
const TYPES: &[(&str, &[&str])] = &[
    (
        "fan",
        &["input", "min", "max", "target", "alarm", "fault", "label"],
    ),
    ("pwm", &[""]),
    (
        "temp",
        &[
            "input",
            "min",
            "max",
            "crit",
            "alarm",
            "crit_alarm",
            "label",
        ],
    ),
    ("in", &["input", "min", "max", "alarm", "label"]),
    (
        "power",
        &["input", "average", "max", "crit", "alarm", "label"],
    ),
    ("curr", &["input", "min", "max", "alarm", "label"]),
    ("intrusion", &["alarm"]),
];

/// One sensor: its type, number and the raw contents of its files by item.
#[derive(Debug, Default)]
struct Sensor {
    kind: &'static str,
    index: u32,
    files: BTreeMap<&'static str, String>,
}

impl Sensor {
    fn id(&self) -> String {
        format!("{}{}", self.kind, self.index)
    }

    fn number(&self, item: &str) -> Option<f64> {
        self.files.get(item)?.parse::<f64>().ok()
    }
}

/// One chip: the directory holding its sensor files and its stable label.
struct Chip {
    chip: String,
    hwmon: String,
    name: Option<String>,
    sensors: Vec<Sensor>,
}

/// Reads every hwmon chip each cycle.
pub struct HwmonCollector {
    class_dir: PathBuf,
    every: Every,
}

impl HwmonCollector {
    pub fn new(paths: &HostPaths, config: &HwmonConfig) -> Self {
        Self {
            class_dir: paths.sys("class/hwmon"),
            every: Every::new(config.interval),
        }
    }
}

impl Collector for HwmonCollector {
    fn name(&self) -> &'static str {
        NAME
    }

    fn probe(&self) -> Availability {
        match std::fs::read_dir(&self.class_dir).map(|mut e| e.next().is_some()) {
            Ok(true) => Availability::Available,
            Ok(false) => Availability::Unavailable(format!(
                "{} is empty: no hardware monitoring driver exposes sensors here (usual in virtual machines)",
                self.class_dir.display()
            )),
            Err(err) => Availability::Unavailable(format!(
                "cannot read {}: {err}",
                self.class_dir.display()
            )),
        }
    }

    fn collect(&mut self, ts_ms: i64, out: &mut Output) -> Result<(), CollectError> {
        if !self.every.due(ts_ms) {
            return Ok(());
        }
        for chip in read_chips(&self.class_dir)? {
            emit_chip(ts_ms, &chip, out);
        }
        Ok(())
    }
}

/// Reads every chip under `class_dir` (`<sysfs>/class/hwmon`).
fn read_chips(class_dir: &Path) -> Result<Vec<Chip>, CollectError> {
    let entries = std::fs::read_dir(class_dir).map_err(|source| CollectError::Read {
        path: class_dir.to_owned(),
        source,
    })?;
    let mut dirs: Vec<(u32, String, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let n = name.strip_prefix("hwmon")?.parse().ok()?;
            Some((n, name, entry.path()))
        })
        .collect();
    dirs.sort_by_key(|(n, _, _)| *n);

    let mut chips = Vec::with_capacity(dirs.len());
    for (_, hwmon, dir) in dirs {
        if !dir.is_dir() {
            tracing::debug!(path = %dir.display(), "hwmon entry is not a directory; skipped");
            continue;
        }
        // Some drivers (applesmc) keep the sensor files on the device, not on the
        // hwmon directory.
        let mut sensors = read_sensors(&dir);
        let mut name = read_trimmed(&dir.join("name"));
        if sensors.is_empty() {
            let device = dir.join("device");
            sensors = read_sensors(&device);
            name = name.or_else(|| read_trimmed(&device.join("name")));
        }
        chips.push(Chip {
            // Without a device link, node_exporter's second choice: the driver's name.
            chip: device_chip_id(&dir, name.as_deref())
                .or_else(|| name.as_deref().map(clean).filter(|n| !n.is_empty()))
                .unwrap_or_else(|| hwmon.clone()),
            hwmon,
            name,
            sensors,
        });
    }
    // Several hwmon directories on one device (the three radios of one Wi-Fi card)
    // would share a chip label; the driver's name tells them apart.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for chip in &chips {
        *seen.entry(chip.chip.clone()).or_default() += 1;
    }
    for chip in &mut chips {
        if seen.get(&chip.chip).copied().unwrap_or(0) > 1 {
            let suffix = match chip.name.as_deref().map(clean) {
                Some(name) if !name.is_empty() && name != chip.chip => name,
                // Named after the driver already: only the hwmon number is left.
                _ => chip.hwmon.clone(),
            };
            chip.chip = format!("{}_{suffix}", chip.chip);
        }
    }
    Ok(chips)
}

/// The stable chip label from the `device` symlink: `<parent dir>_<device dir>` of its
/// target (node_exporter's scheme). A dangling link (a partial capture) still names
/// the device in its last component; the driver's name then stands in for the parent.
fn device_chip_id(dir: &Path, name: Option<&str>) -> Option<String> {
    let device = dir.join("device");
    if let Ok(real) = std::fs::canonicalize(&device) {
        let dev = real.file_name().and_then(|n| n.to_str()).map(clean);
        let parent = real
            .parent()
            .and_then(Path::file_name)
            .and_then(|n| n.to_str())
            .map(clean);
        return match (parent, dev) {
            (Some(parent), Some(dev)) if !parent.is_empty() && !dev.is_empty() => {
                Some(format!("{parent}_{dev}"))
            }
            (_, Some(dev)) if !dev.is_empty() => Some(dev),
            _ => name.map(clean),
        };
    }
    let target = std::fs::read_link(&device).ok()?;
    let last = target
        .components()
        .rev()
        .find_map(|c| match c {
            std::path::Component::Normal(part) => part.to_str(),
            _ => None,
        })
        .map(clean)?;
    match name {
        Some(name) => Some(format!("{}_{last}", clean(name))),
        None => Some(last),
    }
}

/// Lower-case, with every character outside `[a-z0-9_]` replaced by `_`.
fn clean(text: &str) -> String {
    text.trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect::<String>()
        .trim_matches('_')
        .to_owned()
}

fn read_trimmed(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// Splits `fan1_input` into (`fan`, 1, `input`) and `pwm2` into (`pwm`, 2, ``), for the
/// types and items in [`TYPES`] only.
fn parse_file_name(file: &str) -> Option<(&'static str, u32, &'static str)> {
    let (head, item) = file.split_once('_').unwrap_or((file, ""));
    let digits = head.trim_start_matches(|c: char| c.is_ascii_alphabetic());
    let kind = &head[..head.len() - digits.len()];
    let index: u32 = digits.parse().ok()?;
    let (kind, items) = TYPES.iter().find(|(k, _)| *k == kind)?;
    let item = items.iter().find(|i| **i == item)?;
    Some((kind, index, item))
}

/// Reads the sensor files of one directory; unreadable or empty files are left out
/// (some chips fail reads of disconnected inputs with EIO).
fn read_sensors(dir: &Path) -> Vec<Sensor> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut sensors: BTreeMap<(&'static str, u32), Sensor> = BTreeMap::new();
    for entry in entries.filter_map(Result::ok) {
        let Ok(file) = entry.file_name().into_string() else {
            continue;
        };
        let Some((kind, index, item)) = parse_file_name(&file) else {
            continue;
        };
        let Some(value) = read_trimmed(&entry.path()) else {
            continue;
        };
        sensors
            .entry((kind, index))
            .or_insert_with(|| Sensor {
                kind,
                index,
                ..Sensor::default()
            })
            .files
            .insert(item, value);
    }
    sensors.into_values().collect()
}

/// A temperature limit is "not set" when a chip reports absolute zero or an absurd
/// value (NVMe reports 0xFFFF kelvin, i.e. 65261.85 °C, for a missing threshold).
fn plausible_celsius(value: f64) -> bool {
    value > -273.0 && value < 1000.0
}

fn emit_chip(ts: i64, chip: &Chip, out: &mut Output) {
    if let Some(name) = &chip.name {
        out.push(
            ts,
            names::HWMON_CHIP_NAMES,
            &[("chip", &chip.chip), ("chip_name", name)],
            1.0,
        );
    }
    let fan_labels: HashMap<u32, String> = chip
        .sensors
        .iter()
        .filter(|s| s.kind == "fan")
        .map(|s| {
            let label = s.files.get("label").cloned().unwrap_or_else(|| s.id());
            (s.index, label)
        })
        .collect();
    for sensor in &chip.sensors {
        let id = sensor.id();
        let label = match sensor.kind {
            "pwm" => fan_labels
                .get(&sensor.index)
                .cloned()
                .unwrap_or_else(|| id.clone()),
            _ => sensor
                .files
                .get("label")
                .cloned()
                .unwrap_or_else(|| id.clone()),
        };
        let labels = [
            ("chip", chip.chip.as_str()),
            ("sensor", &id),
            ("label", &label),
        ];
        // (item, metric, divisor from the sysfs unit to the base unit; dividing keeps
        // 81850 m°C at 81.85 where multiplying by 0.001 would not)
        let items: &[(&str, &str, f64)] = match sensor.kind {
            "fan" => &[
                ("input", names::HWMON_FAN_RPM, 1.0),
                ("min", names::HWMON_FAN_MIN_RPM, 1.0),
                ("max", names::HWMON_FAN_MAX_RPM, 1.0),
                ("target", names::HWMON_FAN_TARGET_RPM, 1.0),
                ("alarm", names::HWMON_FAN_ALARM, 1.0),
                ("fault", names::HWMON_FAN_FAULT, 1.0),
            ],
            // 0..255 duty cycle.
            "pwm" => &[("", names::HWMON_PWM_RATIO, 255.0)],
            "temp" => &[
                ("input", names::HWMON_TEMP, 1000.0),
                ("min", names::HWMON_TEMP_MIN, 1000.0),
                ("max", names::HWMON_TEMP_MAX, 1000.0),
                ("crit", names::HWMON_TEMP_CRIT, 1000.0),
                ("alarm", names::HWMON_TEMP_ALARM, 1.0),
                ("crit_alarm", names::HWMON_TEMP_CRIT_ALARM, 1.0),
            ],
            "in" => &[
                ("input", names::HWMON_IN_VOLTS, 1000.0),
                ("min", names::HWMON_IN_MIN_VOLTS, 1000.0),
                ("max", names::HWMON_IN_MAX_VOLTS, 1000.0),
                ("alarm", names::HWMON_IN_ALARM, 1.0),
            ],
            "power" => &[
                ("max", names::HWMON_POWER_MAX_WATTS, 1e6),
                ("crit", names::HWMON_POWER_CRIT_WATTS, 1e6),
                ("alarm", names::HWMON_POWER_ALARM, 1.0),
            ],
            "curr" => &[
                ("input", names::HWMON_CURR_AMPERES, 1000.0),
                ("min", names::HWMON_CURR_MIN_AMPERES, 1000.0),
                ("max", names::HWMON_CURR_MAX_AMPERES, 1000.0),
                ("alarm", names::HWMON_CURR_ALARM, 1.0),
            ],
            "intrusion" => &[("alarm", names::HWMON_INTRUSION_ALARM, 1.0)],
            _ => &[],
        };
        for (item, metric, divisor) in items {
            let Some(raw) = sensor.number(item) else {
                continue;
            };
            let value = raw / divisor;
            let is_limit = matches!(*item, "min" | "max" | "crit");
            if sensor.kind == "temp" && is_limit && !plausible_celsius(value) {
                continue;
            }
            out.push(ts, metric, &labels, value);
        }
        if sensor.kind == "power" {
            // Instantaneous power where the chip has it, else its running average.
            if let Some(uw) = sensor.number("input").or_else(|| sensor.number("average")) {
                out.push(ts, names::HWMON_POWER_WATTS, &labels, uw / 1e6);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_split_into_type_index_item() {
        assert_eq!(parse_file_name("fan1_input"), Some(("fan", 1, "input")));
        assert_eq!(
            parse_file_name("temp12_crit_alarm"),
            Some(("temp", 12, "crit_alarm"))
        );
        assert_eq!(parse_file_name("pwm2"), Some(("pwm", 2, "")));
        assert_eq!(parse_file_name("pwm2_enable"), None, "not read");
        assert_eq!(parse_file_name("in0_input"), Some(("in", 0, "input")));
        assert_eq!(parse_file_name("bogus1_input"), None);
        assert_eq!(parse_file_name("name"), None);
        assert_eq!(parse_file_name("fan_input"), None);
    }

    #[test]
    fn clean_makes_label_safe_names() {
        assert_eq!(clean("coretemp.0"), "coretemp_0");
        assert_eq!(clean("0000:45:00.0"), "0000_45_00_0");
        assert_eq!(clean("Nct6779"), "nct6779");
    }

    #[test]
    fn implausible_temperature_limits_are_unset() {
        assert!(!plausible_celsius(-273.15));
        assert!(!plausible_celsius(65261.85));
        assert!(plausible_celsius(84.85));
        assert!(plausible_celsius(-40.0));
    }
}
