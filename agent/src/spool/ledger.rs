//! The spool ledger: per lane the highest record id that will never be sent again
//! (acknowledged, quarantined or dropped) and the highest written, plus the batch in
//! flight, so that after a crash the same records are resent under the same sequence
//! number. Written atomically (temp file, fsync, rename, fsync of the directory) as a
//! few `key=value` lines an operator can read.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

const FILE_NAME: &str = "ledger";
const VERSION: &str = "1";

/// The batch handed to the collector and not yet acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InFlight {
    pub seq: u64,
    /// Per lane, the last record id the batch covers (records after the lane's
    /// `acked` up to this id).
    pub ends: [u64; 2],
}

/// Everything the ledger holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LedgerState {
    pub acked: [u64; 2],
    pub written: [u64; 2],
    pub in_flight: Option<InFlight>,
    /// Records dropped or shed over the spool's life, for `/metrics`.
    pub dropped_total: u64,
}

/// Why the ledger could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("cannot read spool ledger {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("spool ledger {path} is corrupt: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("cannot write spool ledger {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The ledger file of one spool directory.
#[derive(Debug)]
pub struct Ledger {
    dir: PathBuf,
    path: PathBuf,
}

impl Ledger {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            path: dir.join(FILE_NAME),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored state; a missing file is a fresh spool.
    pub fn load(&self) -> Result<LedgerState, LedgerError> {
        match fs::read_to_string(&self.path) {
            Ok(text) => parse(&text).map_err(|message| LedgerError::Corrupt {
                path: self.path.clone(),
                message,
            }),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(LedgerState::default()),
            Err(source) => Err(LedgerError::Read {
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// Replaces the stored state atomically.
    pub fn store(&self, state: &LedgerState, sync: bool) -> Result<(), LedgerError> {
        self.write(&render(state), sync)
            .map_err(|source| LedgerError::Write {
                path: self.path.clone(),
                source,
            })
    }

    fn write(&self, text: &str, sync: bool) -> io::Result<()> {
        let tmp = self.dir.join(format!("{FILE_NAME}.tmp"));
        let mut file = File::create(&tmp)?;
        file.write_all(text.as_bytes())?;
        if sync {
            file.sync_all()?;
        }
        fs::rename(&tmp, &self.path)?;
        if sync {
            // The rename is durable only once the directory entry is.
            File::open(&self.dir)?.sync_all()?;
        }
        Ok(())
    }
}

fn render(state: &LedgerState) -> String {
    let mut text = format!(
        "version={VERSION}\ncritical.acked={}\ncritical.written={}\nbulk.acked={}\nbulk.written={}\ndropped_total={}\n",
        state.acked[0], state.written[0], state.acked[1], state.written[1], state.dropped_total
    );
    if let Some(flight) = state.in_flight {
        text.push_str(&format!(
            "inflight.seq={}\ninflight.critical={}\ninflight.bulk={}\n",
            flight.seq, flight.ends[0], flight.ends[1]
        ));
    }
    text
}

fn parse(text: &str) -> Result<LedgerState, String> {
    let mut state = LedgerState::default();
    let mut version = None;
    let (mut seq, mut ends) = (None, [None, None]);
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| format!("line {}: expected key=value, got {line:?}", n + 1))?;
        if key == "version" {
            version = Some(value.to_owned());
            continue;
        }
        let number: u64 = value
            .parse()
            .map_err(|_| format!("line {}: {key} is not a number: {value:?}", n + 1))?;
        match key {
            "critical.acked" => state.acked[0] = number,
            "critical.written" => state.written[0] = number,
            "bulk.acked" => state.acked[1] = number,
            "bulk.written" => state.written[1] = number,
            "dropped_total" => state.dropped_total = number,
            "inflight.seq" => seq = Some(number),
            "inflight.critical" => ends[0] = Some(number),
            "inflight.bulk" => ends[1] = Some(number),
            other => return Err(format!("line {}: unknown key {other:?}", n + 1)),
        }
    }
    match version.as_deref() {
        Some(VERSION) => {}
        Some(other) => return Err(format!("unsupported version {other:?}")),
        None => return Err("no version line (torn write?)".into()),
    }
    state.in_flight = match (seq, ends) {
        (Some(seq), [Some(critical), Some(bulk)]) => Some(InFlight {
            seq,
            ends: [critical, bulk],
        }),
        (None, [None, None]) => None,
        _ => return Err("incomplete inflight entry".into()),
    };
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_and_without_a_batch_in_flight() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = Ledger::new(dir.path());
        assert_eq!(ledger.load().expect("fresh"), LedgerState::default());
        let mut state = LedgerState {
            acked: [3, 9],
            written: [4, 12],
            in_flight: Some(InFlight {
                seq: 77,
                ends: [4, 11],
            }),
            dropped_total: 5,
        };
        ledger.store(&state, true).expect("store");
        assert_eq!(ledger.load().expect("load"), state);
        state.in_flight = None;
        ledger.store(&state, false).expect("store");
        assert_eq!(ledger.load().expect("load"), state);
    }

    #[test]
    fn corruption_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = Ledger::new(dir.path());
        for (text, needle) in [
            ("version=1\nbulk.acked=x\n", "bulk.acked"),
            ("bulk.acked=1\n", "version"),
            ("version=1\ninflight.seq=4\n", "inflight"),
            ("version=1\nmystery=1\n", "mystery"),
        ] {
            fs::write(ledger.path(), text).expect("write");
            let err = ledger.load().expect_err(text);
            assert!(err.to_string().contains(needle), "{err}");
            assert!(err.to_string().contains("ledger"), "{err}");
        }
    }
}
