//! The collector's own telemetry, named in one place and rendered for `/metrics`.
//!
//! Plain atomics rather than a metrics crate: the set is small and fixed, and each
//! notable event is one method here so that a counter cannot be spelled two ways.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Rejection reasons of the ingest endpoint, in the order `/metrics` lists them.
pub const REJECT_REASONS: &[&str] = &[
    "bad_encoding",
    "too_large",
    "bad_json",
    "unsupported_version",
    "invalid",
    "future_timestamp",
    "too_old",
    "unsupported_media_type",
    "internal",
];

/// Upper bounds (seconds) of the store-append latency histogram.
const APPEND_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// All counters. Shared behind an `Arc`; every method is lock-free.
#[derive(Debug)]
pub struct Telemetry {
    batches_ingested: AtomicU64,
    batches_duplicate: AtomicU64,
    samples_ingested: AtomicU64,
    rejects: Vec<AtomicU64>,
    append_buckets: Vec<AtomicU64>,
    append_count: AtomicU64,
    append_micros: AtomicU64,
    outbox_delivered: AtomicU64,
    outbox_retried: AtomicU64,
    outbox_failed: AtomicU64,
    incident_changes: AtomicU64,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self {
            batches_ingested: AtomicU64::new(0),
            batches_duplicate: AtomicU64::new(0),
            samples_ingested: AtomicU64::new(0),
            rejects: REJECT_REASONS.iter().map(|_| AtomicU64::new(0)).collect(),
            append_buckets: APPEND_BUCKETS.iter().map(|_| AtomicU64::new(0)).collect(),
            append_count: AtomicU64::new(0),
            append_micros: AtomicU64::new(0),
            outbox_delivered: AtomicU64::new(0),
            outbox_retried: AtomicU64::new(0),
            outbox_failed: AtomicU64::new(0),
            incident_changes: AtomicU64::new(0),
        }
    }
}

/// Gauges sampled at render time rather than counted.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    pub hosts_known: u64,
    pub hot_series: u64,
    pub hot_points: u64,
}

impl Telemetry {
    pub fn batch_stored(&self, samples: usize) {
        self.batches_ingested.fetch_add(1, Ordering::Relaxed);
        self.samples_ingested
            .fetch_add(samples as u64, Ordering::Relaxed);
    }

    pub fn batch_duplicate(&self) {
        self.batches_duplicate.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a rejected batch; unknown reasons count as `internal`.
    pub fn batch_rejected(&self, reason: &str) {
        let index = REJECT_REASONS
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(REJECT_REASONS.len() - 1);
        if let Some(counter) = self.rejects.get(index) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn append_latency(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        for (bound, bucket) in APPEND_BUCKETS.iter().zip(&self.append_buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.append_count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.append_micros.fetch_add(micros, Ordering::Relaxed);
    }

    pub fn outbox_delivered(&self) {
        self.outbox_delivered.fetch_add(1, Ordering::Relaxed);
    }

    pub fn outbox_retried(&self) {
        self.outbox_retried.fetch_add(1, Ordering::Relaxed);
    }

    pub fn outbox_failed(&self) {
        self.outbox_failed.fetch_add(1, Ordering::Relaxed);
    }

    pub fn incident_changed(&self) {
        self.incident_changes.fetch_add(1, Ordering::Relaxed);
    }

    /// Prometheus text exposition format, version 0.0.4.
    pub fn render(&self, gauges: Gauges) -> String {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        counter(
            &mut out,
            "harbinger_collector_batches_ingested_total",
            "Batches stored.",
            load(&self.batches_ingested),
        );
        counter(
            &mut out,
            "harbinger_collector_batches_duplicate_total",
            "Batches received again and not stored twice.",
            load(&self.batches_duplicate),
        );
        counter(
            &mut out,
            "harbinger_collector_samples_ingested_total",
            "Samples in stored batches.",
            load(&self.samples_ingested),
        );
        counter(
            &mut out,
            "harbinger_collector_outbox_delivered_total",
            "Notifications delivered.",
            load(&self.outbox_delivered),
        );
        counter(
            &mut out,
            "harbinger_collector_outbox_retried_total",
            "Notification attempts that will be retried.",
            load(&self.outbox_retried),
        );
        counter(
            &mut out,
            "harbinger_collector_outbox_failed_total",
            "Notifications failed permanently.",
            load(&self.outbox_failed),
        );
        counter(
            &mut out,
            "harbinger_collector_incident_changes_total",
            "Incidents opened, updated or resolved.",
            load(&self.incident_changes),
        );

        let _ = writeln!(out, "# HELP harbinger_collector_batches_rejected_total Batches refused, by reason.\n# TYPE harbinger_collector_batches_rejected_total counter");
        for (reason, value) in REJECT_REASONS.iter().zip(&self.rejects) {
            let _ = writeln!(
                out,
                "harbinger_collector_batches_rejected_total{{reason=\"{reason}\"}} {}",
                load(value)
            );
        }

        let name = "harbinger_collector_store_append_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time to durably append one batch.\n# TYPE {name} histogram"
        );
        for (bound, bucket) in APPEND_BUCKETS.iter().zip(&self.append_buckets) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {}", load(bucket));
        }
        let count = load(&self.append_count);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {}", load(&self.append_micros) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {count}");

        let gauge = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        };
        gauge(
            &mut out,
            "harbinger_collector_hosts_known",
            "Hosts that have ever sent a batch.",
            gauges.hosts_known,
        );
        gauge(
            &mut out,
            "harbinger_collector_hot_series",
            "Series held in the in-memory hot window.",
            gauges.hot_series,
        );
        gauge(
            &mut out,
            "harbinger_collector_hot_points",
            "Points held in the in-memory hot window.",
            gauges.hot_points,
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_by_reason_and_histogram() {
        let t = Telemetry::default();
        t.batch_stored(5);
        t.batch_rejected("too_old");
        t.batch_rejected("too_old");
        t.batch_rejected("no_such_reason");
        t.append_latency(Duration::from_millis(3));
        let text = t.render(Gauges {
            hosts_known: 2,
            hot_series: 7,
            hot_points: 9,
        });
        for line in [
            "harbinger_collector_samples_ingested_total 5",
            "harbinger_collector_batches_rejected_total{reason=\"too_old\"} 2",
            "harbinger_collector_batches_rejected_total{reason=\"internal\"} 1",
            "harbinger_collector_store_append_seconds_bucket{le=\"0.0025\"} 0",
            "harbinger_collector_store_append_seconds_bucket{le=\"0.005\"} 1",
            "harbinger_collector_store_append_seconds_count 1",
            "harbinger_collector_hot_series 7",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }
}
