//! The EDAC source on fixture trees: per-DIMM counters on both sysfs layouts, one event
//! per increase with the delta, a baseline on first reading, and increases across agent
//! restarts and reboots through the state directory; and the real node_exporter tree.

use harbinger_agent::collectors::edac::{EdacCollector, EdacConfig};
use harbinger_agent::collectors::{Availability, Collector, StateDir};
use harbinger_agent::host_paths::HostPaths;
use harbinger_agent::output::Output;
use harbinger_shared::catalogue::names;
use harbinger_shared::EventKind;
use std::path::{Path, PathBuf};

/// A host tree in a temp dir: `proc/`, `sys/`, `root/`, and a `state/` directory.
pub struct Tree {
    pub dir: tempfile::TempDir,
}

impl Tree {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    pub fn symlink(&self, rel: &str, target: &str) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::os::unix::fs::symlink(target, path).expect("symlink");
    }

    pub fn paths(&self) -> HostPaths {
        HostPaths {
            procfs: self.path("proc"),
            sysfs: self.path("sys"),
            rootfs: self.path("root"),
        }
    }

    pub fn state(&self) -> StateDir {
        StateDir::persistent(&self.path("state"))
    }
}

/// The shared fixture corpus, or `None` (after printing the skip line) when unset.
pub fn corpus(suite: &str) -> Option<PathBuf> {
    match std::env::var_os("HARBINGER_FIXTURES") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => {
            eprintln!("SKIPPED: {suite} (set HARBINGER_FIXTURES)");
            None
        }
    }
}

/// Copies a captured sysfs tree into `dst`. The corpus stores symlinks as small files
/// holding the link target (no trailing newline, starting with `../`); they become
/// real symlinks again, because hwmon's chip names depend on them.
pub fn materialise(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).expect("mkdir");
    for entry in std::fs::read_dir(src).expect("read corpus dir") {
        let entry = entry.expect("entry");
        let from = entry.path();
        let to = dst.join(entry.file_name());
        if from.is_dir() {
            materialise(&from, &to);
            continue;
        }
        let bytes = std::fs::read(&from).expect("read corpus file");
        if bytes.starts_with(b"../") && !bytes.ends_with(b"\n") && !bytes.contains(&b'\n') {
            let target = String::from_utf8(bytes).expect("utf-8 link target");
            std::os::unix::fs::symlink(target.trim_end_matches('/'), &to).expect("symlink");
        } else {
            std::fs::write(&to, bytes).expect("copy");
        }
    }
}

const MC: &str = "sys/devices/system/edac/mc/mc0";

fn dimm_tree() -> Tree {
    let tree = Tree::new();
    tree.write("proc/sys/kernel/random/boot_id", "boot-a\n");
    tree.write(&format!("{MC}/mc_name"), "Skylake Socket#0 IMC#0\n");
    tree.write(&format!("{MC}/ce_count"), "0\n");
    tree.write(&format!("{MC}/ue_count"), "0\n");
    tree.write(&format!("{MC}/ce_noinfo_count"), "0\n");
    tree.write(&format!("{MC}/ue_noinfo_count"), "0\n");
    for (n, label) in [(0, "CPU_SrcID#0_MC#0_Chan#0_DIMM#0"), (1, "DIMM_A2")] {
        let d = format!("{MC}/dimm{n}");
        tree.write(&format!("{d}/dimm_label"), &format!("{label}\n"));
        tree.write(
            &format!("{d}/dimm_location"),
            &format!("channel 0 slot {n}\n"),
        );
        tree.write(&format!("{d}/size"), "16384\n");
        tree.write(&format!("{d}/dimm_ce_count"), "0\n");
        tree.write(&format!("{d}/dimm_ue_count"), "0\n");
    }
    // Current kernels also keep the csrow view of the same DIMMs.
    tree.write(&format!("{MC}/csrow0/ce_count"), "0\n");
    tree.write(&format!("{MC}/csrow0/ch0_ce_count"), "0\n");
    tree.write(
        &format!("{MC}/csrow0/ch0_dimm_label"),
        "CPU_SrcID#0_MC#0_Chan#0_DIMM#0\n",
    );
    tree
}

fn collector(tree: &Tree, state: StateDir) -> EdacCollector {
    EdacCollector::new(&tree.paths(), &EdacConfig::default(), state)
}

fn dimm0() -> [(&'static str, &'static str); 3] {
    [
        ("controller", "0"),
        ("dimm", "dimm0"),
        ("label", "CPU_SrcID#0_MC#0_Chan#0_DIMM#0"),
    ]
}

#[test]
fn first_reading_is_a_baseline_and_each_increase_is_an_event() {
    let tree = dimm_tree();
    tree.write(&format!("{MC}/dimm0/dimm_ce_count"), "7\n");
    let mut edac = collector(&tree, tree.state());
    assert_eq!(edac.probe(), Availability::Available);
    let mut out = Output::new();
    edac.collect(10_000, &mut out).expect("collect");
    assert_eq!(out.value(names::EDAC_DIMM_CE, &dimm0()), Some(7.0));
    assert_eq!(
        out.value(
            names::EDAC_DIMM_UE,
            &[("controller", "0"), ("dimm", "dimm1"), ("label", "DIMM_A2")]
        ),
        Some(0.0)
    );
    assert_eq!(
        out.label_sets(names::EDAC_DIMM_CE).len(),
        2,
        "csrow view not duplicated"
    );
    assert!(out.events().is_empty(), "the first reading is a baseline");

    tree.write(&format!("{MC}/dimm0/dimm_ce_count"), "10\n");
    tree.write(&format!("{MC}/dimm1/dimm_ue_count"), "1\n");
    let mut out = Output::new();
    edac.collect(20_000, &mut out).expect("collect");
    let events = out.events();
    assert_eq!(events.len(), 2, "{events:?}");
    let ce = events
        .iter()
        .find(|e| e.kind.as_str() == EventKind::EDAC_CORRECTABLE)
        .expect("ce event");
    assert_eq!(ce.attrs["count"], "3");
    assert_eq!(ce.attrs["total"], "10");
    assert_eq!(
        ce.component.as_ref().map(ToString::to_string).as_deref(),
        Some("dimm:CPU_SrcID#0_MC#0_Chan#0_DIMM#0")
    );
    let ue = events
        .iter()
        .find(|e| e.kind.as_str() == EventKind::EDAC_UNCORRECTABLE)
        .expect("ue event");
    assert_eq!(ue.attrs["count"], "1");
    assert_eq!(ue.attrs["location"], "channel 0 slot 1");

    // A burst shows as a burst: each cycle's increase is its own event.
    tree.write(&format!("{MC}/dimm0/dimm_ce_count"), "110\n");
    let mut out = Output::new();
    edac.collect(30_000, &mut out).expect("collect");
    assert_eq!(out.events().len(), 1);
    assert_eq!(out.events()[0].attrs["count"], "100");
    let mut out = Output::new();
    edac.collect(40_000, &mut out).expect("collect");
    assert!(out.events().is_empty(), "no change, no event");
}

#[test]
fn increases_while_the_agent_was_down_are_reported_after_restart() {
    let tree = dimm_tree();
    let mut first = collector(&tree, tree.state());
    first.collect(10_000, &mut Output::new()).expect("collect");
    drop(first);
    tree.write(&format!("{MC}/dimm0/dimm_ce_count"), "4\n");
    let mut second = collector(&tree, tree.state());
    let mut out = Output::new();
    second.collect(20_000, &mut out).expect("collect");
    assert_eq!(out.events().len(), 1, "{:?}", out.events());
    assert_eq!(out.events()[0].attrs["count"], "4");

    // After a reboot the kernel counts from zero again: what it has is new.
    tree.write("proc/sys/kernel/random/boot_id", "boot-b\n");
    tree.write(&format!("{MC}/dimm0/dimm_ce_count"), "2\n");
    let mut third = collector(&tree, tree.state());
    let mut out = Output::new();
    third.collect(30_000, &mut out).expect("collect");
    assert_eq!(out.events().len(), 1, "{:?}", out.events());
    assert_eq!(out.events()[0].attrs["count"], "2");
}

#[test]
fn without_a_state_directory_nothing_is_saved() {
    let tree = dimm_tree();
    let mut once = collector(&tree, StateDir::none());
    once.collect(10_000, &mut Output::new()).expect("collect");
    assert!(!tree.path("state").exists());
}

#[test]
fn legacy_csrow_layout_gives_per_channel_dimms() {
    let tree = Tree::new();
    tree.write("proc/sys/kernel/random/boot_id", "boot-a\n");
    tree.write(&format!("{MC}/ce_count"), "5\n");
    tree.write(&format!("{MC}/csrow1/ce_count"), "5\n");
    tree.write(&format!("{MC}/csrow1/ch0_ce_count"), "1\n");
    tree.write(&format!("{MC}/csrow1/ch0_dimm_label"), "DIMM_B1\n");
    tree.write(&format!("{MC}/csrow1/ch1_ce_count"), "4\n");
    tree.write(&format!("{MC}/csrow1/ch1_dimm_label"), "\n");
    let mut out = Output::new();
    collector(&tree, StateDir::none())
        .collect(10_000, &mut out)
        .expect("collect");
    assert_eq!(
        out.value(
            names::EDAC_DIMM_CE,
            &[
                ("controller", "0"),
                ("dimm", "csrow1_ch0"),
                ("label", "DIMM_B1")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        out.value(
            names::EDAC_DIMM_CE,
            &[
                ("controller", "0"),
                ("dimm", "csrow1_ch1"),
                ("label", "mc0_csrow1_ch1")
            ]
        ),
        Some(4.0),
        "an empty label falls back to the position"
    );
    assert_eq!(
        out.value(names::EDAC_CSROW_CE, &[("controller", "0"), ("csrow", "1")]),
        Some(5.0)
    );
}

#[test]
fn probe_explains_a_host_without_edac() {
    let tree = Tree::new();
    match collector(&tree, StateDir::none()).probe() {
        Availability::Unavailable(reason) => {
            assert!(reason.contains("edac/mc"), "{reason}");
            assert!(reason.contains("no EDAC driver"), "{reason}");
        }
        Availability::Available => panic!("no EDAC tree here"),
    }
}

#[test]
fn node_exporter_edac_tree() {
    let Some(corpus) = corpus("agent edac conformance") else {
        return;
    };
    let tree = Tree::new();
    materialise(&corpus.join("sysfs/node_exporter/sys"), &tree.path("sys"));
    tree.write("proc/sys/kernel/random/boot_id", "boot-a\n");
    let mut out = Output::new();
    collector(&tree, StateDir::none())
        .collect(10_000, &mut out)
        .expect("collect");
    let mc = [("controller", "0")];
    assert_eq!(out.value(names::EDAC_CE, &mc), Some(1.0));
    assert_eq!(out.value(names::EDAC_UE, &mc), Some(5.0));
    let unknown = [("controller", "0"), ("csrow", "unknown")];
    assert_eq!(out.value(names::EDAC_CSROW_CE, &unknown), Some(2.0));
    assert_eq!(out.value(names::EDAC_CSROW_UE, &unknown), Some(6.0));
    for (csrow, ce, ue) in [("0", 3.0, 4.0), ("1", 0.0, 4.0), ("2", 0.0, 5.0)] {
        let labels = [("controller", "0"), ("csrow", csrow)];
        assert_eq!(
            out.value(names::EDAC_CSROW_CE, &labels),
            Some(ce),
            "csrow {csrow}"
        );
        assert_eq!(
            out.value(names::EDAC_CSROW_UE, &labels),
            Some(ue),
            "csrow {csrow}"
        );
    }
    // Six channels, labelled by the fixture's generic labels; csrow2 has no
    // per-channel ue counts.
    assert_eq!(out.label_sets(names::EDAC_DIMM_CE).len(), 6);
    let ch = [
        ("controller", "0"),
        ("dimm", "csrow0_ch1"),
        ("label", "mc0csrow0channel1"),
    ];
    assert_eq!(out.value(names::EDAC_DIMM_CE, &ch), Some(0.0));
    assert_eq!(out.value(names::EDAC_DIMM_UE, &ch), Some(2.0));
    let ch = [
        ("controller", "0"),
        ("dimm", "csrow2_ch0"),
        ("label", "mc0csrow2channel0"),
    ];
    assert_eq!(out.value(names::EDAC_DIMM_UE, &ch), None);
    assert!(out.events().is_empty(), "a baseline");
}
