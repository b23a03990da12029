//! `harbinger-collector notify-test <route>` through the real binary against mock desks:
//! every notifier of the route gets a marked test incident (opened, then resolved), the
//! report names what each answered, a refusal makes the exit status non-zero, and the
//! collector's own store is never created.

use crate::mock_desk::{Answer, MockDesk};
use crate::servicenow::servicenow_desk;
use serde_json::json;
use std::path::Path;
use std::process::Output;

fn config_text(data_dir: &Path, snow: &str, hook: &str, broken: &str) -> String {
    format!(
        r#"
data_dir = "{data}"

[[notifiers]]
name = "snow"
type = "servicenow"
url = "{snow}"
username = "harbinger.integration"
password = "s3cret"
assignment_group = "Hardware Ops"
caller = "harbinger.integration"
category = "hardware"

[[notifiers]]
name = "hook"
type = "webhook"
url = "{hook}/hook"

[[notifiers]]
name = "broken"
type = "webhook"
url = "{broken}/hook"

[[routes]]
name = "ops"
severity = ["critical"]
notifiers = ["snow", "hook"]

[[routes]]
name = "rest"
notifiers = ["hook", "broken"]
"#,
        data = data_dir.display()
    )
}

async fn notify_test(config: &Path, route: &str) -> Output {
    let config = config.to_owned();
    let route = route.to_owned();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_harbinger-collector"))
            .args(["notify-test", &route, "--config"])
            .arg(&config)
            .env("RUST_LOG", "warn")
            .output()
            .expect("the binary runs")
    })
    .await
    .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_test_reports_every_notifier_of_the_route_and_fails_on_a_refusal() {
    let (snow, snow_state) = servicenow_desk().await;
    let hook = MockDesk::start(|_| Answer::json(200, &json!({}))).await;
    let broken = MockDesk::start(|_| Answer::json(400, &json!({"error": "bad payload"}))).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let config = dir.path().join("collector.toml");
    std::fs::write(
        &config,
        config_text(&data, &snow.base, &hook.base, &broken.base),
    )
    .expect("config written");

    let out = notify_test(&config, "ops").await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "open and resolve per notifier: {stdout}");
    assert!(
        lines[0].starts_with("snow (servicenow) open: ok:") && lines[0].contains("[ticket "),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with("snow (servicenow) resolve: ok:"),
        "{stdout}"
    );
    assert!(lines[2].starts_with("hook (webhook) open: ok"), "{stdout}");
    assert!(
        lines[3].starts_with("hook (webhook) resolve: ok"),
        "{stdout}"
    );
    {
        let desk = snow_state.lock().expect("lock");
        assert!(desk.invalid.is_empty(), "{:?}", desk.invalid);
        assert_eq!(desk.creates, 1);
        let record = desk.incidents.values().next().expect("the test incident");
        let short = record["short_description"]
            .as_str()
            .expect("short description");
        assert!(
            short.starts_with("[TEST] ") && short.contains("Harbinger notification test"),
            "{short}"
        );
        assert_eq!(short.matches("[TEST]").count(), 1, "{short}");
        assert_eq!(record["state"], json!("6"), "the test ticket is resolved");
    }
    let bodies: Vec<_> = hook.requests().into_iter().map(|r| r.body).collect();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[0]["test"], json!(true));
    assert_eq!(bodies[0]["action"], json!("open"));
    assert_eq!(bodies[1]["action"], json!("resolve"));
    assert!(broken.requests().is_empty(), "not on route ops");
    assert!(!data.exists(), "the collector's store is never touched");

    // The other route has a desk that refuses: reported, and the exit status says so.
    let out = notify_test(&config, "rest").await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("hook (webhook) open: ok"), "{stdout}");
    let failed = stdout
        .lines()
        .find(|l| l.starts_with("broken (webhook) open: FAILED"))
        .unwrap_or_else(|| panic!("the refusal is reported: {stdout}"));
    assert!(failed.contains("400"), "{failed}");
    assert!(!stdout.contains("broken (webhook) resolve"), "{stdout}");
    assert_eq!(broken.requests().len(), 1);
    assert_eq!(broken.requests()[0].body["test"], json!(true));

    let out = notify_test(&config, "nope").await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("routes: ops, rest"), "{stderr}");
}
