//! The inventory source on a fixture tree: DMI model in the host item, CPU microcode,
//! DIMMs from EDAC and SMBIOS, physical NICs, sent only when changed, with an
//! `inventory_changed` event for a firmware update.

use crate::edac::Tree;
use harbinger_agent::collectors::inventory::{InventoryCollector, InventoryConfig};
use harbinger_agent::collectors::{Availability, Collector};
use harbinger_agent::output::Output;
use harbinger_agent::Identity;
use harbinger_shared::{EventKind, InventoryItem};
use std::collections::BTreeMap;

fn identity() -> Identity {
    Identity {
        host_id: "h1".into(),
        hostname: "db-17".into(),
        labels: BTreeMap::new(),
    }
}

/// A type 17 record: 32 GiB in DIMM_A1, with manufacturer, serial and part number.
fn type17() -> Vec<u8> {
    let mut raw = vec![0u8; 0x28];
    raw[0] = 17;
    raw[1] = 0x28;
    // 32 GiB does not fit the size field: 0x7FFF, then the extended size in MiB.
    raw[0x0C..0x0E].copy_from_slice(&0x7FFFu16.to_le_bytes());
    raw[0x1C..0x20].copy_from_slice(&32768u32.to_le_bytes());
    raw[0x10] = 1;
    raw[0x11] = 2;
    raw[0x17] = 3;
    raw[0x18] = 4;
    raw[0x1A] = 5;
    for s in [
        "DIMM_A1",
        "P0 CHANNEL A",
        "Samsung",
        "S123",
        "M393A4K40DB3-CWE",
    ] {
        raw.extend_from_slice(s.as_bytes());
        raw.push(0);
    }
    raw.push(0);
    raw
}

fn tree() -> Tree {
    let tree = Tree::new();
    tree.write("proc/sys/kernel/random/boot_id", "boot-a\n");
    tree.write("proc/sys/kernel/osrelease", "6.1.0-test\n");
    tree.write(
        "proc/cpuinfo",
        "processor : 0\nmodel name : Test CPU\nmicrocode : 0xde\n",
    );
    tree.write("proc/meminfo", "MemTotal: 1000 kB\n");
    tree.write("root/etc/os-release", "PRETTY_NAME=\"Test OS 1\"\n");
    for (file, value) in [
        ("sys_vendor", "Dell Inc."),
        ("product_name", "PowerEdge R740"),
        ("board_name", "0WRPXK"),
        ("bios_vendor", "Dell Inc."),
        ("bios_version", "2.12.2"),
        ("product_version", "To Be Filled By O.E.M."),
    ] {
        tree.write(&format!("sys/class/dmi/id/{file}"), &format!("{value}\n"));
    }
    let mc = "sys/devices/system/edac/mc/mc0/dimm0";
    tree.write(&format!("{mc}/dimm_label"), "DIMM_A1\n");
    tree.write(&format!("{mc}/size"), "32768\n");
    tree.write(&format!("{mc}/dimm_mem_type"), "Registered-DDR4\n");
    let entry = tree.path("sys/firmware/dmi/entries/17-0/raw");
    std::fs::create_dir_all(entry.parent().expect("parent")).expect("mkdir");
    std::fs::write(entry, type17()).expect("write raw");
    // A physical NIC and a bridge (no device link).
    tree.write("sys/devices/pci0000:00/0000:3b:00.0/vendor", "0x8086\n");
    tree.symlink("sys/bus/pci/drivers/ixgbe/.keep", "/dev/null");
    tree.symlink(
        "sys/devices/pci0000:00/0000:3b:00.0/driver",
        "../../../bus/pci/drivers/ixgbe",
    );
    tree.write(
        "sys/devices/pci0000:00/0000:3b:00.0/net/eno1/address",
        "aa:bb:cc:dd:ee:01\n",
    );
    tree.symlink(
        "sys/devices/pci0000:00/0000:3b:00.0/net/eno1/device",
        "../../../0000:3b:00.0",
    );
    tree.symlink(
        "sys/class/net/eno1",
        "../../devices/pci0000:00/0000:3b:00.0/net/eno1",
    );
    tree.write("sys/devices/virtual/net/br0/address", "aa:bb:cc:dd:ee:02\n");
    tree.symlink("sys/class/net/br0", "../../devices/virtual/net/br0");
    tree
}

fn item<'a>(items: &'a [InventoryItem], component: &str) -> &'a BTreeMap<String, String> {
    &items
        .iter()
        .find(|i| i.component.to_string() == component)
        .unwrap_or_else(|| panic!("no {component} in {items:?}"))
        .attrs
}

#[test]
fn host_dimms_and_nics_are_sent_once_and_changes_are_events() {
    let tree = tree();
    let mut inventory =
        InventoryCollector::new(&tree.paths(), &InventoryConfig::default(), &identity());
    assert_eq!(inventory.probe(), Availability::Available);
    let mut out = Output::new();
    inventory.collect(0, &mut out).expect("collect");
    let items = out.inventory_items();
    let host = item(items, "host:h1");
    assert_eq!(host["model"], "PowerEdge R740");
    assert_eq!(host["vendor"], "Dell Inc.");
    assert_eq!(host["bios_version"], "2.12.2");
    assert_eq!(host["board_name"], "0WRPXK");
    assert_eq!(host["cpu_model"], "Test CPU");
    assert_eq!(host["cpu_microcode"], "0xde");
    assert_eq!(host["kernel"], "6.1.0-test");
    assert_eq!(host["os"], "Test OS 1");
    assert_eq!(host["hostname"], "db-17");
    assert!(
        host.contains_key("memory_total_bytes"),
        "a superset of the system item"
    );
    assert!(
        !host.contains_key("product_version"),
        "placeholder left out"
    );
    let dimm = item(items, "dimm:DIMM_A1");
    assert_eq!(dimm["size_bytes"], (32u64 << 30).to_string());
    assert_eq!(dimm["mem_type"], "Registered-DDR4");
    assert_eq!(dimm["part_number"], "M393A4K40DB3-CWE");
    assert_eq!(dimm["serial"], "S123");
    let nic = item(items, "nic:eno1");
    assert_eq!(nic["driver"], "ixgbe");
    assert_eq!(nic["mac"], "aa:bb:cc:dd:ee:01");
    assert_eq!(nic["bus_id"], "0000:3b:00.0");
    assert_eq!(nic["pci_vendor"], "0x8086");
    assert!(items.iter().all(|i| i.component.to_string() != "nic:br0"));
    assert!(out.events().is_empty(), "the first reading is not a change");

    // Unchanged: nothing is sent.
    let mut out = Output::new();
    inventory.collect(60_000, &mut out).expect("collect");
    assert!(out.inventory_items().is_empty());

    // A BIOS update: the host item again, and an event naming the change.
    tree.write("sys/class/dmi/id/bios_version", "2.13.0\n");
    let mut out = Output::new();
    inventory.collect(120_000, &mut out).expect("collect");
    assert_eq!(out.inventory_items().len(), 1);
    let events = out.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind.as_str(), EventKind::INVENTORY_CHANGED);
    assert_eq!(events[0].attrs["old_bios_version"], "2.12.2");
    assert_eq!(events[0].attrs["new_bios_version"], "2.13.0");
}

#[test]
fn the_interval_gates_rereads() {
    let tree = tree();
    let mut inventory =
        InventoryCollector::new(&tree.paths(), &InventoryConfig::default(), &identity());
    inventory.collect(0, &mut Output::new()).expect("collect");
    tree.write("sys/class/dmi/id/bios_version", "9\n");
    let mut out = Output::new();
    inventory.collect(10_000, &mut out).expect("collect");
    assert!(out.inventory_items().is_empty(), "not due before 1m");
    inventory.collect(60_000, &mut out).expect("collect");
    assert_eq!(out.inventory_items().len(), 1);
}
