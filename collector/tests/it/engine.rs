//! The analysis engine inside the real collector, over HTTP: a degrading disk opens one
//! health incident whose details carry the engine's explanation, the incident survives
//! a restart without being opened again (the engine state is restored from its
//! snapshot), and replacing the disk resolves it.

use crate::{batch, eventually, now_ms, series, test_config, Server};
use harbinger_shared::{Batch, ComponentId, ComponentKind, InventoryItem};
use serde_json::Value;
use std::collections::BTreeMap;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

fn disk_inventory(host: &str, seq: u64, serial: &str, ts: i64) -> Batch {
    let mut b = batch(host, seq, HOUR as u64);
    b.inventory = Some(vec![InventoryItem {
        component: ComponentId::new(ComponentKind::Disk, serial),
        attrs: BTreeMap::from([
            ("device".to_string(), "sdb".to_string()),
            ("serial".to_string(), serial.to_string()),
            ("model".to_string(), "WDC WD40EFRX".to_string()),
        ]),
    }]);
    b.series.push(series("node_load1", &[], &[(ts, 0.1)]));
    b
}

/// Pending sectors from day 2, reallocations from day 3, offline uncorrectable at 4.5.
fn smart_batch(host: &str, seq: u64, disk: &str, ts: i64, day: f64) -> Batch {
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
    let mut b = batch(host, seq, HOUR as u64);
    for (attr, value) in [("5", realloc), ("197", pending), ("198", offline)] {
        b.series.push(series(
            "smartctl_device_attribute_raw",
            &[("device_id", disk), ("attribute_id", attr)],
            &[(ts, value)],
        ));
    }
    b.series.push(series(
        "smartctl_device_smart_status",
        &[("device_id", disk)],
        &[(ts, 1.0)],
    ));
    b
}

async fn ingest_ok(server: &Server, b: &Batch) {
    let (status, ack) = server.ingest(b).await;
    assert_eq!(status, 200, "{ack}");
}

async fn health_incidents(server: &Server, host: &str) -> Vec<Value> {
    let listed = server
        .get_json(&format!("/api/v1/incidents?host_id={host}"))
        .await;
    listed
        .as_array()
        .expect("incident list")
        .iter()
        .filter(|i| i["kind"] == "health")
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_degrading_disk_opens_an_explained_incident_that_survives_a_restart_and_resolves_on_replacement(
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(test_config(dir.path())).await;
    let host = "disky";
    let t0 = now_ms() - 7 * DAY;
    ingest_ok(&server, &disk_inventory(host, 1, "WD-1", t0)).await;
    for h in 0..5 * 24 {
        let ts = t0 + h * HOUR;
        let b = smart_batch(host, h as u64 + 2, "WD-1", ts, h as f64 / 24.0);
        ingest_ok(&server, &b).await;
    }
    let incident = eventually("the disk's health incident is open", || async {
        let open = health_incidents(&server, host).await;
        open.into_iter().find(|i| i["status"] == "open")
    })
    .await;
    assert_eq!(incident["dedup_key"], format!("{host}/disk:WD-1"));
    assert_eq!(incident["component"], "disk:WD-1");
    let details = &incident["details"];
    let rules: Vec<&str> = details["explanation"]["signals"]
        .as_array()
        .expect("explanation signals")
        .iter()
        .filter_map(|s| s["rule"].as_str())
        .collect();
    assert!(rules.contains(&"smart_pending"), "{details}");
    assert!(details["risk"].as_f64().expect("risk") >= 0.10, "{details}");
    assert!(
        details["explanation"]["recommended_action"]
            .as_str()
            .unwrap_or_default()
            .contains("Back up"),
        "{details}"
    );
    let id = incident["id"].as_i64().expect("id");
    // Let the detector finish the backlog, then note where the incident stands.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let before = health_incidents(&server, host).await;
    assert_eq!(before.len(), 1, "{before:?}");
    let revision = before[0]["revision"].clone();
    server.stop().await;

    // A restart restores the engine: the same disk data again changes nothing, and the
    // incident is neither duplicated nor re-opened.
    let server = Server::start(test_config(dir.path())).await;
    let b = smart_batch(host, 5 * 24 + 2, "WD-1", t0 + 5 * DAY, 5.0);
    ingest_ok(&server, &b).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let after = health_incidents(&server, host).await;
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0]["id"], id);
    assert_eq!(after[0]["status"], "open");
    // A relearning engine would see the counters for the first time and change the
    // incident again; a restored one has nothing new to say.
    assert_eq!(after[0]["revision"], revision, "{after:?}");

    // The disk in sdb is replaced: the old disk's incident resolves.
    ingest_ok(
        &server,
        &disk_inventory(host, 5 * 24 + 3, "WD-2", t0 + 6 * DAY),
    )
    .await;
    let resolved = eventually("the incident resolves on replacement", || async {
        let all = health_incidents(&server, host).await;
        all.into_iter()
            .find(|i| i["id"] == id && i["status"] == "resolved")
    })
    .await;
    assert_eq!(resolved["details"]["resolution"], "component replaced");
    server.stop().await;
}
