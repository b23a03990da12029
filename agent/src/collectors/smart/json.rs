//! Serde structs for `smartctl --json` output: device reads (ATA, NVMe, SCSI) and
//! `--scan-open`.
//!
//! Every field is optional and unknown fields are ignored: smartctl's JSON grows with
//! each release, drives fill in different sections, and `-x` on one drive gives what
//! `-a` on another does not. Numbers are read leniently (an integer, a float or a
//! numeric string such as SCSI's `"gigabytes_processed": "11523.849"`), because a
//! counter printed differently by another smartctl version must not lose the disk.

use serde::{Deserialize, Deserializer};

/// One `smartctl --json` document.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Document {
    pub json_format_version: Option<Vec<u32>>,
    pub smartctl: Option<Smartctl>,
    pub device: Option<DeviceRef>,
    /// Only in `--scan` / `--scan-open` output.
    pub devices: Option<Vec<ScanEntry>>,
    pub model_family: Option<String>,
    pub model_name: Option<String>,
    pub serial_number: Option<String>,
    pub firmware_version: Option<String>,
    pub wwn: Option<Wwn>,
    pub scsi_vendor: Option<String>,
    pub scsi_product: Option<String>,
    pub scsi_model_name: Option<String>,
    pub scsi_revision: Option<String>,
    /// SCSI/SAS: the logical unit's NAA identifier, e.g. `0x5000c500a1b2c3d4`.
    pub logical_unit_id: Option<String>,
    pub user_capacity: Option<Capacity>,
    #[serde(deserialize_with = "lenient")]
    pub nvme_total_capacity: Option<f64>,
    #[serde(deserialize_with = "lenient")]
    pub rotation_rate: Option<f64>,
    pub form_factor: Option<Named>,
    pub sata_version: Option<Named>,
    pub interface_speed: Option<InterfaceSpeed>,
    pub scsi_transport_protocol: Option<Named>,
    pub nvme_version: Option<Named>,
    pub smart_support: Option<SmartSupport>,
    pub smart_status: Option<SmartStatus>,
    pub ata_smart_attributes: Option<AtaAttributes>,
    pub power_on_time: Option<PowerOnTime>,
    #[serde(deserialize_with = "lenient")]
    pub power_cycle_count: Option<f64>,
    pub temperature: Option<Temperature>,
    pub ata_smart_error_log: Option<AtaErrorLog>,
    pub ata_smart_self_test_log: Option<AtaSelfTestLogs>,
    pub nvme_smart_health_information_log: Option<NvmeHealth>,
    /// smartctl 7.3 and later, with `-x` on NVMe 1.3+ drives that support self-tests.
    pub nvme_self_test_log: Option<NvmeSelfTestLog>,
    #[serde(deserialize_with = "lenient")]
    pub scsi_grown_defect_list: Option<f64>,
    pub scsi_error_counter_log: Option<ScsiErrorCounterLog>,
    pub scsi_start_stop_cycle_counter: Option<ScsiStartStop>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Smartctl {
    pub version: Option<Vec<u32>>,
    pub exit_status: Option<i32>,
    pub messages: Vec<Message>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Message {
    pub string: String,
    pub severity: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct DeviceRef {
    pub name: Option<String>,
    pub info_name: Option<String>,
    #[serde(rename = "type")]
    pub dev_type: Option<String>,
    pub protocol: Option<String>,
}

/// One device from `--scan` / `--scan-open`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct ScanEntry {
    pub name: Option<String>,
    pub info_name: Option<String>,
    #[serde(rename = "type")]
    pub dev_type: Option<String>,
    pub protocol: Option<String>,
    /// `--scan-open` only: why the device could not be opened.
    pub open_error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Wwn {
    #[serde(deserialize_with = "lenient")]
    pub naa: Option<f64>,
    #[serde(deserialize_with = "lenient")]
    pub oui: Option<f64>,
    #[serde(deserialize_with = "lenient")]
    pub id: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Capacity {
    #[serde(deserialize_with = "lenient")]
    pub bytes: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Named {
    pub name: Option<String>,
    pub string: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct InterfaceSpeed {
    pub max: Option<Named>,
    pub current: Option<Named>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SmartSupport {
    pub available: Option<bool>,
    pub enabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SmartStatus {
    pub passed: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AtaAttributes {
    pub table: Vec<AtaAttribute>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct AtaAttribute {
    pub id: u32,
    pub name: String,
    #[serde(deserialize_with = "lenient")]
    pub value: Option<f64>,
    #[serde(deserialize_with = "lenient")]
    pub worst: Option<f64>,
    #[serde(deserialize_with = "lenient")]
    pub thresh: Option<f64>,
    /// `""`, `"past"` or `"now"`.
    pub when_failed: Option<String>,
    pub raw: Raw,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct Raw {
    #[serde(deserialize_with = "lenient_u64")]
    pub value: Option<u64>,
    /// smartctl's own rendering, drive-database aware (e.g. `25 (Min/Max 19/39)`).
    pub string: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PowerOnTime {
    #[serde(deserialize_with = "lenient")]
    pub hours: Option<f64>,
    #[serde(deserialize_with = "lenient")]
    pub minutes: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Temperature {
    #[serde(deserialize_with = "lenient")]
    pub current: Option<f64>,
    #[serde(deserialize_with = "lenient")]
    pub drive_trip: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AtaErrorLog {
    pub summary: Option<ErrorCount>,
    pub extended: Option<ErrorCount>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ErrorCount {
    #[serde(deserialize_with = "lenient")]
    pub count: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AtaSelfTestLogs {
    pub standard: Option<SelfTestLog>,
    pub extended: Option<SelfTestLog>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SelfTestLog {
    pub table: Vec<SelfTestEntry>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct SelfTestEntry {
    #[serde(rename = "type")]
    pub test_type: Coded,
    pub status: SelfTestStatus,
    #[serde(deserialize_with = "lenient_u64")]
    pub lifetime_hours: Option<u64>,
    #[serde(deserialize_with = "lenient_u64")]
    pub lba: Option<u64>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Coded {
    #[serde(deserialize_with = "lenient_u64")]
    pub value: Option<u64>,
    pub string: Option<String>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct SelfTestStatus {
    #[serde(deserialize_with = "lenient_u64")]
    pub value: Option<u64>,
    pub string: Option<String>,
    pub passed: Option<bool>,
    #[serde(deserialize_with = "lenient_u64")]
    pub remaining_percent: Option<u64>,
}

/// The NVMe SMART / Health Information log page (log identifier 02h).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NvmeHealth {
    #[serde(deserialize_with = "lenient")]
    pub critical_warning: Option<f64>,
    #[serde(deserialize_with = "lenient")]
    pub temperature: Option<f64>,
    #[serde(deserialize_with = "lenient")]
    pub available_spare: Option<f64>,
    #[serde(deserialize_with = "lenient")]
    pub available_spare_threshold: Option<f64>,
    #[serde(deserialize_with = "lenient")]
    pub percentage_used: Option<f64>,
    #[serde(deserialize_with = "lenient")]
    pub data_units_read: Option<f64>,
    #[serde(deserialize_with = "lenient")]
    pub data_units_written: Option<f64>,
    #[serde(deserialize_with = "lenient")]
    pub host_reads: Option<f64>,
    #[serde(deserialize_with = "lenient")]
    pub host_writes: Option<f64>,
    #[serde(deserialize_with = "lenient")]
    pub controller_busy_time: Option<f64>,
    #[serde(deserialize_with = "lenient")]
    pub power_cycles: Option<f64>,
    #[serde(deserialize_with = "lenient")]
    pub power_on_hours: Option<f64>,
    #[serde(deserialize_with = "lenient")]
    pub unsafe_shutdowns: Option<f64>,
    #[serde(deserialize_with = "lenient")]
    pub media_errors: Option<f64>,
    #[serde(deserialize_with = "lenient")]
    pub num_err_log_entries: Option<f64>,
    #[serde(deserialize_with = "lenient")]
    pub warning_temp_time: Option<f64>,
    #[serde(deserialize_with = "lenient")]
    pub critical_comp_time: Option<f64>,
    pub temperature_sensors: Option<Vec<serde_json::Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NvmeSelfTestLog {
    pub table: Vec<NvmeSelfTestEntry>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct NvmeSelfTestEntry {
    pub self_test_code: Coded,
    pub self_test_result: Coded,
    #[serde(deserialize_with = "lenient_u64")]
    pub power_on_hours: Option<u64>,
    #[serde(deserialize_with = "lenient_u64")]
    pub lba: Option<u64>,
}

impl NvmeSelfTestEntry {
    /// Result codes 5 (fatal error), 6 (unknown failed segment) and 7 (failed
    /// segments) are failures; the others are success or an abort, which says nothing
    /// about the media.
    pub fn failed(&self) -> bool {
        matches!(self.self_test_result.value, Some(5..=7))
    }

    /// In the shape of an ATA entry, so both logs feed the same events.
    pub fn as_ata(&self) -> SelfTestEntry {
        SelfTestEntry {
            test_type: self.self_test_code.clone(),
            status: SelfTestStatus {
                value: self.self_test_result.value,
                string: self.self_test_result.string.clone(),
                passed: Some(!self.failed()),
                remaining_percent: None,
            },
            lifetime_hours: self.power_on_hours,
            lba: self.lba,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ScsiErrorCounterLog {
    pub read: Option<ScsiErrorCounters>,
    pub write: Option<ScsiErrorCounters>,
    pub verify: Option<ScsiErrorCounters>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ScsiErrorCounters {
    #[serde(deserialize_with = "lenient")]
    pub total_errors_corrected: Option<f64>,
    #[serde(deserialize_with = "lenient")]
    pub total_uncorrected_errors: Option<f64>,
    #[serde(deserialize_with = "lenient")]
    pub gigabytes_processed: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ScsiStartStop {
    #[serde(deserialize_with = "lenient")]
    pub accumulated_start_stop_cycles: Option<f64>,
    #[serde(deserialize_with = "lenient")]
    pub specified_cycle_count_over_device_lifetime: Option<f64>,
    #[serde(deserialize_with = "lenient")]
    pub accumulated_load_unload_cycles: Option<f64>,
    #[serde(deserialize_with = "lenient")]
    pub specified_load_unload_count_over_device_lifetime: Option<f64>,
}

/// A number, a numeric string, or anything else (which becomes `None` rather than
/// failing the whole document).
fn lenient<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(match value {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().replace(',', "").parse().ok(),
        _ => None,
    })
}

/// Like [`lenient`], for integers that must stay exact (48-bit raw values).
fn lenient_u64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(match value {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

impl Document {
    /// Parses one document; the error is serde's, with line and column.
    pub fn parse(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// smartctl's version as (major, minor), when the header is there.
    pub fn version(&self) -> Option<(u32, u32)> {
        let v = self.smartctl.as_ref()?.version.as_ref()?;
        Some((*v.first()?, v.get(1).copied().unwrap_or(0)))
    }

    /// The messages smartctl attached, joined, for error reports.
    pub fn messages(&self) -> String {
        self.smartctl
            .as_ref()
            .map(|s| {
                s.messages
                    .iter()
                    .map(|m| m.string.trim())
                    .filter(|m| !m.is_empty())
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_and_odd_fields_are_tolerated() {
        let doc = Document::parse(
            br#"{"serial_number":"S1","rotation_rate":"7200","power_cycle_count":[1],
                "scsi_error_counter_log":{"read":{"gigabytes_processed":"11523.849"}},
                "ata_smart_attributes":{"table":[{"id":5,"name":"Reallocated_Sector_Ct",
                "raw":{"value":281474976710655,"string":"x"}}]},"new_section":{"a":1}}"#,
        )
        .expect("parses");
        assert_eq!(doc.serial_number.as_deref(), Some("S1"));
        assert_eq!(doc.rotation_rate, Some(7200.0));
        assert_eq!(doc.power_cycle_count, None, "a non-number becomes None");
        let read = doc
            .scsi_error_counter_log
            .and_then(|l| l.read)
            .and_then(|r| r.gigabytes_processed);
        assert_eq!(read, Some(11523.849));
        let attrs = doc.ata_smart_attributes.expect("attributes").table;
        assert_eq!(attrs[0].raw.value, Some(0xffff_ffff_ffff));
        assert_eq!(attrs[0].value, None);
        assert!(doc.smartctl.is_none());
    }

    #[test]
    fn a_non_object_is_an_error_with_position() {
        let err = Document::parse(b"Device is in STANDBY mode").expect_err("not JSON");
        assert_eq!(err.line(), 1);
    }
}
