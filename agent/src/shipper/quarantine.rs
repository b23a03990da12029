//! The quarantine: batches a collector refused for good (4xx other than 408/429), kept
//! on disk with the collector's reason so an operator can inspect or replay them, and
//! never retried automatically. Bounded: the oldest are deleted beyond [`KEEP`].

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// How many refused batches are kept.
pub const KEEP: usize = 64;

/// The quarantine directory.
#[derive(Debug)]
pub struct Quarantine {
    dir: PathBuf,
}

impl Quarantine {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stores the exact body sent (zstd JSON, replayable with curl) and the reason,
    /// then trims the directory. Returns the body's path.
    pub fn store(&self, seq: u64, body: &[u8], reason: &str) -> io::Result<PathBuf> {
        fs::create_dir_all(&self.dir)?;
        let stem = format!("{seq:020}");
        let path = self.dir.join(format!("{stem}.json.zst"));
        fs::write(&path, body)?;
        fs::write(
            self.dir.join(format!("{stem}.reason")),
            format!("{reason}\n"),
        )?;
        self.trim()?;
        Ok(path)
    }

    fn trim(&self) -> io::Result<()> {
        let mut stems: Vec<String> = fs::read_dir(&self.dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".json.zst"))
                    .map(str::to_owned)
            })
            .collect();
        stems.sort();
        let excess = stems.len().saturating_sub(KEEP);
        for stem in &stems[..excess] {
            for suffix in [".json.zst", ".reason"] {
                let path = self.dir.join(format!("{stem}{suffix}"));
                if let Err(err) = fs::remove_file(&path) {
                    tracing::debug!(path = %path.display(), error = %err, "cannot trim quarantine");
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_body_and_reason_and_trims_the_oldest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let q = Quarantine::new(dir.path().join("quarantine"));
        for seq in 0..(KEEP as u64 + 3) {
            q.store(seq, b"body", "bad_json: nope").expect("store");
        }
        let count = fs::read_dir(q.dir()).expect("dir").count();
        assert_eq!(count, 2 * KEEP);
        assert!(!q.dir().join(format!("{:020}.json.zst", 2)).exists());
        let last = format!("{:020}", KEEP as u64 + 2);
        let reason = fs::read_to_string(q.dir().join(format!("{last}.reason"))).expect("reason");
        assert_eq!(reason, "bad_json: nope\n");
    }
}
