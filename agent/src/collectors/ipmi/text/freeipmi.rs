//! FreeIPMI listings, read by their header (columns move with the options given):
//! `ipmi-sensors --output-sensor-state [--output-sensor-thresholds]` and
//! `ipmimonitoring` (ID | Name | Type | State | Reading | Units | [thresholds |] Event),
//! and `ipmi-sel --output-event-state [-v]` (ID | Date | Time | Name | Type | State |
//! [Event Direction |] Event), `|`-aligned or `--comma-separated-output`.

use super::names::{
    fold, match_states, sensor_type_code, state_from_word, threshold_label, unit_from_word,
};
use super::{days_from_civil, fields, first_line, is_tool_message, no_records, seconds_of_day};
use super::{
    SelListing, SensorListing, SkipReason, TextError, TextReading, TextSelEntry, TextSensor,
};

/// A listing's rows as `(header → value)` lookups.
struct Table<'a> {
    header: Vec<&'a str>,
    rows: Vec<Vec<&'a str>>,
}

impl Table<'_> {
    fn get<'r>(&self, row: &'r [&'r str], column: &str) -> Option<&'r str> {
        let i = self
            .header
            .iter()
            .position(|h| h.eq_ignore_ascii_case(column))?;
        row.get(i).copied()
    }
}

fn table<'a>(
    text: &'a str,
    skipped: &mut super::Skipped,
    format: &'static str,
) -> Result<Table<'a>, TextError> {
    let mut header: Option<Vec<&str>> = None;
    let mut rows = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f = fields(line);
        if f.first() == Some(&"ID") && f.contains(&"Name") {
            header = Some(f);
            skipped.add(SkipReason::Header);
            continue;
        }
        let unrecognised = if is_tool_message(line) {
            SkipReason::ToolMessage
        } else {
            SkipReason::Unrecognised
        };
        let Some(h) = &header else {
            skipped.add(unrecognised);
            continue;
        };
        // At most as many fields as the header: a separator inside the last column
        // (the event text) stays in it.
        let sep = if line.contains('|') { '|' } else { ',' };
        let row: Vec<&str> = line.splitn(h.len(), sep).map(str::trim).collect();
        if row.len() == h.len() {
            rows.push(row);
        } else {
            skipped.add(unrecognised);
        }
    }
    match header {
        Some(header) => Ok(Table { header, rows }),
        None => Err(no_records(format, text)),
    }
}

/// `'Presence detected' 'Power Supply input lost'` → the texts; `'OK'` → none.
fn event_texts(event: &str) -> Vec<String> {
    event
        .split('\'')
        .map(str::trim)
        .filter(|t| !t.is_empty() && *t != "OK")
        .map(str::to_owned)
        .collect()
}

/// Parses `ipmi-sensors` or `ipmimonitoring` output.
pub fn parse_sensors(text: &str) -> Result<SensorListing, TextError> {
    let mut listing = SensorListing::default();
    let t = table(text, &mut listing.skipped, "ipmi-sensors")?;
    for row in &t.rows {
        let col = |c: &str| t.get(row, c).unwrap_or("N/A");
        let (name, type_text, state, reading, units, event) = (
            col("Name"),
            col("Type"),
            col("State"),
            col("Reading"),
            col("Units"),
            col("Event"),
        );
        let sensor_type = sensor_type_code(type_text);
        let thresholds: Vec<(&'static str, f64)> = [
            "Lower NR", "Lower C", "Lower NC", "Upper NC", "Upper C", "Upper NR",
        ]
        .iter()
        .filter_map(|c| Some((threshold_label(c)?, t.get(row, c)?.parse::<f64>().ok()?)))
        .collect();
        let reading = if let Ok(value) = reading.parse::<f64>() {
            TextReading::Analog {
                value,
                unit: unit_from_word(units)
                    .unwrap_or_else(|| units.to_ascii_lowercase().replace(' ', "_")),
            }
        } else if event == "N/A" || event.is_empty() {
            listing.skipped.add(SkipReason::NotAvailable);
            continue;
        } else {
            TextReading::Discrete {
                bits: None,
                asserted: event_texts(event),
            }
        };
        let reading_type = match &reading {
            TextReading::Analog { .. } => Some(0x01),
            TextReading::Discrete { asserted, .. } => {
                let texts: Vec<&str> = asserted.iter().map(String::as_str).collect();
                match_states(sensor_type, &texts).map(|(rt, _)| rt)
            }
        };
        listing.sensors.push(TextSensor {
            name: name.to_owned(),
            number: None,
            sensor_type,
            type_text: Some(type_text.to_owned()),
            reading_type,
            reading,
            state: state_from_word(state),
            thresholds,
        });
    }
    if listing.sensors.is_empty() && listing.skipped.count(SkipReason::Unrecognised) > 0 {
        return Err(no_records("ipmi-sensors", text));
    }
    Ok(listing)
}

/// `Oct-06-2022` and `19:47:13` → seconds since 1970; `None` for `PostInit`/`PreInit`.
pub fn timestamp(date: &str, time: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let mut d = date.split('-');
    let month = d.next()?.to_ascii_lowercase();
    let month = MONTHS.iter().position(|m| *m == month)? + 1;
    let day = d.next()?.parse::<u32>().ok()?;
    let year = d.next()?.parse::<i64>().ok()?;
    let month = u32::try_from(month).ok()?;
    Some(days_from_civil(year, month, day) * 86_400 + seconds_of_day(time)?)
}

/// "Upper Critical - going high ; Sensor Reading = 96.00 C ; Threshold = 95.00 C".
fn split_event(event: &str) -> (String, Option<f64>, Option<f64>) {
    let mut parts = event.split(" ; ");
    let description = parts.next().unwrap_or_default().trim().to_owned();
    let (mut reading, mut threshold) = (None, None);
    for part in parts {
        let Some((key, value)) = part.split_once('=') else {
            continue;
        };
        let number = value
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok());
        match fold(key).as_str() {
            "sensorreading" => reading = number,
            "threshold" => threshold = number,
            _ => {}
        }
    }
    (description, reading, threshold)
}

/// Parses `ipmi-sel --output-event-state` output (with `-v`, the direction too).
pub fn parse_sel(text: &str) -> Result<SelListing, TextError> {
    let mut listing = SelListing::default();
    let t = table(text, &mut listing.skipped, "ipmi-sel")?;
    if !t.header.contains(&"Date") {
        return Err(TextError::UnknownFormat {
            first: first_line(text),
        });
    }
    for row in &t.rows {
        let col = |c: &str| t.get(row, c).unwrap_or_default();
        let Ok(id) = col("ID").parse::<u32>() else {
            listing.skipped.add(SkipReason::Unrecognised);
            continue;
        };
        let (description, reading, threshold) = split_event(col("Event"));
        let type_text = col("Type");
        listing.entries.push(TextSelEntry {
            id,
            ts: timestamp(col("Date"), col("Time")),
            sensor: col("Name").to_owned(),
            sensor_type: sensor_type_code(type_text),
            type_text: type_text.to_owned(),
            description,
            asserted: match col("Event Direction") {
                "Assertion Event" => Some(true),
                "Deassertion Event" => Some(false),
                _ => None,
            },
            state: state_from_word(col("State")),
            reading,
            threshold,
            oem: None,
        });
    }
    Ok(listing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensors_with_thresholds_and_discrete_events() {
        let text = "\
ID | Name           | Type              | State    | Reading    | Units | Lower NR   | Lower C    | Lower NC   | Upper NC   | Upper C    | Upper NR   | Event\n\
2  | Processor Temp | Temperature       | Nominal  | 52.00      | C     | N/A        | N/A        | N/A        | 88.00      | 95.00      | 102.00     | 'OK'\n\
7  | PSU Status     | Power Supply      | Nominal  | N/A        | N/A   | N/A        | N/A        | N/A        | N/A        | N/A        | N/A        | 'Presence detected'\n\
8  | ECC Mem        | Memory            | N/A      | N/A        | N/A   | N/A        | N/A        | N/A        | N/A        | N/A        | N/A        | N/A\n";
        let l = parse_sensors(text).expect("parses");
        assert_eq!(l.sensors.len(), 2);
        assert_eq!(l.skipped.count(SkipReason::NotAvailable), 1);
        assert_eq!(l.skipped.count(SkipReason::Header), 1);
        let t = l.get("Processor Temp").expect("temp");
        assert_eq!(
            t.reading,
            TextReading::Analog {
                value: 52.0,
                unit: "celsius".into()
            }
        );
        assert_eq!(t.thresholds, [("unc", 88.0), ("uc", 95.0), ("unr", 102.0)]);
        assert_eq!(t.sensor_type, Some(0x01));
        let psu = l.get("PSU Status").expect("psu");
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
    fn csv_sel_with_direction() {
        let text = "\
ID,Date,Time,Name,Type,State,Event Direction,Event\n\
1,Nov-22-2026,08:06:03,ECC Mem,Memory,Warning,Assertion Event,Correctable memory error\n\
2,Nov-22-2026,08:06:03,Processor Temp,Temperature,Critical,Assertion Event,Upper Critical - going high ; Sensor Reading = 96.00 degrees C ; Threshold = 95.00 degrees C\n\
14,PostInit,PostInit,Disk Drive Bay 1 Cable SAS A,Cable/Interconnect,Critical,Deassertion Event,Configuration Error - Incorrect cable connected\n";
        let l = parse_sel(text).expect("parses");
        assert_eq!(l.entries.len(), 3);
        assert_eq!(l.entries[0].state, Some(1));
        assert_eq!(l.entries[0].ts, timestamp("Nov-22-2026", "08:06:03"));
        assert_eq!(
            (l.entries[1].reading, l.entries[1].threshold),
            (Some(96.0), Some(95.0))
        );
        assert_eq!(l.entries[1].description, "Upper Critical - going high");
        assert_eq!(l.entries[2].ts, None);
        assert_eq!(l.entries[2].asserted, Some(false));
        assert_eq!(l.entries[2].sensor_type, Some(0x1B));
        assert_eq!(timestamp("Oct-06-2022", "19:47:13"), Some(1_665_085_633));
    }
}
