// Unit tests for hardware.js: SMART, EDAC, hwmon and IPMI rows, the hardware timeline and
// inventory grouping. Run with `node --test dashboards/tests/` (Node 18+, no packages).
// hardware.js is loaded as the browser loads it: a classic script in one global scope.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import vm from "node:vm";

function loadHardware() {
  const context = vm.createContext({});
  context.window = context;
  const url = new URL("../web/assets/hardware.js", import.meta.url);
  vm.runInContext(readFileSync(url, "utf8"), context, { filename: "hardware.js" });
  return context.HarbingerHardware;
}

const HW = loadHardware();
// Objects made inside the script's context have another Object prototype: compare plain copies.
const plain = (value) => JSON.parse(JSON.stringify(value));

const DISK = "0x5000c500a1b2c3d4";
const attr = (metric, id, name, value, ts = 1000) =>
  ({ metric, labels: { device_id: DISK, attribute_id: String(id), attribute_name: name }, ts, value });

test("a failing ATA disk: precursors, when_failed and health are judged", () => {
  const latest = {
    series: [
      attr("smartctl_device_attribute_raw", 5, "Reallocated_Sector_Ct", 24),
      attr("smartctl_device_attribute_value", 5, "Reallocated_Sector_Ct", 100),
      attr("smartctl_device_attribute_threshold", 5, "Reallocated_Sector_Ct", 10),
      attr("smartctl_device_attribute_raw", 9, "Power_On_Hours", 31000),
      attr("smartctl_device_attribute_raw", 1, "Raw_Read_Error_Rate", 5),
      attr("smartctl_device_attribute_value", 1, "Raw_Read_Error_Rate", 6),
      attr("smartctl_device_attribute_threshold", 1, "Raw_Read_Error_Rate", 6),
      attr("smartctl_device_attribute_failed", 3, "Spin_Up_Time", 1),
      { metric: "smartctl_device_smart_status", labels: { device_id: DISK }, ts: 2000, value: 0 },
      { metric: "smartctl_device_temperature_celsius", labels: { device_id: DISK }, ts: 1000, value: 41 },
      { metric: "smartctl_device_smart_status", labels: { device_id: "OK1" }, ts: 1000, value: 1 },
    ],
  };
  const inventory = [{ component: { kind: "disk", id: DISK }, attrs: { model: "ST4000DM000", serial: "Z305", firmware: "CC52" } }];
  const disks = HW.smartDisks(latest, inventory);
  assert.deepEqual(plain(disks.map((d) => [d.id, d.status, d.health])), [[DISK, "bad", "failed"], ["OK1", "ok", "passed"]]);
  const d = disks[0];
  assert.equal(d.model, "ST4000DM000");
  assert.equal(d.firmware, "CC52");
  assert.equal(d.kind, "ata");
  assert.equal(d.ts, 2000);
  assert.equal(d.temperature, 41);
  assert.equal(d.powerOnHours, 31000, "attribute 9 stands in for power-on seconds");
  assert.deepEqual(plain(d.attributes.map((a) => [a.id, a.status])), [[1, "bad"], [3, "warn"], [5, "warn"], [9, "ok"]]);
  assert.equal(d.attributes[0].why, "normalized 6 ≤ threshold 6");
  assert.deepEqual(plain(d.problems.map((p) => p.status)), ["bad", "bad", "warn", "warn"]);
  assert.equal(d.problems[0].text, "SMART overall health: FAILED");
  assert.match(d.problems[3].text, /^5 Reallocated_Sector_Ct: Reallocated sectors: 24$/);
});

test("NVMe health fields: critical warning bits, spare below threshold, wear and media errors", () => {
  const s = (metric, value) => ({ metric, labels: { device_id: "nvme1" }, ts: 5, value });
  const [d] = HW.smartDisks({ series: [
    s("smartctl_nvme_critical_warning", 5),
    s("smartctl_nvme_available_spare_ratio", 0.05),
    s("smartctl_nvme_available_spare_threshold_ratio", 0.1),
    s("smartctl_nvme_percentage_used_ratio", 0.95),
    s("smartctl_nvme_media_errors_total", 3),
    s("smartctl_device_power_on_seconds_total", 7200),
  ] }, []);
  assert.equal(d.kind, "nvme");
  assert.equal(d.powerOnHours, 2);
  assert.equal(d.status, "bad");
  assert.deepEqual(plain(d.problems.map((p) => p.text)), [
    "critical warning 5: spare below threshold, reliability degraded",
    "available spare 5 % below threshold 10 %",
    "endurance used 95 %",
    "media errors: 3",
  ]);
  const [healthy] = HW.smartDisks({ series: [s("smartctl_nvme_critical_warning", 0), s("smartctl_nvme_percentage_used_ratio", 0.1)] }, []);
  assert.equal(healthy.status, "ok");
  assert.equal(HW.smartDisks({ series: [] }, []).length, 0);
  assert.equal(HW.smartDisks(null, null).length, 0);
});

test("DIMMs carry CE/UE counts and their own EDAC events, newest first", () => {
  const labels = { controller: "0", dimm: "1", label: "CPU0_DIMM_B1" };
  const rows = HW.dimms({ series: [
    { metric: "node_edac_dimm_correctable_errors_total", labels, ts: 10, value: 7 },
    { metric: "node_edac_dimm_uncorrectable_errors_total", labels, ts: 10, value: 0 },
    { metric: "node_edac_dimm_correctable_errors_total", labels: { controller: "0", dimm: "0", label: "CPU0_DIMM_A1" }, ts: 10, value: 0 },
    { metric: "node_edac_dimm_uncorrectable_errors_total", labels: { controller: "1", dimm: "0", label: "CPU1_DIMM_A1" }, ts: 10, value: 1 },
    { metric: "node_edac_correctable_errors_total", labels: { controller: "0" }, ts: 10, value: 7 },
  ] }, [
    { ts: 1, kind: "edac_correctable", component: "dimm:CPU0_DIMM_B1", severity: "warning", message: "a", attrs: {} },
    { ts: 3, kind: "edac_correctable", component: null, severity: "warning", message: "b", attrs: { label: "CPU0_DIMM_B1" } },
    { ts: 2, kind: "disk_io_error", component: "dimm:CPU0_DIMM_B1", severity: "error", message: "not EDAC", attrs: {} },
  ]);
  assert.deepEqual(plain(rows.map((r) => [r.label, r.ce, r.ue, r.status])), [
    ["CPU0_DIMM_A1", 0, null, "ok"],
    ["CPU0_DIMM_B1", 7, 0, "warn"],
    ["CPU1_DIMM_A1", null, 1, "bad"],
  ]);
  assert.deepEqual(plain(rows[1].events.map((e) => e.message)), ["b", "a"]);
});

test("hwmon sensors: limits, alarms and the fan's PWM duty", () => {
  const fan = { chip: "nct6775-isa-0290", sensor: "fan2", label: "SYS_FAN2" };
  const temp = { chip: "coretemp-isa-0000", sensor: "temp1", label: "Package id 0" };
  const volt = { chip: "nct6775-isa-0290", sensor: "in0", label: "Vcore" };
  const rows = HW.hwmonSensors({ series: [
    { metric: "node_hwmon_fan_rpm", labels: fan, ts: 1, value: 250 },
    { metric: "node_hwmon_fan_min_rpm", labels: fan, ts: 1, value: 300 },
    { metric: "node_hwmon_pwm_ratio", labels: { ...fan, sensor: "pwm2" }, ts: 1, value: 0.5 },
    { metric: "node_hwmon_temp_celsius", labels: temp, ts: 1, value: 85 },
    { metric: "node_hwmon_temp_max_celsius", labels: temp, ts: 1, value: 80 },
    { metric: "node_hwmon_temp_crit_celsius", labels: temp, ts: 1, value: 100 },
    { metric: "node_hwmon_in_volts", labels: volt, ts: 1, value: 1.1 },
    { metric: "node_hwmon_in_alarm", labels: volt, ts: 1, value: 0 },
  ] });
  const byName = Object.fromEntries(rows.map((r) => [r.name, r]));
  assert.deepEqual(plain([byName.SYS_FAN2.state, byName.SYS_FAN2.outside, byName.SYS_FAN2.pwm, byName.SYS_FAN2.reasons]),
    ["critical", true, 0.5, ["< min 300"]]);
  assert.deepEqual(plain([byName["Package id 0"].state, byName["Package id 0"].status]), ["non-critical", "warn"]);
  assert.deepEqual(plain([byName.Vcore.state, byName.Vcore.outside, byName.Vcore.unit]), ["ok", false, "V"]);
  assert.equal(HW.describeLimits(byName["Package id 0"], String), "max 80 · crit 100");
});

test("IPMI sensors: state names, thresholds and discrete states", () => {
  const fan = { name: "FAN1", type: "Fan" };
  const rows = HW.ipmiSensors({ series: [
    { metric: "ipmi_sensor_value", labels: { ...fan, unit: "RPM" }, ts: 1, value: 400 },
    { metric: "ipmi_sensor_state", labels: fan, ts: 1, value: 2 },
    { metric: "ipmi_sensor_threshold", labels: { ...fan, threshold: "lc" }, ts: 1, value: 500 },
    { metric: "ipmi_sensor_threshold", labels: { ...fan, threshold: "lnr" }, ts: 1, value: 300 },
    { metric: "ipmi_sensor_threshold", labels: { ...fan, threshold: "bogus" }, ts: 1, value: 1 },
    { metric: "ipmi_sensor_state", labels: { name: "PS1 Status", type: "Power Supply" }, ts: 1, value: 3 },
    { metric: "ipmi_sensor_discrete_asserted", labels: { name: "PS1 Status", type: "Power Supply", state: "Failure detected" }, ts: 1, value: 1 },
    { metric: "ipmi_sensor_discrete_asserted", labels: { name: "PS1 Status", type: "Power Supply", state: "Presence detected" }, ts: 1, value: 0 },
    { metric: "ipmi_sensor_state", labels: { name: "Inlet Temp", type: "Temperature" }, ts: 1, value: 0 },
  ] });
  const byName = Object.fromEntries(rows.map((r) => [r.name, r]));
  assert.deepEqual(plain([byName.FAN1.state, byName.FAN1.status, byName.FAN1.outside, byName.FAN1.unit, byName.FAN1.type]),
    ["critical", "bad", true, "RPM", "fan"]);
  assert.equal(HW.describeLimits(byName.FAN1, String), "lnr 300 · lc 500");
  assert.deepEqual(plain([byName["PS1 Status"].state, byName["PS1 Status"].asserted]), ["non-recoverable", ["Failure detected"]]);
  assert.deepEqual(plain([byName["Inlet Temp"].state, byName["Inlet Temp"].status]), ["ok", "ok"]);
  assert.equal(HW.stateName(1), "non-critical");
  assert.equal(HW.stateName(9), "state 9");
});

test("sensor rows group by type and put problems first", () => {
  const rows = HW.sensorRows(
    { series: [
      { metric: "node_hwmon_temp_celsius", labels: { chip: "c", sensor: "temp1", label: "T" }, ts: 1, value: 40 },
      { metric: "node_hwmon_fan_rpm", labels: { chip: "c", sensor: "fan1", label: "F ok" }, ts: 1, value: 900 },
    ] },
    { series: [{ metric: "ipmi_sensor_state", labels: { name: "F bad", type: "Fan" }, ts: 1, value: 2 }] });
  assert.deepEqual(plain(rows.map((r) => [r.type, r.name])), [["fan", "F bad"], ["fan", "F ok"], ["temperature", "T"]]);
});

test("the timeline keeps hardware events and adds firmware changes the agent did not report", () => {
  const events = [
    { ts: 50, kind: "ipmi_sel", severity: "critical", component: "fan:FAN1", message: "FAN1 lower critical", attrs: {} },
    { ts: 40, kind: "agent_started", severity: "info", component: null, message: "not hardware", attrs: {} },
    { ts: 30, kind: "inventory_changed", severity: "info", component: "host:h", message: "bios",
      attrs: { change: "modified", old_bios_version: "1", new_bios_version: "2" } },
  ];
  const history = [
    { component: "disk:D", at_ms: 45, change: "modified", firmware: true, changes: [{ key: "firmware", old: "CC52", new: "CC54" }] },
    { component: "host:h", at_ms: 31, change: "modified", firmware: true, changes: [{ key: "bios_version", old: "1", new: "2" }] },
    { component: "host:h", at_ms: 20, change: "modified", firmware: false, changes: [{ key: "kernel", old: "a", new: "b" }] },
  ];
  const list = HW.timeline(events, history);
  assert.deepEqual(plain(list.map((e) => [e.ts, e.kind, e.derived])), [
    [50, "ipmi_sel", false],
    [45, "firmware_changed", true],
    [30, "inventory_changed", false],
  ]);
  assert.equal(list[1].message, "disk:D firmware CC52 → CC54");
  assert.equal(HW.timeline(null, null).length, 0);
});

test("inventory groups: host first, then by kind, ids in natural order", () => {
  const groups = HW.inventoryGroups([
    { component: "disk:d10", attrs: {} },
    { component: "disk:d9", attrs: {} },
    { component: "gpu:0", attrs: {} },
    { component: { kind: "host", id: "h" }, attrs: { bios_version: "1" } },
  ]);
  assert.deepEqual(plain(groups.map((g) => [g.kind, g.items.map((i) => i.id)])), [
    ["host", ["h"]], ["disk", ["d9", "d10"]], ["gpu", ["0"]],
  ]);
});
