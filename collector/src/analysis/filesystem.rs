//! `filesystem_full`: a filesystem's used ratio above the configured threshold.
//!
//! Fires above `threshold`, clears below `threshold - HYSTERESIS`, and holds in between,
//! so a filesystem hovering at the threshold does not open and resolve tickets all day.

use super::{Condition, Evidence, Finding};
use harbinger_shared::catalogue::names::FS_USED_RATIO;
use harbinger_shared::{Batch, ComponentId, ComponentKind, Point, Severity};
use serde_json::json;

pub const KIND: &str = "filesystem_full";
/// Width of the band below the threshold in which an open incident stays open.
pub const HYSTERESIS: f64 = 0.02;
/// At or above this ratio the incident is critical rather than a warning.
pub const CRITICAL_RATIO: f64 = 0.98;
/// A change of the fill ratio of at least one percentage point is worth an update.
pub const MIN_CHANGE: f64 = 0.01;

/// One finding per mountpoint in the batch, from its newest point.
pub fn evaluate(batch: &Batch, threshold: f64) -> Vec<Finding> {
    let host_id = &batch.agent.host_id;
    let mut findings: Vec<Finding> = Vec::new();
    for series in batch.series.iter().filter(|s| s.metric == FS_USED_RATIO) {
        let Some(mountpoint) = series.labels.get("mountpoint") else {
            continue;
        };
        let Some(latest) = newest(&series.points) else {
            continue;
        };
        let dedup_key = format!("{host_id}/{KIND}/{mountpoint}");
        let label = |name: &str| series.labels.get(name).cloned().unwrap_or_default();
        let ratio = latest.value;
        let percent = (ratio * 100.0).round();
        let condition = if ratio > threshold {
            let severity = if ratio >= CRITICAL_RATIO {
                Severity::Critical
            } else {
                Severity::Warning
            };
            Condition::Firing(evidence(
                batch, mountpoint, &label, ratio, threshold, severity,
            ))
        } else if ratio >= threshold - HYSTERESIS {
            Condition::Holding(evidence(
                batch,
                mountpoint,
                &label,
                ratio,
                threshold,
                Severity::Warning,
            ))
        } else {
            Condition::Clear {
                summary: format!("filesystem {mountpoint} is {percent}% full again"),
            }
        };
        let finding = Finding {
            dedup_key,
            host_id: host_id.clone(),
            kind: KIND,
            component: Some(
                ComponentId::new(ComponentKind::Filesystem, mountpoint.clone()).to_string(),
            ),
            at_ms: latest.ts,
            condition,
        };
        // Two series may share a mountpoint (a bind mount of another device): keep the newest.
        match findings
            .iter_mut()
            .find(|f| f.dedup_key == finding.dedup_key)
        {
            Some(existing) if existing.at_ms <= finding.at_ms => *existing = finding,
            Some(_) => {}
            None => findings.push(finding),
        }
    }
    findings
}

fn newest(points: &[Point]) -> Option<Point> {
    points.iter().copied().max_by_key(|p| p.ts)
}

fn evidence(
    batch: &Batch,
    mountpoint: &str,
    label: &dyn Fn(&str) -> String,
    ratio: f64,
    threshold: f64,
    severity: Severity,
) -> Evidence {
    let percent = (ratio * 100.0).round();
    let details = json!({
        "mountpoint": mountpoint,
        "device": label("device"),
        "fstype": label("fstype"),
        "used_ratio": ratio,
        "threshold": threshold,
        "clears_below": threshold - HYSTERESIS,
    });
    Evidence {
        severity,
        title: format!(
            "Filesystem {mountpoint} on {} is {percent}% full",
            batch.agent.hostname
        ),
        level: Some(ratio),
        min_change: MIN_CHANGE,
        details: match details {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::tests::fs_batch;

    fn condition_at(ratio: f64) -> Condition {
        let findings = evaluate(&fs_batch(1, 5_000, ratio), 0.9);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].dedup_key, "h1/filesystem_full//var");
        assert_eq!(findings[0].component.as_deref(), Some("filesystem:/var"));
        assert_eq!(findings[0].at_ms, 5_000);
        findings[0].condition.clone()
    }

    #[test]
    fn fires_holds_and_clears_around_the_threshold() {
        match condition_at(0.95) {
            Condition::Firing(e) => {
                assert_eq!(e.severity, Severity::Warning);
                assert_eq!(e.level, Some(0.95));
                assert_eq!(e.title, "Filesystem /var on db-17 is 95% full");
            }
            other => panic!("expected firing, got {other:?}"),
        }
        assert!(
            matches!(condition_at(0.99), Condition::Firing(e) if e.severity == Severity::Critical)
        );
        assert!(matches!(condition_at(0.89), Condition::Holding(_)));
        assert!(matches!(condition_at(0.9), Condition::Holding(_)));
        assert!(matches!(condition_at(0.87), Condition::Clear { .. }));
    }

    #[test]
    fn other_metrics_are_ignored_and_newest_point_wins() {
        let mut batch = fs_batch(1, 1_000, 0.95);
        batch.series[0].points.push(Point {
            ts: 2_000,
            value: 0.5,
        });
        batch.series[0].points.push(Point {
            ts: 1_500,
            value: 0.99,
        });
        let findings = evaluate(&batch, 0.9);
        assert!(matches!(findings[0].condition, Condition::Clear { .. }));
        batch.series[0].metric = "node_load1".into();
        assert!(evaluate(&batch, 0.9).is_empty());
    }
}
