//! The `inventory` source: what the host is made of: system vendor and model (the
//! peer-group key), board, BIOS, CPU model and microcode, DIMMs, NICs, kernel and OS,
//! sent when it changes.
//!
//! The host item is a superset of the one the `system` source sends (same keys, plus
//! DMI and microcode), and this source runs after `system`, so in a batch carrying
//! both the collector keeps the fuller one. A change to an item after the first
//! reading is also an `inventory_changed` event naming the keys that changed (a BIOS
//! or microcode update, a replaced DIMM), ignoring keys that change by themselves.
//! MAC addresses are sent: they identify the physical NIC and are needed to match
//! switch-side data; they are not secrets.

pub mod smbios;

use super::{edac, Availability, CollectError, Collector, Every};
use crate::config::{check_range, ConfigError};
use crate::duration;
use crate::host_paths::HostPaths;
use crate::identity::Identity;
use crate::output::Output;
use crate::procfs::cpuinfo::parse_cpuinfo;
use crate::procfs::meminfo::parse_meminfo;
use crate::procfs::os_release::parse_os_release;
use harbinger_shared::{ComponentId, ComponentKind, Event, EventKind, InventoryItem, Severity};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The source name, as in `harbinger_agent_source_success{source="inventory"}`.
pub const NAME: &str = "inventory";

/// Host keys that change without anything being swapped; not worth an event.
const VOLATILE_KEYS: &[&str] = &["boot_id", "memory_total_bytes"];

/// `/sys/class/dmi/id` files → host item keys. `product_name` is the hardware model
/// that defines peer groups.
const DMI_KEYS: &[(&str, &str)] = &[
    ("sys_vendor", "vendor"),
    ("product_name", "model"),
    ("product_version", "product_version"),
    ("board_vendor", "board_vendor"),
    ("board_name", "board_name"),
    ("board_version", "board_version"),
    ("bios_vendor", "bios_vendor"),
    ("bios_version", "bios_version"),
    ("bios_date", "bios_date"),
    ("chassis_vendor", "chassis_vendor"),
];

/// `[inventory]` in the agent configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InventoryConfig {
    pub enabled: bool,
    /// How often the inventory is re-read (it is sent only when it changed).
    #[serde(deserialize_with = "duration::deserialize")]
    pub interval: Duration,
}

impl Default for InventoryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(60),
        }
    }
}

impl InventoryConfig {
    pub fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        check_range(
            &format!("{prefix}.interval"),
            self.interval,
            Duration::from_secs(1),
            Duration::from_secs(86_400),
        )
    }
}

/// Reads the inventory and sends the items that changed.
pub struct InventoryCollector {
    paths: HostPaths,
    host: ComponentId,
    hostname: String,
    every: Every,
    last: Option<BTreeMap<ComponentId, BTreeMap<String, String>>>,
}

impl InventoryCollector {
    pub fn new(paths: &HostPaths, config: &InventoryConfig, identity: &Identity) -> Self {
        Self {
            paths: paths.clone(),
            host: identity.host_component(),
            hostname: identity.hostname.clone(),
            every: Every::new(config.interval),
            last: None,
        }
    }

    fn host_item(&self) -> BTreeMap<String, String> {
        let mut attrs = BTreeMap::from([("hostname".to_owned(), self.hostname.clone())]);
        let mut put = |key: &str, value: Option<String>| {
            if let Some(value) = value {
                attrs.insert(key.to_owned(), value);
            }
        };
        let p = &self.paths;
        put(
            "boot_id",
            read_trimmed(&p.proc("sys/kernel/random/boot_id")),
        );
        put("kernel", read_trimmed(&p.proc("sys/kernel/osrelease")));
        put(
            "os",
            ["/etc/os-release", "/usr/lib/os-release"]
                .into_iter()
                .find_map(|f| read_trimmed(&p.root(f)))
                .and_then(|text| parse_os_release(&text)),
        );
        let cpuinfo = read_trimmed(&p.proc("cpuinfo"));
        if let Some(text) = &cpuinfo {
            let cpu = parse_cpuinfo(text);
            put("cpu_model", cpu.model);
            put(
                "cpu_count",
                (cpu.logical_cpus > 0).then(|| cpu.logical_cpus.to_string()),
            );
        }
        put(
            "cpu_microcode",
            read_trimmed(&p.sys("devices/system/cpu/cpu0/microcode/version")).or_else(|| {
                cpuinfo.as_deref().and_then(|text| {
                    text.lines()
                        .find_map(|l| l.strip_prefix("microcode"))
                        .and_then(|rest| rest.split_once(':'))
                        .map(|(_, v)| v.trim().to_owned())
                })
            }),
        );
        put(
            "memory_total_bytes",
            read_trimmed(&p.proc("meminfo"))
                .and_then(|text| parse_meminfo(&text).total)
                .map(|t| t.to_string()),
        );
        let dmi = p.sys("class/dmi/id");
        for (file, key) in DMI_KEYS {
            put(
                key,
                read_trimmed(&dmi.join(file)).filter(|v| !is_placeholder(v)),
            );
        }
        attrs
    }

    /// DIMMs from EDAC, enriched (or, without EDAC, found) by SMBIOS type 17 records
    /// whose slot name equals the EDAC label.
    fn dimms(&self, items: &mut BTreeMap<ComponentId, BTreeMap<String, String>>) {
        if let Ok(controllers) = edac::read_controllers(&self.paths) {
            for mc in &controllers {
                for dimm in &mc.dimms {
                    let mut attrs = BTreeMap::from([
                        ("controller".to_owned(), mc.index.clone()),
                        ("dimm".to_owned(), dimm.id.clone()),
                    ]);
                    let optional = [
                        ("location", dimm.location.clone()),
                        ("size_bytes", dimm.size_bytes.map(|s| s.to_string())),
                        ("mem_type", dimm.mem_type.clone()),
                        ("edac_mode", dimm.edac_mode.clone()),
                    ];
                    for (key, value) in optional {
                        if let Some(value) = value {
                            attrs.insert(key.to_owned(), value);
                        }
                    }
                    items.insert(
                        ComponentId::new(ComponentKind::Dimm, dimm.label.clone()),
                        attrs,
                    );
                }
            }
        }
        let entries = self.paths.sys("firmware/dmi/entries");
        let Ok(dirs) = std::fs::read_dir(&entries) else {
            return;
        };
        for entry in dirs.filter_map(Result::ok) {
            if !entry.file_name().to_string_lossy().starts_with("17-") {
                continue;
            }
            let Ok(raw) = std::fs::read(entry.path().join("raw")) else {
                continue;
            };
            let Some(dev) = smbios::parse_memory_device(&raw) else {
                continue;
            };
            let attrs = items
                .entry(ComponentId::new(ComponentKind::Dimm, dev.locator.clone()))
                .or_default();
            let optional = [
                ("bank", dev.bank),
                ("size_bytes", dev.size_bytes.map(|s| s.to_string())),
                ("speed_mts", dev.speed_mts.map(|s| s.to_string())),
                ("manufacturer", dev.manufacturer),
                ("serial", dev.serial),
                ("part_number", dev.part_number),
            ];
            for (key, value) in optional {
                if let Some(value) = value {
                    attrs.insert(key.to_owned(), value);
                }
            }
        }
    }

    /// Physical NICs (those with a `device` link; bridges, bonds and veths have none).
    fn nics(&self, items: &mut BTreeMap<ComponentId, BTreeMap<String, String>>) {
        let class = self.paths.sys("class/net");
        let Ok(dirs) = std::fs::read_dir(&class) else {
            return;
        };
        for entry in dirs.filter_map(Result::ok) {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let dir = entry.path();
            let device = dir.join("device");
            let Ok(target) = std::fs::read_link(&device) else {
                continue;
            };
            let mut attrs = BTreeMap::new();
            if let Some(bus_id) = target.file_name().and_then(|n| n.to_str()) {
                attrs.insert("bus_id".to_owned(), bus_id.to_owned());
            }
            if let Some(driver) = std::fs::read_link(device.join("driver"))
                .ok()
                .and_then(|t| t.file_name().and_then(|n| n.to_str()).map(str::to_owned))
            {
                attrs.insert("driver".to_owned(), driver);
            }
            // The permanent address survives a bond rewriting `address`.
            let mac = read_trimmed(&dir.join("bonding_slave/perm_hwaddr"))
                .or_else(|| read_trimmed(&dir.join("address")));
            if let Some(mac) = mac {
                attrs.insert("mac".to_owned(), mac);
            }
            for (file, key) in [
                ("device/vendor", "pci_vendor"),
                ("device/device", "pci_device"),
                ("device/firmware_version", "firmware"),
            ] {
                if let Some(value) = read_trimmed(&dir.join(file)) {
                    attrs.insert(key.to_owned(), value);
                }
            }
            items.insert(ComponentId::new(ComponentKind::Nic, name), attrs);
        }
    }
}

fn read_trimmed(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// Values vendors leave in unset DMI fields.
fn is_placeholder(value: &str) -> bool {
    [
        "To Be Filled By O.E.M.",
        "To be filled by O.E.M.",
        "Default string",
        "Not Specified",
        "System Product Name",
        "System manufacturer",
        "0123456789",
    ]
    .iter()
    .any(|p| value.eq_ignore_ascii_case(p))
}

impl Collector for InventoryCollector {
    fn name(&self) -> &'static str {
        NAME
    }

    fn probe(&self) -> Availability {
        let dmi: PathBuf = self.paths.sys("class/dmi/id");
        if dmi.is_dir() || self.paths.proc("cpuinfo").is_file() {
            Availability::Available
        } else {
            Availability::Unavailable(format!(
                "neither {} nor {} is readable",
                dmi.display(),
                self.paths.proc("cpuinfo").display()
            ))
        }
    }

    fn collect(&mut self, ts_ms: i64, out: &mut Output) -> Result<(), CollectError> {
        if !self.every.due(ts_ms) {
            return Ok(());
        }
        let mut items = BTreeMap::new();
        items.insert(self.host.clone(), self.host_item());
        self.dimms(&mut items);
        self.nics(&mut items);
        let previous = self.last.take();
        for (component, attrs) in &items {
            let before = previous.as_ref().and_then(|p| p.get(component));
            if before == Some(attrs) {
                continue;
            }
            out.inventory(InventoryItem {
                component: component.clone(),
                attrs: attrs.clone(),
            });
            if let (Some(_), Some(before)) = (&previous, before) {
                if let Some(event) = change_event(ts_ms, component, before, attrs) {
                    out.event(event);
                }
            } else if previous.is_some() {
                out.event(Event {
                    ts: ts_ms,
                    kind: EventKind::new(EventKind::INVENTORY_CHANGED),
                    severity: Severity::Info,
                    component: Some(component.clone()),
                    message: format!("{component} appeared"),
                    attrs: BTreeMap::from([("change".to_owned(), "added".to_owned())]),
                });
            }
        }
        if let Some(previous) = &previous {
            for component in previous.keys().filter(|c| !items.contains_key(*c)) {
                out.event(Event {
                    ts: ts_ms,
                    kind: EventKind::new(EventKind::INVENTORY_CHANGED),
                    severity: Severity::Warning,
                    component: Some(component.clone()),
                    message: format!("{component} disappeared"),
                    attrs: BTreeMap::from([("change".to_owned(), "removed".to_owned())]),
                });
            }
        }
        self.last = Some(items);
        Ok(())
    }
}

/// An `inventory_changed` event listing `key: old -> new`, or `None` when only
/// volatile keys changed.
fn change_event(
    ts: i64,
    component: &ComponentId,
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Option<Event> {
    let mut changes = Vec::new();
    let mut attrs = BTreeMap::from([("change".to_owned(), "modified".to_owned())]);
    let keys: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for key in keys {
        if VOLATILE_KEYS.contains(&key.as_str()) {
            continue;
        }
        let (old, new) = (before.get(key), after.get(key));
        if old != new {
            let show = |v: Option<&String>| v.cloned().unwrap_or_else(|| "-".to_owned());
            changes.push(format!("{key}: {} -> {}", show(old), show(new)));
            attrs.insert(format!("old_{key}"), show(old));
            attrs.insert(format!("new_{key}"), show(new));
        }
    }
    (!changes.is_empty()).then(|| Event {
        ts,
        kind: EventKind::new(EventKind::INVENTORY_CHANGED),
        severity: Severity::Info,
        component: Some(component.clone()),
        message: format!("{component} changed: {}", changes.join(", ")),
        attrs,
    })
}
