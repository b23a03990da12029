//! Hardware metric, label and event names the simulator emits, in one place.
//!
//! The analysis engine matches on these exact strings. They follow the exporters
//! operators already know (smartctl_exporter, node_exporter's edac and hwmon
//! collectors, ipmi_exporter) so simulated data looks like what the agent's hardware
//! sources will send. System metric names come from `harbinger_shared::catalogue`.

/// `smartctl_device_attribute_raw{device_id,attribute_id,attribute_name}`: ATA SMART raw value.
pub const SMART_ATTRIBUTE_RAW: &str = "smartctl_device_attribute_raw";
/// `smartctl_device_smart_status{device_id}`: 1 passed, 0 failed.
pub const SMART_STATUS: &str = "smartctl_device_smart_status";
/// `smartctl_nvme_percentage_used_ratio{device_id}`: NVMe endurance used, 0..1 (can exceed 1).
pub const NVME_PERCENTAGE_USED: &str = "smartctl_nvme_percentage_used_ratio";
/// `smartctl_nvme_available_spare_ratio{device_id}`: NVMe spare capacity left, 0..1.
pub const NVME_AVAILABLE_SPARE: &str = "smartctl_nvme_available_spare_ratio";
/// `smartctl_nvme_media_errors_total{device_id}`.
pub const NVME_MEDIA_ERRORS: &str = "smartctl_nvme_media_errors_total";
/// `smartctl_nvme_critical_warning{device_id}`: the NVMe critical-warning bit field.
pub const NVME_CRITICAL_WARNING: &str = "smartctl_nvme_critical_warning";

/// `node_edac_dimm_correctable_errors_total{controller,dimm,label}`.
pub const EDAC_CORRECTABLE: &str = "node_edac_dimm_correctable_errors_total";
/// `node_edac_dimm_uncorrectable_errors_total{controller,dimm,label}`.
pub const EDAC_UNCORRECTABLE: &str = "node_edac_dimm_uncorrectable_errors_total";

/// `node_hwmon_fan_rpm{chip,sensor,label}`.
pub const FAN_RPM: &str = "node_hwmon_fan_rpm";
/// `node_hwmon_fan_min_rpm{chip,sensor,label}`: the chip's lower alarm threshold.
pub const FAN_MIN_RPM: &str = "node_hwmon_fan_min_rpm";
/// `node_hwmon_pwm_ratio{chip,sensor,label}`: the fan's duty cycle, 0..1.
pub const PWM_RATIO: &str = "node_hwmon_pwm_ratio";
/// `node_hwmon_temp_celsius{chip,sensor,label}`.
pub const HWMON_TEMP: &str = "node_hwmon_temp_celsius";

/// `ipmi_sensor_value{name,type,unit}`.
pub const IPMI_VALUE: &str = "ipmi_sensor_value";
/// `ipmi_sensor_state{name,type}`: 0 ok, 1 non-critical, 2 critical, 3 non-recoverable.
pub const IPMI_STATE: &str = "ipmi_sensor_state";

/// IPMI sensor states.
pub mod ipmi_state {
    pub const OK: f64 = 0.0;
    pub const NON_CRITICAL: f64 = 1.0;
    pub const CRITICAL: f64 = 2.0;
    pub const NON_RECOVERABLE: f64 = 3.0;
}

/// Label names.
pub mod label {
    pub const DEVICE_ID: &str = "device_id";
    pub const ATTRIBUTE_ID: &str = "attribute_id";
    pub const ATTRIBUTE_NAME: &str = "attribute_name";
    pub const CONTROLLER: &str = "controller";
    pub const DIMM: &str = "dimm";
    pub const LABEL: &str = "label";
    pub const CHIP: &str = "chip";
    pub const SENSOR: &str = "sensor";
    pub const NAME: &str = "name";
    pub const TYPE: &str = "type";
    pub const UNIT: &str = "unit";
    pub const DEVICE: &str = "device";
    pub const CPU: &str = "cpu";
    pub const MODE: &str = "mode";
    pub const MOUNTPOINT: &str = "mountpoint";
    pub const FSTYPE: &str = "fstype";
}

/// Event attribute names and values.
pub mod attr {
    /// On `reboot`: `planned` or `unexpected`.
    pub const CAUSE: &str = "cause";
    pub const CAUSE_PLANNED: &str = "planned";
    pub const CAUSE_UNEXPECTED: &str = "unexpected";
    /// On `disk_io_error`: the kernel device name.
    pub const DEVICE: &str = "device";
    /// On `edac_*`: how many errors this event reports.
    pub const COUNT: &str = "count";
    /// On `ipmi_sel`: the SEL sensor name and its event description.
    pub const SENSOR: &str = "sensor";
    pub const SEL_EVENT: &str = "event";
}

/// ATA SMART attributes the simulator reports: `(id, smartctl name)`.
pub mod smart {
    pub const REALLOCATED: (u32, &str) = (5, "Reallocated_Sector_Ct");
    pub const POWER_ON_HOURS: (u32, &str) = (9, "Power_On_Hours");
    pub const REPORTED_UNCORRECT: (u32, &str) = (187, "Reported_Uncorrect");
    pub const COMMAND_TIMEOUT: (u32, &str) = (188, "Command_Timeout");
    pub const TEMPERATURE: (u32, &str) = (194, "Temperature_Celsius");
    pub const PENDING: (u32, &str) = (197, "Current_Pending_Sector");
    pub const OFFLINE_UNCORRECTABLE: (u32, &str) = (198, "Offline_Uncorrectable");
    pub const CRC_ERRORS: (u32, &str) = (199, "UDMA_CRC_Error_Count");

    /// Every attribute a healthy or failing ATA disk reports each SMART cycle.
    pub const REPORTED: [(u32, &str); 8] = [
        REALLOCATED,
        POWER_ON_HOURS,
        REPORTED_UNCORRECT,
        COMMAND_TIMEOUT,
        TEMPERATURE,
        PENDING,
        OFFLINE_UNCORRECTABLE,
        CRC_ERRORS,
    ];

    /// Further attributes real disks report that hardly ever change; used to pad the
    /// series count in bench-data mode.
    pub const CONSTANT_EXTRAS: [(u32, &str); 16] = [
        (1, "Raw_Read_Error_Rate"),
        (3, "Spin_Up_Time"),
        (4, "Start_Stop_Count"),
        (7, "Seek_Error_Rate"),
        (10, "Spin_Retry_Count"),
        (12, "Power_Cycle_Count"),
        (183, "Runtime_Bad_Block"),
        (184, "End-to-End_Error"),
        (189, "High_Fly_Writes"),
        (190, "Airflow_Temperature_Cel"),
        (191, "G-Sense_Error_Rate"),
        (192, "Power-Off_Retract_Count"),
        (193, "Load_Cycle_Count"),
        (195, "Hardware_ECC_Recovered"),
        (240, "Head_Flying_Hours"),
        (241, "Total_LBAs_Written"),
    ];
}

/// IPMI sensor names, types and units as ipmitool prints them.
pub mod ipmi {
    pub const INLET_TEMP: &str = "Inlet Temp";
    pub const EXHAUST_TEMP: &str = "Exhaust Temp";
    pub const TYPE_TEMPERATURE: &str = "Temperature";
    pub const UNIT_CELSIUS: &str = "degrees C";
    pub const TYPE_VOLTAGE: &str = "Voltage";
    pub const UNIT_VOLTS: &str = "Volts";
    pub const TYPE_CURRENT: &str = "Current";
    pub const UNIT_WATTS: &str = "Watts";
    pub const TYPE_POWER_SUPPLY: &str = "Power Supply";
    pub const TYPE_FAN: &str = "Fan";
    pub const PWR_CONSUMPTION: &str = "Pwr Consumption";
    pub const PS_REDUNDANCY: &str = "PS Redundancy";
    pub const RAILS: [(&str, f64); 3] = [("12V", 12.0), ("5V", 5.0), ("3.3V", 3.3)];

    pub fn ps_status(n: usize) -> String {
        format!("PS{n} Status")
    }

    pub fn ps_input_power(n: usize) -> String {
        format!("PS{n} Input Power")
    }
}
