//! Failure trajectories: how each injected fault shows in the data, as pure functions of time.
//!
//! Both the planner (to compute `first_precursor_ts` in the ground truth) and the host
//! model (to emit samples) call these, so the ground truth agrees with the data by
//! construction. Shapes follow the research summary in `shared/reference/precursors.md`:
//! disks go pending → reallocated → offline uncorrectable → reported uncorrectable →
//! kernel I/O errors → death (Google FAST 2007, Backblaze's five attributes); DIMM
//! correctable errors cluster and accelerate before an uncorrectable one (Schroeder et
//! al. 2009); NVMe spare capacity falls towards the 10 % threshold as wear grows.

/// Progress through a fault in `0..=1`; 0 before the onset.
pub fn progress(onset: i64, end: i64, t: i64) -> f64 {
    if t <= onset {
        return 0.0;
    }
    if end <= onset {
        return 1.0;
    }
    ((t - onset) as f64 / (end - onset) as f64).min(1.0)
}

/// The SMART picture of a degrading disk.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DiskWear {
    pub pending: u64,
    pub reallocated: u64,
    pub offline_uncorrectable: u64,
    pub reported_uncorrect: u64,
    pub command_timeout: u64,
    /// Expected kernel I/O errors per hour.
    pub io_errors_per_hour: f64,
    /// Multiplier on I/O latency (retries on weak sectors).
    pub latency_factor: f64,
    /// SMART overall health has flipped to FAILED.
    pub smart_failed: bool,
}

/// A disk degrading from `onset` to death at `fail`.
pub fn degrading_disk(onset: i64, fail: i64, t: i64) -> DiskWear {
    let u = progress(onset, fail, t);
    if u <= 0.0 {
        return DiskWear {
            latency_factor: 1.0,
            ..DiskWear::default()
        };
    }
    let after = |start: f64| ((u - start) / (1.0 - start)).max(0.0);
    DiskWear {
        pending: 1 + (24.0 * u.powf(1.5)) as u64,
        reallocated: (300.0 * after(0.15).powi(2)) as u64,
        offline_uncorrectable: (12.0 * after(0.4).powf(1.2)) as u64,
        reported_uncorrect: (30.0 * after(0.55)) as u64,
        command_timeout: (8.0 * after(0.7)) as u64,
        io_errors_per_hour: 8.0 * after(0.75),
        latency_factor: 1.0 + 6.0 * after(0.7).powi(2),
        smart_failed: u >= 0.92,
    }
}

/// The SMART picture of an NVMe drive wearing out: spare falls to the 10 % threshold at `fail`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NvmeWear {
    pub percentage_used: f64,
    pub available_spare: f64,
    pub media_errors: u64,
    pub critical_warning: u8,
}

/// NVMe `available_spare_threshold` as most drives report it.
pub const NVME_SPARE_THRESHOLD: f64 = 0.10;

/// `used0` is the endurance used at the start; healthy drives move by well under 1 % a month.
pub fn nvme(used0: f64, wearout: Option<(i64, i64)>, start: i64, t: i64) -> NvmeWear {
    let months = (t - start).max(0) as f64 / (30.0 * 86_400_000.0);
    let mut used = used0 + 0.004 * months;
    let mut spare = 1.0;
    let mut media_errors = 0;
    if let Some((onset, fail)) = wearout {
        let u = progress(onset, fail, t);
        let beyond = if t > fail {
            (t - fail) as f64 / (fail - onset).max(1) as f64
        } else {
            0.0
        };
        used += (1.0 - used0).max(0.0) * u + 0.2 * beyond;
        spare = (1.0 - (1.0 - NVME_SPARE_THRESHOLD) * u.powf(1.3) - 0.5 * beyond).max(0.02);
        media_errors = (40.0 * ((u - 0.7) / 0.3).max(0.0)) as u64 + (60.0 * beyond) as u64;
    }
    // Drives report whole percent.
    let used = (used * 100.0).round() / 100.0;
    let spare = (spare * 100.0).round() / 100.0;
    let critical_warning = u8::from(spare < NVME_SPARE_THRESHOLD);
    NvmeWear {
        percentage_used: used,
        available_spare: spare,
        media_errors,
        critical_warning,
    }
}

/// Relative airflow of a wearing fan at constant PWM: 1.0 healthy, falling to 0.55 at
/// `fail`, when the bearing seizes and the fan stops.
pub fn fan_health(wear: Option<(i64, i64)>, t: i64) -> f64 {
    match wear {
        Some((_, fail)) if t >= fail => 0.0,
        Some((onset, fail)) => 1.0 - FAN_DECAY * progress(onset, fail, t).powf(1.5),
        None => 1.0,
    }
}

/// How far a wearing fan slows before it stops.
pub const FAN_DECAY: f64 = 0.45;

/// A rack losing cooling: the rise in inlet temperature (°C) at `t`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CoolingEpisode {
    pub start: i64,
    pub ramp_ms: i64,
    pub hold_ms: i64,
    pub recover_ms: i64,
    pub delta_c: f64,
}

impl CoolingEpisode {
    pub fn rise(&self, t: i64) -> f64 {
        let hold_end = self.start + self.ramp_ms + self.hold_ms;
        if t <= self.start || t >= hold_end + self.recover_ms {
            0.0
        } else if t < self.start + self.ramp_ms {
            self.delta_c * progress(self.start, self.start + self.ramp_ms, t)
        } else if t <= hold_end {
            self.delta_c
        } else {
            self.delta_c * (1.0 - progress(hold_end, hold_end + self.recover_ms, t))
        }
    }

    /// When the rise first reaches `level` °C (on the ramp), if it does.
    pub fn reaches(&self, level: f64) -> Option<i64> {
        (level <= self.delta_c && level > 0.0)
            .then(|| self.start + (self.ramp_ms as f64 * level / self.delta_c).ceil() as i64)
    }
}

/// A PSU going bad: ripple severity 0..1 on the 12 V rail from `ripple_from` until
/// `fail`, when the supply drops out.
pub fn psu_ripple(ripple_from: Option<i64>, fail: i64, t: i64) -> f64 {
    match ripple_from {
        Some(from) if t < fail => progress(from, fail, t),
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degrading_disk_escalates_in_order() {
        let (onset, fail) = (0, 1_000_000);
        assert_eq!(
            degrading_disk(onset, fail, 0),
            DiskWear {
                latency_factor: 1.0,
                ..DiskWear::default()
            }
        );
        let early = degrading_disk(onset, fail, 100_000);
        assert!(early.pending >= 1 && early.reallocated == 0 && early.reported_uncorrect == 0);
        let late = degrading_disk(onset, fail, 950_000);
        assert!(
            late.reallocated > 100 && late.reported_uncorrect > 0 && late.io_errors_per_hour > 0.0
        );
        assert!(late.smart_failed && !early.smart_failed);
        let mut last = DiskWear::default();
        for t in (0..=fail).step_by(10_000) {
            let w = degrading_disk(onset, fail, t);
            assert!(w.pending >= last.pending && w.reallocated >= last.reallocated);
            last = w;
        }
    }

    #[test]
    fn nvme_crosses_spare_threshold_at_failure() {
        let day = 86_400_000;
        let wear = Some((10 * day, 40 * day));
        assert_eq!(nvme(0.9, wear, 0, 5 * day).critical_warning, 0);
        assert_eq!(nvme(0.9, wear, 0, 5 * day).available_spare, 1.0);
        assert!(nvme(0.9, wear, 0, 39 * day).available_spare > NVME_SPARE_THRESHOLD);
        let after = nvme(0.9, wear, 0, 41 * day);
        assert_eq!(after.critical_warning, 1);
        assert!(after.percentage_used >= 1.0);
        let healthy = nvme(0.2, None, 0, 60 * day);
        assert_eq!(
            (healthy.available_spare, healthy.critical_warning),
            (1.0, 0)
        );
    }

    #[test]
    fn fans_slow_then_stop_and_cooling_ramps() {
        assert_eq!(fan_health(None, 5), 1.0);
        let wear = Some((0, 100));
        assert!(fan_health(wear, 50) < 1.0 && fan_health(wear, 50) > 0.55);
        assert_eq!(fan_health(wear, 100), 0.0);
        let ep = CoolingEpisode {
            start: 0,
            ramp_ms: 100,
            hold_ms: 100,
            recover_ms: 100,
            delta_c: 10.0,
        };
        assert_eq!(ep.rise(50), 5.0);
        assert_eq!(ep.rise(150), 10.0);
        assert_eq!(ep.rise(400), 0.0);
        assert_eq!(ep.reaches(2.0), Some(20));
        assert_eq!(ep.reaches(11.0), None);
    }
}
