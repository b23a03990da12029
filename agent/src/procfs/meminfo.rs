//! `/proc/meminfo`: the memory figures the agent reports, in bytes.

/// The fields we use; each is `None` when the kernel does not report it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Meminfo {
    pub total: Option<u64>,
    pub free: Option<u64>,
    pub available: Option<u64>,
    pub buffers: Option<u64>,
    pub cached: Option<u64>,
    pub swap_total: Option<u64>,
    pub swap_free: Option<u64>,
}

impl Meminfo {
    /// `MemAvailable`, or on kernels older than 3.14 (which lack it) the estimate
    /// `free` used before it existed: free + buffers + page cache.
    pub fn available_or_estimate(&self) -> Option<u64> {
        self.available
            .or_else(|| Some(self.free? + self.buffers.unwrap_or(0) + self.cached.unwrap_or(0)))
    }

    /// `1 - available / total`, when both are known and total is not zero.
    pub fn used_ratio(&self) -> Option<f64> {
        let total = self.total.filter(|&t| t > 0)?;
        let available = self.available_or_estimate()?.min(total);
        Some(1.0 - available as f64 / total as f64)
    }
}

/// Parses `Key:   value kB` lines. Values are in KiB (the kernel writes `kB`).
pub fn parse_meminfo(text: &str) -> Meminfo {
    let mut info = Meminfo::default();
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            tracing::debug!(line, "skipping malformed meminfo line");
            continue;
        };
        let slot = match key {
            "MemTotal" => &mut info.total,
            "MemFree" => &mut info.free,
            "MemAvailable" => &mut info.available,
            "Buffers" => &mut info.buffers,
            "Cached" => &mut info.cached,
            "SwapTotal" => &mut info.swap_total,
            "SwapFree" => &mut info.swap_free,
            _ => continue,
        };
        let mut fields = rest.split_ascii_whitespace();
        let value = fields.next().and_then(|v| v.parse::<u64>().ok());
        let scale = match fields.next() {
            Some("kB") => 1024,
            None => 1,
            Some(_) => {
                tracing::debug!(line, "skipping meminfo line with an unknown unit");
                continue;
            }
        };
        match value.and_then(|v| v.checked_mul(scale)) {
            Some(bytes) => *slot = Some(bytes),
            None => tracing::debug!(line, "skipping malformed meminfo line"),
        }
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kib_values_into_bytes() {
        let info = parse_meminfo(
            "MemTotal:       16000 kB\nMemFree:  1000 kB\nMemAvailable:    4000 kB\n\
             Buffers: 10 kB\nCached:          2000 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n\
             HugePages_Total:       0\nbroken line\nActive: x kB\n",
        );
        assert_eq!(info.total, Some(16_000 * 1024));
        assert_eq!(info.available, Some(4_000 * 1024));
        assert_eq!(info.cached, Some(2_000 * 1024));
        assert_eq!(info.swap_total, Some(0));
        let ratio = info.used_ratio().expect("total and available known");
        assert!((ratio - 0.75).abs() < 1e-12, "{ratio}");
    }

    #[test]
    fn estimates_available_on_old_kernels() {
        let info =
            parse_meminfo("MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 250 kB\n");
        assert_eq!(info.available, None);
        assert_eq!(info.available_or_estimate(), Some(400 * 1024));
        let ratio = info.used_ratio().expect("estimate");
        assert!((ratio - 0.6).abs() < 1e-12, "{ratio}");
        assert_eq!(parse_meminfo("").used_ratio(), None);
    }
}
