//! Batches as JSON lines: one `Batch` per line, the format `generate` writes and tools read.

use harbinger_shared::Batch;
use std::io::{BufRead, Write};

/// Why writing or reading a JSON-lines stream failed.
#[derive(Debug, thiserror::Error)]
pub enum JsonlError {
    #[error("cannot write batch {index}: {source}")]
    Write {
        index: u64,
        #[source]
        source: std::io::Error,
    },
    #[error("line {line}: {source}")]
    Read {
        line: u64,
        #[source]
        source: std::io::Error,
    },
    #[error("line {line}: not a batch: {source}")]
    Parse {
        line: u64,
        #[source]
        source: serde_json::Error,
    },
}

/// What was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    pub batches: u64,
    pub samples: u64,
    pub events: u64,
}

/// Writes every batch as one JSON line.
pub fn write<W: Write>(
    batches: impl Iterator<Item = Batch>,
    mut out: W,
) -> Result<Written, JsonlError> {
    let mut written = Written::default();
    for batch in batches {
        let index = written.batches;
        let fail = |source| JsonlError::Write { index, source };
        serde_json::to_writer(&mut out, &batch).map_err(|e| fail(e.into()))?;
        out.write_all(b"\n").map_err(fail)?;
        written.batches += 1;
        written.samples += batch.sample_count() as u64;
        written.events += batch.events.len() as u64;
    }
    out.flush().map_err(|source| JsonlError::Write {
        index: written.batches,
        source,
    })?;
    Ok(written)
}

/// Reads batches back, one per line, naming the line of the first bad one.
pub fn read<R: BufRead>(input: R) -> impl Iterator<Item = Result<Batch, JsonlError>> {
    input.lines().enumerate().filter_map(|(i, line)| {
        let line_no = i as u64 + 1;
        match line {
            Err(source) => Some(Err(JsonlError::Read {
                line: line_no,
                source,
            })),
            Ok(text) if text.trim().is_empty() => None,
            Ok(text) => Some(
                serde_json::from_str(&text).map_err(|source| JsonlError::Parse {
                    line: line_no,
                    source,
                }),
            ),
        }
    })
}
