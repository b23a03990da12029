//! `harbinger-collector backtest` end to end: a small simulated fleet with one slowly
//! degrading disk per host is stored through the store's ingest path, then the real
//! binary replays it and its JSON report must name the incident it would have opened
//! for the failing disk, with recall 1.0 and a positive lead time for the rule that
//! caught it; an alternative rule pack given with `--rules` that raises the opening
//! risk must change the report (the incidents open later, with less lead time).
//! On SQLite, and on PostgreSQL when `HARBINGER_TEST_PG_URL` is set.

use crate::pg::Database;
use harbinger_sim::{FailureRates, Fleet, FleetSpec, OutcomeKind, PlannedRates};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

const DAY: i64 = 86_400_000;

/// Two hosts over five days, hourly batches of 20-minute cycles, each host with a
/// degrading disk. Small on purpose: a debug-build replay costs tens of ms per batch.
fn spec() -> FleetSpec {
    FleetSpec {
        hosts: 2,
        racks: 1,
        sites: 1,
        duration_ms: 5 * DAY,
        interval_ms: 1_200_000,
        batch_intervals: 3,
        smart_every: 1,
        failures: FailureRates {
            disk_degrading: 1.0,
            ..FailureRates::none()
        },
        planned: PlannedRates {
            maintenance: 0.0,
            firmware_update: 0.0,
        },
        seed: 7,
        ..FleetSpec::default()
    }
}

/// Stores the fleet's batches as the ingest endpoint would; returns its ground truth.
async fn store_fleet(url: &str) -> harbinger_sim::GroundTruth {
    let store = harbinger_collector::store::open(url)
        .await
        .expect("open the store");
    let fleet = Fleet::new(&spec()).expect("valid spec");
    let truth = fleet.truth().clone();
    for batch in fleet {
        let body = batch.encode_zstd().expect("encode batch");
        let received = batch.time_range().map_or(0, |(_, hi)| hi);
        store
            .append_batch(&batch, &body, received)
            .await
            .expect("append batch");
    }
    truth
}

fn backtest(location: &[&str], extra: &[&str], from: i64, to: i64) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_harbinger-collector"))
        .arg("backtest")
        .args([
            "--from",
            &from.to_string(),
            "--to",
            &to.to_string(),
            "--json",
        ])
        .args(location)
        .args(extra)
        .env_remove("HARBINGER_DATABASE_URL")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run harbinger-collector backtest");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "backtest failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).expect("the report is JSON")
}

/// The alternative pack: an opening risk that pending sectors alone do not reach.
const STRICT_RULES: &str = "[scoring]\nopen_risk = 0.99\n";

async fn story(url: &str, location: &[&str], dir: &Path) {
    let truth = store_fleet(url).await;
    let failed: Vec<_> = truth
        .outcomes
        .iter()
        .filter(|o| o.kind == OutcomeKind::DiskFailure)
        .collect();
    assert_eq!(failed.len(), 2, "one degrading disk per host: {failed:?}");
    let (from, to) = (truth.start_ms, truth.end_ms);
    let report = backtest(location, &[], from, to);

    // The engine records the disks' deaths itself while replaying.
    assert_eq!(report["failures"], 2, "{report:#}");
    let incidents = report["incidents"].as_array().expect("incidents");
    for failure in &failed {
        let host = failure
            .host_id
            .as_deref()
            .expect("a disk failure has a host");
        let component = failure
            .component
            .as_ref()
            .expect("a disk failure has a disk");
        let key = format!("{host}/{component}");
        let incident = incidents
            .iter()
            .find(|i| i["dedup_key"] == key.as_str())
            .unwrap_or_else(|| panic!("no incident for {key}: {report:#}"));
        let at = incident["at_ms"].as_i64().expect("at_ms");
        let lead = incident["lead_ms"].as_i64().expect("a lead time");
        assert!(at < failure.failure_ts, "{incident} after {failure:?}");
        assert!(lead > 0, "{incident}");
        let rules: Vec<&str> = incident["rules"]
            .as_array()
            .expect("rules")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(rules.contains(&"smart_pending"), "{incident}");
    }
    let pending = &report["by_rule"]["smart_pending"];
    assert_eq!(pending["recall"], 1.0, "{report:#}");
    assert_eq!(pending["failures_recalled"], 2, "{report:#}");
    assert!(
        pending["median_lead_ms"].as_i64().expect("median lead") > 0,
        "{report:#}"
    );
    assert_eq!(report["overall"]["recall"], 1.0, "{report:#}");
    assert_eq!(report["overall"]["precision"], 1.0, "{report:#}");

    // Same history, a stricter pack: pending sectors alone no longer reach the opening
    // risk, so each disk's incident opens later, on stronger evidence, with less lead.
    let rules = dir.join("strict.toml");
    std::fs::write(&rules, STRICT_RULES).expect("write the rule pack");
    let rules_arg = rules.display().to_string();
    let strict = backtest(location, &["--rules", &rules_arg], from, to);
    assert_eq!(strict["failures"], 2, "{strict:#}");
    let strict_incidents = strict["incidents"].as_array().expect("incidents");
    assert_eq!(strict_incidents.len(), incidents.len(), "{strict:#}");
    for i in incidents {
        let later = strict_incidents
            .iter()
            .find(|s| s["dedup_key"] == i["dedup_key"])
            .unwrap_or_else(|| panic!("{} not opened at all: {strict:#}", i["dedup_key"]));
        assert!(
            later["at_ms"].as_i64() > i["at_ms"].as_i64(),
            "{later} not later than {i}"
        );
        assert!(later["risk"].as_f64() >= Some(0.99), "{later}");
    }
    assert!(
        strict["overall"]["median_lead_ms"]
            .as_i64()
            .expect("strict lead")
            < report["overall"]["median_lead_ms"]
                .as_i64()
                .expect("default lead"),
        "{strict:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backtest_reports_the_failing_disk_and_changes_with_the_rule_pack_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = dir.path().join("harbinger.db").display().to_string();
    let data_dir = dir.path().display().to_string();
    story(&url, &["--data-dir", &data_dir], dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backtest_reports_the_failing_disk_and_changes_with_the_rule_pack_postgres() {
    let Ok(admin_url) = std::env::var("HARBINGER_TEST_PG_URL") else {
        eprintln!("SKIPPED: backtest on PostgreSQL (set HARBINGER_TEST_PG_URL)");
        return;
    };
    let database = Database::create(&admin_url).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let url = database.url();
    story(&url, &["--database-url", &url], dir.path()).await;
}
