//! The metric catalogue: every metric Harbinger emits, with unit, kind, help and labels.
//!
//! Names follow Prometheus conventions (`snake_case`, base units, `_total` for counters,
//! unit suffixes such as `_bytes`, `_seconds`, `_ratio`). System metrics keep
//! node_exporter's names where they exist, so existing dashboards and habits carry over.
//! The collector accepts metrics that are not in the catalogue (a newer agent may send
//! them); the catalogue is what the dashboard, the detectors and `/metrics` rely on.

/// Whether a metric is a point-in-time value or a monotonically increasing count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Gauge,
    Counter,
}

impl MetricKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Gauge => "gauge",
            MetricKind::Counter => "counter",
        }
    }
}

/// One catalogue entry.
#[derive(Debug, Clone, Copy)]
pub struct MetricDef {
    pub name: &'static str,
    pub kind: MetricKind,
    /// Base unit: `seconds`, `bytes`, `ratio`, `celsius`, `rpm`, `volts`, `watts`, `amperes`, or `` for counts.
    pub unit: &'static str,
    pub help: &'static str,
    pub labels: &'static [&'static str],
}

use MetricKind::{Counter, Gauge};

macro_rules! metric {
    ($name:literal, $kind:ident, $unit:literal, $labels:expr, $help:literal) => {
        MetricDef {
            name: $name,
            kind: $kind,
            unit: $unit,
            help: $help,
            labels: $labels,
        }
    };
}

/// Metric names, as constants so code never spells a name twice.
pub mod names {
    pub const CPU_SECONDS: &str = "node_cpu_seconds_total";
    pub const CPU_USAGE: &str = "node_cpu_usage_ratio";
    pub const LOAD1: &str = "node_load1";
    pub const LOAD5: &str = "node_load5";
    pub const LOAD15: &str = "node_load15";
    pub const MEM_TOTAL: &str = "node_memory_total_bytes";
    pub const MEM_AVAILABLE: &str = "node_memory_available_bytes";
    pub const MEM_CACHED: &str = "node_memory_cached_bytes";
    pub const MEM_USED_RATIO: &str = "node_memory_used_ratio";
    pub const SWAP_TOTAL: &str = "node_memory_swap_total_bytes";
    pub const SWAP_FREE: &str = "node_memory_swap_free_bytes";
    pub const DISK_READS: &str = "node_disk_reads_completed_total";
    pub const DISK_WRITES: &str = "node_disk_writes_completed_total";
    pub const DISK_READ_BYTES: &str = "node_disk_read_bytes_total";
    pub const DISK_WRITTEN_BYTES: &str = "node_disk_written_bytes_total";
    pub const DISK_IO_TIME: &str = "node_disk_io_time_seconds_total";
    pub const DISK_IO_TIME_WEIGHTED: &str = "node_disk_io_time_weighted_seconds_total";
    pub const DISK_UTILISATION: &str = "node_disk_utilisation_ratio";
    pub const DISK_LATENCY: &str = "node_disk_io_latency_seconds";
    pub const FS_SIZE: &str = "node_filesystem_size_bytes";
    pub const FS_FREE: &str = "node_filesystem_free_bytes";
    pub const FS_AVAIL: &str = "node_filesystem_avail_bytes";
    pub const FS_FILES: &str = "node_filesystem_files";
    pub const FS_FILES_FREE: &str = "node_filesystem_files_free";
    pub const FS_USED_RATIO: &str = "node_filesystem_used_ratio";
    pub const NET_RX_BYTES: &str = "node_network_receive_bytes_total";
    pub const NET_TX_BYTES: &str = "node_network_transmit_bytes_total";
    pub const NET_RX_PACKETS: &str = "node_network_receive_packets_total";
    pub const NET_TX_PACKETS: &str = "node_network_transmit_packets_total";
    pub const NET_RX_ERRS: &str = "node_network_receive_errs_total";
    pub const NET_TX_ERRS: &str = "node_network_transmit_errs_total";
    pub const NET_RX_DROP: &str = "node_network_receive_drop_total";
    pub const NET_TX_DROP: &str = "node_network_transmit_drop_total";
    pub const UPTIME: &str = "node_uptime_seconds";
    pub const BOOT_TIME: &str = "node_boot_time_seconds";
    pub const SOURCE_DURATION: &str = "harbinger_agent_source_duration_seconds";
    pub const SOURCE_SUCCESS: &str = "harbinger_agent_source_success";

    // SMART (smartctl_exporter's names where they exist). `device_id` is the disk's WWN
    // (`0x…`, lowercase) or, without one, its serial number.
    pub const SMART_ATTRIBUTE_RAW: &str = "smartctl_device_attribute_raw";
    pub const SMART_ATTRIBUTE_VALUE: &str = "smartctl_device_attribute_value";
    pub const SMART_ATTRIBUTE_WORST: &str = "smartctl_device_attribute_worst";
    pub const SMART_ATTRIBUTE_THRESHOLD: &str = "smartctl_device_attribute_threshold";
    pub const SMART_ATTRIBUTE_FAILED: &str = "smartctl_device_attribute_failed";
    pub const SMART_STATUS: &str = "smartctl_device_smart_status";
    pub const SMART_EXIT_STATUS: &str = "smartctl_device_smartctl_exit_status";
    pub const SMART_TEMPERATURE: &str = "smartctl_device_temperature_celsius";
    pub const SMART_TEMPERATURE_MIN: &str = "smartctl_device_temperature_min_celsius";
    pub const SMART_TEMPERATURE_MAX: &str = "smartctl_device_temperature_max_celsius";
    pub const SMART_TEMPERATURE_TRIP: &str = "smartctl_device_temperature_trip_celsius";
    pub const SMART_POWER_ON: &str = "smartctl_device_power_on_seconds_total";
    pub const SMART_POWER_CYCLES: &str = "smartctl_device_power_cycles_total";
    pub const SMART_ERROR_LOG: &str = "smartctl_device_error_log_entries_total";
    pub const SMART_SELF_TEST_ERRORS: &str = "smartctl_device_self_test_errors";
    pub const SMART_STANDBY: &str = "smartctl_device_standby";
    pub const NVME_CRITICAL_WARNING: &str = "smartctl_nvme_critical_warning";
    pub const NVME_AVAILABLE_SPARE: &str = "smartctl_nvme_available_spare_ratio";
    pub const NVME_AVAILABLE_SPARE_THRESHOLD: &str =
        "smartctl_nvme_available_spare_threshold_ratio";
    pub const NVME_PERCENTAGE_USED: &str = "smartctl_nvme_percentage_used_ratio";
    pub const NVME_MEDIA_ERRORS: &str = "smartctl_nvme_media_errors_total";
    pub const NVME_UNSAFE_SHUTDOWNS: &str = "smartctl_nvme_unsafe_shutdowns_total";
    pub const NVME_DATA_READ: &str = "smartctl_nvme_data_read_bytes_total";
    pub const NVME_DATA_WRITTEN: &str = "smartctl_nvme_data_written_bytes_total";
    pub const NVME_HOST_READS: &str = "smartctl_nvme_host_read_commands_total";
    pub const NVME_HOST_WRITES: &str = "smartctl_nvme_host_write_commands_total";
    pub const NVME_BUSY: &str = "smartctl_nvme_controller_busy_seconds_total";
    pub const NVME_WARNING_TEMP_TIME: &str = "smartctl_nvme_warning_temperature_seconds_total";
    pub const NVME_CRITICAL_TEMP_TIME: &str = "smartctl_nvme_critical_temperature_seconds_total";
    pub const NVME_TEMPERATURE_SENSOR: &str = "smartctl_nvme_temperature_sensor_celsius";
    pub const SCSI_GROWN_DEFECTS: &str = "smartctl_scsi_grown_defects";
    pub const SCSI_UNCORRECTED: &str = "smartctl_scsi_uncorrected_errors_total";
    pub const SCSI_CORRECTED: &str = "smartctl_scsi_corrected_errors_total";
    pub const SCSI_PROCESSED: &str = "smartctl_scsi_processed_bytes_total";
    pub const SCSI_START_STOP: &str = "smartctl_scsi_start_stop_cycles_total";
    pub const SCSI_START_STOP_SPECIFIED: &str = "smartctl_scsi_start_stop_cycles_specified";
    pub const SCSI_LOAD_UNLOAD: &str = "smartctl_scsi_load_unload_cycles_total";
    pub const SCSI_LOAD_UNLOAD_SPECIFIED: &str = "smartctl_scsi_load_unload_cycles_specified";
    pub const AGENT_SMART_SWEEP_DURATION: &str = "harbinger_agent_smart_sweep_duration_seconds";
    pub const AGENT_SMART_DEVICES: &str = "harbinger_agent_smart_devices";

    // EDAC (ECC memory), node_exporter's names plus per-DIMM series.
    pub const EDAC_DIMM_CE: &str = "node_edac_dimm_correctable_errors_total";
    pub const EDAC_DIMM_UE: &str = "node_edac_dimm_uncorrectable_errors_total";
    pub const EDAC_CE: &str = "node_edac_correctable_errors_total";
    pub const EDAC_UE: &str = "node_edac_uncorrectable_errors_total";
    pub const EDAC_CSROW_CE: &str = "node_edac_csrow_correctable_errors_total";
    pub const EDAC_CSROW_UE: &str = "node_edac_csrow_uncorrectable_errors_total";

    // hwmon.
    pub const HWMON_CHIP_NAMES: &str = "node_hwmon_chip_names";
    pub const HWMON_FAN_RPM: &str = "node_hwmon_fan_rpm";
    pub const HWMON_FAN_MIN_RPM: &str = "node_hwmon_fan_min_rpm";
    pub const HWMON_FAN_MAX_RPM: &str = "node_hwmon_fan_max_rpm";
    pub const HWMON_FAN_TARGET_RPM: &str = "node_hwmon_fan_target_rpm";
    pub const HWMON_FAN_ALARM: &str = "node_hwmon_fan_alarm";
    pub const HWMON_FAN_FAULT: &str = "node_hwmon_fan_fault";
    pub const HWMON_PWM_RATIO: &str = "node_hwmon_pwm_ratio";
    pub const HWMON_TEMP: &str = "node_hwmon_temp_celsius";
    pub const HWMON_TEMP_MIN: &str = "node_hwmon_temp_min_celsius";
    pub const HWMON_TEMP_MAX: &str = "node_hwmon_temp_max_celsius";
    pub const HWMON_TEMP_CRIT: &str = "node_hwmon_temp_crit_celsius";
    pub const HWMON_TEMP_ALARM: &str = "node_hwmon_temp_alarm";
    pub const HWMON_TEMP_CRIT_ALARM: &str = "node_hwmon_temp_crit_alarm";
    pub const HWMON_IN_VOLTS: &str = "node_hwmon_in_volts";
    pub const HWMON_IN_MIN_VOLTS: &str = "node_hwmon_in_min_volts";
    pub const HWMON_IN_MAX_VOLTS: &str = "node_hwmon_in_max_volts";
    pub const HWMON_IN_ALARM: &str = "node_hwmon_in_alarm";
    pub const HWMON_POWER_WATTS: &str = "node_hwmon_power_watts";
    pub const HWMON_POWER_MAX_WATTS: &str = "node_hwmon_power_max_watts";
    pub const HWMON_POWER_CRIT_WATTS: &str = "node_hwmon_power_crit_watts";
    pub const HWMON_POWER_ALARM: &str = "node_hwmon_power_alarm";
    pub const HWMON_CURR_AMPERES: &str = "node_hwmon_curr_amperes";
    pub const HWMON_CURR_MIN_AMPERES: &str = "node_hwmon_curr_min_amperes";
    pub const HWMON_CURR_MAX_AMPERES: &str = "node_hwmon_curr_max_amperes";
    pub const HWMON_CURR_ALARM: &str = "node_hwmon_curr_alarm";
    pub const HWMON_INTRUSION_ALARM: &str = "node_hwmon_intrusion_alarm";

    // Kernel messages.
    pub const KERNEL_MESSAGES: &str = "harbinger_kernel_messages_total";

    // IPMI (ipmi_exporter's names). Sensors carry `{name, type}` (type as ipmitool
    // prints it: "Temperature", "Power Supply"…); values add `unit` (`celsius`, `watts`…).
    pub const IPMI_SENSOR_VALUE: &str = "ipmi_sensor_value";
    pub const IPMI_SENSOR_STATE: &str = "ipmi_sensor_state";
    pub const IPMI_SENSOR_THRESHOLD: &str = "ipmi_sensor_threshold";
    pub const IPMI_SENSOR_ASSERTED: &str = "ipmi_sensor_discrete_asserted";
    pub const IPMI_UP: &str = "ipmi_up";
    pub const IPMI_POLL_DURATION: &str = "ipmi_poll_duration_seconds";
    pub const IPMI_SEL_ENTRIES: &str = "ipmi_sel_entries";
    pub const IPMI_SEL_FREE: &str = "ipmi_sel_free_bytes";
    pub const IPMI_DCMI_POWER: &str = "ipmi_dcmi_power_consumption_watts";
}

/// The catalogue, one row per metric.
pub const CATALOGUE: &[MetricDef] = &[
    metric!("node_cpu_seconds_total", Counter, "seconds", &["cpu", "mode"], "Seconds the CPUs spent in each mode; cpu=\"total\" sums all cores."),
    metric!("node_cpu_usage_ratio", Gauge, "ratio", &["cpu"], "Fraction of the last interval the CPUs were not idle (0..1)."),
    metric!("node_load1", Gauge, "", &[], "1-minute load average."),
    metric!("node_load5", Gauge, "", &[], "5-minute load average."),
    metric!("node_load15", Gauge, "", &[], "15-minute load average."),
    metric!("node_memory_total_bytes", Gauge, "bytes", &[], "Total usable RAM."),
    metric!("node_memory_available_bytes", Gauge, "bytes", &[], "Memory available for new work without swapping (MemAvailable)."),
    metric!("node_memory_cached_bytes", Gauge, "bytes", &[], "Page cache (Cached)."),
    metric!("node_memory_used_ratio", Gauge, "ratio", &[], "1 - available / total."),
    metric!("node_memory_swap_total_bytes", Gauge, "bytes", &[], "Total swap."),
    metric!("node_memory_swap_free_bytes", Gauge, "bytes", &[], "Free swap."),
    metric!("node_disk_reads_completed_total", Counter, "", &["device"], "Reads completed."),
    metric!("node_disk_writes_completed_total", Counter, "", &["device"], "Writes completed."),
    metric!("node_disk_read_bytes_total", Counter, "bytes", &["device"], "Bytes read."),
    metric!("node_disk_written_bytes_total", Counter, "bytes", &["device"], "Bytes written."),
    metric!("node_disk_io_time_seconds_total", Counter, "seconds", &["device"], "Seconds the device had I/O in flight."),
    metric!("node_disk_io_time_weighted_seconds_total", Counter, "seconds", &["device"], "Sum of time each I/O spent in flight."),
    metric!("node_disk_utilisation_ratio", Gauge, "ratio", &["device"], "Fraction of the last interval the device was busy."),
    metric!("node_disk_io_latency_seconds", Gauge, "seconds", &["device"], "Average time per completed I/O over the last interval (await)."),
    metric!("node_filesystem_size_bytes", Gauge, "bytes", &["device", "mountpoint", "fstype"], "Filesystem size."),
    metric!("node_filesystem_free_bytes", Gauge, "bytes", &["device", "mountpoint", "fstype"], "Free bytes, including those reserved for root."),
    metric!("node_filesystem_avail_bytes", Gauge, "bytes", &["device", "mountpoint", "fstype"], "Bytes available to unprivileged users."),
    metric!("node_filesystem_files", Gauge, "", &["device", "mountpoint", "fstype"], "Inodes in total."),
    metric!("node_filesystem_files_free", Gauge, "", &["device", "mountpoint", "fstype"], "Free inodes."),
    metric!("node_filesystem_used_ratio", Gauge, "ratio", &["device", "mountpoint", "fstype"], "1 - avail / (size - free + avail), as df computes Use%."),
    metric!("node_network_receive_bytes_total", Counter, "bytes", &["device"], "Bytes received."),
    metric!("node_network_transmit_bytes_total", Counter, "bytes", &["device"], "Bytes transmitted."),
    metric!("node_network_receive_packets_total", Counter, "", &["device"], "Packets received."),
    metric!("node_network_transmit_packets_total", Counter, "", &["device"], "Packets transmitted."),
    metric!("node_network_receive_errs_total", Counter, "", &["device"], "Receive errors."),
    metric!("node_network_transmit_errs_total", Counter, "", &["device"], "Transmit errors."),
    metric!("node_network_receive_drop_total", Counter, "", &["device"], "Received packets dropped."),
    metric!("node_network_transmit_drop_total", Counter, "", &["device"], "Transmitted packets dropped."),
    metric!("node_uptime_seconds", Gauge, "seconds", &[], "Seconds since boot."),
    metric!("node_boot_time_seconds", Gauge, "seconds", &[], "Boot time, seconds since the Unix epoch."),
    metric!("harbinger_agent_source_duration_seconds", Gauge, "seconds", &["source"], "How long the source's last collection took."),
    metric!("harbinger_agent_source_success", Gauge, "", &["source"], "1 if the source's last collection succeeded, else 0."),
    metric!("ipmi_sensor_value", Gauge, "", &["name", "type", "unit"], "BMC sensor reading converted to its unit (the unit label); discrete sensors: the asserted state bits. A bmc label is added when several BMCs are polled."),
    metric!("ipmi_sensor_state", Gauge, "", &["name", "type"], "BMC sensor state: 0 ok, 1 non-critical, 2 critical, 3 non-recoverable (discrete sensors: the worst asserted state)."),
    metric!("ipmi_sensor_threshold", Gauge, "", &["name", "type", "threshold"], "BMC sensor threshold in the sensor's unit; threshold is lnr, lc, lnc, unc, uc or unr."),
    metric!("ipmi_sensor_discrete_asserted", Gauge, "", &["name", "type", "state"], "1 if the discrete sensor asserts this state (e.g. \"Failure detected\"), else 0."),
    metric!("ipmi_up", Gauge, "", &["bmc"], "1 if the agent's last poll of the BMC succeeded, else 0."),
    metric!("ipmi_poll_duration_seconds", Gauge, "seconds", &["bmc"], "How long the last poll of the BMC took."),
    metric!("ipmi_sel_entries", Gauge, "", &["bmc"], "Entries in the BMC's System Event Log."),
    metric!("ipmi_sel_free_bytes", Gauge, "bytes", &["bmc"], "Free space in the BMC's System Event Log."),
    metric!("ipmi_dcmi_power_consumption_watts", Gauge, "watts", &["bmc"], "The BMC's DCMI instantaneous power reading (external-tool backends)."),
    metric!("smartctl_device_attribute_raw", Gauge, "", &["device_id", "attribute_id", "attribute_name"], "ATA SMART attribute raw value, decoded (vendor-packed counters unpacked, temperatures as the current value)."),
    metric!("smartctl_device_attribute_value", Gauge, "", &["device_id", "attribute_id", "attribute_name"], "ATA SMART attribute normalized value (vendor scale, usually 1..253, lower is worse)."),
    metric!("smartctl_device_attribute_worst", Gauge, "", &["device_id", "attribute_id", "attribute_name"], "Worst normalized value the attribute ever had."),
    metric!("smartctl_device_attribute_threshold", Gauge, "", &["device_id", "attribute_id", "attribute_name"], "Normalized value at or below which the vendor declares the attribute failing."),
    metric!("smartctl_device_attribute_failed", Gauge, "", &["device_id", "attribute_id", "attribute_name"], "When the attribute was at or below its threshold: 0 never, 1 in the past, 2 now."),
    metric!("smartctl_device_smart_status", Gauge, "", &["device_id"], "SMART overall health: 1 passed, 0 failed."),
    metric!("smartctl_device_smartctl_exit_status", Gauge, "", &["device_id"], "smartctl's exit-status bitmask for the last read (bit 3 failing, 6 error log, 7 self-test errors)."),
    metric!("smartctl_device_temperature_celsius", Gauge, "celsius", &["device_id"], "Current drive temperature."),
    metric!("smartctl_device_temperature_min_celsius", Gauge, "celsius", &["device_id"], "Lowest temperature the drive recorded (ATA 194/190 packed raw value)."),
    metric!("smartctl_device_temperature_max_celsius", Gauge, "celsius", &["device_id"], "Highest temperature the drive recorded (ATA 194/190 packed raw value)."),
    metric!("smartctl_device_temperature_trip_celsius", Gauge, "celsius", &["device_id"], "SCSI drive trip temperature."),
    metric!("smartctl_device_power_on_seconds_total", Counter, "seconds", &["device_id"], "Power-on time."),
    metric!("smartctl_device_power_cycles_total", Counter, "", &["device_id"], "Power cycles."),
    metric!("smartctl_device_error_log_entries_total", Counter, "", &["device_id"], "Errors the drive logged in its lifetime (ATA error log count, NVMe num_err_log_entries)."),
    metric!("smartctl_device_self_test_errors", Gauge, "", &["device_id"], "Failed entries in the ATA or NVMe self-test log."),
    metric!("smartctl_device_standby", Gauge, "", &["device_id"], "1 when the last sweep left the disk alone because it was asleep, else 0."),
    metric!("smartctl_nvme_critical_warning", Gauge, "", &["device_id"], "NVMe critical warning bitmask (1 spare, 2 temperature, 4 reliability, 8 read-only, 16 volatile backup, 32 PMR)."),
    metric!("smartctl_nvme_available_spare_ratio", Gauge, "ratio", &["device_id"], "NVMe available spare capacity (0..1)."),
    metric!("smartctl_nvme_available_spare_threshold_ratio", Gauge, "ratio", &["device_id"], "NVMe available spare threshold (0..1)."),
    metric!("smartctl_nvme_percentage_used_ratio", Gauge, "ratio", &["device_id"], "NVMe estimate of endurance used (0..1, may exceed 1)."),
    metric!("smartctl_nvme_media_errors_total", Counter, "", &["device_id"], "NVMe unrecovered data integrity errors."),
    metric!("smartctl_nvme_unsafe_shutdowns_total", Counter, "", &["device_id"], "NVMe unsafe shutdowns."),
    metric!("smartctl_nvme_data_read_bytes_total", Counter, "bytes", &["device_id"], "NVMe data read (data units x 512000)."),
    metric!("smartctl_nvme_data_written_bytes_total", Counter, "bytes", &["device_id"], "NVMe data written (data units x 512000)."),
    metric!("smartctl_nvme_host_read_commands_total", Counter, "", &["device_id"], "NVMe read commands completed."),
    metric!("smartctl_nvme_host_write_commands_total", Counter, "", &["device_id"], "NVMe write commands completed."),
    metric!("smartctl_nvme_controller_busy_seconds_total", Counter, "seconds", &["device_id"], "NVMe controller busy time."),
    metric!("smartctl_nvme_warning_temperature_seconds_total", Counter, "seconds", &["device_id"], "NVMe time above the warning composite temperature."),
    metric!("smartctl_nvme_critical_temperature_seconds_total", Counter, "seconds", &["device_id"], "NVMe time above the critical composite temperature."),
    metric!("smartctl_nvme_temperature_sensor_celsius", Gauge, "celsius", &["device_id", "sensor"], "NVMe temperature sensor N."),
    metric!("smartctl_scsi_grown_defects", Gauge, "", &["device_id"], "SCSI grown defect list entries (blocks reassigned since manufacture)."),
    metric!("smartctl_scsi_uncorrected_errors_total", Counter, "", &["device_id", "operation"], "SCSI uncorrected errors per operation (read, write, verify)."),
    metric!("smartctl_scsi_corrected_errors_total", Counter, "", &["device_id", "operation"], "SCSI corrected errors per operation."),
    metric!("smartctl_scsi_processed_bytes_total", Counter, "bytes", &["device_id", "operation"], "SCSI bytes processed per operation."),
    metric!("smartctl_scsi_start_stop_cycles_total", Counter, "", &["device_id"], "SCSI accumulated start-stop cycles."),
    metric!("smartctl_scsi_start_stop_cycles_specified", Gauge, "", &["device_id"], "SCSI start-stop cycles specified over the device lifetime."),
    metric!("smartctl_scsi_load_unload_cycles_total", Counter, "", &["device_id"], "SCSI accumulated load-unload cycles."),
    metric!("smartctl_scsi_load_unload_cycles_specified", Gauge, "", &["device_id"], "SCSI load-unload cycles specified over the device lifetime."),
    metric!("harbinger_agent_smart_sweep_duration_seconds", Gauge, "seconds", &[], "How long the last SMART sweep of every disk took."),
    metric!("harbinger_agent_smart_devices", Gauge, "", &["outcome"], "Devices in the last SMART sweep by outcome: read, asleep (left alone), failed."),
    metric!("node_edac_dimm_correctable_errors_total", Counter, "", &["controller", "dimm", "label"], "Correctable ECC errors on one DIMM (dimmN/rankN, or csrowN_chM on old kernels), as counted by EDAC since boot."),
    metric!("node_edac_dimm_uncorrectable_errors_total", Counter, "", &["controller", "dimm", "label"], "Uncorrectable ECC errors on one DIMM, as counted by EDAC since boot."),
    metric!("node_edac_correctable_errors_total", Counter, "", &["controller"], "Correctable ECC errors on one memory controller."),
    metric!("node_edac_uncorrectable_errors_total", Counter, "", &["controller"], "Uncorrectable ECC errors on one memory controller."),
    metric!("node_edac_csrow_correctable_errors_total", Counter, "", &["controller", "csrow"], "Correctable ECC errors per chip-select row; csrow=\"unknown\" counts errors EDAC could not place (ce_noinfo_count)."),
    metric!("node_edac_csrow_uncorrectable_errors_total", Counter, "", &["controller", "csrow"], "Uncorrectable ECC errors per chip-select row; csrow=\"unknown\" counts errors EDAC could not place (ue_noinfo_count)."),
    metric!("node_hwmon_chip_names", Gauge, "", &["chip", "chip_name"], "Always 1: maps the stable chip label to the driver's `name`."),
    metric!("node_hwmon_fan_rpm", Gauge, "rpm", &["chip", "sensor", "label"], "Fan speed."),
    metric!("node_hwmon_fan_min_rpm", Gauge, "rpm", &["chip", "sensor", "label"], "Fan speed below which the chip raises its alarm."),
    metric!("node_hwmon_fan_max_rpm", Gauge, "rpm", &["chip", "sensor", "label"], "Fan's maximum speed."),
    metric!("node_hwmon_fan_target_rpm", Gauge, "rpm", &["chip", "sensor", "label"], "Speed the fan controller aims at."),
    metric!("node_hwmon_fan_alarm", Gauge, "", &["chip", "sensor", "label"], "1 if the chip flags the fan (too slow), else 0."),
    metric!("node_hwmon_fan_fault", Gauge, "", &["chip", "sensor", "label"], "1 if the chip reports the fan as failed or absent, else 0."),
    metric!("node_hwmon_pwm_ratio", Gauge, "ratio", &["chip", "sensor", "label"], "PWM duty cycle of a fan output (0..1); sensor is pwmN and label that of fanN, so the pair differ only in `sensor`."),
    metric!("node_hwmon_temp_celsius", Gauge, "celsius", &["chip", "sensor", "label"], "Temperature."),
    metric!("node_hwmon_temp_min_celsius", Gauge, "celsius", &["chip", "sensor", "label"], "Lower temperature limit (omitted when the chip reports absolute zero, i.e. none)."),
    metric!("node_hwmon_temp_max_celsius", Gauge, "celsius", &["chip", "sensor", "label"], "High temperature limit (omitted when implausible, i.e. unset)."),
    metric!("node_hwmon_temp_crit_celsius", Gauge, "celsius", &["chip", "sensor", "label"], "Critical temperature limit."),
    metric!("node_hwmon_temp_alarm", Gauge, "", &["chip", "sensor", "label"], "1 if the temperature is outside its limits, else 0."),
    metric!("node_hwmon_temp_crit_alarm", Gauge, "", &["chip", "sensor", "label"], "1 if the critical limit is exceeded, else 0."),
    metric!("node_hwmon_in_volts", Gauge, "volts", &["chip", "sensor", "label"], "Voltage."),
    metric!("node_hwmon_in_min_volts", Gauge, "volts", &["chip", "sensor", "label"], "Lower voltage limit."),
    metric!("node_hwmon_in_max_volts", Gauge, "volts", &["chip", "sensor", "label"], "Upper voltage limit."),
    metric!("node_hwmon_in_alarm", Gauge, "", &["chip", "sensor", "label"], "1 if the voltage is outside its limits, else 0."),
    metric!("node_hwmon_power_watts", Gauge, "watts", &["chip", "sensor", "label"], "Power (instantaneous, else the chip's average)."),
    metric!("node_hwmon_power_max_watts", Gauge, "watts", &["chip", "sensor", "label"], "Power limit."),
    metric!("node_hwmon_power_crit_watts", Gauge, "watts", &["chip", "sensor", "label"], "Critical power limit."),
    metric!("node_hwmon_power_alarm", Gauge, "", &["chip", "sensor", "label"], "1 if the power is outside its limits, else 0."),
    metric!("node_hwmon_curr_amperes", Gauge, "amperes", &["chip", "sensor", "label"], "Current."),
    metric!("node_hwmon_curr_min_amperes", Gauge, "amperes", &["chip", "sensor", "label"], "Lower current limit."),
    metric!("node_hwmon_curr_max_amperes", Gauge, "amperes", &["chip", "sensor", "label"], "Upper current limit."),
    metric!("node_hwmon_curr_alarm", Gauge, "", &["chip", "sensor", "label"], "1 if the current is outside its limits, else 0."),
    metric!("node_hwmon_intrusion_alarm", Gauge, "", &["chip", "sensor", "label"], "1 if the chassis-intrusion switch has tripped (until cleared), else 0."),
    metric!("harbinger_kernel_messages_total", Counter, "", &["kind"], "Kernel hardware-error messages classified since the agent started, including those folded into a rate-limited event."),
];

/// Looks a metric up by name.
pub fn lookup(name: &str) -> Option<&'static MetricDef> {
    CATALOGUE.iter().find(|m| m.name == name)
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`, Prometheus' metric-name grammar.
pub fn is_valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, Prometheus' label-name grammar.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_names_are_valid_unique_and_conventional() {
        let mut seen = std::collections::HashSet::new();
        for m in CATALOGUE {
            assert!(is_valid_metric_name(m.name), "{}", m.name);
            assert!(seen.insert(m.name), "duplicate {}", m.name);
            assert_eq!(m.kind == Counter, m.name.ends_with("_total"), "{}", m.name);
            if !m.unit.is_empty() && m.unit != "celsius" {
                assert!(m.name.contains(m.unit), "{} should carry its unit", m.name);
            }
            for l in m.labels {
                assert!(is_valid_label_name(l), "{l}");
            }
        }
    }

    #[test]
    fn name_constants_are_in_the_catalogue() {
        for name in [
            names::CPU_SECONDS,
            names::FS_USED_RATIO,
            names::SOURCE_SUCCESS,
            names::DISK_LATENCY,
            names::IPMI_SENSOR_VALUE,
            names::IPMI_SENSOR_STATE,
            names::IPMI_SENSOR_THRESHOLD,
            names::IPMI_SENSOR_ASSERTED,
            names::IPMI_UP,
            names::IPMI_POLL_DURATION,
            names::IPMI_SEL_ENTRIES,
            names::IPMI_SEL_FREE,
            names::SCSI_GROWN_DEFECTS,
        ] {
            assert!(lookup(name).is_some(), "{name}");
        }
    }

    #[test]
    fn grammar() {
        assert!(is_valid_metric_name("a:b_c1"));
        assert!(!is_valid_metric_name("1abc"));
        assert!(!is_valid_metric_name(""));
        assert!(!is_valid_label_name("a:b"));
        assert!(is_valid_label_name("_x"));
    }
}
