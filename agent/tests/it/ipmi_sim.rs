//! The IPMI source against our simulated BMC (OpenIPMI `ipmi_sim`, config in
//! `agent/tests/ipmi-sim/`) over RMCP+ with the read-only USER account: compared with
//! what `ipmitool` lists, runtime changes seen in the next cycle, a stopped BMC, and
//! the ipmitool and FreeIPMI backends giving the native backend's series and events.
//! (The real-world listings are checked in `ipmi_corpus.rs`.)

use harbinger_agent::collectors::ipmi::config::{Backend, IpmiConfig, LanTarget, PrivilegeName};
use harbinger_agent::collectors::ipmi::text::{ipmitool_sensor, TextReading, TextSensor};
use harbinger_agent::collectors::ipmi::IpmiCollector;
use harbinger_agent::collectors::{Collector, StateDir};
use harbinger_agent::output::{Output, Payload};
use harbinger_shared::Severity;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The simulator is shared: phases that change it must not overlap.
static SIM: Mutex<()> = Mutex::new(());

struct Sim {
    host: String,
    port: u16,
    console: String,
    pid: String,
    user: String,
    password: String,
}

fn sim() -> Option<Sim> {
    let Ok(addr) = std::env::var("HARBINGER_TEST_IPMI_SIM") else {
        eprintln!("SKIPPED: IPMI against ipmi_sim (set HARBINGER_TEST_IPMI_SIM)");
        return None;
    };
    let (host, port) = addr
        .rsplit_once(':')
        .expect("HARBINGER_TEST_IPMI_SIM is host:port");
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
    Some(Sim {
        host: host.to_owned(),
        port: port.parse().expect("numeric port"),
        console: env("HARBINGER_TEST_IPMI_SIM_CONSOLE", "127.0.0.1:9724"),
        pid: env("HARBINGER_TEST_IPMI_SIM_PID", ""),
        user: env("HARBINGER_TEST_IPMI_SIM_USER", "monitor"),
        password: env("HARBINGER_TEST_IPMI_SIM_PASSWORD", "monitor"),
    })
}

impl Sim {
    fn config(&self, interval: Duration) -> IpmiConfig {
        IpmiConfig {
            enabled: true,
            interval,
            local_device: "/nonexistent/ipmi0".into(),
            timeout: Duration::from_millis(400),
            retries: 1,
            lan: vec![LanTarget {
                host: self.host.clone(),
                port: self.port,
                username: self.user.clone(),
                password: self.password.clone(),
                privilege: PrivilegeName::User,
                cipher_suite: None,
                workarounds: Vec::new(),
            }],
            ..IpmiConfig::default()
        }
    }

    /// The same BMC through an external tool. FreeIPMI needs `-W opensesspriv` with
    /// ipmi_sim (see ../shared/ipmi-sim/README.md).
    fn tool_config(&self, backend: Backend, interval: Duration) -> IpmiConfig {
        let mut config = self.config(interval);
        config.backend = backend;
        config.command_timeout = Duration::from_secs(5);
        config.lan[0].cipher_suite = Some(3);
        if backend == Backend::Freeipmi {
            config.lan[0].workarounds = vec!["opensesspriv".into()];
        }
        config
    }

    /// One emulator command through the console, waiting for the prompt each time
    /// (ipmi_sim dies of SIGPIPE otherwise).
    fn cmd(&self, cmd: &str) -> String {
        let mut s = std::net::TcpStream::connect(&self.console).expect("console reachable");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let prompt = |s: &mut std::net::TcpStream| {
            let mut out = Vec::new();
            let mut b = [0u8; 512];
            while !out.ends_with(b"> ") {
                let n = s.read(&mut b).expect("console answers");
                assert!(n > 0, "console closed");
                out.extend_from_slice(&b[..n]);
            }
            String::from_utf8_lossy(&out).replace('\r', "")
        };
        prompt(&mut s);
        s.write_all(b"noecho\n").expect("write");
        prompt(&mut s);
        s.write_all(format!("{cmd}\n").as_bytes()).expect("write");
        let out = prompt(&mut s);
        assert!(!out.contains("**"), "sim command {cmd:?} failed: {out}");
        out
    }

    fn ipmitool_sensor(&self) -> Vec<TextSensor> {
        let out = std::process::Command::new("ipmitool")
            .args(["-I", "lanplus", "-C", "3", "-H", &self.host, "-p"])
            .arg(self.port.to_string())
            .args([
                "-U",
                &self.user,
                "-P",
                &self.password,
                "-L",
                "USER",
                "sensor",
            ])
            .output()
            .expect("ipmitool runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let listing = ipmitool_sensor::parse(&String::from_utf8_lossy(&out.stdout))
            .expect("a sensor listing");
        assert_eq!(listing.skipped.unreadable(), 0, "{:?}", listing.skipped);
        listing.sensors
    }

    fn signal(&self, sig: &str) {
        assert!(
            !self.pid.is_empty(),
            "HARBINGER_TEST_IPMI_SIM_PID is needed to stop the BMC"
        );
        let status = std::process::Command::new("kill")
            .args([sig, &self.pid])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }
}

/// Cycles the collector until `done` accepts the accumulated output, or `limit` passes.
fn collect_until(
    c: &mut IpmiCollector,
    limit: Duration,
    mut done: impl FnMut(&Payload) -> bool,
) -> (Payload, bool) {
    let started = Instant::now();
    let mut ts = 1_000_000;
    loop {
        let mut out = Output::new();
        let _ = c.collect(ts, &mut out);
        ts += 1000;
        let payload = out.finish();
        if done(&payload) {
            return (payload, true);
        }
        if started.elapsed() > limit {
            return (payload, false);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn value(p: &Payload, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    p.series
        .iter()
        .find(|s| {
            s.metric == metric
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .and_then(|s| s.points.last())
        .map(|p| p.value)
}

#[test]
fn sensors_match_ipmitool_and_runtime_changes_arrive_within_one_cycle() {
    let Some(sim) = sim() else { return };
    let _guard = SIM.lock().unwrap_or_else(|e| e.into_inner());
    let state = tempfile::tempdir().expect("tempdir");
    let interval = Duration::from_secs(2);
    let mut c = IpmiCollector::new(sim.config(interval), StateDir::persistent(state.path()));
    let (first, ok) = collect_until(&mut c, Duration::from_secs(15), |p| {
        p.series.iter().any(|s| s.metric == "ipmi_sensor_value")
    });
    assert!(ok, "no sensor values from the simulator: {first:?}");

    for s in first
        .series
        .iter()
        .filter(|s| s.metric.starts_with("ipmi_"))
    {
        assert!(
            harbinger_shared::catalogue::lookup(&s.metric).is_some(),
            "{} is not in the catalogue",
            s.metric
        );
    }
    // Same sensors, values, units, states and thresholds as ipmitool shows, read by the
    // product's own `ipmitool sensor` parser.
    let rows = sim.ipmitool_sensor();
    assert_eq!(rows.len(), 9, "{rows:?}");
    for row in &rows {
        let name = [("name", row.name.as_str())];
        match &row.reading {
            TextReading::Discrete { bits, .. } => {
                let bits = bits.expect("ipmitool sensor prints the state bits");
                assert_eq!(
                    value(
                        &first,
                        "ipmi_sensor_value",
                        &[("name", &row.name), ("unit", "discrete")]
                    ),
                    Some(f64::from(bits)),
                    "{row:?}"
                );
            }
            TextReading::Analog { value: want, unit } => {
                let got = value(
                    &first,
                    "ipmi_sensor_value",
                    &[("name", &row.name), ("unit", unit)],
                )
                .unwrap_or_else(|| panic!("no value for {row:?}"));
                assert!(
                    (got - want).abs() < 0.001,
                    "{}: ours {got}, ipmitool {want}",
                    row.name
                );
                let st = value(&first, "ipmi_sensor_state", &name).expect("state");
                assert_eq!(Some(st as u8), row.state, "{row:?}");
                for label in ipmitool_sensor::THRESHOLD_COLUMNS {
                    let ours = value(
                        &first,
                        "ipmi_sensor_threshold",
                        &[("name", &row.name), ("threshold", label)],
                    );
                    match row.thresholds.iter().find(|(l, _)| *l == label) {
                        Some((_, t)) => assert!(
                            ours.is_some_and(|o| (o - t).abs() < 0.001),
                            "{} {label}: ours {ours:?}, ipmitool {t}",
                            row.name
                        ),
                        None => assert_eq!(ours, None, "{} {label}", row.name),
                    }
                }
            }
        }
    }
    // The seeded SEL is read on first contact, decoded.
    assert!(first.events.iter().any(|e| e
        .attrs
        .get("description")
        .is_some_and(|d| d.starts_with("Correctable ECC"))
        && e.attrs.get("sensor").map(String::as_str) == Some("ECC Mem")));
    assert!(first
        .inventory
        .iter()
        .any(|i| i.attrs.get("firmware").map(String::as_str) == Some("4.17")));

    // A fan dies and an uncorrectable ECC error is logged at runtime. The issue asks
    // for both "within one cycle": the one collection made one interval after the
    // change must carry them (the poll of that interval started after the change).
    sim.cmd("sensor_set_value 0x20 0 0x04 0 1");
    sim.cmd("sel_add 0x20 0x02 0 0 0 0 0x20 0x00 0x04 0x0c 0x07 0x6f 0x01 0xff 0xff");
    let changed = Instant::now();
    std::thread::sleep(interval);
    let mut out = Output::new();
    let collect_started = Instant::now();
    let _ = c.collect(2_000_000, &mut out);
    let waited = collect_started.elapsed();
    let next = out.finish();
    let fan = value(&next, "ipmi_sensor_value", &[("name", "Fan 1A")]);
    let fan_state = value(&next, "ipmi_sensor_state", &[("name", "Fan 1A")]);
    let ecc = next.events.iter().any(|e| {
        e.attrs
            .get("description")
            .is_some_and(|d| d.starts_with("Uncorrectable ECC"))
            && e.severity == Severity::Error
    });
    // Restore before asserting, so a failure leaves the simulator as it was.
    sim.cmd("sensor_set_value 0x20 0 0x04 90 1");
    assert_eq!(
        (fan, fan_state, ecc),
        (Some(0.0), Some(3.0), true),
        "one cycle ({:?} after the change, collect waited {waited:?})",
        changed.elapsed()
    );
    assert!(
        waited < Duration::from_millis(500),
        "collect waited {waited:?}"
    );
}

#[test]
fn a_stopped_bmc_degrades_the_source_without_stalling_the_agent() {
    let Some(sim) = sim() else { return };
    let _guard = SIM.lock().unwrap_or_else(|e| e.into_inner());
    use harbinger_agent::collectors::registry_with_state;
    use harbinger_agent::scheduler::Scheduler;
    let mut config = harbinger_agent::AgentConfig::default();
    config.ipmi = sim.config(Duration::from_secs(2));
    config.smart.enabled = false;
    config.kernel.enabled = false;
    let identity = harbinger_agent::Identity {
        host_id: "h1".into(),
        hostname: "h".into(),
        labels: Default::default(),
    };
    let collectors = registry_with_state(&config, &identity, StateDir::none());
    let mut scheduler = Scheduler::new(collectors, Duration::from_secs(1), &identity);
    let success = |p: &Payload, source: &str| {
        value(p, "harbinger_agent_source_success", &[("source", source)])
    };
    let first = scheduler.cycle(1_000).finish();
    assert_eq!(success(&first, "ipmi"), Some(1.0), "healthy at first");

    struct Cont<'a>(&'a Sim);
    impl Drop for Cont<'_> {
        fn drop(&mut self) {
            self.0.signal("-CONT");
        }
    }
    sim.signal("-STOP");
    let _cont = Cont(&sim);
    let started = Instant::now();
    let mut degraded = false;
    let mut ts = 2_000;
    while started.elapsed() < Duration::from_secs(20) && !degraded {
        let cycle = Instant::now();
        let p = scheduler.cycle(ts).finish();
        ts += 1000;
        // Generous bound: a blocking source would take the BMC's full timeout budget
        // on every cycle; ours returns at once.
        assert!(
            cycle.elapsed() < Duration::from_millis(500),
            "cycle took {:?}",
            cycle.elapsed()
        );
        assert_eq!(
            success(&p, "system"),
            Some(1.0),
            "other sources keep producing"
        );
        assert!(value(&p, "node_load1", &[]).is_some());
        degraded =
            success(&p, "ipmi") == Some(0.0) && value(&p, "ipmi_up", &[]).is_none_or(|v| v == 0.0);
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(degraded, "the IPMI source was not marked degraded");
    drop(_cont);
    // And it recovers once the BMC answers again.
    let started = Instant::now();
    let mut recovered = false;
    while started.elapsed() < Duration::from_secs(20) && !recovered {
        let p = scheduler.cycle(ts).finish();
        ts += 1000;
        recovered = value(&p, "ipmi_up", &[]) == Some(1.0) && success(&p, "ipmi") == Some(1.0);
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(recovered, "the IPMI source did not recover");
}

/// The samples of the IPMI sensor series, by metric and labels, values rounded to the
/// two decimals FreeIPMI prints.
fn sensor_series(p: &Payload) -> BTreeMap<String, i64> {
    p.series
        .iter()
        .filter(|s| s.metric.starts_with("ipmi_sensor_"))
        .filter_map(|s| {
            let v = s.points.last()?.value;
            Some((
                format!("{} {:?}", s.metric, s.labels),
                (v * 100.0).round() as i64,
            ))
        })
        .collect()
}

/// What identifies a SEL event across backends.
fn sel_events(p: &Payload) -> BTreeSet<String> {
    p.events
        .iter()
        .filter(|e| e.kind.as_str() == "ipmi_sel")
        .map(|e| {
            let a = |k: &str| e.attrs.get(k).cloned().unwrap_or_default();
            format!(
                "{} {} {} {} {} {:?} {} reading={} threshold={}",
                e.ts,
                a("record_id"),
                a("sensor"),
                a("sensor_type"),
                a("description"),
                e.severity,
                a("direction"),
                a("reading"),
                a("threshold"),
            )
        })
        .collect()
}

#[test]
fn ipmitool_and_freeipmi_backends_give_the_native_series_and_events() {
    let Some(sim) = sim() else { return };
    let _guard = SIM.lock().unwrap_or_else(|e| e.into_inner());
    let interval = Duration::from_secs(10);
    let first_poll = |config: IpmiConfig| {
        let state = tempfile::tempdir().expect("tempdir");
        let mut c = IpmiCollector::new(config, StateDir::persistent(state.path()));
        let (p, ok) = collect_until(&mut c, Duration::from_secs(20), |p| {
            p.series.iter().any(|s| s.metric == "ipmi_sensor_value")
        });
        assert!(ok, "no sensor values: {p:?}");
        assert_eq!(value(&p, "ipmi_up", &[]), Some(1.0), "{p:?}");
        p
    };
    let native = first_poll(sim.config(interval));
    let want = sensor_series(&native);
    assert!(want.len() > 40, "{want:#?}");
    let want_events = sel_events(&native);
    assert!(want_events.len() >= 2, "{want_events:#?}");
    for backend in [Backend::Ipmitool, Backend::Freeipmi] {
        let tool = if backend == Backend::Ipmitool {
            "ipmitool"
        } else {
            "ipmi-sensors"
        };
        assert!(
            harbinger_agent::exec::resolve(std::path::Path::new(tool)).is_ok(),
            "{tool} not found: install ipmitool and freeipmi-tools (.ci/run does)"
        );
        let p = first_poll(sim.tool_config(backend, interval));
        assert_eq!(sensor_series(&p), want, "{backend:?}: sensor series differ");
        assert_eq!(
            sel_events(&p),
            want_events,
            "{backend:?}: SEL events differ"
        );
        let inventory = |p: &Payload| p.inventory.first().map(|i| i.attrs.clone());
        assert_eq!(
            inventory(&p),
            inventory(&native),
            "{backend:?}: BMC inventory"
        );
        assert_eq!(
            value(&p, "ipmi_sel_entries", &[]),
            value(&native, "ipmi_sel_entries", &[]),
            "{backend:?}"
        );
    }
}
