//! Engine throughput: samples per second through every detector, on one core.
//!
//! `cargo bench -p harbinger-engine --bench throughput -- [hosts] [hours] [points] [runs]`
//! replays `hosts` simulated servers for `hours` of event time at a 10 s interval, with
//! `points` samples per series per batch, and prints the median of `runs` runs. Only the
//! time spent inside `Engine::feed`/`advance` is counted (batches are built outside).
//! Each host sends ~150 series like a real agent: most feed no detector (the engine must
//! skip them cheaply), the rest feed baselines, peers, trends, counters, rates, hard
//! conditions and the multivariate model (which trains after 12 h of event time).

#![allow(clippy::print_stdout)] // printing the measurement is the point

use harbinger_engine::{names, Engine, RulePack};
use harbinger_shared::catalogue::names as cat;
use harbinger_shared::{
    AgentIdentity, Batch, ComponentId, ComponentKind, InventoryItem, Point, Series,
    PROTOCOL_VERSION,
};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const T0: i64 = 1_704_067_200_000;
const STEP: i64 = 10_000;

fn labels(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// The series of one host, with a value function id per series.
fn host_series() -> Vec<(String, BTreeMap<String, String>, u8)> {
    let mut s = Vec::new();
    let mut add =
        |m: &str, l: &[(&str, String)], kind: u8| s.push((m.to_string(), labels(l), kind));
    for cpu in 0..8 {
        for mode in [
            "user", "system", "idle", "iowait", "irq", "softirq", "steal", "nice",
        ] {
            add(
                cat::CPU_SECONDS,
                &[("cpu", cpu.to_string()), ("mode", mode.to_string())],
                0,
            );
        }
    }
    for dev in ["eth0", "eth1"] {
        for m in [
            cat::NET_RX_BYTES,
            cat::NET_TX_BYTES,
            cat::NET_RX_PACKETS,
            cat::NET_TX_PACKETS,
        ] {
            add(m, &[("device", dev.to_string())], 0);
        }
    }
    add(cat::CPU_USAGE, &[("cpu", "total".to_string())], 1);
    add(cat::MEM_USED_RATIO, &[], 2);
    add(cat::LOAD1, &[], 1);
    for d in 0..4 {
        add(cat::DISK_LATENCY, &[("device", format!("sd{d}"))], 3);
        add(
            cat::FS_USED_RATIO,
            &[("mountpoint", format!("/data{d}"))],
            4,
        );
        for attr in ["5", "187", "188", "197", "198"] {
            add(
                names::SMART_ATTRIBUTE_RAW,
                &[
                    ("device_id", format!("WWN{d}")),
                    ("attribute_id", attr.to_string()),
                ],
                5,
            );
        }
        add(names::SMART_STATUS, &[("device_id", format!("WWN{d}"))], 6);
    }
    for t in 0..8 {
        add(
            names::TEMP_CELSIUS,
            &[("chip", "coretemp".into()), ("sensor", format!("temp{t}"))],
            7,
        );
    }
    for f in 1..=6 {
        add(
            names::FAN_RPM,
            &[("chip", "nct".into()), ("sensor", format!("fan{f}"))],
            8,
        );
        add(
            names::PWM_RATIO,
            &[("chip", "nct".into()), ("sensor", format!("pwm{f}"))],
            9,
        );
    }
    for d in 0..8 {
        add(names::EDAC_CE, &[("label", format!("DIMM{d}"))], 5);
        add(names::EDAC_UE, &[("label", format!("DIMM{d}"))], 5);
    }
    for n in 0..10 {
        add(
            names::IPMI_SENSOR_STATE,
            &[("name", format!("S{n}")), ("type", "Temperature".into())],
            5,
        );
    }
    add(
        names::IPMI_SENSOR_VALUE,
        &[("name", "PSU Power".into()), ("type", "Power".into())],
        10,
    );
    s
}

fn value(kind: u8, host: usize, ts: i64, k: u64) -> f64 {
    let hour = ((ts - T0) / 3_600_000) as f64;
    let day = (hour / 24.0 * std::f64::consts::TAU).sin();
    let noise = ((k.wrapping_mul(2_654_435_761) >> 7) % 1000) as f64 / 1000.0;
    match kind {
        0 => (ts - T0) as f64 / 1000.0 * (1.0 + host as f64 * 0.01),
        1 => 0.3 + 0.2 * day + 0.05 * noise,
        2 => 0.5 + 0.02 * noise,
        3 => 0.004 + 0.001 * noise,
        4 => 0.4 + hour * 0.0001,
        5 | 6 => {
            if kind == 6 {
                1.0
            } else {
                0.0
            }
        }
        7 => 45.0 + 10.0 * day + noise,
        8 => 3000.0 + 800.0 * day + 20.0 * noise,
        9 => 0.5 + 0.1 * day,
        _ => 200.0 + 50.0 * day + 5.0 * noise,
    }
}

/// Replays the fleet once; returns (samples, time inside the engine).
fn run(hosts: usize, hours: i64, points: usize) -> (u64, Duration) {
    let mut engine = Engine::new(RulePack::default_pack().expect("default rule pack"));
    let template = host_series();
    let mut batches: Vec<Batch> = (0..hosts)
        .map(|h| Batch {
            protocol_version: PROTOCOL_VERSION,
            agent: AgentIdentity {
                host_id: format!("host-{h:04}"),
                hostname: format!("node{h}"),
                labels: labels(&[("rack", format!("r{}", h / 20)), ("site", "s1".into())]),
                agent_version: "bench".into(),
            },
            seq: 0,
            interval_ms: STEP as u64,
            series: template
                .iter()
                .map(|(m, l, _)| Series {
                    metric: m.clone(),
                    labels: l.clone(),
                    points: vec![Point { ts: 0, value: 0.0 }; points],
                })
                .collect(),
            events: Vec::new(),
            inventory: Some(vec![InventoryItem {
                component: ComponentId::new(ComponentKind::Host, format!("host-{h:04}")),
                attrs: labels(&[("model", "R640".into())]),
            }]),
        })
        .collect();
    let ticks = hours * 3_600_000 / STEP;
    let mut samples = 0u64;
    let mut spent = Duration::ZERO;
    let mut k = 0u64;
    let mut tick = 0;
    while tick < ticks {
        for (h, b) in batches.iter_mut().enumerate() {
            b.seq += 1;
            for (s, (_, _, kind)) in b.series.iter_mut().zip(&template) {
                for (i, p) in s.points.iter_mut().enumerate() {
                    p.ts = T0 + (tick + i as i64) * STEP;
                    k += 1;
                    p.value = value(*kind, h, p.ts, k);
                }
            }
            samples += (b.series.len() * points) as u64;
            let start = Instant::now();
            std::hint::black_box(engine.feed(b));
            spent += start.elapsed();
            b.inventory = None;
        }
        tick += points as i64;
        let start = Instant::now();
        std::hint::black_box(engine.advance(T0 + tick * STEP));
        spent += start.elapsed();
    }
    (samples, spent)
}

fn arg(i: usize, default: i64) -> i64 {
    // `cargo bench` passes `--bench`; skip anything that is not a number.
    std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<i64>().ok())
        .nth(i)
        .unwrap_or(default)
}

fn main() {
    let hosts = arg(0, 20) as usize;
    let hours = arg(1, 14);
    let points = arg(2, 6) as usize;
    let runs = arg(3, 5) as usize;
    let mut rates = Vec::new();
    for r in 0..runs {
        let (samples, spent) = run(hosts, hours, points);
        let rate = samples as f64 / spent.as_secs_f64();
        println!(
            "run {}: {samples} samples in {:.3} s inside the engine = {:.0} samples/s",
            r + 1,
            spent.as_secs_f64(),
            rate
        );
        rates.push(rate);
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "median over {runs} runs ({hosts} hosts, {hours} h at 10 s, {points} points per series per batch, ~{} series per host): {:.0} samples/s",
        host_series().len(),
        rates[rates.len() / 2]
    );
}
