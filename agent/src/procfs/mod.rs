//! Parsers for the procfs (and a few `/etc`) text files the agent reads.
//!
//! Each parser is a pure function over the file's text, so it is tested on small
//! strings and on real captures alike. Parsers borrow from the text instead of
//! allocating per line: the system collector runs them every cycle. A malformed line is
//! skipped with a debug log; a file that yields nothing usable is the caller's concern.

pub mod cpuinfo;
pub mod diskstats;
pub mod loadavg;
pub mod meminfo;
pub mod mounts;
pub mod net_dev;
pub mod os_release;
pub mod stat;
pub mod uptime;

/// Parses the whitespace-separated numeric fields of `line` into `out`, returning how
/// many were read, or `None` when a field is not an unsigned integer.
pub(crate) fn parse_u64_fields<'a>(
    fields: impl Iterator<Item = &'a str>,
    out: &mut [u64],
) -> Option<usize> {
    let mut count = 0;
    for (slot, field) in out.iter_mut().zip(fields) {
        *slot = field.parse().ok()?;
        count += 1;
    }
    Some(count)
}
