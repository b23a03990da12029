//! `ipmitool sensor` (and `ipmitool -c sensor`): ten columns per sensor, name, value,
//! unit, status and the six thresholds lnr, lcr, lnc, unc, ucr, unr. Discrete sensors
//! print `discrete` as the unit and their state bits as the status (`0x0100`: bytes 3
//! and 4 of Get Sensor Reading), which is what the native path reads too.

use super::names::{state_from_word, unit_from_word};
use super::{fields, is_tool_message, no_records, SensorListing, SkipReason, TextError};
use super::{TextReading, TextSensor};

/// The threshold columns, in ipmitool's order, under the native path's labels.
pub const THRESHOLD_COLUMNS: [&str; 6] = ["lnr", "lc", "lnc", "unc", "uc", "unr"];

/// Parses the listing.
pub fn parse(text: &str) -> Result<SensorListing, TextError> {
    let mut listing = SensorListing::default();
    let mut rows = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match row(line) {
            Ok(sensor) => {
                rows += 1;
                listing.sensors.push(sensor);
            }
            Err(reason) => {
                if reason != SkipReason::Unrecognised && reason != SkipReason::ToolMessage {
                    rows += 1;
                }
                listing.skipped.add(reason);
            }
        }
    }
    if rows == 0 && listing.skipped.count(SkipReason::Unrecognised) > 0 {
        return Err(no_records("ipmitool sensor", text));
    }
    Ok(listing)
}

/// `0x0100` → bits 0x0001: the low byte first, then the high byte without its
/// reserved bit 7 (as `commands::SensorReading` decodes it).
pub fn discrete_bits(status: &str) -> Option<u16> {
    let hex = status.strip_prefix("0x")?;
    if hex.len() != 4 {
        return None;
    }
    let value = u16::from_str_radix(hex, 16).ok()?;
    let (low, high) = ((value >> 8) as u8, (value & 0xFF) as u8);
    Some(u16::from(low) | (u16::from(high & 0x7F) << 8))
}

fn row(line: &str) -> Result<TextSensor, SkipReason> {
    let f = fields(line);
    if f.len() != 10 || f[0].is_empty() {
        // Only a line that is no row can be chatter: a sensor may be named "Error…".
        return Err(if is_tool_message(line) {
            SkipReason::ToolMessage
        } else {
            SkipReason::Unrecognised
        });
    }
    let (name, value, unit, status) = (f[0], f[1], f[2], f[3]);
    if value == "na" || status == "na" {
        return Err(SkipReason::NotAvailable);
    }
    if status == "ns" {
        return Err(SkipReason::NoReading);
    }
    let reading = if unit == "discrete" {
        TextReading::Discrete {
            bits: Some(discrete_bits(status).ok_or(SkipReason::Unrecognised)?),
            asserted: Vec::new(),
        }
    } else {
        TextReading::Analog {
            value: value.parse().map_err(|_| SkipReason::Unrecognised)?,
            unit: unit_from_word(unit)
                .unwrap_or_else(|| unit.to_ascii_lowercase().replace(' ', "_")),
        }
    };
    let analog = matches!(reading, TextReading::Analog { .. });
    Ok(TextSensor {
        name: name.to_owned(),
        number: None,
        sensor_type: None,
        type_text: None,
        reading_type: analog.then_some(0x01),
        reading,
        state: if analog {
            state_from_word(status)
        } else {
            None
        },
        thresholds: THRESHOLD_COLUMNS
            .iter()
            .zip(&f[4..])
            .filter_map(|(label, v)| Some((*label, v.parse::<f64>().ok()?)))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = "\
CPU Temp         | 77.000     | degrees C  | ok    | 0.000     | 0.000     | 0.000     | 96.000    | 101.000   | 101.000   \n\
FAN1             | 0.000      | RPM        | nr    | 300.000   | 500.000   | 700.000   | 25300.000 | 25400.000 | 25500.000\n\
FAN5             | na         |            | na    | na        | na        | na        | na        | na        | na        \n\
HDD Status       | na         | discrete   | na    | na        | na        | na        | na        | na        | na\n\
PS1 Status       | 0x1        | discrete   | 0x0100| na        | na        | na        | na        | na        | na      \n\
UID              | 0x0        | discrete   | 0x0180| na        | na        | na        | na        | na        | na        \n\
Unable to send command: Invalid argument\n";

    #[test]
    fn rows_become_sensors() {
        let l = parse(LISTING).expect("parses");
        assert_eq!(l.sensors.len(), 4);
        assert_eq!(l.skipped.count(SkipReason::NotAvailable), 2);
        assert_eq!(l.skipped.count(SkipReason::ToolMessage), 1);
        let cpu = l.get("CPU Temp").expect("cpu");
        assert_eq!(
            cpu.reading,
            TextReading::Analog {
                value: 77.0,
                unit: "celsius".into()
            }
        );
        assert_eq!(cpu.state, Some(0));
        assert_eq!(cpu.thresholds.len(), 6);
        assert_eq!(cpu.thresholds[4], ("uc", 101.0));
        assert_eq!(l.get("FAN1").and_then(|s| s.state), Some(3));
        let ps = l.get("PS1 Status").expect("ps");
        assert_eq!(
            ps.reading,
            TextReading::Discrete {
                bits: Some(1),
                asserted: vec![]
            }
        );
        assert!(ps.thresholds.is_empty());
        assert!(
            matches!(
                l.get("UID").map(|s| &s.reading),
                Some(TextReading::Discrete { bits: Some(1), .. })
            ),
            "reserved bit 7 of the high byte is dropped"
        );
    }

    #[test]
    fn csv_rows_and_garbage() {
        let l = parse("Fan 1A,5400.000,RPM,ok,600.000,1200.000,1800.000,na,na,na\n").expect("csv");
        assert_eq!(
            l.sensors[0].thresholds,
            [("lnr", 600.0), ("lc", 1200.0), ("lnc", 1800.0)]
        );
        assert!(matches!(
            parse("not a listing\n"),
            Err(TextError::NoRecords { .. })
        ));
        assert_eq!(parse("").map(|l| l.sensors.len()), Ok(0));
        assert_eq!(discrete_bits("0x0300"), Some(3));
        assert_eq!(discrete_bits("0x0001"), Some(0x100));
        assert_eq!(discrete_bits("ok"), None);
    }
}
