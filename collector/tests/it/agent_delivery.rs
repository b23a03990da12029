//! The real `harbinger-agent` binary against real collectors in this process: nothing
//! the agent spooled is lost or stored twice through a collector outage (with an agent
//! restart in the middle), a loop of SIGKILLs, a tiny spool, a collector that refuses
//! old data for good, and a fail-over between two collectors and back.
//!
//! The agent runs at a 50 ms interval on the agent's fixture tree and logs each cycle
//! it appended to its spool (`payload spooled ts=…`, debug level); the tests compare
//! those timestamps with what the collectors stored. They need the agent binary next
//! to the collector's (`cargo build -p harbinger-agent`).

use super::{eventually, now_ms, test_config};
use harbinger_collector::config::CollectorConfig;
use harbinger_collector::duration::HumanDuration;
use harbinger_collector::store::BatchFilter;
use harbinger_collector::LaunchError;
use harbinger_shared::Batch;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const HOST_ID: &str = "agent-delivery-host";
/// The series every cycle carries exactly one point of.
const PROBE_METRIC: &str = "harbinger_agent_source_success";

fn agent_binary() -> PathBuf {
    let path =
        Path::new(env!("CARGO_BIN_EXE_harbinger-collector")).with_file_name("harbinger-agent");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p harbinger-agent` first",
        path.display()
    );
    path
}

fn fixture_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../agent/tests/fixtures/host-a")
}

/// A port that was free a moment ago, for listeners that must outlive a restart.
fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

/// A collector on a fixed address, so that it can be stopped and started again there.
struct Collector {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), LaunchError>>,
}

async fn start_collector(config: &CollectorConfig, addr: SocketAddr) -> Collector {
    let mut config = config.clone();
    config.listen = addr.to_string();
    let listener = eventually("the collector's port is free again", || async {
        TcpListener::bind(addr).await.ok()
    })
    .await;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(harbinger_collector::launch_with_listener(
        config,
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    let client = reqwest::Client::new();
    eventually("the collector is ready", || async {
        match client.get(format!("http://{addr}/readyz")).send().await {
            Ok(r) if r.status().is_success() => Some(()),
            _ => None,
        }
    })
    .await;
    Collector { stop, task }
}

impl Collector {
    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .expect("collector stops in time")
            .expect("collector task")
            .expect("collector stopped cleanly");
    }
}

/// Every batch a collector stored for the test host, in sequence order.
async fn stored(config: &CollectorConfig) -> Vec<Batch> {
    let store = harbinger_collector::store::open(&config.database_url())
        .await
        .expect("open the collector's store");
    store
        .load_batches(&BatchFilter {
            host_id: Some(HOST_ID.into()),
            from_ms: 0,
            to_ms: i64::MAX,
            after: None,
            limit: 1_000_000,
        })
        .await
        .expect("load batches")
}

/// A running agent process and what it logged.
struct Agent {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    metrics: SocketAddr,
}

struct AgentSetup {
    dir: PathBuf,
    metrics: SocketAddr,
}

impl AgentSetup {
    /// Writes the agent's config into `dir`: 50 ms cycles, fast retries, `extra` TOML
    /// appended at the top level (before any table).
    fn new(dir: &Path, urls: &[SocketAddr], top: &str, tables: &str) -> Self {
        let root = fixture_root();
        let metrics = free_addr();
        let urls: Vec<String> = urls.iter().map(|a| format!("\"http://{a}\"")).collect();
        let toml = format!(
            r#"collector_urls = [{urls}]
interval = "50ms"
state_dir = "{state}"
host_id = "{HOST_ID}"
{top}
[paths]
procfs = "{proc}"
sysfs = "{sys}"
rootfs = "{rootfs}"
[shipper]
backoff_initial = "20ms"
backoff_max = "200ms"
flush_timeout = "2s"
max_batch_records = 100
failback_interval = "1s"
[metrics]
listen = "{metrics}"
{tables}
"#,
            urls = urls.join(", "),
            state = dir.join("state").display(),
            proc = root.join("proc").display(),
            sys = root.join("sys").display(),
            rootfs = root.join("root").display(),
        );
        std::fs::write(dir.join("agent.toml"), toml).expect("write agent config");
        Self {
            dir: dir.to_owned(),
            metrics,
        }
    }

    fn start(&self) -> Agent {
        let mut child = Command::new(agent_binary())
            .arg("run")
            .arg("--config")
            .arg(self.dir.join("agent.toml"))
            .env("RUST_LOG", "info,harbinger_agent::queue=debug")
            .env_remove("HARBINGER_AGENT_COLLECTOR_URL")
            .env_remove("HARBINGER_AGENT_INTERVAL")
            .env_remove("HARBINGER_AGENT_STATE_DIR")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the agent");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("log lock").push(line);
            }
        });
        Agent {
            child,
            log,
            metrics: self.metrics,
        }
    }
}

impl Agent {
    /// Timestamps of the cycles this agent appended to its spool.
    fn spooled(&self) -> Vec<i64> {
        self.log
            .lock()
            .expect("log lock")
            .iter()
            .filter(|l| l.contains("payload spooled"))
            .filter_map(|l| {
                let rest = l.split(" ts=").nth(1)?;
                rest.split_whitespace().next()?.parse().ok()
            })
            .collect()
    }

    async fn wait_spooled(&self, n: usize) {
        eventually(&format!("the agent spooled {n} cycles"), || async {
            (self.spooled().len() >= n).then_some(())
        })
        .await;
    }

    /// One value of the agent's own `/metrics`.
    async fn metric(&self, name: &str) -> Option<f64> {
        let text = reqwest::get(format!("http://{}/metrics", self.metrics))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    }

    async fn wait_drained(&self) {
        eventually("the agent's spool is drained", || async {
            (self.metric("harbinger_agent_spool_pending_records").await? == 0.0).then_some(())
        })
        .await;
    }

    /// SIGTERM and wait: a graceful stop.
    fn terminate(mut self) -> Vec<i64> {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        let exit = self.child.wait().expect("agent exits");
        assert!(exit.success(), "agent exit {exit:?}: {}", self.log_text());
        self.spooled()
    }

    /// SIGKILL and wait.
    fn kill(mut self) -> Vec<i64> {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
        // Let the reader thread see the pipe close.
        std::thread::sleep(Duration::from_millis(20));
        self.spooled()
    }

    fn log_text(&self) -> String {
        self.log.lock().expect("log lock").join("\n")
    }
}

/// Per series (metric + labels), its timestamps in sequence order across `batches`.
fn timelines(batches: &[Batch]) -> BTreeMap<String, Vec<i64>> {
    let mut sorted: Vec<&Batch> = batches.iter().collect();
    sorted.sort_by_key(|b| b.seq);
    let mut out: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for batch in sorted {
        for series in &batch.series {
            let key = format!("{}{:?}", series.metric, series.labels);
            out.entry(key)
                .or_default()
                .extend(series.points.iter().map(|p| p.ts));
        }
    }
    out
}

/// No series has a repeated or out-of-order point, no event arrived twice, and the
/// probe series holds every spooled cycle in `expected`. With `strict`, nothing else:
/// a SIGKILL between an append and its log line leaves a cycle stored but not logged.
fn assert_exactly_once(batches: &[Batch], expected: &BTreeSet<i64>, strict: bool) {
    let seqs: BTreeSet<u64> = batches.iter().map(|b| b.seq).collect();
    assert_eq!(seqs.len(), batches.len(), "a sequence number stored twice");
    for (series, ts) in timelines(batches) {
        assert!(
            ts.windows(2).all(|w| w[0] < w[1]),
            "{series}: points out of order or repeated: {ts:?}"
        );
    }
    let mut events = BTreeSet::new();
    for batch in batches {
        for event in &batch.events {
            let key = (
                event.ts,
                event.kind.as_str().to_owned(),
                event.message.clone(),
            );
            assert!(events.insert(key), "event stored twice: {event:?}");
        }
    }
    let probe: BTreeSet<i64> = timelines(batches)
        .into_iter()
        .filter(|(k, _)| k.starts_with(PROBE_METRIC) && k.contains("\"system\""))
        .flat_map(|(_, ts)| ts)
        .collect();
    let missing: Vec<_> = expected.difference(&probe).collect();
    assert!(missing.is_empty(), "spooled but never stored: {missing:?}");
    if strict {
        let unexpected: Vec<_> = probe.difference(expected).collect();
        assert!(
            unexpected.is_empty(),
            "stored but never spooled: {unexpected:?}"
        );
    }
}

fn events_of<'a>(batches: &'a [Batch], kind: &str) -> Vec<&'a harbinger_shared::Event> {
    batches
        .iter()
        .flat_map(|b| b.events.iter())
        .filter(|e| e.kind.as_str() == kind)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_with_an_agent_restart_in_the_middle_loses_and_repeats_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = test_config(&dir.path().join("collector"));
    let addr = free_addr();
    let collector = start_collector(&config, addr).await;
    let setup = AgentSetup::new(dir.path(), &[addr], "", "");

    let agent = setup.start();
    agent.wait_spooled(10).await;
    agent.wait_drained().await;
    collector.stop().await;
    // The outage: ~120 cycles, a restart, ~120 more, all spooled while nobody listens.
    let before = agent.spooled().len();
    agent.wait_spooled(before + 120).await;
    let mut expected: BTreeSet<i64> = agent.terminate().into_iter().collect();
    let agent = setup.start();
    agent.wait_spooled(120).await;
    let pending = agent
        .metric("harbinger_agent_spool_pending_records")
        .await
        .expect("metrics answer");
    assert!(pending >= 200.0, "the backlog is on disk: {pending}");

    let collector = start_collector(&config, addr).await;
    agent.wait_drained().await;
    expected.extend(agent.terminate());
    collector.stop().await;

    let batches = stored(&config).await;
    assert!(expected.len() >= 250, "{}", expected.len());
    assert_exactly_once(&batches, &expected, true);
    assert_eq!(
        events_of(&batches, "agent_started").len(),
        2,
        "one start per run"
    );
    assert!(
        batches.len() < expected.len() / 2,
        "the backlog was replayed in merged batches ({} batches for {} cycles)",
        batches.len(),
        expected.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_loses_nothing_spooled_and_sends_nothing_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = test_config(&dir.path().join("collector"));
    let addr = free_addr();
    let mut collector = Some(start_collector(&config, addr).await);
    let setup = AgentSetup::new(dir.path(), &[addr], "", "[spool]\nfsync = false\n");
    let mut rng = fastrand::Rng::with_seed(now_ms() as u64);
    let mut expected = BTreeSet::new();
    for round in 0..16 {
        // Half of the rounds with the collector away, so kills also hit a backlog.
        if round % 4 == 2 {
            if let Some(c) = collector.take() {
                c.stop().await;
            }
        } else if collector.is_none() {
            collector = Some(start_collector(&config, addr).await);
        }
        let agent = setup.start();
        agent.wait_spooled(2).await;
        tokio::time::sleep(Duration::from_millis(rng.u64(0..400))).await;
        expected.extend(agent.kill());
    }
    if collector.is_none() {
        collector = Some(start_collector(&config, addr).await);
    }
    let agent = setup.start();
    agent.wait_spooled(5).await;
    agent.wait_drained().await;
    let log = agent.log_text();
    expected.extend(agent.terminate());
    if let Some(c) = collector {
        c.stop().await;
    }
    assert!(
        !log.contains("ERROR"),
        "the spool recovered by itself:\n{log}"
    );
    let quarantine = dir.path().join("state/quarantine");
    assert!(
        !quarantine.exists(),
        "nothing corrupt was sent (no refusals)"
    );
    assert_exactly_once(&stored(&config).await, &expected, false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_spool_drops_oldest_keeps_running_and_reports_the_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = test_config(&dir.path().join("collector"));
    let addr = free_addr();
    let setup = AgentSetup::new(
        dir.path(),
        &[addr],
        "",
        "[spool]\nmax_bytes = 16384\nsegment_bytes = 4096\nwhen_full = \"drop_oldest\"\n",
    );
    // The collector is not there yet: the spool fills and has to drop.
    let agent = setup.start();
    eventually("the agent drops data", || async {
        (agent
            .metric("harbinger_agent_spool_dropped_records_total")
            .await?
            > 0.0)
            .then_some(())
    })
    .await;
    let bytes = agent
        .metric("harbinger_agent_spool_bytes")
        .await
        .expect("metric");
    assert!(bytes <= 16384.0, "the cap holds: {bytes}");
    let collector = start_collector(&config, addr).await;
    let started = now_ms();
    agent.wait_drained().await;
    let dropped = agent
        .metric("harbinger_agent_spool_dropped_records_total")
        .await
        .expect("metric");
    // The report rides with the first cycle appended after the spool has room.
    let before = agent.spooled().len();
    agent.wait_spooled(before + 3).await;
    agent.wait_drained().await;
    agent.terminate();
    collector.stop().await;

    let batches = stored(&config).await;
    let reported: f64 = events_of(&batches, "spool_dropped")
        .iter()
        .map(|e| e.attrs["dropped"].parse::<f64>().expect("count"))
        .sum();
    assert!(reported >= 1.0, "a spool_dropped event arrived");
    assert_eq!(reported, dropped, "the reported count is the agent's count");
    let probe = timelines(&batches)
        .into_iter()
        .find(|(k, _)| k.starts_with(PROBE_METRIC))
        .map(|(_, ts)| ts)
        .expect("samples arrived");
    assert!(probe.windows(2).all(|w| w[0] < w[1]), "no repeats");
    assert!(
        probe.iter().any(|&ts| ts > started),
        "the agent kept collecting"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_refusal_is_quarantined_and_reported_while_later_batches_flow() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = test_config(&dir.path().join("collector"));
    // Data older than 2 s is refused for good (400 too_old): the backlog of a short
    // outage becomes permanently unacceptable.
    config.ingest.history_horizon = HumanDuration::from_secs(2);
    config.ingest.hot_window = HumanDuration::from_secs(1);
    let addr = free_addr();
    let setup = AgentSetup::new(dir.path(), &[addr], "", "");
    let agent = setup.start();
    agent.wait_spooled(60).await;
    let collector = start_collector(&config, addr).await;
    let back = now_ms();
    agent.wait_drained().await;
    let before = agent.spooled().len();
    agent.wait_spooled(before + 5).await;
    agent.wait_drained().await;
    let quarantined = agent
        .metric("harbinger_agent_batches_quarantined_total")
        .await
        .expect("metric");
    agent.terminate();
    collector.stop().await;

    assert!(quarantined >= 1.0, "{quarantined}");
    let kept = std::fs::read_dir(dir.path().join("state/quarantine"))
        .expect("quarantine directory")
        .count();
    assert!(kept >= 2, "body and reason kept: {kept}");
    let batches = stored(&config).await;
    let reports = events_of(&batches, "batch_quarantined");
    // Every report that arrived names a distinct refused batch, and none is invented.
    // Equality with the agent's counter is not asserted: with a 2 s horizon on a loaded
    // machine, the batch carrying the last reports may itself arrive too old and be
    // refused in turn, and that is the behaviour under test, not a loss.
    let mut refused: Vec<&str> = reports
        .iter()
        .map(|e| e.attrs.get("seq").map(String::as_str).unwrap_or_default())
        .collect();
    let count = refused.len();
    refused.sort_unstable();
    refused.dedup();
    assert_eq!(
        refused.len(),
        count,
        "each refusal reported once: {refused:?}"
    );
    assert!(
        !reports.is_empty() && count as f64 <= quarantined,
        "{count} reports for {quarantined} refusals"
    );
    assert!(
        reports[0].message.contains("too_old"),
        "{}",
        reports[0].message
    );
    let probe = timelines(&batches)
        .into_iter()
        .find(|(k, _)| k.starts_with(PROBE_METRIC))
        .map(|(_, ts)| ts)
        .expect("later samples arrived");
    assert!(
        probe.iter().any(|&ts| ts > back),
        "fresh data flows after the refusal"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_over_to_the_second_collector_and_back_loses_and_repeats_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config_a = test_config(&dir.path().join("collector-a"));
    let config_b = test_config(&dir.path().join("collector-b"));
    let (addr_a, addr_b) = (free_addr(), free_addr());
    let a = start_collector(&config_a, addr_a).await;
    let b = start_collector(&config_b, addr_b).await;
    let setup = AgentSetup::new(dir.path(), &[addr_a, addr_b], "", "");
    let agent = setup.start();
    agent.wait_spooled(10).await;
    agent.wait_drained().await;

    a.stop().await;
    let failed_over = now_ms();
    let before = agent.spooled().len();
    agent.wait_spooled(before + 30).await;
    agent.wait_drained().await;

    let a = start_collector(&config_a, addr_a).await;
    let a_back = now_ms();
    // The fail-back interval is 1 s: give it time, then some more cycles.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = agent.spooled().len();
    agent.wait_spooled(before + 10).await;
    agent.wait_drained().await;
    let expected: BTreeSet<i64> = agent.terminate().into_iter().collect();
    a.stop().await;
    b.stop().await;

    let on_a = stored(&config_a).await;
    let on_b = stored(&config_b).await;
    let b_probe: Vec<i64> = timelines(&on_b)
        .into_iter()
        .filter(|(k, _)| k.starts_with(PROBE_METRIC))
        .flat_map(|(_, ts)| ts)
        .collect();
    assert!(
        !b_probe.is_empty(),
        "the fallback got the data while A was away"
    );
    assert!(
        b_probe.iter().all(|&ts| ts >= failed_over - 1_000),
        "B only while A was away"
    );
    let a_probe: Vec<i64> = timelines(&on_a)
        .into_iter()
        .filter(|(k, _)| k.starts_with(PROBE_METRIC))
        .flat_map(|(_, ts)| ts)
        .collect();
    assert!(
        a_probe.iter().any(|&ts| ts > a_back + 1_000),
        "back on the preferred collector after the fail-back interval"
    );
    let mut both = on_a;
    both.extend(on_b);
    assert_exactly_once(&both, &expected, true);
}
