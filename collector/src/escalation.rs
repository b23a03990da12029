//! Repeat and escalation of open incidents, per route (`repeat_interval`,
//! `escalate_after`, `escalate_to`; see `crate::routing`).
//!
//! A periodic pass over open incidents: an incident open longer than its route's
//! `escalate_after` whose severity is below `escalate_to` is raised to it (an `update`
//! to the notifiers of the route for the new severity, so a route that pages on
//! `critical` now pages); otherwise an incident on which nothing changed for its route's
//! `repeat_interval` is sent again as an `update`, so a ticket nobody worked is brought
//! back to people's attention.
//!
//! Time is EVENT time, like every other incident decision: "now" for an incident is the
//! newest timestamp its host has sent (the batch log's `max_ts`; for a place incident,
//! the newest of the place's hosts). A collector replaying a backlog, or restarted after
//! a day down, therefore neither floods desks with repeats for time that did not pass
//! for the data nor misses time that did; and tests drive it with batch timestamps, not
//! sleeps. The consequence, deliberately accepted: an incident whose hosts stopped
//! sending has a frozen clock and is neither repeated nor escalated until they send
//! again (a silent host is the liveness check's business, on the wall clock).
//!
//! Idempotent across restarts: what was sent is recorded in the incident's details in
//! the same transaction as the queued notifications (`repeated_at_ms`, `repeats`,
//! `escalated_at_ms`, `escalated_from`), and the incident's own `updated_at_ms` is left
//! alone, so the detector's next finding is never judged older than this change.

use crate::config::RouteConfig;
use crate::incident::{self, Action};
use crate::routing::{Matched, Router, Subject};
use crate::state::now_ms;
use crate::store::{DbError, IncidentChange, IncidentRow, Store};
use crate::sync::notice;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// Open incidents looked at per pass.
const OPEN_LIMIT: i64 = 10_000;

/// What one pass did, for logs and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EscalationReport {
    pub checked: usize,
    pub repeated: usize,
    pub escalated: usize,
    pub failed: usize,
}

/// What is due for one incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    Escalate { to: String },
    Repeat,
}

/// The periodic task.
pub struct Escalator {
    store: Arc<dyn Store>,
    router: Router,
    public_url: String,
    outbox_wake: Arc<Notify>,
    active: bool,
}

impl Escalator {
    /// `notifiers` are the configured notifiers' names, in order.
    pub fn new(
        store: Arc<dyn Store>,
        routes: &[RouteConfig],
        notifiers: Vec<String>,
        public_url: String,
        outbox_wake: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            router: Router::new(routes, notifiers),
            public_url,
            outbox_wake,
            active: routes.iter().any(has_timing),
        }
    }

    /// Whether any route repeats or escalates.
    pub fn has_work(&self) -> bool {
        self.active
    }

    /// Runs a pass every `every` until `stop` turns true (returns at once without work).
    pub async fn run(self, mut stop: watch::Receiver<bool>, every: Duration) {
        if !self.active {
            return;
        }
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            match self.pass().await {
                Ok(report) if report.repeated + report.escalated + report.failed > 0 => {
                    tracing::debug!(?report, "escalation pass");
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "escalation pass failed; retrying later"),
            }
        }
    }

    /// One pass over the open incidents.
    pub async fn pass(&self) -> Result<EscalationReport, DbError> {
        let mut report = EscalationReport::default();
        if !self.active {
            return Ok(report);
        }
        for incident in self.store.incidents(None, true, OPEN_LIMIT).await? {
            report.checked += 1;
            match self.check(&incident).await {
                Ok(Some(Due::Escalate { .. })) => report.escalated += 1,
                Ok(Some(Due::Repeat)) => report.repeated += 1,
                Ok(None) => {}
                Err(error) => {
                    report.failed += 1;
                    tracing::warn!(incident_id = incident.id, %error, "escalation check failed");
                }
            }
        }
        Ok(report)
    }

    /// Acts on one incident if something is due; returns what was done.
    async fn check(&self, incident: &IncidentRow) -> Result<Option<Due>, DbError> {
        let host =
            notice::host_info(self.store.as_ref(), &self.public_url, &incident.host_id).await?;
        let kind = Subject::component_kind_of(incident.component.as_deref());
        let matched = self.router.route(&Subject {
            severity: &incident.severity,
            component_kind: kind,
            labels: &host.labels,
        });
        if !matched.iter().any(|m| {
            m.repeat_interval_ms.is_some()
                || (m.escalate_after_ms.is_some() && m.escalate_to.is_some())
        }) {
            return Ok(None);
        }
        let Some(clock) = self.event_time(incident).await? else {
            return Ok(None);
        };
        let Some(due) = due(incident, &matched, clock) else {
            return Ok(None);
        };
        if self.silenced(incident).await? {
            tracing::debug!(
                incident_id = incident.id,
                "repeat/escalation held back by a silence"
            );
            return Ok(None);
        }
        let mut after = incident.clone();
        match &due {
            Due::Escalate { to } => {
                after.details =
                    notice::with_detail(&after.details, "escalated_from", json!(incident.severity));
                after.details =
                    notice::with_detail(&after.details, "escalated_at_ms", json!(clock));
                // The escalation is a re-notification too: the repeat clock restarts.
                after.details = notice::with_detail(&after.details, "repeated_at_ms", json!(clock));
                after.severity.clone_from(to);
            }
            Due::Repeat => {
                let repeats = incident
                    .details
                    .get("repeats")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                after.details = notice::with_detail(&after.details, "repeated_at_ms", json!(clock));
                after.details = notice::with_detail(&after.details, "repeats", json!(repeats + 1));
            }
        }
        // The new severity picks the notifiers, as it would for a detector's update.
        let notifiers = self.router.notifiers(&Subject {
            severity: &after.severity,
            component_kind: kind,
            labels: &host.labels,
        });
        let key = incident::idempotency_key(
            &incident.dedup_key,
            incident.opened_at_ms,
            Action::Update,
            "{revision}",
        );
        let notifications: Vec<_> = notifiers
            .iter()
            .map(|n| notice::notification(n, "update", &key, &after, &host))
            .collect();
        let change = IncidentChange::Update {
            id: incident.id,
            severity: after.severity.clone(),
            title: after.title.clone(),
            details: after.details.clone(),
            at_ms: incident.updated_at_ms,
        };
        match self
            .store
            .apply_incident_change(change, notifications)
            .await
        {
            Ok(row) => {
                tracing::info!(incident_id = row.id, due = ?due, severity = %row.severity,
                    event_time_ms = clock, "incident re-notified");
                self.outbox_wake.notify_one();
                Ok(Some(due))
            }
            // Resolved since it was listed: nothing is due any more.
            Err(DbError::Conflict(_) | DbError::NotFound) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// The incident's event time: the newest timestamp of its host, or of the hosts of
    /// its place (`details.place.hosts`, set by the engine for topology incidents).
    async fn event_time(&self, incident: &IncidentRow) -> Result<Option<i64>, DbError> {
        let mut hosts = vec![incident.host_id.clone()];
        if let Some(place) = incident
            .details
            .get("place")
            .and_then(|p| p.get("hosts"))
            .and_then(Value::as_array)
        {
            hosts.extend(place.iter().filter_map(Value::as_str).map(str::to_owned));
        }
        hosts.sort();
        hosts.dedup();
        let mut newest = None;
        for host in &hosts {
            if let Some(ts) = self.store.latest_event_ms(host).await? {
                newest = Some(newest.map_or(ts, |n: i64| n.max(ts)));
            }
        }
        Ok(newest)
    }

    async fn silenced(&self, incident: &IncidentRow) -> Result<bool, DbError> {
        let silences = self
            .store
            .active_silences(Some(&incident.host_id), now_ms())
            .await?;
        Ok(silences
            .iter()
            .any(|s| s.component.is_none() || s.component == incident.component))
    }
}

/// What is due for `incident` at event time `clock` under its matched routes: an
/// escalation first (the shortest `escalate_after` whose target is above the current
/// severity), else a repeat (the shortest `repeat_interval` since the last change or
/// repeat, whichever is later).
pub fn due(incident: &IncidentRow, matched: &[Matched], clock: i64) -> Option<Due> {
    let open_for = clock.saturating_sub(incident.opened_at_ms);
    let escalation = matched
        .iter()
        .filter_map(|m| Some((m.escalate_after_ms?, m.escalate_to.as_deref()?)))
        .filter(|(after, to)| open_for >= *after && rank(to) > rank(&incident.severity))
        .min_by_key(|(after, _)| *after);
    if let Some((_, to)) = escalation {
        return Some(Due::Escalate { to: to.to_owned() });
    }
    let repeat = matched.iter().filter_map(|m| m.repeat_interval_ms).min()?;
    let last = incident
        .details
        .get("repeated_at_ms")
        .and_then(Value::as_i64)
        .unwrap_or(i64::MIN)
        .max(incident.updated_at_ms);
    (repeat > 0 && clock.saturating_sub(last) >= repeat).then_some(Due::Repeat)
}

/// Severity order; an unknown name ranks lowest so it is always escalated.
fn rank(severity: &str) -> u8 {
    match severity {
        "info" => 1,
        "warning" => 2,
        "error" => 3,
        "critical" => 4,
        _ => 0,
    }
}

fn has_timing(route: &RouteConfig) -> bool {
    route.repeat_interval.is_some()
        || (route.escalate_after.is_some() && route.escalate_to.is_some())
        || route.routes.iter().any(has_timing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::IncidentStatus;

    fn incident(severity: &str, opened: i64, updated: i64, details: Value) -> IncidentRow {
        IncidentRow {
            id: 1,
            dedup_key: "h/k".into(),
            host_id: "h".into(),
            kind: "filesystem_full".into(),
            component: None,
            severity: severity.into(),
            status: IncidentStatus::Open,
            title: "t".into(),
            details,
            opened_at_ms: opened,
            updated_at_ms: updated,
            resolved_at_ms: None,
            revision: 1,
        }
    }

    fn route(repeat: Option<i64>, after: Option<i64>, to: Option<&str>) -> Matched {
        Matched {
            route: "r".into(),
            notifiers: vec![],
            group_by: vec![],
            repeat_interval_ms: repeat,
            escalate_after_ms: after,
            escalate_group_size: None,
            escalate_to: to.map(str::to_owned),
        }
    }

    #[test]
    fn repeat_counts_from_the_later_of_change_and_last_repeat() {
        let r = [route(Some(100), None, None)];
        let fresh = incident("warning", 0, 50, json!({}));
        assert_eq!(due(&fresh, &r, 149), None);
        assert_eq!(due(&fresh, &r, 150), Some(Due::Repeat));
        let repeated = incident("warning", 0, 50, json!({"repeated_at_ms": 150}));
        assert_eq!(due(&repeated, &r, 249), None);
        assert_eq!(due(&repeated, &r, 250), Some(Due::Repeat));
    }

    #[test]
    fn escalation_raises_once_and_wins_over_a_repeat() {
        let r = [route(Some(10), Some(1_000), Some("critical"))];
        let warning = incident("warning", 0, 0, json!({}));
        assert_eq!(due(&warning, &r, 999), Some(Due::Repeat));
        assert_eq!(
            due(&warning, &r, 1_000),
            Some(Due::Escalate {
                to: "critical".into()
            })
        );
        let critical = incident("critical", 0, 0, json!({"repeated_at_ms": 995}));
        assert_eq!(due(&critical, &r, 1_000), None, "already there");
        assert_eq!(due(&critical, &r, 1_005), Some(Due::Repeat));
    }

    #[test]
    fn routes_without_timing_never_fire() {
        let r = [route(None, None, None)];
        assert_eq!(due(&incident("info", 0, 0, json!({})), &r, i64::MAX), None);
    }
}
