//! Device discovery: `smartctl --scan-open --json` (or its text form), merged with the
//! per-device overrides of the configuration.
//!
//! `--scan-open` (unlike `--scan`) opens each device and so reveals the type smartctl
//! needs: `sat` for SATA behind a SAS HBA, `sat+megaraid,N` and `megaraid,N` for disks
//! behind a MegaRAID, `cciss,N`, `3ware,N`, `areca,N`, USB bridges such as
//! `usbjmicron`. We pass that type back with `-d`, so RAID members are read without
//! configuration; overrides cover what the scan cannot see.

use super::config::DeviceOverride;
use super::json::{Document, ScanEntry};
use super::policy::PowerMode;

/// One device to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    /// The `-d` type; `None` lets smartctl detect it.
    pub dev_type: Option<String>,
    pub protocol: Option<String>,
    /// A per-device power-mode override.
    pub power_mode: Option<PowerMode>,
}

impl Target {
    /// Stable within a sweep: a RAID controller's disks share one name.
    pub fn key(&self) -> String {
        match &self.dev_type {
            Some(t) => format!("{} -d {t}", self.name),
            None => self.name.clone(),
        }
    }
}

/// A device the scan found but could not open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenFailure {
    pub name: String,
    pub reason: String,
}

impl OpenFailure {
    /// Missing privileges rather than a broken device.
    pub fn is_permission(&self) -> bool {
        is_permission_message(&self.reason)
    }
}

pub fn is_permission_message(message: &str) -> bool {
    message.contains("Permission denied") || message.contains("Operation not permitted")
}

/// What a scan found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scan {
    pub devices: Vec<Target>,
    pub failed: Vec<OpenFailure>,
}

/// Why a scan's output could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScanError {
    #[error("scan output is neither JSON nor smartctl's text format: {0}")]
    Unreadable(String),
    #[error("smartctl --scan-open failed: {0}")]
    Failed(String),
}

/// Parses `--scan-open --json` output, falling back to the text form
/// (`/dev/sda -d sat # /dev/sda [SAT], ATA device`) that older or odd builds print.
pub fn parse_scan(output: &[u8]) -> Result<Scan, ScanError> {
    let trimmed = output.trim_ascii_start();
    if trimmed.starts_with(b"{") {
        let doc = Document::parse(trimmed).map_err(|e| ScanError::Unreadable(e.to_string()))?;
        return Ok(scan_from_json(&doc));
    }
    parse_scan_text(&String::from_utf8_lossy(output))
}

fn scan_from_json(doc: &Document) -> Scan {
    let mut scan = Scan::default();
    for entry in doc.devices.iter().flatten() {
        let ScanEntry {
            name: Some(name),
            dev_type,
            protocol,
            open_error,
            ..
        } = entry
        else {
            continue;
        };
        match open_error {
            Some(reason) => scan.failed.push(OpenFailure {
                name: name.clone(),
                reason: reason.clone(),
            }),
            None => scan.devices.push(Target {
                name: name.clone(),
                dev_type: dev_type.clone(),
                protocol: protocol.clone(),
                power_mode: None,
            }),
        }
    }
    scan
}

/// The text form: one device per line; a device that could not be opened is commented
/// out with the reason after the last comma; a comment with no device is a scan error.
pub fn parse_scan_text(text: &str) -> Result<Scan, ScanError> {
    let mut scan = Scan::default();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (failed, body) = match line.strip_prefix('#') {
            Some(rest) => (true, rest.trim()),
            None => (false, line),
        };
        let (command, comment) = body.split_once(" # ").unwrap_or((body, ""));
        let mut words = command.split_whitespace();
        let name = match words.next() {
            Some(n) if n.starts_with('/') => n.to_owned(),
            _ if failed => return Err(ScanError::Failed(body.to_owned())),
            _ => return Err(ScanError::Unreadable(line.to_owned())),
        };
        let dev_type = match (words.next(), words.next()) {
            (Some("-d"), Some(t)) => Some(t.to_owned()),
            _ => None,
        };
        if failed {
            let reason = comment
                .split_once("open failed: ")
                .map(|(_, r)| r.trim().to_owned())
                .unwrap_or_else(|| comment.trim().to_owned());
            scan.failed.push(OpenFailure { name, reason });
        } else {
            let protocol = comment
                .rsplit_once(", ")
                .map(|(_, p)| p.trim_end_matches(" device").trim().to_owned());
            scan.devices.push(Target {
                name,
                dev_type,
                protocol,
                power_mode: None,
            });
        }
    }
    Ok(scan)
}

/// Applies the configured overrides to the scanned devices (see `DeviceOverride`).
pub fn apply_overrides(mut devices: Vec<Target>, overrides: &[DeviceOverride]) -> Vec<Target> {
    for o in overrides {
        let same_name: Vec<usize> = (0..devices.len())
            .filter(|&i| devices[i].name == o.name)
            .collect();
        if o.exclude {
            devices.retain(|d| {
                d.name != o.name
                    || o.dev_type
                        .as_ref()
                        .is_some_and(|t| d.dev_type.as_ref() != Some(t))
            });
            continue;
        }
        let exact = same_name
            .iter()
            .copied()
            .find(|&i| o.dev_type.is_none() || devices[i].dev_type == o.dev_type);
        match (exact, same_name.as_slice()) {
            (Some(i), _) => {
                if o.power_mode.is_some() {
                    devices[i].power_mode = o.power_mode;
                }
            }
            (None, [only]) => {
                devices[*only].dev_type = o.dev_type.clone();
                devices[*only].power_mode = o.power_mode.or(devices[*only].power_mode);
            }
            (None, _) => devices.push(Target {
                name: o.name.clone(),
                dev_type: o.dev_type.clone(),
                protocol: None,
                power_mode: o.power_mode,
            }),
        }
    }
    devices
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_scan_with_open_errors() {
        let scan = parse_scan(
            br#"{"devices":[
              {"name":"/dev/sda","info_name":"/dev/sda [SAT]","type":"sat","protocol":"ATA"},
              {"name":"/dev/bus/0","info_name":"/dev/bus/0 [megaraid_disk_00]","type":"megaraid,0","protocol":"SCSI"},
              {"name":"/dev/nvme0","info_name":"/dev/nvme0","type":"nvme","protocol":"NVMe",
               "open_error":"Permission denied"}]}"#,
        )
        .expect("parses");
        assert_eq!(scan.devices.len(), 2);
        assert_eq!(scan.devices[1].key(), "/dev/bus/0 -d megaraid,0");
        assert_eq!(scan.failed.len(), 1);
        assert!(scan.failed[0].is_permission());
    }

    #[test]
    fn text_scan() {
        let scan = parse_scan(
            b"/dev/sda -d sat # /dev/sda [SAT], ATA device\n# /dev/nvme0 -d nvme # /dev/nvme0, NVMe device open failed: Permission denied\n",
        )
        .expect("parses");
        assert_eq!(scan.devices[0].dev_type.as_deref(), Some("sat"));
        assert_eq!(scan.devices[0].protocol.as_deref(), Some("ATA"));
        assert_eq!(
            scan.failed,
            [OpenFailure {
                name: "/dev/nvme0".into(),
                reason: "Permission denied".into()
            }]
        );
        let err =
            parse_scan(b"# scan_smart_devices: glob(3) aborted matching pattern /dev/sd[a-z]\n")
                .expect_err("a scan error");
        assert!(
            matches!(err, ScanError::Failed(ref m) if m.contains("glob(3) aborted")),
            "{err}"
        );
    }

    #[test]
    fn overrides_replace_add_and_exclude() {
        let scanned = vec![
            Target {
                name: "/dev/sda".into(),
                dev_type: Some("scsi".into()),
                protocol: None,
                power_mode: None,
            },
            Target {
                name: "/dev/bus/0".into(),
                dev_type: Some("megaraid,0".into()),
                protocol: None,
                power_mode: None,
            },
            Target {
                name: "/dev/bus/0".into(),
                dev_type: Some("megaraid,1".into()),
                protocol: None,
                power_mode: None,
            },
            Target {
                name: "/dev/sdc".into(),
                dev_type: Some("sat".into()),
                protocol: None,
                power_mode: None,
            },
        ];
        let o = |name: &str, t: Option<&str>, exclude: bool| DeviceOverride {
            name: name.into(),
            dev_type: t.map(Into::into),
            exclude,
            power_mode: None,
        };
        let result = apply_overrides(
            scanned,
            &[
                o("/dev/sda", Some("sat"), false),
                o("/dev/bus/0", Some("megaraid,2"), false),
                o("/dev/bus/0", Some("megaraid,0"), true),
                o("/dev/sdc", None, true),
                o("/dev/sdq", Some("cciss,3"), false),
            ],
        );
        let keys: Vec<String> = result.iter().map(Target::key).collect();
        assert_eq!(
            keys,
            [
                "/dev/sda -d sat",
                "/dev/bus/0 -d megaraid,1",
                "/dev/bus/0 -d megaraid,2",
                "/dev/sdq -d cciss,3"
            ]
        );
    }
}
