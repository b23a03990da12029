//! The detector task: the asynchronous shell around the pure analysis and incident code.
//!
//! One task owns every incident decision, so decisions are serialized: it receives each
//! newly stored batch (after commit) and a periodic liveness tick, runs the detectors,
//! asks `incident::plan` what changes, and stores the change with its notifications in
//! one transaction. It keeps an in-memory view of open incidents per dedup key, loaded
//! lazily from the store; it is the only writer of incidents in this process.
//!
//! At start-up the same path replays the hot window, so a batch whose detection was cut
//! short by a crash (stored, but not yet analysed) still has its say.

use crate::analysis::{silent, Engine, Finding, Settings};
use crate::incident::{self, HostInfo};
use crate::state::now_ms;
use crate::store::{DbError, IncidentRow, IncidentStatus, Store};
use crate::telemetry::Telemetry;
use harbinger_shared::Batch;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch, Notify};

/// Work for the detector task.
#[derive(Debug)]
pub enum DetectMsg {
    /// A batch that was just stored (never a duplicate).
    Batch {
        batch: Arc<Batch>,
        received_at_ms: i64,
    },
}

pub struct Detector {
    store: Arc<dyn Store>,
    engine: Engine,
    silent_intervals: u32,
    notifiers: Vec<String>,
    public_url: String,
    telemetry: Arc<Telemetry>,
    outbox_wake: Arc<Notify>,
    /// `Some(row)` when an incident is open under the key, `None` when known closed.
    open: HashMap<String, Option<IncidentRow>>,
}

/// Findings collected during the start-up replay: the newest per problem.
#[derive(Default)]
pub struct Replay {
    pending: BTreeMap<String, (Finding, HostInfo)>,
}

impl Detector {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Arc<dyn Store>,
        settings: Settings,
        silent_intervals: u32,
        notifiers: Vec<String>,
        public_url: String,
        telemetry: Arc<Telemetry>,
        outbox_wake: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            engine: Engine::new(settings),
            silent_intervals,
            notifiers,
            public_url,
            telemetry,
            outbox_wake,
            open: HashMap::new(),
        }
    }

    /// Runs until `stop` turns true, then drains batches already queued (they are
    /// stored, so their findings are owed) and returns.
    pub async fn run(
        mut self,
        mut rx: mpsc::Receiver<DetectMsg>,
        mut stop: watch::Receiver<bool>,
        tick_every: Duration,
    ) {
        let mut ticker = tokio::time::interval(tick_every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                // Batches first: a tick must not judge a host silent while its batch waits here.
                biased;
                msg = rx.recv() => match msg {
                    Some(msg) => self.handle(msg).await,
                    None => break,
                },
                _ = stop.changed() => {
                    while let Ok(msg) = rx.try_recv() {
                        self.handle(msg).await;
                    }
                    break;
                }
                _ = ticker.tick() => self.on_tick(now_ms()).await,
            }
        }
        tracing::debug!("detector stopped");
    }

    async fn handle(&mut self, msg: DetectMsg) {
        match msg {
            DetectMsg::Batch {
                batch,
                received_at_ms,
            } => self.on_batch(&batch, received_at_ms).await,
        }
    }

    /// Analyses one newly stored batch.
    pub async fn on_batch(&mut self, batch: &Batch, received_at_ms: i64) {
        let host = self.host_info(
            &batch.agent.host_id,
            &batch.agent.hostname,
            &batch.agent.labels,
        );
        let mut findings = self.engine.feed(batch);
        findings.push(silent::arrived(
            &batch.agent.host_id,
            &batch.agent.hostname,
            received_at_ms,
        ));
        for finding in &findings {
            self.apply(finding, &host).await;
        }
    }

    /// Checks every host's liveness against the wall clock.
    pub async fn on_tick(&mut self, now_ms: i64) {
        let hosts = match self.store.hosts().await {
            Ok(hosts) => hosts,
            Err(error) => {
                tracing::warn!(%error, "liveness check skipped: cannot list hosts");
                return;
            }
        };
        let liveness: Vec<silent::Liveness> = hosts
            .iter()
            .map(|h| silent::Liveness {
                host_id: h.host_id.clone(),
                hostname: h.hostname.clone(),
                interval_ms: h.interval_ms,
                last_seen_ms: h.last_seen_ms,
            })
            .collect();
        let infos: HashMap<&str, HostInfo> = hosts
            .iter()
            .map(|h| {
                (
                    h.host_id.as_str(),
                    self.host_info(&h.host_id, &h.hostname, &h.labels),
                )
            })
            .collect();
        for finding in silent::evaluate(&liveness, now_ms, self.silent_intervals) {
            if let Some(host) = infos.get(finding.host_id.as_str()) {
                self.apply(&finding, host).await;
            }
        }
    }

    /// Feeds one batch of the start-up replay; nothing is applied until [`finish_replay`](Self::finish_replay).
    pub fn replay_batch(&mut self, replay: &mut Replay, batch: &Batch) {
        let host = self.host_info(
            &batch.agent.host_id,
            &batch.agent.hostname,
            &batch.agent.labels,
        );
        for finding in self.engine.feed(batch) {
            replay
                .pending
                .insert(finding.dedup_key.clone(), (finding, host.clone()));
        }
    }

    /// Applies the newest replayed finding of each problem: the state the data ends in.
    pub async fn finish_replay(&mut self, replay: Replay) {
        for (finding, host) in replay.pending.into_values() {
            self.apply(&finding, &host).await;
        }
    }

    async fn apply(&mut self, finding: &Finding, host: &HostInfo) {
        let open = match self.open_incident(&finding.dedup_key).await {
            Ok(open) => open,
            Err(error) => {
                tracing::warn!(%error, key = %finding.dedup_key, "finding skipped: cannot read its incident");
                return;
            }
        };
        let Some(plan) = incident::plan(finding, open.as_ref(), host, &self.notifiers) else {
            return;
        };
        let notify = !plan.notifications.is_empty();
        match self
            .store
            .apply_incident_change(plan.change, plan.notifications)
            .await
        {
            Ok(row) => {
                tracing::info!(
                    action = plan.action.as_str(),
                    incident_id = row.id,
                    key = %row.dedup_key,
                    severity = %row.severity,
                    title = %row.title,
                    "incident changed"
                );
                self.telemetry.incident_changed();
                let key = row.dedup_key.clone();
                let state = (row.status == IncidentStatus::Open).then_some(row);
                self.open.insert(key, state);
                if notify {
                    self.outbox_wake.notify_one();
                }
            }
            Err(error) => {
                // Forget the cached view: the store may know better (e.g. a conflict
                // because the incident was opened elsewhere). The next finding retries.
                self.open.remove(&finding.dedup_key);
                tracing::error!(%error, key = %finding.dedup_key, "incident change not stored");
            }
        }
    }

    async fn open_incident(&mut self, key: &str) -> Result<Option<IncidentRow>, DbError> {
        if let Some(known) = self.open.get(key) {
            return Ok(known.clone());
        }
        let stored = self.store.open_incident(key).await?;
        self.open.insert(key.to_owned(), stored.clone());
        Ok(stored)
    }

    fn host_info(
        &self,
        host_id: &str,
        hostname: &str,
        labels: &BTreeMap<String, String>,
    ) -> HostInfo {
        HostInfo {
            host_id: host_id.to_owned(),
            hostname: hostname.to_owned(),
            labels: labels.clone(),
            dashboard_url: dashboard_url(&self.public_url, host_id),
        }
    }
}

/// The host page's URL under the dashboard's public base URL.
pub fn dashboard_url(public_url: &str, host_id: &str) -> String {
    match reqwest::Url::parse(public_url).and_then(|base| base.join("host.html")) {
        Ok(mut url) => {
            url.query_pairs_mut().clear().append_pair("id", host_id);
            url.to_string()
        }
        // validate() checked public_url; keep a usable link even so.
        Err(_) => format!("{public_url}host.html?id={host_id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dashboard_links_escape_the_host_id() {
        assert_eq!(
            dashboard_url("http://c:8080/", "a b&c"),
            "http://c:8080/host.html?id=a+b%26c"
        );
        assert_eq!(
            dashboard_url("https://h.example/harbinger/", "h1"),
            "https://h.example/harbinger/host.html?id=h1"
        );
    }
}
