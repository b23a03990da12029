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
}

/// The catalogue, one row per metric.
pub const CATALOGUE: &[MetricDef] = &[
    metric!(
        "node_cpu_seconds_total",
        Counter,
        "seconds",
        &["cpu", "mode"],
        "Seconds the CPUs spent in each mode; cpu=\"total\" sums all cores."
    ),
    metric!(
        "node_cpu_usage_ratio",
        Gauge,
        "ratio",
        &["cpu"],
        "Fraction of the last interval the CPUs were not idle (0..1)."
    ),
    metric!("node_load1", Gauge, "", &[], "1-minute load average."),
    metric!("node_load5", Gauge, "", &[], "5-minute load average."),
    metric!("node_load15", Gauge, "", &[], "15-minute load average."),
    metric!(
        "node_memory_total_bytes",
        Gauge,
        "bytes",
        &[],
        "Total usable RAM."
    ),
    metric!(
        "node_memory_available_bytes",
        Gauge,
        "bytes",
        &[],
        "Memory available for new work without swapping (MemAvailable)."
    ),
    metric!(
        "node_memory_cached_bytes",
        Gauge,
        "bytes",
        &[],
        "Page cache (Cached)."
    ),
    metric!(
        "node_memory_used_ratio",
        Gauge,
        "ratio",
        &[],
        "1 - available / total."
    ),
    metric!(
        "node_memory_swap_total_bytes",
        Gauge,
        "bytes",
        &[],
        "Total swap."
    ),
    metric!(
        "node_memory_swap_free_bytes",
        Gauge,
        "bytes",
        &[],
        "Free swap."
    ),
    metric!(
        "node_disk_reads_completed_total",
        Counter,
        "",
        &["device"],
        "Reads completed."
    ),
    metric!(
        "node_disk_writes_completed_total",
        Counter,
        "",
        &["device"],
        "Writes completed."
    ),
    metric!(
        "node_disk_read_bytes_total",
        Counter,
        "bytes",
        &["device"],
        "Bytes read."
    ),
    metric!(
        "node_disk_written_bytes_total",
        Counter,
        "bytes",
        &["device"],
        "Bytes written."
    ),
    metric!(
        "node_disk_io_time_seconds_total",
        Counter,
        "seconds",
        &["device"],
        "Seconds the device had I/O in flight."
    ),
    metric!(
        "node_disk_io_time_weighted_seconds_total",
        Counter,
        "seconds",
        &["device"],
        "Sum of time each I/O spent in flight."
    ),
    metric!(
        "node_disk_utilisation_ratio",
        Gauge,
        "ratio",
        &["device"],
        "Fraction of the last interval the device was busy."
    ),
    metric!(
        "node_disk_io_latency_seconds",
        Gauge,
        "seconds",
        &["device"],
        "Average time per completed I/O over the last interval (await)."
    ),
    metric!(
        "node_filesystem_size_bytes",
        Gauge,
        "bytes",
        &["device", "mountpoint", "fstype"],
        "Filesystem size."
    ),
    metric!(
        "node_filesystem_free_bytes",
        Gauge,
        "bytes",
        &["device", "mountpoint", "fstype"],
        "Free bytes, including those reserved for root."
    ),
    metric!(
        "node_filesystem_avail_bytes",
        Gauge,
        "bytes",
        &["device", "mountpoint", "fstype"],
        "Bytes available to unprivileged users."
    ),
    metric!(
        "node_filesystem_files",
        Gauge,
        "",
        &["device", "mountpoint", "fstype"],
        "Inodes in total."
    ),
    metric!(
        "node_filesystem_files_free",
        Gauge,
        "",
        &["device", "mountpoint", "fstype"],
        "Free inodes."
    ),
    metric!(
        "node_filesystem_used_ratio",
        Gauge,
        "ratio",
        &["device", "mountpoint", "fstype"],
        "1 - avail / (size - free + avail), as df computes Use%."
    ),
    metric!(
        "node_network_receive_bytes_total",
        Counter,
        "bytes",
        &["device"],
        "Bytes received."
    ),
    metric!(
        "node_network_transmit_bytes_total",
        Counter,
        "bytes",
        &["device"],
        "Bytes transmitted."
    ),
    metric!(
        "node_network_receive_packets_total",
        Counter,
        "",
        &["device"],
        "Packets received."
    ),
    metric!(
        "node_network_transmit_packets_total",
        Counter,
        "",
        &["device"],
        "Packets transmitted."
    ),
    metric!(
        "node_network_receive_errs_total",
        Counter,
        "",
        &["device"],
        "Receive errors."
    ),
    metric!(
        "node_network_transmit_errs_total",
        Counter,
        "",
        &["device"],
        "Transmit errors."
    ),
    metric!(
        "node_network_receive_drop_total",
        Counter,
        "",
        &["device"],
        "Received packets dropped."
    ),
    metric!(
        "node_network_transmit_drop_total",
        Counter,
        "",
        &["device"],
        "Transmitted packets dropped."
    ),
    metric!(
        "node_uptime_seconds",
        Gauge,
        "seconds",
        &[],
        "Seconds since boot."
    ),
    metric!(
        "node_boot_time_seconds",
        Gauge,
        "seconds",
        &[],
        "Boot time, seconds since the Unix epoch."
    ),
    metric!(
        "harbinger_agent_source_duration_seconds",
        Gauge,
        "seconds",
        &["source"],
        "How long the source's last collection took."
    ),
    metric!(
        "harbinger_agent_source_success",
        Gauge,
        "",
        &["source"],
        "1 if the source's last collection succeeded, else 0."
    ),
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
