//! Harbinger's own engine under evaluation, with its default rule pack.
//!
//! Planned work is given to the engine as maintenance windows, as an operator would
//! schedule it; the engine learns nothing else from the ground truth.

/// The name reports and `--detectors` use.
pub const NAME: &str = "harbinger";

use super::{Detector, EvalError, Incident};
use crate::GroundTruth;
use harbinger_engine::{Action, Engine, MaintenanceWindow, RulePack, Transition};
use harbinger_shared::Batch;

pub struct Harbinger {
    engine: Engine,
    /// Newest sample time fed so far.
    watermark: i64,
    incidents: Vec<Incident>,
}

impl Harbinger {
    pub fn new(truth: &GroundTruth) -> Result<Self, EvalError> {
        let mut engine = Engine::new(RulePack::default_pack()?);
        engine.set_maintenance(
            truth
                .planned
                .iter()
                .enumerate()
                .map(|(n, p)| MaintenanceWindow {
                    id: format!("planned-{n}"),
                    start_ms: p.start_ts,
                    end_ms: p.end_ts,
                    hosts: vec![p.host_id.clone()],
                    labels: Default::default(),
                })
                .collect(),
        );
        Ok(Self {
            engine,
            watermark: i64::MIN,
            incidents: Vec::new(),
        })
    }

    fn take(&mut self, transitions: Vec<Transition>) {
        for t in transitions {
            if t.action != Action::Open {
                continue;
            }
            let rule = t
                .explanation
                .signals
                .first()
                .map_or_else(|| "unknown".to_owned(), |c| c.rule.clone());
            self.incidents.push(Incident {
                host_id: t.host_id,
                component: t.component,
                place: t.place.map(|p| (p.label, p.value)),
                opened_ms: t.opened_ms,
                rule,
            });
        }
    }
}

impl Detector for Harbinger {
    fn name(&self) -> &'static str {
        NAME
    }

    fn feed(&mut self, batch: &Batch) {
        let Some((oldest, newest)) = batch.time_range() else {
            return;
        };
        // The fleet yields one window's batches host after host, each spanning several
        // intervals. Event time is advanced only when the next window starts, once every
        // host has delivered the last one; advancing mid-window would make the hosts not
        // yet fed look silent (the engine advances to the newest time it has seen).
        if oldest > self.watermark && self.watermark != i64::MIN {
            let transitions = self.engine.advance(self.watermark);
            self.take(transitions);
        }
        let transitions = self.engine.feed(batch);
        self.take(transitions);
        self.watermark = self.watermark.max(newest);
    }

    fn finish(&mut self, end_ms: i64) -> Vec<Incident> {
        let transitions = self.engine.advance(end_ms.max(self.watermark));
        self.take(transitions);
        std::mem::take(&mut self.incidents)
    }
}
