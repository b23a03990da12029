//! `ipmitool sel elist` and `sel list`: one entry per line, record id (hex) | date |
//! time | "<sensor type> <sensor>" | event | Asserted/Deasserted [| reading and
//! threshold]. Pre-init entries print ` Pre-Init ` and the BMC's uptime stamp; OEM
//! records print `OEM record <type>` and their raw data; an empty SEL prints
//! `SEL has no entries`.

use super::names::split_type_prefix;
use super::{days_from_civil, fields, is_tool_message, no_records, seconds_of_day};
use super::{SelListing, SkipReason, TextError, TextSelEntry};

/// Parses the listing.
pub fn parse(text: &str) -> Result<SelListing, TextError> {
    let mut listing = SelListing::default();
    let mut understood = false;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if line.contains("SEL has no entries") {
            understood = true;
            continue;
        }
        match entry(line) {
            Some(e) => {
                understood = true;
                listing.entries.push(e);
            }
            None if is_tool_message(line) => listing.skipped.add(SkipReason::ToolMessage),
            None => listing.skipped.add(SkipReason::Unrecognised),
        }
    }
    if !understood && listing.skipped.count(SkipReason::Unrecognised) > 0 {
        return Err(no_records("ipmitool sel elist", text));
    }
    Ok(listing)
}

/// `03/12/2019` or `11/22/26` (ipmitool 1.8.19) and `13:10:45` or `08:06:03 UTC` →
/// seconds since 1970; `None` for pre-init stamps or anything else.
pub fn timestamp(date: &str, time: &str) -> Option<i64> {
    let mut d = date.split('/').map(|p| p.parse::<u32>().ok());
    let (month, day, year) = (d.next()??, d.next()??, d.next()??);
    let year = if year < 100 { 2000 + year } else { year };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || d.next().is_some() {
        return None;
    }
    let clock = time.split_whitespace().next()?;
    Some(days_from_civil(i64::from(year), month, day) * 86_400 + seconds_of_day(clock)?)
}

/// "Reading 96 > Threshold 95 degrees C" → (96, 95).
fn trigger(extra: &str) -> (Option<f64>, Option<f64>) {
    let words: Vec<&str> = extra.split_whitespace().collect();
    let after = |key: &str| {
        words
            .iter()
            .position(|w| *w == key)
            .and_then(|i| words.get(i + 1))
            .and_then(|w| w.parse::<f64>().ok())
    };
    (after("Reading"), after("Threshold"))
}

fn entry(line: &str) -> Option<TextSelEntry> {
    let f = fields(line);
    if f.len() < 6 {
        return None;
    }
    let id = u32::from_str_radix(f[0], 16).ok()?;
    let ts = if f[1].eq_ignore_ascii_case("Pre-Init") {
        None
    } else {
        Some(timestamp(f[1], f[2])?)
    };
    if let Some(kind) = f[3].strip_prefix("OEM record ") {
        let record_type = u8::from_str_radix(kind.trim(), 16).ok()?;
        return Some(TextSelEntry {
            id,
            ts,
            sensor: String::new(),
            sensor_type: None,
            type_text: "OEM".into(),
            description: String::new(),
            asserted: None,
            state: None,
            reading: None,
            threshold: None,
            oem: Some((record_type, f[4..].join(" | "))),
        });
    }
    let (sensor_type, type_text, sensor) = match split_type_prefix(f[3]) {
        Some((code, text, name)) => (Some(code), text.to_owned(), name.to_owned()),
        // "Unknown #0xff": a type ipmitool has no name for.
        None => match f[3].split_once(' ') {
            Some((t, name)) => (None, t.to_owned(), name.to_owned()),
            None => (None, f[3].to_owned(), String::new()),
        },
    };
    let asserted = match f[5] {
        "Asserted" => Some(true),
        "Deasserted" => Some(false),
        _ => return None,
    };
    let (reading, threshold) = f.get(6).map_or((None, None), |extra| trigger(extra));
    Some(TextSelEntry {
        id,
        ts,
        sensor,
        sensor_type,
        type_text,
        description: f[4].trim_end_matches("()").trim().to_owned(),
        asserted,
        state: None,
        reading,
        threshold,
        oem: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_of_every_shape() {
        let text = "\
   9 | 08/17/2019 | 02:31:44 | Power Supply PS1 Status | Failure detected () | Asserted\n\
   a | 08/17/2019 | 02:31:57 | Power Supply PS1 Status | Failure detected () | Deasserted\n\
  56 |  Pre-Init  |0000000085| System ACPI Power State ACPI_Stat | S0/G0: working | Asserted\n\
 123 | 10/16/2020 | 10:41:22 | OEM record dc | 000137 | 00c378895f00\n\
   e | 09/03/2019 | 21:08:34 | Unknown #0xff |  | Asserted\n\
   2 | 11/22/26 | 08:06:03 UTC | Temperature Processor Temp | Upper Critical going high | Asserted | Reading 96 > Threshold 95 degrees C\n";
        let l = parse(text).expect("parses");
        assert_eq!(l.entries.len(), 6);
        let psu = &l.entries[0];
        assert_eq!(psu.id, 9);
        assert_eq!(psu.sensor_type, Some(0x08));
        assert_eq!(psu.sensor, "PS1 Status");
        assert_eq!(psu.description, "Failure detected");
        assert_eq!(psu.ts, Some(1_566_009_104));
        assert_eq!(l.entries[1].asserted, Some(false));
        assert_eq!(l.entries[2].ts, None, "pre-init");
        assert_eq!(l.entries[2].id, 0x56);
        assert_eq!(l.entries[3].oem.as_ref().map(|o| o.0), Some(0xdc));
        assert_eq!(
            (
                l.entries[4].type_text.as_str(),
                l.entries[4].sensor.as_str()
            ),
            ("Unknown", "#0xff")
        );
        let t = &l.entries[5];
        assert_eq!((t.reading, t.threshold), (Some(96.0), Some(95.0)));
        assert_eq!(t.ts, timestamp("11/22/2026", "08:06:03"));
    }

    #[test]
    fn empty_and_foreign() {
        assert_eq!(
            parse("\n  SEL has no entries\n\n").map(|l| l.entries.len()),
            Ok(0)
        );
        assert!(matches!(
            parse("something else\n"),
            Err(TextError::NoRecords { .. })
        ));
        assert_eq!(timestamp("13/01/2020", "00:00:00"), None);
    }
}
