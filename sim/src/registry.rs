//! A host's series, registered once and addressed by index while generating.
//!
//! Building a label map for every sample would dominate generation time; instead each
//! series is registered once (metric + labels) and samples are pushed by slot index.
//! A batch is assembled by cloning only the series that received points, in
//! registration order, which keeps the output deterministic.

use harbinger_shared::{Point, Series};
use std::collections::BTreeMap;

#[derive(Debug, Default, Clone)]
pub struct Registry {
    defs: Vec<(String, BTreeMap<String, String>)>,
    points: Vec<Vec<Point>>,
}

impl Registry {
    /// Registers a series and returns its slot.
    pub fn add(&mut self, metric: &str, labels: &[(&str, &str)]) -> usize {
        let labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.defs.push((metric.to_owned(), labels));
        self.points.push(Vec::new());
        self.defs.len() - 1
    }

    /// Number of registered series.
    pub fn len(&self) -> usize {
        self.defs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }

    pub fn push(&mut self, slot: usize, ts: i64, value: f64) {
        self.points[slot].push(Point { ts, value });
    }

    pub fn has_points(&self) -> bool {
        self.points.iter().any(|p| !p.is_empty())
    }

    /// Takes the buffered points as series, leaving the buffers empty.
    pub fn drain(&mut self) -> Vec<Series> {
        self.defs
            .iter()
            .zip(self.points.iter_mut())
            .filter(|(_, points)| !points.is_empty())
            .map(|((metric, labels), points)| Series {
                metric: metric.clone(),
                labels: labels.clone(),
                points: std::mem::take(points),
            })
            .collect()
    }
}

/// Rounds to a multiple of `step` (sensor resolution).
pub fn quantize(value: f64, step: f64) -> f64 {
    (value / step).round() * step
}

/// Rounds to `decimals` decimal places.
pub fn round_to(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}
