//! The agent's one integration-test binary: the real `harbinger-agent` executable on
//! fixture trees, the shipper against a real HTTP server on 127.0.0.1, and conformance
//! against the shared corpus of real procfs captures.

mod check;
mod common;
mod conformance;
mod edac;
mod http_stub;
mod hwmon;
mod inventory;
mod ipmi_corpus;
mod ipmi_sim;
mod ipmi_tool;
mod kernel;
mod once;
mod reboot;
mod run;
mod shipper;
mod smart;
mod spool_crash;
mod spool_sample_config;
