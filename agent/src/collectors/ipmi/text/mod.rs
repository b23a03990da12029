//! Parsers for what the external IPMI tools print (ipmitool, FreeIPMI), used by the
//! `ipmitool` and `freeipmi` backends (`../tool.rs`), and the conversion of what they
//! find into the readings and SEL events the native path produces (`convert.rs`).
//!
//! Each parser is strict about a line and lenient about a listing: a tool's complaint
//! interleaved with its rows ("Unable to send command: …") or a sensor without a reading
//! ("ns", "na", "Not Readable", "Disabled") is skipped and counted by reason, because
//! real BMCs print them every day; a listing in which no line has the expected shape
//! is an error, because then we are reading something else.

pub mod convert;
pub mod dcmi;
pub mod freeipmi;
pub mod info;
pub mod ipmitool_sdr;
pub mod ipmitool_sel;
pub mod ipmitool_sensor;
pub mod names;

use std::collections::BTreeMap;

/// Why a listing could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TextError {
    /// Lines were there, but none had the shape of this listing.
    #[error("{format}: no line has the expected shape ({lines} lines; first: {first:?})")]
    NoRecords {
        format: &'static str,
        lines: usize,
        first: String,
    },
    /// A listing that must carry a value does not (DCMI without a current reading).
    #[error("{format}: no {field:?} line")]
    MissingField {
        format: &'static str,
        field: &'static str,
    },
    /// `sensors -u` output. Not an IPMI listing, and deliberately not a fallback for the
    /// hwmon source: libsensors reads the very /sys/class/hwmon files that source reads,
    /// so where sysfs is unreadable `sensors` has nothing either, and its chip names
    /// (`coretemp-isa-0000`) are not the stable `chip` labels hwmon series carry.
    #[error(
        "lm-sensors output (`sensors -u`): hwmon is read from sysfs, not from lm-sensors text"
    )]
    LmSensors,
    /// Text of no tool we know.
    #[error("not a listing of ipmitool or FreeIPMI (first line: {first:?})")]
    UnknownFormat { first: String },
}

/// Why a line yielded no sensor or SEL entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// The tool's own message between rows ("Unable to send command: Invalid argument").
    ToolMessage,
    /// An absent sensor ("na", "N/A").
    NotAvailable,
    /// A sensor that gave no reading ("ns", "Not Readable", "No Reading").
    NoReading,
    /// A disabled sensor ("Disabled").
    Disabled,
    /// A column header.
    Header,
    /// A line of no known shape.
    Unrecognised,
}

/// How many lines were skipped, by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Skipped(BTreeMap<SkipReason, usize>);

impl Skipped {
    pub fn add(&mut self, reason: SkipReason) {
        *self.0.entry(reason).or_default() += 1;
    }

    pub fn count(&self, reason: SkipReason) -> usize {
        self.0.get(&reason).copied().unwrap_or(0)
    }

    pub fn total(&self) -> usize {
        self.0.values().sum()
    }

    /// Lines skipped for any reason but headers: what an operator may want to know.
    pub fn unreadable(&self) -> usize {
        self.total() - self.count(SkipReason::Header)
    }
}

/// One sensor as a listing shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct TextSensor {
    pub name: String,
    /// The sensor number, where the listing prints it (`sdr elist`, `sdr -v`).
    pub number: Option<u8>,
    /// The IPMI sensor type, where the listing names it.
    pub sensor_type: Option<u8>,
    /// The type as printed, kept when it maps to no code ("OEM Reserved").
    pub type_text: Option<String>,
    /// The event/reading type, where the listing reveals it.
    pub reading_type: Option<u8>,
    pub reading: TextReading,
    /// 0 ok … 3 non-recoverable, as the tool judged it; `None` when it does not say.
    pub state: Option<u8>,
    /// `(lnr|lc|lnc|unc|uc|unr, value)` for the thresholds printed.
    pub thresholds: Vec<(&'static str, f64)>,
}

/// What a sensor reads.
#[derive(Debug, Clone, PartialEq)]
pub enum TextReading {
    /// A threshold sensor's value in `unit` (our label: `celsius`, `rpm`…).
    Analog { value: f64, unit: String },
    /// A discrete sensor: its state bits where printed (`ipmitool sensor`), and the
    /// texts of the asserted states where printed (`sdr elist`, FreeIPMI).
    Discrete {
        bits: Option<u16>,
        asserted: Vec<String>,
    },
}

/// A sensor listing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SensorListing {
    pub sensors: Vec<TextSensor>,
    pub skipped: Skipped,
}

impl SensorListing {
    pub fn get(&self, name: &str) -> Option<&TextSensor> {
        self.sensors.iter().find(|s| s.name == name)
    }
}

/// One SEL entry as a listing shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct TextSelEntry {
    /// The record id (ipmitool prints it in hex, FreeIPMI in decimal).
    pub id: u32,
    /// The BMC's timestamp in seconds since 1970 (tools are run with TZ=UTC, so the
    /// printed time is the raw stamp); `None` for pre-init entries, stamped with
    /// seconds since the BMC started.
    pub ts: Option<i64>,
    pub sensor: String,
    pub sensor_type: Option<u8>,
    /// The type as printed ("Power Supply", "Unknown").
    pub type_text: String,
    pub description: String,
    /// `None` where the listing does not say (FreeIPMI without `-v`).
    pub asserted: Option<bool>,
    /// FreeIPMI's judgement (Nominal 0, Warning 1, Critical 2).
    pub state: Option<u8>,
    /// The trigger reading and threshold of threshold events.
    pub reading: Option<f64>,
    pub threshold: Option<f64>,
    /// An OEM record: its record type and the printed data.
    pub oem: Option<(u8, String)>,
}

impl TextSelEntry {
    /// What identifies an entry besides its id: a cleared SEL reuses ids.
    pub fn fingerprint(&self) -> String {
        format!(
            "{}|{:?}|{}|{}|{:?}",
            self.id, self.ts, self.sensor, self.description, self.asserted
        )
    }
}

/// A SEL listing, oldest entry first (the tools list in SEL order).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SelListing {
    pub entries: Vec<TextSelEntry>,
    pub skipped: Skipped,
}

/// Which tool printed a listing, and which of its commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `ipmitool sensor` (10 columns, `|` or `-c`).
    IpmitoolSensor,
    /// `ipmitool sdr`, `sdr elist`, `sdr type X` (3 or 5 columns, `|` or `-c`).
    IpmitoolSdr,
    /// `ipmitool sdr -v`, `sensor -v`: one block per sensor.
    IpmitoolVerbose,
    /// `ipmitool sel elist` / `sel list`.
    IpmitoolSel,
    /// `ipmitool dcmi power reading`.
    IpmitoolDcmi,
    /// FreeIPMI `ipmi-sensors` / `ipmimonitoring` (with their header).
    FreeipmiSensors,
    /// FreeIPMI `ipmi-sel` (with its header).
    FreeipmiSel,
    /// FreeIPMI `ipmi-dcmi --get-system-power-statistics`.
    FreeipmiDcmi,
}

/// What a listing of unknown origin held.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    Sensors(SensorListing),
    Sel(SelListing),
    Dcmi(dcmi::DcmiPower),
}

/// Lines of tool chatter that ipmitool and FreeIPMI print between rows.
pub(crate) fn is_tool_message(line: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "Unable to",
        "Error",
        "Invalid",
        "Insufficient",
        "Get HPM",
        "Loading IANA",
        "Running Get",
        "Discovered IPMB",
        "Close Session",
        "ipmi_",
        "Caching SDR",
    ];
    let line = line.trim();
    PREFIXES.iter().any(|p| line.starts_with(p))
}

/// Splits a row at `|`, or at `,` for `-c`/CSV output; fields trimmed.
pub(crate) fn fields(line: &str) -> Vec<&str> {
    let sep = if line.contains('|') { '|' } else { ',' };
    line.split(sep).map(str::trim).collect()
}

/// The first non-blank line, for error messages.
pub(crate) fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default()
        .chars()
        .take(120)
        .collect()
}

pub(crate) fn no_records(format: &'static str, text: &str) -> TextError {
    TextError::NoRecords {
        format,
        lines: text.lines().filter(|l| !l.trim().is_empty()).count(),
        first: first_line(text),
    }
}

fn looks_like_lm_sensors(text: &str) -> bool {
    // `sensors -u` prints subfeatures as indented `tempN_input: 42.000`.
    text.lines().any(|l| {
        let t = l.trim_start();
        l.starts_with(' ')
            && t.split_once(':').is_some_and(|(key, value)| {
                key.contains('_') && !key.contains(' ') && value.trim().parse::<f64>().is_ok()
            })
    }) && !text.contains('|')
}

/// Which tool and command printed `text`.
pub fn detect(text: &str) -> Result<Format, TextError> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !is_tool_message(l))
        .collect();
    let first = lines.first().copied().unwrap_or_default();
    if looks_like_lm_sensors(text) {
        return Err(TextError::LmSensors);
    }
    if text.contains("Instantaneous power reading") {
        return Ok(Format::IpmitoolDcmi);
    }
    if lines.iter().any(|l| l.starts_with("Current Power")) {
        return Ok(Format::FreeipmiDcmi);
    }
    if first.starts_with("Sensor ID") && first.contains(':') {
        return Ok(Format::IpmitoolVerbose);
    }
    if first.contains("SEL has no entries") {
        return Ok(Format::IpmitoolSel);
    }
    let head = fields(first);
    if head.first() == Some(&"ID") && head.contains(&"Name") {
        if head.contains(&"Date") {
            return Ok(Format::FreeipmiSel);
        }
        if head.contains(&"Reading") {
            return Ok(Format::FreeipmiSensors);
        }
    }
    let hex_id = |f: &str| {
        f.len() > 1 && f.ends_with('h') && u8::from_str_radix(&f[..f.len() - 1], 16).is_ok()
    };
    match head.len() {
        10 => Ok(Format::IpmitoolSensor),
        3 | 4 => Ok(Format::IpmitoolSdr),
        5 if hex_id(head[1]) => Ok(Format::IpmitoolSdr),
        6..=8 => Ok(Format::IpmitoolSel),
        _ => Err(TextError::UnknownFormat {
            first: first_line(text),
        }),
    }
}

/// Parses a listing of unknown origin (diagnostics, the conformance tests); the
/// backends call the parser of the command they ran.
pub fn parse_any(text: &str) -> Result<(Format, Parsed), TextError> {
    let format = detect(text)?;
    let parsed = match format {
        Format::IpmitoolSensor => Parsed::Sensors(ipmitool_sensor::parse(text)?),
        Format::IpmitoolSdr => Parsed::Sensors(ipmitool_sdr::parse(text)?),
        Format::IpmitoolVerbose => Parsed::Sensors(ipmitool_sdr::parse_verbose(text)?),
        Format::IpmitoolSel => Parsed::Sel(ipmitool_sel::parse(text)?),
        Format::FreeipmiSensors => Parsed::Sensors(freeipmi::parse_sensors(text)?),
        Format::FreeipmiSel => Parsed::Sel(freeipmi::parse_sel(text)?),
        Format::IpmitoolDcmi | Format::FreeipmiDcmi => Parsed::Dcmi(dcmi::parse(text)?),
    };
    Ok((format, parsed))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `HH:MM:SS` → seconds of the day.
pub(crate) fn seconds_of_day(time: &str) -> Option<i64> {
    let mut parts = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (parts.next()??, parts.next()??, parts.next()??);
    ((0..24).contains(&h) && (0..60).contains(&m) && (0..61).contains(&s))
        .then_some(h * 3600 + m * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2019, 3, 12), 17_967);
        assert_eq!(days_from_civil(2000, 2, 29), 11_016);
        assert_eq!(seconds_of_day("13:10:45"), Some(47_445));
        assert_eq!(seconds_of_day("25:00:00"), None);
    }

    #[test]
    fn detection_by_shape() {
        let sensor = "FAN1 | 6000.000 | RPM | ok | 300.000 | 500.000 | 700.000 | 25300.000 | 25400.000 | 25500.000\n";
        assert_eq!(detect(sensor), Ok(Format::IpmitoolSensor));
        assert_eq!(
            detect("Fan1 | 30h | ok | 7.1 | 5040 RPM\n"),
            Ok(Format::IpmitoolSdr)
        );
        assert_eq!(
            detect("Unable to send command: x\nB | 0x00 | ok\n"),
            Ok(Format::IpmitoolSdr)
        );
        assert_eq!(
            detect("   1 | 03/12/2019 | 13:10:45 | Physical Security Chassis Intru | General Chassis intrusion () | Asserted\n"),
            Ok(Format::IpmitoolSel)
        );
        assert_eq!(
            detect("coretemp-isa-0000\nCore 0:\n  temp2_input: 75.000\n"),
            Err(TextError::LmSensors)
        );
        assert!(matches!(
            detect("hello world\n"),
            Err(TextError::UnknownFormat { .. })
        ));
    }
}
