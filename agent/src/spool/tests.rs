//! Unit tests of the spool: lanes, ordering, acknowledgement, the full-spool policies
//! and the ledger of the batch in flight. Crash recovery at every byte offset is in
//! `tests/it/spool_crash.rs`.

use super::*;
use harbinger_shared::Point;

fn host() -> ComponentId {
    ComponentId::new(harbinger_shared::ComponentKind::Host, "h1")
}

fn config(max_bytes: u64, when_full: WhenFull) -> SpoolConfig {
    SpoolConfig {
        max_bytes,
        segment_bytes: 4096,
        when_full,
        fsync: false,
    }
}

/// A cycle with one sample at `ts` (with `pad` bytes of label to control the size) and
/// optionally a hardware event.
fn cycle(ts: i64, pad: usize, hardware: bool) -> Payload {
    let mut labels = BTreeMap::new();
    // Pseudo-random padding so that zstd cannot shrink it away.
    let mut rng = fastrand::Rng::with_seed(ts as u64);
    labels.insert(
        "pad".to_owned(),
        (0..pad).map(|_| rng.alphanumeric()).collect::<String>(),
    );
    let events = if hardware {
        vec![Event {
            ts,
            kind: EventKind::new(EventKind::EDAC_CORRECTABLE),
            severity: Severity::Warning,
            component: None,
            message: format!("ce at {ts}"),
            attrs: BTreeMap::new(),
        }]
    } else {
        Vec::new()
    };
    Payload {
        series: vec![Series {
            metric: "node_load1".into(),
            labels,
            points: vec![Point { ts, value: 1.0 }],
        }],
        events,
        inventory: Vec::new(),
    }
}

fn all(spool: &Spool) -> ReadBatch {
    spool
        .read(ReadLimits {
            max_records: usize::MAX,
            max_bytes: usize::MAX,
            through: None,
        })
        .expect("read")
}

fn sample_ts(batch: &ReadBatch) -> Vec<i64> {
    batch
        .records
        .iter()
        .flat_map(|r| {
            r.data
                .series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.ts))
        })
        .collect()
}

fn event_ts(batch: &ReadBatch, kind: &str) -> Vec<i64> {
    batch
        .records
        .iter()
        .flat_map(|r| r.data.events.iter())
        .filter(|e| e.kind.as_str() == kind)
        .map(|e| e.ts)
        .collect()
}

#[test]
fn records_come_back_in_order_by_lane_and_leave_only_when_acked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool =
        Spool::open(dir.path(), config(1 << 20, WhenFull::DropOldest), host()).expect("open");
    for ts in 1..=5 {
        spool
            .append(&cycle(ts, 10, ts % 2 == 0), ts)
            .expect("append");
    }
    let batch = all(&spool);
    assert_eq!(sample_ts(&batch), [1, 2, 3, 4, 5]);
    assert_eq!(event_ts(&batch, EventKind::EDAC_CORRECTABLE), [2, 4]);
    let lanes: Vec<_> = batch.records.iter().map(|r| r.lane).collect();
    assert_eq!(lanes.iter().filter(|l| **l == Lane::Critical).count(), 2);
    assert_eq!(batch.ends, [2, 5], "two critical and five bulk records");

    let limited = spool
        .read(ReadLimits {
            max_records: 3,
            max_bytes: usize::MAX,
            through: None,
        })
        .expect("read");
    assert_eq!(limited.records.len(), 3);
    spool.ack(limited.ends).expect("ack");
    let rest = all(&spool);
    assert!(
        sample_ts(&rest).iter().all(|&ts| ts > 2),
        "{:?}",
        sample_ts(&rest)
    );
    assert_eq!(spool.stats().pending, 7 - 3);
    spool.ack(rest.ends).expect("ack");
    assert!(!spool.has_pending());
    assert!(all(&spool).is_empty());
}

#[test]
fn reopening_keeps_pending_records_and_the_batch_in_flight() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let spool =
            Spool::open(dir.path(), config(1 << 20, WhenFull::DropOldest), host()).expect("open");
        for ts in 1..=4 {
            spool.append(&cycle(ts, 10, false), ts).expect("append");
        }
        spool.ack([0, 1]).expect("ack");
        spool.begin(99, [0, 3]).expect("begin");
    }
    let spool =
        Spool::open(dir.path(), config(1 << 20, WhenFull::DropOldest), host()).expect("reopen");
    assert_eq!(
        spool.in_flight(),
        Some(InFlight {
            seq: 99,
            ends: [0, 3]
        })
    );
    let flight = spool
        .read(ReadLimits {
            max_records: usize::MAX,
            max_bytes: usize::MAX,
            through: Some([0, 3]),
        })
        .expect("read");
    assert_eq!(
        sample_ts(&flight),
        [2, 3],
        "exactly the records of the batch in flight"
    );
    spool
        .append(&cycle(5, 10, false), 5)
        .expect("append after reopen");
    assert_eq!(
        sample_ts(&all(&spool)),
        [2, 3, 4, 5],
        "ids continue after the old ones"
    );
}

#[test]
fn drop_oldest_evicts_samples_before_hardware_events_and_reports_the_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool =
        Spool::open(dir.path(), config(16 << 10, WhenFull::DropOldest), host()).expect("open");
    let mut evicted = 0;
    for ts in 1..=60 {
        // Only the first cycle has a hardware event.
        let report = spool.append(&cycle(ts, 800, ts == 1), ts).expect("append");
        assert!(!report.refused);
        evicted += report.evicted;
        assert!(
            spool.stats().bytes <= 16 << 10,
            "cap holds: {:?}",
            spool.stats()
        );
    }
    assert!(
        evicted > 0,
        "a 16 KiB spool cannot hold 60 cycles of ~1 KiB"
    );
    let batch = all(&spool);
    let samples = sample_ts(&batch);
    assert_eq!(samples.last(), Some(&60), "the newest survive");
    assert_eq!(
        samples.len() as u64 + evicted,
        60,
        "every cycle kept or counted"
    );
    assert_eq!(
        event_ts(&batch, EventKind::EDAC_CORRECTABLE),
        [1],
        "the hardware event outlives every sample of its time"
    );
    let reports: u64 = batch
        .records
        .iter()
        .flat_map(|r| r.data.events.iter())
        .filter(|e| e.kind.as_str() == EventKind::SPOOL_DROPPED)
        .map(|e| e.attrs["dropped"].parse::<u64>().expect("count"))
        .sum();
    assert!(reports > 0 && reports <= evicted, "{reports} of {evicted}");
    assert_eq!(spool.stats().dropped_total, evicted);
}

#[test]
fn shed_bulk_keeps_the_backlog_and_still_takes_hardware_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool =
        Spool::open(dir.path(), config(16 << 10, WhenFull::ShedBulk), host()).expect("open");
    let (mut refused, mut evicted, mut full_at) = (0u64, 0u64, None);
    for ts in 1..=40 {
        let report = spool.append(&cycle(ts, 800, ts == 40), ts).expect("append");
        if full_at.is_none() {
            assert_eq!(
                report.evicted, 0,
                "nothing evicted before the spool is full"
            );
        }
        if report.refused {
            full_at.get_or_insert(ts);
        }
        refused += u64::from(report.refused);
        evicted += report.evicted;
        assert!(spool.stats().bytes <= 16 << 10);
    }
    let full_at = full_at.expect("a 16 KiB spool fills up");
    let batch = all(&spool);
    let samples = sample_ts(&batch);
    // Samples are refused while full; only critical records (the loss report, the
    // hardware event) evict old samples, a segment at a time.
    assert!(refused > 0);
    assert!(samples.len() >= 2, "backlog kept: {samples:?}");
    assert!(
        samples.contains(&(full_at - 1)),
        "the backlog before the refusal stays"
    );
    assert!(
        !samples.contains(&full_at),
        "the refused cycle is not there"
    );
    assert_eq!(
        samples.len() as u64 + refused + evicted,
        40,
        "every cycle kept or counted"
    );
    assert_eq!(spool.stats().dropped_total, refused + evicted);
    assert_eq!(event_ts(&batch, EventKind::EDAC_CORRECTABLE), [40]);
}

#[test]
fn acknowledged_segments_are_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool =
        Spool::open(dir.path(), config(1 << 20, WhenFull::DropOldest), host()).expect("open");
    for ts in 1..=30 {
        spool.append(&cycle(ts, 800, false), ts).expect("append");
    }
    let before = spool.stats();
    assert!(before.segments > 3, "{before:?}");
    spool.ack(all(&spool).ends).expect("ack");
    let after = spool.stats();
    assert_eq!(after.segments, 1, "only the open segment stays");
    assert_eq!(after.pending, 0);
    assert!(after.bytes < before.bytes);
    let files = fs::read_dir(dir.path().join("bulk")).expect("dir").count();
    assert_eq!(files, 1);
}

#[test]
fn a_corrupt_ledger_resends_what_is_on_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let spool =
            Spool::open(dir.path(), config(1 << 20, WhenFull::DropOldest), host()).expect("open");
        for ts in 1..=3 {
            spool.append(&cycle(ts, 10, false), ts).expect("append");
        }
    }
    fs::write(dir.path().join("ledger"), "garbage").expect("write");
    let spool = Spool::open(dir.path(), config(1 << 20, WhenFull::DropOldest), host())
        .expect("reopen despite a corrupt ledger");
    assert_eq!(sample_ts(&all(&spool)), [1, 2, 3]);
}

/// A copy of the spool directory as a SIGKILL would leave it (no `Drop`, no flush).
fn crash_copy(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            crash_copy(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[test]
fn an_acknowledgement_reaches_the_ledger_with_the_next_batch_or_on_a_graceful_stop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool =
        Spool::open(dir.path(), config(1 << 20, WhenFull::DropOldest), host()).expect("open");
    for ts in 1..=3 {
        spool.append(&cycle(ts, 10, false), ts).expect("append");
    }
    spool.begin(7, [0, 2]).expect("begin");
    spool.ack([0, 2]).expect("ack");
    assert_eq!(spool.stats().pending, 1, "acknowledged in memory at once");

    // A crash now: the ledger still has batch 7 in flight, so the next start resends
    // exactly its records under the same number (the collector ignores the repeat).
    let crashed = tempfile::tempdir().expect("tempdir");
    crash_copy(dir.path(), crashed.path());
    let reopened = Spool::open(
        crashed.path(),
        config(1 << 20, WhenFull::DropOldest),
        host(),
    )
    .expect("reopen");
    let flight = reopened.in_flight().expect("batch 7 still in flight");
    assert_eq!(
        flight,
        InFlight {
            seq: 7,
            ends: [0, 2]
        }
    );
    let resend = reopened
        .read(ReadLimits {
            max_records: usize::MAX,
            max_bytes: usize::MAX,
            through: Some(flight.ends),
        })
        .expect("read");
    assert_eq!(sample_ts(&resend), [1, 2]);
    drop(reopened);

    // The next batch's begin carries the acknowledgement with it.
    spool.begin(8, [0, 3]).expect("begin");
    let crashed = tempfile::tempdir().expect("tempdir");
    crash_copy(dir.path(), crashed.path());
    let reopened = Spool::open(
        crashed.path(),
        config(1 << 20, WhenFull::DropOldest),
        host(),
    )
    .expect("reopen");
    assert_eq!(
        reopened.in_flight(),
        Some(InFlight {
            seq: 8,
            ends: [0, 3]
        })
    );
    assert_eq!(sample_ts(&all(&reopened)), [3], "batch 7 is done for good");
    drop(reopened);

    // A graceful stop (drop) writes an acknowledgement still held in memory.
    spool.ack([0, 3]).expect("ack");
    drop(spool);
    let reopened =
        Spool::open(dir.path(), config(1 << 20, WhenFull::DropOldest), host()).expect("reopen");
    assert_eq!(reopened.in_flight(), None);
    assert!(!reopened.has_pending());
}

#[test]
fn reads_of_a_long_segment_resume_where_the_acknowledged_records_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    // One segment big enough for every record, so each read has to get past the
    // acknowledged ones in the same file.
    let mut cfg = config(1 << 20, WhenFull::DropOldest);
    cfg.segment_bytes = 256 << 10;
    let spool = Spool::open(dir.path(), cfg.clone(), host()).expect("open");
    let mut next_ts = 1;
    let mut shipped = Vec::new();
    for round in 0..12 {
        for _ in 0..(round % 4 + 2) {
            spool
                .append(&cycle(next_ts, 30, false), next_ts)
                .expect("append");
            next_ts += 1;
        }
        let batch = spool
            .read(ReadLimits {
                max_records: 3,
                max_bytes: usize::MAX,
                through: None,
            })
            .expect("read");
        let ts = sample_ts(&batch);
        assert_eq!(
            ts.first().copied(),
            Some(shipped.len() as i64 + 1),
            "round {round}"
        );
        shipped.extend(ts);
        spool.ack(batch.ends).expect("ack");
        if round == 6 {
            // Reopening forgets the read position; reads still start at the right record.
            drop(spool);
            let reopened = Spool::open(dir.path(), cfg.clone(), host()).expect("reopen");
            let rest = all(&reopened);
            assert_eq!(
                sample_ts(&rest).first().copied(),
                Some(shipped.len() as i64 + 1)
            );
            drop(reopened);
            return check_rest(dir.path(), cfg, shipped, next_ts);
        }
    }
    unreachable!("returns at round 6");
}

fn check_rest(dir: &Path, cfg: SpoolConfig, mut shipped: Vec<i64>, next_ts: i64) {
    let spool = Spool::open(dir, cfg, host()).expect("reopen");
    assert_eq!(
        fs::read_dir(dir.join("bulk")).expect("lane").count(),
        1,
        "one segment"
    );
    shipped.extend(sample_ts(&all(&spool)));
    assert_eq!(
        shipped,
        (1..next_ts).collect::<Vec<_>>(),
        "every record once, in order"
    );
}
