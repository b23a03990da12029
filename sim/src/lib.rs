//! Harbinger's fleet simulator: realistic agent batches with injected failures.
//!
//! [`Fleet::new`] plans a run from a [`FleetSpec`] (hosts, racks, sites, hardware
//! models, span, interval, failure rates, seed) and then yields [`harbinger_shared::Batch`]
//! values in event-time order, exactly as agents would send them, while
//! [`Fleet::truth`] tells what was injected ([`GroundTruth`]): failures with the time of
//! their first observable precursor, planned work, and benign decoys.
//!
//! Everything is deterministic: the same spec gives the same bytes, because all
//! randomness comes from a seeded SplitMix64 ([`rng`]) and nothing reads the clock.
//! Generation streams: only each host's current state is held, never its history.
//! Hardware metric and event names live in [`names`], in one place.
//!
//! The library has no async or network code; the `harbinger-sim` binary adds
//! `generate` (JSON lines, optionally zstd), `replay` (POST through the real ingest path)
//! and `evaluate` ([`eval`]: Harbinger's engine against two reference detectors).

pub mod eval;
pub mod extras;
pub mod generator;
pub mod hardware;
mod host;
pub mod jsonl;
pub mod load;
pub mod names;
pub mod plan;
mod registry;
pub mod rng;
pub mod spec;
pub mod trajectory;
pub mod truth;

pub use generator::Fleet;
pub use spec::{FailureRates, FleetSpec, PlannedRates, SpecError};
pub use truth::{
    Decoy, DecoyKind, GroundTruth, HostInfo, Outcome, OutcomeKind, Pace, PlannedKind, PlannedWork,
};
