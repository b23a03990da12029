//! `ipmitool sdr` listings: the compact `sdr`/`sdr list` (name, reading, status), the
//! extended `sdr elist` and `sdr type X` (name, number, status, entity, reading), their
//! `-c` forms, the verbose `sdr -v`/`sensor -v` blocks, and the binary `sdr dump` file,
//! whose records the native SDR parser reads as it reads them from a BMC.

use super::names::{
    fold, match_states, sensor_type_code, state_from_word, threshold_label, unit_from_word,
};
use super::{fields, is_tool_message, no_records, SensorListing, SkipReason, TextError};
use super::{TextReading, TextSensor};
use crate::collectors::ipmi::sdr::{sensor_from_record, SensorDef};

/// Parses `sdr`, `sdr elist`, `sdr type X`, with or without `-c`.
pub fn parse(text: &str) -> Result<SensorListing, TextError> {
    let mut listing = SensorListing::default();
    let mut rows = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f = fields(line);
        let result = match f.len() {
            3 => compact(f[0], f[1], None, f[2]),
            4 => compact(f[0], f[1], Some(f[2]), f[3]),
            5 => extended(&f),
            _ => Err(SkipReason::Unrecognised),
        };
        // Only a line that is no row can be chatter: a sensor may be named "Error…".
        let result = match result {
            Err(SkipReason::Unrecognised) if is_tool_message(line) => Err(SkipReason::ToolMessage),
            other => other,
        };
        match result {
            Ok(sensor) => {
                rows += 1;
                listing.sensors.push(sensor);
            }
            Err(reason) => {
                if !matches!(reason, SkipReason::Unrecognised | SkipReason::ToolMessage) {
                    rows += 1;
                }
                listing.skipped.add(reason);
            }
        }
    }
    if rows == 0 && listing.skipped.count(SkipReason::Unrecognised) > 0 {
        return Err(no_records("ipmitool sdr", text));
    }
    Ok(listing)
}

fn sensor(name: &str, reading: TextReading) -> TextSensor {
    let analog = matches!(reading, TextReading::Analog { .. });
    TextSensor {
        name: name.to_owned(),
        number: None,
        sensor_type: None,
        type_text: None,
        reading_type: analog.then_some(0x01),
        reading,
        state: None,
        thresholds: Vec::new(),
    }
}

/// Why a reading column holds no reading, if it does not.
fn unreadable(reading: &str, status: &str) -> Option<SkipReason> {
    match (reading, status) {
        (_, "ns") | ("Not Readable" | "No Reading", _) => Some(SkipReason::NoReading),
        (_, "na") | ("na" | "Not Available", _) => Some(SkipReason::NotAvailable),
        ("Disabled", _) => Some(SkipReason::Disabled),
        _ => None,
    }
}

/// "20 degrees C", "3.29 Volts", "110 Watts, Presence detected" → value and unit.
fn analog(reading: &str) -> Option<(f64, String)> {
    let head = reading.split(',').next()?.trim();
    let (number, unit) = head.split_once(' ').unwrap_or((head, ""));
    let value = number.parse::<f64>().ok()?;
    let unit = unit.trim();
    Some((
        value,
        unit_from_word(unit).unwrap_or_else(|| unit.to_ascii_lowercase().replace(' ', "_")),
    ))
}

/// `sdr`: name | reading | status (or `-c`: name,value,unit,status).
fn compact(
    name: &str,
    reading: &str,
    unit: Option<&str>,
    status: &str,
) -> Result<TextSensor, SkipReason> {
    if let Some(reason) = unreadable(reading, status) {
        return Err(reason);
    }
    if name.is_empty() {
        return Err(SkipReason::Unrecognised);
    }
    if let Some(hex) = reading.strip_prefix("0x") {
        // The first byte of Get Sensor Reading, which discrete sensors leave undefined:
        // not their state bits (`ipmitool sensor` prints those).
        return u8::from_str_radix(hex, 16)
            .map(|_| {
                sensor(
                    name,
                    TextReading::Discrete {
                        bits: None,
                        asserted: Vec::new(),
                    },
                )
            })
            .map_err(|_| SkipReason::Unrecognised);
    }
    let joined;
    let reading = match unit {
        Some(unit) => {
            joined = format!("{reading} {unit}");
            joined.as_str()
        }
        None => reading,
    };
    let (value, unit) = analog(reading).ok_or(SkipReason::Unrecognised)?;
    let mut s = sensor(name, TextReading::Analog { value, unit });
    s.state = state_from_word(status);
    Ok(s)
}

/// `sdr elist`: name | 30h | status | entity | reading.
fn extended(f: &[&str]) -> Result<TextSensor, SkipReason> {
    let (name, id, status, reading) = (f[0], f[1], f[2], f[4]);
    let number = id
        .strip_suffix('h')
        .and_then(|h| u8::from_str_radix(h, 16).ok())
        .ok_or(SkipReason::Unrecognised)?;
    if let Some(reason) = unreadable(reading, status) {
        return Err(reason);
    }
    let mut s = match analog(reading) {
        Some((value, unit)) => {
            let mut s = sensor(name, TextReading::Analog { value, unit });
            s.state = state_from_word(status);
            s
        }
        // A discrete sensor lists its asserted states, comma-separated; none is empty.
        None => sensor(
            name,
            TextReading::Discrete {
                bits: None,
                asserted: reading
                    .split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .collect(),
            },
        ),
    };
    s.number = Some(number);
    Ok(s)
}

/// One `Sensor ID : …` block of `sdr -v` or `sensor -v`.
#[derive(Default)]
struct Block {
    name: String,
    number: Option<u8>,
    kind: String,
    type_text: String,
    type_code: Option<u8>,
    reading: Option<String>,
    status: Option<String>,
    thresholds: Vec<(&'static str, f64)>,
    asserted: Option<Vec<String>>,
    enabled: Vec<String>,
}

/// Parses verbose blocks (`sdr -v`, `sdr -v type X`, `sensor -v`).
pub fn parse_verbose(text: &str) -> Result<SensorListing, TextError> {
    let mut blocks: Vec<Block> = Vec::new();
    let mut listing = SensorListing::default();
    // Which multi-line list the `[state]` continuation lines belong to.
    let mut list: Option<bool> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            list = None;
            continue;
        }
        if let Some(state) = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            if let (Some(block), Some(asserted)) = (blocks.last_mut(), list) {
                if asserted {
                    block
                        .asserted
                        .get_or_insert_with(Vec::new)
                        .push(state.to_owned());
                } else {
                    block.enabled.push(state.to_owned());
                }
            }
            continue;
        }
        let Some((key, value)) = trimmed.split_once(':') else {
            listing.skipped.add(if is_tool_message(trimmed) {
                SkipReason::ToolMessage
            } else {
                SkipReason::Unrecognised
            });
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        list = None;
        if key == "Sensor ID" {
            let (name, number) = match value.rsplit_once(" (0x") {
                Some((name, rest)) => (
                    name.trim(),
                    rest.strip_suffix(')')
                        .and_then(|h| u8::from_str_radix(h, 16).ok()),
                ),
                None => (value, None),
            };
            blocks.push(Block {
                name: name.to_owned(),
                number,
                ..Block::default()
            });
            continue;
        }
        let Some(block) = blocks.last_mut() else {
            listing.skipped.add(SkipReason::Unrecognised);
            continue;
        };
        if let Some(kind) = key
            .strip_prefix("Sensor Type (")
            .and_then(|k| k.strip_suffix(')'))
        {
            block.kind = kind.to_owned();
            let (name, code) = match value.rsplit_once(" (0x") {
                Some((name, rest)) => (
                    name.trim(),
                    rest.strip_suffix(')')
                        .and_then(|h| u8::from_str_radix(h, 16).ok()),
                ),
                None => (value, None),
            };
            block.type_text = name.to_owned();
            block.type_code = code.or_else(|| sensor_type_code(name));
        } else if key == "Sensor Reading" {
            block.reading = Some(value.to_owned());
        } else if key == "Status" {
            block.status = Some(value.to_owned());
        } else if key == "States Asserted" {
            block.asserted.get_or_insert_with(Vec::new);
            list = Some(true);
        } else if key == "Assertions Enabled" {
            list = Some(false);
            // `sdr -v` of threshold sensors lists `lnc- lcr-` inline; discrete ones
            // name the state group here and the states on the following lines.
        } else if let Some(label) = threshold_label(key) {
            if let Ok(v) = value.parse::<f64>() {
                block.thresholds.push((label, v));
            }
        }
    }
    for block in blocks {
        match verbose_sensor(block) {
            Ok(sensor) => listing.sensors.push(sensor),
            Err(reason) => listing.skipped.add(reason),
        }
    }
    if listing.sensors.is_empty() && listing.skipped.unreadable() == 0 {
        return Err(no_records("ipmitool sdr -v", text));
    }
    Ok(listing)
}

fn verbose_sensor(b: Block) -> Result<TextSensor, SkipReason> {
    let reading = b.reading.as_deref().unwrap_or_default();
    let status = b.status.as_deref().unwrap_or_default();
    if let Some(reason) = unreadable(reading, if status == "Disabled" { "" } else { status }) {
        return Err(reason);
    }
    if status == "Disabled" || reading == "Disabled" {
        return Err(SkipReason::Disabled);
    }
    let discrete = fold(&b.kind) == "discrete";
    let reading = if discrete {
        // A discrete sensor read at all shows a raw reading or its asserted states.
        if b.reading.is_none() && b.asserted.is_none() {
            return Err(SkipReason::NoReading);
        }
        TextReading::Discrete {
            bits: None,
            asserted: b.asserted.clone().unwrap_or_default(),
        }
    } else {
        // "25 (+/- 0) degrees C"
        let (number, rest) = reading.split_once(' ').ok_or(SkipReason::NoReading)?;
        let value = number
            .parse::<f64>()
            .map_err(|_| SkipReason::Unrecognised)?;
        let unit = rest
            .trim()
            .strip_prefix("(+/-")
            .and_then(|r| r.split_once(')'))
            .map_or(rest, |(_, unit)| unit)
            .trim();
        TextReading::Analog {
            value,
            unit: unit_from_word(unit)
                .unwrap_or_else(|| unit.to_ascii_lowercase().replace(' ', "_")),
        }
    };
    let reading_type = if discrete {
        let enabled: Vec<&str> = b.enabled.iter().map(String::as_str).collect();
        (!enabled.is_empty())
            .then(|| match_states(b.type_code, &enabled).map(|(rt, _)| rt))
            .flatten()
    } else {
        Some(0x01)
    };
    Ok(TextSensor {
        name: b.name,
        number: b.number,
        sensor_type: b.type_code,
        type_text: (!b.type_text.is_empty()).then_some(b.type_text),
        reading_type,
        reading,
        state: if discrete {
            None
        } else {
            state_from_word(status)
        },
        thresholds: b.thresholds,
    })
}

/// The sensors of an `ipmitool sdr dump` file: raw records, header included, one after
/// the other; read by the native record parser, so types, units and reading types are
/// exactly what the native path finds.
pub fn parse_dump(bytes: &[u8]) -> Vec<SensorDef> {
    let mut defs = Vec::new();
    let mut at = 0;
    while let Some(header) = bytes.get(at..at + 5) {
        let end = at + 5 + usize::from(header[4]);
        let Some(record) = bytes.get(at..end) else {
            tracing::debug!(offset = at, "truncated record at the end of an SDR dump");
            break;
        };
        match sensor_from_record(record) {
            Ok(Some(def)) => defs.push(def),
            Ok(None) => {}
            Err(err) => tracing::debug!(offset = at, error = %err, "skipping an SDR dump record"),
        }
        at = end;
    }
    defs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::ipmi::sdr::tests::full_record;

    #[test]
    fn compact_and_extended_rows() {
        let text = "\
Ambient Temp     | 20 degrees C      | ok\n\
Altitude         | 80 feet           | ok\n\
Fan 1            | 0x00              | ok\n\
DASD Backplane 3 | Not Readable      | ns\n\
Unable to send command: Invalid argument\n\
SEL              | 72h | ns  |  7.1 | No Reading\n\
Intrusion        | 73h | ok  |  7.1 |\n\
Current 1        | 6Ah | ok  | 10.1 | 7.20 Amps\n\
Power Supply 1   | 03h | ok  | 10.1 | 110 Watts, Presence detected\n\
Status,85h,ok,10.1,Presence detected\n";
        let l = parse(text).expect("parses");
        assert_eq!(l.sensors.len(), 7);
        assert_eq!(l.skipped.count(SkipReason::NoReading), 2);
        assert_eq!(l.skipped.count(SkipReason::ToolMessage), 1);
        let alt = l.get("Altitude").expect("altitude");
        assert_eq!(
            alt.reading,
            TextReading::Analog {
                value: 80.0,
                unit: "foot".into()
            }
        );
        assert_eq!(alt.state, Some(0));
        let current = l.get("Current 1").expect("current");
        assert_eq!(current.number, Some(0x6A));
        assert_eq!(
            current.reading,
            TextReading::Analog {
                value: 7.2,
                unit: "amperes".into()
            }
        );
        let psu = l.get("Power Supply 1").expect("psu");
        assert_eq!(
            psu.reading,
            TextReading::Analog {
                value: 110.0,
                unit: "watts".into()
            }
        );
        assert_eq!(
            l.get("Intrusion").map(|s| &s.reading),
            Some(&TextReading::Discrete {
                bits: None,
                asserted: vec![]
            })
        );
        assert_eq!(
            l.get("Status").map(|s| &s.reading),
            Some(&TextReading::Discrete {
                bits: None,
                asserted: vec!["Presence detected".into()]
            })
        );
    }

    #[test]
    fn verbose_blocks() {
        let text = "\
Sensor ID              : SSB Therm Trip (0xd)\n \
Entity ID             : 7.1 (System Board)\n \
Sensor Type (Discrete): Temperature\n \
Assertions Enabled    : Digital State\n                         [State Asserted]\n\
\n\
Sensor ID              : BB +12.0V (0xd0)\n \
Sensor Type (Analog)  : Voltage\n \
Sensor Reading        : 11.831 (+/- 0) Volts\n \
Status                : ok\n \
Upper critical        : 13.391\n \
Lower non-critical    : 10.947\n \
Positive Hysteresis   : 0.052\n\
\n\
Sensor ID              : PSU Status (0x6)\n \
Sensor Type (Discrete): Power Supply (0x08)\n \
Sensor Reading        : 0h\n \
States Asserted       : Power Supply\n                         [Presence detected]\n \
Assertions Enabled    : Power Supply\n                         [Presence detected]\n                         [Failure detected]\n\
\n\
Sensor ID              : BB +1.35 P1LV AB (0xe4)\n \
Sensor Type (Analog)  : Voltage\n \
Sensor Reading        : Disabled\n \
Status                : Disabled\n";
        let l = parse_verbose(text).expect("parses");
        assert_eq!(l.sensors.len(), 2);
        assert_eq!(
            l.skipped.count(SkipReason::NoReading),
            1,
            "Therm Trip has no reading"
        );
        assert_eq!(l.skipped.count(SkipReason::Disabled), 1);
        let v = l.get("BB +12.0V").expect("12V");
        assert_eq!(v.number, Some(0xd0));
        assert_eq!(v.sensor_type, Some(0x02));
        assert_eq!(
            v.reading,
            TextReading::Analog {
                value: 11.831,
                unit: "volts".into()
            }
        );
        assert_eq!(v.thresholds, [("uc", 13.391), ("lnc", 10.947)]);
        let psu = l.get("PSU Status").expect("psu");
        assert_eq!(psu.sensor_type, Some(0x08));
        assert_eq!(psu.reading_type, Some(0x6F));
        assert_eq!(
            psu.reading,
            TextReading::Discrete {
                bits: None,
                asserted: vec!["Presence detected".into()]
            }
        );
    }

    #[test]
    fn dump_records_are_read_like_the_native_walk() {
        let mut dump = full_record(0x20, "12V", 0x02, 4, 60, -3);
        dump.extend(full_record(0x30, "FAN1", 0x04, 18, 100, 0));
        dump.extend([0x01, 0x00, 0x51, 0xC0, 0x02, 0xAA]); // an OEM record: not a sensor
        dump.extend([0x05, 0x00, 0x51]); // truncated tail
        let defs = parse_dump(&dump);
        assert_eq!(defs.len(), 2);
        assert_eq!(
            (defs[1].name.as_str(), defs[1].unit.as_str()),
            ("FAN1", "rpm")
        );
    }
}
