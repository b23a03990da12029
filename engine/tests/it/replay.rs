//! Replay properties over a small simulated fleet: determinism byte for byte, and
//! snapshot/restore equivalence.

use crate::fleet::*;
use harbinger_engine::{names, Engine, RulePack, Snapshot, Transition};
use harbinger_shared::{Batch, ComponentKind};

/// Four days of a 6-host fleet at 5-minute intervals with a nightly backup, a filling
/// filesystem, a degrading disk, an ECC storm and a rack that overheats.
fn fleet() -> Vec<Batch> {
    let mut batches = Vec::new();
    let mut rng = Lcg(42);
    let hosts = ["h0", "h1", "h2", "h3", "h4", "h5"];
    let step = 5 * MIN;
    for k in 0..(4 * DAY / step) {
        let ts = T0 + k * step;
        let minute_of_day = (ts - T0).rem_euclid(DAY) / MIN;
        for (i, h) in hosts.iter().enumerate() {
            let rack = if i < 4 { "r1" } else { "r2" };
            let mut b = B::new(h, &[("rack", rack), ("site", "s1")], k as u64);
            if k == 0 {
                b = b.inventory(vec![
                    (ComponentKind::Host, h, &[("model", "PowerEdge R640")]),
                    (
                        ComponentKind::Disk,
                        "DSK",
                        &[("device", "sda"), ("serial", "DSK")],
                    ),
                ]);
            }
            let backup = (120..190).contains(&minute_of_day);
            let cpu = if backup { 0.85 } else { 0.15 } + 0.05 * rng.next_f64();
            // After the temperature baselines' three-day warm-up.
            let hot = i < 3 && ts > T0 + 3 * DAY + 13 * HOUR;
            let temp = 40.0 + 20.0 * cpu + rng.next_f64() + if hot { 20.0 } else { 0.0 };
            let pwm = if cpu > 0.5 { 0.8 } else { 0.4 };
            let fan = pwm * 5000.0 * if i == 5 { 0.7 } else { 1.0 } + 20.0 * rng.next_f64();
            b = b
                .sample(names::CPU_USAGE, &[("cpu", "total")], ts, cpu)
                .sample(names::MEM_USED_RATIO, &[], ts, 0.5 + 0.01 * rng.next_f64())
                .sample(
                    names::TEMP_CELSIUS,
                    &[("chip", "coretemp"), ("sensor", "temp1")],
                    ts,
                    temp,
                )
                .sample(
                    names::FAN_RPM,
                    &[("chip", "nct"), ("sensor", "fan1")],
                    ts,
                    fan,
                )
                .sample(
                    names::PWM_RATIO,
                    &[("chip", "nct"), ("sensor", "pwm1")],
                    ts,
                    pwm,
                )
                .sample(
                    names::DISK_LATENCY,
                    &[("device", "sda")],
                    ts,
                    0.004 + 0.001 * rng.next_f64(),
                );
            let fs = if i == 1 {
                0.5 + (k as f64) * 0.0012
            } else {
                0.4
            };
            b = b.sample(
                names::FS_USED_RATIO,
                &[("mountpoint", "/var")],
                ts,
                fs.min(1.0),
            );
            if k % 12 == 0 {
                let pending = if i == 2 && ts > T0 + DAY {
                    ((ts - T0 - DAY) / (3 * HOUR)) as f64
                } else {
                    0.0
                };
                b = with_smart(b, "DSK", "197", ts, pending);
                b = with_smart(b, "DSK", "5", ts, if i == 0 { 1.0 } else { 0.0 });
            }
            if i == 3 {
                let ce = if ts > T0 + 30 * HOUR {
                    ((ts - T0 - 30 * HOUR) / MIN) as f64
                } else {
                    0.0
                };
                b = b.sample(names::EDAC_CE, &[("label", "DIMM_A1")], ts, ce);
            }
            batches.push(b.batch);
        }
    }
    batches
}

fn run(engine: &mut Engine, batches: &[Batch]) -> Vec<Transition> {
    let mut out = Vec::new();
    for b in batches {
        out.extend(engine.feed(b));
        if b.agent.host_id == "h5" {
            let ts = b.time_range().map_or(0, |r| r.1);
            out.extend(engine.advance(ts));
        }
    }
    out
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("serialise")
}

#[test]
fn replay_is_deterministic_byte_for_byte() {
    let batches = fleet();
    let a = run(&mut engine(), &batches);
    let b = run(&mut engine(), &batches);
    assert!(a.len() >= 3, "the fleet has problems to find: {a:#?}");
    assert_eq!(json(&a), json(&b));
    let keys: std::collections::BTreeSet<&str> = a.iter().map(|t| t.dedup_key.as_str()).collect();
    for expected in [
        "h5/fan:nct/fan1",
        "h1/filesystem:/var",
        "h3/dimm:DIMM_A1",
        "h2/disk:DSK",
        "place/rack=r1",
    ] {
        assert!(keys.contains(expected), "{keys:?}");
    }
    assert!(
        !keys.contains("h0/disk:DSK"),
        "one stable reallocated sector: {keys:?}"
    );
}

#[test]
fn snapshot_restore_equals_uninterrupted_replay() {
    let batches = fleet();
    let mut whole = engine();
    let all = run(&mut whole, &batches);
    let half = batches.len() / 2 + 7;
    let mut first = engine();
    let mut out = run(&mut first, &batches[..half]);
    let text = json(&first.snapshot());
    let snap: Snapshot = serde_json::from_str(&text).expect("snapshot parses");
    let mut second =
        Engine::restore(RulePack::default_pack().expect("pack"), snap).expect("restore");
    out.extend(run(&mut second, &batches[half..]));
    assert!(!all.is_empty());
    assert_eq!(json(&out), json(&all));
    assert_eq!(json(&second.snapshot()), json(&whole.snapshot()));
}

#[test]
fn a_replayed_batch_changes_nothing() {
    let batches = fleet();
    let mut e = engine();
    let mut out = Vec::new();
    for b in &batches[..600] {
        out.extend(e.feed(b));
    }
    let before = json(&e.snapshot());
    for b in &batches[500..600] {
        assert!(e.feed(b).is_empty());
    }
    // Only liveness bookkeeping could differ; the detector state must not.
    assert_eq!(json(&e.snapshot()), before);
}
