//! Every file of the real-world IPMI and lm-sensors corpus (`$HARBINGER_FIXTURES/ipmi`,
//! `$HARBINGER_FIXTURES/sensors-text`, see its README) through the product's text
//! parsers and their conversion to the native path's series and events. Each file has
//! its own expectations, read by hand from the file; a file without one fails the
//! test, so a new capture forces a decision.

use harbinger_agent::collectors::ipmi::sdr::SensorDef;
use harbinger_agent::collectors::ipmi::text::dcmi::DcmiPower;
use harbinger_agent::collectors::ipmi::text::{
    convert, parse_any, Format, Parsed, SelListing, SensorListing, SkipReason, TextError,
    TextReading, TextSensor,
};
use harbinger_shared::{ComponentKind, Event, Severity};
use std::path::Path;

fn corpus() -> Option<std::path::PathBuf> {
    match std::env::var_os("HARBINGER_FIXTURES") {
        Some(dir) => Some(dir.into()),
        None => {
            eprintln!("SKIPPED: IPMI text corpus (set HARBINGER_FIXTURES)");
            None
        }
    }
}

const NOW_MS: i64 = 1_800_000_000_000;

fn sensors(text: &str, want: Format) -> SensorListing {
    match parse_any(text) {
        Ok((format, Parsed::Sensors(listing))) => {
            assert_eq!(format, want);
            listing
        }
        other => panic!("expected a {want:?} sensor listing, got {other:?}"),
    }
}

fn sel(text: &str, want: Format) -> SelListing {
    match parse_any(text) {
        Ok((format, Parsed::Sel(listing))) => {
            assert_eq!(format, want);
            listing
        }
        other => panic!("expected a {want:?} SEL listing, got {other:?}"),
    }
}

fn dcmi(text: &str, want: Format) -> DcmiPower {
    match parse_any(text) {
        Ok((format, Parsed::Dcmi(power))) => {
            assert_eq!(format, want);
            power
        }
        other => panic!("expected a {want:?} DCMI reading, got {other:?}"),
    }
}

fn get<'a>(l: &'a SensorListing, name: &str) -> &'a TextSensor {
    l.get(name).unwrap_or_else(|| panic!("no sensor {name:?}"))
}

fn analog(s: &TextSensor) -> (f64, &str) {
    match &s.reading {
        TextReading::Analog { value, unit } => (*value, unit.as_str()),
        other => panic!("{}: not analog: {other:?}", s.name),
    }
}

fn bits(s: &TextSensor) -> Option<u16> {
    match &s.reading {
        TextReading::Discrete { bits, .. } => *bits,
        other => panic!("{}: not discrete: {other:?}", s.name),
    }
}

fn asserted(s: &TextSensor) -> Vec<&str> {
    match &s.reading {
        TextReading::Discrete { asserted, .. } => asserted.iter().map(String::as_str).collect(),
        other => panic!("{}: not discrete: {other:?}", s.name),
    }
}

fn count_analog(l: &SensorListing) -> usize {
    l.sensors
        .iter()
        .filter(|s| matches!(s.reading, TextReading::Analog { .. }))
        .count()
}

/// Our conventions on every `ipmitool sensor` row: known units, and the state a BMC's
/// comparison bits would give (what `sensors::threshold_state` grades) is the status
/// ipmitool printed.
fn sensor_listing_conventions(l: &SensorListing, file: &str) {
    const UNITS: &[&str] = &[
        "celsius",
        "volts",
        "rpm",
        "watts",
        "amperes",
        "percent",
        "unspecified",
    ];
    for s in &l.sensors {
        if let TextReading::Analog { value, unit } = &s.reading {
            assert!(
                UNITS.contains(&unit.as_str()),
                "{file}: {} unit {unit}",
                s.name
            );
            assert_eq!(
                Some(convert::state_from_thresholds(*value, &s.thresholds)),
                s.state,
                "{file}: {s:?}"
            );
        }
    }
}

fn attr<'a>(e: &'a Event, key: &str) -> &'a str {
    e.attrs.get(key).map_or("", String::as_str)
}

fn events(l: &SelListing) -> Vec<Event> {
    l.entries
        .iter()
        .map(|e| convert::sel_event(e, "bmc", NOW_MS))
        .collect()
}

fn ipmitool_sensor_composite(text: &str) {
    let file = "composite";
    let l = sensors(text, Format::IpmitoolSensor);
    assert_eq!(l.sensors.len(), 41);
    assert_eq!(count_analog(&l), 38);
    assert_eq!(l.skipped.count(SkipReason::NotAvailable), 1, "FAN4 na");
    sensor_listing_conventions(&l, file);
    // The README's failing fans: one nc, six nr (0 RPM, and at or above UNR).
    let state_count = |st: u8| l.sensors.iter().filter(|s| s.state == Some(st)).count();
    assert_eq!((state_count(1), state_count(3)), (1, 6));
    let fan1 = get(&l, "FAN1");
    assert_eq!(analog(fan1), (0.0, "rpm"));
    assert_eq!(fan1.state, Some(3));
    let (def, sample) = convert::reading(fan1, None);
    assert_eq!((def.type_name.as_str(), def.unit.as_str()), ("Fan", "rpm"));
    assert_eq!((sample.value, sample.state), (Some(0.0), 3));
    assert!(sample.thresholds.contains(&("lnr", 300.0)));
    let fan2 = get(&l, "FAN2");
    assert_eq!(
        (analog(fan2).0, fan2.state),
        (1200.0, Some(3)),
        "at UNR 1200"
    );
    assert_eq!(get(&l, "FAN 1").state, Some(1), "600 RPM at LNC");
    // Duplicate names stay separate sensors, in listing order.
    let fan3: Vec<_> = l.sensors.iter().filter(|s| s.name == "FAN3").collect();
    assert_eq!(
        fan3.iter().map(|s| analog(s).0).collect::<Vec<_>>(),
        [0.0, 1700.0]
    );
    // Chassis Intru 0x0100: offset 0 asserted. Graded once its SDR type is known (the
    // ipmitool backend takes it from `sdr dump`), it is a non-critical intrusion.
    let intru: Vec<_> = l
        .sensors
        .iter()
        .filter(|s| s.name == "Chassis Intru")
        .collect();
    assert_eq!(
        intru.iter().map(|s| bits(s)).collect::<Vec<_>>(),
        [Some(0), Some(1)]
    );
    let meta = SensorDef {
        owner: 0x20,
        lun: 0,
        number: 0xAA,
        name: "Chassis Intru".into(),
        sensor_type: 0x05,
        type_name: "Physical Security".into(),
        reading_type: 0x6F,
        conversion: None,
        unit: "discrete".into(),
    };
    let (def, s) = convert::reading(intru[1], Some(&meta));
    assert_eq!(def.type_name, "Physical Security");
    assert_eq!((s.value, s.state), (Some(1.0), 1));
    assert!(s
        .discrete
        .contains(&("General Chassis Intrusion".to_owned(), true)));
    let (_, quiet) = convert::reading(intru[0], Some(&meta));
    assert_eq!(quiet.state, 0);
}

fn ipmitool_sensor_hpe(text: &str) {
    let l = sensors(text, Format::IpmitoolSensor);
    assert_eq!(l.sensors.len(), 98);
    assert_eq!(count_analog(&l), 38);
    assert_eq!(l.skipped.count(SkipReason::NotAvailable), 43);
    sensor_listing_conventions(&l, "hpe");
    assert!(
        l.sensors.iter().all(|s| s.state.unwrap_or(0) == 0),
        "all ok"
    );
    let inlet = get(&l, "01-Inlet Ambient");
    assert_eq!(analog(inlet), (23.0, "celsius"));
    assert_eq!(inlet.thresholds, [("uc", 42.0), ("unr", 47.0)]);
    // 0x0180: bit 7 of the high byte is reserved and dropped.
    assert_eq!(bits(get(&l, "UID")), Some(0x0001));
    assert_eq!(bits(get(&l, "Memory Status")), Some(0x0040));
    assert_eq!(bits(get(&l, "Megacell Status")), Some(0x0004));
    assert_eq!(bits(get(&l, "CPU_Stat_C1")), Some(0x0080));
    let (def, _) = convert::reading(inlet, None);
    assert_eq!(def.type_name, "Temperature", "from its unit");
}

fn ipmitool_sensor_supermicro_25(text: &str) {
    let l = sensors(text, Format::IpmitoolSensor);
    assert_eq!(l.sensors.len(), 28);
    assert_eq!(count_analog(&l), 25);
    assert_eq!(l.skipped.count(SkipReason::NotAvailable), 8);
    sensor_listing_conventions(&l, "supermicro-25");
    let cpu = get(&l, "CPU Temp");
    assert_eq!(analog(cpu), (52.0, "celsius"));
    assert_eq!(cpu.thresholds.len(), 6);
    assert_eq!(
        (bits(get(&l, "PS1 Status")), bits(get(&l, "PS2 Status"))),
        (Some(1), Some(1))
    );
    assert!(l.get("DIMMA2 Temp").is_none(), "na");
}

fn ipmitool_sensor_supermicro_31(text: &str) {
    let l = sensors(text, Format::IpmitoolSensor);
    assert_eq!(l.sensors.len(), 33);
    assert_eq!(count_analog(&l), 31);
    assert_eq!(l.skipped.count(SkipReason::NotAvailable), 2);
    sensor_listing_conventions(&l, "supermicro-31");
    let cpu = get(&l, "CPU Temp");
    assert_eq!(analog(cpu), (77.0, "celsius"));
    assert_eq!(
        cpu.thresholds[3..],
        [("unc", 96.0), ("uc", 101.0), ("unr", 101.0)]
    );
    assert_eq!(analog(get(&l, "FAN1")), (13200.0, "rpm"));
    assert_eq!(analog(get(&l, "12V")), (11.937, "volts"));
    assert_eq!(bits(get(&l, "PS1 Status")), Some(1));
}

fn ipmitool_sensor_x9(text: &str) {
    let l = sensors(text, Format::IpmitoolSensor);
    assert_eq!(l.sensors.len(), 31);
    assert_eq!(count_analog(&l), 27);
    assert_eq!(
        l.skipped.count(SkipReason::NotAvailable),
        35,
        "absent DIMMs, GPUs, fans"
    );
    sensor_listing_conventions(&l, "x9");
    assert_eq!(analog(get(&l, "CPU2 Temp")), (38.0, "celsius"));
    assert_eq!(analog(get(&l, "FAN3")), (3150.0, "rpm"));
    assert_eq!(get(&l, "System Temp").thresholds[0], ("lnr", -9.0));
    assert_eq!(bits(get(&l, "I/O Board VRD")), Some(1));
    assert!(l.get("HDD Status").is_none(), "discrete but na");
}

fn ipmitool_sdr_ibm(text: &str) {
    let l = sensors(text, Format::IpmitoolSdr);
    assert_eq!(l.sensors.len(), 131);
    assert_eq!(count_analog(&l), 13);
    assert_eq!(
        l.skipped.count(SkipReason::NoReading),
        2,
        "DASD Backplane 3 and 4: ns"
    );
    assert_eq!(analog(get(&l, "Altitude")), (80.0, "foot"));
    assert_eq!(analog(get(&l, "Avg Power")), (210.0, "watts"));
    assert_eq!(analog(get(&l, "Planar 12V")), (12.04, "volts"));
    let fan = get(&l, "Fan 1A Tach");
    assert_eq!((analog(fan), fan.state), ((2610.0, "rpm"), Some(0)));
    // `sdr` prints a discrete sensor's raw reading byte, not its state bits.
    assert_eq!(bits(get(&l, "Power Supply 1")), None);
    let (def, sample) = convert::reading(fan, None);
    assert_eq!(
        (def.type_name.as_str(), sample.value),
        ("Fan", Some(2610.0))
    );
}

fn ipmitool_sdr_unable(text: &str) {
    let l = sensors(text, Format::IpmitoolSdr);
    assert_eq!(l.sensors.len(), 7);
    assert_eq!(l.skipped.count(SkipReason::ToolMessage), 3);
    assert_eq!(
        l.skipped.count(SkipReason::NoReading),
        2,
        "ECC Corr/Uncorr Err: Not Readable"
    );
    assert_eq!(l.skipped.count(SkipReason::Unrecognised), 0);
    assert_eq!(analog(get(&l, "Planar 5V")), (4.9, "volts"));
    assert!(l.get("ECC Corr Err").is_none());
}

fn ipmitool_sdr_elist(text: &str, tool_messages: usize) {
    let l = sensors(text, Format::IpmitoolSdr);
    assert_eq!(l.sensors.len(), 6);
    assert_eq!(
        l.skipped.count(SkipReason::NoReading),
        1,
        "SEL: ns, No Reading"
    );
    assert_eq!(l.skipped.count(SkipReason::ToolMessage), tool_messages);
    let fan = get(&l, "Fan1");
    assert_eq!((fan.number, analog(fan)), (Some(0x30), (5040.0, "rpm")));
    assert_eq!(analog(get(&l, "Current 1")), (7.2, "amperes"));
    assert_eq!(analog(get(&l, "Power Supply 1")), (110.0, "watts"));
    assert_eq!(analog(get(&l, "Inlet Temp")), (25.0, "celsius"));
    assert_eq!(asserted(get(&l, "USB Cable Pres")), ["Connected"]);
    let intrusion = get(&l, "Intrusion");
    assert!(asserted(intrusion).is_empty());
    assert_eq!(intrusion.number, Some(0x73));
}

fn ipmitool_sdr_psu_csv(text: &str) {
    let l = sensors(text, Format::IpmitoolSdr);
    assert_eq!(l.sensors.len(), 3);
    assert_eq!(asserted(&l.sensors[0]), ["Fully Redundant"]);
    let status: Vec<_> = l.sensors.iter().filter(|s| s.name == "Status").collect();
    assert_eq!(
        status.iter().map(|s| s.number).collect::<Vec<_>>(),
        [Some(0x85), Some(0x86)]
    );
    assert_eq!(asserted(status[1]), ["Presence detected"]);
    // With the type of the `sdr type "Power Supply"` listing, the states are graded.
    let mut redundancy = l.sensors[0].clone();
    redundancy.sensor_type = Some(0x08);
    let (def, s) = convert::reading(&redundancy, None);
    assert_eq!((def.reading_type, s.value, s.state), (0x0B, Some(1.0), 0));
    let mut psu = status[1].clone();
    psu.sensor_type = Some(0x08);
    let (_, s) = convert::reading(&psu, None);
    assert_eq!((s.value, s.state), (Some(1.0), 0));
    assert!(s.discrete.contains(&("Presence detected".to_owned(), true)));
}

fn verbose_current(text: &str) {
    let l = sensors(text, Format::IpmitoolVerbose);
    assert_eq!(l.sensors.len(), 3);
    let pwr = get(&l, "Pwr Consumption");
    assert_eq!((pwr.number, pwr.sensor_type), (Some(0x76), Some(0x03)));
    assert_eq!(analog(pwr), (154.0, "watts"));
    assert_eq!(pwr.thresholds, [("uc", 1914.0), ("unc", 1738.0)]);
    let (def, s) = convert::reading(pwr, None);
    assert_eq!(
        (def.type_name.as_str(), def.unit.as_str(), s.state),
        ("Current", "watts", 0)
    );
    let ps1 = get(&l, "PS1 Curr Out %");
    assert_eq!(analog(ps1), (11.0, "unspecified"));
    assert_eq!(ps1.thresholds, [("uc", 118.0), ("unc", 100.0)]);
}

fn verbose_fan(text: &str) {
    let l = sensors(text, Format::IpmitoolVerbose);
    assert_eq!(l.sensors.len(), 4);
    let fan4 = get(&l, "System Fan 4");
    assert_eq!((fan4.number, analog(fan4)), (Some(0x36), (4606.0, "rpm")));
    assert_eq!(fan4.thresholds, [("lc", 1715.0), ("lnc", 1960.0)]);
    assert!(l
        .sensors
        .iter()
        .all(|s| s.state == Some(0) && s.sensor_type == Some(0x04)));
}

fn verbose_temperature(text: &str) {
    let l = sensors(text, Format::IpmitoolVerbose);
    assert_eq!(l.sensors.len(), 3);
    assert_eq!(
        l.skipped.count(SkipReason::NoReading),
        1,
        "SSB Therm Trip: no reading"
    );
    let vr = get(&l, "BB P1 VR Temp");
    assert_eq!(analog(vr), (25.0, "celsius"));
    assert_eq!(
        vr.thresholds,
        [("uc", 115.0), ("unc", 110.0), ("lc", 0.0), ("lnc", 5.0)]
    );
    assert_eq!(analog(get(&l, "SSB Temp")), (43.0, "celsius"));
}

fn verbose_voltage(text: &str) {
    let l = sensors(text, Format::IpmitoolVerbose);
    assert_eq!(l.sensors.len(), 2);
    assert_eq!(l.skipped.count(SkipReason::Disabled), 1, "BB +1.35 P1LV AB");
    assert_eq!(l.skipped.count(SkipReason::NoReading), 1, "VR Watchdog");
    let v12 = get(&l, "BB +12.0V");
    assert_eq!(analog(v12), (11.831, "volts"));
    assert_eq!(v12.thresholds.len(), 4);
    assert_eq!(analog(get(&l, "BB +5.0V")).0, 4.959);
}

fn sel_chassis_psu(text: &str) {
    let l = sel(text, Format::IpmitoolSel);
    assert_eq!(l.entries.len(), 23);
    assert_eq!((l.entries[0].id, l.entries[22].id), (1, 0x17));
    let ev = events(&l);
    let psu: Vec<_> = ev
        .iter()
        .filter(|e| attr(e, "sensor") == "PS1 Status")
        .map(|e| (e.severity, attr(e, "direction")))
        .collect();
    assert_eq!(
        psu,
        [
            (Severity::Error, "asserted"),
            (Severity::Info, "deasserted"),
            (Severity::Error, "asserted"),
            (Severity::Info, "deasserted"),
        ]
    );
    let failure = ev
        .iter()
        .find(|e| attr(e, "record_id") == "0x0009")
        .expect("entry 9");
    assert_eq!(attr(failure, "sensor_type"), "Power Supply");
    assert_eq!(attr(failure, "description"), "Failure detected");
    assert_eq!(
        failure.component.as_ref().map(|c| c.kind),
        Some(ComponentKind::Psu)
    );
    assert_eq!(failure.ts, 1_566_009_104_000, "08/17/2019 02:31:44 UTC");
    let intrusions: Vec<_> = ev
        .iter()
        .filter(|e| attr(e, "description") == "General Chassis Intrusion")
        .map(|e| e.severity)
        .collect();
    assert_eq!(
        intrusions,
        [Severity::Warning; 4]
            .iter()
            .copied()
            .chain([Severity::Info])
            .collect::<Vec<_>>()
    );
    let unknown = ev
        .iter()
        .filter(|e| attr(e, "sensor") == "Unknown #0xff")
        .count();
    assert_eq!(unknown, 7);
    let installs = ev
        .iter()
        .filter(|e| attr(e, "sensor_type") == "OS Boot")
        .count();
    assert_eq!(installs, 7);
    assert!(ev.iter().all(|e| e.kind.as_str() == "ipmi_sel"));
}

fn sel_acpi(text: &str) {
    let l = sel(text, Format::IpmitoolSel);
    assert_eq!(l.entries.len(), 256);
    assert_eq!((l.entries[0].id, l.entries[255].id), (0x54, 0x153));
    assert_eq!(l.skipped.total(), 0);
    let ev = events(&l);
    let pre_init: Vec<_> = ev
        .iter()
        .filter(|e| e.attrs.contains_key("pre_init"))
        .collect();
    assert_eq!(pre_init.len(), 18);
    assert!(pre_init.iter().all(|e| e.ts == NOW_MS));
    let oem: Vec<_> = ev
        .iter()
        .filter(|e| e.message.starts_with("OEM SEL record type"))
        .collect();
    assert_eq!(oem.len(), 16);
    assert_eq!(attr(oem[0], "record_type"), "0xdc");
    let soft_off = ev
        .iter()
        .filter(|e| {
            e.attrs
                .get("description")
                .is_some_and(|d| d.starts_with("S4 / S5 soft-off"))
        })
        .count();
    assert_eq!(soft_off, 81);
    // PSU 2 then PSU 1 fail: failure, AC lost, redundancy lost, each an error.
    let errors: Vec<_> = ev
        .iter()
        .filter(|e| e.severity == Severity::Error)
        .map(|e| (attr(e, "sensor"), attr(e, "description")))
        .collect();
    assert_eq!(
        errors,
        [
            ("Power Supply 2", "Failure detected"),
            ("Power Supply 2", "input lost (AC/DC)"),
            ("Power Supplies", "Redundancy Lost"),
            ("Power Supply 1", "Failure detected"),
            ("Power Supply 1", "input lost (AC/DC)"),
            ("Power Supplies", "Redundancy Lost"),
        ]
    );
    let health = ev
        .iter()
        .filter(|e| attr(e, "sensor") == "SysHealth_Stat")
        .map(|e| e.severity);
    assert!(health.clone().count() == 9 && health.into_iter().all(|s| s == Severity::Warning));
}

fn sel_empty(text: &str) {
    let l = sel(text, Format::IpmitoolSel);
    assert!(l.entries.is_empty());
    assert_eq!(l.skipped.total(), 0);
}

fn freeipmi_sel(text: &str) {
    let l = sel(text, Format::FreeipmiSel);
    assert_eq!(
        l.entries.iter().map(|e| e.id).collect::<Vec<_>>(),
        [14, 493, 494, 495, 496]
    );
    // The README's critical events, as FreeIPMI judged them.
    let critical: Vec<_> = l
        .entries
        .iter()
        .filter(|e| e.state == Some(2))
        .map(|e| e.id)
        .collect();
    assert_eq!(critical, [14, 494]);
    let ev = events(&l);
    let cable = &ev[0];
    assert_eq!(attr(cable, "sensor_type"), "Cable/Interconnect");
    assert_eq!(
        attr(cable, "description"),
        "Configuration Error - Incorrect cable connected"
    );
    assert_eq!(
        (cable.severity, cable.ts),
        (Severity::Error, NOW_MS),
        "PostInit: no clock"
    );
    let health = &ev[2];
    assert_eq!(attr(health, "sensor"), "System Chassis SysHealth_Stat");
    assert_eq!(
        attr(health, "description"),
        "transition to Non-recoverable from less severe"
    );
    assert_eq!(health.severity, Severity::Critical);
    assert_eq!(health.ts, 1_688_910_983_000, "Jul-09-2023 13:56:23");
    assert!(
        ev[1..]
            .iter()
            .step_by(2)
            .all(|e| e.severity == Severity::Info),
        "ACPI states"
    );
}

fn freeipmi_sensors(text: &str) {
    let l = sensors(text, Format::FreeipmiSensors);
    assert_eq!(l.sensors.len(), 3);
    assert_eq!(l.skipped.count(SkipReason::Header), 1);
    let inlet = get(&l, "01-Inlet Ambient");
    assert_eq!((analog(inlet), inlet.state), ((20.0, "celsius"), Some(0)));
    let health = get(&l, "SysHealth_Stat");
    assert_eq!(health.sensor_type, Some(0x18));
    assert_eq!(asserted(health), ["transition to OK"]);
    let (def, s) = convert::reading(health, None);
    assert_eq!(
        (def.type_name.as_str(), def.reading_type),
        ("Chassis", 0x07)
    );
    assert_eq!((s.value, s.state), (Some(1.0), 0));
    let uid = get(&l, "UID");
    assert_eq!(
        (uid.sensor_type, uid.state),
        (None, None),
        "OEM Reserved, N/A"
    );
    let (def, s) = convert::reading(uid, None);
    assert_eq!(def.type_name, "OEM Reserved");
    assert_eq!(s.discrete, [("OEM Event = 0001h".to_owned(), true)]);
}

fn ipmitool_dcmi(text: &str) {
    let p = dcmi(text, Format::IpmitoolDcmi);
    assert_eq!(
        (p.current, p.minimum, p.maximum, p.average),
        (167.0, Some(124.0), Some(422.0), Some(156.0))
    );
    assert_eq!((p.period_seconds, p.active), (Some(699_043.0), Some(true)));
}

fn freeipmi_dcmi(text: &str) {
    let p = dcmi(text, Format::FreeipmiDcmi);
    assert_eq!(
        (p.current, p.minimum, p.average),
        (105.0, Some(0.0), Some(0.0))
    );
    assert_eq!((p.period_seconds, p.active), (Some(300.0), Some(false)));
}

fn lm_sensors(text: &str) {
    // Rejected by design: see `TextError::LmSensors` for why there is no fallback.
    assert_eq!(parse_any(text), Err(TextError::LmSensors));
}

/// The expectation for each corpus file, by directory and name.
fn check(dir: &str, name: &str, text: &str) -> bool {
    match (dir, name) {
        ("ipmi", "ipmitool-sensor-composite-fans-nc-nr-critical.txt") => {
            ipmitool_sensor_composite(text)
        }
        ("ipmi", "ipmitool-sensor-hpe-ilo-38-sensors-ok.txt") => ipmitool_sensor_hpe(text),
        ("ipmi", "ipmitool-sensor-supermicro-25-sensors-ok.txt") => {
            ipmitool_sensor_supermicro_25(text)
        }
        ("ipmi", "ipmitool-sensor-supermicro-31-sensors-ok.txt") => {
            ipmitool_sensor_supermicro_31(text)
        }
        ("ipmi", "ipmitool-sensor-supermicro-x9-dual-cpu-lovoo.txt") => ipmitool_sensor_x9(text),
        ("ipmi", "ipmitool-sdr-ibm-systemx-telegraf.txt") => ipmitool_sdr_ibm(text),
        ("ipmi", "ipmitool-sdr-with-unable-to-send-command-errors-telegraf.txt") => {
            ipmitool_sdr_unable(text)
        }
        ("ipmi", "ipmitool-sdr-elist-curated-telegraf.txt") => ipmitool_sdr_elist(text, 0),
        ("ipmi", "ipmitool-sdr-elist-with-unable-to-send-command-errors-telegraf.txt") => {
            ipmitool_sdr_elist(text, 2)
        }
        ("ipmi", "ipmitool-sdr-type-psu-csv-canonical.txt") => ipmitool_sdr_psu_csv(text),
        ("ipmi", "ipmitool-sdr-v-type-current-intel-server-board-ceilometer.txt") => {
            verbose_current(text)
        }
        ("ipmi", "ipmitool-sdr-v-type-fan-intel-server-board-ceilometer.txt") => verbose_fan(text),
        ("ipmi", "ipmitool-sdr-v-type-temperature-intel-server-board-ceilometer.txt") => {
            verbose_temperature(text)
        }
        ("ipmi", "ipmitool-sdr-v-type-voltage-intel-server-board-ceilometer.txt") => {
            verbose_voltage(text)
        }
        ("ipmi", "ipmitool-sel-elist-chassis-intrusion-psu-failure.txt") => sel_chassis_psu(text),
        ("ipmi", "ipmitool-sel-elist-acpi-power-state-preinit.txt") => sel_acpi(text),
        ("ipmi", "ipmitool-sel-elist-empty.txt") => sel_empty(text),
        ("ipmi", "ipmi-sel-freeipmi-output-event-state-critical-canonical.txt") => {
            freeipmi_sel(text)
        }
        ("ipmi", "ipmimonitoring-freeipmi-hpe-canonical.txt") => freeipmi_sensors(text),
        ("ipmi", "ipmitool-dcmi-power-reading-telegraf.txt") => ipmitool_dcmi(text),
        ("ipmi", "ipmi-dcmi-power-reading-freeipmi-hpe-canonical.txt") => freeipmi_dcmi(text),
        ("sensors-text", "lm-sensors-A-u-coretemp-atk0110-telegraf.txt") => lm_sensors(text),
        _ => return false,
    }
    true
}

#[test]
fn every_ipmi_and_sensors_text_capture_parses_as_expected() {
    let Some(corpus) = corpus() else { return };
    let mut checked = 0;
    let mut uncovered = Vec::new();
    for dir in ["ipmi", "sensors-text"] {
        let mut files: Vec<_> = std::fs::read_dir(corpus.join(dir))
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .map(|e| e.expect("entry").path())
            .collect();
        files.sort();
        for path in files {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            if check(dir, name, &text) {
                checked += 1;
            } else {
                uncovered.push(Path::new(dir).join(name));
            }
        }
    }
    assert!(
        uncovered.is_empty(),
        "corpus files without an expectation: {uncovered:?}"
    );
    assert_eq!(checked, 22, "21 IPMI captures and one lm-sensors capture");
}
