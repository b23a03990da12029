//! The incident lifecycle: from a [`Finding`] and the stored open incident (if any) to
//! the change to store and the notifications it causes.
//!
//! INVARIANT: pure and deterministic, like `analysis/`. Given the same finding and the
//! same stored incident, [`plan`] returns the same change and the same notifications,
//! with idempotency keys that stay stable across collector restarts:
//! `<dedup_key>#<opened_at_ms>/<action>/<revision>`.
//!
//! Transitions: open when a condition fires and nothing is open under its key; update
//! when it persists and the evidence moved materially (or the severity changed), not on
//! every batch; resolve when it clears. The incident id and revision are only known once
//! the store applies the change, so they travel as `{incident_id}` / `{revision}`
//! placeholders which the store fills inside the same transaction.

use crate::analysis::{Condition, Evidence, Finding};
use crate::store::{IncidentChange, IncidentRow, NewIncident, NewOutbox};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Version of the notification body, sent as `version`.
pub const PAYLOAD_VERSION: &str = "1";
/// Key of the last notified `level` inside an incident's details.
const LEVEL_KEY: &str = "level";

/// What a service desk is told happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Open,
    Update,
    Resolve,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Open => "open",
            Action::Update => "update",
            Action::Resolve => "resolve",
        }
    }
}

/// The host an incident is about, as notifications describe it.
#[derive(Debug, Clone, PartialEq)]
pub struct HostInfo {
    pub host_id: String,
    pub hostname: String,
    pub labels: BTreeMap<String, String>,
    /// Link to the host's dashboard page.
    pub dashboard_url: String,
}

/// A change to store together with its notifications.
#[derive(Debug, Clone)]
pub struct Plan {
    pub action: Action,
    pub change: IncidentChange,
    pub notifications: Vec<NewOutbox>,
}

/// Decides what, if anything, a finding changes. `open` must be the stored open incident
/// with the finding's dedup key. `notifiers` are the names of the configured notifiers.
pub fn plan(
    finding: &Finding,
    open: Option<&IncidentRow>,
    host: &HostInfo,
    notifiers: &[String],
) -> Option<Plan> {
    // Evidence older than the incident's last change says nothing new; this also keeps
    // a replayed backlog from flapping an incident.
    if open.is_some_and(|o| finding.at_ms < o.updated_at_ms) {
        return None;
    }
    let (action, snapshot, change) = match (&finding.condition, open) {
        (Condition::Firing(evidence), None) => {
            let details = details_with_level(evidence);
            let change = IncidentChange::Open(NewIncident {
                dedup_key: finding.dedup_key.clone(),
                host_id: finding.host_id.clone(),
                kind: finding.kind.to_owned(),
                component: finding.component.clone(),
                severity: evidence.severity.as_str().to_owned(),
                title: evidence.title.clone(),
                details: details.clone(),
                at_ms: finding.at_ms,
            });
            let snapshot = Snapshot {
                dedup_key: &finding.dedup_key,
                host_id: &finding.host_id,
                kind: finding.kind,
                component: finding.component.as_deref(),
                severity: evidence.severity.as_str(),
                status: "open",
                title: &evidence.title,
                details,
                opened_at_ms: finding.at_ms,
                updated_at_ms: finding.at_ms,
                resolved_at_ms: None,
            };
            (Action::Open, snapshot, change)
        }
        (Condition::Firing(evidence) | Condition::Holding(evidence), Some(open)) => {
            if !is_material(evidence, open) {
                return None;
            }
            let details = details_with_level(evidence);
            let change = IncidentChange::Update {
                id: open.id,
                severity: evidence.severity.as_str().to_owned(),
                title: evidence.title.clone(),
                details: details.clone(),
                at_ms: finding.at_ms,
            };
            let snapshot = Snapshot {
                severity: evidence.severity.as_str(),
                title: &evidence.title,
                details,
                updated_at_ms: finding.at_ms,
                ..Snapshot::of(open)
            };
            (Action::Update, snapshot, change)
        }
        (Condition::Clear { summary }, Some(open)) => {
            let mut details = match &open.details {
                Value::Object(map) => map.clone(),
                _ => Map::new(),
            };
            details.insert("resolution".into(), json!(summary));
            let details = Value::Object(details);
            let change = IncidentChange::Resolve {
                id: open.id,
                details: details.clone(),
                at_ms: finding.at_ms,
            };
            let snapshot = Snapshot {
                status: "resolved",
                details,
                updated_at_ms: finding.at_ms,
                resolved_at_ms: Some(finding.at_ms),
                ..Snapshot::of(open)
            };
            (Action::Resolve, snapshot, change)
        }
        (Condition::Holding(_) | Condition::Clear { .. }, None) => return None,
    };
    let notifications = notifiers
        .iter()
        .map(|notifier| notification(notifier, action, &snapshot, host))
        .collect();
    Some(Plan {
        action,
        change,
        notifications,
    })
}

/// Kind of incidents opened by the analysis engine for a component's health case.
pub const KIND_HEALTH: &str = "health";
/// Kind of incidents the engine opens for a place (rack, PDU, site): many hosts at once.
pub const KIND_TOPOLOGY: &str = "topology";

/// Decides what an engine [`Transition`](harbinger_engine::Transition) changes. The
/// engine already decided open / update / resolve (with its hysteresis), so this maps
/// it onto the stored incident: an update or resolve of an incident the store does not
/// have open is dropped, an open of one it already has becomes an update. The engine's
/// explanation goes into `details`, so tickets and the dashboard show it.
pub fn plan_transition(
    t: &harbinger_engine::Transition,
    open: Option<&IncidentRow>,
    host: &HostInfo,
    notifiers: &[String],
) -> Option<Plan> {
    use harbinger_engine::Action as EngineAction;
    // The engine orders its own transitions, so none is stale; but a liveness tick
    // judges at wall-clock time, which can be later than backfilled event time, and an
    // incident's history must not run backwards.
    let at_ms = open.map_or(t.at_ms, |o| t.at_ms.max(o.updated_at_ms));
    let details = transition_details(t);
    let severity = t.severity.as_str();
    let (action, snapshot, change) = match (t.action, open) {
        (EngineAction::Open | EngineAction::Update, None) => {
            if t.action == EngineAction::Update {
                // The store lost track (e.g. closed by a person): the engine still sees
                // the problem, so it is opened again rather than silently dropped.
                tracing::debug!(key = %t.dedup_key, "engine update without open incident: opening");
            }
            let (kind, component) = transition_kind(t);
            let change = IncidentChange::Open(NewIncident {
                dedup_key: t.dedup_key.clone(),
                host_id: host.host_id.clone(),
                kind: kind.to_owned(),
                component: component.clone(),
                severity: severity.to_owned(),
                title: t.title.clone(),
                details: details.clone(),
                at_ms: t.at_ms,
            });
            let snapshot = Snapshot {
                dedup_key: &t.dedup_key,
                host_id: &host.host_id,
                kind,
                component: None,
                severity,
                status: "open",
                title: &t.title,
                details,
                opened_at_ms: t.at_ms,
                updated_at_ms: t.at_ms,
                resolved_at_ms: None,
            };
            let notifications = notifiers
                .iter()
                .map(|n| {
                    notification(
                        n,
                        Action::Open,
                        &Snapshot {
                            component: component.as_deref(),
                            ..snapshot.clone()
                        },
                        host,
                    )
                })
                .collect();
            return Some(Plan {
                action: Action::Open,
                change,
                notifications,
            });
        }
        (EngineAction::Open | EngineAction::Update, Some(open)) => {
            let change = IncidentChange::Update {
                id: open.id,
                severity: severity.to_owned(),
                title: t.title.clone(),
                details: details.clone(),
                at_ms,
            };
            let snapshot = Snapshot {
                severity,
                title: &t.title,
                details,
                updated_at_ms: at_ms,
                ..Snapshot::of(open)
            };
            (Action::Update, snapshot, change)
        }
        (EngineAction::Resolve, Some(open)) => {
            let change = IncidentChange::Resolve {
                id: open.id,
                details: details.clone(),
                at_ms,
            };
            let snapshot = Snapshot {
                status: "resolved",
                details,
                updated_at_ms: at_ms,
                resolved_at_ms: Some(at_ms),
                ..Snapshot::of(open)
            };
            (Action::Resolve, snapshot, change)
        }
        (EngineAction::Resolve, None) => return None,
    };
    let notifications = notifiers
        .iter()
        .map(|notifier| notification(notifier, action, &snapshot, host))
        .collect();
    Some(Plan {
        action,
        change,
        notifications,
    })
}

/// The incident kind and `kind:id` component of a transition.
fn transition_kind(t: &harbinger_engine::Transition) -> (&'static str, Option<String>) {
    match (&t.component, &t.place) {
        (Some(c), _) => (KIND_HEALTH, Some(c.to_string())),
        (None, Some(p)) => (
            KIND_TOPOLOGY,
            Some(format!("place:{}={}", p.label, p.value)),
        ),
        (None, None) => (KIND_HEALTH, None),
    }
}

/// What a transition stores in `details`: risk, engine revision, the place (for
/// topology incidents), why it resolved, and the engine's whole explanation.
pub fn transition_details(t: &harbinger_engine::Transition) -> Value {
    let mut details = Map::new();
    details.insert("risk".into(), json!(t.risk));
    details.insert("engine_revision".into(), json!(t.revision));
    details.insert("engine_opened_ms".into(), json!(t.opened_ms));
    if let Some(place) = &t.place {
        details.insert(
            "place".into(),
            serde_json::to_value(place).unwrap_or(Value::Null),
        );
    }
    if let Some(reason) = &t.reason {
        details.insert("resolution".into(), json!(reason));
    }
    details.insert(
        "explanation".into(),
        serde_json::to_value(&t.explanation).unwrap_or(Value::Null),
    );
    Value::Object(details)
}

/// The idempotency key of one notification; `revision` is usually the placeholder.
pub fn idempotency_key(
    dedup_key: &str,
    opened_at_ms: i64,
    action: Action,
    revision: &str,
) -> String {
    format!("{dedup_key}#{opened_at_ms}/{}/{revision}", action.as_str())
}

fn details_with_level(evidence: &Evidence) -> Value {
    let mut details = evidence.details.clone();
    if let Some(level) = evidence.level {
        details.insert(LEVEL_KEY.into(), json!(level));
    }
    Value::Object(details)
}

fn is_material(evidence: &Evidence, open: &IncidentRow) -> bool {
    if evidence.severity.as_str() != open.severity {
        return true;
    }
    let last = open.details.get(LEVEL_KEY).and_then(Value::as_f64);
    match (evidence.level, last) {
        // A tolerance so that exactly one percentage point counts despite binary floats.
        (Some(now), Some(then)) => (now - then).abs() >= evidence.min_change - 1e-9,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// The incident as it will be after the change, for the notification body.
#[derive(Clone)]
struct Snapshot<'a> {
    dedup_key: &'a str,
    host_id: &'a str,
    kind: &'a str,
    component: Option<&'a str>,
    severity: &'a str,
    status: &'static str,
    title: &'a str,
    details: Value,
    opened_at_ms: i64,
    updated_at_ms: i64,
    resolved_at_ms: Option<i64>,
}

impl<'a> Snapshot<'a> {
    fn of(row: &'a IncidentRow) -> Self {
        Snapshot {
            dedup_key: &row.dedup_key,
            host_id: &row.host_id,
            kind: &row.kind,
            component: row.component.as_deref(),
            severity: &row.severity,
            status: row.status.as_str(),
            title: &row.title,
            details: row.details.clone(),
            opened_at_ms: row.opened_at_ms,
            updated_at_ms: row.updated_at_ms,
            resolved_at_ms: row.resolved_at_ms,
        }
    }
}

fn notification(notifier: &str, action: Action, s: &Snapshot<'_>, host: &HostInfo) -> NewOutbox {
    let key = idempotency_key(s.dedup_key, s.opened_at_ms, action, "{revision}");
    let payload = json!({
        "version": PAYLOAD_VERSION,
        "idempotency_key": key,
        "action": action.as_str(),
        "incident": {
            // Filled by the store; the outbox turns them back into numbers on delivery.
            "id": "{incident_id}",
            "dedup_key": s.dedup_key,
            "host_id": s.host_id,
            "kind": s.kind,
            "component": s.component,
            "severity": s.severity,
            "status": s.status,
            "title": s.title,
            "details": s.details,
            "opened_at_ms": s.opened_at_ms,
            "updated_at_ms": s.updated_at_ms,
            "resolved_at_ms": s.resolved_at_ms,
            "revision": "{revision}",
        },
        "host": {
            "host_id": host.host_id,
            "hostname": host.hostname,
            "labels": host.labels,
        },
        "dashboard_url": host.dashboard_url,
    });
    NewOutbox {
        notifier: notifier.to_owned(),
        action: action.as_str().to_owned(),
        idempotency_key: key,
        payload,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::IncidentStatus;
    use harbinger_shared::Severity;

    fn host() -> HostInfo {
        HostInfo {
            host_id: "h1".into(),
            hostname: "db-17".into(),
            labels: BTreeMap::from([("rack".into(), "r1".into())]),
            dashboard_url: "http://c/host.html?id=h1".into(),
        }
    }

    fn evidence(level: f64, severity: Severity) -> Evidence {
        Evidence {
            severity,
            title: format!("{level} full"),
            level: Some(level),
            min_change: 0.01,
            details: Map::new(),
        }
    }

    fn finding(at_ms: i64, condition: Condition) -> Finding {
        Finding {
            dedup_key: "h1/filesystem_full//".into(),
            host_id: "h1".into(),
            kind: "filesystem_full",
            component: Some("filesystem:/".into()),
            at_ms,
            condition,
        }
    }

    fn open_row(level: f64, updated_at_ms: i64) -> IncidentRow {
        IncidentRow {
            id: 4,
            dedup_key: "h1/filesystem_full//".into(),
            host_id: "h1".into(),
            kind: "filesystem_full".into(),
            component: Some("filesystem:/".into()),
            severity: "warning".into(),
            status: IncidentStatus::Open,
            title: "t".into(),
            details: json!({ "level": level }),
            opened_at_ms: 1_000,
            updated_at_ms,
            resolved_at_ms: None,
            revision: 1,
        }
    }

    fn notifiers() -> Vec<String> {
        vec!["desk".into(), "pager".into()]
    }

    #[test]
    fn firing_without_incident_opens_with_one_row_per_notifier() {
        let f = finding(1_000, Condition::Firing(evidence(0.95, Severity::Warning)));
        let plan = plan(&f, None, &host(), &notifiers()).expect("opens");
        assert_eq!(plan.action, Action::Open);
        assert!(
            matches!(&plan.change, IncidentChange::Open(n) if n.at_ms == 1_000 && n.severity == "warning")
        );
        let keys: Vec<_> = plan
            .notifications
            .iter()
            .map(|n| (n.notifier.as_str(), n.idempotency_key.as_str()))
            .collect();
        assert_eq!(
            keys,
            vec![
                ("desk", "h1/filesystem_full//#1000/open/{revision}"),
                ("pager", "h1/filesystem_full//#1000/open/{revision}")
            ]
        );
        let body = &plan.notifications[0].payload;
        assert_eq!(body["incident"]["details"]["level"], json!(0.95));
        assert_eq!(body["host"]["labels"]["rack"], json!("r1"));
        assert_eq!(body["action"], json!("open"));
    }

    #[test]
    fn updates_only_on_material_change_or_severity() {
        let open = open_row(0.95, 1_000);
        let same = finding(2_000, Condition::Firing(evidence(0.955, Severity::Warning)));
        assert!(plan(&same, Some(&open), &host(), &notifiers()).is_none());
        let one_point = finding(2_000, Condition::Firing(evidence(0.96, Severity::Warning)));
        let p = plan(&one_point, Some(&open), &host(), &notifiers()).expect("1 pp is material");
        assert_eq!(p.action, Action::Update);
        assert_eq!(
            p.notifications[0].idempotency_key,
            "h1/filesystem_full//#1000/update/{revision}"
        );
        let worse = finding(
            2_000,
            Condition::Firing(evidence(0.951, Severity::Critical)),
        );
        assert!(plan(&worse, Some(&open), &host(), &notifiers()).is_some());
    }

    #[test]
    fn holding_keeps_open_but_never_opens() {
        let holding = finding(2_000, Condition::Holding(evidence(0.89, Severity::Warning)));
        assert!(plan(&holding, None, &host(), &notifiers()).is_none());
        let p = plan(
            &holding,
            Some(&open_row(0.95, 1_000)),
            &host(),
            &notifiers(),
        )
        .expect("update");
        assert_eq!(p.action, Action::Update);
    }

    #[test]
    fn clear_resolves_open_and_is_ignored_otherwise() {
        let clear = finding(
            3_000,
            Condition::Clear {
                summary: "fine".into(),
            },
        );
        assert!(plan(&clear, None, &host(), &notifiers()).is_none());
        let p = plan(&clear, Some(&open_row(0.95, 1_000)), &host(), &notifiers()).expect("resolve");
        assert_eq!(p.action, Action::Resolve);
        assert!(matches!(
            p.change,
            IncidentChange::Resolve {
                id: 4,
                at_ms: 3_000,
                ..
            }
        ));
        let body = &p.notifications[0].payload;
        assert_eq!(body["incident"]["status"], json!("resolved"));
        assert_eq!(body["incident"]["resolved_at_ms"], json!(3_000));
        assert_eq!(body["incident"]["opened_at_ms"], json!(1_000));
    }

    #[test]
    fn evidence_older_than_the_last_change_is_ignored() {
        let clear = finding(
            500,
            Condition::Clear {
                summary: "old".into(),
            },
        );
        assert!(plan(&clear, Some(&open_row(0.95, 1_000)), &host(), &notifiers()).is_none());
    }

    #[test]
    fn no_notifiers_still_changes_the_incident() {
        let f = finding(1_000, Condition::Firing(evidence(0.95, Severity::Warning)));
        let p = plan(&f, None, &host(), &[]).expect("opens");
        assert!(p.notifications.is_empty());
    }
}
