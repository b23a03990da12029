/*
 * Harbinger dashboard: the fleet page (index.html).
 *
 * Lists every host with its status and the open incidents across the fleet,
 * refreshing every 10 s. Hosts that need attention sort first.
 */
"use strict";

(function (H) {
  const REFRESH_MS = 10000;
  const STATUS_ORDER = { incident: 0, silent: 1, ok: 2 };

  let hosts = [];
  let incidents = [];

  const filterInput = H.byId("filter");
  filterInput.addEventListener("input", renderHosts);

  function matchesFilter(host, needle) {
    if (!needle) return true;
    const haystack = [host.hostname, host.host_id, host.agent_version, host.status]
      .concat(Object.entries(host.labels || {}).map(([k, v]) => `${k}=${v}`))
      .join(" ")
      .toLowerCase();
    return needle.split(/\s+/).every((word) => haystack.includes(word));
  }

  function renderSummary() {
    const counts = { ok: 0, silent: 0, incident: 0 };
    for (const host of hosts) if (host.status in counts) counts[host.status]++;
    H.replace(
      H.byId("summary"),
      H.el("span", null, H.el("strong", null, String(hosts.length)), hosts.length === 1 ? " host" : " hosts"),
      H.el("span", null, H.el("strong", null, String(counts.ok)), " ok"),
      H.el("span", null, H.el("strong", null, String(counts.silent)), " silent"),
      H.el("span", null, H.el("strong", null, String(counts.incident)), " with incidents"),
      H.el("span", null, H.el("strong", null, String(incidents.length)), incidents.length === 1 ? " open incident" : " open incidents"),
    );
  }

  function renderHosts() {
    const needle = filterInput.value.trim().toLowerCase();
    const shown = hosts
      .filter((host) => matchesFilter(host, needle))
      .sort((a, b) =>
        (STATUS_ORDER[a.status] ?? 3) - (STATUS_ORDER[b.status] ?? 3) ||
        String(a.hostname).localeCompare(String(b.hostname), undefined, { numeric: true }));
    H.replace(H.byId("hosts-body"), shown.map(hostRow));
    const note = H.byId("hosts-note");
    if (hosts.length === 0) {
      H.replace(note, H.emptyBox("No host has reported yet. Start an agent pointed at this collector."));
    } else if (shown.length === 0) {
      H.replace(note, H.emptyBox("No host matches the filter."));
    } else {
      H.replace(note);
    }
  }

  function hostRow(host) {
    return H.el("tr", null,
      H.el("th", { scope: "row" },
        H.el("a", { href: H.hostHref(host.host_id) }, host.hostname || host.host_id),
        host.hostname && host.hostname !== host.host_id ? H.el("div", { class: "muted mono" }, host.host_id) : null),
      H.el("td", null, H.labelChips(host.labels)),
      H.el("td", null, H.statusBadge(host.status)),
      H.el("td", { class: "nowrap" }, H.relativeTime(host.last_seen_ms)),
      H.el("td", { class: "num" }, String(host.open_incidents ?? 0)),
      H.el("td", { class: "mono" }, host.agent_version || "—"),
    );
  }

  function renderIncidents() {
    const box = H.byId("incidents");
    if (incidents.length === 0) {
      H.replace(box, H.emptyBox("No open incidents."));
      return;
    }
    const names = new Map(hosts.map((h) => [h.host_id, h.hostname]));
    const sorted = incidents.slice().sort((a, b) =>
      H.severityRank(b.severity) - H.severityRank(a.severity) || b.opened_at_ms - a.opened_at_ms);
    const rows = sorted.map((inc) => H.el("tr", null,
      H.el("td", null, H.severityBadge(inc.severity)),
      H.el("td", { class: "message" }, inc.title),
      H.el("td", null, H.el("a", { href: H.hostHref(inc.host_id) }, names.get(inc.host_id) || inc.host_id)),
      H.el("td", { class: "mono" }, inc.component || "—"),
      H.el("td", { class: "nowrap" }, H.relativeTime(inc.opened_at_ms)),
      H.el("td", { class: "nowrap" }, H.relativeTime(inc.updated_at_ms)),
    ));
    H.replace(box, H.el("div", { class: "table-wrap" },
      H.el("table", null,
        H.el("thead", null, H.el("tr", null,
          ["Severity", "Title", "Host", "Component", "Opened", "Updated"].map((t) => H.el("th", { scope: "col" }, t)))),
        H.el("tbody", null, rows))));
  }

  async function refresh() {
    const [hostsResult, incidentsResult] = await Promise.allSettled([
      H.api("api/v1/hosts"),
      H.api("api/v1/incidents", { status: "open", limit: 200 }),
    ]);
    const failures = [];
    if (hostsResult.status === "fulfilled" && Array.isArray(hostsResult.value)) {
      hosts = hostsResult.value;
    } else {
      failures.push(hostsResult.reason || new Error("hosts: unexpected response"));
    }
    if (incidentsResult.status === "fulfilled" && Array.isArray(incidentsResult.value)) {
      incidents = incidentsResult.value;
    } else {
      failures.push(incidentsResult.reason || new Error("incidents: unexpected response"));
    }
    // Keep showing the last good data when a refresh fails, but say so.
    H.replace(H.byId("banner"), failures.map((err) => H.el("div", null, err.message)));
    renderSummary();
    renderHosts();
    renderIncidents();
    H.markRefreshed(failures.length === 0, "Refresh failed — showing the last data received");
  }

  H.every(REFRESH_MS, refresh);
})(window.Harbinger);
