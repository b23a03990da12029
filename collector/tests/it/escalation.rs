//! Repeat and escalation on event time through a real collector: batches whose
//! timestamps advance (no sleeping through intervals) make an unchanged incident be
//! re-notified after the route's `repeat_interval` and raised to `escalate_to` after
//! `escalate_after`, where the critical route's pager joins; a restart sends nothing again.

use crate::mock_desk::{Answer, MockDesk};
use crate::{batch, eventually, now_ms, series, test_config, webhook, Server};
use harbinger_collector::config::{CollectorConfig, RouteConfig};
use harbinger_collector::duration::HumanDuration;
use harbinger_shared::Batch;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

fn full(seq: u64, ts: i64) -> Batch {
    let mut b = batch("esc-host", seq, 10_000);
    b.series.push(series(
        "node_filesystem_used_ratio",
        &[
            ("device", "/dev/sda1"),
            ("mountpoint", "/var"),
            ("fstype", "ext4"),
        ],
        &[(ts, 0.95)],
    ));
    b
}

fn config(dir: &Path, desk: &MockDesk, pager: &MockDesk) -> CollectorConfig {
    let mut config = test_config(dir);
    config
        .notifiers
        .push(webhook("desk", &format!("{}/d", desk.base)));
    config
        .notifiers
        .push(webhook("pager", &format!("{}/p", pager.base)));
    config.routes = vec![
        RouteConfig {
            name: Some("page".into()),
            severity: vec!["critical".into()],
            notifiers: vec!["pager".into(), "desk".into()],
            repeat_interval: Some(HumanDuration::from_secs(3_600)),
            ..RouteConfig::default()
        },
        RouteConfig {
            name: Some("default".into()),
            notifiers: vec!["desk".into()],
            repeat_interval: Some(HumanDuration::from_secs(3_600)),
            escalate_after: Some(HumanDuration::from_secs(3 * 3_600)),
            escalate_to: Some("critical".into()),
            ..RouteConfig::default()
        },
    ];
    config.validate().expect("valid routes");
    config
}

fn bodies(desk: &MockDesk) -> Vec<Value> {
    desk.requests().into_iter().map(|r| r.body).collect()
}

async fn ingest(server: &Server, b: &Batch) {
    let (status, ack) = server.ingest(b).await;
    assert_eq!(status, 200, "{ack}");
}

/// Waits until `desk` got `n` requests, then a little longer to see that no more come.
async fn exactly(desk: &MockDesk, n: usize, what: &str) -> Vec<Value> {
    eventually(what, || async {
        (desk.requests().len() >= n).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let got = bodies(desk);
    assert_eq!(got.len(), n, "{what}: {got:#?}");
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_incidents_repeat_and_escalate_on_event_time_once() {
    let desk = MockDesk::start(|_| Answer::json(200, &json!({}))).await;
    let pager = MockDesk::start(|_| Answer::json(200, &json!({}))).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(config(dir.path(), &desk, &pager)).await;
    let t0 = now_ms() - 10 * HOUR;
    ingest(&server, &full(1, t0)).await;
    let got = exactly(&desk, 1, "the desk gets the open").await;
    assert_eq!(got[0]["action"], json!("open"));
    assert_eq!(got[0]["incident"]["severity"], json!("warning"));

    // 59 minutes of event time with nothing new: nothing is due yet.
    ingest(&server, &full(2, t0 + 59 * MIN)).await;
    exactly(&desk, 1, "no repeat before the interval").await;

    ingest(&server, &full(3, t0 + 61 * MIN)).await;
    let got = exactly(&desk, 2, "one repeat after an hour of event time").await;
    assert_eq!(got[1]["action"], json!("update"));
    assert_eq!(got[1]["incident"]["severity"], json!("warning"));
    assert_eq!(got[1]["incident"]["details"]["repeats"], json!(1));
    assert_eq!(
        got[1]["incident"]["details"]["repeated_at_ms"],
        json!(t0 + 61 * MIN)
    );
    assert!(pager.requests().is_empty(), "a warning does not page");

    // Three hours open: raised to critical, which routes to the pager as well.
    ingest(&server, &full(4, t0 + 3 * HOUR + MIN)).await;
    let got = exactly(&desk, 3, "the escalation reaches the desk").await;
    assert_eq!(got[2]["incident"]["severity"], json!("critical"));
    assert_eq!(
        got[2]["incident"]["details"]["escalated_from"],
        json!("warning")
    );
    let paged = exactly(&pager, 1, "the escalation pages").await;
    assert_eq!(paged[0]["action"], json!("update"));
    assert_eq!(paged[0]["incident"]["severity"], json!("critical"));
    server.stop().await;

    // A restart at the same event time owes nothing: what was sent is in the incident.
    let server = Server::start(config(dir.path(), &desk, &pager)).await;
    exactly(&desk, 3, "nothing is sent again after a restart").await;
    exactly(&pager, 1, "nothing is paged again after a restart").await;
    // The next hour of event time (any sample of the host moves its clock) repeats the
    // now critical incident to both.
    let mut clock = batch("esc-host", 5, 10_000);
    clock
        .series
        .push(series("node_load1", &[], &[(t0 + 4 * HOUR + 2 * MIN, 0.2)]));
    ingest(&server, &clock).await;
    let got = exactly(&pager, 2, "the critical incident repeats").await;
    assert_eq!(got[1]["incident"]["details"]["repeats"], json!(2));
    exactly(&desk, 4, "the desk gets the repeat too").await;
    let incidents = server.get_json("/api/v1/incidents?host_id=esc-host").await;
    let list = incidents.as_array().expect("list");
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["severity"], json!("critical"));
    assert_eq!(
        list[0]["updated_at_ms"],
        json!(t0),
        "event time is not moved"
    );
    server.stop().await;
}
