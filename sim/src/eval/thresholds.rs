//! Reference detector 1: static thresholds, as in common Prometheus alert-rule sets
//! (awesome-prometheus-alerts' smartctl, node_exporter, EDAC, hwmon and IPMI rules).
//!
//! Each rule is `expr` held `for` a duration, per series, as Prometheus evaluates it;
//! every firing (pending → firing) is one incident, and a rule that resolves and fires
//! again opens another, as Alertmanager would notify again.

use super::{Detector, Incident};
use crate::names::{self, label as l, smart};
use harbinger_shared::catalogue::names as cat;
use harbinger_shared::{Batch, ComponentId, ComponentKind};
use std::collections::{BTreeMap, HashMap};

const MIN: i64 = 60_000;

/// What a rule compares.
#[derive(Debug, Clone, Copy)]
enum Expr {
    /// `value > x` (or `< x` when `below`).
    Above(f64),
    Below(f64),
    /// `value != x`.
    NotEq(f64),
    /// `increase(counter[interval]) > 0`.
    Increases,
}

/// One alert rule.
#[derive(Debug, Clone, Copy)]
struct Rule {
    name: &'static str,
    expr: Expr,
    for_ms: i64,
}

const fn rule(name: &'static str, expr: Expr, for_ms: i64) -> Rule {
    Rule { name, expr, for_ms }
}

/// The rules that apply to one series (most series have none).
fn rules_for(metric: &str, labels: &BTreeMap<String, String>) -> Vec<Rule> {
    let attr = labels.get(l::ATTRIBUTE_ID).map(String::as_str);
    let temp_attr = smart::TEMPERATURE.0.to_string();
    match metric {
        m if m == cat::SMART_STATUS => vec![rule("SmartDeviceFailed", Expr::NotEq(1.0), 0)],
        m if m == cat::NVME_CRITICAL_WARNING => {
            vec![rule("SmartCriticalWarning", Expr::Above(0.0), 15 * MIN)]
        }
        m if m == cat::NVME_MEDIA_ERRORS => {
            vec![rule("SmartMediaErrors", Expr::Above(0.0), 15 * MIN)]
        }
        // Without a threshold series, the common vendor threshold of 10 %.
        m if m == cat::NVME_AVAILABLE_SPARE => {
            vec![rule("SmartWearoutIndicator", Expr::Below(0.10), 15 * MIN)]
        }
        m if m == cat::SMART_TEMPERATURE
            || (m == cat::SMART_ATTRIBUTE_RAW && attr == Some(temp_attr.as_str())) =>
        {
            vec![
                rule("SmartDeviceTemperatureWarning", Expr::Above(60.0), 2 * MIN),
                rule("SmartDeviceTemperatureCritical", Expr::Above(70.0), 2 * MIN),
            ]
        }
        m if m == cat::EDAC_DIMM_CE || m == cat::EDAC_CE => vec![rule(
            "HostEdacCorrectableErrorsDetected",
            Expr::Increases,
            0,
        )],
        m if m == cat::EDAC_DIMM_UE || m == cat::EDAC_UE => vec![rule(
            "HostEdacUncorrectableErrorsDetected",
            Expr::Increases,
            0,
        )],
        m if m == cat::HWMON_TEMP => {
            vec![rule(
                "HostPhysicalComponentTooHot",
                Expr::Above(75.0),
                5 * MIN,
            )]
        }
        m if m == cat::HWMON_TEMP_ALARM || m == cat::HWMON_TEMP_CRIT_ALARM => {
            vec![rule("HostNodeOvertemperatureAlarm", Expr::Above(0.0), 0)]
        }
        m if m == cat::HWMON_FAN_ALARM || m == cat::HWMON_FAN_FAULT => {
            vec![rule("HostFanAlarm", Expr::Above(0.0), 0)]
        }
        m if m == cat::IPMI_SENSOR_STATE => vec![rule("IpmiSensorState", Expr::Above(0.5), MIN)],
        m if m == cat::FS_USED_RATIO => {
            vec![rule("HostOutOfDiskSpace", Expr::Above(0.90), 2 * MIN)]
        }
        m if m == cat::CPU_USAGE && labels.get(l::CPU).is_some_and(|c| c == "total") => {
            vec![rule("HostHighCpuLoad", Expr::Above(0.80), 5 * MIN)]
        }
        _ => Vec::new(),
    }
}

/// The part an alert's labels point at, for matching against outcomes.
fn component_of(metric: &str, labels: &BTreeMap<String, String>) -> Option<ComponentId> {
    let get = |k: &str| labels.get(k).cloned();
    if let Some(id) = get(l::DEVICE_ID) {
        return Some(ComponentId::new(ComponentKind::Disk, id));
    }
    if metric.starts_with("node_edac_dimm_") {
        return get(l::LABEL).map(|id| ComponentId::new(ComponentKind::Dimm, id));
    }
    if metric.starts_with("node_hwmon_fan_") {
        return get(l::LABEL)
            .or_else(|| get(l::SENSOR))
            .map(|id| ComponentId::new(ComponentKind::Fan, id));
    }
    if metric.starts_with("ipmi_sensor_") {
        let name = get(l::NAME)?;
        let kind = match labels.get(l::TYPE).map(String::as_str) {
            Some(names::ipmi::TYPE_FAN) => ComponentKind::Fan,
            Some(names::ipmi::TYPE_POWER_SUPPLY) => ComponentKind::Psu,
            _ => ComponentKind::Sensor,
        };
        return Some(ComponentId::new(kind, name));
    }
    if metric.starts_with("node_hwmon_") {
        let id = [get(l::CHIP), get(l::SENSOR)]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("/");
        return Some(ComponentId::new(ComponentKind::Sensor, id));
    }
    if let Some(mp) = get(l::MOUNTPOINT) {
        return Some(ComponentId::new(ComponentKind::Filesystem, mp));
    }
    None
}

#[derive(Debug, Default)]
struct AlertState {
    pending_since: Option<i64>,
    firing: bool,
    last_value: Option<f64>,
}

struct Watched {
    rules: Vec<Rule>,
    states: Vec<AlertState>,
    component: Option<ComponentId>,
}

/// The name reports and `--detectors` use.
pub const NAME: &str = "static-thresholds";

/// Static-threshold alerting, evaluated at every sample.
pub struct StaticThresholds {
    series: HashMap<(String, String, BTreeMap<String, String>), Watched>,
    /// Host → last sample time and whether `HostDown` is firing.
    hosts: BTreeMap<String, (i64, bool)>,
    /// A host is down when silent this long beyond the batch span (`up == 0` for 5m).
    down_after_ms: i64,
    incidents: Vec<Incident>,
}

impl StaticThresholds {
    pub fn new(interval_ms: u64, batch_intervals: u32) -> Self {
        let span = interval_ms.saturating_mul(u64::from(batch_intervals));
        Self {
            series: HashMap::new(),
            hosts: BTreeMap::new(),
            down_after_ms: i64::try_from(span).unwrap_or(i64::MAX / 2) + 5 * MIN,
            incidents: Vec::new(),
        }
    }

    fn check_down(&mut self, now: i64) {
        for (host, (last, down)) in &mut self.hosts {
            if !*down && now - *last > self.down_after_ms {
                *down = true;
                self.incidents.push(Incident {
                    host_id: Some(host.clone()),
                    component: None,
                    place: None,
                    opened_ms: *last + self.down_after_ms,
                    rule: "HostDown".into(),
                });
            }
        }
    }
}

impl Detector for StaticThresholds {
    fn name(&self) -> &'static str {
        NAME
    }

    fn feed(&mut self, batch: &Batch) {
        let host = &batch.agent.host_id;
        let mut newest = i64::MIN;
        for s in &batch.series {
            let key = (host.clone(), s.metric.clone(), s.labels.clone());
            let watched = self.series.entry(key).or_insert_with(|| {
                let rules = rules_for(&s.metric, &s.labels);
                Watched {
                    states: rules.iter().map(|_| AlertState::default()).collect(),
                    component: component_of(&s.metric, &s.labels),
                    rules,
                }
            });
            for p in &s.points {
                newest = newest.max(p.ts);
                for (r, st) in watched.rules.iter().zip(watched.states.iter_mut()) {
                    let holds = match r.expr {
                        Expr::Above(x) => p.value > x,
                        Expr::Below(x) => p.value < x,
                        Expr::NotEq(x) => p.value != x,
                        Expr::Increases => st.last_value.is_some_and(|prev| p.value > prev),
                    };
                    st.last_value = Some(p.value);
                    if !holds {
                        st.pending_since = None;
                        st.firing = false;
                        continue;
                    }
                    let since = *st.pending_since.get_or_insert(p.ts);
                    if !st.firing && p.ts - since >= r.for_ms {
                        st.firing = true;
                        self.incidents.push(Incident {
                            host_id: Some(host.clone()),
                            component: watched.component.clone(),
                            place: None,
                            opened_ms: p.ts,
                            rule: r.name.to_owned(),
                        });
                    }
                }
            }
        }
        if newest > i64::MIN {
            let entry = self.hosts.entry(host.clone()).or_insert((newest, false));
            entry.0 = entry.0.max(newest);
            entry.1 = false;
            self.check_down(newest);
        }
    }

    fn finish(&mut self, end_ms: i64) -> Vec<Incident> {
        self.check_down(end_ms);
        std::mem::take(&mut self.incidents)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harbinger_shared::{AgentIdentity, Point, Series, PROTOCOL_VERSION};

    fn batch(host: &str, metric: &str, labels: &[(&str, &str)], points: &[(i64, f64)]) -> Batch {
        Batch {
            protocol_version: PROTOCOL_VERSION,
            agent: AgentIdentity {
                host_id: host.into(),
                hostname: host.into(),
                labels: BTreeMap::new(),
                agent_version: "test".into(),
            },
            seq: 1,
            interval_ms: 60_000,
            series: vec![Series {
                metric: metric.into(),
                labels: labels
                    .iter()
                    .map(|(k, v)| ((*k).into(), (*v).into()))
                    .collect(),
                points: points
                    .iter()
                    .map(|&(ts, value)| Point { ts, value })
                    .collect(),
            }],
            events: Vec::new(),
            inventory: None,
        }
    }

    #[test]
    fn cpu_rule_needs_five_minutes_and_fires_again_after_resolving() {
        let mut d = StaticThresholds::new(60_000, 10);
        let pts: Vec<(i64, f64)> = (0..20)
            .map(|m| {
                (
                    m * MIN,
                    if (3..10).contains(&m) || m >= 14 {
                        0.95
                    } else {
                        0.1
                    },
                )
            })
            .collect();
        d.feed(&batch("h1", cat::CPU_USAGE, &[("cpu", "total")], &pts));
        let got = d.finish(20 * MIN);
        let opened: Vec<i64> = got.iter().map(|i| i.opened_ms / MIN).collect();
        // 3..10 holds 6 minutes (fires at 8); 14..20 fires at 19.
        assert_eq!(opened, vec![8, 19]);
        assert!(got.iter().all(|i| i.rule == "HostHighCpuLoad"));
    }

    #[test]
    fn edac_increase_names_the_dimm_and_silence_is_host_down() {
        let mut d = StaticThresholds::new(60_000, 10);
        let labels = [("controller", "0"), ("dimm", "0"), ("label", "DIMM_A1")];
        d.feed(&batch(
            "h1",
            cat::EDAC_DIMM_CE,
            &labels,
            &[(0, 0.0), (MIN, 0.0), (2 * MIN, 3.0)],
        ));
        d.feed(&batch("h2", cat::LOAD1, &[], &[(60 * MIN, 0.1)]));
        let got = d.finish(60 * MIN);
        let edac = got
            .iter()
            .find(|i| i.rule == "HostEdacCorrectableErrorsDetected");
        let edac = edac.expect("edac alert");
        assert_eq!(edac.opened_ms, 2 * MIN);
        assert_eq!(
            edac.component,
            Some(ComponentId::new(ComponentKind::Dimm, "DIMM_A1"))
        );
        let down: Vec<&str> = got
            .iter()
            .filter(|i| i.rule == "HostDown")
            .filter_map(|i| i.host_id.as_deref())
            .collect();
        assert_eq!(down, vec!["h1"]);
    }
}
