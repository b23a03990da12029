//! `/dev/kmsg` records: parsing the `PRI,SEQ,TS_USEC,FLAGS;message` format and a
//! non-blocking reader that returns what is available and never waits.
//!
//! On `/dev/kmsg` every `read(2)` returns exactly one record (plus its ` KEY=value`
//! continuation lines); a regular file standing in for it in tests returns many at
//! once, so the reader splits on newlines and keeps an incomplete tail for later.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Kernel log facility (`LOG_KERN`); anything else was written by user space into
/// /dev/kmsg and is not a kernel report.
pub const FACILITY_KERNEL: u8 = 0;

/// One kernel log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    pub facility: u8,
    /// Syslog level: 0 emerg … 7 debug.
    pub level: u8,
    pub seq: u64,
    /// Microseconds since boot (monotonic clock).
    pub ts_usec: u64,
    pub message: &'a str,
}

/// Parses one record header line; `None` for a malformed line or a continuation line.
pub fn parse_record(line: &str) -> Option<Record<'_>> {
    if line.starts_with(' ') {
        return None;
    }
    let (header, message) = line.split_once(';')?;
    let mut fields = header.split(',');
    let pri: u32 = fields.next()?.trim().parse().ok()?;
    let seq = fields.next()?.trim().parse().ok()?;
    let ts_usec = fields.next()?.trim().parse().ok()?;
    Some(Record {
        facility: u8::try_from(pri >> 3).ok()?,
        level: u8::try_from(pri & 7).ok()?,
        seq,
        ts_usec,
        message: message.trim_end(),
    })
}

/// Reads records without blocking, from where the last read stopped.
pub struct KmsgReader {
    path: PathBuf,
    file: File,
    pending: Vec<u8>,
    buf: Box<[u8]>,
}

impl KmsgReader {
    /// Opens `path` non-blocking, positioned at the oldest record still in the ring
    /// buffer (the caller skips what it already reported by sequence number).
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)?;
        Ok(Self {
            path: path.to_owned(),
            file,
            pending: Vec::new(),
            // A record is at most about 1 KiB of text plus its dictionary; the kernel
            // refuses reads into a buffer too small for the next record.
            buf: vec![0; 16 * 1024].into_boxed_slice(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Calls `each` with every complete line available now, up to `max_lines`, and
    /// returns how many records were lost because the ring buffer overwrote them
    /// (counted once per overrun) .
    pub fn read_available(
        &mut self,
        max_lines: usize,
        mut each: impl FnMut(&str),
    ) -> std::io::Result<u64> {
        let mut lines = 0;
        let mut overruns = 0;
        while lines < max_lines {
            match self.file.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => {
                    self.pending.extend_from_slice(&self.buf[..n]);
                    let mut start = 0;
                    while let Some(end) = self.pending[start..].iter().position(|b| *b == b'\n') {
                        let line = String::from_utf8_lossy(&self.pending[start..start + end]);
                        each(&line);
                        lines += 1;
                        start += end + 1;
                    }
                    self.pending.drain(..start);
                }
                Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == ErrorKind::Interrupted => continue,
                // EPIPE: records were overwritten before we read them; the next read
                // continues with the oldest remaining one.
                Err(err) if err.kind() == ErrorKind::BrokenPipe => overruns += 1,
                Err(err) => return Err(err),
            }
        }
        Ok(overruns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_headers_and_skips_continuations() {
        let record =
            parse_record("3,1234,5678901,-;EXT4-fs error (device sda1): oops").expect("record");
        assert_eq!(record.facility, 0);
        assert_eq!(record.level, 3);
        assert_eq!(record.seq, 1234);
        assert_eq!(record.ts_usec, 5_678_901);
        assert_eq!(record.message, "EXT4-fs error (device sda1): oops");
        let user = parse_record("14,5,6,-;hello from user space").expect("record");
        assert_eq!(user.facility, 1);
        assert_eq!(parse_record(" SUBSYSTEM=scsi"), None);
        assert_eq!(parse_record("garbage"), None);
        assert_eq!(parse_record("x,1,2;msg"), None);
    }

    #[test]
    fn reads_a_file_in_pieces_without_blocking() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("kmsg");
        std::fs::write(&path, "6,1,10,-;one\n SUBSYSTEM=x\n6,2,20,-;tw").expect("write");
        let mut reader = KmsgReader::open(&path).expect("open");
        let mut seen = Vec::new();
        reader
            .read_available(100, |l| seen.push(l.to_owned()))
            .expect("read");
        assert_eq!(seen, ["6,1,10,-;one", " SUBSYSTEM=x"]);
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("append");
        std::io::Write::write_all(&mut file, b"o\n").expect("write");
        seen.clear();
        reader
            .read_available(100, |l| seen.push(l.to_owned()))
            .expect("read");
        assert_eq!(seen, ["6,2,20,-;two"], "the incomplete tail was kept");
    }
}
