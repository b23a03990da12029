//! Harbinger's analysis engine: turns telemetry into early, explainable, rarely-wrong
//! incidents. Pure and event-time driven: no I/O, no async runtime, no wall clock — the
//! same input always gives the same output, byte for byte, which makes replays and
//! backtests meaningful (DESIGN.md §3, principles 2–4).
//!
//! # API
//!
//! ```text
//! Engine::new(RulePack)                      a fresh engine
//! engine.feed(&Batch)      -> Vec<Transition>  one host batch: samples, events, inventory
//! engine.advance(watermark_ms) -> Vec<Transition>  event time passes: windows close,
//!                                               evidence expires, hysteresis resolves,
//!                                               silent hosts are found
//! engine.record_outcome(Outcome)             a failure (or "no fault") from outside
//! engine.set_maintenance(Vec<MaintenanceWindow>)
//! engine.snapshot()        -> Snapshot (serde) and Engine::restore(RulePack, Snapshot)
//! ```
//!
//! The collector calls `feed` for every accepted batch in ingest order and `advance`
//! periodically with an event-time watermark (for example the newest sample time seen,
//! or wall time when it drives liveness), stores the returned [`Transition`]s as incident
//! changes (open / update / resolve, keyed by `dedup_key`, with `revision`), and stores
//! [`Snapshot`]s so a restart continues where it left off. A snapshot's floats must
//! round-trip exactly (serde_json needs its `float_roundtrip` feature).
//!
//! # Pipeline
//!
//! 1. Detectors ([`detect`]) emit [`Signal`]s per component: hard conditions (rules
//!    `hard`, `events`), counter levels and growth (`counters`), rates over sliding
//!    windows (`rates`), seasonal baselines (`baselines`), peer groups (`peers`),
//!    multivariate k-means (`multivariate`), trends to threshold (`trends`), liveness.
//! 2. Signals join per-component health cases ([`case`]); each case's evidence is
//!    scored as log-odds: the prior for the component kind plus, per signal, strength ×
//!    ln(likelihood ratio) — or a weight learnt from outcomes ([`learn`]).
//! 3. Risk opens, updates and resolves (with hysteresis) incidents; the same grouped
//!    signal on many hosts of one rack/chassis/PDU/site becomes one place incident.
//! 4. Maintenance windows suppress opening, make reboots planned and keep planned work
//!    out of learning; a serial change resolves the old part's case and restarts its
//!    baselines.
//!
//! The metric names the rules expect are in [`names`]; the rules themselves are data in
//! `engine/rules/default.toml` ([`rules`]).

pub mod case;
pub mod detect;
mod engine;
pub mod learn;
pub mod maintenance;
pub mod names;
pub mod rules;
pub mod signal;
mod state;
pub mod transition;

pub use detect::baseline::BaselineView;
pub use engine::{Engine, RestoreError, Snapshot, SNAPSHOT_FORMAT};
pub use learn::{Outcome, OutcomeKind, OutcomeRecord, Precursor, RuleStats};
pub use maintenance::MaintenanceWindow;
pub use rules::{AuditEntry, RuleError, RulePack};
pub use signal::{Detector, Signal, SignalExplanation, TimeToThreshold};
pub use transition::{Action, Contribution, Explanation, Place, TimeToFailure, Transition};
