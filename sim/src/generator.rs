//! The fleet generator: every host's batches, interleaved in event-time order.
//!
//! Batches come window by window (a window is `batch_intervals` collection intervals)
//! and, within a window, host by host in order of their phase, so batch start times
//! never go backwards. Only the current state of each host is kept: memory is bounded
//! by the fleet size, not by the simulated span.

use crate::host::HostSim;
use crate::plan::{self, Clock};
use crate::spec::{FleetSpec, SpecError};
use crate::truth::GroundTruth;
use harbinger_shared::Batch;

/// A simulated fleet; iterate it to get its batches.
#[derive(Debug, Clone)]
pub struct Fleet {
    clock: Clock,
    truth: GroundTruth,
    /// Sorted by phase.
    hosts: Vec<HostSim>,
    batch_intervals: u64,
    window: u64,
    cursor: usize,
}

impl Fleet {
    /// Validates the spec and plans the run; no batch is generated yet.
    pub fn new(spec: &FleetSpec) -> Result<Self, SpecError> {
        spec.validate()?;
        let clock = Clock::new(spec);
        let (plans, truth) = plan::plan(spec, &clock);
        let mut hosts = plans
            .into_iter()
            .map(|p| {
                HostSim::new(p, clock, spec.seed, spec.series_per_host).map_err(|message| {
                    SpecError::Invalid {
                        key: "fleet.series_per_host",
                        message: message
                            .trim_start_matches("fleet.series_per_host: ")
                            .to_owned(),
                    }
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        hosts.sort_by_key(|h| (h.plan.phase_ms, h.plan.index));
        Ok(Self {
            clock,
            truth,
            hosts,
            batch_intervals: u64::from(spec.batch_intervals),
            window: 0,
            cursor: 0,
        })
    }

    /// What was injected into this run.
    pub fn truth(&self) -> &GroundTruth {
        &self.truth
    }

    /// Series each host carries, by host id (in bench-data mode, the padded count).
    pub fn series_per_host(&self) -> Vec<(String, usize)> {
        self.hosts
            .iter()
            .map(|h| (h.plan.host_id.clone(), h.series_count()))
            .collect()
    }

    /// An upper bound on the number of batches (hosts × windows).
    pub fn max_batches(&self) -> u64 {
        self.hosts.len() as u64 * self.clock.steps.div_ceil(self.batch_intervals)
    }
}

impl Iterator for Fleet {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        loop {
            let first = self.window * self.batch_intervals;
            if first >= self.clock.steps {
                return None;
            }
            let Some(host) = self.hosts.get_mut(self.cursor) else {
                self.window += 1;
                self.cursor = 0;
                continue;
            };
            self.cursor += 1;
            if host.lost(self.clock.ts(first, host.plan.phase_ms)) {
                continue;
            }
            if let Some(batch) = host.batch(first, self.batch_intervals) {
                return Some(batch);
            }
        }
    }
}
