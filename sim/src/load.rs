//! The workload a host runs: diurnal and weekly cycles, nightly backups and batch jobs.
//!
//! These patterns are what makes naive thresholds noisy (every night the backup heats
//! the CPUs and slows the disks), so they are deliberately strong and regular.
//! Everything here is a pure function of local time and a per-host seed.

use crate::rng;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;

/// What a host is for; it shapes the load curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Follows users: strong day/night and weekday/weekend cycle.
    Web,
    /// Moderate cycle, heavy nightly backup.
    Db,
    /// Runs a nightly batch job.
    Batch,
    /// Disk-heavy, light CPU.
    Storage,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Web => "web",
            Role::Db => "db",
            Role::Batch => "batch",
            Role::Storage => "storage",
        }
    }
}

/// The per-host parameters of the load model.
#[derive(Debug, Clone)]
pub struct LoadProfile {
    pub role: Role,
    pub seed: u64,
    /// CPU usage at the quietest hour.
    pub base_cpu: f64,
    /// Added at the peak of the day.
    pub diurnal_cpu: f64,
    /// Multiplier for the diurnal part on Saturdays and Sundays.
    pub weekend: f64,
    /// Nightly backup start, minutes after local midnight, and its length.
    pub backup_start_min: i64,
    pub backup_len_min: i64,
    /// Nightly batch job (Batch role), minutes after local midnight, and its length.
    pub job_start_min: i64,
    pub job_len_min: i64,
}

/// What the host is doing at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Activity {
    /// CPU demand before noise, 0..1.
    pub cpu: f64,
    /// Disk busy demand, 0..1.
    pub io: f64,
    /// Network activity, 0..1.
    pub net: f64,
    pub backup: bool,
    pub job: bool,
    /// The diurnal shape alone, 0 (night) .. 1 (afternoon peak).
    pub day: f64,
}

/// Local calendar facts for a timestamp.
pub fn local_day_and_minute(local_ms: i64) -> (i64, i64) {
    (
        local_ms.div_euclid(DAY_MS),
        local_ms.rem_euclid(DAY_MS) / MINUTE_MS,
    )
}

/// 0 = Monday … 6 = Sunday (1970-01-01 was a Thursday).
pub fn weekday(day: i64) -> i64 {
    (day + 3).rem_euclid(7)
}

impl LoadProfile {
    pub fn new(role: Role, seed: u64) -> Self {
        let u = |i: u64| rng::unit(&[seed, 0x10ad, i]);
        let (base_cpu, diurnal_cpu, weekend) = match role {
            Role::Web => (0.06 + 0.06 * u(1), 0.35 + 0.2 * u(2), 0.55),
            Role::Db => (0.10 + 0.05 * u(1), 0.25 + 0.1 * u(2), 0.75),
            Role::Batch => (0.05 + 0.05 * u(1), 0.10 + 0.1 * u(2), 0.9),
            Role::Storage => (0.04 + 0.03 * u(1), 0.08 + 0.05 * u(2), 0.8),
        };
        Self {
            role,
            seed,
            base_cpu,
            diurnal_cpu,
            weekend,
            // Backups start between 00:30 and 02:30 local time and take 1–2 hours.
            backup_start_min: 30 + (120.0 * u(3)) as i64,
            backup_len_min: 60 + (60.0 * u(4)) as i64,
            job_start_min: 150 + (60.0 * u(5)) as i64,
            job_len_min: 90 + (90.0 * u(6)) as i64,
        }
    }

    /// The activity at local time `local_ms` (UTC plus the site's offset).
    pub fn activity(&self, local_ms: i64) -> Activity {
        let (day, minute) = local_day_and_minute(local_ms);
        let hour = minute as f64 / 60.0;
        // Quietest around 03:00, busiest around 15:00.
        let shape = 0.5 - 0.5 * (std::f64::consts::TAU * (hour - 3.0) / 24.0).cos();
        let weekend = if weekday(day) >= 5 { self.weekend } else { 1.0 };
        let day_part = shape * weekend;
        // Each night's backup starts within ±10 minutes of its usual time.
        let jitter =
            |stream: u64| (rng::unit(&[self.seed, stream, day as u64]) * 20.0 - 10.0) as i64;
        let backup = in_window(
            minute,
            self.backup_start_min + jitter(0xb4c),
            self.backup_len_min,
        );
        let job = self.role == Role::Batch
            && in_window(minute, self.job_start_min + jitter(0x10b), self.job_len_min);
        let mut cpu = self.base_cpu + self.diurnal_cpu * day_part;
        let mut io = 0.05 + 0.25 * day_part;
        let mut net = 0.05 + 0.6 * day_part;
        if self.role == Role::Storage {
            io += 0.15;
        }
        if backup {
            // Compression and checksumming heat the CPUs; reading everything saturates disks.
            cpu += 0.30;
            io += 0.55;
            net += 0.35;
        }
        if job {
            cpu += 0.55;
            io += 0.2;
        }
        Activity {
            cpu: cpu.clamp(0.0, 0.98),
            io: io.clamp(0.0, 0.98),
            net: net.clamp(0.0, 1.0),
            backup,
            job,
            day: shape,
        }
    }
}

/// Whether `minute` of the day falls in `[start, start + len)`, wrapping past midnight.
fn in_window(minute: i64, start: i64, len: i64) -> bool {
    let offset = (minute - start).rem_euclid(24 * 60);
    offset < len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_runs_at_night_and_raises_cpu() {
        let profile = LoadProfile::new(Role::Db, 9);
        // 2024-01-02 (a Tuesday), local time.
        let day0 = 19_724 * DAY_MS;
        let mid_backup = day0 + (profile.backup_start_min + profile.backup_len_min / 2) * MINUTE_MS;
        let before = day0 + (profile.backup_start_min - 20) * MINUTE_MS;
        let during = profile.activity(mid_backup);
        let quiet = profile.activity(before);
        assert!(during.backup && !quiet.backup);
        assert!(during.cpu > quiet.cpu + 0.2, "{during:?} {quiet:?}");
        assert!(during.io > quiet.io + 0.4);
    }

    #[test]
    fn afternoon_is_busier_than_night_and_weekdays_than_weekends() {
        let profile = LoadProfile::new(Role::Web, 3);
        let tuesday = 19_724 * DAY_MS;
        let saturday = tuesday + 4 * DAY_MS;
        assert_eq!(weekday(19_724), 1);
        assert_eq!(weekday(19_728), 5);
        let at = |day: i64, h: i64| profile.activity(day + h * 3_600_000).cpu;
        assert!(at(tuesday, 15) > at(tuesday, 4) + 0.2);
        assert!(at(tuesday, 15) > at(saturday, 15) + 0.1);
    }

    #[test]
    fn windows_wrap_midnight() {
        assert!(in_window(10, 23 * 60 + 30, 60));
        assert!(!in_window(31, 23 * 60 + 30, 60));
    }
}
