//! One device's `smartctl --json -x` output turned into readings, inventory and the
//! facts the sweep needs (identity, class, failing self-tests).
//!
//! Pure: no process, no clock, so every fixture can be checked byte for byte.
//! Labels: every per-disk series carries `device_id` (WWN as lowercase `0x…` hex, else
//! the serial number) and nothing that changes when the kernel renames `/dev/sdX`; the
//! device path and `-d` type go to inventory instead, where a change is harmless.

use super::decode::{decode, is_seagate};
use super::exit::ExitStatus;
use super::json::{Document, NvmeHealth, ScsiErrorCounters, SelfTestEntry};
use super::policy::{DeviceClass, SKIPPED_STATUS};
use harbinger_shared::catalogue::names;
use std::collections::BTreeMap;

/// One sample without its timestamp (the cycle that ships it provides that).
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub metric: &'static str,
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

/// Why a device read gave no data.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadError {
    #[error("{device}: in a low-power mode, skipped so it stays asleep")]
    Asleep { device: String },
    #[error("{device}: permission denied ({message}); run the agent as root or with CAP_SYS_RAWIO and CAP_SYS_ADMIN")]
    PermissionDenied { device: String, message: String },
    #[error("{device}: smartctl could not read it, exit status {status}: {message}")]
    CouldNotRead {
        device: String,
        status: ExitStatus,
        message: String,
    },
    #[error("{device}: smartctl output is not JSON: {message}")]
    NotJson { device: String, message: String },
    #[error(
        "{device}: smartctl reported no WWN and no serial number, so the disk cannot be identified"
    )]
    NoIdentity { device: String },
}

/// What one successful read says about a disk.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskReport {
    pub device_id: String,
    pub class: DeviceClass,
    pub status: ExitStatus,
    pub smart_passed: Option<bool>,
    pub readings: Vec<Reading>,
    pub inventory: BTreeMap<String, String>,
    /// Failed entries of the ATA or NVMe self-test log.
    pub failed_self_tests: Vec<SelfTestEntry>,
    /// `(id, name)` of attributes smartctl marks as failing now.
    pub failing_attributes: Vec<(u32, String)>,
}

/// Interprets a read of `device` (a display name for errors) that exited with `code`.
/// `nocheck` says whether a power-mode check was requested, so that its skip status is
/// recognised.
pub fn interpret(
    device: &str,
    stdout: &[u8],
    code: i32,
    nocheck: bool,
) -> Result<DiskReport, ReadError> {
    let status = ExitStatus::from_code(code);
    let asleep_text = |text: &str| {
        [
            "STANDBY mode",
            "SLEEP mode",
            "IDLE mode",
            "IDLE_A mode",
            "IDLE_B mode",
            "IDLE_C mode",
            "STANDBY_Y mode",
            "IDLE_B",
        ]
        .iter()
        .any(|m| text.contains(m))
    };
    let text = String::from_utf8_lossy(stdout);
    if nocheck
        && (code == SKIPPED_STATUS || (status.has(super::exit::OPEN_FAILED) && asleep_text(&text)))
    {
        return Err(ReadError::Asleep {
            device: device.to_owned(),
        });
    }
    let doc = match Document::parse(stdout) {
        Ok(doc) => doc,
        Err(err) => {
            let first = text
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("(no output)");
            return Err(if status.could_not_read() {
                ReadError::CouldNotRead {
                    device: device.to_owned(),
                    status,
                    message: first.to_owned(),
                }
            } else {
                ReadError::NotJson {
                    device: device.to_owned(),
                    message: err.to_string(),
                }
            });
        }
    };
    if status.could_not_read() {
        let message = doc.messages();
        if super::discover::is_permission_message(&message) {
            return Err(ReadError::PermissionDenied {
                device: device.to_owned(),
                message,
            });
        }
        return Err(ReadError::CouldNotRead {
            device: device.to_owned(),
            status,
            message: if message.is_empty() {
                "no message".to_owned()
            } else {
                message
            },
        });
    }
    let device_id = identity(&doc).ok_or_else(|| ReadError::NoIdentity {
        device: device.to_owned(),
    })?;
    let protocol = doc.device.as_ref().and_then(|d| d.protocol.as_deref());
    let dev_type = doc.device.as_ref().and_then(|d| d.dev_type.as_deref());
    let class = DeviceClass::from_read(protocol, dev_type, doc.rotation_rate);
    let mut r = Readings {
        device_id: device_id.clone(),
        out: Vec::new(),
    };
    r.disk(names::SMART_EXIT_STATUS, Some(f64::from(status.0)));
    let smart_passed = doc.smart_status.as_ref().and_then(|s| s.passed);
    r.disk(
        names::SMART_STATUS,
        smart_passed.map(|p| if p { 1.0 } else { 0.0 }),
    );
    let nvme = doc.nvme_smart_health_information_log.as_ref();
    let temperature = doc
        .temperature
        .as_ref()
        .and_then(|t| t.current)
        .or_else(|| nvme.and_then(|n| n.temperature));
    // RAID virtual disks and some bridges report 0 °C; no server disk runs that cold.
    r.disk(names::SMART_TEMPERATURE, temperature.filter(|t| *t > 0.0));
    r.disk(
        names::SMART_TEMPERATURE_TRIP,
        doc.temperature
            .as_ref()
            .and_then(|t| t.drive_trip)
            .filter(|t| *t > 0.0),
    );
    let power_on_hours = doc
        .power_on_time
        .as_ref()
        .and_then(|p| p.hours.map(|h| h + p.minutes.unwrap_or(0.0) / 60.0))
        .or_else(|| nvme.and_then(|n| n.power_on_hours));
    r.disk(names::SMART_POWER_ON, power_on_hours.map(|h| h * 3600.0));
    r.disk(
        names::SMART_POWER_CYCLES,
        doc.power_cycle_count
            .or_else(|| nvme.and_then(|n| n.power_cycles)),
    );

    let failing_attributes = ata_attributes(&doc, &mut r);
    let error_log = doc
        .ata_smart_error_log
        .as_ref()
        .and_then(|l| l.extended.as_ref().or(l.summary.as_ref()))
        .and_then(|c| c.count)
        .or_else(|| nvme.and_then(|n| n.num_err_log_entries));
    r.disk(names::SMART_ERROR_LOG, error_log);
    let failed_self_tests = self_tests(&doc);
    if doc.ata_smart_self_test_log.is_some() || doc.nvme_self_test_log.is_some() {
        r.disk(
            names::SMART_SELF_TEST_ERRORS,
            Some(failed_self_tests.len() as f64),
        );
    }
    if let Some(n) = nvme {
        nvme_health(n, &mut r);
    }
    scsi(&doc, &mut r);

    Ok(DiskReport {
        inventory: inventory(&doc, &device_id, class),
        device_id,
        class,
        status,
        smart_passed,
        readings: r.out,
        failed_self_tests,
        failing_attributes,
    })
}

/// WWN (`0x` + 16 lowercase hex digits), else a SCSI logical unit id, else the serial.
pub fn identity(doc: &Document) -> Option<String> {
    if let Some(w) = &doc.wwn {
        if let (Some(naa), Some(oui), Some(id)) = (w.naa, w.oui, w.id) {
            let value = ((naa as u64 & 0xf) << 60)
                | ((oui as u64 & 0xff_ffff) << 36)
                | (id as u64 & 0xf_ffff_ffff);
            if value != 0 {
                return Some(format!("0x{value:016x}"));
            }
        }
    }
    if let Some(lu) = &doc.logical_unit_id {
        let hex = lu.trim().to_ascii_lowercase();
        let digits = hex.strip_prefix("0x").unwrap_or("");
        if !digits.is_empty()
            && digits.chars().all(|c| c.is_ascii_hexdigit())
            && digits.chars().any(|c| c != '0')
        {
            return Some(hex);
        }
    }
    doc.serial_number
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

struct Readings {
    device_id: String,
    out: Vec<Reading>,
}

impl Readings {
    fn disk(&mut self, metric: &'static str, value: Option<f64>) {
        self.with(metric, Vec::new(), value);
    }

    fn with(
        &mut self,
        metric: &'static str,
        extra: Vec<(&'static str, String)>,
        value: Option<f64>,
    ) {
        if let Some(value) = value.filter(|v| v.is_finite()) {
            let mut labels = vec![("device_id", self.device_id.clone())];
            labels.extend(extra);
            self.out.push(Reading {
                metric,
                labels,
                value,
            });
        }
    }
}

fn ata_attributes(doc: &Document, r: &mut Readings) -> Vec<(u32, String)> {
    let Some(attrs) = &doc.ata_smart_attributes else {
        return Vec::new();
    };
    let seagate = is_seagate(doc.model_family.as_deref(), doc.model_name.as_deref());
    let mut failing = Vec::new();
    let mut temp_range = None;
    for a in &attrs.table {
        let labels = || {
            vec![
                ("attribute_id", a.id.to_string()),
                ("attribute_name", a.name.clone()),
            ]
        };
        r.with(names::SMART_ATTRIBUTE_VALUE, labels(), a.value);
        r.with(names::SMART_ATTRIBUTE_WORST, labels(), a.worst);
        r.with(names::SMART_ATTRIBUTE_THRESHOLD, labels(), a.thresh);
        let decoded = decode(a, seagate);
        r.with(
            names::SMART_ATTRIBUTE_RAW,
            labels(),
            decoded.map(|d| d.value),
        );
        let failed = match a.when_failed.as_deref().map(str::trim) {
            Some("now") => 2.0,
            Some("past") => 1.0,
            _ => 0.0,
        };
        if failed == 2.0 {
            failing.push((a.id, a.name.clone()));
        }
        r.with(names::SMART_ATTRIBUTE_FAILED, labels(), Some(failed));
        // 194 is the drive's own temperature; 190 (airflow) only when 194 is absent.
        if let Some(d) = decoded.filter(|d| d.min.is_some() && matches!(a.id, 190 | 194)) {
            if a.id == 194 || temp_range.is_none() {
                temp_range = Some(d);
            }
        }
    }
    if let Some(d) = temp_range {
        r.disk(names::SMART_TEMPERATURE_MIN, d.min);
        r.disk(names::SMART_TEMPERATURE_MAX, d.max);
    }
    failing
}

fn self_tests(doc: &Document) -> Vec<SelfTestEntry> {
    if let Some(nvme) = &doc.nvme_self_test_log {
        return nvme
            .table
            .iter()
            .filter(|e| e.failed())
            .map(|e| e.as_ata())
            .collect();
    }
    let Some(logs) = &doc.ata_smart_self_test_log else {
        return Vec::new();
    };
    // `-x` reads the extended log (GP) where supported and the standard one otherwise;
    // both describe the same tests, so one is enough.
    let log = logs.extended.as_ref().or(logs.standard.as_ref());
    log.map(|l| {
        l.table
            .iter()
            .filter(|e| e.status.passed == Some(false))
            .cloned()
            .collect()
    })
    .unwrap_or_default()
}

fn nvme_health(n: &NvmeHealth, r: &mut Readings) {
    let pct = |v: Option<f64>| v.map(|v| v / 100.0);
    // NVMe counts data in units of 1000 512-byte blocks, and times in minutes.
    let units = |v: Option<f64>| v.map(|v| v * 512_000.0);
    let minutes = |v: Option<f64>| v.map(|v| v * 60.0);
    r.disk(names::NVME_CRITICAL_WARNING, n.critical_warning);
    r.disk(names::NVME_AVAILABLE_SPARE, pct(n.available_spare));
    r.disk(
        names::NVME_AVAILABLE_SPARE_THRESHOLD,
        pct(n.available_spare_threshold),
    );
    r.disk(names::NVME_PERCENTAGE_USED, pct(n.percentage_used));
    r.disk(names::NVME_MEDIA_ERRORS, n.media_errors);
    r.disk(names::NVME_UNSAFE_SHUTDOWNS, n.unsafe_shutdowns);
    r.disk(names::NVME_DATA_READ, units(n.data_units_read));
    r.disk(names::NVME_DATA_WRITTEN, units(n.data_units_written));
    r.disk(names::NVME_HOST_READS, n.host_reads);
    r.disk(names::NVME_HOST_WRITES, n.host_writes);
    r.disk(names::NVME_BUSY, minutes(n.controller_busy_time));
    r.disk(names::NVME_WARNING_TEMP_TIME, minutes(n.warning_temp_time));
    r.disk(
        names::NVME_CRITICAL_TEMP_TIME,
        minutes(n.critical_comp_time),
    );
    for (i, t) in n.temperature_sensors.iter().flatten().enumerate() {
        r.with(
            names::NVME_TEMPERATURE_SENSOR,
            vec![("sensor", (i + 1).to_string())],
            t.as_f64().filter(|t| *t > 0.0),
        );
    }
}

fn scsi(doc: &Document, r: &mut Readings) {
    r.disk(names::SCSI_GROWN_DEFECTS, doc.scsi_grown_defect_list);
    if let Some(log) = &doc.scsi_error_counter_log {
        let ops: [(&str, &Option<ScsiErrorCounters>); 3] = [
            ("read", &log.read),
            ("write", &log.write),
            ("verify", &log.verify),
        ];
        for (op, counters) in ops {
            let Some(c) = counters else { continue };
            let op = || vec![("operation", op.to_owned())];
            r.with(names::SCSI_UNCORRECTED, op(), c.total_uncorrected_errors);
            r.with(names::SCSI_CORRECTED, op(), c.total_errors_corrected);
            r.with(
                names::SCSI_PROCESSED,
                op(),
                c.gigabytes_processed.map(|g| g * 1e9),
            );
        }
    }
    if let Some(s) = &doc.scsi_start_stop_cycle_counter {
        r.disk(names::SCSI_START_STOP, s.accumulated_start_stop_cycles);
        r.disk(
            names::SCSI_START_STOP_SPECIFIED,
            s.specified_cycle_count_over_device_lifetime,
        );
        r.disk(names::SCSI_LOAD_UNLOAD, s.accumulated_load_unload_cycles);
        r.disk(
            names::SCSI_LOAD_UNLOAD_SPECIFIED,
            s.specified_load_unload_count_over_device_lifetime,
        );
    }
}

fn inventory(doc: &Document, device_id: &str, class: DeviceClass) -> BTreeMap<String, String> {
    let mut attrs = BTreeMap::new();
    let mut put = |key: &str, value: Option<String>| {
        if let Some(v) = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
            attrs.insert(key.to_owned(), v);
        }
    };
    let scsi_model =
        doc.scsi_model_name
            .clone()
            .or_else(|| match (&doc.scsi_vendor, &doc.scsi_product) {
                (Some(v), Some(p)) => Some(format!("{v} {p}")),
                (None, Some(p)) => Some(p.clone()),
                _ => None,
            });
    put("model", doc.model_name.clone().or(scsi_model));
    put("model_family", doc.model_family.clone());
    put("serial", doc.serial_number.clone());
    put(
        "wwn",
        device_id.starts_with("0x").then(|| device_id.to_owned()),
    );
    put(
        "firmware",
        doc.firmware_version
            .clone()
            .or_else(|| doc.scsi_revision.clone()),
    );
    let capacity = doc
        .user_capacity
        .as_ref()
        .and_then(|c| c.bytes)
        .or(doc.nvme_total_capacity);
    put("capacity_bytes", capacity.map(|c| format!("{c:.0}")));
    put(
        "rotation_rate_rpm",
        doc.rotation_rate.map(|r| format!("{r:.0}")),
    );
    put("class", Some(class.as_str().to_owned()));
    let device = doc.device.as_ref();
    put("device", device.and_then(|d| d.name.clone()));
    put("type", device.and_then(|d| d.dev_type.clone()));
    let mut interface: Vec<String> = device
        .and_then(|d| d.protocol.clone())
        .into_iter()
        .collect();
    interface.extend(doc.sata_version.as_ref().and_then(|s| s.string.clone()));
    interface.extend(
        doc.scsi_transport_protocol
            .as_ref()
            .and_then(|s| s.name.clone()),
    );
    interface.extend(
        doc.nvme_version
            .as_ref()
            .and_then(|s| s.string.clone())
            .map(|v| format!("NVMe {v}")),
    );
    interface.extend(
        doc.interface_speed
            .as_ref()
            .and_then(|s| s.current.as_ref().or(s.max.as_ref()))
            .and_then(|s| s.string.clone()),
    );
    put(
        "interface",
        (!interface.is_empty()).then(|| interface.join(", ")),
    );
    put(
        "form_factor",
        doc.form_factor.as_ref().and_then(|f| f.name.clone()),
    );
    put(
        "smartctl_version",
        doc.version()
            .map(|(major, minor)| format!("{major}.{minor}")),
    );
    attrs
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn wwn_is_the_identity() {
        let doc = Document::parse(
            br#"{"wwn":{"naa":5,"oui":3152,"id":2706394870},"serial_number":"Z1"}"#,
        )
        .expect("parses");
        assert_eq!(identity(&doc).as_deref(), Some("0x5000c500a1504ef6"));
        let doc =
            Document::parse(br#"{"logical_unit_id":"0x5000CCA01D4B2A1C","serial_number":"Z1"}"#)
                .expect("parses");
        assert_eq!(identity(&doc).as_deref(), Some("0x5000cca01d4b2a1c"));
        let doc = Document::parse(br#"{"serial_number":" Z1 "}"#).expect("parses");
        assert_eq!(identity(&doc).as_deref(), Some("Z1"));
    }

    #[test]
    fn standby_skip_is_not_an_error_of_the_disk() {
        let err = interpret("/dev/sdb", b"", SKIPPED_STATUS, true).expect_err("asleep");
        assert_eq!(
            err,
            ReadError::Asleep {
                device: "/dev/sdb".into()
            }
        );
        // The text smartctl prints by default (exit 2) is recognised as well.
        let text = b"smartctl 7.4\n\nDevice is in STANDBY mode, exit(2)\n";
        assert!(matches!(
            interpret("/dev/sdb", text, 2, true),
            Err(ReadError::Asleep { .. })
        ));
        // Without a power-mode check, exit 2 is an open failure.
        assert!(matches!(
            interpret("/dev/sdb", text, 2, false),
            Err(ReadError::CouldNotRead { .. })
        ));
    }

    #[test]
    fn nvme_self_test_failures_are_found() {
        let json = br#"{"device":{"name":"/dev/nvme0","type":"nvme","protocol":"NVMe"},"serial_number":"N1",
          "nvme_self_test_log":{"table":[
            {"self_test_code":{"value":2,"string":"Extended"},"self_test_result":{"value":7,"string":"Completed: failed segments"},"power_on_hours":900,"lba":4096},
            {"self_test_code":{"value":1,"string":"Short"},"self_test_result":{"value":1,"string":"Aborted: Self-test command"},"power_on_hours":800},
            {"self_test_code":{"value":1,"string":"Short"},"self_test_result":{"value":0,"string":"Completed without error"},"power_on_hours":700}]}}"#;
        let report = interpret("/dev/nvme0", json, 128, false).expect("a report");
        assert_eq!(report.class, DeviceClass::Nvme);
        assert_eq!(report.failed_self_tests.len(), 1);
        assert_eq!(report.failed_self_tests[0].lifetime_hours, Some(900));
        assert_eq!(
            report.failed_self_tests[0].test_type.string.as_deref(),
            Some("Extended")
        );
        assert_eq!(
            value(&report, names::SMART_SELF_TEST_ERRORS, &[]),
            Some(1.0)
        );
    }

    #[test]
    fn a_minimal_ata_read() {
        let json = br#"{"device":{"name":"/dev/sda","type":"sat","protocol":"ATA"},
          "serial_number":"S1","rotation_rate":0,"smart_status":{"passed":false},
          "ata_smart_attributes":{"table":[
            {"id":5,"name":"Reallocated_Sector_Ct","value":1,"worst":1,"thresh":5,"when_failed":"now","raw":{"value":1975,"string":"1975"}},
            {"id":194,"name":"Temperature_Celsius","value":75,"worst":60,"thresh":0,"when_failed":"","raw":{"value":3145764,"string":"36 (Min/Max 0/48)"}}]},
          "ata_smart_self_test_log":{"standard":{"table":[
            {"type":{"value":2,"string":"Extended offline"},"status":{"value":121,"string":"Completed: read failure","passed":false},"lifetime_hours":4,"lba":104870168},
            {"type":{"value":1,"string":"Short offline"},"status":{"value":0,"string":"Completed without error","passed":true},"lifetime_hours":3}]}}}"#;
        let report = interpret("/dev/sda", json, 24, false).expect("a report");
        assert_eq!(report.device_id, "S1");
        assert_eq!(report.class, DeviceClass::Ssd);
        assert_eq!(report.smart_passed, Some(false));
        assert!(report.status.disk_failing());
        let attr5 = [
            ("attribute_id", "5"),
            ("attribute_name", "Reallocated_Sector_Ct"),
        ];
        assert_eq!(
            value(&report, names::SMART_ATTRIBUTE_RAW, &attr5),
            Some(1975.0)
        );
        assert_eq!(
            value(&report, names::SMART_ATTRIBUTE_FAILED, &attr5),
            Some(2.0)
        );
        assert_eq!(value(&report, names::SMART_STATUS, &[]), Some(0.0));
        assert_eq!(
            value(&report, names::SMART_TEMPERATURE_MAX, &[]),
            Some(48.0)
        );
        assert_eq!(
            value(&report, names::SMART_SELF_TEST_ERRORS, &[]),
            Some(1.0)
        );
        assert_eq!(
            report.failing_attributes,
            [(5, "Reallocated_Sector_Ct".to_owned())]
        );
        assert_eq!(report.failed_self_tests[0].lba, Some(104_870_168));
        assert_eq!(report.inventory["class"], "ssd");
        assert_eq!(report.inventory["device"], "/dev/sda");
    }
}
