//! The metric names, label names and event kinds the engine's rules expect.
//!
//! Metric names are spelled once, in `harbinger_shared::catalogue::names`, which the
//! agent's collectors emit from; this module re-exports them (under the engine's older
//! short aliases where code and tests already use those). The default rule pack names
//! metrics as data; a test below fails if any metric it names is not in the catalogue.

pub use harbinger_shared::catalogue::names::{
    CPU_USAGE, DISK_LATENCY, EDAC_DIMM_CE as EDAC_CE, EDAC_DIMM_UE as EDAC_UE, FS_USED_RATIO,
    HWMON_FAN_MIN_RPM as FAN_MIN_RPM, HWMON_FAN_RPM as FAN_RPM, HWMON_PWM_RATIO as PWM_RATIO,
    HWMON_TEMP as TEMP_CELSIUS, IPMI_SENSOR_STATE, IPMI_SENSOR_VALUE, MEM_USED_RATIO,
    NVME_AVAILABLE_SPARE, NVME_AVAILABLE_SPARE_THRESHOLD, NVME_CRITICAL_WARNING, NVME_MEDIA_ERRORS,
    NVME_PERCENTAGE_USED, SCSI_GROWN_DEFECTS, SMART_ATTRIBUTE_RAW, SMART_STATUS,
};

/// Label names the engine reads.
pub mod labels {
    /// SMART series: the disk's stable identity (WWN, else serial), never `/dev/sdX`.
    pub const DEVICE_ID: &str = "device_id";
    pub const ATTRIBUTE_ID: &str = "attribute_id";
    pub const DEVICE: &str = "device";
    pub const MOUNTPOINT: &str = "mountpoint";
    pub const CONTROLLER: &str = "controller";
    pub const DIMM: &str = "dimm";
    /// EDAC: the DIMM's silkscreen label; hwmon: the sensor's label (a `pwmN` series
    /// carries the label of `fanN`).
    pub const LABEL: &str = "label";
    pub const CHIP: &str = "chip";
    pub const SENSOR: &str = "sensor";
    /// IPMI sensor name, type (as ipmitool prints it) and unit (`celsius`, `watts`…).
    pub const NAME: &str = "name";
    pub const TYPE: &str = "type";
    pub const UNIT: &str = "unit";
    pub const CPU: &str = "cpu";
}

/// Event kinds (the strings of [`harbinger_shared::EventKind`]'s constants).
pub mod events {
    use harbinger_shared::EventKind;
    pub const EDAC_CORRECTABLE: &str = EventKind::EDAC_CORRECTABLE;
    pub const EDAC_UNCORRECTABLE: &str = EventKind::EDAC_UNCORRECTABLE;
    pub const MACHINE_CHECK: &str = EventKind::MACHINE_CHECK;
    pub const IPMI_SEL: &str = EventKind::IPMI_SEL;
    pub const DISK_IO_ERROR: &str = EventKind::DISK_IO_ERROR;
    pub const REBOOT: &str = EventKind::REBOOT;
    pub const INVENTORY_CHANGED: &str = EventKind::INVENTORY_CHANGED;
}

/// Event attributes the engine reads.
pub mod event_attrs {
    /// On a `reboot` event: `true` when the agent saw a clean shutdown first (the
    /// agent also sends `cause` = `clean` | `unexpected`; `planned` is what counts).
    pub const PLANNED: &str = "planned";
    /// On a `disk_io_error` event without a component: the kernel device name.
    pub const DEVICE: &str = "device";
}

/// Inventory attributes the engine reads.
pub mod inventory_attrs {
    /// Hardware model of a host or a component (peer groups, per-model overrides).
    pub const MODEL: &str = "model";
    /// Serial number; a change means the part was replaced.
    pub const SERIAL: &str = "serial";
    /// Kernel device name of a disk (`sdb`), joining `node_disk_*{device}` to the disk.
    pub const DEVICE: &str = "device";
}

/// Whether `metric` is in the shared catalogue, the one list of wire names.
pub fn is_known_metric(metric: &str) -> bool {
    harbinger_shared::catalogue::lookup(metric).is_some()
}

#[cfg(test)]
mod tests {
    use super::is_known_metric;
    use crate::RulePack;

    /// Every metric the default pack names, including condition and threshold series.
    fn default_pack_metrics(pack: &RulePack) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        out.extend(pack.hard.iter().map(|r| r.metric.clone()));
        out.extend(pack.counters.iter().map(|r| r.metric.clone()));
        out.extend(pack.baselines.iter().map(|r| r.metric.clone()));
        for r in &pack.peers {
            out.push(r.metric.clone());
            out.extend(r.condition_metric.clone());
        }
        for r in &pack.trends {
            out.push(r.metric.clone());
            out.extend(r.threshold_metric.clone());
        }
        out.extend(pack.rates.iter().filter_map(|r| r.source.metric.clone()));
        out.extend(pack.multivariate.features.iter().map(|f| f.metric.clone()));
        out
    }

    #[test]
    fn every_metric_of_the_default_pack_is_in_the_catalogue() {
        let pack = RulePack::default_pack().expect("default pack parses");
        let metrics = default_pack_metrics(&pack);
        assert!(metrics.len() > 20, "the walk found only {metrics:?}");
        let missing: Vec<&String> = metrics.iter().filter(|m| !is_known_metric(m)).collect();
        assert!(missing.is_empty(), "not in the catalogue: {missing:?}");
    }

    #[test]
    fn labels_the_default_pack_keys_on_are_the_catalogue_labels_of_its_metrics() {
        let pack = RulePack::default_pack().expect("default pack parses");
        let check = |metric: &str, labels: &mut dyn Iterator<Item = &String>, rule: &str| {
            let def = harbinger_shared::catalogue::lookup(metric)
                .unwrap_or_else(|| panic!("{rule}: {metric} not in the catalogue"));
            for l in labels {
                assert!(
                    def.labels.contains(&l.as_str()),
                    "{rule}: {metric} has no label {l} (catalogue: {:?})",
                    def.labels
                );
            }
        };
        for r in &pack.hard {
            check(
                &r.metric,
                &mut r.component.labels.iter().chain(r.match_labels.keys()),
                &r.id,
            );
        }
        for r in &pack.counters {
            check(
                &r.metric,
                &mut r.component.labels.iter().chain(r.match_labels.keys()),
                &r.id,
            );
        }
        for r in &pack.baselines {
            check(
                &r.metric,
                &mut r.component.labels.iter().chain(r.match_labels.keys()),
                &r.id,
            );
        }
        for r in &pack.trends {
            check(
                &r.metric,
                &mut r.component.labels.iter().chain(r.match_labels.keys()),
                &r.id,
            );
        }
        for r in &pack.peers {
            check(
                &r.metric,
                &mut r.component.labels.iter().chain(r.match_labels.keys()),
                &r.id,
            );
            if let Some(cond) = &r.condition_metric {
                let copied = r.condition_copy_labels.iter();
                let mapped = r.condition_label_map.keys();
                let fixed = r.condition_match_labels.keys();
                check(cond, &mut copied.chain(mapped).chain(fixed), &r.id);
                // The condition series is looked up by its exact label set, so the
                // rule must build every label the catalogue gives that series.
                let def = harbinger_shared::catalogue::lookup(cond).expect("checked above");
                let built: std::collections::BTreeSet<&str> = r
                    .condition_copy_labels
                    .iter()
                    .chain(r.condition_label_map.keys())
                    .chain(r.condition_match_labels.keys())
                    .map(String::as_str)
                    .collect();
                let wanted: std::collections::BTreeSet<&str> = def.labels.iter().copied().collect();
                assert_eq!(built, wanted, "{}: condition labels of {cond}", r.id);
            }
        }
        for f in &pack.multivariate.features {
            check(&f.metric, &mut f.match_labels.keys(), &f.name);
        }
    }
}
