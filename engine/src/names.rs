//! The metric names, label names and event kinds the engine's rules expect.
//!
//! The hardware sources (SMART, EDAC, hwmon, IPMI) are not in the shared catalogue yet;
//! the names below follow the node_exporter / smartctl_exporter / ipmi_exporter style so
//! that when the agent's collectors land, only this module (and the rule pack, which
//! names metrics as data) has to change. The default rule pack refers to the same
//! strings; a test checks that every metric the default pack names is listed here or in
//! the shared catalogue.

pub use harbinger_shared::catalogue::names::{
    CPU_USAGE, DISK_LATENCY, FS_USED_RATIO, MEM_USED_RATIO,
};

/// SMART attribute raw value, `{device_id, attribute_id, attribute_name}`.
/// `device_id` is the disk's stable identity (WWN, else serial), never `/dev/sdX`.
pub const SMART_ATTRIBUTE_RAW: &str = "smartctl_device_attribute_raw";
/// SMART overall health, `{device_id}`: 1 passed, 0 failed.
pub const SMART_STATUS: &str = "smartctl_device_smart_status";
/// SCSI grown defect list length, `{device_id}`.
pub const SCSI_GROWN_DEFECTS: &str = "smartctl_scsi_grown_defect_list";
/// NVMe percentage used as a ratio (1.0 = rated endurance used), `{device_id}`.
pub const NVME_PERCENTAGE_USED: &str = "smartctl_nvme_percentage_used_ratio";
/// NVMe available spare as a ratio, `{device_id}`.
pub const NVME_AVAILABLE_SPARE: &str = "smartctl_nvme_available_spare_ratio";
/// NVMe available spare threshold as a ratio, `{device_id}`.
pub const NVME_AVAILABLE_SPARE_THRESHOLD: &str = "smartctl_nvme_available_spare_threshold_ratio";
/// NVMe media and data integrity errors, `{device_id}`.
pub const NVME_MEDIA_ERRORS: &str = "smartctl_nvme_media_errors_total";
/// NVMe critical warning bit field, `{device_id}`.
pub const NVME_CRITICAL_WARNING: &str = "smartctl_nvme_critical_warning";
/// EDAC correctable errors per DIMM, `{controller, dimm, label}`.
pub const EDAC_CE: &str = "node_edac_dimm_correctable_errors_total";
/// EDAC uncorrectable errors per DIMM, `{controller, dimm, label}`.
pub const EDAC_UE: &str = "node_edac_dimm_uncorrectable_errors_total";
/// Fan speed, `{chip, sensor, label}`.
pub const FAN_RPM: &str = "node_hwmon_fan_rpm";
/// Fan lower threshold, `{chip, sensor, label}`.
pub const FAN_MIN_RPM: &str = "node_hwmon_fan_min_rpm";
/// PWM duty cycle (0..1), `{chip, sensor}` where sensor is `pwmN` for fan `fanN`.
pub const PWM_RATIO: &str = "node_hwmon_pwm_ratio";
/// Temperature, `{chip, sensor, label}`.
pub const TEMP_CELSIUS: &str = "node_hwmon_temp_celsius";
/// IPMI sensor reading, `{name, type, unit}`.
pub const IPMI_SENSOR_VALUE: &str = "ipmi_sensor_value";
/// IPMI sensor state, `{name, type}`: 0 ok, 1 non-critical, 2 critical, 3 non-recoverable.
pub const IPMI_SENSOR_STATE: &str = "ipmi_sensor_state";

/// Label names the engine reads.
pub mod labels {
    pub const DEVICE_ID: &str = "device_id";
    pub const ATTRIBUTE_ID: &str = "attribute_id";
    pub const DEVICE: &str = "device";
    pub const MOUNTPOINT: &str = "mountpoint";
    pub const CONTROLLER: &str = "controller";
    pub const DIMM: &str = "dimm";
    pub const LABEL: &str = "label";
    pub const CHIP: &str = "chip";
    pub const SENSOR: &str = "sensor";
    pub const NAME: &str = "name";
    pub const CPU: &str = "cpu";
}

/// Event kinds (the strings of [`harbinger_shared::EventKind`]'s constants).
pub mod events {
    use harbinger_shared::EventKind;
    pub const EDAC_CORRECTABLE: &str = EventKind::EDAC_CORRECTABLE;
    pub const EDAC_UNCORRECTABLE: &str = EventKind::EDAC_UNCORRECTABLE;
    pub const MACHINE_CHECK: &str = EventKind::MACHINE_CHECK;
    pub const IPMI_SEL: &str = EventKind::IPMI_SEL;
    pub const DISK_IO_ERROR: &str = EventKind::DISK_IO_ERROR;
    pub const REBOOT: &str = EventKind::REBOOT;
    pub const INVENTORY_CHANGED: &str = EventKind::INVENTORY_CHANGED;
}

/// Event attributes the engine reads.
pub mod event_attrs {
    /// On a `reboot` event: `true` when the agent knows the reboot was asked for.
    pub const PLANNED: &str = "planned";
    /// On a `disk_io_error` event without a component: the kernel device name.
    pub const DEVICE: &str = "device";
}

/// Inventory attributes the engine reads.
pub mod inventory_attrs {
    /// Hardware model of a host or a component (peer groups, per-model overrides).
    pub const MODEL: &str = "model";
    /// Serial number; a change means the part was replaced.
    pub const SERIAL: &str = "serial";
    /// Kernel device name of a disk (`sdb`), joining `node_disk_*{device}` to the disk.
    pub const DEVICE: &str = "device";
}

/// Every hardware metric name above, for checks that the rule pack names only known metrics.
pub const HARDWARE_METRICS: &[&str] = &[
    SMART_ATTRIBUTE_RAW,
    SMART_STATUS,
    SCSI_GROWN_DEFECTS,
    NVME_PERCENTAGE_USED,
    NVME_AVAILABLE_SPARE,
    NVME_AVAILABLE_SPARE_THRESHOLD,
    NVME_MEDIA_ERRORS,
    NVME_CRITICAL_WARNING,
    EDAC_CE,
    EDAC_UE,
    FAN_RPM,
    FAN_MIN_RPM,
    PWM_RATIO,
    TEMP_CELSIUS,
    IPMI_SENSOR_VALUE,
    IPMI_SENSOR_STATE,
];

/// Whether `metric` is known to the engine: a hardware name above or a catalogue metric.
pub fn is_known_metric(metric: &str) -> bool {
    HARDWARE_METRICS.contains(&metric) || harbinger_shared::catalogue::lookup(metric).is_some()
}
