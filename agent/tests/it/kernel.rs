//! The kernel source on a kmsg-format file standing in for /dev/kmsg: classification
//! into events, storm rate-limiting, resuming after a restart, and the probe's reason.

use crate::edac::Tree;
use harbinger_agent::collectors::kernel::{KernelCollector, KernelConfig};
use harbinger_agent::collectors::{Availability, Collector, StateDir};
use harbinger_agent::output::Output;
use harbinger_agent::Identity;
use harbinger_shared::catalogue::names;
use harbinger_shared::EventKind;
use std::collections::BTreeMap;
use std::io::Write;

fn identity() -> Identity {
    Identity {
        host_id: "h1".into(),
        hostname: "db-17".into(),
        labels: BTreeMap::new(),
    }
}

fn tree() -> Tree {
    let tree = Tree::new();
    tree.write("proc/sys/kernel/random/boot_id", "boot-a\n");
    tree.write("proc/stat", "cpu 1 2 3 4\nbtime 1700000000\n");
    tree.write("kmsg", "");
    tree
}

fn kernel(tree: &Tree, state: StateDir) -> KernelCollector {
    let config = KernelConfig {
        kmsg_path: tree.path("kmsg"),
        ..KernelConfig::default()
    };
    KernelCollector::new(&tree.paths(), &config, &identity(), state)
}

fn append(tree: &Tree, lines: &[String]) {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(tree.path("kmsg"))
        .expect("open kmsg");
    for line in lines {
        writeln!(file, "{line}").expect("append");
    }
}

fn record(seq: u64, ts_usec: u64, message: &str) -> String {
    format!("3,{seq},{ts_usec},-;{message}")
}

#[test]
fn hardware_lines_become_events_with_their_subject() {
    let tree = tree();
    tree.write("sys/block/sdb/device/wwid", "naa.5000C500A1B2C3D4\n");
    append(
        &tree,
        &[
            record(
                1,
                5_000_000,
                "mce: [Hardware Error]: CPU 2: Machine Check: 0 Bank 5: be00000000800400",
            ),
            " SUBSYSTEM=cpu".to_owned(),
            record(
                2,
                6_000_000,
                "blk_update_request: I/O error, dev sdb, sector 2048 op 0x0:(READ)",
            ),
            record(3, 7_000_000, "e1000e: eth0 NIC Link is Up"),
            // Written by user space: not the kernel's word.
            "12,4,8000000,-;mce: [Hardware Error]: forged".to_owned(),
        ],
    );
    let mut kernel = kernel(&tree, tree.state());
    assert_eq!(kernel.probe(), Availability::Available);
    let mut out = Output::new();
    kernel.collect(10_000, &mut out).expect("collect");
    let events = out.events();
    assert_eq!(events.len(), 2, "{events:?}");
    let mce = &events[0];
    assert_eq!(mce.kind.as_str(), EventKind::MACHINE_CHECK);
    assert_eq!(mce.attrs["cpu"], "2");
    assert_eq!(mce.attrs["count"], "1");
    assert_eq!(mce.ts, 1_700_000_005_000, "boot time + monotonic offset");
    assert_eq!(
        mce.component.as_ref().map(ToString::to_string).as_deref(),
        Some("cpu:2")
    );
    let io = &events[1];
    assert_eq!(io.kind.as_str(), EventKind::DISK_IO_ERROR);
    assert_eq!(io.attrs["device"], "sdb");
    assert_eq!(
        io.component.as_ref().map(ToString::to_string).as_deref(),
        Some("disk:0x5000c500a1b2c3d4"),
        "the disk is named by its WWN, like the SMART source names it"
    );
    assert_eq!(
        out.value(
            names::KERNEL_MESSAGES,
            &[("kind", EventKind::MACHINE_CHECK)]
        ),
        Some(1.0)
    );
}

#[test]
fn a_storm_is_one_event_with_a_count() {
    let tree = tree();
    let storm: Vec<String> = (1..=500)
        .map(|i| {
            record(
                i,
                i * 1000,
                "blk_update_request: I/O error, dev sdc, sector 8 op 0x0:(READ)",
            )
        })
        .collect();
    append(&tree, &storm);
    let mut kernel = kernel(&tree, StateDir::none());
    let mut out = Output::new();
    kernel.collect(10_000, &mut out).expect("collect");
    assert_eq!(out.events().len(), 1);
    assert_eq!(out.events()[0].attrs["count"], "500");

    // More of the same within the window: counted, not sent...
    let more: Vec<String> = (501..=600)
        .map(|i| {
            record(
                i,
                i * 1000,
                "blk_update_request: I/O error, dev sdc, sector 8 op 0x0:(READ)",
            )
        })
        .collect();
    append(&tree, &more);
    let mut out = Output::new();
    kernel.collect(20_000, &mut out).expect("collect");
    assert!(out.events().is_empty(), "{:?}", out.events());
    assert_eq!(
        out.value(
            names::KERNEL_MESSAGES,
            &[("kind", EventKind::DISK_IO_ERROR)]
        ),
        Some(600.0)
    );
    // ...and summarised once the window (5 min by default) is over.
    let mut out = Output::new();
    kernel.collect(320_000, &mut out).expect("collect");
    assert_eq!(out.events().len(), 1);
    assert_eq!(out.events()[0].attrs["count"], "100");
    assert_eq!(out.events()[0].attrs["rate_limited"], "true");
}

#[test]
fn a_restarted_agent_resumes_after_what_it_reported() {
    let tree = tree();
    append(
        &tree,
        &[record(1, 1000, "Watchdog detected hard LOCKUP on cpu 3")],
    );
    let mut first = kernel(&tree, tree.state());
    let mut out = Output::new();
    first.collect(10_000, &mut out).expect("collect");
    assert_eq!(out.events().len(), 1);
    drop(first);

    append(
        &tree,
        &[record(
            2,
            2000,
            "Out of memory: Killed process 42 (java) total-vm:1kB",
        )],
    );
    let mut second = kernel(&tree, tree.state());
    let mut out = Output::new();
    second.collect(20_000, &mut out).expect("collect");
    let kinds: Vec<&str> = out.events().iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [EventKind::OOM_KILL],
        "the lockup is not reported twice"
    );
    assert_eq!(out.events()[0].attrs["process"], "java");

    // A new boot starts again from its first message.
    tree.write("proc/sys/kernel/random/boot_id", "boot-b\n");
    let mut third = kernel(&tree, tree.state());
    let mut out = Output::new();
    third.collect(30_000, &mut out).expect("collect");
    assert_eq!(out.events().len(), 2);
}

#[test]
fn probe_explains_an_unreadable_log() {
    let tree = tree();
    let config = KernelConfig {
        kmsg_path: tree.path("no-such-kmsg"),
        ..KernelConfig::default()
    };
    let kernel = KernelCollector::new(&tree.paths(), &config, &identity(), StateDir::none());
    match kernel.probe() {
        Availability::Unavailable(reason) => {
            assert!(reason.contains("no-such-kmsg"), "{reason}");
            assert!(reason.contains("no journal fallback"), "{reason}");
        }
        Availability::Available => panic!("missing log"),
    }
}
