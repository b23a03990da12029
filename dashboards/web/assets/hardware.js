/*
 * Harbinger dashboard: pure helpers that turn the hardware API answers into table rows.
 *
 * Input is what the collector serves: `latest` answers ({series: [{metric, labels, ts,
 * value}]}), inventory items, events and inventory history. Output is plain objects
 * with a `status` per value ("ok", "warn", "bad") that the host page colours. Nothing
 * here touches the DOM, so `node --test dashboards/tests/` checks it all.
 */
"use strict";

window.HarbingerHardware = (function () {
  // ATA attributes that precede failures (Backblaze's and Google's disk studies):
  // any non-zero raw value is worth a look even while the drive says it is healthy.
  const PRECURSORS = {
    5: "Reallocated sectors",
    187: "Reported uncorrectable",
    188: "Command timeouts",
    197: "Pending sectors",
    198: "Offline uncorrectable",
    199: "UDMA CRC errors",
  };
  const PRECURSOR_IDS = Object.keys(PRECURSORS).map(Number);

  const NVME_WARNING_BITS = [
    [1, "spare below threshold"],
    [2, "temperature"],
    [4, "reliability degraded"],
    [8, "read-only"],
    [16, "volatile backup failed"],
    [32, "persistent memory read-only"],
  ];

  const IPMI_STATES = ["ok", "non-critical", "critical", "non-recoverable"];

  /** ipmi_sensor_state's number → its name; unknown numbers stay visible as such. */
  function stateName(value) {
    return Number.isInteger(value) && value >= 0 && value < IPMI_STATES.length ? IPMI_STATES[value] : `state ${value}`;
  }

  /** The page colour of a sensor state. */
  function stateStatus(state) {
    if (state === "ok") return "ok";
    if (state === "non-critical") return "warn";
    if (state == null) return "ok";
    return "bad";
  }

  const RANK = { ok: 0, warn: 1, bad: 2 };

  function worst(...statuses) {
    return statuses.reduce((a, b) => ((RANK[b] ?? 0) > (RANK[a] ?? 0) ? b : a), "ok");
  }

  function seriesOf(answer) {
    return answer && Array.isArray(answer.series) ? answer.series : [];
  }

  /** "disk:0x5000…" or {kind, id} → [kind, id]. */
  function componentParts(component) {
    if (component && typeof component === "object") return [String(component.kind), String(component.id)];
    const text = String(component ?? "");
    const colon = text.indexOf(":");
    return colon < 0 ? [text, ""] : [text.slice(0, colon), text.slice(colon + 1)];
  }

  function byNumericId(a, b) {
    return String(a).localeCompare(String(b), undefined, { numeric: true });
  }

  // --- SMART -----------------------------------------------------------------

  /**
   * One entry per disk (by device_id) from a `latest?prefix=smartctl_` answer and the
   * host's inventory (model, serial, firmware come from there).
   */
  function smartDisks(latestAnswer, inventory) {
    const disks = new Map();
    const disk = (id) => {
      if (!disks.has(id)) {
        disks.set(id, { id, ts: null, health: null, temperature: null, powerOnHours: null,
          attributes: new Map(), nvme: {}, scsi: {}, errorLog: null, selfTestErrors: null, standby: false });
      }
      return disks.get(id);
    };
    for (const s of seriesOf(latestAnswer)) {
      const labels = s.labels || {};
      const id = labels.device_id;
      if (!id) continue;
      const d = disk(id);
      d.ts = Math.max(d.ts ?? s.ts, s.ts);
      const v = s.value;
      const attrField = {
        smartctl_device_attribute_raw: "raw",
        smartctl_device_attribute_value: "value",
        smartctl_device_attribute_worst: "worst",
        smartctl_device_attribute_threshold: "threshold",
        smartctl_device_attribute_failed: "failed",
      }[s.metric];
      if (attrField) {
        const key = Number(labels.attribute_id);
        if (!d.attributes.has(key)) {
          d.attributes.set(key, { id: key, name: labels.attribute_name || "", raw: null, value: null, worst: null, threshold: null, failed: null });
        }
        d.attributes.get(key)[attrField] = v;
        continue;
      }
      switch (s.metric) {
        case "smartctl_device_smart_status": d.health = v === 1 ? "passed" : "failed"; break;
        case "smartctl_device_temperature_celsius": d.temperature = v; break;
        case "smartctl_device_power_on_seconds_total": d.powerOnHours = v / 3600; break;
        case "smartctl_device_error_log_entries_total": d.errorLog = v; break;
        case "smartctl_device_self_test_errors": d.selfTestErrors = v; break;
        case "smartctl_device_standby": d.standby = v === 1; break;
        case "smartctl_nvme_critical_warning": d.nvme.criticalWarning = v; break;
        case "smartctl_nvme_available_spare_ratio": d.nvme.spare = v; break;
        case "smartctl_nvme_available_spare_threshold_ratio": d.nvme.spareThreshold = v; break;
        case "smartctl_nvme_percentage_used_ratio": d.nvme.percentageUsed = v; break;
        case "smartctl_nvme_media_errors_total": d.nvme.mediaErrors = v; break;
        case "smartctl_scsi_grown_defects": d.scsi.grownDefects = v; break;
        default: break;
      }
    }
    const inv = new Map();
    for (const item of Array.isArray(inventory) ? inventory : []) {
      const [kind, id] = componentParts(item.component);
      if (kind === "disk") inv.set(id, item.attrs || {});
    }
    return Array.from(disks.values()).map((d) => finishDisk(d, inv.get(d.id) || {}))
      .sort((a, b) => RANK[b.status] - RANK[a.status] || byNumericId(a.device || a.id, b.device || b.id));
  }

  function finishDisk(d, attrs) {
    const problems = [];
    const attributes = Array.from(d.attributes.values()).sort((a, b) => a.id - b.id).map((a) => {
      let status = "ok";
      let why = null;
      if (a.failed === 2) {
        status = "bad";
        why = "failing now: normalized value at or below its threshold";
      } else if (a.threshold > 0 && a.value != null && a.value <= a.threshold) {
        status = "bad";
        why = `normalized ${a.value} ≤ threshold ${a.threshold}`;
      } else if (a.failed === 1) {
        status = "warn";
        why = "failed in the past (when_failed)";
      } else if (PRECURSOR_IDS.includes(a.id) && a.raw > 0) {
        status = "warn";
        why = `${PRECURSORS[a.id]}: ${a.raw}`;
      }
      if (why) problems.push({ status, text: `${a.id} ${a.name}: ${why}` });
      return { ...a, precursor: PRECURSOR_IDS.includes(a.id), status, why };
    });
    // Attribute 9 is the ATA power-on counter when the agent sent no seconds series.
    let powerOnHours = d.powerOnHours;
    if (powerOnHours == null && d.attributes.has(9)) powerOnHours = d.attributes.get(9).raw;
    // Likewise 194 (or 190, airflow) for the temperature; the agent decodes both raws.
    let temperature = d.temperature;
    for (const id of [194, 190]) {
      if (temperature == null && d.attributes.has(id)) temperature = d.attributes.get(id).raw;
    }

    const nvme = d.nvme;
    const hasNvme = Object.keys(nvme).length > 0;
    if (hasNvme) {
      if (nvme.criticalWarning > 0) {
        const bits = NVME_WARNING_BITS.filter(([bit]) => (nvme.criticalWarning & bit) !== 0).map(([, name]) => name);
        problems.push({ status: "bad", text: `critical warning ${nvme.criticalWarning}: ${bits.join(", ") || "unknown bits"}` });
      }
      if (nvme.spare != null && nvme.spareThreshold != null && nvme.spare < nvme.spareThreshold) {
        problems.push({ status: "bad", text: `available spare ${pct(nvme.spare)} below threshold ${pct(nvme.spareThreshold)}` });
      }
      if (nvme.percentageUsed >= 1) problems.push({ status: "bad", text: `endurance used ${pct(nvme.percentageUsed)}` });
      else if (nvme.percentageUsed >= 0.9) problems.push({ status: "warn", text: `endurance used ${pct(nvme.percentageUsed)}` });
      if (nvme.mediaErrors > 0) problems.push({ status: "warn", text: `media errors: ${nvme.mediaErrors}` });
    }
    if (d.scsi.grownDefects > 0) problems.push({ status: "warn", text: `grown defects: ${d.scsi.grownDefects}` });
    if (d.health === "failed") problems.unshift({ status: "bad", text: "SMART overall health: FAILED" });
    if (d.selfTestErrors > 0) problems.push({ status: "warn", text: `self-test log errors: ${d.selfTestErrors}` });

    return {
      id: d.id,
      ts: d.ts,
      model: attrs.model || null,
      serial: attrs.serial || null,
      firmware: attrs.firmware || null,
      device: attrs.device || null,
      health: d.health,
      temperature,
      powerOnHours,
      errorLog: d.errorLog,
      standby: d.standby,
      kind: hasNvme ? "nvme" : d.attributes.size > 0 ? "ata" : Object.keys(d.scsi).length > 0 ? "scsi" : "unknown",
      attributes,
      nvme: hasNvme ? nvme : null,
      problems,
      status: worst(...problems.map((p) => p.status)),
    };
  }

  function pct(ratio) {
    return `${Math.round(ratio * 1000) / 10} %`;
  }

  // --- EDAC ------------------------------------------------------------------

  const EDAC_KINDS = ["edac_correctable", "edac_uncorrectable", "edac_message"];

  /** One row per DIMM label with CE/UE counts and its recent EDAC events (newest first). */
  function dimms(latestAnswer, events) {
    const rows = new Map();
    for (const s of seriesOf(latestAnswer)) {
      const which = s.metric === "node_edac_dimm_correctable_errors_total" ? "ce"
        : s.metric === "node_edac_dimm_uncorrectable_errors_total" ? "ue" : null;
      if (!which) continue;
      const labels = s.labels || {};
      const label = labels.label || `mc${labels.controller ?? "?"}/${labels.dimm ?? "?"}`;
      if (!rows.has(label)) rows.set(label, { label, controller: labels.controller ?? null, dimm: labels.dimm ?? null, ce: null, ue: null, ts: s.ts, events: [] });
      const row = rows.get(label);
      row[which] = s.value;
      row.ts = Math.max(row.ts, s.ts);
    }
    for (const ev of Array.isArray(events) ? events : []) {
      if (!EDAC_KINDS.includes(ev.kind)) continue;
      const [kind, id] = componentParts(ev.component);
      const label = kind === "dimm" ? id : (ev.attrs && ev.attrs.label) || null;
      if (label && rows.has(label)) rows.get(label).events.push(ev);
    }
    return Array.from(rows.values()).map((row) => {
      row.events.sort((a, b) => b.ts - a.ts);
      row.status = row.ue > 0 ? "bad" : row.ce > 0 ? "warn" : "ok";
      return row;
    }).sort((a, b) => byNumericId(a.label, b.label));
  }

  // --- Sensors (hwmon and IPMI) ------------------------------------------------

  const HWMON = {
    node_hwmon_fan_rpm: ["fan", "value"],
    node_hwmon_fan_min_rpm: ["fan", "min"],
    node_hwmon_fan_max_rpm: ["fan", "max"],
    node_hwmon_fan_target_rpm: ["fan", "target"],
    node_hwmon_fan_alarm: ["fan", "alarm"],
    node_hwmon_fan_fault: ["fan", "fault"],
    node_hwmon_temp_celsius: ["temperature", "value"],
    node_hwmon_temp_min_celsius: ["temperature", "min"],
    node_hwmon_temp_max_celsius: ["temperature", "max"],
    node_hwmon_temp_crit_celsius: ["temperature", "crit"],
    node_hwmon_temp_alarm: ["temperature", "alarm"],
    node_hwmon_temp_crit_alarm: ["temperature", "critAlarm"],
    node_hwmon_in_volts: ["voltage", "value"],
    node_hwmon_in_min_volts: ["voltage", "min"],
    node_hwmon_in_max_volts: ["voltage", "max"],
    node_hwmon_in_alarm: ["voltage", "alarm"],
    node_hwmon_power_watts: ["power", "value"],
    node_hwmon_power_max_watts: ["power", "max"],
    node_hwmon_power_crit_watts: ["power", "crit"],
    node_hwmon_power_alarm: ["power", "alarm"],
    node_hwmon_curr_amperes: ["current", "value"],
    node_hwmon_curr_min_amperes: ["current", "min"],
    node_hwmon_curr_max_amperes: ["current", "max"],
    node_hwmon_curr_alarm: ["current", "alarm"],
  };
  const HWMON_UNITS = { fan: "RPM", temperature: "°C", voltage: "V", power: "W", current: "A" };

  /** Rows from a `latest?prefix=node_hwmon_` answer: one per chip sensor, with its limits. */
  function hwmonSensors(latestAnswer) {
    const rows = new Map();
    const pwm = new Map();
    for (const s of seriesOf(latestAnswer)) {
      const labels = s.labels || {};
      if (s.metric === "node_hwmon_pwm_ratio") {
        // A pwmN series carries the label of its fanN: attach the duty to that fan.
        pwm.set(`${labels.chip}\u0000${labels.label}`, s.value);
        continue;
      }
      const spec = HWMON[s.metric];
      if (!spec) continue;
      const [type, field] = spec;
      const key = `${labels.chip}\u0000${labels.sensor}`;
      if (!rows.has(key)) {
        rows.set(key, { source: "hwmon", type, chip: labels.chip || "", sensor: labels.sensor || "",
          name: labels.label || labels.sensor || "", unit: HWMON_UNITS[type], value: null, limits: {}, ts: s.ts });
      }
      const row = rows.get(key);
      row.ts = Math.max(row.ts, s.ts);
      if (field === "value") row.value = s.value;
      else row.limits[field] = s.value;
    }
    return Array.from(rows.values()).map((row) => {
      if (row.type === "fan") {
        const duty = pwm.get(`${row.chip}\u0000${row.name}`);
        if (duty != null) row.pwm = duty;
      }
      return judgeHwmon(row);
    });
  }

  function judgeHwmon(row) {
    const l = row.limits;
    const v = row.value;
    const reasons = [];
    let state = "ok";
    const raise = (to, why) => {
      if (IPMI_STATES.indexOf(to) > IPMI_STATES.indexOf(state)) state = to;
      reasons.push(why);
    };
    if (l.fault === 1) raise("critical", "fault");
    if (l.critAlarm === 1) raise("critical", "critical alarm");
    if (l.alarm === 1) raise("critical", "alarm");
    if (v != null) {
      if (l.crit != null && v >= l.crit) raise("critical", `≥ crit ${l.crit}`);
      else if (l.max != null && v > l.max) raise(row.type === "temperature" ? "non-critical" : "critical", `> max ${l.max}`);
      if (l.min != null && v < l.min) raise("critical", `< min ${l.min}`);
    }
    row.state = state;
    row.status = stateStatus(state);
    row.outside = reasons.some((r) => /[<>≥]/.test(r));
    row.reasons = reasons;
    return row;
  }

  const THRESHOLD_ORDER = ["lnr", "lc", "lnc", "unc", "uc", "unr"];

  /** Rows from a `latest?prefix=ipmi_` answer: one per BMC sensor (name + type). */
  function ipmiSensors(latestAnswer) {
    const rows = new Map();
    const row = (labels, ts) => {
      const key = `${labels.bmc || ""}\u0000${labels.name}\u0000${labels.type}`;
      if (!rows.has(key)) {
        rows.set(key, { source: "ipmi", bmc: labels.bmc || null, name: labels.name || "", sensorType: labels.type || "",
          type: ipmiType(labels.type), unit: null, value: null, stateValue: null, limits: {}, asserted: [], ts });
      }
      const r = rows.get(key);
      r.ts = Math.max(r.ts, ts);
      return r;
    };
    for (const s of seriesOf(latestAnswer)) {
      const labels = s.labels || {};
      if (!labels.name) continue;
      switch (s.metric) {
        case "ipmi_sensor_value": {
          const r = row(labels, s.ts);
          r.value = s.value;
          r.unit = unitSymbol(labels.unit);
          break;
        }
        case "ipmi_sensor_state": row(labels, s.ts).stateValue = s.value; break;
        case "ipmi_sensor_threshold":
          if (THRESHOLD_ORDER.includes(labels.threshold)) row(labels, s.ts).limits[labels.threshold] = s.value;
          break;
        case "ipmi_sensor_discrete_asserted":
          if (s.value === 1 && labels.state) row(labels, s.ts).asserted.push(labels.state);
          break;
        default: break;
      }
    }
    return Array.from(rows.values()).map((r) => {
      r.state = r.stateValue == null ? null : stateName(r.stateValue);
      const l = r.limits;
      const v = r.value;
      r.outside = v != null && r.asserted.length === 0 && (
        (l.lnc != null && v <= l.lnc) || (l.lc != null && v <= l.lc) || (l.lnr != null && v <= l.lnr) ||
        (l.unc != null && v >= l.unc) || (l.uc != null && v >= l.uc) || (l.unr != null && v >= l.unr));
      r.status = worst(stateStatus(r.state), r.outside ? "warn" : "ok");
      r.asserted.sort();
      return r;
    });
  }

  // ipmitool's unit names, shortened to the symbols hwmon rows use.
  const UNIT_SYMBOLS = { "degrees C": "°C", Volts: "V", Watts: "W", Amps: "A" };

  function unitSymbol(unit) {
    if (!unit) return null;
    return Object.prototype.hasOwnProperty.call(UNIT_SYMBOLS, unit) ? UNIT_SYMBOLS[unit] : unit;
  }

  function ipmiType(type) {
    switch (type) {
      case "Fan": return "fan";
      case "Temperature": return "temperature";
      case "Voltage": return "voltage";
      case "Current": return "power";
      default: return "other";
    }
  }

  const TYPE_ORDER = ["fan", "temperature", "voltage", "power", "current", "other"];

  /** hwmon and IPMI rows together, grouped by type, problems first within a type. */
  function sensorRows(hwmonAnswer, ipmiAnswer) {
    return hwmonSensors(hwmonAnswer).concat(ipmiSensors(ipmiAnswer)).sort((a, b) =>
      TYPE_ORDER.indexOf(a.type) - TYPE_ORDER.indexOf(b.type) ||
      RANK[b.status] - RANK[a.status] ||
      a.source.localeCompare(b.source) ||
      byNumericId(a.name, b.name));
  }

  /** "lc 300 · lnc 500 · unc 9000" for IPMI limits, "min 300 · max 80 · crit 95" for hwmon. */
  function describeLimits(row, format) {
    const keys = row.source === "ipmi" ? THRESHOLD_ORDER : ["min", "target", "max", "crit"];
    return keys.filter((k) => row.limits[k] != null).map((k) => `${k} ${format(row.limits[k])}`).join(" · ");
  }

  // --- Timeline ----------------------------------------------------------------

  /** Inventory keys holding a version (the collector's FIRMWARE_KEYS). */
  const FIRMWARE_KEYS = ["firmware", "bios_version", "bmc_version", "cpu_microcode"];

  /** Event kinds that belong on the hardware timeline. */
  const HARDWARE_KINDS = [
    "ipmi_sel", "machine_check", "edac_correctable", "edac_uncorrectable", "edac_message",
    "disk_io_error", "disk_timeout", "disk_reset", "pcie_aer", "filesystem_error",
    "thermal_throttle", "cpu_lockup", "oom_kill", "reboot", "smart_self_test", "inventory_changed",
  ];

  function isHardwareEvent(ev) {
    return Boolean(ev) && HARDWARE_KINDS.includes(ev.kind);
  }

  /**
   * Hardware events plus the firmware changes in the inventory history, newest first.
   * A change the agent already reported as an `inventory_changed` event (same component,
   * same new value) is not listed twice.
   */
  function timeline(events, history) {
    const list = (Array.isArray(events) ? events : []).filter(isHardwareEvent)
      .map((ev) => ({ ts: ev.ts, kind: ev.kind, severity: ev.severity, component: ev.component || null,
        message: ev.message, attrs: ev.attrs || {}, derived: false }));
    const reported = new Set();
    for (const ev of list) {
      if (ev.kind !== "inventory_changed") continue;
      for (const [key, value] of Object.entries(ev.attrs)) {
        if (key.startsWith("new_")) reported.add(`${ev.component}\u0000${key.slice(4)}\u0000${value}`);
      }
    }
    for (const change of Array.isArray(history) ? history : []) {
      if (!change.firmware) continue;
      const fw = (change.changes || []).filter((c) => FIRMWARE_KEYS.includes(c.key));
      const unseen = fw.filter((c) => !reported.has(`${change.component}\u0000${c.key}\u0000${c.new ?? "-"}`));
      if (unseen.length === 0) continue;
      list.push({
        ts: change.at_ms,
        kind: "firmware_changed",
        severity: "info",
        component: change.component,
        message: `${change.component} ${unseen.map((c) => `${c.key} ${c.old ?? "—"} → ${c.new ?? "—"}`).join(", ")}`,
        attrs: {},
        derived: true,
      });
    }
    return list.sort((a, b) => b.ts - a.ts);
  }

  /** Inventory items grouped by kind in a stable, readable order. */
  const KIND_ORDER = ["host", "bmc", "cpu", "dimm", "disk", "nic", "psu", "fan", "sensor"];

  function inventoryGroups(items) {
    const groups = new Map();
    for (const item of Array.isArray(items) ? items : []) {
      const [kind, id] = componentParts(item.component);
      if (!groups.has(kind)) groups.set(kind, []);
      groups.get(kind).push({ kind, id, attrs: item.attrs || {} });
    }
    const rank = (k) => (KIND_ORDER.indexOf(k) < 0 ? KIND_ORDER.length : KIND_ORDER.indexOf(k));
    return Array.from(groups.entries())
      .sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b))
      .map(([kind, list]) => ({ kind, items: list.sort((a, b) => byNumericId(a.id, b.id)) }));
  }

  return {
    PRECURSORS,
    HARDWARE_KINDS,
    FIRMWARE_KEYS,
    stateName,
    componentParts,
    smartDisks,
    dimms,
    hwmonSensors,
    ipmiSensors,
    sensorRows,
    describeLimits,
    isHardwareEvent,
    timeline,
    inventoryGroups,
  };
})();
