//! The ticket lifecycle across desks through a real collector: an incident taken by a
//! person in ServiceNow is acknowledged once in the other desks that can show it (here a
//! Harbinger-format webhook), never echoed back to ServiceNow, and audited.

use crate::mock_desk::{Answer, MockDesk};
use crate::servicenow::{servicenow, servicenow_desk};
use crate::{batch, eventually, now_ms, series, test_config, webhook, Server};
use harbinger_collector::store;
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledgement_in_servicenow_reaches_the_other_desks_once() {
    let (snow, snow_state) = servicenow_desk().await;
    let hook = MockDesk::start(|_| Answer::json(200, &json!({}))).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = test_config(dir.path());
    config.notifiers.push(servicenow("snow", &snow));
    config
        .notifiers
        .push(webhook("hook", &format!("{}/h", hook.base)));
    let server = Server::start(config).await;
    let mut b = batch("ack-host", 1, 10_000);
    b.series.push(series(
        "node_filesystem_used_ratio",
        &[
            ("device", "/dev/sda1"),
            ("mountpoint", "/data"),
            ("fstype", "ext4"),
        ],
        &[(now_ms() - 1_000, 0.95)],
    ));
    let (status, _) = server.ingest(&b).await;
    assert_eq!(status, 200);
    let sys_id = eventually("ServiceNow has the incident", || async {
        let desk = snow_state.lock().expect("lock");
        desk.incidents.keys().next().cloned()
    })
    .await;
    eventually("the webhook has the open", || async {
        (hook.requests().len() == 1).then_some(())
    })
    .await;
    {
        let mut desk = snow_state.lock().expect("lock");
        let record = desk.incidents.get_mut(&sys_id).expect("incident");
        record.insert("state".into(), json!("2"));
        record.insert("assigned_to".into(), json!("Carol Admin"));
        record.insert("sys_updated_by".into(), json!("carol"));
    }
    let ack = eventually("the webhook is told who took it", || async {
        hook.requests()
            .into_iter()
            .find(|r| r.body["action"] == json!("acknowledge"))
    })
    .await;
    assert_eq!(
        ack.body["incident"]["details"]["acknowledged_by"],
        json!("Carol Admin")
    );
    assert_eq!(
        ack.body["incident"]["details"]["acknowledged_in"],
        json!("snow")
    );
    assert_eq!(ack.body["incident"]["status"], json!("open"));
    // Several more sync passes (every 200 ms) change nothing.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let acks = hook
        .requests()
        .iter()
        .filter(|r| r.body["action"] == json!("acknowledge"))
        .count();
    assert_eq!(acks, 1, "once per incident");
    let store = store::open(&dir.path().join("harbinger.db").to_string_lossy())
        .await
        .expect("store beside the collector");
    let incident = &store
        .incidents(Some("ack-host"), false, 10)
        .await
        .expect("incidents")[0];
    let rows = store
        .outbox_for_incident(incident.id)
        .await
        .expect("outbox");
    let acks: Vec<_> = rows.iter().filter(|r| r.action == "acknowledge").collect();
    assert_eq!(acks.len(), 1, "{rows:?}");
    assert_eq!(acks[0].notifier, "hook", "never echoed back to ServiceNow");
    let log = store.audit_log(Some(incident.id), 10).await.expect("audit");
    assert!(
        log.iter()
            .any(|a| a.action == "acknowledge" && a.actor == "Carol Admin"),
        "{log:?}"
    );
    {
        let desk = snow_state.lock().expect("lock");
        assert!(desk.invalid.is_empty(), "{:?}", desk.invalid);
        let notes = desk.work_notes.get(&sys_id).cloned().unwrap_or_default();
        assert!(
            !notes.iter().any(|n| n.contains("Acknowledged by")),
            "{notes:?}"
        );
    }
    server.stop().await;
}
