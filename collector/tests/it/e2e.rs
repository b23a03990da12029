//! End to end: the real `harbinger-collector all-in-one` binary collects this machine
//! through its embedded agent, and the API and dashboard show plausible data.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Bound of every wait in this test.
const WAIT: Duration = Duration::from_secs(25);

/// Kills the child when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The value columns `[min, max, avg]` of every bucket of every series.
fn values(answer: &Value) -> Vec<f64> {
    answer["series"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["points"].as_array().cloned().unwrap_or_default())
        .flat_map(|p| {
            p.as_array()
                .map(|p| {
                    p.iter()
                        .skip(1)
                        .filter_map(Value::as_f64)
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_in_one_shows_this_machine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log_path = dir.path().join("collector.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut command = Command::new(env!("CARGO_BIN_EXE_harbinger-collector"));
    command
        .args([
            "all-in-one",
            "--listen",
            "127.0.0.1:0",
            "--interval",
            "1s",
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log);
    for var in [
        "HARBINGER_LISTEN",
        "HARBINGER_DATA_DIR",
        "HARBINGER_DATABASE_URL",
        "HARBINGER_CONFIG",
    ] {
        command.env_remove(var);
    }
    let mut child = Running(
        command
            .spawn()
            .expect("spawn harbinger-collector all-in-one"),
    );
    let stdout = child.0.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(WAIT).unwrap_or_else(|_| {
        panic!(
            "no dashboard line on stdout; log:\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        )
    });
    let base = line
        .trim()
        .strip_prefix("Harbinger dashboard: ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .trim_end_matches('/')
        .to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let get = |path: String| {
        let client = client.clone();
        let url = format!("{base}{path}");
        async move {
            let response = client.get(&url).send().await.ok()?;
            if !response.status().is_success() {
                return None;
            }
            response.json::<Value>().await.ok()
        }
    };
    let deadline = Instant::now() + WAIT;
    let log_text = || std::fs::read_to_string(&log_path).unwrap_or_default();

    // The agent's first batch makes this machine a known host.
    let host_id = loop {
        if let Some(hosts) = get("/api/v1/hosts".into()).await {
            if let Some(id) = hosts.get(0).and_then(|h| h["host_id"].as_str()) {
                assert_eq!(hosts.as_array().map(Vec::len), Some(1), "{hosts}");
                assert!(
                    !hosts[0]["hostname"].as_str().unwrap_or_default().is_empty(),
                    "{hosts}"
                );
                break id.to_owned();
            }
        }
        assert!(
            Instant::now() < deadline,
            "no host listed; log:\n{}",
            log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // Rates (CPU usage, disk latency) need two collection cycles: wait until all the
    // charted series have data.
    let query = |metric: &str, extra: &str| {
        let now = harbinger_collector::state::now_ms();
        format!(
            "/api/v1/hosts/{host_id}/query?metric={metric}&start={}&end={}&step=1000{extra}",
            now - 300_000,
            now + 60_000
        )
    };
    let wanted = [
        ("node_cpu_usage_ratio", "&label.cpu=total"),
        ("node_memory_available_bytes", ""),
        ("node_memory_total_bytes", ""),
        ("node_filesystem_used_ratio", ""),
        ("node_disk_utilisation_ratio", ""),
        ("node_network_receive_bytes_total", "&fn=rate"),
    ];
    let answers: Vec<Value> = loop {
        let mut answers = Vec::new();
        for (metric, extra) in wanted {
            match get(query(metric, extra)).await {
                Some(answer) if !values(&answer).is_empty() => answers.push(answer),
                _ => break,
            }
        }
        if answers.len() == wanted.len() {
            break answers;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {} charted metrics have data; log:\n{}",
            answers.len(),
            wanted.len(),
            log_text()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };

    let in_unit = |v: &f64| (0.0..=1.0).contains(v);
    let cpu = values(&answers[0]);
    assert!(
        cpu.iter().all(in_unit),
        "CPU usage ratio outside 0..=1: {cpu:?}"
    );
    let available = values(&answers[1]);
    let total = values(&answers[2]);
    let total_max = total.iter().copied().fold(f64::MIN, f64::max);
    assert!(total_max > 0.0, "memory total {total:?}");
    assert!(
        available.iter().all(|a| *a > 0.0 && *a <= total_max),
        "available memory {available:?} must be within (0, {total_max}]"
    );
    assert!(
        values(&answers[3]).iter().all(in_unit),
        "filesystem ratio: {}",
        answers[3]
    );
    assert!(
        values(&answers[4]).iter().all(in_unit),
        "disk utilisation: {}",
        answers[4]
    );
    assert!(
        values(&answers[5])
            .iter()
            .all(|v| *v >= 0.0 && v.is_finite()),
        "network rate: {}",
        answers[5]
    );

    let page = client
        .get(format!("{base}/host.html?id={host_id}"))
        .send()
        .await
        .expect("GET /host.html");
    assert_eq!(page.status(), reqwest::StatusCode::OK);
    let html = page.text().await.expect("page body");
    assert!(html.to_ascii_lowercase().contains("<html"), "{html:.200}");
    let hostname = get("/api/v1/hosts".into()).await.expect("hosts")[0]["hostname"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    check_in_browser(&format!("{base}/host.html?id={host_id}"), &hostname);
    drop(child);
}

/// Renders the host page in headless Chromium (when `HARBINGER_TEST_CHROMIUM` names
/// the binary) and checks what a person would see: the hostname in the header and
/// drawn charts for CPU, memory, disk and network, not "no data" boxes.
fn check_in_browser(url: &str, hostname: &str) {
    let Ok(chromium) = std::env::var("HARBINGER_TEST_CHROMIUM") else {
        eprintln!("SKIPPED: dashboard in headless Chromium (set HARBINGER_TEST_CHROMIUM)");
        return;
    };
    let profile = tempfile::tempdir().expect("chromium profile dir");
    let output = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1400,2000",
            // Lets the page's fetches finish and its charts draw before the DOM is dumped.
            "--virtual-time-budget=15000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("run headless chromium");
    assert!(
        output.status.success(),
        "chromium exited with {}",
        output.status
    );
    let dom = String::from_utf8_lossy(&output.stdout);
    let header = dom
        .split("id=\"host-name\"")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap_or_default();
    assert!(
        header.contains(hostname),
        "header {header:?} should name {hostname:?}"
    );
    // uPlot marks every drawn chart with class "uplot"; the page draws nine.
    let drawn = dom.matches("class=\"uplot").count();
    assert!(drawn >= 6, "only {drawn} charts drawn; DOM:\n{dom:.3000}");
    for title in [
        "CPU usage",
        "Memory used",
        "Disk utilisation",
        "Network receive",
    ] {
        assert!(dom.contains(title), "no chart titled {title:?}");
    }
    assert!(
        !dom.contains("Query failed"),
        "a chart query failed; DOM:\n{dom:.3000}"
    );
}
