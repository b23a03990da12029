//! Batch sequence numbers that survive restarts.
//!
//! `(host_id, seq)` is the collector's idempotency key: reusing a number would make the
//! collector discard a new batch as a duplicate. So each number is persisted (temp file,
//! fsync, rename, fsync of the directory) before the batch carrying it is first sent.
//! With no state file, numbering starts at the current Unix time in milliseconds: an
//! agent assigns one number per interval (seconds), far slower than the clock advances,
//! so a wiped state directory never reuses a number.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

const FILE_NAME: &str = "seq";

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

/// The persisted last-assigned sequence number.
#[derive(Debug)]
pub struct SeqStore {
    dir: PathBuf,
    path: PathBuf,
    last: u64,
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
        })
    }

    /// The last number assigned (or the starting point minus one).
    pub fn last(&self) -> u64 {
        self.last
    }

    /// Assigns the next number, persisting it before returning it. On error nothing is
    /// assigned and the same number is tried again next time.
    pub fn assign_next(&mut self) -> Result<u64, SeqError> {
        let next = self
            .last
            .checked_add(1)
            .ok_or_else(|| SeqError::Exhausted {
                path: self.path.clone(),
            })?;
        self.persist(next).map_err(|source| SeqError::Write {
            path: self.path.clone(),
            source,
        })?;
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

        let mut reopened = SeqStore::open(dir.path()).expect("reopen");
        assert_eq!(reopened.last(), second);
        assert_eq!(reopened.assign_next().expect("next"), second + 1);
        let on_disk = fs::read_to_string(dir.path().join("seq")).expect("read");
        assert_eq!(on_disk.trim(), (second + 1).to_string());
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
