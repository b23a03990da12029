//! The engine: routes samples and events to detectors, signals to cases and places,
//! and cases to incident transitions. Pure and driven by event time only.

use crate::case::{round6, severity_of, OpenIncident};
use crate::detect::baseline::BaselineView;
use crate::detect::counter::CounterState;
use crate::detect::multivariate::MvState;
use crate::detect::peer::{ConditionWindows, PeerGroup, PeerMemberState};
use crate::detect::rate::RateState;
use crate::detect::trend::TrendState;
use crate::detect::{ms, Emit, DAY_MS};
use crate::learn::{Outcome, OutcomeKind, Precursor, RuleStats};
use crate::maintenance::MaintenanceWindow;
use crate::names;
use crate::rules::{ComponentSel, Decode, RulePack};
use crate::signal::{Detector, Signal, SignalExplanation};
use crate::state::{HostState, PlaceState, SeriesState, State, Tap};
use crate::transition::{Action, Contribution, Explanation, Place, Transition};
use harbinger_shared::{Batch, ComponentId, ComponentKind, Event, InventoryItem, Point, Severity};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Format of [`Snapshot`]; bumped when the state layout changes incompatibly.
pub const SNAPSHOT_FORMAT: u32 = 1;

/// Why a snapshot could not be restored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    #[error("snapshot format {found} is not supported (this build reads {supported})")]
    Format { found: u32, supported: u32 },
}

/// The engine's state, to be stored and restored so a restart does not relearn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub format: u32,
    pub rules_version: String,
    /// Fingerprint of the rule pack the state was built with.
    pub rules_fingerprint: u64,
    state: State,
}

/// Which detector a metric feeds, decided once per series.
#[derive(Debug, Clone, Copy)]
enum Use {
    Hard(u16),
    Counter(u16),
    Rate(u16),
    Baseline(u16),
    Peer(u16),
    Trend(u16),
    Feature(u16),
    /// A peer rule's condition: its window means are kept.
    Condition,
    /// Kept only for its last value (a trend threshold).
    Keep,
}

/// Metric → the detectors it feeds, with the labels each requires.
type UseMap = HashMap<String, Vec<(Use, BTreeMap<String, String>)>>;

/// FNV-1a, so that the series index does not depend on a per-process random hasher.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn bytes(&mut self, b: &[u8]) {
        for x in b {
            self.0 ^= u64::from(*x);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

fn series_hash(host: u32, metric: &str, labels: &BTreeMap<String, String>) -> u64 {
    let mut h = Fnv::new();
    h.bytes(&host.to_le_bytes());
    h.bytes(metric.as_bytes());
    for (k, v) in labels {
        h.bytes(&[0xff]);
        h.bytes(k.as_bytes());
        h.bytes(&[0xfe]);
        h.bytes(v.as_bytes());
    }
    h.0
}

fn labels_match(want: &BTreeMap<String, String>, have: &BTreeMap<String, String>) -> bool {
    want.iter().all(|(k, v)| have.get(k) == Some(v))
}

fn kind_from(s: &str) -> ComponentKind {
    match s {
        "host" => ComponentKind::Host,
        "cpu" => ComponentKind::Cpu,
        "dimm" => ComponentKind::Dimm,
        "disk" => ComponentKind::Disk,
        "filesystem" => ComponentKind::Filesystem,
        "fan" => ComponentKind::Fan,
        "psu" => ComponentKind::Psu,
        "nic" => ComponentKind::Nic,
        "sensor" => ComponentKind::Sensor,
        "bmc" => ComponentKind::Bmc,
        _ => ComponentKind::Other,
    }
}

/// The analysis engine. See the crate documentation for the contract.
#[derive(Debug)]
pub struct Engine {
    rules: RulePack,
    fingerprint: u64,
    uses: UseMap,
    st: State,
    series_index: HashMap<u64, Vec<u32>>,
    host_index: HashMap<String, u32>,
    scratch: Vec<f64>,
}

impl Engine {
    /// A fresh engine with `rules`.
    pub fn new(rules: RulePack) -> Self {
        let fingerprint = fingerprint(&rules);
        let uses = compile(&rules);
        Engine {
            rules,
            fingerprint,
            uses,
            st: State::default(),
            series_index: HashMap::new(),
            host_index: HashMap::new(),
            scratch: Vec::new(),
        }
    }

    /// An engine continuing from `snapshot`. With a different rule pack than the one the
    /// snapshot was taken with, detector state is rebuilt (baselines relearn) while
    /// cases, open incidents, maintenance and learnt weights are kept.
    pub fn restore(rules: RulePack, snapshot: Snapshot) -> Result<Self, RestoreError> {
        if snapshot.format != SNAPSHOT_FORMAT {
            return Err(RestoreError::Format {
                found: snapshot.format,
                supported: SNAPSHOT_FORMAT,
            });
        }
        let mut e = Engine::new(rules);
        let same_rules = snapshot.rules_fingerprint == e.fingerprint;
        e.st = snapshot.state;
        for (i, h) in e.st.hosts.iter().enumerate() {
            e.host_index.insert(h.id.clone(), i as u32);
        }
        for (i, s) in e.st.series.iter().enumerate() {
            e.series_index
                .entry(series_hash(s.host, &s.metric, &s.labels))
                .or_default()
                .push(i as u32);
        }
        if !same_rules {
            tracing::info!("rule pack changed since the snapshot: detector state is rebuilt");
            for i in 0..e.st.series.len() {
                e.st.series[i].taps = e.taps_for(i as u32);
            }
            let nf = e.rules.multivariate.features.len();
            for h in &mut e.st.hosts {
                h.mv = e.rules.multivariate.enabled.then(|| MvState::new(nf));
            }
            e.st.peer_groups.clear();
        }
        Ok(e)
    }

    /// The state as a serialisable snapshot.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            format: SNAPSHOT_FORMAT,
            rules_version: self.rules.version.clone(),
            rules_fingerprint: self.fingerprint,
            state: self.st.clone(),
        }
    }

    pub fn rules(&self) -> &RulePack {
        &self.rules
    }

    /// Replaces the maintenance windows (the collector owns them; they are also kept in
    /// snapshots).
    pub fn set_maintenance(&mut self, windows: Vec<MaintenanceWindow>) {
        self.st.maintenance = windows;
    }

    /// Feeds one host batch; returns the incident transitions it caused.
    pub fn feed(&mut self, batch: &Batch) -> Vec<Transition> {
        let h = self.host_for(batch);
        let mut signals = Vec::new();
        let mut outcomes = Vec::new();
        let mut out = Vec::new();
        if let Some(items) = &batch.inventory {
            self.apply_inventory(h, items, batch, &mut outcomes, &mut out);
        }
        let interned: Vec<(u32, &[Point])> = batch
            .series
            .iter()
            .filter_map(|s| {
                self.intern(h, &s.metric, &s.labels)
                    .map(|sid| (sid, s.points.as_slice()))
            })
            .collect();
        self.process_in_time_order(&interned, &mut signals);
        let mut events: Vec<&Event> = batch.events.iter().collect();
        events.sort_by_key(|e| e.ts);
        for ev in events {
            self.process_event(h, ev, &mut signals, &mut outcomes);
        }
        let newest = batch.time_range().map_or(i64::MIN, |(_, hi)| hi);
        let host = &mut self.st.hosts[h as usize];
        if newest > host.last_seen {
            host.last_seen = newest;
        }
        let now = host.last_seen;
        if host.silent && newest != i64::MIN {
            host.silent = false;
            host.lost_recorded = false;
            let component = ComponentId::new(ComponentKind::Host, host.id.clone());
            signals.push(self.liveness_signal(h, component, newest, 0.0));
        }
        self.st.watermark = self.st.watermark.max(now);
        for o in outcomes {
            self.learn_outcome(o);
        }
        self.peer_signals(now, &mut signals);
        for s in signals {
            self.apply_signal(s);
        }
        self.evaluate_host(h, now, &mut out);
        self.evaluate_places(now, &mut out);
        out
    }

    /// Lets event time pass to `watermark`: silent hosts, expiring evidence, hysteresis,
    /// peer windows and places are judged as of then.
    pub fn advance(&mut self, watermark_ms: i64) -> Vec<Transition> {
        let now = watermark_ms.max(self.st.watermark);
        self.st.watermark = now;
        let mut out = Vec::new();
        let mut signals = Vec::new();
        let mut outcomes = Vec::new();
        let live = self.rules.liveness.clone();
        for i in 0..self.st.hosts.len() {
            let host = &self.st.hosts[i];
            if host.last_seen == i64::MIN {
                continue;
            }
            let silent_ms = ((live.silent_after_intervals * host.interval_ms as f64) as i64)
                .max(ms(live.min_silent_seconds, 1000));
            let quiet = now - host.last_seen;
            let planned = self.in_maintenance(i as u32, now);
            if !host.silent && quiet > silent_ms && !planned {
                let component = ComponentId::new(ComponentKind::Host, host.id.clone());
                signals.push(self.liveness_signal(i as u32, component, now, 1.0));
                self.st.hosts[i].silent = true;
            }
            let host = &self.st.hosts[i];
            if host.silent
                && !host.lost_recorded
                && quiet > ms(live.lost_after_minutes, 60_000)
                && !planned
            {
                outcomes.push(Outcome {
                    host_id: host.id.clone(),
                    component: None,
                    kind: OutcomeKind::HostLost,
                    at_ms: now,
                    planned: false,
                });
                self.st.hosts[i].lost_recorded = true;
            }
        }
        for o in outcomes {
            self.learn_outcome(o);
        }
        self.peer_signals(now, &mut signals);
        for s in signals {
            self.apply_signal(s);
        }
        for h in 0..self.st.hosts.len() {
            self.evaluate_host(h as u32, now, &mut out);
        }
        self.evaluate_places(now, &mut out);
        out
    }

    /// Records an outcome given from outside (an operator's resolution code, a host the
    /// collector knows is gone): which signals preceded it is remembered and the scoring
    /// weights are refitted when enough outcomes exist.
    pub fn record_outcome(&mut self, outcome: Outcome) {
        self.learn_outcome(outcome);
    }

    /// Outcomes recorded so far, with their precursors.
    pub fn outcomes(&self) -> &[crate::learn::OutcomeRecord] {
        &self.st.learn.outcomes
    }

    /// Per-rule precursor statistics (failures preceded, median lead time).
    pub fn rule_stats(&self) -> BTreeMap<String, RuleStats> {
        self.st.learn.rule_stats()
    }

    /// Weights fitted from outcomes (log-odds per unit strength), by rule.
    pub fn learned_weights(&self) -> &BTreeMap<String, f64> {
        &self.st.learn.weights
    }

    /// Dedup keys and risks of the incidents open now.
    pub fn open_incidents(&self) -> Vec<(String, f64)> {
        let mut v: Vec<(String, f64)> = self
            .st
            .cases
            .iter()
            .filter_map(|((h, c), case)| case.open.as_ref().map(|o| (format!("{h}/{c}"), o.risk)))
            .collect();
        v.extend(
            self.st
                .places
                .iter()
                .filter_map(|(k, p)| p.open.as_ref().map(|o| (format!("place/{k}"), o.risk))),
        );
        v
    }

    /// The baseline of a series at `ts` (for dashboards' bands), if it has one.
    pub fn baseline(
        &self,
        host_id: &str,
        metric: &str,
        labels: &BTreeMap<String, String>,
        ts: i64,
    ) -> Option<BaselineView> {
        let h = *self.host_index.get(host_id)?;
        let ids = self.series_index.get(&series_hash(h, metric, labels))?;
        let sid = ids.iter().find(|&&i| {
            let s = &self.st.series[i as usize];
            s.host == h && s.metric == metric && &s.labels == labels
        })?;
        self.st.series[*sid as usize]
            .taps
            .iter()
            .find_map(|t| match t {
                Tap::Baseline { st, .. } => Some(st.view(ts, &self.rules.baseline)),
                _ => None,
            })
    }

    // ----- hosts, series and components -------------------------------------------

    fn host_for(&mut self, batch: &Batch) -> u32 {
        let id = &batch.agent.host_id;
        if let Some(&h) = self.host_index.get(id.as_str()) {
            let host = &mut self.st.hosts[h as usize];
            if host.labels != batch.agent.labels {
                host.labels = batch.agent.labels.clone();
            }
            if host.hostname != batch.agent.hostname {
                host.hostname = batch.agent.hostname.clone();
            }
            host.interval_ms = batch.interval_ms;
            return h;
        }
        let h = self.st.hosts.len() as u32;
        let nf = self.rules.multivariate.features.len();
        self.st.hosts.push(HostState {
            id: id.clone(),
            hostname: batch.agent.hostname.clone(),
            labels: batch.agent.labels.clone(),
            interval_ms: batch.interval_ms,
            last_seen: i64::MIN,
            silent: false,
            lost_recorded: false,
            inventory: BTreeMap::new(),
            aliases: BTreeMap::new(),
            model: None,
            event_rates: BTreeMap::new(),
            mv: self.rules.multivariate.enabled.then(|| MvState::new(nf)),
            series: Vec::new(),
        });
        self.host_index.insert(id.clone(), h);
        h
    }

    /// The series id for a metric and labels, creating it when a rule uses the metric.
    fn intern(&mut self, h: u32, metric: &str, labels: &BTreeMap<String, String>) -> Option<u32> {
        let uses = self.uses.get(metric)?;
        if !uses.iter().any(|(_, want)| labels_match(want, labels)) {
            return None;
        }
        let key = series_hash(h, metric, labels);
        if let Some(ids) = self.series_index.get(&key) {
            for &i in ids {
                let s = &self.st.series[i as usize];
                if s.host == h && s.metric == metric && &s.labels == labels {
                    return Some(i);
                }
            }
        }
        let sid = self.st.series.len() as u32;
        self.st.series.push(SeriesState {
            host: h,
            metric: metric.to_string(),
            labels: labels.clone(),
            component: ComponentId::new(ComponentKind::Host, ""),
            last_ts: i64::MIN,
            last_value: f64::NAN,
            taps: Vec::new(),
        });
        self.st.series[sid as usize].taps = self.taps_for(sid);
        self.st.series[sid as usize].component = self.series_component(sid);
        self.st.hosts[h as usize].series.push(sid);
        self.series_index.entry(key).or_default().push(sid);
        Some(sid)
    }

    fn selector_of(&self, sid: u32) -> Option<&ComponentSel> {
        let s = &self.st.series[sid as usize];
        s.taps.iter().find_map(|t| match t {
            Tap::Hard { rule, .. } => Some(&self.rules.hard[*rule as usize].component),
            Tap::Counter { rule, .. } => Some(&self.rules.counters[*rule as usize].component),
            Tap::Rate { rule, .. } => Some(&self.rules.rates[*rule as usize].component),
            Tap::Baseline { rule, .. } => Some(&self.rules.baselines[*rule as usize].component),
            Tap::Peer { rule, .. } => Some(&self.rules.peers[*rule as usize].component),
            Tap::Trend { rule, .. } => Some(&self.rules.trends[*rule as usize].component),
            Tap::Feature { .. } | Tap::Condition { .. } => None,
        })
    }

    fn series_component(&self, sid: u32) -> ComponentId {
        let s = &self.st.series[sid as usize];
        let host = &self.st.hosts[s.host as usize];
        match self.selector_of(sid) {
            Some(sel) => resolve_component(sel, &s.labels, host),
            None => ComponentId::new(ComponentKind::Host, host.id.clone()),
        }
    }

    fn taps_for(&self, sid: u32) -> Vec<Tap> {
        let s = &self.st.series[sid as usize];
        let Some(uses) = self.uses.get(&s.metric) else {
            return Vec::new();
        };
        let host = &self.st.hosts[s.host as usize];
        let mut taps = Vec::new();
        for (u, want) in uses {
            if !labels_match(want, &s.labels) {
                continue;
            }
            taps.push(match *u {
                Use::Hard(rule) => Tap::Hard {
                    rule,
                    holding: false,
                },
                Use::Counter(rule) => {
                    let r = &self.rules.counters[rule as usize];
                    let comp = resolve_component(&r.component, &s.labels, host);
                    let model = host
                        .inventory
                        .get(&comp)
                        .and_then(|a| a.get(names::inventory_attrs::MODEL));
                    let mut decode = r.decode;
                    if let Some(model) = model {
                        for o in &r.model_overrides {
                            if model.starts_with(&o.model_prefix) {
                                if o.disabled {
                                    decode = Decode::Raw;
                                }
                                if let Some(d) = o.decode {
                                    decode = d;
                                }
                            }
                        }
                        if r.model_overrides
                            .iter()
                            .any(|o| o.disabled && model.starts_with(&o.model_prefix))
                        {
                            continue;
                        }
                    }
                    Tap::Counter {
                        rule,
                        st: CounterState::with_decode(decode),
                    }
                }
                Use::Rate(rule) => Tap::Rate {
                    rule,
                    st: RateState::default(),
                },
                Use::Baseline(rule) => Tap::Baseline {
                    rule,
                    st: Box::default(),
                },
                Use::Peer(rule) => Tap::Peer {
                    rule,
                    st: PeerMemberState::default(),
                },
                Use::Trend(rule) => Tap::Trend {
                    rule,
                    st: TrendState::default(),
                },
                Use::Feature(feature) => Tap::Feature { feature },
                Use::Condition if taps.iter().any(|t| matches!(t, Tap::Condition { .. })) => {
                    continue
                }
                Use::Condition => Tap::Condition {
                    st: ConditionWindows::default(),
                },
                Use::Keep => continue,
            });
        }
        taps
    }

    fn find_series(&self, h: u32, metric: &str, labels: &BTreeMap<String, String>) -> Option<u32> {
        let ids = self.series_index.get(&series_hash(h, metric, labels))?;
        ids.iter().copied().find(|&i| {
            let s = &self.st.series[i as usize];
            s.host == h && s.metric == metric && &s.labels == labels
        })
    }

    // ----- samples ----------------------------------------------------------------

    /// Feeds a batch's series one timestamp at a time across all of them, so a rule
    /// that reads another series (a peer rule's condition, a trend's threshold metric)
    /// sees it as of the same event time even when a batch carries several intervals
    /// (an agent replaying its spool, the simulator's multi-interval batches).
    fn process_in_time_order(&mut self, series: &[(u32, &[Point])], signals: &mut Vec<Signal>) {
        let mut cursor = vec![0_usize; series.len()];
        loop {
            let next = series
                .iter()
                .zip(&cursor)
                .filter_map(|((_, points), &c)| points.get(c).map(|p| p.ts))
                .min();
            let Some(t) = next else {
                break;
            };
            for ((sid, points), c) in series.iter().zip(cursor.iter_mut()) {
                let start = *c;
                while points.get(*c).is_some_and(|p| p.ts <= t) {
                    *c += 1;
                }
                if *c > start {
                    self.process_series(*sid, &points[start..*c], signals);
                }
            }
        }
    }

    fn process_series(&mut self, sid: u32, points: &[Point], signals: &mut Vec<Signal>) {
        let mut taps = std::mem::take(&mut self.st.series[sid as usize].taps);
        let baseline_ms = ms(self.rules.baseline.window_minutes, 60_000).max(1);
        let mv_ms = ms(self.rules.multivariate.window_minutes, 60_000).max(1);
        for p in points {
            let s = &self.st.series[sid as usize];
            // Duplicates and reordered replays carry nothing new for a series.
            if p.ts <= s.last_ts || !p.value.is_finite() {
                continue;
            }
            for tap in taps.iter_mut() {
                match tap {
                    Tap::Hard { rule, holding } => {
                        let r = &self.rules.hard[*rule as usize];
                        let holds = r.op.holds(p.value, r.value);
                        if holds != *holding {
                            *holding = holds;
                            let emit = Emit {
                                detector: Detector::Hard,
                                suffix: "",
                                strength: if holds { 1.0 } else { 0.0 },
                                lr: r.lr,
                                hold_ms: None,
                                explanation: SignalExplanation {
                                    summary: format!(
                                        "{} = {} ({} {})",
                                        r.metric,
                                        p.value,
                                        if holds { r.op.as_str() } else { "no longer" },
                                        r.value
                                    ),
                                    value: Some(p.value),
                                    ..Default::default()
                                },
                            };
                            signals
                                .push(self.signal_for(sid, &r.id, &r.title, &r.action, p.ts, emit));
                        }
                    }
                    Tap::Counter { rule, st } => {
                        let r = &self.rules.counters[*rule as usize];
                        for emit in st.on_sample(p.ts, p.value, r) {
                            signals
                                .push(self.signal_for(sid, &r.id, &r.title, &r.action, p.ts, emit));
                        }
                    }
                    Tap::Rate { rule, st } => {
                        let r = &self.rules.rates[*rule as usize];
                        if let Some(emit) = st.on_counter(p.ts, p.value, r) {
                            signals
                                .push(self.signal_for(sid, &r.id, &r.title, &r.action, p.ts, emit));
                        }
                    }
                    Tap::Baseline { rule, st } => {
                        let r = &self.rules.baselines[*rule as usize];
                        if let Some(emit) =
                            st.on_sample(p.ts, p.value, r, &self.rules.baseline, baseline_ms)
                        {
                            signals
                                .push(self.signal_for(sid, &r.id, &r.title, &r.action, p.ts, emit));
                        }
                    }
                    Tap::Peer { rule, st } => {
                        if let Some((w, mean)) = st.on_sample(p.ts, p.value, baseline_ms) {
                            self.report_peer(sid, *rule, w, mean);
                        }
                    }
                    Tap::Trend { rule, st } => {
                        let r = &self.rules.trends[*rule as usize];
                        let threshold = r
                            .threshold_metric
                            .as_deref()
                            .and_then(|m| {
                                let s = &self.st.series[sid as usize];
                                self.find_series(s.host, m, &s.labels)
                            })
                            .map(|t| self.st.series[t as usize].last_value)
                            .filter(|v| v.is_finite() && *v > 0.0)
                            .unwrap_or(r.threshold);
                        if let Some(emit) =
                            st.on_sample(p.ts, p.value, r, threshold, &mut self.scratch)
                        {
                            signals
                                .push(self.signal_for(sid, &r.id, &r.title, &r.action, p.ts, emit));
                        }
                    }
                    Tap::Condition { st } => st.on_sample(p.ts, p.value, baseline_ms),
                    Tap::Feature { feature } => {
                        let h = self.st.series[sid as usize].host;
                        let cfg = &self.rules.multivariate;
                        let seed = cfg.seed ^ series_hash(h, "", &BTreeMap::new());
                        let host = &mut self.st.hosts[h as usize];
                        let mut emit = None;
                        if let Some(mv) = host.mv.as_mut() {
                            if mv.closes(p.ts, mv_ms) {
                                emit = mv.close(p.ts, mv_ms, cfg, seed);
                            }
                            mv.add(*feature as usize, p.ts, p.value, mv_ms);
                        }
                        if let Some(emit) = emit {
                            let host = &self.st.hosts[h as usize];
                            let component = ComponentId::new(ComponentKind::Host, host.id.clone());
                            signals.push(Signal {
                                host_id: host.id.clone(),
                                component,
                                detector: emit.detector,
                                rule: "multivariate".into(),
                                strength: emit.strength,
                                lr: emit.lr,
                                at_ms: p.ts,
                                hold_ms: emit.hold_ms,
                                title: "Anomalous joint behaviour of temperatures, fans, power and load".into(),
                                action: String::new(),
                                explanation: emit.explanation,
                            });
                        }
                    }
                }
            }
            let s = &mut self.st.series[sid as usize];
            s.last_ts = p.ts;
            s.last_value = p.value;
        }
        self.st.series[sid as usize].taps = taps;
    }

    fn signal_for(
        &self,
        sid: u32,
        rule: &str,
        title: &str,
        action: &str,
        at: i64,
        e: Emit,
    ) -> Signal {
        let s = &self.st.series[sid as usize];
        Signal {
            host_id: self.st.hosts[s.host as usize].id.clone(),
            component: s.component.clone(),
            detector: e.detector,
            rule: format!("{rule}{}", e.suffix),
            strength: e.strength,
            lr: e.lr,
            at_ms: at,
            hold_ms: e.hold_ms,
            title: title.to_string(),
            action: action.to_string(),
            explanation: e.explanation,
        }
    }

    fn liveness_signal(&self, h: u32, component: ComponentId, at: i64, strength: f64) -> Signal {
        let host = &self.st.hosts[h as usize];
        Signal {
            host_id: host.id.clone(),
            component,
            detector: Detector::Liveness,
            rule: "host_silent".into(),
            strength,
            lr: self.rules.liveness.lr,
            at_ms: at,
            hold_ms: None,
            title: "Host silent".into(),
            action: "Check whether the host is up and its agent can reach the collector.".into(),
            explanation: SignalExplanation {
                summary: if strength > 0.0 {
                    format!("no data since {} (event time)", host.last_seen)
                } else {
                    "data flowing again".into()
                },
                ..Default::default()
            },
        }
    }

    // ----- peers ------------------------------------------------------------------

    fn report_peer(&mut self, sid: u32, rule: u16, window: i64, mean: f64) {
        let r = &self.rules.peers[rule as usize];
        let s = &self.st.series[sid as usize];
        let host = &self.st.hosts[s.host as usize];
        let Some(model) = host.model.clone() else {
            // Without a hardware model there is no honest peer group.
            return;
        };
        let bucket = match &r.condition_metric {
            Some(m) => {
                let mut labels = r.condition_match_labels.clone();
                for l in &r.condition_copy_labels {
                    if let Some(v) = s.labels.get(l) {
                        labels.insert(l.clone(), v.clone());
                    }
                }
                for (l, map) in &r.condition_label_map {
                    if let (Some(v), [from, to]) = (s.labels.get(l), map.as_slice()) {
                        let mapped = match v.strip_prefix(from.as_str()) {
                            Some(rest) => format!("{to}{rest}"),
                            None => v.clone(),
                        };
                        labels.insert(l.clone(), mapped);
                    }
                }
                let Some(cond) = self.find_series(s.host, m, &labels) else {
                    return;
                };
                // The condition over the same window; none there means no honest bucket.
                let Some(v) = self.st.series[cond as usize]
                    .taps
                    .iter()
                    .find_map(|t| match t {
                        Tap::Condition { st } => st.mean_at(window),
                        _ => None,
                    })
                    .filter(|v| v.is_finite())
                else {
                    return;
                };
                (v / r.condition_step).floor() as i64
            }
            None => 0,
        };
        let rack = if r.by_rack {
            host.labels.get("rack").cloned().unwrap_or_default()
        } else {
            String::new()
        };
        let group = format!("{}|{}|{}|{}|{}", r.id, model, rack, s.component.id, bucket);
        let member = (host.id.clone(), s.component.to_string());
        self.st
            .peer_groups
            .entry(group)
            .or_insert_with(|| (rule, PeerGroup::default()))
            .1
            .report(window, member, mean);
    }

    /// Judges peer windows closed before `now` and turns the verdicts into signals.
    fn peer_signals(&mut self, now: i64, signals: &mut Vec<Signal>) {
        let window_ms = ms(self.rules.baseline.window_minutes, 60_000).max(1);
        // A window is judged once every member had the chance to close it.
        let before = now.div_euclid(window_ms) - 1;
        let mut pending = Vec::new();
        for (name, (rule, group)) in self.st.peer_groups.iter_mut() {
            let r = &self.rules.peers[*rule as usize];
            for (member, emit) in group.evaluate(before, r, name) {
                pending.push((*rule, member, emit));
            }
        }
        for (rule, (host_id, component), emit) in pending {
            let r = &self.rules.peers[rule as usize];
            let Some(component) = parse_component(&component) else {
                continue;
            };
            signals.push(Signal {
                host_id,
                component,
                detector: emit.detector,
                rule: r.id.clone(),
                strength: emit.strength,
                lr: emit.lr,
                at_ms: now,
                hold_ms: emit.hold_ms,
                title: r.title.clone(),
                action: r.action.clone(),
                explanation: emit.explanation,
            });
        }
    }
}

impl Engine {
    // ----- events and inventory ----------------------------------------------------

    fn event_component(&self, h: u32, ev: &Event, kind: &str) -> ComponentId {
        if let Some(c) = &ev.component {
            return c.clone();
        }
        let host = &self.st.hosts[h as usize];
        let k = kind_from(kind);
        if k == ComponentKind::Host {
            return ComponentId::new(k, host.id.clone());
        }
        let id = ["component", "device", "sensor", "label", "dimm"]
            .iter()
            .find_map(|a| ev.attrs.get(*a))
            .cloned()
            .unwrap_or_else(|| "unknown".to_string());
        let id = if k == ComponentKind::Disk {
            host.aliases.get(&id).cloned().unwrap_or(id)
        } else {
            id
        };
        ComponentId::new(k, id)
    }

    fn process_event(
        &mut self,
        h: u32,
        ev: &Event,
        signals: &mut Vec<Signal>,
        outcomes: &mut Vec<Outcome>,
    ) {
        let kind = ev.kind.as_str();
        let host_id = self.st.hosts[h as usize].id.clone();
        if kind == names::events::REBOOT {
            let said_planned = ev
                .attrs
                .get(names::event_attrs::PLANNED)
                .is_some_and(|v| v == "true");
            outcomes.push(Outcome {
                host_id: host_id.clone(),
                component: None,
                kind: OutcomeKind::UnexpectedReboot,
                at_ms: ev.ts,
                planned: said_planned || self.in_maintenance(h, ev.ts),
            });
        }
        let message = ev.message.to_lowercase();
        for r in &self.rules.events {
            if r.kind != kind {
                continue;
            }
            if !r.message_contains.is_empty()
                && !r
                    .message_contains
                    .iter()
                    .any(|m| message.contains(m.as_str()))
            {
                continue;
            }
            let component = self.event_component(h, ev, &r.component_kind);
            if r.is_failure {
                outcomes.push(Outcome {
                    host_id: host_id.clone(),
                    component: Some(component.clone()),
                    kind: OutcomeKind::Uncorrectable,
                    at_ms: ev.ts,
                    planned: self.in_maintenance(h, ev.ts),
                });
            }
            signals.push(Signal {
                host_id: host_id.clone(),
                component,
                detector: Detector::Event,
                rule: r.id.clone(),
                strength: 1.0,
                lr: r.lr,
                at_ms: ev.ts,
                hold_ms: Some(ms(r.hold_days, DAY_MS)),
                title: r.title.clone(),
                action: r.action.clone(),
                explanation: SignalExplanation {
                    summary: format!("{}: {}", kind, ev.message),
                    ..Default::default()
                },
            });
        }
        for (i, r) in self.rules.rates.iter().enumerate() {
            if r.source.event.as_deref() != Some(kind) {
                continue;
            }
            let component = self.event_component(h, ev, &r.component.kind);
            let st = self.st.hosts[h as usize]
                .event_rates
                .entry((i as u16, component.clone()))
                .or_default();
            if let Some(emit) = st.on_event(ev.ts, r) {
                signals.push(Signal {
                    host_id: host_id.clone(),
                    component,
                    detector: emit.detector,
                    rule: r.id.clone(),
                    strength: emit.strength,
                    lr: emit.lr,
                    at_ms: ev.ts,
                    hold_ms: emit.hold_ms,
                    title: r.title.clone(),
                    action: r.action.clone(),
                    explanation: emit.explanation,
                });
            }
        }
    }

    fn apply_inventory(
        &mut self,
        h: u32,
        items: &[InventoryItem],
        batch: &Batch,
        outcomes: &mut Vec<Outcome>,
        out: &mut Vec<Transition>,
    ) {
        let at = batch
            .time_range()
            .map_or(self.st.hosts[h as usize].last_seen, |(lo, _)| lo);
        let mut replaced: Vec<ComponentId> = Vec::new();
        for item in items {
            let host = &mut self.st.hosts[h as usize];
            let serial = item.attrs.get(names::inventory_attrs::SERIAL);
            if let Some(old) = host.inventory.get(&item.component) {
                let old_serial = old.get(names::inventory_attrs::SERIAL);
                if old_serial.is_some() && serial.is_some() && old_serial != serial {
                    replaced.push(item.component.clone());
                }
            }
            if item.component.kind == ComponentKind::Host {
                if let Some(m) = item.attrs.get(names::inventory_attrs::MODEL) {
                    host.model = Some(m.clone());
                }
            }
            if item.component.kind == ComponentKind::Disk {
                if let Some(dev) = item.attrs.get(names::inventory_attrs::DEVICE) {
                    // The same slot now holds a disk with another identity: replaced.
                    if let Some(prev) = host.aliases.get(dev) {
                        if *prev != item.component.id {
                            replaced.push(ComponentId::new(ComponentKind::Disk, prev.clone()));
                        }
                    }
                    host.aliases.insert(dev.clone(), item.component.id.clone());
                }
            }
            host.inventory
                .insert(item.component.clone(), item.attrs.clone());
        }
        for component in replaced {
            self.replace_component(h, &component, at, outcomes, out);
        }
        // Inventory can change components and per-model decoding: re-resolve this host's
        // series (cheap: inventory arrives only when it changes).
        let ids = self.st.hosts[h as usize].series.clone();
        for sid in ids {
            let comp = self.series_component(sid);
            let s = &mut self.st.series[sid as usize];
            if s.component != comp {
                s.component = comp;
            }
            let decodes: Vec<Decode> = self
                .taps_for(sid)
                .into_iter()
                .filter_map(|t| match t {
                    Tap::Counter { st, .. } => Some(st.decode),
                    _ => None,
                })
                .collect();
            let mut it = decodes.into_iter();
            for t in self.st.series[sid as usize].taps.iter_mut() {
                if let Tap::Counter { st, .. } = t {
                    if let Some(d) = it.next() {
                        st.decode = d;
                    }
                }
            }
        }
    }

    /// A replaced part: its case resolves, its series start fresh baselines, and the
    /// replacement is an outcome (a failure unless it was planned work).
    fn replace_component(
        &mut self,
        h: u32,
        component: &ComponentId,
        at: i64,
        outcomes: &mut Vec<Outcome>,
        out: &mut Vec<Transition>,
    ) {
        let host_id = self.st.hosts[h as usize].id.clone();
        let planned = self.in_maintenance(h, at);
        outcomes.push(Outcome {
            host_id: host_id.clone(),
            component: Some(component.clone()),
            kind: OutcomeKind::Replaced,
            at_ms: at,
            planned,
        });
        // Learn first (the old part's evidence precedes its replacement), then forget it.
        let key = (host_id.clone(), component.clone());
        if let Some(o) = outcomes.pop() {
            self.learn_outcome(o);
        }
        if let Some(case) = self.st.cases.remove(&key) {
            if let Some(open) = case.open.clone() {
                let a = case.assess(
                    at,
                    component.kind.as_str(),
                    &self.subject(h, component),
                    &self.rules,
                    &self.st.learn.weights,
                );
                out.push(Transition {
                    action: Action::Resolve,
                    dedup_key: format!("{host_id}/{component}"),
                    host_id: Some(host_id.clone()),
                    component: Some(component.clone()),
                    place: None,
                    at_ms: at,
                    opened_ms: open.opened_ms,
                    revision: open.revision + 1,
                    severity: open.severity,
                    risk: a.risk,
                    title: a.title,
                    explanation: a.explanation,
                    reason: Some("component replaced".into()),
                });
            }
        }
        let ids = self.st.hosts[h as usize].series.clone();
        for sid in ids {
            if self.st.series[sid as usize].component == *component {
                self.st.series[sid as usize].taps = self.taps_for(sid);
            }
        }
    }

    // ----- cases --------------------------------------------------------------------

    fn in_maintenance(&self, h: u32, ts: i64) -> bool {
        let host = &self.st.hosts[h as usize];
        self.st
            .maintenance
            .iter()
            .any(|w| w.covers(&host.id, &host.labels, ts))
    }

    fn subject(&self, h: u32, component: &ComponentId) -> String {
        let host = &self.st.hosts[h as usize];
        if component.kind == ComponentKind::Host {
            host.hostname.clone()
        } else {
            format!("{} on {}", component, host.hostname)
        }
    }

    fn base_rule(rule: &str) -> &str {
        rule.split('#').next().unwrap_or(rule)
    }

    fn apply_signal(&mut self, s: Signal) {
        let Some(&h) = self.host_index.get(&s.host_id) else {
            return;
        };
        if s.hold_ms.is_some() && s.strength > 0.0 && self.in_maintenance(h, s.at_ms) {
            // Event-like evidence during planned work is the work itself.
            tracing::debug!(host = %s.host_id, rule = %s.rule, "signal inside maintenance ignored");
            return;
        }
        let base = Self::base_rule(&s.rule);
        if self.rules.topology.rules.iter().any(|r| r == base) {
            let host = &self.st.hosts[h as usize];
            for label in &self.rules.topology.labels {
                let Some(value) = host.labels.get(label) else {
                    continue;
                };
                let place = self
                    .st
                    .places
                    .entry(format!("{label}={value}"))
                    .or_insert_with(|| PlaceState {
                        label: label.clone(),
                        value: value.clone(),
                        ..Default::default()
                    });
                if s.strength > 0.0 {
                    place.hits.insert(
                        s.host_id.clone(),
                        (
                            s.at_ms,
                            s.rule.clone(),
                            s.detector,
                            s.explanation.summary.clone(),
                        ),
                    );
                }
            }
        }
        let key = (s.host_id.clone(), s.component.clone());
        if s.strength <= 0.0 && !self.st.cases.contains_key(&key) {
            return;
        }
        self.st.cases.entry(key).or_default().apply(&s);
    }

    fn has_grouped_evidence(&self, host_id: &str, now: i64) -> bool {
        let start = (
            host_id.to_string(),
            ComponentId::new(ComponentKind::Host, ""),
        );
        self.st
            .cases
            .range(start..)
            .take_while(|((h, _), _)| h == host_id)
            .any(|(_, case)| {
                case.evidence.values().any(|e| {
                    e.active(now)
                        && self
                            .rules
                            .topology
                            .rules
                            .iter()
                            .any(|r| r == Self::base_rule(&e.rule))
                })
            })
    }

    fn place_covers(&self, host_id: &str, now: i64) -> bool {
        let window = ms(self.rules.topology.window_minutes, 60_000);
        self.st.places.values().any(|p| {
            p.open.is_some()
                && (p.hosts_at_open.contains(host_id)
                    || p.hits.get(host_id).is_some_and(|(t, ..)| now - t <= window))
        })
    }

    fn evaluate_host(&mut self, h: u32, now: i64, out: &mut Vec<Transition>) {
        let host_id = self.st.hosts[h as usize].id.clone();
        let keys: Vec<(String, ComponentId)> = self
            .st
            .cases
            .range((host_id.clone(), ComponentId::new(ComponentKind::Host, ""))..)
            .take_while(|((hid, _), _)| *hid == host_id)
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            self.evaluate_case(h, &key, now, out);
        }
    }

    fn evaluate_case(
        &mut self,
        h: u32,
        key: &(String, ComponentId),
        now: i64,
        out: &mut Vec<Transition>,
    ) {
        let lookback = ms(self.rules.learning.lookback_days, DAY_MS);
        let topo_rules: BTreeSet<&str> = self
            .rules
            .topology
            .rules
            .iter()
            .map(String::as_str)
            .collect();
        let hold = ms(self.rules.topology.hold_minutes, 60_000);
        let subject = self.subject(h, &key.1);
        let in_maint = self.in_maintenance(h, now);
        let host_labels = &self.st.hosts[h as usize].labels;
        let has_place = self
            .rules
            .topology
            .labels
            .iter()
            .any(|l| host_labels.contains_key(l));
        let covered = self.place_covers(&key.0, now);
        let Some(case) = self.st.cases.get_mut(key) else {
            return;
        };
        // Evidence that leaves the lookback without a failure is a negative example.
        let aged: BTreeMap<String, f64> = case
            .past
            .iter()
            .filter(|(_, _, last, _)| now - last > lookback)
            .fold(BTreeMap::new(), |mut m, (r, _, _, s)| {
                let e = m.entry(r.clone()).or_insert(0.0f64);
                *e = e.max(*s);
                m
            });
        case.expire(now, lookback);
        let a = case.assess(
            now,
            key.1.kind.as_str(),
            &subject,
            &self.rules,
            &self.st.learn.weights,
        );
        let only_grouped = !a.rules.is_empty()
            && a.rules
                .iter()
                .all(|r| topo_rules.contains(Self::base_rule(r)));
        let youngest_first = case
            .evidence
            .values()
            .filter(|e| e.active(now))
            .map(|e| e.first_ms)
            .min()
            .unwrap_or(now);
        let grouped_elsewhere = only_grouped && covered;
        // Wait for the place to form only where there is a place to form.
        let held = only_grouped && has_place && now - youngest_first < hold;
        let s = &self.rules.scoring;
        let mut emit: Option<(Action, Option<String>)> = None;
        match case.open.as_mut() {
            None => {
                if a.risk >= s.open_risk && !in_maint && !grouped_elsewhere && !held {
                    case.open = Some(OpenIncident {
                        opened_ms: now,
                        revision: 0,
                        risk: a.risk,
                        severity: a.severity,
                        rules: a.rules.clone(),
                        below_since: None,
                    });
                    emit = Some((Action::Open, None));
                }
            }
            Some(o) => {
                if grouped_elsewhere {
                    o.revision += 1;
                    emit = Some((
                        Action::Resolve,
                        Some("grouped into a place incident".into()),
                    ));
                } else if a.risk < s.resolve_risk {
                    let since = *o.below_since.get_or_insert(now);
                    if now - since >= ms(s.resolve_after_minutes, 60_000) {
                        o.revision += 1;
                        emit = Some((Action::Resolve, Some("risk below the resolve level".into())));
                    }
                } else {
                    o.below_since = None;
                    let new_rule = a.rules.iter().any(|r| !o.rules.contains(r));
                    if (a.risk - o.risk).abs() >= s.update_min_delta
                        || a.severity != o.severity
                        || new_rule
                    {
                        o.revision += 1;
                        o.risk = a.risk;
                        o.severity = a.severity;
                        o.rules = a.rules.clone();
                        emit = Some((Action::Update, None));
                    }
                }
            }
        }
        let mut resolved = false;
        if let Some((action, reason)) = emit {
            let Some(o) = case.open.as_ref() else {
                return;
            };
            out.push(Transition {
                action,
                dedup_key: format!("{}/{}", key.0, key.1),
                host_id: Some(key.0.clone()),
                component: Some(key.1.clone()),
                place: None,
                at_ms: now,
                opened_ms: o.opened_ms,
                revision: o.revision,
                severity: if action == Action::Resolve {
                    o.severity
                } else {
                    a.severity
                },
                risk: a.risk,
                title: a.title,
                explanation: a.explanation,
                reason,
            });
            resolved = action == Action::Resolve;
        }
        if resolved {
            case.open = None;
        }
        let empty = case.open.is_none() && case.evidence.is_empty() && case.past.is_empty();
        if empty {
            self.st.cases.remove(key);
        }
        if !aged.is_empty() {
            self.st.learn.record_non_failure(aged);
        }
    }

    // ----- places -------------------------------------------------------------------

    fn evaluate_places(&mut self, now: i64, out: &mut Vec<Transition>) {
        let t = &self.rules.topology;
        let window = ms(t.window_minutes, 60_000);
        let resolve_after = ms(self.rules.scoring.resolve_after_minutes, 60_000);
        let label_rank = |l: &str| t.labels.iter().position(|x| x == l).unwrap_or(usize::MAX);
        let keys: Vec<String> = self.st.places.keys().cloned().collect();
        // Most specific labels first, so a rack incident forms before its site's.
        let mut ordered = keys;
        ordered.sort_by_key(|k| {
            let p = &self.st.places[k];
            (label_rank(&p.label), k.clone())
        });
        for key in ordered {
            // A host counts while its grouped evidence is active (a level condition
            // such as a baseline deviation holds until it clears), or for `window` after
            // an event-like signal.
            let active: BTreeSet<String> = self.st.places[&key]
                .hits
                .iter()
                .filter(|(h, (ts, ..))| now - ts <= window || self.has_grouped_evidence(h, now))
                .map(|(h, _)| h.clone())
                .collect();
            let label = self.st.places[&key].label.clone();
            let rank = label_rank(&label);
            let narrower_covers = !active.is_empty()
                && self.st.places.values().any(|p| {
                    p.open.is_some()
                        && label_rank(&p.label) < rank
                        && active.iter().all(|h| p.hosts_at_open.contains(h))
                });
            let members = self
                .st
                .hosts
                .iter()
                .filter(|h| {
                    self.st.places[&key].value == *h.labels.get(&label).unwrap_or(&String::new())
                })
                .count()
                .max(1);
            let risk = round6(active.len() as f64 / members as f64);
            let place = self
                .st
                .places
                .get_mut(&key)
                .expect("key taken from the map");
            let mut action = None;
            match place.open.as_mut() {
                None => {
                    let enough = active.len() >= t.min_hosts as usize
                        && active.len() as f64 >= t.min_fraction * members as f64;
                    if enough && !narrower_covers {
                        place.open = Some(OpenIncident {
                            opened_ms: now,
                            revision: 0,
                            risk,
                            severity: Severity::Error,
                            rules: Vec::new(),
                            below_since: None,
                        });
                        place.hosts_at_open = active.clone();
                        action = Some(Action::Open);
                    }
                }
                Some(o) => {
                    if active.is_empty() {
                        let since = *o.below_since.get_or_insert(now);
                        if now - since >= resolve_after {
                            o.revision += 1;
                            action = Some(Action::Resolve);
                        }
                    } else {
                        o.below_since = None;
                        let grew = active.iter().any(|h| !place.hosts_at_open.contains(h));
                        if grew {
                            place.hosts_at_open.extend(active.iter().cloned());
                            o.revision += 1;
                            o.risk = risk;
                            action = Some(Action::Update);
                        }
                    }
                }
            }
            if let Some(action) = action {
                let Some(o) = place.open.clone() else {
                    continue;
                };
                let hosts: Vec<String> = place.hosts_at_open.iter().cloned().collect();
                let signals: Vec<Contribution> = place
                    .hits
                    .iter()
                    .filter(|(h, _)| place.hosts_at_open.contains(*h))
                    .map(|(h, (ts, rule, det, summary))| Contribution {
                        detector: *det,
                        rule: rule.clone(),
                        title: format!("{rule} on {h}"),
                        strength: 1.0,
                        log_odds: 0.0,
                        weight_source: "topology".into(),
                        since_ms: *ts,
                        last_ms: *ts,
                        summary: summary.clone(),
                        reference: None,
                        features: Vec::new(),
                    })
                    .collect();
                out.push(Transition {
                    action,
                    dedup_key: format!("place/{key}"),
                    host_id: None,
                    component: None,
                    place: Some(Place {
                        label: place.label.clone(),
                        value: place.value.clone(),
                        hosts: hosts.clone(),
                    }),
                    at_ms: now,
                    opened_ms: o.opened_ms,
                    revision: o.revision,
                    severity: severity_of(0.9, &self.rules).min(Severity::Error),
                    risk: o.risk,
                    title: format!(
                        "{} {}: the same signal on {} hosts ({})",
                        place.label,
                        place.value,
                        hosts.len(),
                        hosts.join(", ")
                    ),
                    explanation: Explanation {
                        signals,
                        prior: 0.0,
                        horizon_days: self.rules.scoring.horizon_days,
                        time_to_failure: None,
                        recommended_action: self
                            .rules
                            .actions
                            .get("place")
                            .cloned()
                            .unwrap_or_default(),
                        rules_version: self.rules.version.clone(),
                    },
                    reason: (action == Action::Resolve)
                        .then(|| "no host of the place shows the signal any more".into()),
                });
                if action == Action::Resolve {
                    place.open = None;
                    place.hosts_at_open.clear();
                }
            }
            // Forget stale hits so the map stays small.
            place
                .hits
                .retain(|h, (ts, ..)| now - *ts <= window * 4 || active.contains(h));
        }
    }

    // ----- learning -------------------------------------------------------------------

    fn learn_outcome(&mut self, mut outcome: Outcome) {
        let lookback = ms(self.rules.learning.lookback_days, DAY_MS);
        if let Some(&h) = self.host_index.get(&outcome.host_id) {
            if self.in_maintenance(h, outcome.at_ms) {
                outcome.planned = true;
            }
        }
        let mut precursors = Vec::new();
        let mut features: BTreeMap<String, f64> = BTreeMap::new();
        let keys: Vec<(String, ComponentId)> = self
            .st
            .cases
            .keys()
            .filter(|(h, c)| {
                *h == outcome.host_id && outcome.component.as_ref().is_none_or(|oc| oc == c)
            })
            .cloned()
            .collect();
        for key in keys {
            let Some(case) = self.st.cases.get_mut(&key) else {
                continue;
            };
            for (rule, lead) in case.precursors(outcome.at_ms, lookback) {
                // Evidence raised by the failure itself is no precursor.
                if lead > 0 {
                    precursors.push(Precursor {
                        rule,
                        lead_ms: lead,
                    });
                }
            }
            for (r, s) in case.features(outcome.at_ms, lookback) {
                let e = features.entry(r).or_insert(0.0);
                *e = e.max(s);
            }
            if !outcome.planned {
                // The evidence has been accounted for by this outcome.
                case.past.clear();
            }
        }
        tracing::debug!(host = %outcome.host_id, kind = ?outcome.kind, planned = outcome.planned,
            precursors = precursors.len(), "outcome recorded");
        self.st.learn.record(outcome, precursors, features);
        let l = &self.rules.learning;
        self.st
            .learn
            .refit(l.min_failures, l.min_non_failures, l.alpha);
    }
}

/// The component a series belongs to under `sel`.
fn resolve_component(
    sel: &ComponentSel,
    labels: &BTreeMap<String, String>,
    host: &HostState,
) -> ComponentId {
    let kind = kind_from(&sel.kind);
    if kind == ComponentKind::Host || sel.labels.is_empty() {
        return ComponentId::new(kind, host.id.clone());
    }
    let parts: Vec<&str> = sel
        .labels
        .iter()
        .filter_map(|l| labels.get(l).map(String::as_str))
        .collect();
    let id = if parts.is_empty() {
        "unknown".to_string()
    } else {
        parts.join("/")
    };
    let id = if kind == ComponentKind::Disk {
        host.aliases.get(&id).cloned().unwrap_or(id)
    } else {
        id
    };
    ComponentId::new(kind, id)
}

/// Parses `kind:id` back into a component.
fn parse_component(s: &str) -> Option<ComponentId> {
    let (kind, id) = s.split_once(':')?;
    Some(ComponentId::new(kind_from(kind), id))
}

/// Which rules each metric feeds.
fn compile(rules: &RulePack) -> UseMap {
    let mut m: UseMap = HashMap::new();
    let mut add = |metric: &str, u: Use, labels: &BTreeMap<String, String>| {
        m.entry(metric.to_string())
            .or_default()
            .push((u, labels.clone()));
    };
    for (i, r) in rules.hard.iter().enumerate() {
        add(&r.metric, Use::Hard(i as u16), &r.match_labels);
    }
    for (i, r) in rules.counters.iter().enumerate() {
        add(&r.metric, Use::Counter(i as u16), &r.match_labels);
    }
    for (i, r) in rules.rates.iter().enumerate() {
        if let Some(metric) = &r.source.metric {
            add(metric, Use::Rate(i as u16), &BTreeMap::new());
        }
    }
    for (i, r) in rules.baselines.iter().enumerate() {
        add(&r.metric, Use::Baseline(i as u16), &r.match_labels);
    }
    for (i, r) in rules.peers.iter().enumerate() {
        add(&r.metric, Use::Peer(i as u16), &r.match_labels);
        if let Some(c) = &r.condition_metric {
            add(c, Use::Condition, &BTreeMap::new());
        }
    }
    for (i, r) in rules.trends.iter().enumerate() {
        add(&r.metric, Use::Trend(i as u16), &r.match_labels);
        if let Some(t) = &r.threshold_metric {
            add(t, Use::Keep, &BTreeMap::new());
        }
    }
    if rules.multivariate.enabled {
        for (i, f) in rules.multivariate.features.iter().enumerate() {
            add(&f.metric, Use::Feature(i as u16), &f.match_labels);
        }
    }
    m
}

fn fingerprint(rules: &RulePack) -> u64 {
    let mut h = Fnv::new();
    // serde_json is not a dependency; the TOML form of the pack is deterministic
    // (structs and BTreeMaps serialise in a fixed order).
    match toml::to_string(rules) {
        Ok(text) => h.bytes(text.as_bytes()),
        Err(_) => h.bytes(rules.version.as_bytes()),
    }
    h.0
}
