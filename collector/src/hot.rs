//! Recent samples in memory, per (host, metric, labels), for fast range queries.
//!
//! The cache keeps one promise: every stored point with `ts >= complete_from_ms()` is in
//! memory. It is rebuilt from the batch log at start-up over the hot window, fed every
//! newly stored batch, and evicted from the front as the window slides, which only ever
//! moves `complete_from_ms` forward. A query whose range starts at or after that point
//! can be answered from memory alone; anything older goes to the store.

use harbinger_shared::{Batch, Point};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{PoisonError, RwLock};

/// Metric name plus its sorted label set.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    pub metric: String,
    pub labels: BTreeMap<String, String>,
}

/// Which series of a host a read wants: one metric (or all) whose labels contain every
/// filter pair.
#[derive(Debug, Clone, Default)]
pub struct Selector {
    pub metric: Option<String>,
    pub filters: BTreeMap<String, String>,
}

impl Selector {
    pub fn matches(&self, metric: &str, labels: &BTreeMap<String, String>) -> bool {
        self.metric.as_deref().is_none_or(|m| m == metric)
            && self
                .filters
                .iter()
                .all(|(k, v)| labels.get(k).is_some_and(|have| have == v))
    }
}

/// Points of one series, sorted by timestamp.
pub type RawSeries = (SeriesKey, Vec<Point>);

#[derive(Debug, Default)]
struct Inner {
    complete_from_ms: i64,
    hosts: HashMap<String, HashMap<SeriesKey, VecDeque<Point>>>,
    points: usize,
}

/// The hot window. Cheap to share behind an `Arc`; locks are never held across awaits.
#[derive(Debug)]
pub struct HotCache {
    window_ms: i64,
    inner: RwLock<Inner>,
}

impl HotCache {
    /// An empty cache that promises completeness from `now_ms - window_ms` on; fill it
    /// with every stored batch overlapping that range before serving queries.
    pub fn new(window_ms: i64, now_ms: i64) -> Self {
        Self {
            window_ms,
            inner: RwLock::new(Inner {
                complete_from_ms: now_ms.saturating_sub(window_ms),
                ..Inner::default()
            }),
        }
    }

    pub fn complete_from_ms(&self) -> i64 {
        self.read().complete_from_ms
    }

    /// Adds the points of a newly stored batch that fall inside the window. Batches may
    /// arrive out of order (spool replays), so points are inserted in timestamp order.
    pub fn insert(&self, batch: &Batch) {
        let mut inner = self.write();
        let from = inner.complete_from_ms;
        let mut added = 0;
        let host = inner.hosts.entry(batch.agent.host_id.clone()).or_default();
        for series in &batch.series {
            if series.points.iter().all(|p| p.ts < from) {
                continue;
            }
            let key = SeriesKey {
                metric: series.metric.clone(),
                labels: series.labels.clone(),
            };
            let points = host.entry(key).or_default();
            for point in series.points.iter().filter(|p| p.ts >= from) {
                if points.back().is_none_or(|last| last.ts <= point.ts) {
                    points.push_back(*point);
                } else {
                    let at = points.partition_point(|p| p.ts <= point.ts);
                    points.insert(at, *point);
                }
                added += 1;
            }
        }
        inner.points += added;
    }

    /// Drops points older than the window and series left empty.
    pub fn evict(&self, now_ms: i64) {
        let mut inner = self.write();
        let cutoff = now_ms.saturating_sub(self.window_ms);
        if cutoff <= inner.complete_from_ms {
            return;
        }
        inner.complete_from_ms = cutoff;
        let mut removed = 0;
        for series in inner.hosts.values_mut() {
            series.retain(|_, points| {
                let old = points.partition_point(|p| p.ts < cutoff);
                points.drain(..old);
                removed += old;
                !points.is_empty()
            });
        }
        inner.hosts.retain(|_, series| !series.is_empty());
        inner.points -= removed;
    }

    /// Points with `from_ms <= ts < to_ms` of the host's series matching the selector,
    /// sorted by series key. Only complete when `from_ms >= complete_from_ms()`.
    pub fn range(
        &self,
        host_id: &str,
        selector: &Selector,
        from_ms: i64,
        to_ms: i64,
    ) -> Vec<RawSeries> {
        let inner = self.read();
        let Some(series) = inner.hosts.get(host_id) else {
            return Vec::new();
        };
        let mut out: Vec<RawSeries> = series
            .iter()
            .filter(|(key, _)| selector.matches(&key.metric, &key.labels))
            .filter_map(|(key, points)| {
                let start = points.partition_point(|p| p.ts < from_ms);
                let end = points.partition_point(|p| p.ts < to_ms);
                (start < end).then(|| (key.clone(), points.range(start..end).copied().collect()))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The newest point of every series of the host whose metric name starts with
    /// `prefix`, sorted by series key. Only series with a point at or after
    /// `complete_from_ms()` are known here: one that stopped reporting before the
    /// window is, for a "current state" view, rightly gone.
    pub fn latest(&self, host_id: &str, prefix: &str) -> Vec<(SeriesKey, Point)> {
        let inner = self.read();
        let Some(series) = inner.hosts.get(host_id) else {
            return Vec::new();
        };
        let mut out: Vec<(SeriesKey, Point)> = series
            .iter()
            .filter(|(key, _)| key.metric.starts_with(prefix))
            .filter_map(|(key, points)| points.back().map(|last| (key.clone(), *last)))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// `(series, points)` held, for `/metrics`.
    pub fn stats(&self) -> (usize, usize) {
        let inner = self.read();
        (inner.hosts.values().map(HashMap::len).sum(), inner.points)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent-enough data (at worst a
        // partly inserted batch); serving it beats failing every later query.
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harbinger_shared::{AgentIdentity, Series, PROTOCOL_VERSION};

    fn batch(seq: u64, metric: &str, dev: &str, points: &[(i64, f64)]) -> Batch {
        Batch {
            protocol_version: PROTOCOL_VERSION,
            agent: AgentIdentity {
                host_id: "h".into(),
                hostname: "h".into(),
                labels: BTreeMap::new(),
                agent_version: String::new(),
            },
            seq,
            interval_ms: 1_000,
            series: vec![Series {
                metric: metric.into(),
                labels: BTreeMap::from([("device".into(), dev.into())]),
                points: points
                    .iter()
                    .map(|&(ts, value)| Point { ts, value })
                    .collect(),
            }],
            events: vec![],
            inventory: None,
        }
    }

    fn ts_of(series: &[RawSeries]) -> Vec<Vec<i64>> {
        series
            .iter()
            .map(|(_, p)| p.iter().map(|p| p.ts).collect())
            .collect()
    }

    #[test]
    fn out_of_order_batches_are_kept_sorted_and_old_points_skipped() {
        let cache = HotCache::new(1_000, 2_000);
        cache.insert(&batch(2, "m", "a", &[(1_500, 1.0), (1_600, 2.0)]));
        cache.insert(&batch(
            1,
            "m",
            "a",
            &[(900, 0.0), (1_200, 3.0), (1_550, 4.0)],
        ));
        let all = cache.range("h", &Selector::default(), 0, i64::MAX);
        assert_eq!(ts_of(&all), vec![vec![1_200, 1_500, 1_550, 1_600]]);
        assert_eq!(cache.stats(), (1, 4));
    }

    #[test]
    fn range_is_half_open_and_filters_by_metric_and_labels() {
        let cache = HotCache::new(10_000, 10_000);
        cache.insert(&batch(1, "m", "a", &[(1, 1.0), (2, 2.0), (3, 3.0)]));
        cache.insert(&batch(2, "m", "b", &[(2, 5.0)]));
        cache.insert(&batch(3, "other", "a", &[(2, 5.0)]));
        let selector = Selector {
            metric: Some("m".into()),
            filters: BTreeMap::from([("device".into(), "a".into())]),
        };
        assert_eq!(ts_of(&cache.range("h", &selector, 2, 3)), vec![vec![2]]);
        let by_metric = Selector {
            metric: Some("m".into()),
            ..Selector::default()
        };
        assert_eq!(cache.range("h", &by_metric, 0, 10).len(), 2);
        assert!(cache.range("nobody", &by_metric, 0, 10).is_empty());
    }

    #[test]
    fn latest_is_the_newest_point_of_each_series_matching_the_prefix() {
        let cache = HotCache::new(10_000, 10_000);
        cache.insert(&batch(1, "smartctl_a", "x", &[(5, 1.0), (9, 2.0)]));
        // An older batch arriving late must not replace the newest point.
        cache.insert(&batch(2, "smartctl_a", "x", &[(7, 3.0)]));
        cache.insert(&batch(3, "smartctl_b", "y", &[(4, 4.0)]));
        cache.insert(&batch(4, "node_load1", "x", &[(9, 5.0)]));
        let found: Vec<(String, i64, f64)> = cache
            .latest("h", "smartctl_")
            .into_iter()
            .map(|(key, p)| (key.metric, p.ts, p.value))
            .collect();
        assert_eq!(
            found,
            vec![("smartctl_a".into(), 9, 2.0), ("smartctl_b".into(), 4, 4.0)]
        );
        assert!(cache.latest("nobody", "smartctl_").is_empty());
        assert!(cache.latest("h", "ipmi_").is_empty());
    }

    #[test]
    fn eviction_slides_the_window_and_drops_empty_series() {
        let cache = HotCache::new(100, 100);
        cache.insert(&batch(1, "m", "a", &[(10, 1.0), (150, 2.0)]));
        cache.insert(&batch(2, "m", "b", &[(20, 1.0)]));
        cache.evict(200);
        assert_eq!(cache.complete_from_ms(), 100);
        assert_eq!(cache.stats(), (1, 1));
        // Moving backwards never lowers the completeness promise.
        cache.evict(50);
        assert_eq!(cache.complete_from_ms(), 100);
    }
}
