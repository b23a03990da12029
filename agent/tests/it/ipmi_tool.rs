//! The `ipmitool` backend end to end, without a BMC: the real collector, worker thread
//! and `exec` path run `tests/fixtures/ipmi-text/fake-ipmitool.sh` as `ipmitool` from a
//! temporary `tool_dir`. Checks the SDR dump's types, DCMI, the SEL read only when its
//! stamps move, new entries only, a cleared SEL, and the password kept off the command
//! line. (The same backend against a real simulator is in `ipmi_sim.rs`.)

use harbinger_agent::collectors::ipmi::config::{Backend, IpmiConfig, LanTarget, PrivilegeName};
use harbinger_agent::collectors::ipmi::IpmiCollector;
use harbinger_agent::collectors::{Collector, StateDir};
use harbinger_agent::output::{Output, Payload};
use harbinger_shared::Severity;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ipmi-text")
}

/// Replaces a file in one step, so the fake tool never reads half of it.
fn put(dir: &Path, name: &str, text: &str) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, dir.join(name)).expect("rename");
}

fn sel_info(entries: usize, last_add: &str) -> String {
    format!("SEL Information\nVersion          : 1.5 (v1.5, v2 compliant)\nEntries          : {entries}\nFree Space       : 4000 bytes\nLast Add Time    : {last_add}\nLast Del Time    : Not Available\n")
}

fn calls(dir: &Path, what: &str) -> usize {
    std::fs::read_to_string(dir.join("calls.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(what))
        .count()
}

fn value(p: &Payload, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    p.series
        .iter()
        .find(|s| {
            s.metric == metric
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .and_then(|s| s.points.last())
        .map(|p| p.value)
}

/// Collects until the next poll that starts after this call has finished (the one
/// after it has asked `sel info`), merging events; the series are the newest delivered.
fn next_poll(c: &mut IpmiCollector, dir: &Path) -> Payload {
    let before = calls(dir, "sel info");
    let started = Instant::now();
    let mut merged = Payload::default();
    loop {
        let done = calls(dir, "sel info") >= before + 2;
        let mut out = Output::new();
        let _ = c.collect(1_000, &mut out);
        let p = out.finish();
        merged.events.extend(p.events);
        merged.inventory.extend(p.inventory);
        if !p.series.is_empty() {
            merged.series = p.series;
        }
        if done {
            return merged;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "no poll");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_ipmitool_backend_reads_sensors_sel_and_dcmi_through_the_tool() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tools = dir.path();
    for file in ["mc-info.txt", "sdr.dump", "sensor.txt", "dcmi.txt"] {
        std::fs::copy(fixtures().join(file), tools.join(file)).expect("copy");
    }
    std::fs::copy(fixtures().join("fake-ipmitool.sh"), tools.join("ipmitool")).expect("copy");
    let line = |id: u32, time: &str, what: &str| {
        format!("   {id:x} | 11/22/2026 | {time} | Power Supply PSU Status | {what} | Asserted\n")
    };
    put(
        tools,
        "sel-elist.txt",
        &(line(1, "08:00:00", "Presence detected") + &line(2, "08:01:00", "Failure detected")),
    );
    put(tools, "sel-info.txt", &sel_info(2, "11/22/2026 08:01:00"));

    let state = tempfile::tempdir().expect("state");
    let config = IpmiConfig {
        interval: Duration::from_secs(1),
        timeout: Duration::from_millis(500),
        local_device: "/nonexistent/ipmi0".into(),
        backend: Backend::Ipmitool,
        tool_dir: Some(tools.to_owned()),
        command_timeout: Duration::from_secs(5),
        lan: vec![LanTarget {
            host: "127.0.0.1".into(),
            port: 1623,
            username: "monitor".into(),
            password: "pw-secret".into(),
            privilege: PrivilegeName::User,
            cipher_suite: Some(17),
            workarounds: Vec::new(),
        }],
        ..IpmiConfig::default()
    };
    let mut c = IpmiCollector::new(config, StateDir::persistent(state.path()));
    let first = next_poll(&mut c, tools);

    assert_eq!(value(&first, "ipmi_up", &[]), Some(1.0), "{first:?}");
    assert_eq!(
        value(
            &first,
            "ipmi_dcmi_power_consumption_watts",
            &[("bmc", "127.0.0.1:1623")]
        ),
        Some(351.0)
    );
    assert_eq!(value(&first, "ipmi_sel_entries", &[]), Some(2.0));
    // Types and units come from the dumped SDR, through the native record parser.
    assert_eq!(
        value(
            &first,
            "ipmi_sensor_value",
            &[
                ("name", "Input Power"),
                ("type", "Current"),
                ("unit", "watts")
            ]
        ),
        Some(350.0)
    );
    assert_eq!(
        value(
            &first,
            "ipmi_sensor_state",
            &[("name", "Chassis Intru"), ("type", "Physical Security")]
        ),
        Some(1.0),
        "intrusion asserted"
    );
    assert_eq!(
        value(
            &first,
            "ipmi_sensor_discrete_asserted",
            &[("name", "PSU Status"), ("state", "Presence detected")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &first,
            "ipmi_sensor_threshold",
            &[("name", "P12V"), ("threshold", "lc")]
        ),
        Some(10.8)
    );
    assert!(first
        .inventory
        .iter()
        .any(|i| i.attrs.get("firmware").map(String::as_str) == Some("4.17")));
    let described: Vec<_> = first
        .events
        .iter()
        .map(|e| (e.attrs["description"].as_str(), e.severity))
        .collect();
    assert_eq!(
        described,
        [
            ("Presence detected", Severity::Info),
            ("Failure detected", Severity::Error)
        ]
    );
    // What ipmitool was asked: by name and cipher suite, the password only as a file.
    let log = std::fs::read_to_string(tools.join("calls.log")).expect("calls");
    assert!(!log.contains("pw-secret"), "{log}");
    assert!(
        log.contains("-C 17") && log.contains(" -f ") && log.contains("-L USER"),
        "{log}"
    );
    assert_eq!(calls(tools, "sdr dump"), 1);
    assert!(
        calls(tools, "-S ") >= 2,
        "sensor and sel elist read the dump: {log}"
    );

    // Nothing changed: `sel elist` is not run again, and nothing is repeated.
    let listed = calls(tools, "sel elist");
    let quiet = next_poll(&mut c, tools);
    assert!(quiet.events.is_empty(), "{:?}", quiet.events);
    assert_eq!(calls(tools, "sel elist"), listed);

    // One entry added: exactly that one is new.
    put(
        tools,
        "sel-elist.txt",
        &(line(1, "08:00:00", "Presence detected")
            + &line(2, "08:01:00", "Failure detected")
            + &line(3, "08:02:00", "Predictive failure")),
    );
    put(tools, "sel-info.txt", &sel_info(3, "11/22/2026 08:02:00"));
    let added = next_poll(&mut c, tools);
    let ids: Vec<_> = added
        .events
        .iter()
        .map(|e| e.attrs["record_id"].as_str())
        .collect();
    assert_eq!(ids, ["0x0003"]);

    // Cleared, and two entries logged since, reusing ids 1 and 2: both are new.
    put(
        tools,
        "sel-elist.txt",
        &(line(1, "08:03:00", "Failure detected") + &line(2, "08:04:00", "Presence detected")),
    );
    put(tools, "sel-info.txt", &sel_info(2, "11/22/2026 08:04:00"));
    let cleared = next_poll(&mut c, tools);
    let times: Vec<_> = cleared.events.iter().map(|e| e.ts).collect();
    assert_eq!(
        times,
        [1_795_334_580_000, 1_795_334_640_000],
        "{:?}",
        cleared.events
    );

    // A BMC that refuses DCMI is left alone after its refusal; the poll stays up.
    std::fs::remove_file(tools.join("dcmi.txt")).expect("rm");
    let refused = next_poll(&mut c, tools);
    assert_eq!(value(&refused, "ipmi_up", &[]), Some(1.0));
    assert_eq!(
        value(&refused, "ipmi_dcmi_power_consumption_watts", &[]),
        None
    );
    let asked = calls(tools, "dcmi power");
    next_poll(&mut c, tools);
    assert_eq!(calls(tools, "dcmi power"), asked, "not asked again");
}

#[test]
fn a_missing_tool_makes_the_source_unavailable_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = IpmiConfig {
        backend: Backend::Freeipmi,
        tool_dir: Some(dir.path().to_owned()),
        lan: vec![LanTarget {
            host: "127.0.0.1".into(),
            port: 1623,
            username: "monitor".into(),
            password: "pw".into(),
            privilege: PrivilegeName::User,
            cipher_suite: None,
            workarounds: Vec::new(),
        }],
        ..IpmiConfig::default()
    };
    let c = IpmiCollector::new(config, StateDir::none());
    match c.probe() {
        harbinger_agent::collectors::Availability::Unavailable(why) => {
            assert!(
                why.contains("bmc-info") && why.contains("freeipmi"),
                "{why}"
            );
        }
        other => panic!("{other:?}"),
    }
}
