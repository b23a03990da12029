//! Crash recovery of the disk spool through its public interface: a segment cut at
//! every byte offset of its tail (what a crash mid-write leaves) and garbage after the
//! last record must reopen by themselves, serve every whole record unchanged, serve
//! nothing corrupt, lose nothing acknowledged-as-pending, and keep accepting appends.

use harbinger_agent::output::{Output, Payload};
use harbinger_agent::spool::{ReadLimits, Spool, SpoolConfig, WhenFull};
use harbinger_shared::{ComponentId, ComponentKind};
use std::fs;
use std::path::{Path, PathBuf};

fn config() -> SpoolConfig {
    SpoolConfig {
        max_bytes: 1 << 20,
        segment_bytes: 1 << 20,
        when_full: WhenFull::DropOldest,
        fsync: false,
    }
}

fn host() -> ComponentId {
    ComponentId::new(ComponentKind::Host, "h1")
}

fn payload(ts: i64) -> Payload {
    let mut out = Output::new();
    out.push(ts, "node_load1", &[("cpu", "all")], ts as f64 / 7.0);
    out.push(ts, "node_memory_total_bytes", &[], 1e9 + ts as f64);
    out.finish()
}

fn everything() -> ReadLimits {
    ReadLimits {
        max_records: usize::MAX,
        max_bytes: usize::MAX,
        through: None,
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn only_segment(lane_dir: &Path) -> PathBuf {
    let mut segs: Vec<PathBuf> = fs::read_dir(lane_dir)
        .expect("lane dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    assert_eq!(segs.len(), 1, "{segs:?}");
    segs.remove(0)
}

#[test]
fn a_segment_cut_at_every_offset_of_its_tail_recovers_by_itself() {
    let original = tempfile::tempdir().expect("tempdir");
    let mut ends_after = Vec::new();
    {
        let spool = Spool::open(original.path(), config(), host()).expect("open");
        let seg_dir = original.path().join("bulk");
        for ts in 1..=5 {
            spool.append(&payload(ts), ts).expect("append");
            ends_after.push(fs::metadata(only_segment(&seg_dir)).expect("meta").len());
        }
        // The first two are acknowledged; 3..=5 are pending.
        let first_two = spool
            .read(ReadLimits {
                max_records: 2,
                ..everything()
            })
            .expect("read");
        spool.ack(first_two.ends).expect("ack");
    }
    let segment_name = only_segment(&original.path().join("bulk"))
        .file_name()
        .expect("name")
        .to_owned();
    let full = fs::read(original.path().join("bulk").join(&segment_name)).expect("segment");
    // The tail: the last two records, from the end of record 3 to the end of the file.
    let tail_start = ends_after[2] as usize;
    assert_eq!(full.len() as u64, ends_after[4]);

    for cut in tail_start..=full.len() {
        let dir = tempfile::tempdir().expect("tempdir");
        copy_dir(original.path(), dir.path());
        let seg = dir.path().join("bulk").join(&segment_name);
        fs::write(&seg, &full[..cut]).expect("cut");

        let spool = Spool::open(dir.path(), config(), host())
            .unwrap_or_else(|e| panic!("cut at {cut}: reopen failed: {e}"));
        let whole: Vec<i64> = (3..=5)
            .filter(|&ts| ends_after[ts as usize - 1] as usize <= cut)
            .collect();
        let got = spool.read(everything()).expect("read");
        let got_payloads: Vec<&Payload> = got.records.iter().map(|r| &r.data).collect();
        let want: Vec<Payload> = whole.iter().map(|&ts| payload(ts)).collect();
        assert_eq!(
            got_payloads,
            want.iter().collect::<Vec<_>>(),
            "cut at {cut}: every whole pending record, unchanged, nothing acknowledged resent"
        );
        assert_eq!(
            fs::metadata(&seg).expect("meta").len(),
            ends_after[whole.len() + 1],
            "cut at {cut}: torn tail truncated"
        );

        spool
            .append(&payload(100), 100)
            .expect("append after recovery");
        drop(spool);
        let again = Spool::open(dir.path(), config(), host()).expect("second reopen");
        let got = again.read(everything()).expect("read");
        let ts: Vec<i64> = got
            .records
            .iter()
            .map(|r| r.data.series[0].points[0].ts)
            .collect();
        let mut expected = whole.clone();
        expected.push(100);
        assert_eq!(
            ts, expected,
            "cut at {cut}: appends continue after the recovered tail"
        );
    }
}

#[test]
fn garbage_after_the_last_record_and_torn_files_are_cleaned_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let spool = Spool::open(dir.path(), config(), host()).expect("open");
        for ts in 1..=3 {
            spool.append(&payload(ts), ts).expect("append");
        }
    }
    let seg = only_segment(&dir.path().join("bulk"));
    let mut data = fs::read(&seg).expect("read");
    let good_len = data.len() as u64;
    data.extend_from_slice(&[0xAB; 37]);
    fs::write(&seg, &data).expect("write");
    // A segment created but torn before its magic was complete.
    let torn = dir.path().join("bulk").join(format!("{:020}.seg", 999));
    fs::write(&torn, b"HBSP").expect("write torn");
    // A half-written ledger replacement left by a crash.
    fs::write(dir.path().join("ledger.tmp"), "version=1\nbulk.ack").expect("tmp");

    let spool = Spool::open(dir.path(), config(), host()).expect("reopen");
    assert_eq!(fs::metadata(&seg).expect("meta").len(), good_len);
    assert!(!torn.exists(), "torn creation removed");
    let got = spool.read(everything()).expect("read");
    assert_eq!(got.records.len(), 3);
    assert_eq!(got.records[2].data, payload(3));
}
