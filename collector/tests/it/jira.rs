//! Jira Cloud REST v3 against a local stand-in that checks every request (ADF
//! structure of descriptions and comments, the fingerprint label, summary length, the
//! enhanced-search body) and, like Jira, indexes new issues for search only later.

use crate::mock_desk::{Answer, MockDesk, Request};
use crate::{batch, eventually, now_ms, series, test_config, Server};
use harbinger_collector::config::{JiraConfig, NotifierConfig, NotifierKind, Secret};
use harbinger_collector::duration::HumanDuration;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Issue {
    labels: Vec<String>,
    done: bool,
    comments: Vec<Value>,
    indexed: bool,
}

#[derive(Default)]
struct Desk {
    issues: BTreeMap<String, Issue>,
    invalid: Vec<String>,
    searches: usize,
}

/// ADF: a doc of block nodes; text nodes non-empty; code blocks without marks.
fn adf_errors(doc: &Value) -> Vec<String> {
    let mut errors = vec![];
    if doc["type"] != json!("doc") || doc["version"] != json!(1) {
        errors.push(format!("not an ADF doc: {doc}"));
        return errors;
    }
    let Some(blocks) = doc["content"].as_array() else {
        return vec!["doc.content must be an array".into()];
    };
    for block in blocks {
        let kind = block["type"].as_str().unwrap_or("");
        if !["paragraph", "heading", "codeBlock", "bulletList", "rule"].contains(&kind) {
            errors.push(format!("{kind:?} is not a block node"));
        }
        if kind == "heading" && !(1..=6).contains(&block["attrs"]["level"].as_i64().unwrap_or(0)) {
            errors.push("heading needs attrs.level 1-6".into());
        }
        for inline in block["content"].as_array().into_iter().flatten() {
            if inline["type"] != json!("text") || inline["text"].as_str().is_none_or(str::is_empty)
            {
                errors.push(format!("bad inline node {inline}"));
            }
            if kind == "codeBlock" && inline.get("marks").is_some() {
                errors.push("codeBlock text takes no marks".into());
            }
            for mark in inline["marks"].as_array().into_iter().flatten() {
                if mark["type"] == json!("link") && mark["attrs"]["href"].as_str().is_none() {
                    errors.push("link mark needs attrs.href".into());
                }
            }
        }
    }
    errors
}

fn error(status: u16, message: &str) -> Answer {
    Answer::json(status, &json!({"errorMessages": [message], "errors": {}}))
}

fn answer(desk: &Mutex<Desk>, r: &Request) -> Answer {
    let mut desk = desk.lock().expect("lock");
    if r.header("authorization") != Some("Basic b3BzQGV4YW1wbGUubmV0OnRva2Vu") {
        desk.invalid.push("bad credentials".into());
        return error(401, "unauthorized");
    }
    let path: Vec<&str> = r
        .path
        .trim_start_matches("/rest/api/3/")
        .split('/')
        .collect();
    match (r.method.as_str(), path.as_slice()) {
        ("POST", ["issue"]) => {
            let f = &r.body["fields"];
            let mut errors = adf_errors(&f["description"]);
            if f["project"]["key"] != json!("OPS") || f["issuetype"]["name"] != json!("Incident") {
                errors.push("project / issuetype".into());
            }
            if f["summary"]
                .as_str()
                .is_none_or(|s| s.is_empty() || s.chars().count() > 255)
            {
                errors.push("summary missing or longer than 255".into());
            }
            let labels: Vec<String> = f["labels"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l.as_str().map(str::to_owned))
                .collect();
            if labels.iter().any(|l| l.contains(' '))
                || !labels.iter().any(|l| l.starts_with("hb-"))
            {
                errors.push(format!(
                    "labels {labels:?}: need the fingerprint, no spaces"
                ));
            }
            if !errors.is_empty() {
                desk.invalid.extend(errors.clone());
                return error(400, &errors.join("; "));
            }
            let key = format!("OPS-{}", 24 + desk.issues.len());
            desk.issues.insert(
                key.clone(),
                Issue {
                    labels,
                    ..Issue::default()
                },
            );
            Answer::json(
                201,
                &json!({"id": "10000", "key": key, "self": format!("http://jira/rest/api/3/issue/{key}")}),
            )
        }
        ("POST", ["search", "jql"]) => {
            desk.searches += 1;
            let b = &r.body;
            if b.get("startAt").is_some() || b["jql"].as_str().is_none() {
                desk.invalid
                    .push("search/jql takes jql and nextPageToken, not startAt".into());
                return error(400, "Invalid request payload");
            }
            let jql = b["jql"].as_str().unwrap_or("");
            let found: Vec<Value> = desk
                .issues
                .iter()
                .filter(|(_, i)| {
                    i.indexed
                        && !i.done
                        && i.labels
                            .iter()
                            .any(|l| jql.contains(&format!("labels = \"{l}\"")))
                })
                .map(|(k, _)| json!({"id": "1", "key": k, "fields": {"status": {"name": "Open"}}}))
                .take(1)
                .collect();
            Answer::json(200, &json!({"issues": found, "isLast": true}))
        }
        ("POST", ["issue", key, "comment"]) if desk.issues.contains_key(*key) => {
            let errors = adf_errors(&r.body["body"]);
            if !errors.is_empty() {
                desk.invalid.extend(errors.clone());
                return error(400, &errors.join("; "));
            }
            let body = r.body["body"].clone();
            desk.issues
                .get_mut(*key)
                .expect("issue")
                .comments
                .push(body);
            Answer::json(201, &json!({"id": "1"}))
        }
        ("GET", ["issue", key, "transitions"]) if desk.issues.contains_key(*key) => Answer::json(
            200,
            &json!({"transitions": [
            {"id": "11", "name": "Start", "isAvailable": true, "to": {"statusCategory": {"key": "indeterminate"}}},
            {"id": "31", "name": "Close it", "isAvailable": true, "to": {"statusCategory": {"key": "done"}}}]}),
        ),
        ("POST", ["issue", key, "transitions"]) if desk.issues.contains_key(*key) => {
            if r.body["transition"]["id"] != json!("31") {
                desk.invalid.push(format!(
                    "transition {} does not lead to done",
                    r.body["transition"]
                ));
                return error(400, "bad transition");
            }
            let comment = &r.body["update"]["comment"][0]["add"]["body"];
            let errors = adf_errors(comment);
            if !errors.is_empty() {
                desk.invalid.extend(errors.clone());
                return error(400, &errors.join("; "));
            }
            let issue = desk.issues.get_mut(*key).expect("issue");
            issue.done = true;
            issue.comments.push(comment.clone());
            Answer {
                status: 204,
                body: String::new(),
                headers: vec![],
            }
        }
        _ => error(
            404,
            "Issue does not exist or you do not have permission to see it.",
        ),
    }
}

fn jira(desk: &MockDesk) -> NotifierConfig {
    NotifierConfig {
        name: "jira".into(),
        timeout: HumanDuration::from_secs(5),
        rate_limit_per_minute: None,
        kind: NotifierKind::Jira(JiraConfig {
            url: desk.base.clone(),
            email: Some("ops@example.net".into()),
            api_token: Some(Secret::new("token")),
            bearer_token: None,
            project: "OPS".into(),
            issue_type: "Incident".into(),
            labels: vec!["harbinger".into()],
            priorities: BTreeMap::new(),
            internal_comments: false,
            resolution: None,
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_comment_and_resolve_through_the_done_transition() {
    let state = Arc::new(Mutex::new(Desk::default()));
    let shared = Arc::clone(&state);
    let desk = MockDesk::start(move |r| answer(&shared, r)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = test_config(dir.path());
    config.notifiers.push(jira(&desk));
    let server = Server::start(config).await;
    let t = now_ms() - 60_000;
    for (seq, ratio) in [(1, 0.95), (2, 0.97), (3, 0.5)] {
        let mut b = batch("jira-host", seq, 10_000);
        b.series.push(series(
            "node_filesystem_used_ratio",
            &[
                ("device", "/dev/sda1"),
                ("mountpoint", "/var"),
                ("fstype", "ext4"),
            ],
            &[(t + seq as i64 * 10_000, ratio)],
        ));
        server.ingest(&b).await;
        eventually("the change is delivered", || async {
            let list = server.get_json("/api/v1/incidents?host_id=jira-host").await;
            let id = list.as_array()?.first()?["id"].clone();
            let detail = server.get_json(&format!("/api/v1/incidents/{id}")).await;
            let rows = detail["notifications"].as_array()?.clone();
            assert!(rows.iter().all(|r| r["failed"] == false), "{rows:?}");
            (rows.len() == seq as usize && rows.iter().all(|r| r["delivered_ms"].is_i64()))
                .then_some(())
        })
        .await;
    }
    server.stop().await;
    let desk_state = state.lock().expect("lock");
    assert!(desk_state.invalid.is_empty(), "{:?}", desk_state.invalid);
    assert_eq!(desk_state.issues.len(), 1);
    let issue = &desk_state.issues["OPS-24"];
    assert!(issue.labels.contains(&"harbinger".to_owned()));
    // The issue never became searchable, yet the update and the resolve found it: the
    // local reference, not the eventually consistent search, is what they use.
    assert_eq!(desk_state.searches, 1, "searched only before the create");
    assert_eq!(
        issue.comments.len(),
        2,
        "one update comment, one resolve comment"
    );
    assert!(issue.done);
    let text = issue.comments[0].to_string();
    assert!(text.contains("used_ratio: 0.97"), "{text}");
}
