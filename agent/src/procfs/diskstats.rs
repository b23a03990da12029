//! `/proc/diskstats`: per block device I/O counters.
//!
//! Lines have 14 fields (kernel < 4.18), 18 (discards, 4.18+) or 20 (flushes, 5.5+);
//! see the kernel's `Documentation/admin-guide/iostats.rst`. Sector counts are always in
//! 512-byte units there, whatever the device's real sector size.

use super::parse_u64_fields;

/// Bytes per diskstats sector, fixed by the kernel ABI.
pub const SECTOR_BYTES: u64 = 512;

/// The counters of one device line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskStats<'a> {
    pub name: &'a str,
    pub reads: u64,
    pub sectors_read: u64,
    pub read_time_ms: u64,
    pub writes: u64,
    pub sectors_written: u64,
    pub write_time_ms: u64,
    pub io_time_ms: u64,
    pub weighted_time_ms: u64,
    /// Zero on kernels before 4.18, which do not report discards.
    pub discards: u64,
}

impl DiskStats<'_> {
    /// RAM disks and loop devices mirror memory or files, not hardware; skipping them is
    /// what node_exporter's default device filter does too.
    pub fn is_virtual(&self) -> bool {
        self.name.starts_with("ram") || self.name.starts_with("loop")
    }

    /// A device that never completed an I/O (an empty CD drive, an unused zram) has
    /// nothing to report and would only add idle series.
    pub fn never_used(&self) -> bool {
        self.reads == 0 && self.writes == 0 && self.discards == 0
    }

    /// Completed operations (reads + writes), for latency.
    pub fn ops(&self) -> u64 {
        self.reads + self.writes
    }

    /// Time spent on reads and writes (ms), for latency.
    pub fn rw_time_ms(&self) -> u64 {
        self.read_time_ms + self.write_time_ms
    }
}

/// Device lines with at least the 14 classic fields; shorter or non-numeric lines
/// (the 7-field partition lines of 2.6.25-era kernels) are skipped.
pub fn parse_diskstats(text: &str) -> impl Iterator<Item = DiskStats<'_>> {
    text.lines().filter_map(|line| {
        let mut fields = line.split_ascii_whitespace();
        let (_major, _minor, name) = (fields.next()?, fields.next()?, fields.next()?);
        // reads, merged, sectors, ms, writes, merged, sectors, ms, in-flight, io ms,
        // weighted ms, then optionally discards, merged, sectors, ms, flushes, ms.
        let mut v = [0u64; 15];
        match parse_u64_fields(fields, &mut v) {
            Some(n) if n >= 11 => {}
            _ => {
                tracing::debug!(line, "skipping malformed diskstats line");
                return None;
            }
        }
        Some(DiskStats {
            name,
            reads: v[0],
            sectors_read: v[2],
            read_time_ms: v[3],
            writes: v[4],
            sectors_written: v[6],
            write_time_ms: v[7],
            io_time_ms: v[9],
            weighted_time_ms: v[10],
            discards: v[11],
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_14_18_and_20_field_lines_and_skips_short_ones() {
        let text = "   8       0 sda 10 1 200 30 20 2 400 50 0 60 80\n\
   8      16 sdb 1 0 8 1 0 0 0 0 0 1 1 5 0 40 2\n\
 259       0 nvme0n1 3 0 24 1 4 0 32 2 0 3 3 0 0 0 0 7 1\n\
   8       1 sda1 5 10 15 20\n\
   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0\n";
        let disks: Vec<_> = parse_diskstats(text).collect();
        let names: Vec<_> = disks.iter().map(|d| d.name).collect();
        assert_eq!(names, ["sda", "sdb", "nvme0n1", "loop0"]);
        let sda = disks[0];
        assert_eq!(
            (
                sda.reads,
                sda.sectors_read,
                sda.read_time_ms,
                sda.writes,
                sda.sectors_written
            ),
            (10, 200, 30, 20, 400)
        );
        assert_eq!(
            (sda.write_time_ms, sda.io_time_ms, sda.weighted_time_ms),
            (50, 60, 80)
        );
        assert_eq!(sda.discards, 0);
        assert_eq!(disks[1].discards, 5);
        assert!(disks[3].is_virtual() && disks[3].never_used());
        assert!(!disks[1].never_used(), "a discard-only device has done I/O");
    }
}
