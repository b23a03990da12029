//! The hwmon source on a fixture tree with real symlinks (the `device` link names the
//! chip) and on the real node_exporter and telegraf sysfs captures.

use crate::edac::{corpus, materialise, Tree};
use harbinger_agent::collectors::hwmon::{HwmonCollector, HwmonConfig};
use harbinger_agent::collectors::{Availability, Collector};
use harbinger_agent::output::Output;
use harbinger_shared::catalogue::names;

fn collect(tree: &Tree) -> Output {
    let mut hwmon = HwmonCollector::new(&tree.paths(), &HwmonConfig::default());
    assert_eq!(hwmon.probe(), Availability::Available);
    let mut out = Output::new();
    hwmon.collect(10_000, &mut out).expect("collect");
    out
}

fn l<'a>(chip: &'a str, sensor: &'a str, label: &'a str) -> [(&'static str, &'a str); 3] {
    [("chip", chip), ("sensor", sensor), ("label", label)]
}

#[test]
fn super_io_chip_with_fans_pwm_temps_voltages_power_and_current() {
    let tree = Tree::new();
    let dev = "sys/devices/platform/nct6775.656";
    let hw = format!("{dev}/hwmon/hwmon2");
    for (file, value) in [
        ("name", "nct6779"),
        ("fan1_input", "1250"),
        ("fan1_min", "600"),
        ("fan1_label", "CPU Fan"),
        ("fan1_alarm", "0"),
        ("fan2_input", "0"),
        ("fan2_fault", "1"),
        ("pwm1", "128"),
        ("pwm1_enable", "5"),
        ("temp1_input", "41500"),
        ("temp1_max", "80000"),
        ("temp1_crit", "95000"),
        ("temp1_alarm", "0"),
        ("in0_input", "1104"),
        ("in0_min", "1000"),
        ("in0_max", "1200"),
        ("in0_alarm", "1"),
        ("power1_average", "95500000"),
        ("curr1_input", "2500"),
        ("intrusion0_alarm", "1"),
    ] {
        tree.write(&format!("{hw}/{file}"), &format!("{value}\n"));
    }
    tree.write(&format!("{hw}/temp2_input"), "");
    tree.symlink(&format!("{hw}/device"), "../../../nct6775.656");
    tree.symlink(
        "sys/class/hwmon/hwmon2",
        "../../devices/platform/nct6775.656/hwmon/hwmon2",
    );
    let out = collect(&tree);
    let chip = "platform_nct6775_656";
    assert_eq!(
        out.value(
            names::HWMON_CHIP_NAMES,
            &[("chip", chip), ("chip_name", "nct6779")]
        ),
        Some(1.0)
    );
    assert_eq!(
        out.value(names::HWMON_FAN_RPM, &l(chip, "fan1", "CPU Fan")),
        Some(1250.0)
    );
    assert_eq!(
        out.value(names::HWMON_FAN_MIN_RPM, &l(chip, "fan1", "CPU Fan")),
        Some(600.0)
    );
    assert_eq!(
        out.value(names::HWMON_FAN_ALARM, &l(chip, "fan1", "CPU Fan")),
        Some(0.0)
    );
    assert_eq!(
        out.value(names::HWMON_FAN_FAULT, &l(chip, "fan2", "fan2")),
        Some(1.0)
    );
    let pwm = out
        .value(names::HWMON_PWM_RATIO, &l(chip, "pwm1", "CPU Fan"))
        .expect("pwm takes fan1's label");
    assert!((pwm - 128.0 / 255.0).abs() < 1e-9, "{pwm}");
    assert_eq!(
        out.value(names::HWMON_TEMP, &l(chip, "temp1", "temp1")),
        Some(41.5)
    );
    assert_eq!(
        out.value(names::HWMON_TEMP_MAX, &l(chip, "temp1", "temp1")),
        Some(80.0)
    );
    assert_eq!(
        out.value(names::HWMON_TEMP_CRIT, &l(chip, "temp1", "temp1")),
        Some(95.0)
    );
    assert_eq!(
        out.value(names::HWMON_TEMP, &l(chip, "temp2", "temp2")),
        None,
        "empty file"
    );
    assert_eq!(
        out.value(names::HWMON_IN_VOLTS, &l(chip, "in0", "in0")),
        Some(1.104)
    );
    assert_eq!(
        out.value(names::HWMON_IN_ALARM, &l(chip, "in0", "in0")),
        Some(1.0)
    );
    assert_eq!(
        out.value(names::HWMON_POWER_WATTS, &l(chip, "power1", "power1")),
        Some(95.5)
    );
    assert_eq!(
        out.value(names::HWMON_CURR_AMPERES, &l(chip, "curr1", "curr1")),
        Some(2.5)
    );
    assert_eq!(
        out.value(
            names::HWMON_INTRUSION_ALARM,
            &l(chip, "intrusion0", "intrusion0")
        ),
        Some(1.0)
    );
}

#[test]
fn probe_explains_a_machine_without_sensors() {
    let tree = Tree::new();
    std::fs::create_dir_all(tree.path("sys/class/hwmon")).expect("mkdir");
    let hwmon = HwmonCollector::new(&tree.paths(), &HwmonConfig::default());
    match hwmon.probe() {
        Availability::Unavailable(reason) => assert!(reason.contains("is empty"), "{reason}"),
        Availability::Available => panic!("no chips"),
    }
}

#[test]
fn node_exporter_hwmon_tree() {
    let Some(corpus) = corpus("agent hwmon conformance (node_exporter)") else {
        return;
    };
    let tree = Tree::new();
    materialise(&corpus.join("sysfs/node_exporter/sys"), &tree.path("sys"));
    let out = collect(&tree);

    // Two coretemp sockets, told apart by their device, with humane labels.
    for chip in ["platform_coretemp_0", "platform_coretemp_1"] {
        let package = l(chip, "temp1", "Physical id 0");
        assert_eq!(out.value(names::HWMON_TEMP, &package), Some(55.0), "{chip}");
        assert_eq!(out.value(names::HWMON_TEMP_MAX, &package), Some(84.0));
        assert_eq!(out.value(names::HWMON_TEMP_CRIT, &package), Some(100.0));
        assert_eq!(out.value(names::HWMON_TEMP_CRIT_ALARM, &package), Some(0.0));
        assert_eq!(
            out.value(names::HWMON_TEMP, &l(chip, "temp5", "Core 3")),
            Some(50.0)
        );
    }
    // applesmc keeps its sensors on the device: a stopped fan below its minimum.
    let smc = "platform_applesmc_768";
    assert_eq!(
        out.value(names::HWMON_FAN_RPM, &l(smc, "fan1", "Left side")),
        Some(0.0)
    );
    assert_eq!(
        out.value(names::HWMON_FAN_MIN_RPM, &l(smc, "fan1", "Left side")),
        Some(2160.0)
    );
    assert_eq!(
        out.value(names::HWMON_FAN_RPM, &l(smc, "fan2", "Right side")),
        Some(1998.0)
    );
    assert_eq!(
        out.value(names::HWMON_FAN_MAX_RPM, &l(smc, "fan2", "Right side")),
        Some(5700.0)
    );
    // The Nuvoton board: fan2 with its target, in1 in alarm, chassis intrusion.
    // This capture has no device link for the Nuvoton chip: named after its driver.
    let nct = "nct6779";
    assert_eq!(
        out.value(names::HWMON_FAN_RPM, &l(nct, "fan2", "fan2")),
        Some(1098.0)
    );
    assert_eq!(
        out.value(names::HWMON_FAN_TARGET_RPM, &l(nct, "fan2", "fan2")),
        Some(27000.0)
    );
    assert_eq!(
        out.value(names::HWMON_IN_ALARM, &l(nct, "in1", "in1")),
        Some(1.0)
    );
    assert_eq!(
        out.value(names::HWMON_IN_VOLTS, &l(nct, "in0", "in0")),
        Some(0.792)
    );
    for sensor in ["intrusion0", "intrusion1"] {
        assert_eq!(
            out.value(names::HWMON_INTRUSION_ALARM, &l(nct, sensor, sensor)),
            Some(1.0)
        );
    }
    assert_eq!(
        out.value(
            names::HWMON_CHIP_NAMES,
            &[("chip", nct), ("chip_name", "nct6779")]
        ),
        Some(1.0)
    );
    // hwmon4 has no device link: named after itself.
    assert_eq!(
        out.value(names::HWMON_TEMP, &l("hwmon4", "temp1", "foosensor")),
        Some(55.0)
    );
    // Three radios on one Wi-Fi device get distinct chips.
    for (n, t) in [(0, 55.0), (1, 56.0), (2, 57.0)] {
        let chip = format!("ieee80211_phy0_mt7996_phy0_{n}");
        assert_eq!(
            out.value(names::HWMON_TEMP, &l(&chip, "temp1", "temp1")),
            Some(t),
            "{chip}"
        );
    }
    // pwm-only and bogus chips yield no sensor series, and nothing panics on them.
    assert!(
        out.label_sets(names::HWMON_PWM_RATIO).is_empty(),
        "no pwmN duty files in this tree"
    );
    assert!(out
        .label_sets(names::HWMON_TEMP)
        .iter()
        .all(|s| s["chip"] != "platform_bogus_0"));
    // The NIC and NVMe sensors are only reachable through /sys/devices here (the class
    // links of this capture point elsewhere), so they are not expected.
    assert!(out.label_sets(names::HWMON_TEMP).len() >= 14);
}

#[test]
fn telegraf_nvme_tree_drops_placeholder_thresholds() {
    let Some(corpus) = corpus("agent hwmon conformance (telegraf nvme)") else {
        return;
    };
    let tree = Tree::new();
    materialise(
        &corpus.join("sysfs/telegraf_temp_nvme/sys"),
        &tree.path("sys"),
    );
    let out = collect(&tree);
    // The device links dangle; the link's last component still names the device.
    let composite = l("nvme_nvme0", "temp1", "Composite");
    assert_eq!(out.value(names::HWMON_TEMP, &composite), Some(32.85));
    assert_eq!(out.value(names::HWMON_TEMP_MAX, &composite), Some(81.85));
    assert_eq!(out.value(names::HWMON_TEMP_CRIT, &composite), Some(84.85));
    assert_eq!(out.value(names::HWMON_TEMP_ALARM, &composite), Some(0.0));
    assert_eq!(
        out.value(names::HWMON_TEMP_MIN, &composite),
        None,
        "-273.15 means unset"
    );
    let sensor1 = l("nvme_nvme1", "temp2", "Sensor 1");
    assert_eq!(out.value(names::HWMON_TEMP, &sensor1), Some(35.85));
    assert_eq!(
        out.value(names::HWMON_TEMP_MAX, &sensor1),
        None,
        "65261.85 means unset"
    );
    assert_eq!(
        out.value(
            names::HWMON_TEMP,
            &l("k10temp_0000_00_18_3", "temp3", "Tccd1")
        ),
        Some(30.75)
    );
    assert!(out.label_sets(names::HWMON_TEMP_MIN).is_empty());
}
