//! Generator properties: determinism, valid and aligned batches, workload realism, bench mode.

use crate::common::{all_failures, small_spec, Index};
use harbinger_shared::catalogue::names as sys;
use harbinger_sim::plan::site_offset_ms;
use harbinger_sim::rng::fnv1a;
use harbinger_sim::{jsonl, FailureRates, Fleet, FleetSpec, PlannedRates};
use std::collections::{BTreeMap, BTreeSet};

fn bytes(spec: &FleetSpec) -> Vec<u8> {
    let fleet = Fleet::new(spec).expect("valid spec");
    let mut out = Vec::new();
    jsonl::write(fleet, &mut out).expect("write to memory");
    out
}

#[test]
fn same_seed_gives_identical_bytes_and_another_seed_does_not() {
    let spec = small_spec(6, 1.5, 42);
    let first = bytes(&spec);
    assert!(first.len() > 10_000);
    assert_eq!(first, bytes(&spec), "same seed must give the same bytes");
    let truth =
        |s: &FleetSpec| serde_json::to_vec(Fleet::new(s).expect("spec").truth()).expect("json");
    assert_eq!(truth(&spec), truth(&spec));
    let other = FleetSpec { seed: 43, ..spec };
    assert_ne!(first, bytes(&other));
}

#[test]
fn jsonl_reads_back_what_it_wrote() {
    let spec = small_spec(3, 0.5, 5);
    let data = bytes(&spec);
    let back: Vec<_> = jsonl::read(&data[..])
        .collect::<Result<_, _>>()
        .expect("read back");
    let again: Vec<_> = Fleet::new(&spec).expect("spec").collect();
    assert_eq!(back.len(), again.len());
    // serde_json's default float parser may differ from the printed value in the last bit.
    for (b, a) in back.iter().zip(&again) {
        assert_eq!(
            (&b.agent, b.seq, &b.events, &b.inventory),
            (&a.agent, a.seq, &a.events, &a.inventory)
        );
        assert_eq!(b.series.len(), a.series.len());
        for (sb, sa) in b.series.iter().zip(&a.series) {
            assert_eq!(
                (&sb.metric, &sb.labels, sb.points.len()),
                (&sa.metric, &sa.labels, sa.points.len())
            );
            for (pb, pa) in sb.points.iter().zip(&sa.points) {
                assert_eq!(pb.ts, pa.ts);
                assert!(
                    (pb.value - pa.value).abs() <= 1e-12 * pa.value.abs().max(1.0),
                    "{} {pb:?} {pa:?}",
                    sa.metric
                );
            }
        }
    }
    let err = jsonl::read(&b"{\"protocol_version\":1}\n"[..])
        .next()
        .expect("one line")
        .expect_err("not a batch");
    assert!(err.to_string().starts_with("line 1:"), "{err}");
}

#[test]
fn batches_are_valid_aligned_monotonic_and_in_event_time_order() {
    let mut spec = all_failures(small_spec(8, 3.0, 7));
    spec.failures.host_lost = 0.3;
    spec.failures.stable_reallocated = 1.0;
    spec.planned = PlannedRates {
        maintenance: 1.0,
        firmware_update: 1.0,
    };
    let start = spec.aligned_start_ms();
    let interval = spec.interval_ms as i64;
    let window = interval * i64::from(spec.batch_intervals);
    let mut last_ts: BTreeMap<(String, String, String), i64> = BTreeMap::new();
    let mut last_seq: BTreeMap<String, u64> = BTreeMap::new();
    let mut last_window = i64::MIN;
    let mut batches = 0;
    for batch in Fleet::new(&spec).expect("spec") {
        batches += 1;
        batch
            .validate()
            .expect("every batch passes Batch::validate");
        let host = batch.agent.host_id.clone();
        let phase = (fnv1a(host.as_bytes()) % spec.interval_ms) as i64;
        let seq = last_seq.entry(host.clone()).or_insert(0);
        assert!(batch.seq > *seq, "seq must increase on {host}");
        *seq = batch.seq;
        let (lo, hi) = batch.time_range().expect("batch has data");
        assert!(
            lo >= start && hi < spec.end_ms() + interval,
            "{lo}..{hi} outside the run"
        );
        let first_sample = batch
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.ts))
            .min()
            .expect("samples");
        let this_window = (first_sample - start) / window;
        assert!(
            this_window >= last_window,
            "batches must come in window order"
        );
        last_window = this_window;
        for s in &batch.series {
            let key = (host.clone(), s.metric.clone(), format!("{:?}", s.labels));
            for p in &s.points {
                assert_eq!(
                    (p.ts - start).rem_euclid(interval),
                    phase,
                    "{} not aligned on {host}",
                    s.metric
                );
                let last = last_ts.entry(key.clone()).or_insert(i64::MIN);
                assert!(p.ts > *last, "{} goes back in time on {host}", s.metric);
                *last = p.ts;
            }
        }
    }
    assert!(batches > 8 * 24, "{batches}");
}

#[test]
fn nightly_backup_raises_cpu_and_disk_latency_at_night() {
    let mut spec = small_spec(6, 3.0, 11);
    spec.failures = FailureRates::none();
    spec.planned.maintenance = 0.0;
    let fleet = Fleet::new(&spec).expect("spec");
    let hosts = fleet.truth().hosts.clone();
    let index = Index::build(fleet, |m| m == sys::CPU_USAGE || m == sys::DISK_LATENCY);
    for host in &hosts {
        let offset = site_offset_ms(&host.site);
        let hour_of = |ts: i64| ((ts + offset).rem_euclid(86_400_000) / 3_600_000) as usize;
        // Mean CPU per local half-hour of night, against 05:00–06:00, when nothing runs.
        let cpu = index.one(&host.host_id, sys::CPU_USAGE, &[("cpu", "total")]);
        let mut night: BTreeMap<i64, (f64, f64)> = BTreeMap::new();
        let mut dawn = (0.0, 0.0);
        for p in cpu {
            let local = (p.ts + offset).rem_euclid(86_400_000);
            if local < 5 * 3_600_000 {
                let slot = night.entry(local / 1_800_000).or_default();
                *slot = (slot.0 + p.value, slot.1 + 1.0);
            } else if hour_of(p.ts) == 5 {
                dawn = (dawn.0 + p.value, dawn.1 + 1.0);
            }
        }
        let dawn = dawn.0 / dawn.1;
        let peak = night.values().map(|(s, n)| s / n).fold(0.0, f64::max);
        assert!(
            peak > dawn + 0.15,
            "{}: night peak {peak:.3} vs dawn {dawn:.3}",
            host.hostname
        );
        let latency = index.find(&host.host_id, sys::DISK_LATENCY, &[("device", "sdb")]);
        if let Some(latency) = latency.first() {
            let mean = |h: usize| {
                let v: Vec<f64> = latency
                    .iter()
                    .filter(|p| hour_of(p.ts) == h)
                    .map(|p| p.value)
                    .collect();
                v.iter().sum::<f64>() / v.len() as f64
            };
            let night_peak = (0..5).map(mean).fold(0.0, f64::max);
            assert!(
                night_peak > mean(5) * 1.3,
                "{}: backup must slow the disks ({night_peak} vs {})",
                host.hostname,
                mean(5)
            );
        }
    }
}

#[test]
fn bench_mode_pads_every_host_to_the_exact_series_count() {
    let mut spec = small_spec(8, 0.5, 3);
    spec.failures = FailureRates::none();
    spec.planned.maintenance = 0.0;
    spec.series_per_host = Some(325);
    let fleet = Fleet::new(&spec).expect("bench spec");
    assert!(fleet.series_per_host().iter().all(|(_, n)| *n == 325));
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for batch in fleet {
        let set = seen.entry(batch.agent.host_id.clone()).or_default();
        for s in &batch.series {
            set.insert(format!("{}{:?}", s.metric, s.labels));
        }
    }
    assert_eq!(seen.len(), 8);
    for (host, series) in seen {
        assert_eq!(series.len(), 325, "{host}");
    }
    spec.series_per_host = Some(20);
    let err = Fleet::new(&spec).expect_err("too few");
    assert!(
        err.to_string()
            .starts_with("fleet.series_per_host: 20 is fewer than"),
        "{err}"
    );
}
