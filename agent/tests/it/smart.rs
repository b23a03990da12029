//! The SMART source: conformance against the real smartctl captures in
//! `$HARBINGER_FIXTURES`, and the real collector and `exec` path against a fake
//! `smartctl` script (exit statuses, power-mode skips, timeouts, output caps).

use crate::common::{agent, host_a_toml, output, stderr, stdout, SMART_OFF};
use harbinger_agent::collectors::smart::config::{DeviceOverride, SmartConfig};
use harbinger_agent::collectors::smart::discover::{parse_scan, ScanError};
use harbinger_agent::collectors::smart::report::{interpret, DiskReport, ReadError};
use harbinger_agent::collectors::smart::{probe, SmartCollector, Sweeper};
use harbinger_agent::collectors::{CollectError, Collector};
use harbinger_agent::exec::{self, CommandError, Limits};
use harbinger_agent::output::Output;
use harbinger_shared::catalogue::names;
use harbinger_shared::{Batch, EventKind};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------- conformance

fn shared_fixtures(suite: &str) -> Option<PathBuf> {
    match std::env::var_os("HARBINGER_FIXTURES") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => {
            eprintln!("SKIPPED: {suite} (set HARBINGER_FIXTURES)");
            None
        }
    }
}

fn value(report: &DiskReport, metric: &str, extra: &[(&str, &str)]) -> Option<f64> {
    report
        .readings
        .iter()
        .find(|r| {
            r.metric == metric
                && r.labels.len() == extra.len() + 1
                && extra
                    .iter()
                    .all(|(k, v)| r.labels.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|r| r.value)
}

fn attr_raw(report: &DiskReport, id: u32) -> Option<f64> {
    report
        .readings
        .iter()
        .find(|r| {
            r.metric == names::SMART_ATTRIBUTE_RAW
                && r.labels
                    .iter()
                    .any(|(k, v)| *k == "attribute_id" && *v == id.to_string())
        })
        .map(|r| r.value)
}

/// Reads one real capture the way the sweep does, with the exit status it recorded.
fn read_capture(path: &Path) -> Result<DiskReport, ReadError> {
    let bytes = std::fs::read(path).expect("fixture readable");
    let doc: serde_json::Value = serde_json::from_slice(&bytes).expect("fixture is JSON");
    let code = doc["smartctl"]["exit_status"].as_i64().unwrap_or(0) as i32;
    interpret(&path.display().to_string(), &bytes, code, false)
}

#[test]
fn every_real_smartctl_capture_parses_or_is_rejected_as_expected() {
    let Some(root) = shared_fixtures("smart_conformance") else {
        return;
    };
    let dir = root.join("smartctl");
    let mut reports = BTreeMap::new();
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("smartctl fixture dir") {
        let path = entry.expect("dir entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 name")
            .to_owned();
        if !name.ends_with(".json") {
            continue;
        }
        checked += 1;
        if name.starts_with("scan-") {
            let scan = parse_scan(&std::fs::read(&path).expect("read")).expect(&name);
            assert!(!scan.devices.is_empty(), "{name}: devices found");
            assert!(
                scan.devices.iter().all(|d| d.name.starts_with("/dev/")),
                "{name}"
            );
            continue;
        }
        let result = read_capture(&path);
        match name.as_str() {
            "error-windows-open-device-failed-exit2.json" => match result {
                Err(ReadError::CouldNotRead {
                    status, message, ..
                }) => {
                    assert_eq!(status.0, 2);
                    assert!(message.contains("Open failed"), "{message}");
                }
                other => panic!("{name}: {other:?}"),
            },
            "error-usb-unknown-bridge-0x048d-0x1234-exit1.json" => match result {
                Err(ReadError::CouldNotRead {
                    status, message, ..
                }) => {
                    assert_eq!(status.0, 1);
                    assert!(message.contains("Unknown USB bridge"), "{message}");
                }
                other => panic!("{name}: {other:?}"),
            },
            // `-jA` and `-jH` captures carry no identity: we never key a disk by path.
            "sata-attributes-only-jA.json" | "sata-health-only-jH-passed.json" => {
                assert!(
                    matches!(result, Err(ReadError::NoIdentity { .. })),
                    "{name}: {result:?}"
                );
            }
            _ => {
                let report = result.unwrap_or_else(|err| panic!("{name}: {err}"));
                assert!(
                    !report.device_id.is_empty() && !report.device_id.starts_with("/dev/"),
                    "{name}"
                );
                reports.insert(name, report);
            }
        }
    }
    assert!(checked >= 50, "the corpus has {checked} JSON files");
    let get = |name: &str| {
        reports
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing"))
    };

    // The failing drive: health failed, 5 below threshold now, pending sectors, a
    // failed self-test and 56 logged errors, all in exit status 216.
    let usb = get("usbjmicron-hdd-hitachi-hds721050dle630-failed-reallocated-pending-selftest-read-failure.json");
    assert_eq!(usb.smart_passed, Some(false));
    assert_eq!(value(usb, names::SMART_STATUS, &[]), Some(0.0));
    assert!(
        usb.status.disk_failing() && usb.status.logged_errors() && !usb.status.could_not_read()
    );
    assert_eq!(value(usb, names::SMART_EXIT_STATUS, &[]), Some(216.0));
    let a5 = [
        ("attribute_id", "5"),
        ("attribute_name", "Reallocated_Sector_Ct"),
    ];
    assert_eq!(value(usb, names::SMART_ATTRIBUTE_RAW, &a5), Some(1975.0));
    assert_eq!(value(usb, names::SMART_ATTRIBUTE_VALUE, &a5), Some(1.0));
    assert_eq!(value(usb, names::SMART_ATTRIBUTE_THRESHOLD, &a5), Some(5.0));
    assert_eq!(value(usb, names::SMART_ATTRIBUTE_FAILED, &a5), Some(2.0));
    assert_eq!(
        usb.failing_attributes,
        [(5, "Reallocated_Sector_Ct".to_owned())]
    );
    assert_eq!(attr_raw(usb, 196), Some(3831.0));
    assert_eq!(attr_raw(usb, 197), Some(8.0));
    assert!(usb
        .failed_self_tests
        .iter()
        .any(|t| t.status.string.as_deref() == Some("Completed: read failure")));
    assert!(value(usb, names::SMART_SELF_TEST_ERRORS, &[]).is_some_and(|n| n >= 1.0));
    assert_eq!(value(usb, names::SMART_ERROR_LOG, &[]), Some(56.0));
    assert_eq!(
        usb.device_id, "0x5000cca37fca81a8",
        "WWN naa 5, oui 0xcca, id 15028879784"
    );
    assert_eq!(usb.inventory["type"], "usbjmicron");
    assert_eq!(usb.inventory["class"], "hdd");

    // NVMe: media errors and error-log entries; a critical warning fails the drive.
    let evo = get("nvme-samsung-970evo-500gb-media-errors-7.json");
    assert_eq!(value(evo, names::NVME_MEDIA_ERRORS, &[]), Some(7.0));
    assert_eq!(value(evo, names::SMART_ERROR_LOG, &[]), Some(62.0));
    assert_eq!(value(evo, names::NVME_CRITICAL_WARNING, &[]), Some(0.0));
    assert_eq!(value(evo, names::SMART_STATUS, &[]), Some(1.0));
    assert_eq!(evo.inventory["class"], "nvme");
    let pm = get("nvme-samsung-pm1725a-mzwll3t2-critical-warning-16-failed-exit8.json");
    assert_eq!(value(pm, names::NVME_CRITICAL_WARNING, &[]), Some(16.0));
    assert_eq!(value(pm, names::SMART_STATUS, &[]), Some(0.0));
    assert!(pm.status.disk_failing());
    assert_eq!(
        value(
            get("nvme-intel-p4500-ssdpe2kx020t7-used-75pct.json"),
            names::NVME_PERCENTAGE_USED,
            &[]
        ),
        Some(0.75)
    );
    let p3700 = get("nvme-intel-p3700-ssdpedmd800g4-spare-93-used-51pct.json");
    assert_eq!(value(p3700, names::NVME_AVAILABLE_SPARE, &[]), Some(0.93));
    assert_eq!(value(p3700, names::NVME_PERCENTAGE_USED, &[]), Some(0.51));
    assert_eq!(
        value(
            get("nvme-corsair-force-mp510-errlog-8382.json"),
            names::SMART_ERROR_LOG,
            &[]
        ),
        Some(8382.0)
    );

    // Behind a MegaRAID: attributes still read, identified by WWN.
    let mr1 = get("megaraid-sat-wd4000fyyx-disk1-reallocated-387-exit4.json");
    assert_eq!(attr_raw(mr1, 5), Some(387.0));
    assert_eq!(attr_raw(mr1, 196), Some(9.0));
    assert_eq!(mr1.smart_passed, Some(true));
    assert!(mr1.status.partial() && !mr1.status.disk_failing());
    assert_eq!(mr1.inventory["type"], "sat+megaraid,1");
    assert!(mr1.device_id.starts_with("0x5"), "{}", mr1.device_id);

    // SCSI / SAS.
    let sas = get("sas-hdd-seagate-st4000nm0043-grown-defects-56-no-header.json");
    assert_eq!(value(sas, names::SCSI_GROWN_DEFECTS, &[]), Some(56.0));
    let u320 = get("scsi-hdd-seagate-st373453lc-grown-defects-260-uncorrected.json");
    assert_eq!(value(u320, names::SCSI_GROWN_DEFECTS, &[]), Some(260.0));
    assert_eq!(
        value(u320, names::SCSI_UNCORRECTED, &[("operation", "read")]),
        Some(1.0)
    );
    assert_eq!(
        value(u320, names::SCSI_UNCORRECTED, &[("operation", "write")]),
        Some(535.0)
    );
    assert_eq!(value(u320, names::SMART_TEMPERATURE_TRIP, &[]), Some(68.0));
    let raid = get("scsi-intel-raid1-volume-no-smart-exit4.json");
    assert_eq!(
        value(raid, names::SMART_STATUS, &[]),
        None,
        "no SMART on a RAID volume"
    );
    assert_eq!(
        value(raid, names::SMART_TEMPERATURE, &[]),
        None,
        "0 °C is not a reading"
    );

    // ATA attributes the README names, raw values decoded.
    assert_eq!(
        attr_raw(get("sata-hdd-seagate-st3500418as-reallocated-304.json"), 5),
        Some(304.0)
    );
    let st3000 = get("sata-hdd-seagate-st3000nm0033-reallocated-1-cmd-timeout.json");
    assert_eq!(
        attr_raw(st3000, 188),
        Some(4.0),
        "three packed 16-bit counters"
    );
    assert_eq!(attr_raw(st3000, 5), Some(1.0));
    assert_eq!(
        attr_raw(get("sata-hdd-seagate-exos-x16-st16000nm001g.json"), 188),
        Some(12.0)
    );
    assert_eq!(
        attr_raw(
            get("sata-hdd-hp-mb0500ebncr-reported-uncorrect-1.json"),
            187
        ),
        Some(1.0)
    );
    assert_eq!(
        attr_raw(get("sata-ssd-samsung-840-crc-errors-108-xall.json"), 199),
        Some(108.0)
    );
    let micron = get("sata-ssd-micron-5300-e2e-error-1-cmd-timeout-29.json");
    assert_eq!(
        (attr_raw(micron, 184), attr_raw(micron, 188)),
        (Some(1.0), Some(29.0))
    );
    assert_eq!(
        attr_raw(
            get("sata-ssd-intel-s4500-ssdsc2kb240g7-reallocated-4.json"),
            5
        ),
        Some(4.0)
    );
    assert_eq!(
        attr_raw(get("sata-ssd-kingston-skc400-retired-block-1.json"), 5),
        Some(1.0)
    );
    assert_eq!(
        value(
            get("sata-ssd-kingston-sa400m8120g-exit4.json"),
            names::SMART_EXIT_STATUS,
            &[]
        ),
        Some(4.0)
    );
    // Seagate's packed error rates are small error counts, not billions.
    for (name, report) in &reports {
        if report
            .inventory
            .get("model")
            .is_some_and(|m| m.starts_with("ST"))
        {
            for id in [1, 7, 195] {
                if let Some(raw) = attr_raw(report, id) {
                    assert!(raw < 65_536.0, "{name}: attribute {id} raw {raw}");
                }
            }
        }
    }
    let temp = get("sata-hdd-wdc-wd140edfz-healthy.json");
    assert_eq!(value(temp, names::SMART_TEMPERATURE, &[]), Some(32.0));
    assert_eq!(value(temp, names::SMART_TEMPERATURE_MIN, &[]), Some(24.0));
    assert_eq!(value(temp, names::SMART_TEMPERATURE_MAX, &[]), Some(38.0));

    // Error logs (exit bit 6): counted, and not mistaken for a failing disk.
    for (name, count) in [
        (
            "sata-hdd-hgst-hus724020ale640-error-log-12-exit64.json",
            12.0,
        ),
        (
            "sata-hdd-seagate-st3200820as-error-log-98-exit64.json",
            98.0,
        ),
        ("sata-hdd-toshiba-mg05aca800e-error-log-2-exit64.json", 2.0),
        ("sata-hdd-wdc-wd5002abys-error-log-9-exit64.json", 9.0),
        (
            "sata-hdd-wdc-wuh721816ale6l4-hc550-error-log-1-exit64.json",
            1.0,
        ),
    ] {
        let r = get(name);
        assert_eq!(value(r, names::SMART_ERROR_LOG, &[]), Some(count), "{name}");
        assert!(
            r.status.logged_errors() && !r.status.disk_failing(),
            "{name}"
        );
        assert_eq!(r.smart_passed, Some(true), "{name}");
    }
    // Healthy drives are not reported failing.
    for name in [
        "sata-hdd-toshiba-mg09aca18te.json",
        "sata-ssd-samsung-860evo-500gb-xall-healthy.json",
        "nvme-micron-7450-mtfdkcb3t8tfr.json",
    ] {
        let r = get(name);
        assert_eq!(r.smart_passed, Some(true), "{name}");
        assert!(r.failing_attributes.is_empty(), "{name}");
    }
    assert_eq!(
        get("sata-ssd-samsung-860evo-500gb-xall-healthy.json").inventory["class"],
        "ssd"
    );
}

#[test]
fn real_smartctl_text_outputs_are_rejected_or_recognised() {
    let Some(root) = shared_fixtures("smart_text_conformance") else {
        return;
    };
    let dir = root.join("smartctl-text");
    let read = |name: &str| std::fs::read(dir.join(name)).expect(name);
    let all_denied = parse_scan(&read("scan-open-all-permission-denied.txt")).expect("parses");
    assert!(all_denied.devices.is_empty());
    assert_eq!(all_denied.failed.len(), 2);
    assert!(all_denied.failed.iter().all(|f| f.is_permission()));
    let one_denied = parse_scan(&read("scan-open-nvme-permission-denied.txt")).expect("parses");
    assert_eq!(one_denied.devices.len(), 1);
    assert_eq!(one_denied.devices[0].dev_type.as_deref(), Some("sat"));
    assert_eq!(one_denied.failed[0].name, "/dev/nvme0");
    let aborted = parse_scan(&read("scan-open-glob-aborted.txt")).expect_err("a failed scan");
    assert!(
        matches!(aborted, ScanError::Failed(ref m) if m.contains("glob(3) aborted")),
        "{aborted}"
    );

    let standby = read("sata-standby-nocheck-exit2.txt");
    assert!(matches!(
        interpret("/dev/sdb", &standby, 2, true),
        Err(ReadError::Asleep { .. })
    ));
    assert!(matches!(
        interpret("/dev/sdb", &standby, 2, false),
        Err(ReadError::CouldNotRead { .. })
    ));
    let mut rejected = 0;
    for entry in std::fs::read_dir(&dir).expect("dir") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("name")
            .to_owned();
        if name.starts_with("scan-open") || name.starts_with("sata-standby") {
            continue;
        }
        // Text reports (from `smartctl -x` without --json) are refused by name.
        let err = interpret(&name, &std::fs::read(&path).expect("read"), 0, true).expect_err(&name);
        assert!(matches!(err, ReadError::NotJson { .. }), "{name}: {err}");
        rejected += 1;
    }
    assert!(rejected >= 9, "{rejected}");
}

// ---------------------------------------------------------------- fake smartctl

/// A tempdir holding an executable `smartctl` that serves our fixtures: `--version`,
/// `--scan-open`, and per device `<dev>.json` with exit code `<dev>.code` (default 0),
/// optionally sleeping `<dev>.sleep` seconds first. Every call's arguments are appended
/// to `args.log`.
struct FakeSmartctl {
    dir: tempfile::TempDir,
}

const FAKE_SCRIPT: &str = r#"#!/bin/sh
D="$(dirname "$0")"
echo "$*" >> "$D/args.log"
case "$*" in
  *--version*) cat "$D/version.txt"; exit 0 ;;
  *--scan-open*) cat "$D/scan.json"; exit "$(cat "$D/scan.code" 2>/dev/null || echo 0)" ;;
esac
for last in "$@"; do :; done
case "$*" in
  *megaraid,0*) dev=megaraid0 ;;
  *) dev="$(basename "$last")" ;;
esac
if [ -f "$D/$dev.sleep" ]; then sleep "$(cat "$D/$dev.sleep")"; fi
if [ -f "$D/$dev.big" ]; then head -c 100000 /dev/zero | tr '\0' 'x'; exit 0; fi
[ -f "$D/$dev.json" ] && cat "$D/$dev.json"
exit "$(cat "$D/$dev.code" 2>/dev/null || echo 0)"
"#;

fn own_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/smart")
        .join(name)
}

impl FakeSmartctl {
    fn new() -> Self {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let script = dir.path().join("smartctl");
        std::fs::write(&script, FAKE_SCRIPT).expect("write script");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let fake = Self { dir };
        fake.write(
            "version.txt",
            "smartctl 7.3 2022-02-28 r5338 [x86_64-linux-6.1.0] (local build)\n",
        );
        fake.copy("scan-open.json", "scan.json");
        fake.copy("sda.json", "sda.json");
        fake.copy("nvme0.json", "nvme0.json");
        fake.copy("megaraid0.json", "megaraid0.json");
        fake
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.path().join(name), text).expect("write fake file");
    }

    fn copy(&self, fixture: &str, name: &str) {
        std::fs::copy(own_fixture(fixture), self.dir.path().join(name)).expect("copy fixture");
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("smartctl")
    }

    fn args_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("args.log")).unwrap_or_default()
    }

    fn config(&self) -> SmartConfig {
        SmartConfig {
            smartctl: self.path(),
            timeout: Duration::from_secs(5),
            ..SmartConfig::default()
        }
    }
}

fn out_value(out: &Output, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    out.value(metric, labels)
}

const SDA: &str = "0x5000c500a1504ef6";
const NVME: &str = "NVMEFAKE0001";
const MEGARAID: &str = "0x5000c500abcdef01";

#[test]
fn the_collector_reads_every_discovered_disk_through_a_fake_smartctl() {
    let fake = FakeSmartctl::new();
    fake.write("sda.code", "192"); // error log + self-test errors: findings, not failures
    let mut collector = SmartCollector::new(fake.config());
    assert_eq!(
        collector.probe(),
        harbinger_agent::collectors::Availability::Available
    );
    let mut out = Output::new();
    collector
        .collect(1_000, &mut out)
        .expect("the first sweep succeeds");

    // ATA, decoded: Seagate packed error rate and command timeouts, temperature.
    fn attr(id: &'static str, name: &'static str) -> [(&'static str, &'static str); 3] {
        [
            ("device_id", SDA),
            ("attribute_id", id),
            ("attribute_name", name),
        ]
    }
    assert_eq!(
        out_value(
            &out,
            names::SMART_ATTRIBUTE_RAW,
            &attr("1", "Raw_Read_Error_Rate")
        ),
        Some(3.0)
    );
    assert_eq!(
        out_value(
            &out,
            names::SMART_ATTRIBUTE_RAW,
            &attr("188", "Command_Timeout")
        ),
        Some(2.0)
    );
    assert_eq!(
        out_value(
            &out,
            names::SMART_ATTRIBUTE_RAW,
            &attr("194", "Temperature_Celsius")
        ),
        Some(36.0)
    );
    assert_eq!(
        out_value(
            &out,
            names::SMART_ATTRIBUTE_RAW,
            &attr("197", "Current_Pending_Sector")
        ),
        Some(8.0)
    );
    assert_eq!(
        out_value(
            &out,
            names::SMART_ATTRIBUTE_FAILED,
            &attr("198", "Offline_Uncorrectable")
        ),
        Some(1.0)
    );
    assert_eq!(
        out_value(&out, names::SMART_EXIT_STATUS, &[("device_id", SDA)]),
        Some(192.0)
    );
    assert_eq!(
        out_value(&out, names::SMART_STATUS, &[("device_id", SDA)]),
        Some(1.0)
    );
    assert_eq!(
        out_value(&out, names::SMART_ERROR_LOG, &[("device_id", SDA)]),
        Some(3.0)
    );
    assert_eq!(
        out_value(&out, names::SMART_POWER_ON, &[("device_id", SDA)]),
        Some(12_000.0 * 3600.0)
    );
    // NVMe, every health field.
    let n = [("device_id", NVME)];
    assert_eq!(out_value(&out, names::NVME_CRITICAL_WARNING, &n), Some(1.0));
    assert_eq!(out_value(&out, names::NVME_AVAILABLE_SPARE, &n), Some(0.08));
    assert_eq!(
        out_value(&out, names::NVME_AVAILABLE_SPARE_THRESHOLD, &n),
        Some(0.10)
    );
    assert_eq!(out_value(&out, names::NVME_PERCENTAGE_USED, &n), Some(1.04));
    assert_eq!(out_value(&out, names::NVME_MEDIA_ERRORS, &n), Some(5.0));
    assert_eq!(out_value(&out, names::SMART_ERROR_LOG, &n), Some(77.0));
    assert_eq!(out_value(&out, names::NVME_UNSAFE_SHUTDOWNS, &n), Some(3.0));
    assert_eq!(
        out_value(&out, names::NVME_DATA_READ, &n),
        Some(512_000_000.0)
    );
    assert_eq!(
        out_value(&out, names::NVME_DATA_WRITTEN, &n),
        Some(1_024_000_000.0)
    );
    assert_eq!(out_value(&out, names::NVME_HOST_READS, &n), Some(30_000.0));
    assert_eq!(out_value(&out, names::NVME_BUSY, &n), Some(900.0));
    assert_eq!(
        out_value(&out, names::NVME_WARNING_TEMP_TIME, &n),
        Some(120.0)
    );
    assert_eq!(
        out_value(&out, names::NVME_CRITICAL_TEMP_TIME, &n),
        Some(60.0)
    );
    assert_eq!(
        out_value(
            &out,
            names::NVME_TEMPERATURE_SENSOR,
            &[("device_id", NVME), ("sensor", "2")]
        ),
        Some(52.0)
    );
    assert_eq!(out_value(&out, names::SMART_POWER_CYCLES, &n), Some(12.0));
    // SAS behind MegaRAID, keyed by its logical unit id.
    let m = [("device_id", MEGARAID)];
    assert_eq!(out_value(&out, names::SCSI_GROWN_DEFECTS, &m), Some(12.0));
    assert_eq!(
        out_value(
            &out,
            names::SCSI_UNCORRECTED,
            &[("device_id", MEGARAID), ("operation", "verify")]
        ),
        Some(1.0)
    );
    assert_eq!(
        out_value(
            &out,
            names::SCSI_PROCESSED,
            &[("device_id", MEGARAID), ("operation", "read")]
        ),
        Some(1_000.5e9)
    );
    assert_eq!(out_value(&out, names::SCSI_START_STOP, &m), Some(150.0));
    assert_eq!(
        out_value(&out, names::SCSI_LOAD_UNLOAD_SPECIFIED, &m),
        Some(300_000.0)
    );
    // The sweep's own metrics: three read, the unopenable one failed.
    assert_eq!(
        out_value(&out, names::AGENT_SMART_DEVICES, &[("outcome", "read")]),
        Some(3.0)
    );
    assert_eq!(
        out_value(&out, names::AGENT_SMART_DEVICES, &[("outcome", "failed")]),
        Some(1.0)
    );
    assert!(out_value(&out, names::AGENT_SMART_SWEEP_DURATION, &[]).is_some());
    // No series is keyed by a device path.
    let payload = out.finish();
    for s in payload
        .series
        .iter()
        .filter(|s| s.metric.starts_with("smartctl_"))
    {
        assert!(!s.labels.contains_key("device"), "{}", s.metric);
        assert!(!s.labels["device_id"].starts_with("/dev/"), "{}", s.metric);
    }
    // Inventory: identity of each disk.
    let inv: BTreeMap<String, &BTreeMap<String, String>> = payload
        .inventory
        .iter()
        .map(|i| (i.component.to_string(), &i.attrs))
        .collect();
    let sda = inv[&format!("disk:{SDA}")];
    assert_eq!(sda["model"], "ST4000NM0035-1V4107");
    assert_eq!(sda["serial"], "ZC1FAKE1");
    assert_eq!(sda["wwn"], SDA);
    assert_eq!(sda["firmware"], "TN03");
    assert_eq!(sda["capacity_bytes"], "4000787030016");
    assert_eq!(sda["rotation_rate_rpm"], "7200");
    assert_eq!(sda["interface"], "ATA, SATA 3.1, 6.0 Gb/s");
    assert_eq!(sda["device"], "/dev/sda");
    assert_eq!(inv[&format!("disk:{MEGARAID}")]["type"], "megaraid,0");
    assert_eq!(inv[&format!("disk:{NVME}")]["class"], "nvme");

    // The power policy: the HDD was read with a standby check, the NVMe drive without;
    // the RAID member was addressed with the type the scan revealed.
    let log = fake.args_log();
    let line = |dev: &str| {
        log.lines()
            .find(|l| l.ends_with(dev))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(line("/dev/sda").contains("--nocheck=standby,3"), "{log}");
    assert!(line("/dev/sda").contains("-d sat"), "{log}");
    assert!(!line("/dev/nvme0").contains("--nocheck"), "{log}");
    assert!(line("/dev/bus/0").contains("-d megaraid,0"), "{log}");
    assert!(
        line("/dev/sda").contains("-x") && line("/dev/sda").contains("--json"),
        "{log}"
    );
}

#[test]
fn sleeping_disks_stay_asleep_and_new_self_test_failures_become_events() {
    let fake = FakeSmartctl::new();
    let mut sweeper = Sweeper::new(fake.config());
    let first = sweeper.sweep();
    assert_eq!(first.read, 3);
    assert!(
        first.events.is_empty(),
        "failures already in the log are the baseline"
    );
    let baseline_inventory = first.inventory.len();
    assert_eq!(baseline_inventory, 3);

    // The HDD spins down: skipped (exit 3 from `-n standby,3`), not an error.
    fake.write("sda.code", "3");
    std::fs::remove_file(fake.dir.path().join("sda.json")).expect("rm");
    let asleep = sweeper.sweep();
    assert_eq!((asleep.read, asleep.asleep), (2, 1));
    assert!(asleep.error.is_none());
    let standby = asleep
        .readings
        .iter()
        .find(|r| r.metric == names::SMART_STANDBY && r.labels[0].1 == SDA)
        .map(|r| r.value);
    assert_eq!(standby, Some(1.0));
    assert!(
        asleep.inventory.is_empty(),
        "inventory is sent on change only"
    );

    // It wakes up with a new failed self-test: one event, with the test's details.
    fake.write("sda.code", "192");
    fake.copy("sda-new-failure.json", "sda.json");
    let woke = sweeper.sweep();
    assert_eq!(woke.read, 3);
    assert_eq!(woke.events.len(), 1, "{:?}", woke.events);
    let event = &woke.events[0];
    assert_eq!(event.kind.as_str(), EventKind::SMART_SELF_TEST);
    assert_eq!(
        event.component.as_ref().map(ToString::to_string),
        Some(format!("disk:{SDA}"))
    );
    assert_eq!(event.attrs["lba"], "123456999");
    assert_eq!(event.attrs["lifetime_hours"], "12010");
    assert_eq!(event.attrs["status"], "Completed: read failure");
    assert!(
        event.message.contains("Extended offline"),
        "{}",
        event.message
    );
    let realloc = woke
        .readings
        .iter()
        .find(|r| {
            r.metric == names::SMART_ATTRIBUTE_RAW && r.labels[0].1 == SDA && r.labels[1].1 == "5"
        })
        .map(|r| r.value);
    assert_eq!(realloc, Some(40.0));
    // Only the HDD's power check was requested; the SSD policy is "never" by default.
    assert!(
        sweeper.sweep().events.is_empty(),
        "an event once, not every sweep"
    );
}

#[test]
fn a_hung_smartctl_is_killed_and_does_not_stall_the_agent() {
    let fake = FakeSmartctl::new();
    fake.write("nvme0.sleep", "30");
    let config = SmartConfig {
        timeout: Duration::from_millis(1500),
        ..fake.config()
    };
    // The cycle waits only briefly for the first sweep, then carries on without it.
    let mut collector = SmartCollector::with_first_wait(config, Duration::from_millis(100));
    let started = Instant::now();
    let mut out = Output::new();
    collector
        .collect(1_000, &mut out)
        .expect("nothing finished yet is not a failure");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "collect returned before the timeout fired"
    );
    assert_eq!(
        out_value(&out, names::AGENT_SMART_DEVICES, &[("outcome", "read")]),
        None
    );

    // Later cycles pick the sweep up: the hung device failed, the others were read.
    let deadline = Instant::now() + Duration::from_secs(20);
    let out = loop {
        let mut out = Output::new();
        collector
            .collect(2_000, &mut out)
            .expect("the sweep read most disks");
        if out_value(&out, names::AGENT_SMART_DEVICES, &[("outcome", "read")]).is_some() {
            break out;
        }
        assert!(Instant::now() < deadline, "the sweep never finished");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        out_value(&out, names::AGENT_SMART_DEVICES, &[("outcome", "read")]),
        Some(2.0)
    );
    assert_eq!(
        out_value(&out, names::AGENT_SMART_DEVICES, &[("outcome", "failed")]),
        Some(2.0)
    );
    assert_eq!(
        out_value(&out, names::SMART_STATUS, &[("device_id", NVME)]),
        None
    );
    assert_eq!(
        out_value(&out, names::SMART_STATUS, &[("device_id", SDA)]),
        Some(1.0)
    );
}

#[test]
fn exec_kills_the_whole_group_on_timeout_and_caps_output() {
    let fake = FakeSmartctl::new();
    fake.write("sda.sleep", "30");
    let started = Instant::now();
    let err = exec::run(
        &fake.path(),
        &["-x", "/dev/sda"],
        Limits {
            timeout: Duration::from_millis(300),
            max_stdout: 1 << 20,
        },
    )
    .expect_err("times out");
    assert!(matches!(err, CommandError::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("-x /dev/sda"), "{err}");
    // The `sleep` child held the pipes; killing only the shell would block here for 30 s.
    assert!(started.elapsed() < Duration::from_secs(10));

    std::fs::remove_file(fake.dir.path().join("sda.sleep")).expect("rm");
    fake.write("sda.big", "");
    let err = exec::run(
        &fake.path(),
        &["-x", "/dev/sda"],
        Limits {
            timeout: Duration::from_secs(10),
            max_stdout: 4096,
        },
    )
    .expect_err("too large");
    assert!(
        matches!(err, CommandError::OutputTooLarge { limit: 4096, .. }),
        "{err}"
    );

    // Exit codes pass through (smartctl's bitmask), stderr is captured apart.
    fake.write("nvme0.code", "72");
    let out = exec::run(
        &fake.path(),
        &["-x", "/dev/nvme0"],
        Limits {
            timeout: Duration::from_secs(10),
            max_stdout: 1 << 20,
        },
    )
    .expect("runs");
    assert_eq!(out.code, 72);
    assert!(out.stdout.starts_with(b"{"));
    assert!(out.stderr.is_empty());
}

#[test]
fn probe_explains_why_smart_is_unavailable() {
    let fake = FakeSmartctl::new();
    assert_eq!(probe(&fake.config()), Ok(()));

    fake.write(
        "version.txt",
        "smartctl 6.6 2016-05-31 r4324 [x86_64-linux-4.15.0] (local build)\n",
    );
    let reason = probe(&fake.config()).expect_err("too old");
    assert!(
        reason.contains("6.6 is too old") && reason.contains("7.0"),
        "{reason}"
    );

    fake.write("version.txt", "smartctl 7.3 2022-02-28 r5338\n");
    fake.write(
        "scan.json",
        r#"{"devices":[{"name":"/dev/sda","type":"sat","protocol":"ATA","open_error":"Permission denied"}]}"#,
    );
    let reason = probe(&fake.config()).expect_err("no permission");
    assert!(
        reason.starts_with("no permission to open disks (/dev/sda: Permission denied)"),
        "{reason}"
    );

    fake.write(
        "scan.json",
        r#"{"json_format_version":[1,0],"smartctl":{"version":[7,3],"exit_status":0}}"#,
    );
    assert_eq!(
        probe(&fake.config()),
        Err("smartctl --scan-open found no disks".to_owned())
    );
    // A configured device makes the source worth running even when the scan is empty.
    let mut config = fake.config();
    config.devices.push(DeviceOverride {
        name: "/dev/sdq".into(),
        dev_type: Some("cciss,0".into()),
        exclude: false,
        power_mode: None,
    });
    assert_eq!(probe(&config), Ok(()));

    let missing = SmartConfig {
        smartctl: fake.dir.path().join("nowhere/smartctl"),
        ..SmartConfig::default()
    };
    let reason = probe(&missing).expect_err("missing");
    assert!(reason.contains("nowhere/smartctl: not found"), "{reason}");
}

#[test]
fn a_failed_discovery_fails_the_source_with_the_reason() {
    let fake = FakeSmartctl::new();
    fake.write(
        "scan.json",
        "# scan_smart_devices: glob(3) aborted matching pattern /dev/sd[a-z]\n",
    );
    let mut collector = SmartCollector::new(fake.config());
    let err = collector
        .collect(1_000, &mut Output::new())
        .expect_err("discovery failed");
    assert!(matches!(err, CollectError::Malformed { .. }));
    assert!(err.to_string().contains("glob(3) aborted"), "{err}");
}

#[test]
fn check_and_once_use_the_configured_smartctl() {
    let fake = FakeSmartctl::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("agent.toml");
    let smart = format!(
        "[smart]\nsmartctl = {:?}\ntimeout = \"5s\"\n",
        fake.path().display().to_string()
    );
    let toml = host_a_toml(&dir.path().join("state"), "").replace(SMART_OFF, &smart);
    std::fs::write(&config, toml).expect("write config");
    let out = output(agent().arg("check").arg("--config").arg(&config));
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert!(
        stdout(&out).lines().any(|l| l == "source smart: available"),
        "{}",
        stdout(&out)
    );

    let out = output(agent().arg("once").arg("--config").arg(&config));
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let batch = Batch::decode(stdout(&out).as_bytes(), false, 1 << 24).expect("a batch");
    batch.validate().expect("valid");
    let status = batch
        .series
        .iter()
        .find(|s| {
            s.metric == names::SMART_STATUS
                && s.labels.get("device_id").map(String::as_str) == Some(SDA)
        })
        .map(|s| s.points[0].value);
    assert_eq!(status, Some(1.0));

    fake.write("version.txt", "smartctl 6.2 2013-07-26 r3841\n");
    let out = output(agent().arg("check").arg("--config").arg(&config));
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.starts_with("source smart:"))
        .expect("a smart line");
    assert!(
        line.starts_with("source smart: unavailable: smartctl 6.2 is too old"),
        "{line}"
    );
}
