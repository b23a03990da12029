//! Multivariate anomaly per host: k-means (linfa) on the joint behaviour of temperatures,
//! fan speeds, power and load, Netdata-style.
//!
//! Each window's feature means are differenced and lagged; several models trained on
//! different spans of history score every new window by its distance to the nearest
//! centroid, relative to the `quantile` of their training distances. A window is
//! anomalous only when every model agrees (Netdata: this removes most false positives),
//! and a signal needs `persistence` anomalous windows. The signal names the features that
//! contributed most to the distance. Training uses a seeded RNG: replays are identical.

use super::Emit;
use crate::rules::Multivariate;
use crate::signal::{Detector, SignalExplanation};
use linfa::traits::Fit;
use linfa::DatasetBase;
use linfa_clustering::{KMeans, KMeansInit};
use ndarray::Array2;
use rand_xoshiro::rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256Plus;
use serde::{Deserialize, Serialize};

/// Spread floor for standardising a feature column, so a constant feature weighs nothing.
const MIN_STD: f64 = 1e-6;

/// One trained model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    centroids: Vec<Vec<f64>>,
    mean: Vec<f64>,
    std: Vec<f64>,
    threshold: f64,
}

/// State of one host's detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MvState {
    window: i64,
    sums: Vec<f64>,
    counts: Vec<u32>,
    last: Vec<f64>,
    /// Closed windows' feature vectors, oldest first.
    history: Vec<Vec<f64>>,
    models: Vec<Model>,
    since_train: u32,
    streak: u32,
    firing: bool,
}

impl MvState {
    pub fn new(features: usize) -> Self {
        Self {
            window: i64::MIN,
            sums: vec![0.0; features],
            counts: vec![0; features],
            last: vec![0.0; features],
            history: Vec::new(),
            models: Vec::new(),
            since_train: 0,
            streak: 0,
            firing: false,
        }
    }

    /// Whether a sample at `ts` would close the open window.
    pub fn closes(&self, ts: i64, window_ms: i64) -> bool {
        self.window != i64::MIN && ts.div_euclid(window_ms) > self.window
    }

    /// Adds one sample of feature `f`. Late samples (older window) are dropped.
    pub fn add(&mut self, f: usize, ts: i64, value: f64, window_ms: i64) {
        let w = ts.div_euclid(window_ms);
        if self.window == i64::MIN {
            self.window = w;
        }
        if w != self.window || f >= self.sums.len() {
            return;
        }
        self.sums[f] += value;
        self.counts[f] += 1;
    }

    /// Closes the open window and opens the one holding `ts`; may train and may emit.
    pub fn close(
        &mut self,
        ts: i64,
        window_ms: i64,
        cfg: &Multivariate,
        seed: u64,
    ) -> Option<Emit> {
        let w = ts.div_euclid(window_ms);
        for f in 0..self.sums.len() {
            if self.counts[f] > 0 {
                self.last[f] = self.sums[f] / f64::from(self.counts[f]);
            }
            self.sums[f] = 0.0;
            self.counts[f] = 0;
        }
        self.window = w;
        self.history.push(self.last.clone());
        let keep = cfg
            .models
            .iter()
            .map(|m| m.train_windows)
            .max()
            .unwrap_or(0) as usize
            + cfg.lags as usize
            + 2;
        if self.history.len() > keep {
            let extra = self.history.len() - keep;
            self.history.drain(..extra);
        }
        self.since_train += 1;
        let lags = cfg.lags as usize;
        let out = self.score(cfg, lags);
        let enough = self.history.len() > cfg.min_train_windows as usize + lags;
        if enough && (self.models.is_empty() || self.since_train >= cfg.retrain_every_windows) {
            self.train(cfg, lags, seed ^ (w as u64));
            self.since_train = 0;
        }
        out
    }

    /// Row `t` of the design matrix: differences at t, t-1, ..., t-lags.
    fn row(&self, t: usize, lags: usize) -> Option<Vec<f64>> {
        if t < lags + 1 {
            return None;
        }
        let mut row = Vec::with_capacity(self.last.len() * (lags + 1));
        for l in 0..=lags {
            let (a, b) = (&self.history[t - l], &self.history[t - l - 1]);
            row.extend(a.iter().zip(b).map(|(x, y)| x - y));
        }
        Some(row)
    }

    fn train(&mut self, cfg: &Multivariate, lags: usize, seed: u64) {
        let n = self.history.len();
        let mut models = Vec::new();
        for spec in &cfg.models {
            let start = n.saturating_sub(spec.train_windows as usize).max(lags + 1);
            let rows: Vec<Vec<f64>> = (start..n).filter_map(|t| self.row(t, lags)).collect();
            if rows.len() < cfg.k as usize * 2 {
                continue;
            }
            if let Some(m) = fit_model(&rows, cfg, seed) {
                models.push(m);
            }
        }
        if !models.is_empty() {
            self.models = models;
        }
    }

    fn score(&mut self, cfg: &Multivariate, lags: usize) -> Option<Emit> {
        if self.models.is_empty() {
            return None;
        }
        let row = self.row(self.history.len() - 1, lags)?;
        let mut min_ratio = f64::INFINITY;
        let mut contrib = vec![0.0; self.last.len()];
        for m in &self.models {
            let (d, parts) = m.distance(&row);
            min_ratio = min_ratio.min(d / m.threshold.max(MIN_STD));
            for (i, p) in parts.iter().enumerate() {
                contrib[i % self.last.len()] += p;
            }
        }
        let anomalous = min_ratio > 1.0;
        self.streak = if anomalous { self.streak + 1 } else { 0 };
        if anomalous && !self.firing && self.streak >= cfg.persistence {
            self.firing = true;
            let total: f64 = contrib.iter().sum::<f64>().max(MIN_STD);
            let mut named: Vec<(String, f64)> = cfg
                .features
                .iter()
                .zip(&contrib)
                .map(|(f, c)| (f.name.clone(), (c / total * 1000.0).round() / 1000.0))
                .collect();
            named.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            named.truncate(cfg.top_features as usize);
            let top: Vec<String> = named
                .iter()
                .map(|(n, s)| format!("{n} {:.0} %", s * 100.0))
                .collect();
            return Some(Emit {
                detector: Detector::Multivariate,
                suffix: "",
                strength: (min_ratio / 2.0).clamp(0.5, 1.0),
                lr: cfg.lr,
                hold_ms: None,
                explanation: SignalExplanation {
                    summary: format!(
                        "joint behaviour anomalous for {} windows (all {} models agree; {:.1}x their {} quantile); top: {}",
                        self.streak,
                        self.models.len(),
                        min_ratio,
                        cfg.quantile,
                        top.join(", ")
                    ),
                    value: Some(min_ratio),
                    reference: Some(format!(
                        "k-means (k={}) on differenced features with {} lags",
                        cfg.k, cfg.lags
                    )),
                    features: named,
                    ..Default::default()
                },
            });
        }
        if !anomalous && self.firing {
            self.firing = false;
            return Some(Emit {
                detector: Detector::Multivariate,
                suffix: "",
                strength: 0.0,
                lr: cfg.lr,
                hold_ms: None,
                explanation: SignalExplanation {
                    summary: "joint behaviour back to normal".into(),
                    value: Some(min_ratio),
                    ..Default::default()
                },
            });
        }
        None
    }

    pub fn trained(&self) -> usize {
        self.models.len()
    }
}

impl Model {
    /// Distance to the nearest centroid in standardised units, and each dimension's
    /// squared share of it.
    fn distance(&self, row: &[f64]) -> (f64, Vec<f64>) {
        let z: Vec<f64> = row
            .iter()
            .zip(self.mean.iter().zip(&self.std))
            .map(|(x, (m, s))| (x - m) / s)
            .collect();
        let mut best = (f64::INFINITY, 0usize);
        for (i, c) in self.centroids.iter().enumerate() {
            let d: f64 = z.iter().zip(c).map(|(a, b)| (a - b) * (a - b)).sum();
            if d < best.0 {
                best = (d, i);
            }
        }
        let c = &self.centroids[best.1];
        let parts = z.iter().zip(c).map(|(a, b)| (a - b) * (a - b)).collect();
        (best.0.sqrt(), parts)
    }
}

thread_local! {
    /// linfa's k-means spreads its assignment step over rayon's pool. On the engine's
    /// windows (a few hundred rows) handing work between threads costs far more than the
    /// work: profiling `harbinger-sim evaluate` put 45 % of its time in futex and
    /// sched_yield. A one-thread pool made of the calling thread runs the same code
    /// inline, and leaves the other cores to the rest of the process.
    static INLINE_POOL: Option<rayon::ThreadPool> = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .use_current_thread()
        .build()
        .ok();
}

/// Runs `f` with rayon's parallel iterators executing on the current thread.
fn inline<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    INLINE_POOL.with(|pool| match pool {
        Some(pool) => pool.install(f),
        None => f(),
    })
}

fn fit_model(rows: &[Vec<f64>], cfg: &Multivariate, seed: u64) -> Option<Model> {
    let dims = rows.first()?.len();
    let n = rows.len() as f64;
    let mut mean = vec![0.0; dims];
    for r in rows {
        for (m, x) in mean.iter_mut().zip(r) {
            *m += x / n;
        }
    }
    let mut std = vec![0.0; dims];
    for r in rows {
        for ((s, x), m) in std.iter_mut().zip(r).zip(&mean) {
            *s += (x - m) * (x - m) / n;
        }
    }
    for s in &mut std {
        *s = s.sqrt().max(MIN_STD);
    }
    let mut flat = Vec::with_capacity(rows.len() * dims);
    for r in rows {
        flat.extend(
            r.iter()
                .zip(mean.iter().zip(&std))
                .map(|(x, (m, s))| (x - m) / s),
        );
    }
    let data = Array2::from_shape_vec((rows.len(), dims), flat).ok()?;
    let rng = Xoshiro256Plus::seed_from_u64(seed);
    let params = KMeans::params_with_rng(cfg.k as usize, rng)
        .init_method(KMeansInit::KMeansPlusPlus)
        .n_runs(3)
        .max_n_iterations(100)
        .tolerance(1e-6);
    let model = inline(|| params.fit(&DatasetBase::from(data))).ok()?;
    let centroids: Vec<Vec<f64>> = model.centroids().outer_iter().map(|c| c.to_vec()).collect();
    let mut m = Model {
        centroids,
        mean,
        std,
        threshold: 0.0,
    };
    let mut d: Vec<f64> = rows.iter().map(|r| m.distance(r).0).collect();
    d.sort_by(f64::total_cmp);
    let idx = ((d.len() as f64 - 1.0) * cfg.quantile).round() as usize;
    m.threshold = d.get(idx.min(d.len() - 1)).copied()?.max(MIN_STD);
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RulePack;

    const W: i64 = 300_000;

    fn cfg() -> Multivariate {
        let mut c = RulePack::default_pack().expect("pack").multivariate;
        // Smaller models so the test stays fast; same algorithm.
        c.min_train_windows = 60;
        c.models = vec![
            crate::rules::ModelSpec { train_windows: 60 },
            crate::rules::ModelSpec { train_windows: 120 },
        ];
        c.retrain_every_windows = 12;
        c
    }

    /// Feeds `windows` windows of 4 features produced by `f(window)`; returns emits.
    fn run(windows: i64, f: impl Fn(i64) -> [f64; 4]) -> (Vec<(i64, Emit)>, MvState) {
        let c = cfg();
        let mut st = MvState::new(4);
        let mut out = Vec::new();
        for w in 0..windows {
            let ts = w * W;
            if st.closes(ts, W) {
                if let Some(e) = st.close(ts, W, &c, c.seed) {
                    out.push((w, e));
                }
            }
            for (i, v) in f(w).iter().enumerate() {
                st.add(i, ts, *v, W);
            }
        }
        (out, st)
    }

    fn normal(w: i64) -> [f64; 4] {
        // Diurnal load moves temperature, fans and power together, with small noise.
        let phase = (w as f64 / 288.0) * std::f64::consts::TAU;
        let load = 0.4 + 0.2 * phase.sin();
        let jitter = ((w * 7919) % 13) as f64 / 13.0 - 0.5;
        [
            40.0 + 20.0 * load + jitter,
            2000.0 + 1500.0 * load + 10.0 * jitter,
            150.0 + 200.0 * load + jitter,
            load + 0.01 * jitter,
        ]
    }

    #[test]
    fn quiet_on_correlated_diurnal_behaviour_then_names_the_broken_feature() {
        let (quiet, st) = run(400, normal);
        assert!(st.trained() == 2, "both models trained");
        assert!(quiet.is_empty(), "{quiet:?}");
        // Temperature climbs 3 °C per window while load, fans and power stay normal.
        let (out, _) = run(420, |w| {
            let mut v = normal(w);
            if w >= 400 {
                v[0] += 3.0 * (w - 399) as f64;
            }
            v
        });
        let (_, e) = out.first().expect("anomaly");
        assert_eq!(e.explanation.features[0].0, "temperature", "{e:?}");
    }

    #[test]
    fn training_is_deterministic() {
        let (_, a) = run(300, normal);
        let (_, b) = run(300, normal);
        assert_eq!(a, b);
    }
}
