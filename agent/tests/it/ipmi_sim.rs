//! The IPMI source against our simulated BMC (OpenIPMI `ipmi_sim`, config in
//! `agent/tests/ipmi-sim/`) over RMCP+ with the read-only USER account, compared with
//! what `ipmitool` lists; and our sensor conventions cross-checked on real `ipmitool
//! sensor` listings from `$HARBINGER_FIXTURES/ipmi/`.

use harbinger_agent::collectors::ipmi::config::{IpmiConfig, LanTarget, PrivilegeName};
use harbinger_agent::collectors::ipmi::sensors::{state_word, threshold_state};
use harbinger_agent::collectors::ipmi::IpmiCollector;
use harbinger_agent::collectors::{Collector, StateDir};
use harbinger_agent::output::{Output, Payload};
use harbinger_shared::Severity;
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
            }],
        }
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

    fn ipmitool_sensor(&self) -> Vec<Row> {
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
        parse_listing(&String::from_utf8_lossy(&out.stdout))
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

/// One row of `ipmitool sensor`.
#[derive(Debug, Clone)]
struct Row {
    name: String,
    value: String,
    unit: String,
    status: String,
    /// lnr, lc, lnc, unc, uc, unr.
    thresholds: [Option<f64>; 6],
}

const THRESHOLD_NAMES: [&str; 6] = ["lnr", "lc", "lnc", "unc", "uc", "unr"];

fn parse_listing(text: &str) -> Vec<Row> {
    text.lines()
        .filter(|l| l.contains('|'))
        .map(|line| {
            let cols: Vec<&str> = line.split('|').map(str::trim).collect();
            assert_eq!(
                cols.len(),
                10,
                "ipmitool sensor rows have 10 columns: {line:?}"
            );
            let t = |i: usize| cols[4 + i].parse::<f64>().ok();
            Row {
                name: cols[0].to_owned(),
                value: cols[1].to_owned(),
                unit: cols[2].to_owned(),
                status: cols[3].to_owned(),
                thresholds: [t(0), t(1), t(2), t(3), t(4), t(5)],
            }
        })
        .collect()
}

/// ipmitool's unit words → our `unit` label.
fn our_unit(ipmitool: &str) -> Option<&'static str> {
    Some(match ipmitool {
        "degrees C" => "celsius",
        "Volts" => "volts",
        "RPM" => "rpm",
        "Watts" => "watts",
        "Amps" => "amperes",
        "percent" => "percent",
        "unspecified" => "unspecified",
        "discrete" => "discrete",
        _ => return None,
    })
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
fn sensors_match_ipmitool_and_runtime_changes_arrive_within_one_poll() {
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
    // Same sensors, values, units, states and thresholds as ipmitool shows.
    let rows = sim.ipmitool_sensor();
    assert!(rows.len() >= 9, "{rows:?}");
    for row in &rows {
        let unit = our_unit(&row.unit).expect("known unit");
        let name = [("name", row.name.as_str())];
        if unit == "discrete" {
            let bits = u16::from_str_radix(row.value.trim_start_matches("0x"), 16).expect("hex");
            assert_eq!(
                value(
                    &first,
                    "ipmi_sensor_value",
                    &[("name", &row.name), ("unit", "discrete")]
                ),
                Some(f64::from(bits)),
                "{row:?}"
            );
            continue;
        }
        let want: f64 = row.value.parse().expect("numeric reading");
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
        assert_eq!(state_word(st as u8), row.status, "{row:?}");
        for (i, t) in row.thresholds.iter().enumerate() {
            let ours = value(
                &first,
                "ipmi_sensor_threshold",
                &[("name", &row.name), ("threshold", THRESHOLD_NAMES[i])],
            );
            match t {
                Some(t) => assert!(
                    ours.is_some_and(|o| (o - t).abs() < 0.001),
                    "{} {}: ours {ours:?}, ipmitool {t}",
                    row.name,
                    THRESHOLD_NAMES[i]
                ),
                None => assert_eq!(ours, None, "{} {}", row.name, THRESHOLD_NAMES[i]),
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

    // A fan dies and an uncorrectable ECC error is logged at runtime.
    sim.cmd("sensor_set_value 0x20 0 0x04 0 1");
    sim.cmd("sel_add 0x20 0x02 0 0 0 0 0x20 0x00 0x04 0x0c 0x07 0x6f 0x01 0xff 0xff");
    let changed = Instant::now();
    let mut fan_seen = false;
    let mut ecc_seen = false;
    let (_, ok) = collect_until(&mut c, interval * 3, |p| {
        if value(p, "ipmi_sensor_value", &[("name", "Fan 1A")]) == Some(0.0) {
            assert_eq!(
                value(p, "ipmi_sensor_state", &[("name", "Fan 1A")]),
                Some(3.0)
            );
            fan_seen = true;
        }
        ecc_seen |= p.events.iter().any(|e| {
            e.attrs
                .get("description")
                .is_some_and(|d| d.starts_with("Uncorrectable ECC"))
                && e.severity == Severity::Error
        });
        fan_seen && ecc_seen
    });
    // Restore before asserting, so a failure leaves the simulator as it was.
    sim.cmd("sensor_set_value 0x20 0 0x04 90 1");
    assert!(
        ok,
        "fan {fan_seen}, ECC event {ecc_seen} after {:?}",
        changed.elapsed()
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

#[test]
fn real_ipmitool_listings_agree_with_our_state_and_unit_conventions() {
    let Ok(dir) = std::env::var("HARBINGER_FIXTURES") else {
        eprintln!("SKIPPED: IPMI listings conformance (set HARBINGER_FIXTURES)");
        return;
    };
    let dir = std::path::Path::new(&dir).join("ipmi");
    let mut files = 0;
    let mut rows_checked = 0;
    let mut nr_fans = 0;
    for entry in std::fs::read_dir(&dir).expect("fixtures/ipmi") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if !name.starts_with("ipmitool-sensor-") {
            continue;
        }
        files += 1;
        let rows = parse_listing(&std::fs::read_to_string(&path).expect("readable"));
        assert!(!rows.is_empty(), "{name}");
        for row in rows {
            // Absent sensors ("na", no unit) are the readings we leave out.
            if row.value == "na" {
                assert_eq!(row.status, "na", "{name}: {row:?}");
                continue;
            }
            assert!(our_unit(&row.unit).is_some(), "{name}: unit {:?}", row.unit);
            let Ok(v) = row.value.parse::<f64>() else {
                continue;
            };
            if !matches!(row.status.as_str(), "ok" | "nc" | "cr" | "nr") {
                continue;
            }
            // The comparison bits a BMC would report for this value (at or beyond).
            let [lnr, lc, lnc, unc, uc, unr] = row.thresholds;
            let below = |t: Option<f64>| t.is_some_and(|t| v <= t);
            let above = |t: Option<f64>| t.is_some_and(|t| v >= t);
            let bits = u8::from(below(lnc))
                | u8::from(below(lc)) << 1
                | u8::from(below(lnr)) << 2
                | u8::from(above(unc)) << 3
                | u8::from(above(uc)) << 4
                | u8::from(above(unr)) << 5;
            assert_eq!(
                state_word(threshold_state(bits)),
                row.status,
                "{name}: {row:?}"
            );
            rows_checked += 1;
            if row.unit == "RPM" && row.status == "nr" {
                nr_fans += 1;
            }
        }
    }
    assert!(files >= 5, "{files} listings");
    assert!(rows_checked > 150, "{rows_checked} rows");
    // The README's failing listing: fans in state nr (0 RPM, and above UNR).
    assert!(nr_fans >= 5, "{nr_fans} non-recoverable fans");
}
