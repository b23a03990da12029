/*
 * Harbinger dashboard: the host page (host.html?id=<host_id>&range=1h|6h|24h|7d).
 *
 * Header facts, metric charts over the chosen range, the host's incidents (open and
 * recently resolved, with their evidence and notifications) and recent events. Facts,
 * incidents and events refresh every 10 s; charts less often on long ranges, because a
 * 7-day query is far more work for the collector. The hardware sections (SMART, DIMMs,
 * sensors, hardware timeline, inventory) are host-hardware.js; their fan and
 * temperature charts are specified here so they follow the range picker.
 */
"use strict";

(function (H, Charts) {
  const RANGES = { "1h": 3600e3, "6h": 6 * 3600e3, "24h": 24 * 3600e3, "7d": 7 * 24 * 3600e3 };
  const CHART_REFRESH_MS = { "1h": 10e3, "6h": 30e3, "24h": 60e3, "7d": 300e3 };
  const REFRESH_MS = 10000;
  const DEFAULT_INTERVAL_MS = 10000;

  const byDevice = (labels) => labels.device || describeLabels(labels);

  const CHART_SPECS = [
    { id: "cpu", title: "CPU usage", unit: "percent", factor: 100, band: true,
      queries: [{ metric: "node_cpu_usage_ratio", labels: { cpu: "total" }, name: () => "CPU" }] },
    { id: "load", title: "Load average", unit: "number",
      queries: [
        { metric: "node_load1", name: () => "1 min" },
        { metric: "node_load5", name: () => "5 min" },
        { metric: "node_load15", name: () => "15 min" },
      ] },
    { id: "mem-used", title: "Memory used", unit: "percent", factor: 100, band: true,
      queries: [{ metric: "node_memory_used_ratio", name: () => "used" }] },
    { id: "mem-available", title: "Memory available", unit: "bytes",
      queries: [
        { metric: "node_memory_available_bytes", name: () => "available" },
        { metric: "node_memory_total_bytes", name: () => "total" },
      ] },
    { id: "disk-latency", title: "Disk I/O latency (per I/O)", unit: "ms", factor: 1000,
      queries: [{ metric: "node_disk_io_latency_seconds", name: byDevice }] },
    { id: "disk-util", title: "Disk utilisation", unit: "percent", factor: 100,
      queries: [{ metric: "node_disk_utilisation_ratio", name: byDevice }] },
    { id: "net-rx", title: "Network receive", unit: "bytesRate",
      queries: [{ metric: "node_network_receive_bytes_total", fn: "rate", name: byDevice }] },
    { id: "net-tx", title: "Network transmit", unit: "bytesRate",
      queries: [{ metric: "node_network_transmit_bytes_total", fn: "rate", name: byDevice }] },
    { id: "fs-used", title: "Filesystem used", unit: "percent", factor: 100,
      queries: [{ metric: "node_filesystem_used_ratio", name: (l) => l.mountpoint || l.device || describeLabels(l) }] },
    { id: "fan-rpm", title: "Fan speed", unit: "rpm", container: "sensor-charts",
      queries: [
        { metric: "node_hwmon_fan_rpm", name: (l) => l.label || `${l.chip} ${l.sensor}` },
        { metric: "ipmi_sensor_value", labels: { type: "Fan" }, name: (l) => `BMC ${l.name}` },
      ] },
    { id: "temperatures", title: "Temperatures", unit: "celsius", container: "sensor-charts",
      queries: [
        { metric: "node_hwmon_temp_celsius", name: (l) => l.label || `${l.chip} ${l.sensor}` },
        { metric: "ipmi_sensor_value", labels: { type: "Temperature" }, name: (l) => `BMC ${l.name}` },
        { metric: "smartctl_device_temperature_celsius", name: (l) => `disk ${l.device_id}` },
      ] },
  ];

  function describeLabels(labels) {
    const text = Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(", ");
    return text || "value";
  }

  const params = new URLSearchParams(location.search);
  const hostId = params.get("id");
  let range = Object.prototype.hasOwnProperty.call(RANGES, params.get("range")) ? params.get("range") : "1h";
  let host = null;
  let chartGeneration = 0;
  let chartTimer = null;
  const rendered = { incidents: "", events: "" };
  const expandedIncidents = new Set();

  const hostSections = ["metrics-title", "incidents-title", "events-title"]
    .map((id) => H.byId(id).closest("section"));

  function showHostSections(show) {
    for (const section of hostSections) section.hidden = !show;
  }

  if (!hostId) {
    showHostSections(false);
    H.replace(H.byId("host-name"), "No host selected");
    H.replace(H.byId("banner"), H.el("div", null, "This page needs ?id=<host_id>. ", H.el("a", { href: "./" }, "Pick a host on the fleet page.")));
    H.markRefreshed(false, "No host selected");
    return;
  }

  const hostPath = "api/v1/hosts/" + encodeURIComponent(hostId);
  const charts = CHART_SPECS.map((spec) => new Charts.Chart(H.byId(spec.container || "charts"), spec));

  // --- Range picker ------------------------------------------------------------

  const picker = H.byId("range-picker");
  function renderPicker() {
    for (const button of picker.querySelectorAll("button[data-range]")) {
      button.setAttribute("aria-pressed", String(button.getAttribute("data-range") === range));
    }
  }
  picker.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-range]");
    if (!button) return;
    const chosen = button.getAttribute("data-range");
    if (!Object.prototype.hasOwnProperty.call(RANGES, chosen) || chosen === range) return;
    range = chosen;
    const url = new URL(location.href);
    url.searchParams.set("range", range);
    history.replaceState(null, "", url);
    renderPicker();
    rendered.events = "";
    scheduleCharts();
    refreshEvents();
  });
  renderPicker();

  // --- Header ------------------------------------------------------------------

  function fact(term, ...value) {
    return H.el("div", null, H.el("dt", null, term), H.el("dd", null, ...value));
  }

  function renderHeader() {
    const name = host.hostname || host.host_id;
    document.title = `${name} · Harbinger`;
    H.replace(H.byId("host-name"), name);
    H.replace(H.byId("host-status"), H.statusBadge(host.status));
    H.replace(H.byId("host-facts"),
      fact("Host id", H.el("span", { class: "mono" }, host.host_id)),
      fact("Labels", H.labelChips(host.labels)),
      fact("Last seen", H.relativeTime(host.last_seen_ms)),
      fact("First seen", H.absoluteTime(host.first_seen_ms)),
      fact("Interval", H.formatDuration(host.interval_ms)),
      fact("Agent", H.el("span", { class: "mono" }, host.agent_version || "—")),
      fact("Open incidents", String(host.open_incidents ?? 0)),
    );
  }

  async function refreshHost() {
    try {
      host = await H.api(hostPath);
      renderHeader();
      showHostSections(true);
      return "ok";
    } catch (err) {
      if (err.status === 404) {
        showHostSections(false);
        H.replace(H.byId("host-name"), "Unknown host");
        H.replace(H.byId("host-facts"), fact("Host id", H.el("span", { class: "mono" }, hostId)));
        H.replace(H.byId("banner"), H.el("div", null, "No host with this id has reported to this collector. ",
          H.el("a", { href: "./" }, "Back to the fleet.")));
        return "unknown";
      }
      H.replace(H.byId("banner"), H.el("div", null, err.message));
      return "failed";
    }
  }

  // --- Charts ------------------------------------------------------------------

  async function refreshCharts() {
    const generation = ++chartGeneration;
    const win = Charts.windowFor(RANGES[range], host ? host.interval_ms : DEFAULT_INTERVAL_MS);
    H.replace(H.byId("range-note"), `buckets of ${H.formatDuration(win.step)}, average per bucket`);
    const tasks = [];
    const slots = [];
    charts.forEach((chart, chartIndex) => {
      chart.requests(win).forEach((query) => {
        slots.push(chartIndex);
        tasks.push(() => H.api(hostPath + "/query", query).then((body) => ({ body }), (error) => ({ error })));
      });
    });
    const results = await H.pool(tasks, 3);
    // A range switch while these were in flight makes them stale.
    if (generation !== chartGeneration) return;
    charts.forEach((chart, chartIndex) => {
      chart.update(results.filter((_, i) => slots[i] === chartIndex), win);
    });
  }

  // Each (re)start of the chart loop gets a token; a run still in flight from an
  // older loop must not schedule itself again, or range clicks would stack loops.
  let chartLoop = 0;

  function scheduleCharts() {
    clearTimeout(chartTimer);
    const token = ++chartLoop;
    const run = async () => {
      if (!document.hidden) await refreshCharts();
      if (token === chartLoop) chartTimer = setTimeout(run, CHART_REFRESH_MS[range]);
    };
    run();
  }

  // --- Incidents ---------------------------------------------------------------

  function renderIncidents(list) {
    const box = H.byId("incidents");
    if (list.length === 0) {
      H.replace(box, H.emptyBox("No incidents for this host."));
      return;
    }
    const sorted = list.slice().sort((a, b) =>
      (a.status === "open" ? 0 : 1) - (b.status === "open" ? 0 : 1) || b.opened_at_ms - a.opened_at_ms);
    const rows = sorted.flatMap(incidentRows);
    H.replace(box, H.el("div", { class: "table-wrap" },
      H.el("table", null,
        H.el("thead", null, H.el("tr", null,
          ["Status", "Severity", "Title", "Component", "Opened", "Resolved", "Details"].map((t) => H.el("th", { scope: "col" }, t)))),
        H.el("tbody", null, rows))));
  }

  /** The incident's row and, below it, a full-width row with its evidence (shown on demand). */
  function incidentRows(inc) {
    const open = expandedIncidents.has(inc.id);
    const detailId = "incident-detail-" + String(inc.id);
    const notifications = H.el("div", null);
    const detailRow = H.el("tr", { class: "detail", id: detailId, hidden: !open },
      H.el("td", { colspan: 7 },
        H.el("h3", null, "Evidence"),
        H.el("pre", { class: "json" }, JSON.stringify(inc.details ?? {}, null, 2)),
        H.el("p", { class: "muted" }, `dedup key ${inc.dedup_key}, revision ${inc.revision}, updated ${H.formatTime(inc.updated_at_ms)}`),
        H.el("h3", null, "Notifications"),
        notifications));
    const toggle = H.el("button", { type: "button", class: "linklike", "aria-expanded": String(open), "aria-controls": detailId },
      open ? "Hide evidence" : "Show evidence");
    toggle.addEventListener("click", () => {
      const show = detailRow.hidden;
      detailRow.hidden = !show;
      toggle.setAttribute("aria-expanded", String(show));
      toggle.textContent = show ? "Hide evidence" : "Show evidence";
      if (show) {
        expandedIncidents.add(inc.id);
        loadNotifications(inc.id, notifications);
      } else {
        expandedIncidents.delete(inc.id);
      }
    });
    if (open) loadNotifications(inc.id, notifications);
    const mainRow = H.el("tr", null,
      H.el("td", null, H.incidentStatusBadge(inc.status)),
      H.el("td", null, H.severityBadge(inc.severity)),
      H.el("td", { class: "message" }, inc.title, H.el("div", { class: "muted mono" }, inc.kind)),
      H.el("td", { class: "mono" }, inc.component || "—"),
      H.el("td", null, H.absoluteTime(inc.opened_at_ms), H.el("div", { class: "muted" }, H.relativeTime(inc.opened_at_ms))),
      H.el("td", null, inc.resolved_at_ms != null
        ? [H.absoluteTime(inc.resolved_at_ms), H.el("div", { class: "muted" }, "after " + H.formatDuration(inc.resolved_at_ms - inc.opened_at_ms))]
        : H.el("span", { class: "muted" }, "—")),
      H.el("td", null, toggle));
    return [mainRow, detailRow];
  }

  async function loadNotifications(incidentId, box) {
    H.replace(box, H.emptyBox("Loading notifications…"));
    try {
      const answer = await H.api("api/v1/incidents/" + encodeURIComponent(incidentId));
      const rows = Array.isArray(answer.notifications) ? answer.notifications : [];
      if (rows.length === 0) {
        H.replace(box, H.emptyBox("No notifications queued."));
        return;
      }
      H.replace(box, H.el("table", { class: "compact" },
        H.el("thead", null, H.el("tr", null,
          ["Notifier", "Action", "State", "Attempts", "Last error"].map((t) => H.el("th", { scope: "col" }, t)))),
        H.el("tbody", null, rows.map((n) => H.el("tr", null,
          H.el("td", null, n.notifier),
          H.el("td", null, n.action),
          H.el("td", { class: "nowrap" }, n.delivered_ms != null ? `delivered ${H.formatTime(n.delivered_ms)}`
            : n.failed ? "failed permanently" : `pending, next try ${H.formatTime(n.next_attempt_ms)}`),
          H.el("td", { class: "num" }, String(n.attempts)),
          H.el("td", { class: "message" }, n.last_error || "—"))))));
    } catch (err) {
      H.replace(box, H.errorBox(err, "Notifications"));
    }
  }

  async function refreshIncidents() {
    try {
      const list = await H.api("api/v1/incidents", { host_id: hostId, status: "all", limit: 50 });
      const key = JSON.stringify(list);
      // Re-rendering an unchanged table would collapse the evidence someone is reading.
      if (key === rendered.incidents) return true;
      rendered.incidents = key;
      renderIncidents(Array.isArray(list) ? list : []);
      return true;
    } catch (err) {
      rendered.incidents = "";
      H.replace(H.byId("incidents"), H.errorBox(err, "Incidents"));
      return false;
    }
  }

  // --- Events ------------------------------------------------------------------

  async function refreshEvents() {
    const end = Math.ceil(H.now() / 1000) * 1000;
    try {
      const list = await H.api(hostPath + "/events", { start: end - RANGES[range], end, limit: 100 });
      const key = range + JSON.stringify(list);
      if (key === rendered.events) return true;
      rendered.events = key;
      renderEvents(Array.isArray(list) ? list : []);
      return true;
    } catch (err) {
      rendered.events = "";
      H.replace(H.byId("events"), H.errorBox(err, "Events"));
      return false;
    }
  }

  function renderEvents(list) {
    const box = H.byId("events");
    if (list.length === 0) {
      H.replace(box, H.emptyBox("No events in this time range."));
      return;
    }
    H.replace(box, H.el("div", { class: "table-wrap" },
      H.el("table", null,
        list.length >= 100 ? H.el("caption", null, "Showing the 100 most recent events.") : null,
        H.el("thead", null, H.el("tr", null,
          ["Time", "Severity", "Kind", "Component", "Message", "Attributes"].map((t) => H.el("th", { scope: "col" }, t)))),
        H.el("tbody", null, list.map((ev) => H.el("tr", null,
          H.el("td", null, H.absoluteTime(ev.ts)),
          H.el("td", null, H.severityBadge(ev.severity)),
          H.el("td", { class: "mono" }, ev.kind),
          H.el("td", { class: "mono" }, ev.component || "—"),
          H.el("td", { class: "message" }, ev.message),
          H.el("td", null, H.keyValueList(ev.attrs))))))));
  }

  // --- Start -------------------------------------------------------------------

  let chartsStarted = false;

  async function refresh() {
    const state = await refreshHost();
    if (state !== "ok") {
      H.markRefreshed(false, state === "unknown" ? "Unknown host" : "Refresh failed — showing the last data received");
      return;
    }
    if (!chartsStarted) {
      // The first chart load waits for the host so buckets match its interval.
      chartsStarted = true;
      scheduleCharts();
    }
    const results = await Promise.all([refreshIncidents(), refreshEvents()]);
    const ok = results.every(Boolean);
    if (ok) H.replace(H.byId("banner"));
    H.markRefreshed(ok, "Some parts failed to refresh");
  }

  // Charts skip their ticks while the tab is hidden; catch up as soon as it is shown.
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && chartsStarted) scheduleCharts();
  });

  H.every(REFRESH_MS, refresh);
})(window.Harbinger, window.HarbingerCharts);
