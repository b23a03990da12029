//! Scoring: matches each detector's incidents to the injected outcomes.
//!
//! An incident *detects* an outcome when it opened between the outcome's first
//! precursor and its failure, on the right target: the same component (same kind and
//! a shared id token, so `coretemp/fan2` and `FAN2`, or `PS1 Status` and `PS1`, are
//! one part), a host-level incident on the failing host, or — for a rack-level
//! failure — an incident for that rack or on one of its hosts; a BMC sensor incident
//! counts for the part it names. An incident is *true*
//! when it is on an outcome's target between its first precursor (or the failure, for
//! sudden ones) and a day after the failure; incidents opened inside planned work on
//! their host are not counted at all; everything else is a false incident.

use super::report::DetectorReport;
use super::Incident;
use crate::{GroundTruth, Outcome, Pace};
use harbinger_shared::{ComponentId, ComponentKind};
use std::collections::BTreeMap;

/// After a failure, incidents about it (the dead disk, the logged UE) are still true.
const AFTER_FAILURE_MS: i64 = 86_400_000;

fn tokens(id: &str) -> impl Iterator<Item = String> + '_ {
    id.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(|t| t.to_ascii_lowercase())
}

/// `want` is the failing part, `got` what an incident names: the same kind of part,
/// or a sensor (a BMC's `FAN6` or `PS1 Status`), sharing an id token. A power-supply
/// failure is also what the BMC's PSU redundancy sensor reports.
fn same_component(want: &ComponentId, got: &ComponentId) -> bool {
    if want.kind != got.kind && got.kind != ComponentKind::Sensor {
        return false;
    }
    let shared = tokens(&want.id).any(|t| tokens(&got.id).any(|u| u == t));
    let redundancy = want.kind == ComponentKind::Psu && tokens(&got.id).any(|t| t == "redundancy");
    shared || redundancy
}

fn host_level(i: &Incident) -> bool {
    i.component
        .as_ref()
        .is_none_or(|c| c.kind == ComponentKind::Host)
}

/// Whether the incident is about the outcome's target (ignoring time).
pub fn on_target(i: &Incident, o: &Outcome, rack_of: &BTreeMap<&str, &str>) -> bool {
    match &o.host_id {
        None => {
            let place = i
                .place
                .as_ref()
                .is_some_and(|(label, value)| label == "rack" && *value == o.rack);
            let host_in_rack = i
                .host_id
                .as_deref()
                .and_then(|h| rack_of.get(h))
                .is_some_and(|r| *r == o.rack);
            place || host_in_rack
        }
        Some(host) => {
            if i.host_id.as_deref() != Some(host.as_str()) {
                return false;
            }
            match (&o.component, &i.component) {
                (None, _) => true,
                (Some(_), _) if host_level(i) => true,
                (Some(want), Some(got)) => same_component(want, got),
                (Some(_), None) => true,
            }
        }
    }
}

fn in_planned_work(i: &Incident, truth: &GroundTruth) -> bool {
    let Some(host) = i.host_id.as_deref() else {
        return false;
    };
    truth
        .planned
        .iter()
        .any(|p| p.host_id == host && i.opened_ms >= p.start_ts && i.opened_ms < p.end_ts)
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Recall, lead time, precision and false incidents of one detector.
pub fn score(name: &str, incidents: &[Incident], truth: &GroundTruth) -> DetectorReport {
    let rack_of: BTreeMap<&str, &str> = truth
        .hosts
        .iter()
        .map(|h| (h.host_id.as_str(), h.rack.as_str()))
        .collect();
    let mut predictable = 0_usize;
    let mut detected = 0_usize;
    let mut slow_leads_h = Vec::new();
    let mut slow_detected = 0_usize;
    let mut slow = 0_usize;
    let mut missed = Vec::new();
    for o in &truth.outcomes {
        let Some(first) = o.first_precursor_ts.filter(|_| o.predictable) else {
            continue;
        };
        predictable += 1;
        if o.pace == Pace::Slow {
            slow += 1;
        }
        let earliest = incidents
            .iter()
            .filter(|i| i.opened_ms >= first && i.opened_ms <= o.failure_ts)
            .filter(|i| on_target(i, o, &rack_of))
            .map(|i| i.opened_ms)
            .min();
        match earliest {
            Some(at) => {
                detected += 1;
                if o.pace == Pace::Slow {
                    slow_detected += 1;
                    slow_leads_h.push((o.failure_ts - at) as f64 / 3_600_000.0);
                }
            }
            None => missed.push(format!("{:?}: {}", o.kind, o.description)),
        }
    }
    let mut counted = 0_usize;
    let mut true_incidents = 0_usize;
    let mut false_by_rule: BTreeMap<String, usize> = BTreeMap::new();
    for i in incidents {
        if in_planned_work(i, truth) {
            continue;
        }
        counted += 1;
        let explained = truth.outcomes.iter().any(|o| {
            let from = o.first_precursor_ts.unwrap_or(o.failure_ts);
            i.opened_ms >= from
                && i.opened_ms <= o.failure_ts + AFTER_FAILURE_MS
                && on_target(i, o, &rack_of)
        });
        tracing::debug!(
            detector = name,
            rule = %i.rule,
            host = ?i.host_id,
            component = ?i.component,
            place = ?i.place,
            opened_ms = i.opened_ms,
            explained,
            "incident"
        );
        if explained {
            true_incidents += 1;
        } else {
            *false_by_rule.entry(i.rule.clone()).or_default() += 1;
        }
    }
    let false_incidents = counted - true_incidents;
    let server_days = truth.server_days();
    DetectorReport {
        detector: name.to_owned(),
        incidents: counted,
        true_incidents,
        false_incidents,
        predictable_failures: predictable,
        detected_failures: detected,
        recall: ratio(detected, predictable),
        slow_failures: slow,
        slow_detected,
        median_lead_time_hours: median(slow_leads_h),
        precision: ratio(true_incidents, counted),
        false_per_1000_server_days: if server_days > 0.0 {
            false_incidents as f64 * 1000.0 / server_days
        } else {
            0.0
        },
        false_by_rule,
        missed,
    }
}

fn ratio(a: usize, b: usize) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HostInfo, OutcomeKind};

    fn truth(outcomes: Vec<Outcome>) -> GroundTruth {
        GroundTruth {
            seed: 1,
            start_ms: 0,
            end_ms: 10 * 86_400_000,
            interval_ms: 60_000,
            hosts: ["h1", "h2"]
                .iter()
                .map(|h| HostInfo {
                    host_id: (*h).into(),
                    hostname: (*h).into(),
                    site: "s1".into(),
                    rack: "r1".into(),
                    hardware_model: "m".into(),
                    role: "web".into(),
                })
                .collect(),
            outcomes,
            planned: Vec::new(),
            decoys: Vec::new(),
        }
    }

    fn fan_outcome() -> Outcome {
        Outcome {
            host_id: Some("h1".into()),
            site: "s1".into(),
            rack: "r1".into(),
            component: Some(ComponentId::new(ComponentKind::Fan, "FAN2")),
            kind: OutcomeKind::FanFailure,
            pace: Pace::Slow,
            failure_ts: 5 * 86_400_000,
            first_precursor_ts: Some(86_400_000),
            predictable: true,
            description: "fan".into(),
        }
    }

    fn incident(host: &str, component: Option<ComponentId>, at: i64) -> Incident {
        Incident {
            host_id: Some(host.into()),
            component,
            place: None,
            opened_ms: at,
            rule: "r".into(),
        }
    }

    #[test]
    fn right_component_in_window_detects_with_lead_time() {
        let t = truth(vec![fan_outcome()]);
        let fan = ComponentId::new(ComponentKind::Fan, "nct6775/fan2");
        let r = score("x", &[incident("h1", Some(fan), 2 * 86_400_000)], &t);
        assert_eq!(r.detected_failures, 1);
        assert_eq!(r.median_lead_time_hours, Some(72.0));
        assert_eq!(r.false_incidents, 0);
        assert_eq!(r.precision, Some(1.0));
    }

    #[test]
    fn wrong_part_wrong_host_or_too_early_is_false() {
        let t = truth(vec![fan_outcome()]);
        let other = ComponentId::new(ComponentKind::Fan, "nct6775/fan1");
        let fan = ComponentId::new(ComponentKind::Fan, "FAN2");
        let incidents = [
            incident("h1", Some(other), 2 * 86_400_000),
            incident("h2", Some(fan.clone()), 2 * 86_400_000),
            incident("h1", Some(fan), 1_000),
        ];
        let r = score("x", &incidents, &t);
        assert_eq!(r.detected_failures, 0);
        assert_eq!(r.recall, Some(0.0));
        assert_eq!(r.false_incidents, 3);
        assert!((r.false_per_1000_server_days - 150.0).abs() < 1e-9);
    }
}
