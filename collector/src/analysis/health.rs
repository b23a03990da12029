//! The pure glue between the collector and the analysis engine (`harbinger-engine`):
//! loading the rule pack with its audited overrides, encoding and decoding the stored
//! engine snapshot, and turning stored outcomes and maintenance windows into the
//! engine's types. No I/O beyond reading the override file.

use crate::store::{EngineSnapshotRow, IncidentRow, MaintenanceRow, OutcomeRow};
use harbinger_engine::rules::DEFAULT_RULES;
use harbinger_engine::{
    AuditEntry, Engine, MaintenanceWindow, Outcome, OutcomeKind, RuleError, RulePack, Snapshot,
};
use harbinger_shared::{Batch, ComponentId, ComponentKind};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why the rule pack or a stored snapshot could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HealthError {
    #[error("cannot read rule pack {path}: {source}")]
    ReadRules {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Rules(#[from] RuleError),
    #[error("stored engine snapshot: {0}")]
    Snapshot(String),
}

/// The rule pack: the embedded default, merged with the override file when one is
/// configured. The audit entries name every key the file changed.
pub fn load_rules(path: Option<&Path>) -> Result<(RulePack, Vec<AuditEntry>), HealthError> {
    match path {
        None => Ok((RulePack::default_pack()?, Vec::new())),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| HealthError::ReadRules {
                path: path.to_owned(),
                source,
            })?;
            let name = path.display().to_string();
            Ok(RulePack::with_overrides(DEFAULT_RULES, &text, &name)?)
        }
    }
}

/// What the collector keeps next to the engine's own snapshot, so that a restart
/// replays exactly the batches and outcomes the snapshot has not seen.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    /// Newest batch seq fed to the engine, per host.
    pub fed: BTreeMap<String, u64>,
    /// Newest event time fed (batch sample or event times).
    pub watermark_ms: i64,
    /// Newest stored outcome id given to the engine.
    pub outcome_after: i64,
}

impl Progress {
    /// Whether `batch` is newer than what the engine has seen from its host.
    pub fn is_new(&self, batch: &Batch) -> bool {
        self.fed
            .get(&batch.agent.host_id)
            .is_none_or(|&seq| batch.seq > seq)
    }

    /// Notes that `batch` was fed.
    pub fn fed(&mut self, batch: &Batch) {
        let seq = self.fed.entry(batch.agent.host_id.clone()).or_insert(0);
        *seq = (*seq).max(batch.seq);
        if let Some((_, hi)) = batch.time_range() {
            self.watermark_ms = self.watermark_ms.max(hi);
        }
    }
}

/// The engine state and progress as a store row. serde_json with `float_roundtrip`
/// keeps every float exact, so a restored engine decides exactly as the saved one would.
pub fn encode(
    engine: &Engine,
    progress: &Progress,
    taken_ms: i64,
) -> Result<EngineSnapshotRow, HealthError> {
    let snapshot = engine.snapshot();
    let body = serde_json::to_string(&snapshot)
        .map_err(|e| HealthError::Snapshot(format!("cannot encode: {e}")))?;
    let fed = serde_json::to_string(&progress.fed)
        .map_err(|e| HealthError::Snapshot(format!("cannot encode progress: {e}")))?;
    Ok(EngineSnapshotRow {
        taken_ms,
        watermark_ms: progress.watermark_ms,
        rules_version: snapshot.rules_version,
        fed,
        outcome_after: progress.outcome_after,
        body,
    })
}

/// An engine continuing from a stored row, with `rules` (when the rules differ from the
/// snapshot's, the engine rebuilds detector state itself; cases and learning are kept).
pub fn decode(row: &EngineSnapshotRow, rules: RulePack) -> Result<(Engine, Progress), HealthError> {
    let snapshot: Snapshot = serde_json::from_str(&row.body)
        .map_err(|e| HealthError::Snapshot(format!("body taken at {}: {e}", row.taken_ms)))?;
    let fed: BTreeMap<String, u64> = serde_json::from_str(&row.fed)
        .map_err(|e| HealthError::Snapshot(format!("fed taken at {}: {e}", row.taken_ms)))?;
    let engine = Engine::restore(rules, snapshot)
        .map_err(|e| HealthError::Snapshot(format!("taken at {}: {e}", row.taken_ms)))?;
    Ok((
        engine,
        Progress {
            fed,
            watermark_ms: row.watermark_ms,
            outcome_after: row.outcome_after,
        },
    ))
}

/// A stored maintenance window as the engine sees it.
pub fn window(row: &MaintenanceRow) -> MaintenanceWindow {
    MaintenanceWindow {
        id: row.id.to_string(),
        start_ms: row.start_ms,
        end_ms: row.end_ms,
        hosts: row.hosts.clone(),
        labels: row.labels.clone(),
    }
}

/// Parses a `kind:id` component string as stored on incidents.
pub fn parse_component(text: &str) -> Option<ComponentId> {
    let (kind, id) = text.split_once(':')?;
    let kind = match kind {
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
    };
    Some(ComponentId::new(kind, id))
}

/// Normalises a desk's resolution code (`disk replaced`, `No fault`) into the engine's
/// snake_case form; the codes that mean "nothing was wrong" map to `no_fault`, which the
/// engine learns as a non-failure.
pub fn resolution_code(code: &str) -> String {
    let code = code.trim().to_lowercase().replace([' ', '-'], "_");
    match code.as_str() {
        "no_fault" | "no_fault_found" | "not_a_fault" | "false_positive" | "false_alarm"
        | "won't_fix" | "wont_fix" | "rejected" => "no_fault".into(),
        _ => code,
    }
}

/// An operator's resolution of an incident, as an engine outcome on its component.
pub fn outcome(row: &OutcomeRow, incident: &IncidentRow) -> Outcome {
    Outcome {
        host_id: incident.host_id.clone(),
        component: incident.component.as_deref().and_then(parse_component),
        kind: OutcomeKind::Resolution(resolution_code(&row.code)),
        at_ms: row.at_ms,
        planned: false,
    }
}

/// Whether the collector leaves a transition to its own checks: a host case whose only
/// evidence is engine liveness duplicates the arrival-time `host_silent` incident.
pub fn only_liveness(t: &harbinger_engine::Transition) -> bool {
    t.component
        .as_ref()
        .is_some_and(|c| c.kind == ComponentKind::Host)
        && !t.explanation.signals.is_empty()
        && t.explanation
            .signals
            .iter()
            .all(|s| s.rule == "host_silent")
}

#[cfg(test)]
mod tests {
    use super::*;
    use harbinger_shared::{AgentIdentity, Point, Series, PROTOCOL_VERSION};

    fn batch(host: &str, seq: u64, ts: i64) -> Batch {
        Batch {
            protocol_version: PROTOCOL_VERSION,
            agent: AgentIdentity {
                host_id: host.into(),
                hostname: host.into(),
                labels: BTreeMap::new(),
                agent_version: String::new(),
            },
            seq,
            interval_ms: 10_000,
            series: vec![Series {
                metric: "node_cpu_usage_ratio".into(),
                labels: BTreeMap::from([("cpu".into(), "total".into())]),
                points: vec![Point { ts, value: 0.5 }],
            }],
            events: vec![],
            inventory: None,
        }
    }

    #[test]
    fn progress_replays_only_newer_batches_per_host() {
        let mut p = Progress::default();
        assert!(p.is_new(&batch("a", 1, 1_000)));
        p.fed(&batch("a", 5, 9_000));
        assert!(!p.is_new(&batch("a", 5, 9_000)));
        assert!(!p.is_new(&batch("a", 4, 99_000)));
        assert!(p.is_new(&batch("a", 6, 1_000)));
        assert!(p.is_new(&batch("b", 1, 1_000)));
        assert_eq!(p.watermark_ms, 9_000);
    }

    #[test]
    fn snapshot_round_trips_through_the_row() {
        let rules = RulePack::default_pack().expect("default pack");
        let mut engine = Engine::new(rules.clone());
        let mut progress = Progress::default();
        for i in 0..50 {
            let b = batch("a", i + 1, 1_000_000 + i as i64 * 10_000);
            engine.feed(&b);
            progress.fed(&b);
        }
        progress.outcome_after = 7;
        let row = encode(&engine, &progress, 42).expect("encode");
        let (restored, back) = decode(&row, rules).expect("decode");
        assert_eq!(back, progress);
        assert_eq!(restored.snapshot(), engine.snapshot());
        let mut bad = row.clone();
        bad.body = "{".into();
        assert!(decode(&bad, RulePack::default_pack().expect("pack")).is_err());
    }

    #[test]
    fn rule_overrides_are_audited_and_bad_files_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("rules.toml");
        std::fs::write(&path, "[scoring]\nopen_risk = 0.2\n").expect("write");
        let (pack, audit) = load_rules(Some(&path)).expect("loads");
        assert_eq!(pack.scoring.open_risk, 0.2);
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].key, "scoring.open_risk");
        let missing = dir.path().join("nope.toml");
        let err = load_rules(Some(&missing)).expect_err("missing file");
        assert!(err.to_string().contains("nope.toml"), "{err}");
        std::fs::write(&path, "[scoring]\nopen_riskk = 0.2\n").expect("write");
        assert!(load_rules(Some(&path)).is_err());
    }

    #[test]
    fn resolution_codes_normalise() {
        assert_eq!(resolution_code("Disk replaced"), "disk_replaced");
        assert_eq!(resolution_code("won't fix"), "no_fault");
        assert_eq!(resolution_code("No fault"), "no_fault");
        assert_eq!(
            parse_component("disk:WWN-1"),
            Some(ComponentId::new(ComponentKind::Disk, "WWN-1"))
        );
        assert_eq!(parse_component("nocolon"), None);
    }
}
