//! The simulator's integration tests: one binary, one module per area.

mod cli;
mod common;
mod evaluate;
mod generator;
mod truth;
