//! Tickets against a real Request Tracker 5 (REST2), started by
//! `../shared/servicedesk/start-rt.sh` (`.ci/run` does it). Gated on
//! `HARBINGER_TEST_RT_URL` (the REST2 base) and `HARBINGER_TEST_RT_TOKEN`; queue
//! `Hardware` with custom fields `Fingerprint` and `Host`, as the script creates them.
//!
//! Every test uses its own host name, so tickets of earlier runs never match.

use crate::{batch, eventually, now_ms, series, test_config, Server};
use harbinger_collector::config::{NotifierConfig, NotifierKind, RtConfig, Secret};
use harbinger_collector::duration::HumanDuration;
use harbinger_collector::notify::rt::RtNotifier;
use harbinger_collector::notify::{
    classify, DeliveryContext, Notification, Notifier, NotifyError, RetryAction,
};
use harbinger_collector::store::{self, Store};
use harbinger_shared::Batch;
use serde_json::{json, Value};
use std::sync::{Arc, Once};

const SUITE: &str = "tickets against Request Tracker";
const ROOT_USER: &str = "root";
const ROOT_PASSWORD: &str = "rt-root-pass";

struct Rt {
    url: String,
    token: String,
    http: reqwest::Client,
}

fn rt() -> Option<Rt> {
    static SKIP: Once = Once::new();
    let (Ok(url), Ok(token)) = (
        std::env::var("HARBINGER_TEST_RT_URL"),
        std::env::var("HARBINGER_TEST_RT_TOKEN"),
    ) else {
        SKIP.call_once(|| eprintln!("SKIPPED: {SUITE} (set HARBINGER_TEST_RT_URL)"));
        return None;
    };
    Some(Rt {
        url: url.trim_end_matches('/').to_owned(),
        token,
        http: reqwest::Client::new(),
    })
}

impl Rt {
    fn notifier(&self, name: &str) -> NotifierConfig {
        NotifierConfig {
            name: name.into(),
            timeout: HumanDuration::from_secs(20),
            rate_limit_per_minute: None,
            kind: NotifierKind::RequestTracker(RtConfig {
                url: self.url.clone(),
                token: Secret::new(self.token.clone()),
                queue: "Hardware".into(),
                fingerprint_field: "Fingerprint".into(),
                host_field: "Host".into(),
                resolution_field: None,
                sync_interval: Some(HumanDuration::from_millis(200)),
                wont_fix_silence: HumanDuration::from_secs(3_600),
            }),
        }
    }

    async fn get(&self, path_and_query: &str) -> Value {
        let response = self
            .http
            .get(format!("{}/{path_and_query}", self.url))
            .header("Authorization", format!("token {}", self.token))
            .send()
            .await
            .expect("RT answers");
        assert!(response.status().is_success(), "GET {path_and_query}");
        response.json().await.expect("RT JSON")
    }

    /// Ids of every ticket (any status) whose Host field is `hostname`.
    async fn tickets_of(&self, hostname: &str) -> Vec<String> {
        let query = format!("Queue='Hardware' AND CF.{{Host}}='{hostname}'");
        let mut url = reqwest::Url::parse(&format!("{}/tickets", self.url)).expect("url");
        url.query_pairs_mut()
            .append_pair("query", &query)
            .append_pair("fields", "Status");
        let path = url
            .as_str()
            .trim_start_matches(&format!("{}/", self.url))
            .to_owned();
        let body = self.get(&path).await;
        body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| {
                i["id"]
                    .as_str()
                    .map_or_else(|| i["id"].to_string(), str::to_owned)
            })
            .collect()
    }

    async fn status(&self, ticket: &str) -> String {
        self.get(&format!("ticket/{ticket}")).await["Status"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Text of every attachment of the ticket, oldest first.
    async fn contents(&self, ticket: &str) -> Vec<String> {
        let body = self
            .get(&format!(
                "ticket/{ticket}/attachments?fields=Content&per_page=100"
            ))
            .await;
        body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["Content"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    async fn comments(&self, ticket: &str) -> usize {
        let body = self
            .get(&format!("ticket/{ticket}/history?fields=Type&per_page=100"))
            .await;
        body["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|t| t["Type"] == "Comment")
            .count()
    }

    /// What a person does in the web UI: set the status as `root`.
    async fn person_sets_status(&self, ticket: &str, status: &str) {
        let response = self
            .http
            .put(format!("{}/ticket/{ticket}", self.url))
            .basic_auth(ROOT_USER, Some(ROOT_PASSWORD))
            .json(&json!({ "Status": status }))
            .send()
            .await
            .expect("RT answers");
        assert!(response.status().is_success());
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), now_ms())
}

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

/// Waits until every notification of the host's incidents is delivered (or failed,
/// which fails the test) and returns the number delivered.
async fn all_delivered(server: &Server, host: &str, expected: usize) {
    eventually(
        &format!("{expected} notifications delivered for {host}"),
        || async {
            let list = server
                .get_json(&format!("/api/v1/incidents?host_id={host}"))
                .await;
            let mut delivered = 0;
            for incident in list.as_array()? {
                let detail = server
                    .get_json(&format!("/api/v1/incidents/{}", incident["id"]))
                    .await;
                for row in detail["notifications"].as_array()? {
                    assert_ne!(row["failed"], true, "delivery failed: {row}");
                    if row["delivered_ms"].is_i64() {
                        delivered += 1;
                    }
                }
            }
            (delivered == expected).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_precursor_makes_one_ticket_that_follows_the_incident_across_a_restart() {
    let Some(rt) = rt() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let config = || {
        let mut config = test_config(dir.path());
        config.notifiers.push(rt.notifier("rt"));
        config
    };
    let host = unique("rt-life");
    let hostname = format!("{host}.example");
    let t = now_ms() - 60_000;

    let server = Server::start(config()).await;
    ingest_ok(&server, &fs_batch(&host, 1, t, &[("/var", 0.95)])).await;
    all_delivered(&server, &host, 1).await;
    let tickets = rt.tickets_of(&hostname).await;
    assert_eq!(tickets.len(), 1, "exactly one ticket: {tickets:?}");
    let ticket = tickets[0].clone();
    let opening = rt.contents(&ticket).await.join("\n");
    assert!(
        opening.contains("used_ratio: 0.95"),
        "evidence in the ticket: {opening}"
    );
    assert!(opening.contains("/var"), "{opening}");
    let subject = rt.get(&format!("ticket/{ticket}")).await["Subject"].clone();
    assert!(
        subject.as_str().unwrap_or_default().contains(&hostname),
        "{subject}"
    );

    ingest_ok(&server, &fs_batch(&host, 2, t + 10_000, &[("/var", 0.97)])).await;
    all_delivered(&server, &host, 2).await;
    assert_eq!(rt.comments(&ticket).await, 1, "the update is a comment");
    server.stop().await;

    // A restart in the middle: the same incident continues on the same ticket.
    let server = Server::start(config()).await;
    ingest_ok(&server, &fs_batch(&host, 3, t + 20_000, &[("/var", 0.99)])).await;
    all_delivered(&server, &host, 3).await;
    assert_eq!(
        rt.tickets_of(&hostname).await,
        std::slice::from_ref(&ticket),
        "no second ticket"
    );
    assert_eq!(rt.comments(&ticket).await, 2);
    let texts = rt.contents(&ticket).await.join("\n");
    assert!(texts.contains("used_ratio: 0.99"), "{texts}");

    ingest_ok(&server, &fs_batch(&host, 4, t + 30_000, &[("/var", 0.5)])).await;
    all_delivered(&server, &host, 4).await;
    assert_eq!(rt.status(&ticket).await, "resolved");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_resolved_by_a_person_resolves_the_incident_with_an_outcome() {
    let Some(rt) = rt() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = test_config(dir.path());
    config.notifiers.push(rt.notifier("rt"));
    let server = Server::start(config).await;
    let host = unique("rt-person");
    let hostname = format!("{host}.example");
    ingest_ok(
        &server,
        &fs_batch(
            &host,
            1,
            now_ms() - 1_000,
            &[("/data", 0.99), ("/srv", 0.96)],
        ),
    )
    .await;
    all_delivered(&server, &host, 2).await;
    let tickets = rt.tickets_of(&hostname).await;
    assert_eq!(tickets.len(), 2, "{tickets:?}");
    let incidents = server
        .get_json(&format!("/api/v1/incidents?host_id={host}&status=open"))
        .await;
    assert_eq!(incidents.as_array().map(Vec::len), Some(2));

    // The person fixes one and rejects the other ("won't fix").
    let (fixed, rejected) = (tickets[0].clone(), tickets[1].clone());
    rt.person_sets_status(&fixed, "resolved").await;
    rt.person_sets_status(&rejected, "rejected").await;
    eventually("both incidents are resolved from RT", || async {
        let open = server
            .get_json(&format!("/api/v1/incidents?host_id={host}&status=open"))
            .await;
        open.as_array()?.is_empty().then_some(())
    })
    .await;

    let store = store::open(&dir.path().join("harbinger.db").to_string_lossy())
        .await
        .expect("open the store beside the collector");
    let all = store
        .incidents(Some(&host), false, 10)
        .await
        .expect("incidents");
    let mut codes = Vec::new();
    for incident in &all {
        let resolution = incident.details["resolution"].as_str().unwrap_or_default();
        assert!(resolution.contains("by root"), "{resolution}");
        for outcome in store.outcomes(incident.id).await.expect("outcomes") {
            codes.push(outcome.code);
        }
        let audit = store
            .audit_log(Some(incident.id), 10)
            .await
            .expect("audit log");
        assert!(
            audit
                .iter()
                .any(|a| a.action == "resolve" && a.actor == ROOT_USER && a.source == "rt"),
            "{audit:?}"
        );
    }
    codes.sort();
    assert_eq!(codes, ["resolved", "won't fix"]);
    let silences = store
        .active_silences(Some(&host), now_ms())
        .await
        .expect("silences");
    assert_eq!(silences.len(), 1, "{silences:?}");
    assert!(silences[0].component.is_some(), "{silences:?}");
    // Harbinger does not write back to a ticket a person closed.
    assert_eq!(rt.status(&fixed).await, "resolved");
    assert_eq!(rt.status(&rejected).await, "rejected");
    server.stop().await;
}

fn body(action: &str, host: &str, revision: i64, ratio: f64) -> Value {
    json!({
        "version": "1", "action": action, "idempotency_key": format!("k/{action}/{revision}"),
        "incident": {"id": 1, "dedup_key": format!("{host}/filesystem_full//var"), "host_id": host,
            "kind": "filesystem_full", "component": "filesystem:/var", "severity": "warning",
            "status": if action == "resolve" { "resolved" } else { "open" },
            "title": "/var is almost full", "details": {"used_ratio": ratio},
            "opened_at_ms": 1_000, "updated_at_ms": 1_000 + revision, "resolved_at_ms": null,
            "revision": revision},
        "host": {"host_id": host, "hostname": host, "labels": {}},
        "dashboard_url": "http://127.0.0.1/host.html"
    })
}

async fn fresh_store(dir: &tempfile::TempDir) -> Arc<dyn Store> {
    let store = store::open(&dir.path().join("h.db").to_string_lossy())
        .await
        .expect("store");
    // Ticket references point at an incident row, as they do in the collector.
    store
        .apply_incident_change(
            harbinger_collector::store::IncidentChange::Open(
                harbinger_collector::store::NewIncident {
                    dedup_key: "k".into(),
                    host_id: "h".into(),
                    kind: "filesystem_full".into(),
                    component: None,
                    severity: "warning".into(),
                    title: "t".into(),
                    details: json!({}),
                    at_ms: 1_000,
                },
            ),
            vec![],
        )
        .await
        .expect("incident 1");
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_ticket_cache_is_rebuilt_by_fingerprint_search() {
    let Some(rt) = rt() else { return };
    let notifier =
        harbinger_collector::notify::build(&[rt.notifier("rt")]).expect("notifier builds");
    let notifier = notifier[0].clone();
    let host = unique("rt-search");
    let send = |action: &'static str, revision: i64, ratio: f64| Notification {
        incident_id: 1,
        idempotency_key: format!("k/{action}/{revision}"),
        action: action.into(),
        body: body(action, &host, revision, ratio),
    };

    let first = tempfile::tempdir().expect("tempdir");
    let context = DeliveryContext {
        store: fresh_store(&first).await,
    };
    let receipt = notifier
        .deliver(&send("open", 1, 0.95), &context)
        .await
        .expect("open");
    let ticket = receipt.ticket.clone().expect("a ticket");
    // A repeated open (at-least-once delivery) does not make a second ticket.
    notifier
        .deliver(&send("open", 1, 0.95), &context)
        .await
        .expect("open again");

    // A collector that lost its store finds the ticket by fingerprint.
    let second = tempfile::tempdir().expect("tempdir");
    let context = DeliveryContext {
        store: fresh_store(&second).await,
    };
    let receipt = notifier
        .deliver(&send("update", 2, 0.97), &context)
        .await
        .expect("update");
    assert_eq!(receipt.ticket.as_deref(), Some(ticket.as_str()));
    assert_eq!(rt.tickets_of(&host).await, std::slice::from_ref(&ticket));
    assert_eq!(rt.comments(&ticket).await, 1);
    let remembered = context
        .store
        .ticket(
            "rt",
            &harbinger_collector::notify::view::fingerprint(
                &format!("{host}/filesystem_full//var"),
                1_000,
            ),
        )
        .await
        .expect("read ticket reference");
    assert_eq!(remembered.map(|t| t.ticket_id), Some(ticket.clone()));
    notifier
        .deliver(&send("resolve", 3, 0.5), &context)
        .await
        .expect("resolve");
    assert_eq!(rt.status(&ticket).await, "resolved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_inside_a_200_is_caught_and_permanent() {
    let Some(rt) = rt() else { return };
    let config = rt.notifier("rt");
    let NotifierKind::RequestTracker(rt_config) = &config.kind else {
        panic!("an RT notifier");
    };
    let notifier = RtNotifier::new(&config, rt_config).expect("builds");
    let dir = tempfile::tempdir().expect("tempdir");
    let context = DeliveryContext {
        store: fresh_store(&dir).await,
    };
    let host = unique("rt-quirk");
    let receipt = notifier
        .deliver(
            &Notification {
                incident_id: 1,
                idempotency_key: "k".into(),
                action: "open".into(),
                body: body("open", &host, 1, 0.95),
            },
            &context,
        )
        .await
        .expect("open");
    let ticket = receipt.ticket.expect("ticket");
    let error = notifier
        .set_status(&ticket, "bogus")
        .await
        .expect_err("RT answers 200 but does not change the status");
    assert!(matches!(error, NotifyError::Rejected { .. }), "{error}");
    assert!(error.to_string().contains("bogus"), "{error}");
    assert_eq!(classify(&error), RetryAction::Permanent);
    assert_eq!(rt.status(&ticket).await, "new");
}
