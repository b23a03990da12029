//! Reference detector 2: per-metric k-means anomaly detection as Netdata does it.
//!
//! Per dimension (one series): values are differenced, smoothed over 3 points and
//! lagged 5 times, giving 6-feature rows; k-means with k = 2 (linfa-clustering) is
//! trained on the last 6 h of rows and retrained every 6 h; the last 3 models are kept
//! and a point is anomalous only when it lies beyond the 99th percentile of training
//! distances for every one of them. The node anomaly rate is the share of a host's
//! scored dimensions anomalous at each interval; its 5-minute mean above 1 % opens an
//! incident for the host, which closes when the mean falls back. Netdata trains every
//! 3 h and keeps 54 h of models; 6 h and 3 models here keep a 200-host, 30-day run
//! within minutes, and only make the ensemble less strict.

use super::{Detector, Incident};
use harbinger_shared::Batch;
use linfa::traits::Fit;
use linfa::DatasetBase;
use linfa_clustering::{KMeans, KMeansInit};
use ndarray::Array2;
use rand_xoshiro::rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256Plus;
use std::collections::{BTreeMap, HashMap, VecDeque};

const SMOOTH: usize = 3;
const LAGS: usize = 5;
const DIMS: usize = LAGS + 1;
/// Points of history a model trains on, and how often a new one is trained.
const TRAIN_POINTS: usize = 360;
const TRAIN_EVERY: usize = 360;
const MODELS: usize = 3;
const QUANTILE: f64 = 0.99;
/// Node anomaly rate (mean over the window) that opens an incident.
const NODE_RATE: f64 = 0.01;
const RATE_WINDOW_MS: i64 = 5 * 60_000;

#[derive(Debug, Clone)]
struct Model {
    centroids: [[f64; DIMS]; 2],
    threshold: f64,
}

impl Model {
    fn distance(&self, row: &[f64; DIMS]) -> f64 {
        self.centroids
            .iter()
            .map(|c| {
                c.iter()
                    .zip(row)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f64>()
                    .sqrt()
            })
            .fold(f64::INFINITY, f64::min)
    }
}

/// Differenced, smoothed, lagged rows of one series, built incrementally.
#[derive(Debug, Default)]
struct Dimension {
    last: Option<f64>,
    diffs: VecDeque<f64>,
    smoothed: VecDeque<f64>,
    /// Recent rows, newest last, at most `TRAIN_POINTS`.
    rows: VecDeque<[f64; DIMS]>,
    since_train: usize,
    models: VecDeque<Model>,
    trainings: u64,
}

impl Dimension {
    /// Adds a value; returns the new feature row once enough history exists.
    fn push(&mut self, value: f64) -> Option<[f64; DIMS]> {
        let prev = self.last.replace(value)?;
        self.diffs.push_back(value - prev);
        if self.diffs.len() > SMOOTH {
            self.diffs.pop_front();
        }
        if self.diffs.len() < SMOOTH {
            return None;
        }
        self.smoothed
            .push_back(self.diffs.iter().sum::<f64>() / SMOOTH as f64);
        if self.smoothed.len() > DIMS {
            self.smoothed.pop_front();
        }
        if self.smoothed.len() < DIMS {
            return None;
        }
        let mut row = [0.0; DIMS];
        for (r, s) in row.iter_mut().zip(self.smoothed.iter().rev()) {
            *r = *s;
        }
        self.rows.push_back(row);
        if self.rows.len() > TRAIN_POINTS {
            self.rows.pop_front();
        }
        self.since_train += 1;
        Some(row)
    }

    fn maybe_train(&mut self, seed: u64) {
        if self.rows.len() < TRAIN_POINTS || self.since_train < TRAIN_EVERY {
            return;
        }
        self.since_train = 0;
        self.trainings += 1;
        if let Some(m) = train(&self.rows, seed ^ self.trainings.wrapping_mul(0x9E37_79B9)) {
            self.models.push_back(m);
            if self.models.len() > MODELS {
                self.models.pop_front();
            }
        }
    }

    /// Anomalous by every model; `None` before the first model.
    fn anomalous(&self, row: &[f64; DIMS]) -> Option<bool> {
        if self.models.is_empty() {
            return None;
        }
        Some(self.models.iter().all(|m| m.distance(row) > m.threshold))
    }
}

fn train(rows: &VecDeque<[f64; DIMS]>, seed: u64) -> Option<Model> {
    let first = *rows.front()?;
    if rows.iter().all(|r| *r == first) {
        // A flat series: k-means has nothing to split; any change is beyond it.
        return Some(Model {
            centroids: [first, first],
            threshold: 1e-9,
        });
    }
    let flat: Vec<f64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    let data = Array2::from_shape_vec((rows.len(), DIMS), flat).ok()?;
    let rng = Xoshiro256Plus::seed_from_u64(seed);
    let fitted = KMeans::params_with_rng(2, rng)
        .init_method(KMeansInit::KMeansPlusPlus)
        .n_runs(1)
        .max_n_iterations(30)
        .tolerance(1e-6)
        .fit(&DatasetBase::from(data))
        .ok()?;
    let mut centroids = [[0.0; DIMS]; 2];
    for (c, row) in centroids.iter_mut().zip(fitted.centroids().outer_iter()) {
        for (x, v) in c.iter_mut().zip(row.iter()) {
            *x = *v;
        }
    }
    let mut model = Model {
        centroids,
        threshold: 0.0,
    };
    let mut d: Vec<f64> = rows.iter().map(|r| model.distance(r)).collect();
    d.sort_by(f64::total_cmp);
    let idx = ((d.len() - 1) as f64 * QUANTILE).round() as usize;
    model.threshold = d.get(idx).copied()?.max(1e-9);
    Some(model)
}

#[derive(Debug, Default)]
struct Node {
    /// `(ts, anomaly rate)` of the last intervals within the rate window.
    rates: VecDeque<(i64, f64)>,
    open: bool,
}

/// The name reports and `--detectors` use.
pub const NAME: &str = "netdata-kmeans";

/// Netdata-style per-metric k-means with a node anomaly rate.
pub struct NetdataKmeans {
    seed: u64,
    dims: HashMap<(String, String, BTreeMap<String, String>), Dimension>,
    nodes: HashMap<String, Node>,
    incidents: Vec<Incident>,
}

impl NetdataKmeans {
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            dims: HashMap::new(),
            nodes: HashMap::new(),
            incidents: Vec::new(),
        }
    }
}

impl Detector for NetdataKmeans {
    fn name(&self) -> &'static str {
        NAME
    }

    fn feed(&mut self, batch: &Batch) {
        let host = &batch.agent.host_id;
        // ts → (anomalous dimensions, scored dimensions)
        let mut per_ts: BTreeMap<i64, (u32, u32)> = BTreeMap::new();
        for s in &batch.series {
            let key = (host.clone(), s.metric.clone(), s.labels.clone());
            let dim = self.dims.entry(key).or_default();
            for p in &s.points {
                if !p.value.is_finite() {
                    continue;
                }
                let Some(row) = dim.push(p.value) else {
                    continue;
                };
                if let Some(bad) = dim.anomalous(&row) {
                    let e = per_ts.entry(p.ts).or_default();
                    e.0 += u32::from(bad);
                    e.1 += 1;
                }
                dim.maybe_train(self.seed);
            }
        }
        let node = self.nodes.entry(host.clone()).or_default();
        for (ts, (bad, total)) in per_ts {
            node.rates
                .push_back((ts, f64::from(bad) / f64::from(total.max(1))));
            while node
                .rates
                .front()
                .is_some_and(|(t, _)| *t <= ts - RATE_WINDOW_MS)
            {
                node.rates.pop_front();
            }
            let mean = node.rates.iter().map(|(_, r)| r).sum::<f64>() / node.rates.len() as f64;
            if !node.open && mean > NODE_RATE {
                node.open = true;
                self.incidents.push(Incident {
                    host_id: Some(host.clone()),
                    component: None,
                    place: None,
                    opened_ms: ts,
                    rule: "node_anomaly_rate".into(),
                });
            } else if node.open && mean <= NODE_RATE {
                node.open = false;
            }
        }
    }

    fn finish(&mut self, _end_ms: i64) -> Vec<Incident> {
        std::mem::take(&mut self.incidents)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_in_a_noisy_series_is_anomalous_and_noise_mostly_is_not() {
        let mut d = Dimension::default();
        let mut state = 7_u64;
        let mut noise = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (state >> 11) as f64 / (1_u64 << 53) as f64
        };
        let mut flagged = 0;
        for _ in 0..(TRAIN_POINTS * 2) {
            if let Some(row) = d.push(50.0 + noise()) {
                flagged += usize::from(d.anomalous(&row) == Some(true));
                d.maybe_train(1);
            }
        }
        assert!(!d.models.is_empty(), "trained");
        assert!(flagged < TRAIN_POINTS / 20, "noise flagged {flagged} times");
        let row = d.push(80.0).expect("row");
        assert_eq!(d.anomalous(&row), Some(true));
    }
}
