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
//!
//! Two layers decide: the collector's operational checks (`analysis::filesystem`, a fill
//! threshold, and `analysis::silent`, liveness by arrival time) and the analysis engine
//! (`harbinger_engine`), which owns hardware health: every committed batch is fed to it,
//! its transitions become incidents (`incident::plan_transition`) with the explanation in
//! `details`. Its state is snapshotted to the store periodically, after transitions and
//! on shutdown, and restored at start-up so a restart does not relearn baselines; only
//! batches newer than the snapshot (per host seq) are replayed into it.
//!
//! Liveness uses the wall clock: `engine.advance` is called on every tick with wall-clock
//! now, because when hosts stop sending (a rack losing power) no event time arrives at
//! all, so an event-time watermark alone would never find them silent. Agents stamp
//! samples when they take them and ship within an interval, so for a live host event time
//! and arrival time agree to within an interval (the rule pack's `min_silent_seconds`
//! absorbs clock skew).

use crate::analysis::health::{self, Progress};
use crate::analysis::Condition;
use crate::analysis::{silent, Engine, Finding, Settings};
use crate::incident::{self, HostInfo};
use crate::routing::{Router, Subject};
use crate::state::now_ms;
use crate::store::{AuditEntry, DbError, IncidentRow, IncidentStatus, Store};
use crate::telemetry::Telemetry;
use harbinger_shared::Batch;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, Notify};

/// Work for the detector task.
#[derive(Debug)]
pub enum DetectMsg {
    /// A batch that was just stored (never a duplicate).
    Batch {
        batch: Arc<Batch>,
        received_at_ms: i64,
    },
    /// Maintenance windows were added or deleted (`http::maintenance`): reload them now,
    /// so a window takes effect before any batch queued after it is analysed.
    MaintenanceChanged,
}

pub struct Detector {
    store: Arc<dyn Store>,
    engine: Engine,
    silent_intervals: u32,
    /// Which notifiers each incident goes to; every notifier by default.
    router: Router,
    public_url: String,
    telemetry: Arc<Telemetry>,
    outbox_wake: Arc<Notify>,
    /// `Some(row)` when an incident is open under the key, `None` when known closed.
    open: HashMap<String, Option<IncidentRow>>,
    /// The analysis engine and what it has seen.
    health: harbinger_engine::Engine,
    progress: Progress,
    /// Host descriptions for transitions found by `advance` (which carry only the id).
    hosts: HashMap<String, HostInfo>,
    maintenance: Vec<harbinger_engine::MaintenanceWindow>,
    snapshot_every: Duration,
    last_snapshot: Instant,
    /// The engine changed since the last snapshot; `urgent` when incidents changed too.
    dirty: bool,
    urgent: bool,
}

/// Outcomes read from the store per tick.
const OUTCOME_PAGE: i64 = 100;
/// Maintenance windows that ended this long ago still matter to late-arriving data.
const MAINTENANCE_LOOKBACK_MS: i64 = 7 * 24 * 3_600_000;

/// Findings collected during the start-up replay: the newest per problem.
#[derive(Default)]
pub struct Replay {
    pending: BTreeMap<String, (Finding, HostInfo)>,
    /// The engine's transitions, in order (each depends on the one before).
    transitions: Vec<harbinger_engine::Transition>,
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
            router: Router::everything(notifiers),
            public_url,
            telemetry,
            outbox_wake,
            open: HashMap::new(),
            health: harbinger_engine::Engine::new(default_rules()),
            progress: Progress::default(),
            hosts: HashMap::new(),
            maintenance: Vec::new(),
            snapshot_every: Duration::from_secs(300),
            last_snapshot: Instant::now(),
            dirty: false,
            urgent: false,
        }
    }

    /// Uses `rules` for the analysis engine, snapshotting its state every `every`.
    pub fn with_rules(mut self, rules: harbinger_engine::RulePack, every: Duration) -> Self {
        self.health = harbinger_engine::Engine::new(rules);
        self.snapshot_every = every;
        self
    }

    /// Restores the engine from the stored snapshot (if any) and loads maintenance
    /// windows. Called once before the start-up replay. A snapshot that cannot be used
    /// is logged and the engine starts fresh: losing learnt state is better than not
    /// starting.
    pub async fn restore(&mut self) {
        match self.store.load_engine_snapshot().await {
            Ok(Some(row)) => match health::decode(&row, self.health.rules().clone()) {
                Ok((engine, progress)) => {
                    tracing::info!(
                        taken_ms = row.taken_ms,
                        watermark_ms = row.watermark_ms,
                        hosts = progress.fed.len(),
                        "analysis engine restored from its snapshot"
                    );
                    self.health = engine;
                    self.progress = progress;
                }
                Err(error) => tracing::warn!(%error, "engine snapshot unusable; starting fresh"),
            },
            Ok(None) => tracing::info!("no engine snapshot: the engine starts fresh"),
            Err(error) => tracing::warn!(%error, "cannot read the engine snapshot; starting fresh"),
        }
        self.refresh_maintenance(now_ms()).await;
    }

    /// Writes the engine's snapshot now.
    pub async fn save_snapshot(&mut self) {
        let row = match health::encode(&self.health, &self.progress, now_ms()) {
            Ok(row) => row,
            Err(error) => {
                tracing::error!(%error, "engine snapshot not taken");
                return;
            }
        };
        let bytes = row.body.len();
        match self.store.save_engine_snapshot(&row).await {
            Ok(()) => {
                self.dirty = false;
                self.urgent = false;
                self.last_snapshot = Instant::now();
                tracing::debug!(bytes, "engine snapshot stored");
            }
            Err(error) => tracing::error!(%error, "engine snapshot not stored"),
        }
    }

    /// The engine (for tests and the dashboard's baselines).
    pub fn engine(&self) -> &harbinger_engine::Engine {
        &self.health
    }

    /// Routes incidents through `router` instead of to every notifier.
    pub fn with_router(mut self, router: Router) -> Self {
        self.router = router;
        self
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
        self.save_snapshot().await;
        tracing::debug!("detector stopped");
    }

    async fn handle(&mut self, msg: DetectMsg) {
        match msg {
            DetectMsg::Batch {
                batch,
                received_at_ms,
            } => self.on_batch(&batch, received_at_ms).await,
            DetectMsg::MaintenanceChanged => self.refresh_maintenance(now_ms()).await,
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
        self.hosts.insert(batch.agent.host_id.clone(), host.clone());
        if self.progress.is_new(batch) {
            let transitions = self.health.feed(batch);
            self.progress.fed(batch);
            self.dirty = true;
            for t in &transitions {
                self.apply_transition(t, false).await;
            }
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
        for (id, info) in infos {
            self.hosts.entry(id.to_owned()).or_insert(info);
        }
        self.refresh_maintenance(now_ms).await;
        self.feed_outcomes().await;
        // Wall clock, not the event-time watermark: see the module documentation.
        let transitions = self.health.advance(now_ms);
        if !transitions.is_empty() {
            self.dirty = true;
        }
        for t in &transitions {
            self.apply_transition(t, false).await;
        }
        if self.dirty && (self.urgent || self.last_snapshot.elapsed() >= self.snapshot_every) {
            self.save_snapshot().await;
        }
    }

    /// Gives the engine the outcomes recorded since the last look (operators'
    /// resolution codes from ticket sync).
    async fn feed_outcomes(&mut self) {
        let rows = match self
            .store
            .outcomes_after(self.progress.outcome_after, OUTCOME_PAGE)
            .await
        {
            Ok(rows) => rows,
            Err(error) => {
                tracing::warn!(%error, "outcomes not read");
                return;
            }
        };
        for row in rows {
            match self.store.incident(row.incident_id).await {
                Ok(Some(incident)) => {
                    let outcome = health::outcome(&row, &incident);
                    tracing::info!(host = %outcome.host_id, code = %row.code, incident_id = row.incident_id,
                        "outcome given to the analysis engine");
                    self.health.record_outcome(outcome);
                    self.dirty = true;
                    self.urgent = true;
                }
                Ok(None) => tracing::warn!(
                    incident_id = row.incident_id,
                    "outcome of an unknown incident ignored"
                ),
                Err(error) => {
                    tracing::warn!(%error, incident_id = row.incident_id, "outcome not read; retried next tick");
                    return;
                }
            }
            self.progress.outcome_after = row.id;
        }
    }

    /// Reloads maintenance windows from the store; the engine gets them when they changed.
    async fn refresh_maintenance(&mut self, now_ms: i64) {
        match self
            .store
            .maintenance_windows(now_ms - MAINTENANCE_LOOKBACK_MS)
            .await
        {
            Ok(rows) => {
                let windows: Vec<_> = rows.iter().map(health::window).collect();
                if windows != self.maintenance {
                    tracing::info!(windows = windows.len(), "maintenance windows changed");
                    self.maintenance = windows.clone();
                    self.health.set_maintenance(windows);
                    self.dirty = true;
                }
            }
            Err(error) => tracing::warn!(%error, "maintenance windows not read"),
        }
    }

    /// Records the rule pack's overrides in the audit log (once per start).
    pub async fn audit_rules(&self, source: &str, entries: &[harbinger_engine::AuditEntry]) {
        for e in entries {
            let detail = match &e.old {
                Some(old) => format!("{}: {} -> {}", e.key, old, e.new),
                None => format!("{}: added {}", e.key, e.new),
            };
            let entry = AuditEntry {
                id: 0,
                at_ms: now_ms(),
                actor: "config".into(),
                source: source.to_owned(),
                action: "rule_override".into(),
                incident_id: None,
                ticket_id: None,
                detail,
            };
            if let Err(error) = self.store.record_audit(&entry).await {
                tracing::error!(%error, key = %e.key, "rule override not audited");
            }
        }
    }

    /// Applies one engine transition: the incident change and its notifications, in one
    /// transaction, unless a silence holds the notifications back.
    async fn apply_transition(&mut self, t: &harbinger_engine::Transition, replaying: bool) {
        if health::only_liveness(t) {
            return;
        }
        let host_id = t
            .host_id
            .clone()
            .or_else(|| t.place.as_ref().and_then(|p| p.hosts.first().cloned()))
            .unwrap_or_default();
        let host = match self.hosts.get(&host_id) {
            Some(h) => h.clone(),
            None => self.host_info(&host_id, &host_id, &BTreeMap::new()),
        };
        let open = match self.open_incident(&t.dedup_key).await {
            Ok(open) => open,
            Err(error) => {
                tracing::warn!(%error, key = %t.dedup_key, "transition skipped: cannot read its incident");
                return;
            }
        };
        // A replayed transition the store already reflects says nothing new.
        if replaying && open.as_ref().is_some_and(|o| t.at_ms <= o.updated_at_ms) {
            return;
        }
        let component = t.component.as_ref().map(ToString::to_string);
        let severity = match (&open, t.action) {
            (Some(open), harbinger_engine::Action::Resolve) => open.severity.clone(),
            _ => t.severity.as_str().to_owned(),
        };
        let mut notifiers = self.router.notifiers(&Subject {
            severity: &severity,
            component_kind: Subject::component_kind_of(component.as_deref()),
            labels: &host.labels,
        });
        if self.silenced(&host_id, component.as_deref()).await {
            tracing::info!(key = %t.dedup_key, "notifications held back by a silence");
            notifiers.clear();
        }
        let Some(plan) = incident::plan_transition(t, open.as_ref(), &host, &notifiers) else {
            return;
        };
        self.urgent = true;
        self.store_plan(plan, &t.dedup_key).await;
    }

    /// Whether an active silence covers the host (or this component of it).
    async fn silenced(&self, host_id: &str, component: Option<&str>) -> bool {
        match self.store.active_silences(Some(host_id), now_ms()).await {
            Ok(silences) => silences
                .iter()
                .any(|s| s.component.is_none() || s.component.as_deref() == component),
            Err(error) => {
                tracing::warn!(%error, host = host_id, "silences not read; notifying");
                false
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
        self.hosts.insert(batch.agent.host_id.clone(), host);
        if self.progress.is_new(batch) {
            replay.transitions.extend(self.health.feed(batch));
            self.progress.fed(batch);
            self.dirty = true;
        }
    }

    /// Applies the newest replayed finding of each problem: the state the data ends in.
    pub async fn finish_replay(&mut self, replay: Replay) {
        for (finding, host) in replay.pending.into_values() {
            self.apply(&finding, &host).await;
        }
        for t in &replay.transitions {
            self.apply_transition(t, true).await;
        }
        if self.dirty {
            self.save_snapshot().await;
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
        // A resolve goes where the incident went; otherwise the evidence's severity routes.
        let severity = match (&finding.condition, &open) {
            (Condition::Firing(e) | Condition::Holding(e), _) => e.severity.as_str(),
            (Condition::Clear { .. }, Some(open)) => open.severity.as_str(),
            (Condition::Clear { .. }, None) => "info",
        };
        let notifiers = self.router.notifiers(&Subject {
            severity,
            component_kind: Subject::component_kind_of(finding.component.as_deref()),
            labels: &host.labels,
        });
        let Some(plan) = incident::plan(finding, open.as_ref(), host, &notifiers) else {
            return;
        };
        self.store_plan(plan, &finding.dedup_key).await;
    }

    /// Stores a planned change with its notifications and updates the cached view.
    async fn store_plan(&mut self, plan: incident::Plan, dedup_key: &str) {
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
                self.open.remove(dedup_key);
                tracing::error!(%error, key = %dedup_key, "incident change not stored");
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

/// The embedded default rule pack. It is compiled into the engine and checked by the
/// engine's own tests, so failing to parse it is a build defect, reported loudly; the
/// collector then runs with an empty pack rather than not at all.
fn default_rules() -> harbinger_engine::RulePack {
    match harbinger_engine::RulePack::default_pack() {
        Ok(pack) => pack,
        Err(error) => {
            tracing::error!(%error, "embedded default rule pack does not parse");
            harbinger_engine::RulePack::from_toml("format = 1\nversion = \"empty\"\n", "empty")
                .unwrap_or_else(|_| unreachable_pack())
        }
    }
}

fn unreachable_pack() -> harbinger_engine::RulePack {
    // Both the embedded pack and the minimal one failing is impossible short of a
    // broken build; there is no better answer than stopping.
    panic!("the analysis engine cannot build even an empty rule pack")
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
