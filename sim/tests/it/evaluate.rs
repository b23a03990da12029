//! `evaluate` end to end at small scale: the real binary, a small fleet with injected
//! DIMM failures, and the JSON report checked for shape and for Harbinger finding them.

use serde_json::Value;
use std::process::Command;

fn evaluate(extra: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_harbinger-sim"))
        .args([
            "evaluate",
            "--hosts",
            "3",
            "--days",
            "3",
            "--seed",
            "5",
            "--interval",
            "300",
            "--json",
        ])
        .args(extra)
        .output()
        .expect("run harbinger-sim evaluate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the report is JSON")
}

fn number(v: &Value, key: &str) -> f64 {
    v.get(key)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{key} missing or not a number in {v}"))
}

#[test]
fn evaluate_reports_three_detectors_and_harbinger_finds_the_injected_failures() {
    let report = evaluate(&["--failure-rates", r#"{"dimm_uncorrectable": 1.0}"#]);
    assert_eq!(number(&report, "hosts"), 3.0);
    assert!(
        (number(&report, "server_days") - 9.0).abs() < 0.1,
        "{report}"
    );
    assert!(number(&report, "samples") > 10_000.0, "{report}");
    let detectors = report["detectors"].as_array().expect("detectors array");
    let names: Vec<&str> = detectors
        .iter()
        .filter_map(|d| d["detector"].as_str())
        .collect();
    assert_eq!(names, ["harbinger", "static-thresholds", "netdata-kmeans"]);
    for d in detectors {
        let predictable = number(d, "predictable_failures");
        let detected = number(d, "detected_failures");
        assert!(predictable >= 3.0, "every host has a failing DIMM: {d}");
        assert!(detected <= predictable, "{d}");
        assert!(number(d, "false_per_1000_server_days") >= 0.0, "{d}");
        let incidents = number(d, "incidents");
        assert_eq!(
            incidents,
            number(d, "true_incidents") + number(d, "false_incidents"),
            "{d}"
        );
    }
    let harbinger = &detectors[0];
    assert!(number(harbinger, "recall") > 0.0, "{harbinger}");
    assert!(number(harbinger, "detected_failures") >= 1.0, "{harbinger}");
}

#[test]
fn evaluate_rejects_unknown_failure_rate_keys_naming_the_option() {
    let out = Command::new(env!("CARGO_BIN_EXE_harbinger-sim"))
        .args(["evaluate", "--hosts", "1", "--days", "0.1"])
        .args(["--failure-rates", r#"{"disk_explodes": 1.0}"#])
        .output()
        .expect("run harbinger-sim evaluate");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--failure-rates"), "{stderr}");
    assert!(stderr.contains("disk_explodes"), "{stderr}");
}

#[test]
fn evaluate_runs_only_the_named_detectors_and_rejects_unknown_ones() {
    let report = evaluate(&["--detectors", "harbinger"]);
    let names: Vec<&str> = report["detectors"]
        .as_array()
        .expect("detectors")
        .iter()
        .filter_map(|d| d["detector"].as_str())
        .collect();
    assert_eq!(names, ["harbinger"]);
    let out = Command::new(env!("CARGO_BIN_EXE_harbinger-sim"))
        .args([
            "evaluate",
            "--hosts",
            "2",
            "--days",
            "1",
            "--detectors",
            "harbinger,zabbix",
        ])
        .output()
        .expect("run harbinger-sim evaluate");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--detectors") && stderr.contains("zabbix"),
        "{stderr}"
    );
}
