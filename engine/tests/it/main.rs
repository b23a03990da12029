//! Engine integration tests through the public API: batches in, transitions out.

mod fleet;
mod replay;
mod stories;
