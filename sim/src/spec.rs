//! `FleetSpec`: what fleet to simulate, for how long, and how often things break.
//!
//! Failure rates are per host (per rack for cooling) *over the whole simulated span*,
//! not annual rates: an evaluation of 200 hosts over four weeks needs tens of
//! failures, far more than real annual failure rates would give (about 2–4 % of disks
//! per year, Schroeder and Gibson FAST 2007). Planning happens once, up front, so the
//! ground truth is known before the first batch is generated.

use crate::hardware;
use serde::{Deserialize, Serialize};

const DAY_MS: i64 = 86_400_000;

/// Why a spec is not usable; the message names the key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    #[error("{key}: {message}")]
    Invalid { key: &'static str, message: String },
}

fn invalid(key: &'static str, message: impl Into<String>) -> SpecError {
    SpecError::Invalid {
        key,
        message: message.into(),
    }
}

/// The simulated fleet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FleetSpec {
    /// Number of hosts.
    pub hosts: usize,
    /// Number of racks; hosts are spread round-robin so every rack has peers.
    pub racks: usize,
    /// Number of sites; racks are spread round-robin over them.
    pub sites: usize,
    /// Hardware model names from [`hardware::MODELS`]; empty means all of them.
    pub hardware_models: Vec<String>,
    /// First sample time, ms since the Unix epoch (rounded down to the interval).
    pub start_ms: i64,
    /// Simulated span in ms.
    pub duration_ms: i64,
    /// Base collection interval (system metrics, sensors, EDAC).
    pub interval_ms: u64,
    /// Intervals per batch: one batch per host carries this many collection cycles.
    pub batch_intervals: u32,
    /// SMART is read every this many intervals, as the agent polls it on a slow cycle.
    pub smart_every: u32,
    /// In bench-data mode, pad every host to exactly this many series.
    pub series_per_host: Option<usize>,
    pub failures: FailureRates,
    pub planned: PlannedRates,
    pub seed: u64,
}

/// Probability, per host over the whole run, that each failure is injected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FailureRates {
    /// A disk degrading over days to weeks: pending → reallocated → uncorrectable → I/O errors → death.
    pub disk_degrading: f64,
    /// A disk dying without any SMART warning (about a third to a half of real failures).
    pub disk_sudden: f64,
    /// A DIMM with clustering correctable errors that ends in an uncorrectable error.
    pub dimm_uncorrectable: f64,
    /// A fan whose bearing wears: RPM at constant PWM decays until it stops.
    pub fan_failure: f64,
    /// A PSU failing and the host losing power redundancy.
    pub psu_failure: f64,
    /// An NVMe drive wearing out (percentage used rising, spare falling below threshold).
    pub nvme_wearout: f64,
    /// The host disappearing without warning.
    pub host_lost: f64,
    /// Per rack: the rack losing cooling for a few hours.
    pub cooling_loss: f64,
    /// Decoy: a disk that gains one reallocated sector and never fails.
    pub stable_reallocated: f64,
    /// Decoy: a DIMM with one isolated correctable error and nothing after.
    pub isolated_correctable: f64,
}

/// Probability, per host over the whole run, of planned work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlannedRates {
    /// A maintenance window with a planned reboot in it.
    pub maintenance: f64,
    /// Given a maintenance window, the chance it includes a firmware update (BIOS, BMC or disk).
    pub firmware_update: f64,
}

impl Default for FleetSpec {
    fn default() -> Self {
        Self {
            hosts: 20,
            racks: 4,
            sites: 1,
            hardware_models: Vec::new(),
            // 2024-01-01T00:00:00Z, a Monday.
            start_ms: 1_704_067_200_000,
            duration_ms: 7 * DAY_MS,
            interval_ms: 60_000,
            batch_intervals: 10,
            smart_every: 30,
            series_per_host: None,
            failures: FailureRates::default(),
            planned: PlannedRates::default(),
            seed: 1,
        }
    }
}

impl Default for FailureRates {
    fn default() -> Self {
        Self {
            disk_degrading: 0.04,
            disk_sudden: 0.02,
            dimm_uncorrectable: 0.03,
            fan_failure: 0.03,
            psu_failure: 0.02,
            nvme_wearout: 0.03,
            host_lost: 0.005,
            cooling_loss: 0.05,
            stable_reallocated: 0.05,
            isolated_correctable: 0.05,
        }
    }
}

impl FailureRates {
    /// No failures and no decoys: a quiet fleet.
    pub fn none() -> Self {
        Self {
            disk_degrading: 0.0,
            disk_sudden: 0.0,
            dimm_uncorrectable: 0.0,
            fan_failure: 0.0,
            psu_failure: 0.0,
            nvme_wearout: 0.0,
            host_lost: 0.0,
            cooling_loss: 0.0,
            stable_reallocated: 0.0,
            isolated_correctable: 0.0,
        }
    }

    fn entries(&self) -> [(&'static str, f64); 10] {
        [
            ("failures.disk_degrading", self.disk_degrading),
            ("failures.disk_sudden", self.disk_sudden),
            ("failures.dimm_uncorrectable", self.dimm_uncorrectable),
            ("failures.fan_failure", self.fan_failure),
            ("failures.psu_failure", self.psu_failure),
            ("failures.nvme_wearout", self.nvme_wearout),
            ("failures.host_lost", self.host_lost),
            ("failures.cooling_loss", self.cooling_loss),
            ("failures.stable_reallocated", self.stable_reallocated),
            ("failures.isolated_correctable", self.isolated_correctable),
        ]
    }
}

impl Default for PlannedRates {
    fn default() -> Self {
        Self {
            maintenance: 0.1,
            firmware_update: 0.5,
        }
    }
}

impl FleetSpec {
    /// A spec for `hosts` hosts over `days` days with default rates: racks of up to 20
    /// hosts, one site per 10 racks.
    pub fn new(hosts: usize, days: f64, seed: u64) -> Self {
        let racks = hosts.div_ceil(20).max(1);
        Self {
            hosts,
            racks,
            sites: racks.div_ceil(10).max(1),
            duration_ms: (days * DAY_MS as f64) as i64,
            seed,
            ..Self::default()
        }
    }

    /// Checks every field; the error names the first bad key.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.hosts == 0 {
            return Err(invalid("fleet.hosts", "must be at least 1"));
        }
        if self.racks == 0 || self.racks > self.hosts {
            return Err(invalid(
                "fleet.racks",
                format!("must be between 1 and fleet.hosts ({})", self.hosts),
            ));
        }
        if self.sites == 0 || self.sites > self.racks {
            return Err(invalid(
                "fleet.sites",
                format!("must be between 1 and fleet.racks ({})", self.racks),
            ));
        }
        for name in &self.hardware_models {
            if hardware::find(name).is_none() {
                let known: Vec<&str> = hardware::MODELS.iter().map(|m| m.name).collect();
                return Err(invalid(
                    "fleet.hardware_models",
                    format!("unknown model {name:?}; known: {}", known.join(", ")),
                ));
            }
        }
        if self.start_ms < 0 {
            return Err(invalid("fleet.start_ms", "must not be negative"));
        }
        if self.interval_ms < 1_000 {
            return Err(invalid("fleet.interval_ms", "must be at least 1s"));
        }
        if self.duration_ms < self.interval_ms as i64 {
            return Err(invalid(
                "fleet.duration_ms",
                "must be at least one interval (fleet.interval_ms)",
            ));
        }
        if self.batch_intervals == 0 {
            return Err(invalid("fleet.batch_intervals", "must be at least 1"));
        }
        if self.smart_every == 0 {
            return Err(invalid("fleet.smart_every", "must be at least 1"));
        }
        for (key, value) in self.failures.entries() {
            check_probability(key, value)?;
        }
        check_probability("planned.maintenance", self.planned.maintenance)?;
        check_probability("planned.firmware_update", self.planned.firmware_update)?;
        Ok(())
    }

    /// Number of collection intervals in the run.
    pub fn intervals(&self) -> u64 {
        (self.duration_ms / self.interval_ms as i64).max(0) as u64
    }

    /// The start rounded down to a multiple of the interval, so timestamps align.
    pub fn aligned_start_ms(&self) -> i64 {
        let interval = self.interval_ms as i64;
        self.start_ms - self.start_ms.rem_euclid(interval)
    }

    /// End of the run (exclusive).
    pub fn end_ms(&self) -> i64 {
        self.aligned_start_ms() + self.intervals() as i64 * self.interval_ms as i64
    }
}

fn check_probability(key: &'static str, value: f64) -> Result<(), SpecError> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(invalid(
            key,
            format!("must be a probability in 0..=1, got {value}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        FleetSpec::default().validate().expect("default spec");
        FleetSpec::new(500, 28.0, 3).validate().expect("new");
    }

    #[test]
    fn errors_name_the_key() {
        let spec = FleetSpec {
            interval_ms: 10,
            ..FleetSpec::default()
        };
        assert_eq!(
            spec.validate().expect_err("bad").to_string(),
            "fleet.interval_ms: must be at least 1s"
        );
        let mut spec = FleetSpec::default();
        spec.failures.fan_failure = 1.5;
        assert!(spec
            .validate()
            .expect_err("bad")
            .to_string()
            .starts_with("failures.fan_failure:"));
        let spec = FleetSpec {
            hardware_models: vec!["Nope 9000".into()],
            ..FleetSpec::default()
        };
        assert!(spec
            .validate()
            .expect_err("bad")
            .to_string()
            .contains("unknown model \"Nope 9000\""));
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = serde_json::from_str::<FleetSpec>(r#"{"hosts": 3, "hostz": 4}"#)
            .expect_err("unknown key");
        assert!(err.to_string().contains("hostz"), "{err}");
    }
}
