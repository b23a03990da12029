//! Two-way sync: polls the service desks that allow it for what people did to
//! Harbinger's tickets, and brings incidents in step.
//!
//! - acknowledged there (an owner took it) → audit entry, ticket marked `acknowledged`,
//!   and, once per incident, an `acknowledge` queued for the incident's other notifiers
//!   that can show it (`Notifier::handles`), so PagerDuty stops paging when someone
//!   took the RT ticket;
//! - resolved there → the incident resolves here (the other notifiers are told), the
//!   resolution code is recorded as an outcome for the analysis engine;
//! - closed as "won't fix" → the same, and the component is silenced for the desk's
//!   configured time;
//! - deleted there → the reference is marked `gone`.
//!
//! Every such change goes to the audit log. Only tickets whose local reference is still
//! active are polled: a ticket Harbinger resolved itself is never read back.

pub mod notice;

use crate::analysis::{Condition, Finding};
use crate::incident;
use crate::notify::tickets::TicketBook;
use crate::notify::{DeskState, Notifier, NotifyError};
use crate::state::now_ms;
use crate::store::{AuditEntry, DbError, IncidentStatus, OutcomeRow, SilenceRow, Store, TicketRow};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

/// Why one sync step failed; the ticket is tried again at the next poll.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    #[error(transparent)]
    Desk(#[from] NotifyError),
    #[error("store: {0}")]
    Store(#[from] DbError),
}

/// What one poll of one desk changed, for logs and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub polled: usize,
    pub acknowledged: usize,
    /// `acknowledge` notifications queued for other desks.
    pub forwarded: usize,
    pub resolved: usize,
    pub silenced: usize,
    pub gone: usize,
    pub failed: usize,
}

pub struct SyncWorker {
    store: Arc<dyn Store>,
    notifiers: Vec<Arc<dyn Notifier>>,
    public_url: String,
    outbox_wake: Arc<Notify>,
}

impl SyncWorker {
    pub fn new(
        store: Arc<dyn Store>,
        notifiers: &[Arc<dyn Notifier>],
        public_url: String,
        outbox_wake: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            notifiers: notifiers.to_vec(),
            public_url,
            outbox_wake,
        }
    }

    /// Whether any notifier has a sync to run.
    pub fn has_work(&self) -> bool {
        self.notifiers.iter().any(|n| n.ticket_sync().is_some())
    }

    /// Polls each syncing desk at its own interval until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut due: Vec<(usize, Instant)> = self
            .notifiers
            .iter()
            .enumerate()
            .filter(|(_, n)| n.ticket_sync().is_some())
            .map(|(i, _)| (i, Instant::now()))
            .collect();
        if due.is_empty() {
            return;
        }
        loop {
            let Some(&(index, at)) = due.iter().min_by_key(|(_, at)| *at) else {
                return;
            };
            tokio::select! {
                _ = tokio::time::sleep_until(at) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            let Some(notifier) = self.notifiers.get(index) else {
                return;
            };
            let report = self.poll(notifier.as_ref()).await;
            if report != SyncReport::default() {
                tracing::debug!(notifier = notifier.name(), ?report, "ticket sync pass");
            }
            let interval = notifier
                .ticket_sync()
                .map_or(Duration::from_secs(60), |s| s.interval());
            if let Some(slot) = due.iter_mut().find(|(i, _)| *i == index) {
                slot.1 = Instant::now() + interval;
            }
        }
    }

    /// One pass over a desk's active tickets.
    pub async fn poll(&self, notifier: &dyn Notifier) -> SyncReport {
        let mut report = SyncReport::default();
        let Some(sync) = notifier.ticket_sync() else {
            return report;
        };
        let tickets = match self.store.active_tickets(notifier.name()).await {
            Ok(tickets) => tickets,
            Err(error) => {
                tracing::warn!(notifier = notifier.name(), %error, "ticket sync skipped: cannot list tickets");
                report.failed += 1;
                return report;
            }
        };
        for ticket in tickets {
            report.polled += 1;
            let outcome = match sync.ticket_state(&ticket.ticket_id).await {
                Ok(state) => {
                    self.apply(
                        notifier,
                        sync.wont_fix_silence(),
                        &ticket,
                        state,
                        &mut report,
                    )
                    .await
                }
                Err(error) => Err(SyncError::Desk(error)),
            };
            if let Err(error) = outcome {
                report.failed += 1;
                tracing::warn!(notifier = notifier.name(), ticket = %ticket.ticket_id, %error, "ticket sync failed");
            }
        }
        report
    }

    async fn apply(
        &self,
        notifier: &dyn Notifier,
        silence_for: Duration,
        ticket: &TicketRow,
        state: DeskState,
        report: &mut SyncReport,
    ) -> Result<(), SyncError> {
        let source = notifier.name();
        let book = TicketBook::new(self.store.as_ref(), source);
        let now = now_ms();
        let audit = |actor: &str, action: &str, detail: String| AuditEntry {
            id: 0,
            at_ms: now,
            actor: actor.to_owned(),
            source: source.to_owned(),
            action: action.to_owned(),
            incident_id: Some(ticket.incident_id),
            ticket_id: Some(ticket.ticket_id.clone()),
            detail,
        };
        match state {
            DeskState::Active => {}
            DeskState::Acknowledged { by } => {
                if ticket.status == "open" {
                    book.set_status(ticket, "acknowledged").await?;
                    self.store
                        .record_audit(&audit(
                            &by,
                            "acknowledge",
                            format!("{by} took ticket {}", ticket.ticket_id),
                        ))
                        .await?;
                    report.acknowledged += 1;
                    tracing::info!(notifier = source, ticket = %ticket.ticket_id, %by, "ticket acknowledged in the desk");
                    report.forwarded += self
                        .forward_acknowledgement(ticket, source, &by, now)
                        .await?;
                }
            }
            DeskState::Resolved { by, code } => {
                let summary = format!(
                    "resolved in {source} ticket {} by {by}: {code}",
                    ticket.ticket_id
                );
                self.resolve_incident(ticket, source, &summary, now).await?;
                self.store
                    .record_outcome(&OutcomeRow {
                        id: 0,
                        incident_id: ticket.incident_id,
                        source: source.to_owned(),
                        code: code.clone(),
                        note: format!("by {by} in ticket {}", ticket.ticket_id),
                        at_ms: now,
                    })
                    .await?;
                self.store
                    .record_audit(&audit(&by, "resolve", summary))
                    .await?;
                book.set_status(ticket, "resolved").await?;
                report.resolved += 1;
            }
            DeskState::WontFix { by, code } => {
                let summary = format!(
                    "closed as won't fix in {source} ticket {} by {by}: {code}",
                    ticket.ticket_id
                );
                let incident = self.resolve_incident(ticket, source, &summary, now).await?;
                self.store
                    .record_outcome(&OutcomeRow {
                        id: 0,
                        incident_id: ticket.incident_id,
                        source: source.to_owned(),
                        code: code.clone(),
                        note: format!("by {by} in ticket {}", ticket.ticket_id),
                        at_ms: now,
                    })
                    .await?;
                self.store
                    .record_audit(&audit(&by, "resolve", summary))
                    .await?;
                if let Some(incident) = incident {
                    let until = now
                        .saturating_add(i64::try_from(silence_for.as_millis()).unwrap_or(i64::MAX));
                    self.store
                        .add_silence(&SilenceRow {
                            id: 0,
                            host_id: incident.host_id.clone(),
                            component: incident.component.clone(),
                            until_ms: until,
                            reason: format!("won't fix in {source} ticket {}", ticket.ticket_id),
                            created_ms: now,
                        })
                        .await?;
                    let what = incident.component.as_deref().unwrap_or("the host");
                    self.store
                        .record_audit(&audit(
                            &by,
                            "silence",
                            format!(
                                "{what} on {} silenced until {}",
                                incident.host_id,
                                crate::notify::view::rfc3339(until)
                            ),
                        ))
                        .await?;
                    report.silenced += 1;
                }
                book.set_status(ticket, "rejected").await?;
            }
            DeskState::Gone => {
                book.set_status(ticket, "gone").await?;
                self.store
                    .record_audit(&audit(
                        "unknown",
                        "ticket_gone",
                        format!("ticket {} no longer exists", ticket.ticket_id),
                    ))
                    .await?;
                report.gone += 1;
            }
        }
        Ok(())
    }

    /// Resolves the ticket's incident if it is still open, telling every *other*
    /// notifier (the desk that resolved it knows). Returns the incident as stored.
    async fn resolve_incident(
        &self,
        ticket: &TicketRow,
        source: &str,
        summary: &str,
        now: i64,
    ) -> Result<Option<crate::store::IncidentRow>, SyncError> {
        let Some(incident) = self.store.incident(ticket.incident_id).await? else {
            return Ok(None);
        };
        if incident.status != IncidentStatus::Open {
            return Ok(Some(incident));
        }
        let host =
            notice::host_info(self.store.as_ref(), &self.public_url, &incident.host_id).await?;
        // Incidents live on event time; a person's resolution happens now, but never
        // before the incident's last change.
        let finding = Finding {
            dedup_key: incident.dedup_key.clone(),
            host_id: incident.host_id.clone(),
            kind: "service_desk",
            component: incident.component.clone(),
            at_ms: now.max(incident.updated_at_ms),
            condition: Condition::Clear {
                summary: summary.to_owned(),
            },
        };
        let others: Vec<String> = self
            .notifiers
            .iter()
            .map(|n| n.name().to_owned())
            .filter(|n| n != source)
            .collect();
        let Some(plan) = incident::plan(&finding, Some(&incident), &host, &others) else {
            return Ok(Some(incident));
        };
        let notify = !plan.notifications.is_empty();
        match self
            .store
            .apply_incident_change(plan.change, plan.notifications)
            .await
        {
            Ok(row) => {
                tracing::info!(incident_id = row.id, %summary, "incident resolved from the service desk");
                if notify {
                    self.outbox_wake.notify_one();
                }
                Ok(Some(row))
            }
            // Resolved meanwhile by its detector: the outcome still stands.
            Err(DbError::Conflict(_)) => Ok(self.store.incident(ticket.incident_id).await?),
            Err(other) => Err(other.into()),
        }
    }

    /// Tells the incident's other notifiers that someone took it in `source`, once per
    /// incident: the acknowledgement is recorded in the incident's details
    /// (`acknowledged_by`, `acknowledged_in`, `acknowledged_at_ms`) together with the
    /// queued rows, and an incident already carrying it (or already having an
    /// `acknowledge` row, should a later update have replaced the details) is left alone.
    /// The other notifiers are those the incident was already sent to, so the routing
    /// decision of the detector stands. Returns the rows queued.
    async fn forward_acknowledgement(
        &self,
        ticket: &TicketRow,
        source: &str,
        by: &str,
        now: i64,
    ) -> Result<usize, SyncError> {
        let Some(incident) = self.store.incident(ticket.incident_id).await? else {
            return Ok(0);
        };
        if incident.status != IncidentStatus::Open
            || incident.details.get("acknowledged_by").is_some()
        {
            return Ok(0);
        }
        let rows = self.store.outbox_for_incident(incident.id).await?;
        if rows.iter().any(|r| r.action == "acknowledge") {
            return Ok(0);
        }
        let mut targets: Vec<&str> = Vec::new();
        for row in &rows {
            let name = row.notifier.as_str();
            if name == source || targets.contains(&name) {
                continue;
            }
            if self
                .notifiers
                .iter()
                .any(|n| n.name() == name && n.handles("acknowledge"))
            {
                targets.push(name);
            }
        }
        let mut details = notice::with_detail(&incident.details, "acknowledged_by", json!(by));
        details = notice::with_detail(&details, "acknowledged_in", json!(source));
        details = notice::with_detail(&details, "acknowledged_at_ms", json!(now));
        // Incidents live on event time: recording who took it does not move the
        // incident's clock, so the detector's next finding is never judged stale.
        let after = crate::store::IncidentRow {
            details: details.clone(),
            ..incident.clone()
        };
        let host =
            notice::host_info(self.store.as_ref(), &self.public_url, &incident.host_id).await?;
        let key = format!(
            "{}#{}/acknowledge/1",
            incident.dedup_key, incident.opened_at_ms
        );
        let notifications: Vec<_> = targets
            .iter()
            .map(|name| notice::notification(name, "acknowledge", &key, &after, &host))
            .collect();
        let queued = notifications.len();
        let change = crate::store::IncidentChange::Update {
            id: incident.id,
            severity: incident.severity.clone(),
            title: incident.title.clone(),
            details,
            at_ms: incident.updated_at_ms,
        };
        match self
            .store
            .apply_incident_change(change, notifications)
            .await
        {
            Ok(_) => {}
            // Resolved meanwhile: there is nothing left to acknowledge.
            Err(DbError::Conflict(_) | DbError::NotFound) => return Ok(0),
            Err(other) => return Err(other.into()),
        }
        if queued > 0 {
            tracing::info!(incident_id = incident.id, %by, from = source, to = ?targets, "acknowledgement forwarded");
            self.outbox_wake.notify_one();
        }
        Ok(queued)
    }
}
