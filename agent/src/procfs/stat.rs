//! `/proc/stat`: CPU time per mode (total and per core) and the boot time.

use super::parse_u64_fields;

/// Clock ticks per second of the `/proc/stat` counters. The kernel reports them in
/// `USER_HZ`, which is 100 on every Linux architecture we ship for; reading it through
/// `sysconf(_SC_CLK_TCK)` would need `unsafe` for a constant.
pub const USER_HZ: f64 = 100.0;

/// Ticks spent in each mode since boot. `user`/`nice` include guest time, as in the kernel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTimes {
    pub user: u64,
    pub nice: u64,
    pub system: u64,
    pub idle: u64,
    pub iowait: u64,
    pub irq: u64,
    pub softirq: u64,
    pub steal: u64,
}

impl CpuTimes {
    /// Mode names, in the order of [`CpuTimes::ticks`], as sent in the `mode` label.
    pub const MODES: [&'static str; 8] = [
        "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
    ];

    pub fn ticks(&self) -> [u64; 8] {
        [
            self.user,
            self.nice,
            self.system,
            self.idle,
            self.iowait,
            self.irq,
            self.softirq,
            self.steal,
        ]
    }

    pub fn total(&self) -> u64 {
        self.ticks().iter().sum()
    }

    /// Ticks in which the CPU could have run work. I/O wait counts as idle: the CPU was
    /// free, only some task was blocked; the `iowait` mode counter still shows it apart.
    pub fn idle_ticks(&self) -> u64 {
        self.idle + self.iowait
    }

    /// Fraction of the time between `earlier` and `self` spent not idle, or `None` when
    /// no time passed or the counters went backwards (a reboot or a hot-unplugged core).
    pub fn busy_ratio_since(&self, earlier: &CpuTimes) -> Option<f64> {
        let total = self.total().checked_sub(earlier.total())?;
        let idle = self.idle_ticks().checked_sub(earlier.idle_ticks())?;
        if total == 0 || idle > total {
            return None;
        }
        Some((total - idle) as f64 / total as f64)
    }
}

/// One useful line of `/proc/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatLine<'a> {
    /// `cpu` (all cores, `core == None`) or `cpuN` (`core == Some("N")`).
    Cpu {
        core: Option<&'a str>,
        times: CpuTimes,
    },
    /// `btime`: boot time in seconds since the Unix epoch.
    BootTime(u64),
}

/// The `cpu*` and `btime` lines of `/proc/stat`; other lines are ignored.
pub fn parse_stat(text: &str) -> impl Iterator<Item = StatLine<'_>> {
    text.lines().filter_map(|line| {
        let mut fields = line.split_ascii_whitespace();
        let key = fields.next()?;
        if key == "btime" {
            let parsed = fields.next().and_then(|v| v.parse().ok());
            if parsed.is_none() {
                tracing::debug!(line, "skipping malformed btime line in stat");
            }
            return parsed.map(StatLine::BootTime);
        }
        let suffix = key.strip_prefix("cpu")?;
        let core = match suffix {
            "" => None,
            n if n.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return None,
        };
        // Kernels before 2.6.11 have no steal column; fewer than four is malformed.
        let mut ticks = [0u64; 8];
        match parse_u64_fields(fields, &mut ticks) {
            Some(n) if n >= 4 => {}
            _ => {
                tracing::debug!(line, "skipping malformed cpu line in stat");
                return None;
            }
        }
        let [user, nice, system, idle, iowait, irq, softirq, steal] = ticks;
        Some(StatLine::Cpu {
            core,
            times: CpuTimes {
                user,
                nice,
                system,
                idle,
                iowait,
                irq,
                softirq,
                steal,
            },
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "cpu  100 2 30 500 7 1 2 3 9 9\n\
cpu0 60 1 20 200 3 1 1 2 0 0\n\
cpu1 40 1 10 300 4 0 1 1 0 0\n\
cpux 1 2 3 4\n\
cpu2 1 2\n\
intr 1 2 3\n\
btime 1418183276\n\
procs_running 2\n";

    #[test]
    fn parses_total_cores_and_btime() {
        let lines: Vec<_> = parse_stat(SAMPLE).collect();
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert_eq!(
            lines[0],
            StatLine::Cpu {
                core: None,
                times: CpuTimes {
                    user: 100,
                    nice: 2,
                    system: 30,
                    idle: 500,
                    iowait: 7,
                    irq: 1,
                    softirq: 2,
                    steal: 3
                }
            }
        );
        assert!(matches!(lines[1], StatLine::Cpu { core: Some("0"), times } if times.user == 60));
        assert!(matches!(lines[2], StatLine::Cpu { core: Some("1"), times } if times.idle == 300));
        assert_eq!(lines[3], StatLine::BootTime(1_418_183_276));
    }

    #[test]
    fn old_kernels_without_steal_parse_with_zeros() {
        let lines: Vec<_> = parse_stat("cpu 1 2 3 4\n").collect();
        assert!(
            matches!(lines[0], StatLine::Cpu { times, .. } if times.idle == 4 && times.steal == 0)
        );
    }

    #[test]
    fn busy_ratio_counts_iowait_as_idle() {
        let a = CpuTimes {
            user: 100,
            idle: 100,
            ..CpuTimes::default()
        };
        let b = CpuTimes {
            user: 130,
            idle: 160,
            iowait: 10,
            ..CpuTimes::default()
        };
        // 100 ticks passed: 30 user, 70 idle-or-iowait.
        let ratio = b.busy_ratio_since(&a).expect("time passed");
        assert!((ratio - 0.3).abs() < 1e-12, "{ratio}");
        assert_eq!(a.busy_ratio_since(&a), None);
        assert_eq!(a.busy_ratio_since(&b), None, "counters went backwards");
    }
}
