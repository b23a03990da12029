//! PagerDuty Events API v2 against a local stand-in that checks every event against
//! the documented schema (required fields, `dedup_key` <= 255, `summary` <= 1024,
//! severities, links) and answers like PagerDuty: 202, 400 for an invalid event, and
//! 429 / 5xx when told to.

use crate::mock_desk::{Answer, MockDesk, Request};
use crate::{batch, eventually, now_ms, series, test_config, Server};
use harbinger_collector::config::{NotifierConfig, NotifierKind, PagerDutyConfig, Secret};
use harbinger_collector::duration::HumanDuration;
use harbinger_collector::notify::{DeliveryContext, Notification};
use harbinger_collector::store;
use harbinger_shared::Batch;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const ROUTING_KEY: &str = "R0123456789abcdef0123456789abcde";

pub fn pagerduty(name: &str, desk: &MockDesk) -> NotifierConfig {
    NotifierConfig {
        name: name.into(),
        timeout: HumanDuration::from_secs(5),
        rate_limit_per_minute: None,
        kind: NotifierKind::PagerDuty(PagerDutyConfig {
            url: format!("{}/v2/enqueue", desk.base),
            routing_key: Secret::new(ROUTING_KEY),
            group_label: "rack".into(),
        }),
    }
}

/// Why an event is invalid per the Events API v2 documentation, if it is.
pub fn violations(request: &Request) -> Vec<String> {
    let mut errors = Vec::new();
    let e = &request.body;
    if request.method != "POST" || request.path != "/v2/enqueue" {
        errors.push(format!(
            "{} {} is not the enqueue endpoint",
            request.method, request.path
        ));
    }
    if !request
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json"))
    {
        errors.push("Content-Type must be application/json".into());
    }
    if e["routing_key"] != json!(ROUTING_KEY) {
        errors.push("routing_key missing or wrong".into());
    }
    let action = e["event_action"].as_str().unwrap_or("");
    if !["trigger", "acknowledge", "resolve"].contains(&action) {
        errors.push(format!("event_action {action:?} is invalid"));
    }
    match e["dedup_key"].as_str() {
        Some(key) if !key.is_empty() && key.len() <= 255 => {}
        Some(key) if key.len() > 255 => errors.push("dedup_key longer than 255".into()),
        _ => errors.push("dedup_key is required (we always send ours)".into()),
    }
    if action == "trigger" {
        let p = &e["payload"];
        match p["summary"].as_str() {
            Some(s) if !s.is_empty() && s.chars().count() <= 1024 => {}
            _ => errors.push("payload.summary missing or longer than 1024".into()),
        }
        if p["source"].as_str().is_none_or(str::is_empty) {
            errors.push("payload.source is required".into());
        }
        if !["critical", "error", "warning", "info"].contains(&p["severity"].as_str().unwrap_or(""))
        {
            errors.push(format!("payload.severity {} is invalid", p["severity"]));
        }
        if !p["custom_details"].is_object() && !p["custom_details"].is_null() {
            errors.push("payload.custom_details must be an object".into());
        }
        if let Some(links) = e.get("links") {
            let ok = links.as_array().is_some_and(|l| {
                l.iter()
                    .all(|x| x["href"].as_str().is_some_and(|h| !h.is_empty()))
            });
            if !ok {
                errors.push("links[].href is required".into());
            }
        }
    } else if e.get("payload").is_some() {
        errors.push("acknowledge/resolve take no payload".into());
    }
    errors
}

/// A PagerDuty stand-in; every invalid event it saw is in the returned list.
pub async fn pagerduty_desk() -> (MockDesk, Arc<Mutex<Vec<String>>>) {
    let invalid = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&invalid);
    let desk = MockDesk::start(move |request| {
        let errors = violations(request);
        if errors.is_empty() {
            Answer::json(
                202,
                &json!({"status": "success", "message": "Event processed",
                    "dedup_key": request.body["dedup_key"]}),
            )
        } else {
            seen.lock().expect("lock").extend(errors.iter().cloned());
            Answer::json(
                400,
                &json!({"status": "invalid event", "message": "Event object is invalid", "errors": errors}),
            )
        }
    })
    .await;
    (desk, invalid)
}

fn fs_batch(host: &str, seq: u64, ts: i64, ratio: f64) -> Batch {
    let mut b = batch(host, seq, 10_000);
    b.series.push(series(
        "node_filesystem_used_ratio",
        &[
            ("device", "/dev/sda1"),
            ("mountpoint", "/var"),
            ("fstype", "ext4"),
        ],
        &[(ts, ratio)],
    ));
    b
}

/// The outbox rows of the host's only incident.
async fn rows(server: &Server, host: &str) -> Vec<Value> {
    let list = server
        .get_json(&format!("/api/v1/incidents?host_id={host}"))
        .await;
    let Some(id) = list
        .as_array()
        .and_then(|l| l.first())
        .map(|i| i["id"].clone())
    else {
        return vec![];
    };
    let detail = server.get_json(&format!("/api/v1/incidents/{id}")).await;
    detail["notifications"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn settled(server: &Server, host: &str, n: usize) -> Vec<Value> {
    eventually(&format!("{n} notifications settled for {host}"), || async {
        let rows = rows(server, host).await;
        let done = rows
            .iter()
            .filter(|r| r["delivered_ms"].is_i64() || r["failed"] == true)
            .count();
        (rows.len() == n && done == n).then_some(rows)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_update_resolve_are_trigger_trigger_resolve_with_one_dedup_key_and_retries() {
    let (desk, invalid) = pagerduty_desk().await;
    // The first delivery meets a rate limit, then an outage, then goes through.
    desk.force(
        Answer::json(429, &json!({"status": "throttle", "message": "Too many"}))
            .with_header("Retry-After", "0"),
    );
    desk.force(Answer::json(
        503,
        &json!({"status": "unavailable", "message": "Try later", "errors": []}),
    ));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = test_config(dir.path());
    config.notifiers.push(pagerduty("pd", &desk));
    let server = Server::start(config).await;
    let t = now_ms() - 60_000;

    let (status, _) = server.ingest(&fs_batch("pd-host", 1, t, 0.95)).await;
    assert_eq!(status, 200);
    let first = settled(&server, "pd-host", 1).await;
    assert_eq!(
        first[0]["attempts"], 3,
        "429 and 503 were retried: {first:?}"
    );
    assert!(first[0]["delivered_ms"].is_i64());
    server
        .ingest(&fs_batch("pd-host", 2, t + 10_000, 0.97))
        .await;
    settled(&server, "pd-host", 2).await;
    server
        .ingest(&fs_batch("pd-host", 3, t + 20_000, 0.5))
        .await;
    settled(&server, "pd-host", 3).await;

    assert!(
        invalid.lock().expect("lock").is_empty(),
        "{:?}",
        invalid.lock()
    );
    let events: Vec<Value> = desk.requests().into_iter().map(|r| r.body).collect();
    let actions: Vec<&str> = events
        .iter()
        .filter_map(|e| e["event_action"].as_str())
        .collect();
    assert_eq!(
        actions,
        ["trigger", "trigger", "trigger", "trigger", "resolve"]
    );
    let keys: std::collections::BTreeSet<&str> = events
        .iter()
        .filter_map(|e| e["dedup_key"].as_str())
        .collect();
    assert_eq!(keys.len(), 1, "one dedup_key for the occurrence: {keys:?}");
    let trigger = &events[3];
    assert_eq!(trigger["payload"]["source"], json!("pd-host.example"));
    assert_eq!(trigger["payload"]["class"], json!("filesystem_full"));
    assert_eq!(trigger["payload"]["group"], json!("r1"), "the rack label");
    assert_eq!(
        trigger["payload"]["custom_details"]["evidence"]["used_ratio"],
        json!(0.97)
    );
    assert!(trigger["links"][0]["href"]
        .as_str()
        .is_some_and(|h| h.contains("host.html")));

    // The problem comes back: a new occurrence, so a new PagerDuty incident.
    server
        .ingest(&fs_batch("pd-host", 4, t + 30_000, 0.96))
        .await;
    eventually("the new occurrence is triggered", || async {
        (desk.requests().len() == 6).then_some(())
    })
    .await;
    let again = desk.requests()[5].body.clone();
    assert_eq!(again["event_action"], json!("trigger"));
    assert!(
        !keys.contains(again["dedup_key"].as_str().unwrap_or_default()),
        "a new dedup_key after resolve"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_event_is_refused_once_and_visible() {
    let (desk, _) = pagerduty_desk().await;
    desk.force(Answer::json(400, &json!({"status": "invalid event", "message": "Event object is invalid", "errors": ["payload.summary is too long"]})));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = test_config(dir.path());
    config.notifiers.push(pagerduty("pd", &desk));
    let server = Server::start(config).await;
    server
        .ingest(&fs_batch("pd-bad", 1, now_ms() - 1_000, 0.95))
        .await;
    let rows = settled(&server, "pd-bad", 1).await;
    assert_eq!(rows[0]["failed"], true, "{rows:?}");
    assert_eq!(rows[0]["attempts"], 1);
    let error = rows[0]["last_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("400") && error.contains("summary is too long"),
        "{error}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(desk.requests().len(), 1, "a 400 is never retried");
    let (_, metrics) = server.get("/metrics").await;
    assert!(
        metrics.contains("harbinger_collector_outbox_failed_total 1"),
        "{metrics}"
    );
    server.stop().await;
}

pub fn body(action: &str, host: &str, severity: &str, title: &str) -> Value {
    json!({
        "version": "1", "action": action, "idempotency_key": format!("k/{action}"),
        "incident": {"id": 1, "dedup_key": format!("{host}/fan_failed/fan:2"), "host_id": host,
            "kind": "fan_failed", "component": "fan:2", "severity": severity,
            "status": if action == "resolve" { "resolved" } else { "open" },
            "title": title, "details": {"rpm": 0, "acknowledged_by": "alice"},
            "opened_at_ms": 1_000, "updated_at_ms": 2_000, "resolved_at_ms": null, "revision": 1},
        "host": {"host_id": host, "hostname": format!("{host}.example"), "labels": {"rack": "r9"}},
        "dashboard_url": "http://127.0.0.1:8080/host.html?id=h"
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_acknowledge_resolve_and_a_long_summary() {
    let (desk, invalid) = pagerduty_desk().await;
    let notifier =
        harbinger_collector::notify::build(&[pagerduty("pd", &desk)]).expect("builds")[0].clone();
    assert_eq!(
        notifier.rate_limit_per_minute(),
        Some(120),
        "PagerDuty's documented limit by default"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let context = DeliveryContext {
        store: store::open(&dir.path().join("h.db").to_string_lossy())
            .await
            .expect("store"),
    };
    let long_title = "x".repeat(3_000);
    for (action, severity) in [
        ("open", "critical"),
        ("acknowledge", "critical"),
        ("resolve", "critical"),
    ] {
        let receipt = notifier
            .deliver(
                &Notification {
                    incident_id: 1,
                    idempotency_key: format!("k/{action}"),
                    action: action.into(),
                    body: body(action, "h", severity, &long_title),
                },
                &context,
            )
            .await
            .expect("PagerDuty accepts");
        assert!(receipt.detail.contains("202"), "{}", receipt.detail);
    }
    assert!(
        invalid.lock().expect("lock").is_empty(),
        "{:?}",
        invalid.lock()
    );
    let events: Vec<Value> = desk.requests().into_iter().map(|r| r.body).collect();
    let actions: Vec<&str> = events
        .iter()
        .filter_map(|e| e["event_action"].as_str())
        .collect();
    assert_eq!(actions, ["trigger", "acknowledge", "resolve"]);
    assert_eq!(events[0]["payload"]["severity"], json!("critical"));
    assert_eq!(events[0]["payload"]["component"], json!("fan:2"));
    assert_eq!(
        events[0]["payload"]["summary"]
            .as_str()
            .map(|s| s.chars().count()),
        Some(1024)
    );
    assert_eq!(events[0]["dedup_key"], events[2]["dedup_key"]);
}
