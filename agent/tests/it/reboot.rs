//! Reboot cycles simulated through the state directory and a fixture boot_id: exactly
//! one `reboot` event per new boot, clean after a marked stop, unexpected otherwise,
//! with pstore and vmcore evidence.

use crate::edac::Tree;
use harbinger_agent::collectors::reboot::{mark_clean_stop, RebootCollector, RebootConfig};
use harbinger_agent::collectors::{Collector, StateDir};
use harbinger_agent::output::Output;
use harbinger_agent::Identity;
use harbinger_shared::{Event, EventKind, Severity};
use std::collections::BTreeMap;

fn identity() -> Identity {
    Identity {
        host_id: "h1".into(),
        hostname: "db-17".into(),
        labels: BTreeMap::new(),
    }
}

/// Starts the agent's reboot source on the current tree and returns its events.
fn start(tree: &Tree) -> Vec<Event> {
    let mut source = RebootCollector::new(
        &tree.paths(),
        &RebootConfig::default(),
        &identity(),
        tree.state(),
    );
    let mut out = Output::new();
    source.collect(10_000, &mut out).expect("collect");
    // Later cycles of the same run never report again.
    let mut later = Output::new();
    source.collect(20_000, &mut later).expect("collect");
    assert!(later.events().is_empty());
    out.events().to_vec()
}

fn boot(tree: &Tree, id: &str) {
    tree.write("proc/sys/kernel/random/boot_id", &format!("{id}\n"));
    tree.write("proc/stat", "cpu 1 2 3 4\nbtime 1700000000\n");
}

#[test]
fn reboot_cycle_classifies_clean_and_unexpected() {
    let tree = Tree::new();
    boot(&tree, "boot-a");
    assert!(
        start(&tree).is_empty(),
        "first ever start: no previous boot to judge"
    );
    // The agent restarts within the same boot: no reboot.
    assert!(start(&tree).is_empty());

    // Graceful stop, then a new boot: clean.
    mark_clean_stop(&tree.path("state"), &tree.paths(), 1_699_999_000_000).expect("marker");
    boot(&tree, "boot-b");
    let events = start(&tree);
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e.kind.as_str(), EventKind::REBOOT);
    assert_eq!(e.attrs["cause"], "clean");
    assert_eq!(e.attrs["planned"], "true");
    assert_eq!(e.attrs["previous_boot_id"], "boot-a");
    assert_eq!(e.attrs["boot_id"], "boot-b");
    assert_eq!(e.severity, Severity::Info);
    assert_eq!(e.ts, 1_700_000_000_000, "the boot time");
    assert_eq!(
        e.component.as_ref().map(ToString::to_string).as_deref(),
        Some("host:h1")
    );

    // No marker this time, and the kernel left a pstore record and a vmcore: unexpected.
    tree.write("sys/fs/pstore/dmesg-efi-170000000001", "Oops\n");
    tree.write(
        "root/var/crash/127.0.0.1-2024-01-01-00:00:00/vmcore",
        "core",
    );
    tree.write("root/var/crash/_usr_bin_foo.1000.crash", "not a vmcore");
    boot(&tree, "boot-c");
    let events = start(&tree);
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e.attrs["cause"], "unexpected");
    assert_eq!(e.attrs["planned"], "false");
    assert_eq!(e.attrs["pstore"], "dmesg-efi-170000000001");
    assert_eq!(
        e.attrs["vmcore"],
        "/var/crash/127.0.0.1-2024-01-01-00:00:00/vmcore"
    );
    assert_eq!(e.severity, Severity::Error);

    // A marker from an older boot does not make the next one clean, and evidence
    // already reported is not reported again.
    mark_clean_stop(&tree.path("state"), &tree.paths(), 1).expect("marker");
    boot(&tree, "boot-d");
    tree.write("proc/sys/kernel/random/boot_id", "boot-d\n");
    let marker = tree.path("state/clean-stop.json");
    let text = std::fs::read_to_string(&marker).expect("marker");
    std::fs::write(&marker, text.replace("boot-c", "boot-b")).expect("age the marker");
    let events = start(&tree);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].attrs["cause"], "unexpected");
    assert!(!events[0].attrs.contains_key("pstore"));
    assert!(!marker.exists(), "the marker is consumed on start");
}

#[test]
fn once_mode_neither_reports_nor_consumes() {
    let tree = Tree::new();
    boot(&tree, "boot-a");
    assert!(start(&tree).is_empty());
    mark_clean_stop(&tree.path("state"), &tree.paths(), 5).expect("marker");
    boot(&tree, "boot-b");
    let mut once = RebootCollector::new(
        &tree.paths(),
        &RebootConfig::default(),
        &identity(),
        StateDir::none(),
    );
    let mut out = Output::new();
    once.collect(10_000, &mut out).expect("collect");
    assert!(out.events().is_empty());
    let events = start(&tree);
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].attrs["cause"], "clean",
        "the marker was left for the agent"
    );
}
