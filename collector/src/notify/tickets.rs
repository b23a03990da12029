//! The local fingerprint → ticket references of one notifier, kept in the store.
//!
//! Ticket desks (RT, ServiceNow, Jira) need "find the open ticket for this problem"
//! on every update; searching the desk each time is slow and, for Jira, eventually
//! consistent. The reference is written as soon as the desk confirms a create, and the
//! desk is searched by fingerprint only when no reference exists (after a restart
//! with a fresh store, or a crash between the create and this write).

use super::NotifyError;
use crate::state::now_ms;
use crate::store::{DbError, Store, TicketRow};

/// Ticket statuses in which the desk still expects updates.
pub const ACTIVE: &[&str] = &["open", "acknowledged"];

pub struct TicketBook<'a> {
    store: &'a dyn Store,
    notifier: &'a str,
}

impl<'a> TicketBook<'a> {
    pub fn new(store: &'a dyn Store, notifier: &'a str) -> Self {
        Self { store, notifier }
    }

    fn error(&self, error: DbError) -> NotifyError {
        NotifyError::Store {
            notifier: self.notifier.to_owned(),
            message: error.to_string(),
        }
    }

    /// The reference under `fingerprint`, whatever its status.
    pub async fn get(&self, fingerprint: &str) -> Result<Option<TicketRow>, NotifyError> {
        self.store
            .ticket(self.notifier, fingerprint)
            .await
            .map_err(|e| self.error(e))
    }

    /// Records that `ticket_id` is the open ticket for `fingerprint`.
    pub async fn remember(
        &self,
        fingerprint: &str,
        incident_id: i64,
        ticket_id: &str,
    ) -> Result<(), NotifyError> {
        let now = now_ms();
        self.store
            .save_ticket(&TicketRow {
                notifier: self.notifier.to_owned(),
                fingerprint: fingerprint.to_owned(),
                incident_id,
                ticket_id: ticket_id.to_owned(),
                status: "open".to_owned(),
                created_ms: now,
                updated_ms: now,
            })
            .await
            .map_err(|e| self.error(e))
    }

    /// Changes the status of an existing reference.
    pub async fn set_status(&self, ticket: &TicketRow, status: &str) -> Result<(), NotifyError> {
        let mut changed = ticket.clone();
        status.clone_into(&mut changed.status);
        changed.updated_ms = now_ms();
        self.store
            .save_ticket(&changed)
            .await
            .map_err(|e| self.error(e))
    }
}

/// Whether a reference's status still expects updates.
pub fn is_active(ticket: &TicketRow) -> bool {
    ACTIVE.contains(&ticket.status.as_str())
}
