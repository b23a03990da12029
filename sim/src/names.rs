//! Hardware metric, label and event names the simulator emits, in one place.
//!
//! Metric names are re-exported from `harbinger_shared::catalogue::names`, the list the
//! agent's collectors emit from, so a simulated batch and a real one spell every series
//! alike. Labels, event attributes and IPMI sensor wording follow what the agent's
//! collectors actually write (agent/src/collectors), which the analysis engine reads.

pub use harbinger_shared::catalogue::names::{
    EDAC_DIMM_CE as EDAC_CORRECTABLE, EDAC_DIMM_UE as EDAC_UNCORRECTABLE,
    HWMON_FAN_MIN_RPM as FAN_MIN_RPM, HWMON_FAN_RPM as FAN_RPM, HWMON_PWM_RATIO as PWM_RATIO,
    HWMON_TEMP, IPMI_SENSOR_STATE as IPMI_STATE, IPMI_SENSOR_VALUE as IPMI_VALUE,
    NVME_AVAILABLE_SPARE, NVME_CRITICAL_WARNING, NVME_MEDIA_ERRORS, NVME_PERCENTAGE_USED,
    SMART_ATTRIBUTE_RAW, SMART_STATUS,
};

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
    /// On `reboot`: `clean` (the agent saw an orderly shutdown) or `unexpected`.
    pub const CAUSE: &str = "cause";
    pub const CAUSE_CLEAN: &str = "clean";
    pub const CAUSE_UNEXPECTED: &str = "unexpected";
    /// On `reboot`: `true` | `false`; the engine reads this one.
    pub const PLANNED: &str = "planned";
    /// On `disk_io_error`: the kernel device name.
    pub const DEVICE: &str = "device";
    /// On `edac_*`: how many errors this event reports.
    pub const COUNT: &str = "count";
    /// On `ipmi_sel`: the SEL sensor name, its type, the event description and whether
    /// it was asserted or deasserted (the agent's SEL decoder writes all four).
    pub const SENSOR: &str = "sensor";
    pub const SENSOR_TYPE: &str = "sensor_type";
    pub const DESCRIPTION: &str = "description";
    pub const DIRECTION: &str = "direction";
    pub const ASSERTED: &str = "asserted";
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
    /// Units as the agent labels them (Prometheus style, not ipmitool's "degrees C").
    pub const UNIT_CELSIUS: &str = "celsius";
    pub const TYPE_VOLTAGE: &str = "Voltage";
    pub const UNIT_VOLTS: &str = "volts";
    pub const TYPE_CURRENT: &str = "Current";
    pub const UNIT_WATTS: &str = "watts";
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
