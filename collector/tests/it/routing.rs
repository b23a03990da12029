//! The routing tree through a real collector: severity and component kind pick the
//! notifiers, the default route takes the rest, and `continue` fans out.

use crate::mock_desk::{Answer, MockDesk};
use crate::{batch, eventually, now_ms, series, test_config, webhook, Server};
use harbinger_collector::config::RouteConfig;
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn severity_routes_to_the_pager_and_the_rest_to_the_desk() {
    let pager = MockDesk::start(|_| Answer::json(200, &json!({}))).await;
    let desk = MockDesk::start(|_| Answer::json(200, &json!({}))).await;
    let chat = MockDesk::start(|_| Answer::json(200, &json!({}))).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = test_config(dir.path());
    config
        .notifiers
        .push(webhook("pager", &format!("{}/p", pager.base)));
    config
        .notifiers
        .push(webhook("desk", &format!("{}/d", desk.base)));
    config
        .notifiers
        .push(webhook("chat", &format!("{}/c", chat.base)));
    config.routes = vec![
        RouteConfig {
            name: Some("page".into()),
            severity: vec!["critical".into()],
            component_kind: vec!["filesystem".into()],
            notifiers: vec!["pager".into()],
            continue_matching: true,
            ..RouteConfig::default()
        },
        RouteConfig {
            name: Some("rack-r9".into()),
            labels: [("rack".to_owned(), vec!["r9".to_owned()])].into(),
            notifiers: vec!["chat".into()],
            ..RouteConfig::default()
        },
        RouteConfig {
            name: Some("default".into()),
            notifiers: vec!["desk".into()],
            ..RouteConfig::default()
        },
    ];
    config.validate().expect("valid routes");
    let server = Server::start(config).await;
    let mut b = batch("routed", 1, 10_000);
    for (mount, ratio) in [("/warm", 0.95), ("/hot", 0.995)] {
        b.series.push(series(
            "node_filesystem_used_ratio",
            &[
                ("device", "/dev/sda1"),
                ("mountpoint", mount),
                ("fstype", "ext4"),
            ],
            &[(now_ms() - 1_000, ratio)],
        ));
    }
    let (status, _) = server.ingest(&b).await;
    assert_eq!(status, 200);
    eventually("pager and desk are notified", || async {
        (pager.requests().len() == 1 && desk.requests().len() == 2).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let paged = &pager.requests()[0].body;
    assert_eq!(paged["incident"]["severity"], json!("critical"));
    assert_eq!(pager.requests().len(), 1, "the warning does not page");
    let mut desk_mounts: Vec<String> = desk
        .requests()
        .iter()
        .filter_map(|r| r.body["incident"]["component"].as_str().map(str::to_owned))
        .collect();
    desk_mounts.sort();
    assert_eq!(
        desk_mounts,
        ["filesystem:/hot", "filesystem:/warm"],
        "continue fans the critical one out"
    );
    assert!(chat.requests().is_empty(), "rack r1 is not r9");
    server.stop().await;
}
