//! Batch sequence numbers that survive restarts.
//!
//! `(host_id, seq)` is the collector's idempotency key: reusing a number would make the
//! collector discard a new batch as a duplicate. So no number is handed out before it
//! is covered by the persisted file (temp file, fsync, rename, fsync of the directory).
//! The file holds a *reservation*: the highest number this agent may have used. Numbers
//! are reserved [`RESERVE`] at a time, so the file is rewritten once per `RESERVE`
//! batches instead of once per batch (two fsyncs per 10 s cycle were a good part of the
//! agent's CPU budget). A restart continues above the reservation, skipping the unused
//! rest of it: the collector needs numbers to be unique, not contiguous.
//!
//! With no state file, numbering starts at the current Unix time in milliseconds: an
//! agent uses at most one number per interval (≥ 10 ms), slower than the clock
//! advances, and a reservation never reaches past the current time (it shrinks to the
//! single next number when the count has caught up with the clock, e.g. in a crash
//! loop), so every number ever used is at most the clock reading of its time and a
//! wiped state directory never reuses one.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

const FILE_NAME: &str = "seq";

/// How many numbers one write of the file reserves.
pub const RESERVE: u64 = 512;

/// Why the sequence state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SeqError {
    #[error("cannot create state directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read sequence file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot persist sequence number to {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("sequence numbers exhausted in {path}")]
    Exhausted { path: PathBuf },
}

/// Sequence numbers, reserved on disk ahead of use.
#[derive(Debug)]
pub struct SeqStore {
    dir: PathBuf,
    path: PathBuf,
    last: u64,
    /// The highest number the file covers; `last` never passes it.
    reserved: u64,
}

impl SeqStore {
    /// Opens (creating the directory if needed) the state in `state_dir`.
    pub fn open(state_dir: &Path) -> Result<Self, SeqError> {
        fs::create_dir_all(state_dir).map_err(|source| SeqError::CreateDir {
            path: state_dir.to_owned(),
            source,
        })?;
        let path = state_dir.join(FILE_NAME);
        let last = match fs::read_to_string(&path) {
            Ok(text) => match text.trim().parse::<u64>() {
                Ok(last) => last,
                Err(_) => {
                    let start = now_ms().saturating_sub(1);
                    tracing::warn!(path = %path.display(), content = text.trim(), start = start + 1,
                        "sequence file is corrupt; continuing from the current time");
                    start
                }
            },
            Err(err) if err.kind() == io::ErrorKind::NotFound => now_ms().saturating_sub(1),
            Err(source) => return Err(SeqError::Read { path, source }),
        };
        Ok(Self {
            dir: state_dir.to_owned(),
            path,
            last,
            reserved: last,
        })
    }

    /// The last number assigned (or the starting point minus one).
    pub fn last(&self) -> u64 {
        self.last
    }

    /// Assigns the next number; when it is beyond the reservation, first persists a new
    /// one. On error nothing is assigned and the same number is tried again next time.
    pub fn assign_next(&mut self) -> Result<u64, SeqError> {
        let next = self
            .last
            .checked_add(1)
            .ok_or_else(|| SeqError::Exhausted {
                path: self.path.clone(),
            })?;
        if next > self.reserved {
            let reserve = next.saturating_add(RESERVE - 1).min(now_ms()).max(next);
            self.persist(reserve).map_err(|source| SeqError::Write {
                path: self.path.clone(),
                source,
            })?;
            tracing::debug!(path = %self.path.display(), reserved = reserve, "sequence numbers reserved");
            self.reserved = reserve;
        }
        self.last = next;
        Ok(next)
    }

    fn persist(&self, value: u64) -> io::Result<()> {
        let tmp = self.dir.join(format!("{FILE_NAME}.tmp"));
        let mut file = File::create(&tmp)?;
        writeln!(file, "{value}")?;
        file.sync_all()?;
        fs::rename(&tmp, &self.path)?;
        // The rename is durable only once the directory entry is.
        File::open(&self.dir)?.sync_all()
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_from_the_clock_and_survives_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let before = now_ms();
        let mut store = SeqStore::open(dir.path()).expect("open");
        let first = store.assign_next().expect("next");
        assert!(first >= before, "{first} < {before}");
        let second = store.assign_next().expect("next");
        assert_eq!(second, first + 1);
        drop(store);

        // The file holds the reservation, so a restart continues above every number
        // the previous run could have used.
        let reserved: u64 = fs::read_to_string(dir.path().join("seq"))
            .expect("read")
            .trim()
            .parse()
            .expect("number");
        assert!(reserved >= second, "{reserved} does not cover {second}");
        assert!(reserved <= now_ms(), "a reservation never passes the clock");
        let mut reopened = SeqStore::open(dir.path()).expect("reopen");
        assert_eq!(reopened.last(), reserved);
        assert_eq!(reopened.assign_next().expect("next"), reserved + 1);
    }

    #[test]
    fn a_count_ahead_of_the_clock_reserves_one_number_at_a_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ahead = now_ms() + 3_600_000;
        fs::write(dir.path().join("seq"), format!("{ahead}\n")).expect("write");
        let mut store = SeqStore::open(dir.path()).expect("open");
        for n in 1..=3 {
            assert_eq!(store.assign_next().expect("next"), ahead + n);
            let on_disk = fs::read_to_string(dir.path().join("seq")).expect("read");
            assert_eq!(on_disk.trim(), (ahead + n).to_string());
        }
    }

    #[test]
    fn the_file_is_rewritten_once_per_reservation() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join("seq"), "100\n").expect("write");
        let mut store = SeqStore::open(dir.path()).expect("open");
        let path = dir.path().join("seq");
        for expected in 101..101 + RESERVE {
            assert_eq!(store.assign_next().expect("next"), expected);
            let on_disk: u64 = fs::read_to_string(&path)
                .expect("read")
                .trim()
                .parse()
                .expect("number");
            assert_eq!(on_disk, 100 + RESERVE, "covers every number handed out");
        }
        assert_eq!(store.assign_next().expect("next"), 101 + RESERVE);
        let on_disk = fs::read_to_string(&path).expect("read");
        assert_eq!(on_disk.trim(), (100 + 2 * RESERVE).to_string());
    }

    #[test]
    fn continues_from_a_persisted_value() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join("seq"), "41\n").expect("write");
        let mut store = SeqStore::open(dir.path()).expect("open");
        assert_eq!(store.assign_next().expect("next"), 42);
    }

    #[test]
    fn corrupt_file_restarts_from_the_clock() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join("seq"), "garbage").expect("write");
        let before = now_ms();
        let mut store = SeqStore::open(dir.path()).expect("open");
        assert!(store.assign_next().expect("next") >= before);
    }

    #[test]
    fn unwritable_state_names_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blocker = dir.path().join("file");
        fs::write(&blocker, "x").expect("write");
        let err = SeqStore::open(&blocker.join("state")).expect_err("parent is a file");
        assert!(err.to_string().contains("state"), "{err}");
    }
}
