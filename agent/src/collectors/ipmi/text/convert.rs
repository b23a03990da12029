//! Parsed sensors and SEL entries → the native path's readings and events.
//!
//! Where a listing (or the SDR dump the ipmitool backend keeps) gives the sensor type
//! and reading type, a discrete sensor goes through the native `sensors::sample` and a
//! SEL entry through the same `describe`/`offset_state` grading as `sel::to_event`, so
//! both backends emit the same series, labels and event fields. What a listing leaves
//! out is filled in conservatively: a threshold sensor's type from its unit, a state
//! from the thresholds when no status word is printed; an unresolvable discrete state
//! is passed on as the tool worded it rather than guessed.

use super::names::{match_states, type_from_unit, type_name};
use super::{TextReading, TextSelEntry, TextSensor};
use crate::collectors::ipmi::commands::RawReading;
use crate::collectors::ipmi::sdr::SensorDef;
use crate::collectors::ipmi::sensors::{describe, offset_state, sample, severity, SensorSample};
use harbinger_shared::{ComponentId, ComponentKind, Event, EventKind};
use std::collections::BTreeMap;

/// SEL timestamps below this count seconds since BMC start (as in `sel.rs`).
const PRE_INIT_MAX: i64 = 0x2000_0000;

/// The worst state a threshold sensor's value is in, judged against its thresholds.
pub fn state_from_thresholds(value: f64, thresholds: &[(&str, f64)]) -> u8 {
    thresholds
        .iter()
        .filter(|(label, t)| {
            if label.starts_with('l') {
                value <= *t
            } else {
                value >= *t
            }
        })
        .map(|(label, _)| match *label {
            "lnr" | "unr" => 3,
            "lc" | "uc" => 2,
            _ => 1,
        })
        .max()
        .unwrap_or(0)
}

/// One listed sensor as the native path would report it. `meta` is the sensor's SDR
/// definition where known (the ipmitool backend's `sdr dump`).
pub fn reading(s: &TextSensor, meta: Option<&SensorDef>) -> (SensorDef, SensorSample) {
    let analog_unit = match &s.reading {
        TextReading::Analog { unit, .. } => Some(unit.as_str()),
        TextReading::Discrete { .. } => None,
    };
    let sensor_type = meta
        .map(|m| m.sensor_type)
        .or(s.sensor_type)
        .or_else(|| analog_unit.and_then(type_from_unit));
    let type_label = match (meta, sensor_type) {
        (Some(m), _) => m.type_name.clone(),
        (None, Some(code)) => type_name(code),
        (None, None) => s.type_text.clone().unwrap_or_else(|| "unknown".into()),
    };
    let mut def = SensorDef {
        owner: meta.map_or(0x20, |m| m.owner),
        lun: meta.map_or(0, |m| m.lun),
        number: meta.map(|m| m.number).or(s.number).unwrap_or(0),
        name: s.name.clone(),
        sensor_type: sensor_type.unwrap_or(0),
        type_name: type_label,
        reading_type: 0x01,
        conversion: None,
        unit: "discrete".into(),
    };
    match &s.reading {
        TextReading::Analog { value, unit } => {
            def.unit = meta
                .filter(|m| m.is_threshold())
                .map_or_else(|| unit.clone(), |m| m.unit.clone());
            let state = s
                .state
                .unwrap_or_else(|| state_from_thresholds(*value, &s.thresholds));
            let sample = SensorSample {
                value: Some(*value),
                state,
                thresholds: s.thresholds.clone(),
                discrete: Vec::new(),
            };
            (def, sample)
        }
        TextReading::Discrete { bits, asserted } => {
            let texts: Vec<&str> = asserted.iter().map(String::as_str).collect();
            let matched = match_states(sensor_type, &texts);
            let reading_type = meta
                .filter(|m| !m.is_threshold())
                .map(|m| m.reading_type)
                .or(s.reading_type)
                .or(matched.as_ref().map(|(rt, _)| *rt));
            let bits = bits.or_else(|| {
                let (rt, offsets) = matched.as_ref()?;
                (Some(*rt) == reading_type)
                    .then(|| offsets.iter().fold(0u16, |acc, o| acc | (1 << o)))
            });
            match (sensor_type, reading_type, bits) {
                (Some(_), Some(rt), Some(bits)) if rt != 0x01 => {
                    def.reading_type = rt;
                    let raw = RawReading {
                        raw: 0,
                        unavailable: false,
                        threshold_bits: 0,
                        discrete_bits: bits,
                    };
                    match sample(&def, &raw, None) {
                        Some(sample) => (def, sample),
                        None => unresolved(def, s, Some(bits)),
                    }
                }
                _ => unresolved(def, s, bits),
            }
        }
    }
}

/// A discrete sensor whose states we cannot tie to offsets: its bits if printed, the
/// tool's state, and the asserted states in the tool's words.
fn unresolved(mut def: SensorDef, s: &TextSensor, bits: Option<u16>) -> (SensorDef, SensorSample) {
    def.reading_type = s.reading_type.unwrap_or(0x6F);
    let discrete = match &s.reading {
        TextReading::Discrete { asserted, .. } => {
            asserted.iter().map(|t| (t.clone(), true)).collect()
        }
        TextReading::Analog { .. } => Vec::new(),
    };
    let sample = SensorSample {
        value: bits.map(f64::from),
        state: s.state.unwrap_or(0),
        thresholds: Vec::new(),
        discrete,
    };
    (def, sample)
}

/// One listed SEL entry as an `ipmi_sel` event, with the fields `sel::to_event` gives
/// an entry read over the wire (`now_ms` stands in for pre-init timestamps).
pub fn sel_event(e: &TextSelEntry, bmc: &str, now_ms: i64) -> Event {
    let mut attrs = BTreeMap::from([
        ("bmc".to_owned(), bmc.to_owned()),
        ("record_id".to_owned(), format!("{:#06x}", e.id)),
    ]);
    let event_ts = match e.ts {
        Some(ts) if ts >= PRE_INIT_MAX => ts * 1000,
        _ => {
            attrs.insert("pre_init".to_owned(), "true".to_owned());
            now_ms
        }
    };
    if let Some((record_type, data)) = &e.oem {
        attrs.insert("record_type".to_owned(), format!("{record_type:#04x}"));
        attrs.insert("oem_data".to_owned(), data.clone());
        return Event {
            ts: event_ts,
            kind: EventKind::new(EventKind::IPMI_SEL),
            severity: severity(0),
            component: None,
            message: format!("OEM SEL record type {record_type:#04x}"),
            attrs,
        };
    }
    let type_label = e.sensor_type.map_or_else(|| e.type_text.clone(), type_name);
    let sensor = if e.sensor.is_empty() {
        type_label.clone()
    } else if e.sensor.starts_with('#') {
        format!("{type_label} {}", e.sensor)
    } else {
        e.sensor.clone()
    };
    let deassert = e.asserted == Some(false);
    let matched = match_states(e.sensor_type, &[e.description.as_str()]);
    let (description, state) = match (&matched, e.sensor_type) {
        (Some((rt, offsets)), Some(code)) => {
            let offset = offsets[0];
            attrs.insert("event_type".to_owned(), format!("{rt:#04x}"));
            (describe(code, *rt, offset), offset_state(code, *rt, offset))
        }
        _ if e.description.is_empty() => ("unspecified".to_owned(), e.state.unwrap_or(0)),
        _ => (e.description.clone(), e.state.unwrap_or(0)),
    };
    let state = if deassert { 0 } else { state };
    let direction = if deassert { "deasserted" } else { "asserted" };
    if let Some(v) = e.reading {
        attrs.insert("reading".to_owned(), v.to_string());
    }
    if let Some(v) = e.threshold {
        attrs.insert("threshold".to_owned(), v.to_string());
    }
    attrs.insert("sensor".to_owned(), sensor.clone());
    attrs.insert("sensor_type".to_owned(), type_label.clone());
    attrs.insert("description".to_owned(), description.clone());
    attrs.insert("direction".to_owned(), direction.to_owned());
    let kind = match e.sensor_type {
        Some(0x04) => ComponentKind::Fan,
        Some(0x07) => ComponentKind::Cpu,
        Some(0x08) => ComponentKind::Psu,
        Some(0x0C) => ComponentKind::Dimm,
        _ => ComponentKind::Sensor,
    };
    Event {
        ts: event_ts,
        kind: EventKind::new(EventKind::IPMI_SEL),
        severity: severity(state),
        component: Some(ComponentId::new(kind, sensor.clone())),
        message: format!("{sensor} ({type_label}): {description} {direction}"),
        attrs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harbinger_shared::Severity;

    fn discrete(
        name: &str,
        bits: Option<u16>,
        asserted: &[&str],
        sensor_type: Option<u8>,
    ) -> TextSensor {
        TextSensor {
            name: name.into(),
            number: None,
            sensor_type,
            type_text: None,
            reading_type: None,
            reading: TextReading::Discrete {
                bits,
                asserted: asserted.iter().map(|s| (*s).to_owned()).collect(),
            },
            state: None,
            thresholds: Vec::new(),
        }
    }

    #[test]
    fn a_psu_failure_text_grades_like_the_native_bits() {
        let (def, s) = reading(
            &discrete(
                "PS1",
                None,
                &["Presence detected", "Failure detected"],
                Some(0x08),
            ),
            None,
        );
        assert_eq!(def.type_name, "Power Supply");
        assert_eq!(s.value, Some(3.0), "offsets 0 and 1");
        assert_eq!(s.state, 2);
        assert!(s.discrete.contains(&("Failure detected".to_owned(), true)));
        assert!(
            s.discrete.iter().any(|(_, on)| !*on),
            "the unasserted states too"
        );
    }

    #[test]
    fn bits_need_a_type_to_be_graded() {
        let meta = SensorDef {
            owner: 0x20,
            lun: 0,
            number: 8,
            name: "Chassis Intru".into(),
            sensor_type: 0x05,
            type_name: "Physical Security".into(),
            reading_type: 0x6F,
            conversion: None,
            unit: "discrete".into(),
        };
        let intru = discrete("Chassis Intru", Some(1), &[], None);
        let (_, alone) = reading(&intru, None);
        assert_eq!((alone.value, alone.state), (Some(1.0), 0));
        let (def, s) = reading(&intru, Some(&meta));
        assert_eq!(def.type_name, "Physical Security");
        assert_eq!((s.value, s.state), (Some(1.0), 1));
    }

    #[test]
    fn threshold_state_without_a_status_word() {
        let t = [
            ("lnr", 300.0),
            ("lc", 500.0),
            ("lnc", 700.0),
            ("unr", 1200.0),
        ];
        assert_eq!(state_from_thresholds(0.0, &t), 3);
        assert_eq!(state_from_thresholds(600.0, &t), 1);
        assert_eq!(state_from_thresholds(900.0, &t), 0);
        assert_eq!(state_from_thresholds(1200.0, &t), 3);
    }

    #[test]
    fn sel_entries_become_native_events() {
        let e = TextSelEntry {
            id: 9,
            ts: Some(1_566_009_104),
            sensor: "PS1 Status".into(),
            sensor_type: Some(0x08),
            type_text: "Power Supply".into(),
            description: "Failure detected".into(),
            asserted: Some(true),
            state: None,
            reading: None,
            threshold: None,
            oem: None,
        };
        let ev = sel_event(&e, "local", 5);
        assert_eq!(ev.severity, Severity::Error);
        assert_eq!(ev.ts, 1_566_009_104_000);
        assert_eq!(ev.attrs["record_id"], "0x0009");
        assert_eq!(
            ev.message,
            "PS1 Status (Power Supply): Failure detected asserted"
        );
        assert_eq!(
            ev.component.as_ref().map(|c| c.kind),
            Some(ComponentKind::Psu)
        );
        let off = TextSelEntry {
            asserted: Some(false),
            ts: None,
            ..e
        };
        let ev = sel_event(&off, "local", 5);
        assert_eq!((ev.severity, ev.ts), (Severity::Info, 5));
        assert_eq!(ev.attrs["pre_init"], "true");
    }
}
