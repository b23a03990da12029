//! The system collector on real procfs captures from the shared fixture corpus
//! (`$HARBINGER_FIXTURES/proc`), with values read by hand from those files.

use harbinger_agent::collectors::system::SystemCollector;
use harbinger_agent::collectors::Collector;
use harbinger_agent::host_paths::HostPaths;
use harbinger_agent::output::Output;
use harbinger_agent::Identity;
use harbinger_shared::catalogue::names;
use std::path::PathBuf;

fn corpus() -> Option<PathBuf> {
    match std::env::var_os("HARBINGER_FIXTURES") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => {
            eprintln!("SKIPPED: agent proc fixture corpus (set HARBINGER_FIXTURES)");
            None
        }
    }
}

#[test]
fn system_collector_reads_real_procfs_captures() {
    let Some(corpus) = corpus() else {
        return;
    };
    // The captures come from different machines and lack a few files; assemble a procfs
    // tree from them in a temp dir (read at test time, never copied into the repo).
    let tree = tempfile::tempdir().expect("tempdir");
    let proc = tree.path().join("proc");
    std::fs::create_dir_all(proc.join("net")).expect("mkdir");
    for file in ["stat", "meminfo", "diskstats", "loadavg"] {
        let from = corpus.join("proc/node_exporter").join(file);
        std::fs::copy(&from, proc.join(file)).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    }
    let net_dev = corpus.join("proc/procfs/net/dev");
    std::fs::copy(&net_dev, proc.join("net/dev"))
        .unwrap_or_else(|e| panic!("{}: {e}", net_dev.display()));
    std::fs::write(proc.join("uptime"), "1000.5 900.0\n").expect("write");
    std::fs::write(proc.join("mounts"), "").expect("write");

    let paths = HostPaths {
        procfs: proc,
        sysfs: tree.path().join("sys"),
        rootfs: tree.path().join("root"),
    };
    let identity = Identity {
        host_id: "conformance".into(),
        hostname: "conformance".into(),
        labels: Default::default(),
    };
    let mut collector = SystemCollector::new(paths, &identity);
    let mut out = Output::new();
    collector
        .collect(1_000_000, &mut out)
        .expect("the real captures parse");
    let v = |metric, labels: &[(&str, &str)]| out.value(metric, labels);

    // stat: "cpu  301854 612 111922 8979004 3552 2 3944 0 44 36", "cpu7 29098 268 …", btime.
    assert_eq!(
        v(names::CPU_SECONDS, &[("cpu", "total"), ("mode", "user")]),
        Some(3018.54)
    );
    assert_eq!(
        v(names::CPU_SECONDS, &[("cpu", "total"), ("mode", "idle")]),
        Some(89790.04)
    );
    assert_eq!(
        v(names::CPU_SECONDS, &[("cpu", "total"), ("mode", "softirq")]),
        Some(39.44)
    );
    assert_eq!(
        v(names::CPU_SECONDS, &[("cpu", "7"), ("mode", "nice")]),
        Some(2.68)
    );
    assert_eq!(
        out.label_sets(names::CPU_SECONDS).len(),
        9 * 8,
        "total + 8 cores, 8 modes"
    );
    assert_eq!(v(names::BOOT_TIME, &[]), Some(1_418_183_276.0));

    // loadavg: "0.21 0.37 0.39 1/719 19737".
    assert_eq!(v(names::LOAD1, &[]), Some(0.21));
    assert_eq!(v(names::LOAD5, &[]), Some(0.37));
    assert_eq!(v(names::LOAD15, &[]), Some(0.39));

    // meminfo: this capture predates MemAvailable, so available = MemFree + Buffers + Cached.
    assert_eq!(v(names::MEM_TOTAL, &[]), Some(3_742_148.0 * 1024.0));
    assert_eq!(
        v(names::MEM_AVAILABLE, &[]),
        Some((225_472.0 + 22_040.0 + 930_888.0) * 1024.0)
    );
    assert_eq!(v(names::MEM_CACHED, &[]), Some(930_888.0 * 1024.0));
    assert_eq!(v(names::SWAP_TOTAL, &[]), Some(4_194_300.0 * 1024.0));
    assert_eq!(v(names::SWAP_FREE, &[]), Some(3_155_360.0 * 1024.0));

    // diskstats: "sda 25354637 34367663 1003346126 18492372 28444756 11134226 505697032 …
    // 9653880 82621804"; ram*, loop* and the idle sr0 are skipped, fd0 (2 reads) is kept.
    let sda = [("device", "sda")];
    assert_eq!(v(names::DISK_READS, &sda), Some(25_354_637.0));
    assert_eq!(
        v(names::DISK_READ_BYTES, &sda),
        Some(1_003_346_126.0 * 512.0)
    );
    assert_eq!(v(names::DISK_WRITES, &sda), Some(28_444_756.0));
    assert_eq!(
        v(names::DISK_WRITTEN_BYTES, &sda),
        Some(505_697_032.0 * 512.0)
    );
    assert_eq!(v(names::DISK_IO_TIME, &sda), Some(9_653.88));
    assert_eq!(v(names::DISK_IO_TIME_WEIGHTED, &sda), Some(82_621.804));
    // 20-field line: "sdc 126552 141 1657779 14 11822 …".
    assert_eq!(v(names::DISK_READS, &[("device", "sdc")]), Some(126_552.0));
    assert_eq!(v(names::DISK_READS, &[("device", "fd0")]), Some(2.0));
    assert_eq!(
        v(names::DISK_READS, &[("device", "nvme0n1")]),
        Some(47_114.0)
    );
    let disks: Vec<_> = out
        .label_sets(names::DISK_READS)
        .iter()
        .map(|l| l["device"].clone())
        .collect();
    for skipped in ["ram0", "ram15", "loop0", "sr0"] {
        assert!(
            !disks.iter().any(|d| d == skipped),
            "{skipped} in {disks:?}"
        );
    }

    // net/dev: "eth0: 874354587 1036395 0 0 … 563352563 732147 …"; lo skipped.
    let eth0 = [("device", "eth0")];
    assert_eq!(v(names::NET_RX_BYTES, &eth0), Some(874_354_587.0));
    assert_eq!(v(names::NET_RX_PACKETS, &eth0), Some(1_036_395.0));
    assert_eq!(v(names::NET_TX_BYTES, &eth0), Some(563_352_563.0));
    assert_eq!(v(names::NET_TX_PACKETS, &eth0), Some(732_147.0));
    assert_eq!(
        v(names::NET_RX_BYTES, &[("device", "vethf345468")]),
        Some(648.0)
    );
    assert_eq!(v(names::NET_RX_BYTES, &[("device", "lo")]), None);
}
