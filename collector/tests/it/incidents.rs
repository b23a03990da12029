//! Incidents end to end through a real webhook receiver: open, update and resolve for a
//! filling filesystem; exactly-once-per-key delivery across a receiver outage and a
//! collector restart; permanent failure on 400; `host_silent` on a stopped host.

use crate::{batch, eventually, now_ms, series, test_config, webhook, Delivery, Receiver, Server};
use harbinger_collector::config::{NotifierKind, Secret};
use harbinger_shared::Batch;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

fn fs_batch(host: &str, seq: u64, ts: i64, mounts: &[(&str, f64)]) -> Batch {
    let mut b = batch(host, seq, 10_000);
    for (mountpoint, ratio) in mounts {
        b.series.push(series(
            "node_filesystem_used_ratio",
            &[
                ("device", "/dev/sda1"),
                ("mountpoint", mountpoint),
                ("fstype", "ext4"),
            ],
            &[(ts, *ratio)],
        ));
    }
    b
}

async fn ingest_ok(server: &Server, b: &Batch) {
    let (status, ack) = server.ingest(b).await;
    assert_eq!(status, 200, "{ack}");
}

fn actions(deliveries: &[Delivery]) -> Vec<String> {
    deliveries
        .iter()
        .map(|d| d.body["action"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Every delivery carries its key in the header and the body, and keys are unique.
fn assert_keys_unique(deliveries: &[Delivery]) {
    let mut keys = BTreeSet::new();
    for d in deliveries {
        let key = d.idempotency_key.clone().expect("Idempotency-Key header");
        assert_eq!(
            d.body["idempotency_key"],
            Value::String(key.clone()),
            "{:?}",
            d.body
        );
        assert!(keys.insert(key.clone()), "key {key} delivered twice");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filling_filesystem_opens_updates_and_resolves_one_incident() {
    let receiver = Receiver::start("127.0.0.1:0", 200).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = test_config(dir.path());
    let mut desk = webhook("desk", &receiver.url);
    let NotifierKind::Webhook(hook) = &mut desk.kind else {
        panic!("webhook() builds a webhook");
    };
    hook.headers
        .insert("Authorization".into(), Secret::new("Bearer s3cret"));
    config.notifiers.push(desk);
    let server = Server::start(config).await;
    let t = now_ms() - 60_000;

    ingest_ok(&server, &fs_batch("fs-host", 1, t, &[("/var", 0.95)])).await;
    let got = receiver.wait_for(1).await;
    assert_eq!(actions(&got), ["open"]);
    // Half a percentage point is not worth a ticket update.
    ingest_ok(
        &server,
        &fs_batch("fs-host", 2, t + 10_000, &[("/var", 0.955)]),
    )
    .await;
    ingest_ok(
        &server,
        &fs_batch("fs-host", 3, t + 20_000, &[("/var", 0.97)]),
    )
    .await;
    let got = receiver.wait_for(2).await;
    assert_eq!(actions(&got), ["open", "update"]);
    ingest_ok(
        &server,
        &fs_batch("fs-host", 4, t + 30_000, &[("/var", 0.5)]),
    )
    .await;
    let got = receiver.wait_for(3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got_later = receiver.received();
    assert_eq!(
        got_later.len(),
        3,
        "nothing more is sent: {:?}",
        actions(&got_later)
    );
    assert_eq!(actions(&got), ["open", "update", "resolve"]);
    assert_keys_unique(&got);
    assert!(
        got.iter()
            .all(|d| d.authorization.as_deref() == Some("Bearer s3cret")),
        "configured headers are sent"
    );

    let open = &got[0].body;
    let id = open["incident"]["id"]
        .as_i64()
        .expect("numeric incident id");
    assert_eq!(open["version"], "1");
    assert_eq!(
        open["incident"]["dedup_key"],
        "fs-host/filesystem_full//var"
    );
    assert_eq!(open["incident"]["component"], "filesystem:/var");
    assert_eq!(open["incident"]["opened_at_ms"], t);
    assert_eq!(open["incident"]["details"]["used_ratio"], 0.95);
    assert_eq!(open["host"]["hostname"], "fs-host.example");
    assert_eq!(open["host"]["labels"]["rack"], "r1");
    assert!(
        open["dashboard_url"]
            .as_str()
            .unwrap_or_default()
            .ends_with("/host.html?id=fs-host"),
        "{open}"
    );
    assert_eq!(
        got[0].idempotency_key.as_deref(),
        Some(format!("fs-host/filesystem_full//var#{t}/open/1").as_str())
    );
    assert_eq!(got[1].body["incident"]["details"]["used_ratio"], 0.97);
    assert_eq!(got[1].body["incident"]["revision"], 2);
    assert_eq!(got[2].body["incident"]["status"], "resolved");
    assert_eq!(got[2].body["incident"]["resolved_at_ms"], t + 30_000);
    assert!(
        got.iter().all(|d| d.body["incident"]["id"] == id),
        "one incident"
    );

    let listed = server.get_json("/api/v1/incidents?host_id=fs-host").await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["status"], "resolved");
    assert_eq!(listed[0]["revision"], 3);
    let open_only = server.get_json("/api/v1/incidents?status=open").await;
    assert_eq!(open_only, serde_json::json!([]));
    let detail = server.get_json(&format!("/api/v1/incidents/{id}")).await;
    let rows = detail["notifications"].as_array().expect("notifications");
    assert_eq!(rows.len(), 3, "{detail}");
    assert!(
        rows.iter()
            .all(|r| r["delivered_ms"].is_i64() && r["failed"] == false),
        "{detail}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_survive_a_receiver_outage_and_a_collector_restart() {
    // Reserve a port and leave nothing listening on it: the receiver is down.
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe port");
        probe.local_addr().expect("probe address").port()
    };
    let url = format!("http://127.0.0.1:{port}/hook");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = || {
        let mut config = test_config(dir.path());
        config.notifiers.push(webhook("desk", &url));
        config
    };
    let server = Server::start(config()).await;
    let t = now_ms() - 60_000;
    ingest_ok(
        &server,
        &fs_batch("outage", 1, t, &[("/var", 0.95), ("/data", 0.99)]),
    )
    .await;

    // Both incidents open, and their first delivery attempts have failed.
    let incidents = eventually("two incidents are open with failed attempts", || async {
        let open = server
            .get_json("/api/v1/incidents?host_id=outage&status=open")
            .await;
        let open = open.as_array()?.clone();
        if open.len() != 2 {
            return None;
        }
        for incident in &open {
            let detail = server
                .get_json(&format!("/api/v1/incidents/{}", incident["id"]))
                .await;
            let row = detail["notifications"].get(0)?.clone();
            if row["attempts"].as_i64()? < 1 || row["last_error"].is_null() {
                return None;
            }
        }
        Some(open)
    })
    .await;
    ingest_ok(
        &server,
        &fs_batch("outage", 2, t + 10_000, &[("/var", 0.5), ("/data", 0.5)]),
    )
    .await;
    eventually("both incidents are resolved", || async {
        let open = server
            .get_json("/api/v1/incidents?host_id=outage&status=open")
            .await;
        open.as_array()?.is_empty().then_some(())
    })
    .await;
    server.stop().await;

    let server = Server::start(config()).await;
    let receiver = Receiver::start(&format!("127.0.0.1:{port}"), 200).await;
    let got = receiver.wait_for(4).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = {
        let later = receiver.received();
        assert_eq!(
            later.len(),
            got.len(),
            "no repeats after the backlog drained"
        );
        later
    };
    assert_eq!(got.len(), 4, "{:?}", actions(&got));
    assert_keys_unique(&got);
    for incident in &incidents {
        let id = incident["id"].as_i64().expect("id");
        let per_incident: Vec<String> = got
            .iter()
            .filter(|d| d.body["incident"]["id"] == id)
            .map(|d| d.body["action"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(per_incident, ["open", "resolve"], "incident {id}");
    }
    let (_, metrics) = server.get("/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|l| l == "harbinger_collector_outbox_delivered_total 4"),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_receiver_is_not_retried_and_the_row_shows_failed() {
    let receiver = Receiver::start("127.0.0.1:0", 400).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = test_config(dir.path());
    config.notifiers.push(webhook("desk", &receiver.url));
    let server = Server::start(config).await;
    ingest_ok(
        &server,
        &fs_batch("refused", 1, now_ms() - 1_000, &[("/var", 0.95)]),
    )
    .await;
    receiver.wait_for(1).await;

    let id = eventually("the incident is listed", || async {
        let listed = server.get_json("/api/v1/incidents?host_id=refused").await;
        listed.get(0)?["id"].as_i64()
    })
    .await;
    let row = eventually("the outbox row is marked failed", || async {
        let detail = server.get_json(&format!("/api/v1/incidents/{id}")).await;
        let row = detail["notifications"].get(0)?.clone();
        (row["failed"] == true).then_some(row)
    })
    .await;
    assert!(
        row["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("400"),
        "{row}"
    );
    assert!(row["delivered_ms"].is_null(), "{row}");
    // Several poll intervals later, still exactly one request.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(receiver.received().len(), 1, "a 400 is permanent");
    let (_, metrics) = server.get("/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|l| l == "harbinger_collector_outbox_failed_total 1"),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_host_opens_an_incident_that_resolves_when_it_reports() {
    let receiver = Receiver::start("127.0.0.1:0", 200).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = test_config(dir.path());
    config.notifiers.push(webhook("desk", &receiver.url));
    let server = Server::start(config).await;

    let mut first = batch("quiet", 1, 200);
    first
        .series
        .push(series("node_load1", &[], &[(now_ms(), 0.1)]));
    ingest_ok(&server, &first).await;
    assert_eq!(server.get_json("/api/v1/hosts/quiet").await["status"], "ok");

    // Three 200 ms intervals without a batch: silent.
    let got = receiver.wait_for(1).await;
    assert_eq!(actions(&got), ["open"]);
    assert_eq!(got[0].body["incident"]["kind"], "host_silent");
    assert_eq!(got[0].body["incident"]["dedup_key"], "quiet/host_silent");
    let host = server.get_json("/api/v1/hosts/quiet").await;
    assert_eq!(host["status"], "silent", "{host}");
    assert_eq!(host["open_incidents"], 1, "{host}");

    let mut again = batch("quiet", 2, 60_000);
    again
        .series
        .push(series("node_load1", &[], &[(now_ms(), 0.2)]));
    ingest_ok(&server, &again).await;
    let got = receiver.wait_for(2).await;
    assert_eq!(actions(&got), ["open", "resolve"]);
    assert_keys_unique(&got);
    let host = server.get_json("/api/v1/hosts/quiet").await;
    assert_eq!(
        (host["status"].as_str(), host["open_incidents"].as_i64()),
        (Some("ok"), Some(0)),
        "{host}"
    );
    server.stop().await;
}
