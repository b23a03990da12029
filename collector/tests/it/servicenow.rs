//! ServiceNow Table API against a local stand-in that keeps incidents, checks every
//! request against the documented contract (fields and lengths, urgency/impact values,
//! `correlation_id`, no computed `priority`, close code and notes required to resolve)
//! and lets the test act as a person in the desk for the two-way sync.

use crate::mock_desk::{Answer, MockDesk, Request};
use crate::{batch, eventually, now_ms, series, test_config, Server};
use harbinger_collector::config::{NotifierConfig, NotifierKind, Secret, ServiceNowConfig};
use harbinger_collector::duration::HumanDuration;
use harbinger_collector::store;
use harbinger_shared::Batch;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const TABLE: &str = "/api/now/table/incident";

#[derive(Default)]
pub struct Desk {
    pub incidents: BTreeMap<String, Map<String, Value>>,
    pub work_notes: BTreeMap<String, Vec<String>>,
    pub invalid: Vec<String>,
    pub creates: usize,
}

pub fn servicenow(name: &str, desk: &MockDesk) -> NotifierConfig {
    NotifierConfig {
        name: name.into(),
        timeout: HumanDuration::from_secs(5),
        rate_limit_per_minute: None,
        kind: NotifierKind::ServiceNow(ServiceNowConfig {
            url: desk.base.clone(),
            username: Some("harbinger.integration".into()),
            password: Some(Secret::new("s3cret")),
            token: None,
            table: "incident".into(),
            assignment_group: Some("Hardware Ops".into()),
            caller: Some("harbinger.integration".into()),
            category: Some("hardware".into()),
            resolve_state: "6".into(),
            close_code: "Solution provided".into(),
            close_notes: "Resolved by Harbinger:".into(),
            wont_fix_close_codes: vec!["No resolution provided".into()],
            sync_interval: Some(HumanDuration::from_millis(200)),
            wont_fix_silence: HumanDuration::from_secs(3_600),
        }),
    }
}

fn failure(status: u16, message: &str) -> Answer {
    Answer::json(
        status,
        &json!({"error": {"message": message, "detail": message}, "status": "failure"}),
    )
}

fn is_fingerprint(s: &str) -> bool {
    s.len() <= 100
        && s.starts_with("hb-")
        && s[3..].len() == 32
        && s[3..].chars().all(|c| c.is_ascii_hexdigit())
}

fn answer(desk: &Mutex<Desk>, r: &Request) -> Answer {
    let mut desk = desk.lock().expect("desk lock");
    // Basic auth of the integration user: "harbinger.integration:s3cret".
    if r.header("authorization") != Some("Basic aGFyYmluZ2VyLmludGVncmF0aW9uOnMzY3JldA==") {
        desk.invalid
            .push(format!("{} {}: bad credentials", r.method, r.path));
        return failure(401, "User Not Authenticated");
    }
    let id = r
        .path
        .strip_prefix(TABLE)
        .map(|rest| rest.trim_start_matches('/').to_owned());
    match (r.method.as_str(), id.as_deref()) {
        ("POST", Some("")) => {
            let b = &r.body;
            let mut errors = vec![];
            match b["short_description"].as_str() {
                Some(s) if !s.is_empty() && s.chars().count() <= 160 => {}
                _ => errors.push("short_description missing or longer than 160"),
            }
            if b["description"].as_str().is_none_or(str::is_empty) {
                errors.push("description missing");
            }
            for f in ["urgency", "impact"] {
                if !["1", "2", "3"].contains(&b[f].as_str().unwrap_or("")) {
                    errors.push("urgency/impact must be 1, 2 or 3");
                }
            }
            if !b["correlation_id"].as_str().is_some_and(is_fingerprint) {
                errors.push("correlation_id is not a fingerprint");
            }
            if b["caller_id"] != json!("harbinger.integration")
                || b["assignment_group"] != json!("Hardware Ops")
            {
                errors.push("caller_id / assignment_group from config missing");
            }
            if b.get("priority").is_some() || b.get("state").is_some() {
                errors.push("priority is computed and state starts at New");
            }
            if r.query("sysparm_input_display_value") != Some("true") {
                errors.push("names need sysparm_input_display_value=true");
            }
            if !errors.is_empty() {
                desk.invalid.extend(errors.iter().map(|e| e.to_string()));
                return failure(400, &errors.join("; "));
            }
            desk.creates += 1;
            let sys_id = format!("{:032x}", desk.creates);
            let number = format!("INC{:07}", 10_000 + desk.creates);
            let mut record = b.as_object().cloned().unwrap_or_default();
            record.insert("sys_id".into(), json!(sys_id));
            record.insert("number".into(), json!(number));
            record.insert("state".into(), json!("1"));
            desk.incidents.insert(sys_id.clone(), record);
            Answer::json(
                201,
                &json!({"result": {"sys_id": sys_id, "number": number, "state": "1"}}),
            )
            .with_header("Location", &format!("{TABLE}/{sys_id}"))
        }
        ("GET", Some("")) => {
            let query = r.query("sysparm_query").unwrap_or("");
            let Some(fp) = query
                .strip_prefix("correlation_id=")
                .and_then(|q| q.strip_suffix("^active=true"))
            else {
                desk.invalid.push(format!("unexpected query {query}"));
                return failure(400, "bad query");
            };
            let found: Vec<Value> = desk
                .incidents
                .values()
                .filter(|i| {
                    i["correlation_id"] == json!(fp)
                        && !["6", "7", "8"].contains(&i["state"].as_str().unwrap_or(""))
                })
                .map(|i| json!({"sys_id": i["sys_id"], "number": i["number"], "state": i["state"]}))
                .take(1)
                .collect();
            Answer::json(200, &json!({ "result": found }))
        }
        ("PATCH", Some(id)) if desk.incidents.contains_key(id) => {
            let b = r.body.as_object().cloned().unwrap_or_default();
            let allowed = [
                "work_notes",
                "urgency",
                "impact",
                "state",
                "close_code",
                "close_notes",
            ];
            if let Some(k) = b.keys().find(|k| !allowed.contains(&k.as_str())) {
                desk.invalid.push(format!("unexpected field {k}"));
                return failure(400, "unexpected field");
            }
            if b.get("state") == Some(&json!("6"))
                && ["close_code", "close_notes"]
                    .iter()
                    .any(|f| b.get(*f).and_then(Value::as_str).is_none_or(str::is_empty))
            {
                desk.invalid
                    .push("resolve without close_code/close_notes".into());
                return failure(
                    403,
                    "Data Policy Exception: close_code and close_notes are mandatory",
                );
            }
            if let Some(note) = b.get("work_notes").and_then(Value::as_str) {
                desk.work_notes
                    .entry(id.to_owned())
                    .or_default()
                    .push(note.to_owned());
            }
            let record = desk.incidents.get_mut(id).expect("exists");
            for (k, v) in b {
                if k != "work_notes" {
                    record.insert(k, v);
                }
            }
            let result = json!({"sys_id": record["sys_id"], "number": record["number"], "state": record["state"]});
            Answer::json(200, &json!({ "result": result }))
        }
        ("GET", Some(id)) if desk.incidents.contains_key(id) => {
            if r.query("sysparm_display_value") != Some("all") {
                desk.invalid
                    .push("sync reads need sysparm_display_value=all".into());
            }
            let record = &desk.incidents[id];
            let shown = |k: &str| {
                let v = record.get(k).and_then(Value::as_str).unwrap_or("");
                json!({"value": v, "display_value": v})
            };
            Answer::json(
                200,
                &json!({"result": {
                "state": shown("state"), "close_code": shown("close_code"),
                "assigned_to": shown("assigned_to"), "resolved_by": shown("resolved_by"),
                "sys_updated_by": shown("sys_updated_by")}}),
            )
        }
        (_, Some(_)) => failure(404, "No Record found"),
        _ => failure(400, "not the table API"),
    }
}

pub async fn servicenow_desk() -> (MockDesk, Arc<Mutex<Desk>>) {
    let state = Arc::new(Mutex::new(Desk::default()));
    let shared = Arc::clone(&state);
    let desk = MockDesk::start(move |r| answer(&shared, r)).await;
    (desk, state)
}

fn fs_batch(host: &str, seq: u64, ts: i64, mounts: &[(&str, f64)]) -> Batch {
    let mut b = batch(host, seq, 10_000);
    for (mount, ratio) in mounts {
        b.series.push(series(
            "node_filesystem_used_ratio",
            &[
                ("device", "/dev/sda1"),
                ("mountpoint", mount),
                ("fstype", "ext4"),
            ],
            &[(ts, *ratio)],
        ));
    }
    b
}

async fn delivered(server: &Server, host: &str, n: usize) {
    eventually(&format!("{n} deliveries for {host}"), || async {
        let list = server
            .get_json(&format!("/api/v1/incidents?host_id={host}"))
            .await;
        let mut done = 0;
        for incident in list.as_array()? {
            let detail = server
                .get_json(&format!("/api/v1/incidents/{}", incident["id"]))
                .await;
            for row in detail["notifications"].as_array()? {
                assert_ne!(row["failed"], true, "{row}");
                done += usize::from(row["delivered_ms"].is_i64());
            }
        }
        (done == n).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_incident_follows_the_problem_across_a_lost_store_and_resolves() {
    let (desk, state) = servicenow_desk().await;
    let t = now_ms() - 60_000;
    let first = tempfile::tempdir().expect("tempdir");
    let mut config = test_config(first.path());
    config.notifiers.push(servicenow("snow", &desk));
    let server = Server::start(config).await;
    server
        .ingest(&fs_batch("sn-host", 1, t, &[("/var", 0.95)]))
        .await;
    delivered(&server, "sn-host", 1).await;
    server
        .ingest(&fs_batch("sn-host", 2, t + 10_000, &[("/var", 0.97)]))
        .await;
    delivered(&server, "sn-host", 2).await;
    server.stop().await;

    // A new collector with a fresh store sees the problem continue: it finds the open
    // incident by correlation_id instead of creating a second one.
    let second = tempfile::tempdir().expect("tempdir");
    let mut config = test_config(second.path());
    config.notifiers.push(servicenow("snow", &desk));
    let server = Server::start(config).await;
    server
        .ingest(&fs_batch("sn-host", 3, t, &[("/var", 0.98)]))
        .await;
    delivered(&server, "sn-host", 1).await;
    server
        .ingest(&fs_batch("sn-host", 4, t + 30_000, &[("/var", 0.4)]))
        .await;
    delivered(&server, "sn-host", 2).await;
    server.stop().await;

    let desk_state = state.lock().expect("lock");
    assert!(desk_state.invalid.is_empty(), "{:?}", desk_state.invalid);
    assert_eq!(desk_state.creates, 1, "never a second incident");
    let (sys_id, record) = desk_state.incidents.iter().next().expect("one incident");
    assert!(record["description"]
        .as_str()
        .is_some_and(|d| d.contains("used_ratio: 0.95")));
    assert_eq!(record["urgency"], json!("2"));
    assert_eq!(record["state"], json!("6"));
    assert_eq!(record["close_code"], json!("Solution provided"));
    assert!(record["close_notes"]
        .as_str()
        .is_some_and(|n| n.starts_with("Resolved by Harbinger:")));
    let notes = &desk_state.work_notes[sys_id];
    // The first collector's update, the restarted collector's repeat of the open (its
    // store is new, so to it this is an open; the incident exists, so nothing is
    // created) is silent, and the resolve adds the last note.
    assert!(
        notes.iter().any(|n| n.contains("used_ratio: 0.97")),
        "{notes:?}"
    );
    assert!(
        notes.last().is_some_and(|n| n.starts_with("Resolved:")),
        "{notes:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_in_servicenow_acknowledge_resolve_and_cancel() {
    let (desk, state) = servicenow_desk().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = test_config(dir.path());
    config.notifiers.push(servicenow("snow", &desk));
    let server = Server::start(config).await;
    server
        .ingest(&fs_batch(
            "sn-people",
            1,
            now_ms() - 1_000,
            &[("/data", 0.99), ("/srv", 0.96)],
        ))
        .await;
    delivered(&server, "sn-people", 2).await;
    let ids: Vec<String> = state
        .lock()
        .expect("lock")
        .incidents
        .keys()
        .cloned()
        .collect();
    assert_eq!(ids.len(), 2);
    let set = |id: &str, fields: &[(&str, &str)]| {
        let mut desk = state.lock().expect("lock");
        let record = desk.incidents.get_mut(id).expect("incident");
        for (k, v) in fields {
            record.insert((*k).into(), json!(v));
        }
    };
    set(
        &ids[0],
        &[
            ("state", "2"),
            ("assigned_to", "Carol Admin"),
            ("sys_updated_by", "carol"),
        ],
    );
    let store_path = dir.path().join("harbinger.db");
    let store = store::open(&store_path.to_string_lossy())
        .await
        .expect("store beside the collector");
    eventually("the acknowledgement is audited", || async {
        let log = store.audit_log(None, 50).await.ok()?;
        log.iter()
            .any(|a| a.action == "acknowledge" && a.actor == "Carol Admin" && a.source == "snow")
            .then_some(())
    })
    .await;
    set(
        &ids[0],
        &[
            ("state", "6"),
            ("close_code", "Hardware replaced"),
            ("resolved_by", "Carol Admin"),
        ],
    );
    set(&ids[1], &[("state", "8"), ("sys_updated_by", "dave")]);
    eventually("both incidents resolved from ServiceNow", || async {
        let open = server
            .get_json("/api/v1/incidents?host_id=sn-people&status=open")
            .await;
        open.as_array()?.is_empty().then_some(())
    })
    .await;
    let mut codes = vec![];
    for incident in store
        .incidents(Some("sn-people"), false, 10)
        .await
        .expect("incidents")
    {
        for outcome in store.outcomes(incident.id).await.expect("outcomes") {
            codes.push(outcome.code);
        }
    }
    codes.sort();
    assert_eq!(codes, ["Hardware replaced", "canceled"]);
    let silences = store
        .active_silences(Some("sn-people"), now_ms())
        .await
        .expect("silences");
    assert_eq!(
        silences.len(),
        1,
        "the canceled one is silenced: {silences:?}"
    );
    // Harbinger does not write a resolve into incidents people closed.
    {
        let desk_state = state.lock().expect("lock");
        assert_eq!(desk_state.incidents[&ids[1]]["state"], json!("8"));
        assert!(desk_state.invalid.is_empty(), "{:?}", desk_state.invalid);
    }
    server.stop().await;
}
