//! Sensor readings → samples: value in units, threshold state, thresholds, and the
//! asserted states of discrete sensors; plus the severity of a discrete offset, which
//! the SEL shares.

use super::commands::{RawReading, RawThresholds};
use super::sdr::SensorDef;
use harbinger_shared::Severity;
use ipmi_rs::storage::sdr::{decode_event, SensorType};

pub const SENSOR_VALUE: &str = "ipmi_sensor_value";
pub const SENSOR_STATE: &str = "ipmi_sensor_state";
pub const SENSOR_THRESHOLD: &str = "ipmi_sensor_threshold";
pub const SENSOR_ASSERTED: &str = "ipmi_sensor_discrete_asserted";

/// Sensor state: 0 ok, 1 non-critical, 2 critical, 3 non-recoverable.
pub fn threshold_state(bits: u8) -> u8 {
    if bits & 0b10_0100 != 0 {
        3
    } else if bits & 0b01_0010 != 0 {
        2
    } else if bits & 0b00_1001 != 0 {
        1
    } else {
        0
    }
}

/// ipmitool's word for a state (`sensor` listing's status column).
pub fn state_word(state: u8) -> &'static str {
    match state {
        0 => "ok",
        1 => "nc",
        2 => "cr",
        _ => "nr",
    }
}

/// How bad an asserted offset of an event/reading type is (0..3, as the state).
pub fn offset_state(sensor_type: u8, reading_type: u8, offset: u8) -> u8 {
    match reading_type & 0x7F {
        // Threshold: LNC/UNC going low/high → 1, LC/UC → 2, LNR/UNR → 3.
        0x01 => match offset {
            0 | 1 | 6 | 7 => 1,
            2 | 3 | 8 | 9 => 2,
            4 | 5 | 10 | 11 => 3,
            _ => 0,
        },
        // Generic severity.
        0x07 => match offset {
            1 | 4 => 1,
            2 | 5 => 2,
            3 | 6 => 3,
            _ => 0,
        },
        // Redundancy: lost and insufficient are critical, degraded is not.
        0x0B => match offset {
            1 | 5 => 2,
            2 | 3 | 4 | 6 | 7 => 1,
            _ => 0,
        },
        // Predictive failure asserted; limit exceeded.
        0x04 | 0x05 if offset == 1 => 1,
        0x6F => sensor_specific_state(sensor_type, offset),
        _ => 0,
    }
}

fn sensor_specific_state(sensor_type: u8, offset: u8) -> u8 {
    match (sensor_type, offset) {
        // Physical security: any intrusion or violation.
        (0x05, _) | (0x06, _) => 1,
        // Processor: IERR, FRB, uncorrectable MCE → critical; thermal trip → NR.
        (0x07, 1) => 3,
        (0x07, 0 | 2 | 3 | 4 | 6 | 11) => 2,
        (0x07, 5 | 8 | 10 | 12) => 1,
        // Power supply: failure, AC lost → critical; predictive, out of range, config → NC.
        (0x08, 1 | 3 | 4) => 2,
        (0x08, 2 | 5 | 6) => 1,
        // Power unit: AC lost, soft-power failure, failure → critical; predictive → NC.
        (0x09, 4..=6) => 2,
        (0x09, 7) => 1,
        // Memory: uncorrectable, parity, scrub failure, critical overtemp → critical.
        (0x0C, 1 | 2 | 3 | 10) => 2,
        (0x0C, 0 | 4 | 5 | 7 | 9) => 1,
        // Drive slot: fault, predictive failure, rebuild aborted.
        (0x0D, 1 | 7) => 2,
        (0x0D, 2 | 6) => 1,
        // Critical interrupt: PCI PERR/SERR, bus errors.
        (0x13, 4 | 5 | 7 | 8 | 9 | 10) => 2,
        // Watchdog 2 actions; management subsystem health; battery failed/low.
        (0x23, 1..=3) => 1,
        (0x28, _) => 1,
        (0x29, 0) => 1,
        (0x29, 1) => 2,
        _ => 0,
    }
}

/// The event severity a state maps to.
pub fn severity(state: u8) -> Severity {
    match state {
        0 => Severity::Info,
        1 => Severity::Warning,
        2 => Severity::Error,
        _ => Severity::Critical,
    }
}

/// ipmi-rs's description of an offset ("Failure detected"), empty when unknown.
pub fn describe(sensor_type: u8, reading_type: u8, offset: u8) -> String {
    struct D(u8, u8, u8);
    impl std::fmt::Display for D {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            decode_event(f, self.1, SensorType::from(self.0), self.2)
        }
    }
    let text = D(sensor_type, reading_type, offset).to_string();
    // ipmi-rs prefixes sensor-specific offsets with the type ("Memory Uncorrectable
    // ECC"); the sensor type is its own attribute, so keep ipmitool's short wording.
    let prefix = format!("{} ", SensorType::from(sensor_type));
    match text.strip_prefix(&prefix) {
        Some(rest) if !rest.is_empty() => rest.to_owned(),
        _ => text,
    }
}

/// One sensor's reading, converted.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorSample {
    pub value: Option<f64>,
    pub state: u8,
    /// `(threshold label, value)` for the readable thresholds.
    pub thresholds: Vec<(&'static str, f64)>,
    /// `(description, asserted)` for discrete sensors.
    pub discrete: Vec<(String, bool)>,
}

/// Converts a reading (and thresholds, for threshold sensors); `None` when the BMC
/// says the reading is unavailable.
pub fn sample(
    def: &SensorDef,
    reading: &RawReading,
    thresholds: Option<&RawThresholds>,
) -> Option<SensorSample> {
    if reading.unavailable {
        return None;
    }
    if def.is_threshold() {
        let conv = def.conversion;
        let value = conv.and_then(|c| c.convert(reading.raw));
        let thresholds = thresholds
            .map(|t| {
                [
                    ("lnr", t.lnr),
                    ("lc", t.lc),
                    ("lnc", t.lnc),
                    ("unc", t.unc),
                    ("uc", t.uc),
                    ("unr", t.unr),
                ]
                .into_iter()
                .filter_map(|(name, raw)| Some((name, conv?.convert(raw?)?)))
                .collect()
            })
            .unwrap_or_default();
        return Some(SensorSample {
            value,
            state: threshold_state(reading.threshold_bits),
            thresholds,
            discrete: Vec::new(),
        });
    }
    let mut state = 0;
    let mut discrete = Vec::new();
    for offset in 0..15u8 {
        let asserted = reading.discrete_bits & (1 << offset) != 0;
        let text = describe(def.sensor_type, def.reading_type, offset);
        if asserted {
            state = state.max(offset_state(def.sensor_type, def.reading_type, offset));
        }
        if !text.is_empty() && !text.starts_with("Unknown") {
            discrete.push((text, asserted));
        }
    }
    Some(SensorSample {
        value: Some(f64::from(reading.discrete_bits)),
        state,
        thresholds: Vec::new(),
        discrete,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::ipmi::sdr::{sensor_from_record, tests::full_record};

    #[test]
    fn threshold_bits_map_to_the_worst_state() {
        assert_eq!(threshold_state(0), 0);
        assert_eq!(threshold_state(0b000_001), 1, "LNC");
        assert_eq!(threshold_state(0b000_011), 2, "LNC+LC");
        assert_eq!(threshold_state(0b000_111), 3, "LNC+LC+LNR");
        assert_eq!(threshold_state(0b001_000), 1, "UNC");
        assert_eq!(threshold_state(0b011_000), 2, "UC");
        assert_eq!(threshold_state(0b100_000), 3, "UNR");
        assert_eq!(state_word(2), "cr");
    }

    #[test]
    fn psu_and_memory_offsets_are_graded() {
        assert_eq!(offset_state(0x08, 0x6F, 0), 0, "presence is fine");
        assert_eq!(offset_state(0x08, 0x6F, 1), 2, "failure");
        assert_eq!(offset_state(0x08, 0x6F, 3), 2, "AC lost");
        assert_eq!(offset_state(0x0C, 0x6F, 1), 2, "uncorrectable ECC");
        assert_eq!(offset_state(0x0C, 0x6F, 0), 1, "correctable ECC");
        assert_eq!(offset_state(0x04, 0x01, 4), 3, "fan below LNR");
        assert_eq!(offset_state(0x05, 0x6F, 0), 1, "chassis intrusion");
        assert_eq!(offset_state(0x07, 0x6F, 1), 3, "thermal trip");
        assert_eq!(offset_state(0x12, 0x0B, 1), 2, "redundancy lost");
        assert_eq!(severity(2), Severity::Error);
        assert_eq!(describe(0x08, 0x6F, 1), "Failure detected");
    }

    #[test]
    fn discrete_psu_reading_lists_its_states() {
        let mut rec = full_record(0x41, "PSU2 Status", 0x08, 0, 0, 0);
        rec[13] = 0x6F;
        rec[20] = 0xC0;
        let def = sensor_from_record(&rec).expect("parses").expect("sensor");
        let reading = RawReading {
            raw: 0,
            unavailable: false,
            threshold_bits: 0x03,
            discrete_bits: 0x0003,
        };
        let s = sample(&def, &reading, None).expect("available");
        assert_eq!(s.state, 2);
        assert!(s.discrete.contains(&("Failure detected".to_owned(), true)));
        assert!(s
            .discrete
            .iter()
            .any(|(d, on)| d.contains("Presence") && *on));
        assert!(
            s.discrete.iter().any(|(_, on)| !*on),
            "unasserted states listed too"
        );
    }

    #[test]
    fn threshold_reading_converts_value_and_thresholds() {
        let rec = full_record(0x31, "FAN2", 0x04, 18, 100, 0);
        let def = sensor_from_record(&rec).expect("parses").expect("sensor");
        let reading = RawReading {
            raw: 0,
            unavailable: false,
            threshold_bits: 0x07,
            discrete_bits: 0,
        };
        let t = RawThresholds {
            lnr: Some(3),
            lc: Some(5),
            lnc: Some(8),
            ..RawThresholds::default()
        };
        let s = sample(&def, &reading, Some(&t)).expect("available");
        assert_eq!(s.value, Some(0.0));
        assert_eq!(s.state, 3);
        assert_eq!(
            s.thresholds,
            [("lnr", 300.0), ("lc", 500.0), ("lnc", 800.0)]
        );
        let gone = RawReading {
            unavailable: true,
            ..reading
        };
        assert_eq!(sample(&def, &gone, Some(&t)), None);
    }
}
