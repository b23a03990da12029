//! The generic webhook's body formats through a real collector: Alertmanager v4 JSON
//! with an HMAC-SHA256 signature over the timestamp and the exact body, and a
//! minijinja template.

use crate::mock_desk::{Answer, MockDesk};
use crate::{batch, eventually, now_ms, series, test_config, webhook, Server};
use harbinger_collector::config::{NotifierKind, Secret, WebhookFormat};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

fn full(host: &str, seq: u64, ts: i64, ratio: f64) -> harbinger_shared::Batch {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_v4_bodies_are_signed_over_timestamp_and_body() {
    let desk = MockDesk::start(|_| Answer::json(200, &json!({}))).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = test_config(dir.path());
    let mut hook = webhook("bridge", &format!("{}/am", desk.base));
    if let NotifierKind::Webhook(w) = &mut hook.kind {
        w.format = WebhookFormat::Alertmanager;
        w.hmac_secret = Some(Secret::new("shared-secret"));
    }
    config.notifiers.push(hook);
    let server = Server::start(config).await;
    let t = now_ms() - 30_000;
    server.ingest(&full("am-host", 1, t, 0.95)).await;
    server.ingest(&full("am-host", 2, t + 10_000, 0.3)).await;
    eventually("firing and resolved arrive", || async {
        (desk.requests().len() == 2).then_some(())
    })
    .await;
    let requests = desk.requests();
    for r in &requests {
        let ts = r.header("x-harbinger-timestamp").expect("timestamp header");
        let age = now_ms() / 1_000 - ts.parse::<i64>().expect("unix seconds");
        assert!((0..60).contains(&age), "a current timestamp: {ts}");
        // The receiver's check: HMAC over "<timestamp>.<body as received>".
        let raw = serde_json::to_vec(&r.body).expect("body bytes");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"shared-secret").expect("key");
        mac.update(format!("{ts}.").as_bytes());
        mac.update(&raw);
        let expected: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            r.header("x-harbinger-signature"),
            Some(format!("sha256={expected}").as_str())
        );
        assert!(r.header("idempotency-key").is_some());
    }
    let (firing, resolved) = (&requests[0].body, &requests[1].body);
    assert_eq!(firing["version"], json!("4"));
    assert_eq!(firing["status"], json!("firing"));
    assert_eq!(resolved["status"], json!("resolved"));
    assert_eq!(firing["groupKey"], resolved["groupKey"]);
    let alert = &firing["alerts"][0];
    for field in [
        "labels",
        "annotations",
        "startsAt",
        "endsAt",
        "generatorURL",
        "fingerprint",
    ] {
        assert!(alert.get(field).is_some(), "alerts[].{field}");
    }
    assert_eq!(alert["labels"]["alertname"], json!("filesystem_full"));
    assert_eq!(alert["endsAt"], json!("0001-01-01T00:00:00Z"));
    assert_ne!(
        resolved["alerts"][0]["endsAt"],
        json!("0001-01-01T00:00:00Z")
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_templated_body_is_rendered_per_notification() {
    let desk = MockDesk::start(|_| Answer::json(204, &Value::Null)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = test_config(dir.path());
    let mut hook = webhook("chat", &format!("{}/chat", desk.base));
    if let NotifierKind::Webhook(w) = &mut hook.kind {
        w.format = WebhookFormat::Template;
        w.template = Some(r#"{"text": {{ (action ~ ": " ~ summary) | tojson }}, "rack": "{{ host.labels.rack }}"}"#.into());
    }
    config.notifiers.push(hook);
    let server = Server::start(config).await;
    server
        .ingest(&full("tpl-host", 1, now_ms() - 1_000, 0.95))
        .await;
    eventually("the templated body arrives", || async {
        (desk.requests().len() == 1).then_some(())
    })
    .await;
    let body = &desk.requests()[0].body;
    assert_eq!(body["rack"], json!("r1"));
    assert!(
        body["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("open: tpl-host.example: ")),
        "{body}"
    );
    server.stop().await;
}
