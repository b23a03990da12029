//! Maintenance windows over real HTTP: a window (by label selector) covering a host
//! with a degrading disk keeps its incident from opening while an identical host
//! without a window gets one; a reboot inside the window is learnt as planned (the
//! control host's identical reboot is not); once the window ends the incident opens.
//! Listing, deleting and validation of windows, and their audit entries, on SQLite and,
//! when `HARBINGER_TEST_PG_URL` is set, on PostgreSQL.

use crate::pg::Database;
use crate::{batch, event, eventually, now_ms, series, test_config, Server};
use harbinger_collector::config::{CollectorConfig, Secret};
use harbinger_engine::OutcomeKind;
use harbinger_shared::Batch;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const HOUR: i64 = 3_600_000;
/// How long the window runs past "now" when it is created: long enough to ingest both
/// hosts and look, short enough to watch it end within the test.
const WINDOW_LEFT_MS: i64 = 6_000;

/// Six-hourly SMART readings over five days: pending sectors from day 2, reallocations
/// from day 3, offline uncorrectable from day 4.5 (as in `engine.rs`).
fn disk_batches(host: &str, rack: &str, t0: i64, reboot_at: i64) -> Vec<Batch> {
    let mut out = Vec::new();
    for k in 0..20i64 {
        let ts = t0 + k * 6 * HOUR;
        let day = (k * 6) as f64 / 24.0;
        let pending = if day < 2.0 {
            0.0
        } else {
            ((day - 2.0) * 3.0).floor().min(8.0)
        };
        let realloc = if day < 3.0 {
            0.0
        } else {
            ((day - 3.0) * 12.0).floor().min(24.0)
        };
        let offline = if day < 4.5 { 0.0 } else { 2.0 };
        let mut b = batch(host, k as u64 + 1, 6 * HOUR as u64);
        b.agent.labels = BTreeMap::from([("rack".to_string(), rack.to_string())]);
        for (attr, value) in [("5", realloc), ("197", pending), ("198", offline)] {
            b.series.push(series(
                "smartctl_device_attribute_raw",
                &[("device_id", "sdb"), ("attribute_id", attr)],
                &[(ts, value)],
            ));
        }
        b.series.push(series(
            "smartctl_device_smart_status",
            &[("device_id", "sdb")],
            &[(ts, 1.0)],
        ));
        if (ts..ts + 6 * HOUR).contains(&reboot_at) {
            b.events
                .push(event(reboot_at, "reboot", "system booted (uptime reset)"));
        }
        out.push(b);
    }
    out
}

async fn health_incidents(server: &Server, host: &str) -> Vec<Value> {
    server
        .get_json(&format!("/api/v1/incidents?host_id={host}"))
        .await
        .as_array()
        .expect("incident list")
        .iter()
        .filter(|i| i["kind"] == "health")
        .cloned()
        .collect()
}

async fn post(server: &Server, body: &Value) -> (u16, Value) {
    let response = server
        .client
        .post(server.url("/api/v1/maintenance"))
        .json(body)
        .send()
        .await
        .expect("POST succeeds");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON answer"))
}

async fn delete(server: &Server, id: i64) -> u16 {
    server
        .client
        .delete(server.url(&format!("/api/v1/maintenance/{id}?actor=alice")))
        .send()
        .await
        .expect("DELETE succeeds")
        .status()
        .as_u16()
}

async fn story(config: impl Fn() -> CollectorConfig, store_url: String) {
    let server = Server::start(config()).await;
    let now = now_ms();
    let t0 = now - 6 * 24 * HOUR;
    // Day 1, before any precursor: a reboot the window must make planned.
    let reboot_at = t0 + 27 * HOUR;

    // Validation names the field; nothing is stored.
    let (status, body) = post(
        &server,
        &json!({"labels": {"rack": "r9"}, "start_ms": now, "end_ms": now + HOUR, "reason": ""}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .starts_with("reason:"),
        "{body}"
    );
    let (status, body) = post(
        &server,
        &json!({"host_id": "h", "start_ms": now, "end_ms": now + HOUR, "reason": "x", "rack": "r9"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().expect("message").contains("rack"),
        "{body}"
    );
    let (status, body) = post(
        &server,
        &json!({"start_ms": now, "end_ms": now + HOUR, "reason": "everything"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .starts_with("host_id:"),
        "{body}"
    );

    // The window: rack r9, from before the data until a few seconds from now.
    let end_ms = now_ms() + WINDOW_LEFT_MS;
    let (status, window) = post(
        &server,
        &json!({"labels": {"rack": "r9"}, "start_ms": t0 - HOUR, "end_ms": end_ms,
                "reason": "CHG-42 disk swaps in r9", "actor": "bob"}),
    )
    .await;
    assert_eq!(status, 201, "{window}");
    let window_id = window["id"].as_i64().expect("window id");
    // An upcoming window for another host, listed as such and then withdrawn.
    let (status, upcoming) = post(
        &server,
        &json!({"host_id": "other", "start_ms": now + HOUR, "end_ms": now + 2 * HOUR,
                "reason": "BIOS update"}),
    )
    .await;
    assert_eq!(status, 201, "{upcoming}");
    let upcoming_id = upcoming["id"].as_i64().expect("upcoming id");
    let listed = server.get_json("/api/v1/maintenance").await;
    let states: BTreeMap<i64, String> = listed
        .as_array()
        .expect("window list")
        .iter()
        .map(|w| {
            (
                w["id"].as_i64().expect("id"),
                w["state"].as_str().expect("state").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        states,
        BTreeMap::from([
            (window_id, "active".to_string()),
            (upcoming_id, "upcoming".to_string())
        ])
    );
    assert_eq!(delete(&server, upcoming_id).await, 204);
    assert_eq!(delete(&server, upcoming_id).await, 404);
    let listed = server.get_json("/api/v1/maintenance").await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");

    // The maintained host first, then the control host: the queue is in order, so once
    // the control's incident is open the maintained host's batches were all analysed.
    for b in disk_batches("maintained", "r9", t0, reboot_at) {
        let (status, ack) = server.ingest(&b).await;
        assert_eq!(status, 200, "{ack}");
    }
    for b in disk_batches("control", "r1", t0, reboot_at) {
        let (status, ack) = server.ingest(&b).await;
        assert_eq!(status, 200, "{ack}");
    }
    let control = eventually("the control host's disk incident opens", || async {
        health_incidents(&server, "control")
            .await
            .into_iter()
            .find(|i| i["status"] == "open")
    })
    .await;
    assert_eq!(control["component"], "disk:sdb", "{control}");
    let during = health_incidents(&server, "maintained").await;
    let looked_at = now_ms();
    assert!(
        looked_at < end_ms,
        "the test machine was too slow to look inside the window ({} ms late)",
        looked_at - end_ms
    );
    assert!(during.is_empty(), "opened inside the window: {during:?}");

    // The window ends: the disk is still degrading, so the incident opens now.
    let after = eventually(
        "the maintained host's incident opens after the window",
        || async {
            health_incidents(&server, "maintained")
                .await
                .into_iter()
                .find(|i| i["status"] == "open")
        },
    )
    .await;
    assert_eq!(after["component"], "disk:sdb", "{after}");
    assert!(
        after["opened_at_ms"].as_i64().unwrap_or(i64::MAX) >= end_ms,
        "opened before the window ended at {end_ms}: {after}"
    );
    server.stop().await;

    // What the engine learnt (its snapshot, saved on shutdown) and what was audited.
    let store = harbinger_collector::store::open(&store_url)
        .await
        .expect("open the store");
    let snapshot = store
        .load_engine_snapshot()
        .await
        .expect("read the snapshot")
        .expect("a snapshot was saved on shutdown");
    let rules = harbinger_engine::RulePack::default_pack().expect("default rules");
    let (engine, _) =
        harbinger_collector::analysis::health::decode(&snapshot, rules).expect("decode");
    let reboot_of = |host: &str| {
        engine
            .outcomes()
            .iter()
            .map(|r| &r.outcome)
            .find(|o| o.host_id == host && o.kind == OutcomeKind::UnexpectedReboot)
            .map(|o| (o.at_ms, o.planned))
    };
    assert_eq!(reboot_of("maintained"), Some((reboot_at, true)));
    assert_eq!(reboot_of("control"), Some((reboot_at, false)));
    let audit = store.audit_log(None, 100).await.expect("audit log");
    let ours: Vec<(&str, &str, &str)> = audit
        .iter()
        .filter(|a| a.action.starts_with("maintenance_"))
        .map(|a| (a.actor.as_str(), a.action.as_str(), a.detail.as_str()))
        .collect();
    assert_eq!(ours.len(), 3, "{ours:?}");
    assert!(
        ours.iter().any(|(actor, action, detail)| *actor == "bob"
            && *action == "maintenance_add"
            && detail.contains("labels rack=r9")
            && detail.contains("CHG-42")),
        "{ours:?}"
    );
    assert!(
        ours.iter().any(|(actor, action, detail)| *actor == "alice"
            && *action == "maintenance_delete"
            && detail.contains(&format!("window {upcoming_id}"))
            && detail.contains("BIOS update")),
        "{ours:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maintenance_window_suppresses_then_lets_the_incident_open_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = dir.path().join("harbinger.db").display().to_string();
    story(|| test_config(dir.path()), url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maintenance_window_suppresses_then_lets_the_incident_open_postgres() {
    let Ok(admin_url) = std::env::var("HARBINGER_TEST_PG_URL") else {
        eprintln!("SKIPPED: maintenance windows on PostgreSQL (set HARBINGER_TEST_PG_URL)");
        return;
    };
    let database = Database::create(&admin_url).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let url = database.url();
    story(
        || {
            let mut config = test_config(dir.path());
            config.database_url = Some(Secret::new(database.url()));
            config
        },
        url,
    )
    .await;
}
