//! The packaged sample configuration (`packaging/agent.toml`) parses, validates, equals
//! the defaults, and documents every key of every section: keys with a default are set
//! to it (so a drift between the sample and the code fails here), optional keys and
//! list entries appear as commented examples. `docs/agent.md` names every key too.

use harbinger_agent::AgentConfig;
use std::path::{Path, PathBuf};

/// Every key that has a default, as `section.key` (top-level keys without a section).
const SET_KEYS: &[&str] = &[
    "collector_urls",
    "interval",
    "state_dir",
    "paths.procfs",
    "paths.sysfs",
    "paths.rootfs",
    "shipper.timeout",
    "shipper.max_queue_batches",
    "shipper.max_batch_records",
    "shipper.max_batch_bytes",
    "shipper.max_batch_age",
    "shipper.backoff_initial",
    "shipper.backoff_max",
    "shipper.flush_timeout",
    "shipper.failback_interval",
    "spool.max_bytes",
    "spool.segment_bytes",
    "spool.when_full",
    "spool.fsync",
    "edac.enabled",
    "edac.interval",
    "hwmon.enabled",
    "hwmon.interval",
    "kernel.enabled",
    "kernel.interval",
    "kernel.kmsg_path",
    "kernel.rate_limit_window",
    "reboot.enabled",
    "inventory.enabled",
    "inventory.interval",
    "smart.enabled",
    "smart.smartctl",
    "smart.interval",
    "smart.timeout",
    "smart.max_output_bytes",
    "smart.scan",
    "smart.power_mode.hdd",
    "smart.power_mode.ssd",
    "smart.power_mode.nvme",
    "ipmi.enabled",
    "ipmi.interval",
    "ipmi.local_device",
    "ipmi.timeout",
    "ipmi.retries",
    "ipmi.backend",
    "ipmi.command_timeout",
    "ipmi.dcmi",
];

/// Optional keys and list entries, shown commented out: (the line that must appear,
/// the section header it must follow).
const EXAMPLE_KEYS: &[(&str, &str)] = &[
    ("# host_id =", ""),
    ("# hostname =", ""),
    ("# site =", "[labels]"),
    ("# listen =", "[metrics]"),
    ("# [[smart.devices]]", "[smart.power_mode]"),
    ("# name =", "[smart.power_mode]"),
    ("# type =", "[smart.power_mode]"),
    ("# exclude =", "[smart.power_mode]"),
    ("# power_mode =", "[smart.power_mode]"),
    ("# [[ipmi.lan]]", "[ipmi]"),
    ("# host =", "[ipmi]"),
    ("# port =", "[ipmi]"),
    ("# username =", "[ipmi]"),
    ("# password =", "[ipmi]"),
    ("# privilege =", "[ipmi]"),
    ("# cipher_suite =", "[ipmi]"),
    ("# workarounds =", "[ipmi]"),
    ("# tool_dir =", "[ipmi]"),
];

fn sample() -> (PathBuf, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/agent.toml");
    let text = std::fs::read_to_string(&path).expect("sample config");
    (path, text)
}

fn lookup<'a>(table: &'a toml::Table, dotted: &str) -> Option<&'a toml::Value> {
    let mut parts = dotted.split('.');
    let mut value = table.get(parts.next()?)?;
    for part in parts {
        value = value.as_table()?.get(part)?;
    }
    Some(value)
}

#[test]
fn the_sample_config_is_valid_and_shows_the_defaults() {
    let (path, text) = sample();
    let config = AgentConfig::from_toml(&text, &path).expect("parses");
    config.validate().expect("valid");
    assert_eq!(
        config,
        AgentConfig::default(),
        "the sample shows the defaults"
    );
}

#[test]
fn the_sample_config_sets_every_key_that_has_a_default() {
    let (path, text) = sample();
    let table: toml::Table = toml::from_str(&text).expect("TOML");
    for key in SET_KEYS {
        assert!(
            lookup(&table, key).is_some(),
            "{key} is not set in {}",
            path.display()
        );
    }
    // And nothing is set that the list does not know (a new key must be added above
    // and to docs/agent.md).
    fn walk(prefix: &str, table: &toml::Table, out: &mut Vec<String>) {
        for (key, value) in table {
            let dotted = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            match value.as_table() {
                Some(inner) => walk(&dotted, inner, out),
                None => out.push(dotted),
            }
        }
    }
    let mut present = Vec::new();
    walk("", &table, &mut present);
    for key in &present {
        assert!(
            SET_KEYS.contains(&key.as_str()),
            "{key} is set in the sample but not listed in this test"
        );
    }
}

#[test]
fn the_sample_config_shows_every_optional_key_as_an_example() {
    let (path, text) = sample();
    for (line, after) in EXAMPLE_KEYS {
        let from = text
            .find(after)
            .unwrap_or_else(|| panic!("no {after} section"));
        assert!(
            text[from..].contains(line),
            "{line:?} is not shown after {after:?} in {}",
            path.display()
        );
    }
}

#[test]
fn docs_agent_md_documents_every_key() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/agent.md");
    let doc = std::fs::read_to_string(&path).expect("docs/agent.md");
    let optional = [
        "host_id",
        "hostname",
        "labels",
        "metrics.listen",
        "smart.devices",
        "ipmi.lan",
    ];
    for key in SET_KEYS.iter().copied().chain(optional) {
        let short = key.rsplit('.').next().unwrap_or(key);
        let section = key.rsplit_once('.').map(|(section, _)| section);
        let named = match section {
            Some(section) => {
                doc.contains(&format!("`{key}`"))
                    || (doc.contains(&format!("[{section}]"))
                        && doc.contains(&format!("`{short}`")))
            }
            None => doc.contains(&format!("`{key}`")),
        };
        assert!(named, "{key} is not documented in {}", path.display());
    }
}
