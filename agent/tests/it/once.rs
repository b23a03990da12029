//! `harbinger-agent once` on the `host-a` fixture tree: the printed protocol JSON.

use crate::common::{agent, host_a_toml, output, stderr, stdout};
use harbinger_shared::catalogue::names;
use harbinger_shared::{Batch, PROTOCOL_VERSION};

fn run_once(extra_toml: &str, env: &[(&str, &str)]) -> (std::process::Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("agent.toml");
    std::fs::write(&config, host_a_toml(&dir.path().join("state"), extra_toml))
        .expect("write config");
    let mut command = agent();
    command.arg("once").arg("--config").arg(&config);
    for (k, v) in env {
        command.env(k, v);
    }
    (output(&mut command), dir)
}

fn value(batch: &Batch, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    batch
        .series
        .iter()
        .find(|s| {
            s.metric == metric
                && s.labels.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| {
            assert_eq!(s.points.len(), 1, "one cycle gives one point per series");
            s.points[0].value
        })
}

fn devices(batch: &Batch, metric: &str) -> Vec<String> {
    batch
        .series
        .iter()
        .filter(|s| s.metric == metric)
        .map(|s| s.labels["device"].clone())
        .collect()
}

#[test]
fn once_prints_one_collection_as_protocol_json() {
    let (out, dir) = run_once("labels = { rack = \"r12\" }", &[]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let json = stdout(&out);
    let batch = Batch::decode(json.as_bytes(), false, 1 << 24).expect("stdout is a protocol batch");
    batch.validate().expect("a batch the collector accepts");

    assert_eq!(batch.protocol_version, PROTOCOL_VERSION);
    assert_eq!(batch.seq, 0, "once consumes no sequence number");
    assert!(
        !dir.path().join("state").exists(),
        "once does not touch the state dir"
    );
    assert_eq!(batch.interval_ms, 10_000);
    assert_eq!(batch.agent.host_id, "0123456789abcdef0123456789abcdef");
    assert_eq!(batch.agent.hostname, "fixture-host");
    assert_eq!(batch.agent.labels["rack"], "r12");

    // All points share one aligned timestamp.
    let ts = batch.series[0].points[0].ts;
    assert!(batch.series.iter().all(|s| s.points[0].ts == ts));

    let v = |metric, labels: &[(&str, &str)]| value(&batch, metric, labels);
    assert_eq!(
        v(names::CPU_SECONDS, &[("cpu", "total"), ("mode", "user")]),
        Some(20.0)
    );
    assert_eq!(
        v(names::CPU_SECONDS, &[("cpu", "1"), ("mode", "steal")]),
        Some(0.03)
    );
    assert_eq!(
        v(names::CPU_USAGE, &[("cpu", "total")]),
        None,
        "needs two cycles"
    );
    assert_eq!(v(names::BOOT_TIME, &[]), Some(1_700_000_000.0));
    assert_eq!(v(names::UPTIME, &[]), Some(86_400.25));
    assert_eq!(v(names::LOAD1, &[]), Some(1.5));
    assert_eq!(v(names::LOAD15, &[]), Some(0.25));
    assert_eq!(v(names::MEM_TOTAL, &[]), Some(8_000_000.0 * 1024.0));
    assert_eq!(v(names::MEM_AVAILABLE, &[]), Some(6_000_000.0 * 1024.0));
    assert_eq!(v(names::MEM_USED_RATIO, &[]), Some(0.25));
    assert_eq!(v(names::SWAP_FREE, &[]), Some(750_000.0 * 1024.0));

    assert_eq!(
        devices(&batch, names::DISK_READS),
        ["nvme0n1", "sda", "sda1"]
    );
    assert_eq!(
        v(names::DISK_READ_BYTES, &[("device", "sda")]),
        Some(16_000.0 * 512.0)
    );
    assert_eq!(v(names::DISK_WRITES, &[("device", "sda")]), Some(2_000.0));
    assert_eq!(v(names::DISK_IO_TIME, &[("device", "sda")]), Some(1.8));
    assert_eq!(
        v(names::DISK_IO_TIME_WEIGHTED, &[("device", "nvme0n1")]),
        Some(0.15)
    );

    assert_eq!(devices(&batch, names::NET_RX_BYTES), ["eth0"]);
    assert_eq!(
        v(names::NET_RX_BYTES, &[("device", "eth0")]),
        Some(123_456_789.0)
    );
    assert_eq!(v(names::NET_TX_DROP, &[("device", "eth0")]), Some(5.0));

    let mut mounts: Vec<_> = batch
        .series
        .iter()
        .filter(|s| s.metric == names::FS_SIZE)
        .map(|s| {
            (
                s.labels["mountpoint"].as_str(),
                s.labels["device"].as_str(),
                s.labels["fstype"].as_str(),
            )
        })
        .collect();
    mounts.sort();
    assert_eq!(
        mounts,
        [("/", "/dev/sda2", "ext4"), ("/boot", "/dev/sda1", "ext4")]
    );

    assert_eq!(v(names::SOURCE_SUCCESS, &[("source", "system")]), Some(1.0));
    assert!(v(names::SOURCE_DURATION, &[("source", "system")]).is_some());
    assert!(
        batch.events.is_empty(),
        "no agent_started in once: {:?}",
        batch.events
    );

    let inventory = batch.inventory.expect("inventory in the first batch");
    assert_eq!(inventory.len(), 1);
    assert_eq!(
        inventory[0].component.to_string(),
        "host:0123456789abcdef0123456789abcdef"
    );
    let attrs = &inventory[0].attrs;
    assert_eq!(attrs["hostname"], "fixture-host");
    assert_eq!(attrs["kernel"], "6.1.0-99-amd64");
    assert_eq!(attrs["os"], "Fixture Linux 1.0");
    assert_eq!(
        attrs["cpu_model"],
        "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz"
    );
    assert_eq!(attrs["cpu_count"], "2");
    assert_eq!(attrs["boot_id"], "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
    assert_eq!(
        attrs["memory_total_bytes"],
        (8_000_000u64 * 1024).to_string()
    );
}

#[test]
fn environment_overrides_the_interval() {
    let (out, _dir) = run_once("", &[("HARBINGER_AGENT_INTERVAL", "30s")]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let batch = Batch::decode(stdout(&out).as_bytes(), false, 1 << 24).expect("batch");
    assert_eq!(batch.interval_ms, 30_000);
    let ts = batch.series[0].points[0].ts;
    let phase = harbinger_agent::Identity {
        host_id: batch.agent.host_id.clone(),
        hostname: String::new(),
        labels: Default::default(),
    }
    .phase_ms(30_000) as i64;
    assert_eq!(
        (ts - phase).rem_euclid(30_000),
        0,
        "aligned to interval + host phase"
    );
}

#[test]
fn config_errors_exit_2_and_name_the_key() {
    let (out, _dir) = run_once("interval = \"5ms\"", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("interval: must be at least 10ms"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());

    let (out, _dir) = run_once("intervall = \"10s\"", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("intervall"), "{}", stderr(&out));

    let (out, _dir) = run_once("", &[("HARBINGER_AGENT_INTERVAL", "often")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("HARBINGER_AGENT_INTERVAL"),
        "{}",
        stderr(&out)
    );

    let mut missing = agent();
    missing.args(["once", "--config", "/nonexistent/harbinger/agent.toml"]);
    let out = crate::common::output(&mut missing);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("/nonexistent/harbinger/agent.toml"),
        "{}",
        stderr(&out)
    );
}
