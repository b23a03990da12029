/*
 * Harbinger dashboard: the hardware sections of the host page.
 *
 * SMART per disk, DIMMs with their ECC counts, fans/temperatures/voltages with their
 * thresholds (hwmon and IPMI), a timeline of hardware events, and the inventory with
 * its change history. The data comes from `latest?prefix=…` (one call per source),
 * the events and the inventory endpoints; the shaping is in hardware.js. Hardware
 * changes slowly (SMART is read every 30 min), so this refreshes every 30 s.
 */
"use strict";

(function (H, HW) {
  const REFRESH_MS = 30000;
  const TIMELINE_RANGE_MS = 30 * 24 * 3600e3;
  const TIMELINE_LIMIT = 1000;
  const SHOWN_EVENTS_PER_DIMM = 5;

  const hostId = new URLSearchParams(location.search).get("id");
  const sections = ["smart-title", "dimms-title", "sensors-title", "timeline-title", "inventory-title"]
    .map((id) => H.byId(id).closest("section"));
  if (!hostId) {
    for (const section of sections) section.hidden = true;
    return;
  }
  const hostPath = "api/v1/hosts/" + encodeURIComponent(hostId);
  const rendered = {};

  /** Re-renders `id` only when its data changed, so open <details> stay open. */
  function renderOnce(id, data, render) {
    const key = JSON.stringify(data);
    if (rendered[id] === key) return;
    rendered[id] = key;
    H.replace(H.byId(id), render(data));
  }

  function statusClass(status) {
    return status === "bad" ? "hw-bad" : status === "warn" ? "hw-warn" : null;
  }

  function table(headers, rows, attrs) {
    return H.el("div", { class: "table-wrap" },
      H.el("table", attrs || null,
        H.el("thead", null, H.el("tr", null, headers.map((t) => H.el("th", { scope: "col" }, t)))),
        H.el("tbody", null, rows)));
  }

  function num(value, digits) {
    if (value == null || !Number.isFinite(value)) return "—";
    return digits == null ? H.formatNumber(value) : value.toFixed(digits);
  }

  function stateBadge(state) {
    if (state == null) return H.el("span", { class: "muted" }, "—");
    const cls = { ok: "ok", "non-critical": "warning", critical: "error", "non-recoverable": "critical" }[state] || "unknown";
    return H.el("span", { class: "badge " + cls }, state);
  }

  function healthBadge(health) {
    if (health == null) return H.el("span", { class: "muted" }, "health unknown");
    return H.el("span", { class: "badge " + (health === "passed" ? "ok" : "critical") }, health === "passed" ? "PASSED" : "FAILED");
  }

  // --- SMART -----------------------------------------------------------------

  function renderSmart(disks) {
    if (disks.length === 0) return H.emptyBox("No SMART data: smartctl unavailable or no disks.");
    return H.el("div", { class: "hw-disks" }, disks.map(diskCard));
  }

  function diskCard(d) {
    const facts = [
      ["Device id", H.el("span", { class: "mono" }, d.id)],
      ["Model", d.model || "—"],
      ["Serial", H.el("span", { class: "mono" }, d.serial || "—")],
      ["Firmware", H.el("span", { class: "mono" }, d.firmware || "—")],
      ["Power-on", d.powerOnHours == null ? "—" : `${Math.round(d.powerOnHours).toLocaleString("en-US")} h`],
      ["Temperature", d.temperature == null ? "—" : `${num(d.temperature)} °C`],
      ["Read", H.relativeTime(d.ts)],
    ];
    if (d.device) facts.splice(1, 0, ["Device", H.el("span", { class: "mono" }, d.device)]);
    if (d.errorLog != null) facts.push(["Error log", num(d.errorLog)]);
    const card = H.el("article", { class: "hw-card " + (statusClass(d.status) || "") },
      H.el("header", { class: "hw-card-head" },
        H.el("h3", null, d.model || d.id),
        healthBadge(d.health),
        d.standby ? H.el("span", { class: "badge info" }, "asleep at last sweep") : null),
      H.el("dl", { class: "facts" }, facts.map(([t, v]) => H.el("div", null, H.el("dt", null, t), H.el("dd", null, v)))),
      d.problems.length > 0
        ? H.el("ul", { class: "hw-problems" }, d.problems.map((p) => H.el("li", { class: statusClass(p.status) }, p.text)))
        : null,
      d.kind === "nvme" ? nvmeTable(d.nvme) : null,
      d.attributes.length > 0 ? ataTables(d.attributes) : null);
    return card;
  }

  function nvmeTable(n) {
    const warn = n.criticalWarning;
    const spareLow = n.spare != null && n.spareThreshold != null && n.spare < n.spareThreshold;
    const rows = [
      ["Percentage used", n.percentageUsed == null ? "—" : H.formatPercent(n.percentageUsed * 100), n.percentageUsed >= 1 ? "bad" : n.percentageUsed >= 0.9 ? "warn" : "ok"],
      ["Available spare", n.spare == null ? "—" : H.formatPercent(n.spare * 100) +
        (n.spareThreshold == null ? "" : ` (threshold ${H.formatPercent(n.spareThreshold * 100)})`), spareLow ? "bad" : "ok"],
      ["Media errors", num(n.mediaErrors), n.mediaErrors > 0 ? "warn" : "ok"],
      ["Critical warning", warn == null ? "—" : `0x${Number(warn).toString(16).padStart(2, "0")}`, warn > 0 ? "bad" : "ok"],
    ];
    return H.el("table", { class: "compact hw-attrs" },
      H.el("tbody", null, rows.map(([name, value, status]) =>
        H.el("tr", { class: statusClass(status) }, H.el("th", { scope: "row" }, name), H.el("td", { class: "num" }, value)))));
  }

  function attrRow(a) {
    return H.el("tr", { class: statusClass(a.status) },
      H.el("td", { class: "num" }, String(a.id)),
      H.el("td", null, a.name || "—"),
      H.el("td", { class: "num" }, num(a.value)),
      H.el("td", { class: "num" }, num(a.worst)),
      H.el("td", { class: "num" }, num(a.threshold)),
      H.el("td", { class: "num" }, a.raw == null ? "—" : String(a.raw)),
      H.el("td", null, a.why || (a.failed === 0 ? "never failed" : "")));
  }

  const ATTR_HEADERS = ["ID", "Attribute", "Value", "Worst", "Thresh", "Raw", "When failed / why"];

  function ataTables(attributes) {
    // The failure precursors are always visible, even at zero: a zero is information.
    const ids = Object.keys(HW.PRECURSORS).map(Number);
    const precursors = ids.map((id) => attributes.find((a) => a.id === id) ||
      { id, name: HW.PRECURSORS[id], value: null, worst: null, threshold: null, raw: null, failed: null, status: "ok", why: "not reported" });
    const others = attributes.filter((a) => !ids.includes(a.id));
    const flagged = others.filter((a) => a.status !== "ok");
    return [
      table(ATTR_HEADERS, precursors.concat(flagged).map(attrRow), { class: "compact hw-attrs" }),
      others.length > 0
        ? H.el("details", null, H.el("summary", null, `All ${attributes.length} attributes`),
          table(ATTR_HEADERS, attributes.map(attrRow), { class: "compact hw-attrs" }))
        : null,
    ];
  }

  // --- DIMMs -------------------------------------------------------------------

  function renderDimms(rows) {
    if (rows.length === 0) return H.emptyBox("No EDAC data: no ECC memory controller reported (EDAC driver not loaded, or no ECC).");
    return table(["DIMM", "Controller", "Correctable", "Uncorrectable", "Recent EDAC events"], rows.map((r) =>
      H.el("tr", { class: statusClass(r.status) },
        H.el("th", { scope: "row", class: "mono" }, r.label),
        H.el("td", { class: "mono" }, r.controller == null ? "—" : `mc${r.controller}` + (r.dimm == null ? "" : ` / ${r.dimm}`)),
        H.el("td", { class: "num" + (r.ce > 0 ? " hw-warn-text" : "") }, num(r.ce)),
        H.el("td", { class: "num" + (r.ue > 0 ? " hw-bad-text" : "") }, num(r.ue)),
        H.el("td", null, r.events.length === 0 ? H.el("span", { class: "muted" }, "none in 30 days")
          : H.el("ul", { class: "kv" }, r.events.slice(0, SHOWN_EVENTS_PER_DIMM).map((ev) =>
            H.el("li", null, H.severityBadge(ev.severity), " ", H.absoluteTime(ev.ts), " ", ev.message)),
          r.events.length > SHOWN_EVENTS_PER_DIMM ? H.el("li", { class: "muted" }, `and ${r.events.length - SHOWN_EVENTS_PER_DIMM} more`) : null)))));
  }

  // --- Sensors -----------------------------------------------------------------

  function formatValue(row, value) {
    if (value == null || !Number.isFinite(value)) return "—";
    const digits = row.type === "voltage" || row.type === "current" ? 2 : null;
    return num(value, digits);
  }

  function renderSensors(rows) {
    if (rows.length === 0) return H.emptyBox("No sensors: neither hwmon nor IPMI reported fans, temperatures or voltages.");
    return table(["Type", "Sensor", "Source", "Value", "Thresholds", "State"], rows.map((r) => {
      const unit = r.unit || "";
      const limits = HW.describeLimits(r, (v) => formatValue(r, v));
      return H.el("tr", { class: statusClass(r.status) },
        H.el("td", null, r.type),
        H.el("th", { scope: "row" }, r.name,
          r.source === "hwmon" ? H.el("div", { class: "muted mono" }, `${r.chip} ${r.sensor}`) : H.el("div", { class: "muted" }, r.sensorType)),
        H.el("td", null, r.source === "ipmi" ? (r.bmc ? `IPMI ${r.bmc}` : "IPMI") : "hwmon"),
        H.el("td", { class: "num" + (r.outside ? " hw-bad-text" : "") },
          r.asserted && r.asserted.length > 0 ? r.asserted.join(", ") : `${formatValue(r, r.value)} ${unit}`.trim(),
          r.pwm != null ? H.el("div", { class: "muted" }, `PWM ${H.formatPercent(r.pwm * 100)}`) : null),
        H.el("td", { class: "mono" }, limits || H.el("span", { class: "muted" }, "—")),
        H.el("td", null, stateBadge(r.state), r.reasons && r.reasons.length > 0 ? H.el("div", { class: "muted" }, r.reasons.join(", ")) : null));
    }));
  }

  // --- Timeline ----------------------------------------------------------------

  function renderTimeline(list) {
    if (list.length === 0) return H.emptyBox("No hardware events in the last 30 days.");
    return H.el("ol", { class: "hw-timeline" }, list.map((ev) => {
      const sev = ["info", "warning", "error", "critical"].includes(ev.severity) ? ev.severity : "unknown";
      return H.el("li", { class: "sev-" + sev },
        H.el("div", { class: "hw-when" }, H.absoluteTime(ev.ts), H.el("div", { class: "muted" }, H.relativeTime(ev.ts))),
        H.el("div", null,
          H.el("div", null, H.severityBadge(ev.severity), " ", H.el("span", { class: "mono" }, ev.kind),
            ev.component ? [" ", H.el("span", { class: "mono muted" }, ev.component)] : null,
            ev.derived ? H.el("span", { class: "muted" }, " (from the inventory history)") : null),
          H.el("div", { class: "message" }, ev.message),
          Object.keys(ev.attrs).length > 0
            ? H.el("details", null, H.el("summary", null, "Details"), H.keyValueList(ev.attrs))
            : null));
    }));
  }

  // --- Inventory -----------------------------------------------------------------

  function renderInventory(items) {
    const groups = HW.inventoryGroups(items);
    if (groups.length === 0) return H.emptyBox("No inventory reported yet.");
    return groups.map((group) => H.el("details", { class: "hw-inv", open: group.kind === "host" || group.kind === "disk" || group.kind === "bmc" },
      H.el("summary", null, `${group.kind} (${group.items.length})`),
      table(["Id", "Attributes"], group.items.map((item) => H.el("tr", null,
        H.el("th", { scope: "row", class: "mono" }, item.id),
        H.el("td", null, attrList(item.attrs)))))));
  }

  /** Like keyValueList, with versions in bold so firmware is easy to find. */
  function attrList(attrs) {
    const entries = Object.entries(attrs).sort(([a], [b]) => a.localeCompare(b));
    if (entries.length === 0) return H.el("span", { class: "muted" }, "—");
    return H.el("ul", { class: "kv" }, entries.map(([k, v]) =>
      H.el("li", { class: HW.FIRMWARE_KEYS.includes(k) ? "hw-fw" : null }, H.el("span", { class: "k" }, k + ": "), String(v))));
  }

  function renderHistory(changes) {
    const modified = changes.filter((c) => c.change === "modified");
    if (modified.length === 0) return H.emptyBox("No inventory changes since the collector first saw this host.");
    return table(["When", "Component", "Change"], modified.map((c) =>
      H.el("tr", { class: c.firmware ? "hw-warn" : null },
        H.el("td", null, H.absoluteTime(c.at_ms)),
        H.el("td", { class: "mono" }, c.component, c.firmware ? [" ", H.el("span", { class: "badge warning" }, "firmware")] : null),
        H.el("td", null, H.el("ul", { class: "kv" }, (c.changes || []).map((x) =>
          H.el("li", null, H.el("span", { class: "k" }, x.key + ": "), `${x.old ?? "—"} → ${x.new ?? "—"}`)))))));
  }

  // --- Refresh -------------------------------------------------------------------

  async function load(path, params) {
    try {
      return { body: await H.api(path, params) };
    } catch (error) {
      return { error };
    }
  }

  function show(id, result, what, render) {
    if (result.error) {
      rendered[id] = "";
      H.replace(H.byId(id), H.errorBox(result.error, what));
      return false;
    }
    renderOnce(id, result.body, render);
    return true;
  }

  async function refresh() {
    const end = Math.ceil(H.now() / 1000) * 1000;
    const [smart, edac, hwmon, ipmi, events, inventory, history] = await Promise.all([
      load(hostPath + "/latest", { prefix: "smartctl_" }),
      load(hostPath + "/latest", { prefix: "node_edac_" }),
      load(hostPath + "/latest", { prefix: "node_hwmon_" }),
      load(hostPath + "/latest", { prefix: "ipmi_" }),
      load(hostPath + "/events", { start: end - TIMELINE_RANGE_MS, end, limit: TIMELINE_LIMIT }),
      load(hostPath + "/inventory"),
      load(hostPath + "/inventory/history", { limit: 500 }),
    ]);
    if ([smart, edac, hwmon, ipmi].some((r) => r.error && r.error.status === 404)) {
      // host.js explains an unknown host; these sections have nothing to add.
      for (const section of sections) section.hidden = true;
      return;
    }
    for (const section of sections) section.hidden = false;
    const hwEvents = events.body ? events.body.filter(HW.isHardwareEvent) : [];
    const inventoryItems = inventory.body || [];
    if (smart.error) show("smart", smart, "SMART");
    else show("smart", { body: HW.smartDisks(smart.body, inventoryItems) }, "SMART", renderSmart);
    if (edac.error) show("dimms", edac, "EDAC");
    else show("dimms", { body: HW.dimms(edac.body, hwEvents) }, "EDAC", renderDimms);
    const firstError = [hwmon, ipmi].find((r) => r.error);
    if (firstError) {
      show("sensors", firstError, "Sensors");
    } else {
      const rows = HW.sensorRows(hwmon.body, ipmi.body);
      H.byId("sensor-charts").hidden = rows.length === 0;
      show("sensors", { body: rows }, "Sensors", renderSensors);
    }
    if (events.error) show("timeline", events, "Events");
    else show("timeline", { body: HW.timeline(events.body, history.body || []) }, "Events", renderTimeline);
    show("inventory", inventory, "Inventory", renderInventory);
    show("inventory-history", history, "Inventory history", renderHistory);
  }

  H.every(REFRESH_MS, refresh);
})(window.Harbinger, window.HarbingerHardware);
