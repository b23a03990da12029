/*
 * Harbinger dashboard: helpers shared by every page.
 *
 * DOM is built only through el() / text nodes, never innerHTML: hostnames, labels,
 * event messages and incident details come from agents and must not become markup.
 * API paths are relative ("api/v1/...") so the dashboard also works behind a
 * reverse proxy that mounts the collector under a sub-path.
 */
"use strict";

window.Harbinger = (function () {
  const FETCH_TIMEOUT_MS = 15000;

  // Browser and collector clocks may disagree; "12 s ago" must be measured on the
  // collector's clock, so the offset is estimated from each response's Date header.
  let serverOffsetMs = 0;

  function now() {
    return Date.now() + serverOffsetMs;
  }

  function noteServerDate(response) {
    const header = response.headers.get("Date");
    if (!header) return;
    const server = Date.parse(header);
    if (Number.isNaN(server)) return;
    const offset = server - Date.now();
    // The header has one-second resolution: ignore offsets it cannot resolve.
    serverOffsetMs = Math.abs(offset) > 2000 ? offset : 0;
  }

  // --- DOM -----------------------------------------------------------------

  /** Creates an element. Children may be nodes, strings (inserted as text), arrays or null. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    if (attrs) {
      for (const [key, value] of Object.entries(attrs)) {
        if (value == null || value === false) continue;
        if (key.startsWith("on")) {
          throw new Error(`el(${tag}): inline handler ${key} is not allowed, use addEventListener`);
        }
        if (key === "class") node.className = value;
        else node.setAttribute(key, value === true ? "" : String(value));
      }
    }
    appendChildren(node, children);
    return node;
  }

  function appendChildren(node, children) {
    for (const child of children.flat(Infinity)) {
      if (child == null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }

  /** Replaces all children of `node`. */
  function replace(node, ...children) {
    node.replaceChildren();
    appendChildren(node, children);
  }

  function byId(id) {
    const node = document.getElementById(id);
    if (!node) throw new Error(`page is missing element #${id}`);
    return node;
  }

  /** Link to a host page; the id is URL-encoded, never interpreted. */
  function hostHref(hostId) {
    return "host.html?id=" + encodeURIComponent(hostId);
  }

  const STATUS_TEXT = { ok: "ok", silent: "silent", incident: "incident" };

  function statusBadge(status) {
    const known = Object.prototype.hasOwnProperty.call(STATUS_TEXT, status);
    return el("span", { class: "badge " + (known ? status : "unknown") }, known ? STATUS_TEXT[status] : String(status));
  }

  const SEVERITIES = ["info", "warning", "error", "critical"];

  function severityBadge(severity) {
    const cls = SEVERITIES.includes(severity) ? severity : "unknown";
    return el("span", { class: "badge " + cls }, String(severity));
  }

  function severityRank(severity) {
    const rank = SEVERITIES.indexOf(severity);
    return rank < 0 ? -1 : rank;
  }

  function incidentStatusBadge(status) {
    const cls = status === "open" ? "open" : status === "resolved" ? "resolved" : "unknown";
    return el("span", { class: "badge " + cls }, String(status));
  }

  /** `k=v` chips for a label map, sorted by key. */
  function labelChips(labels) {
    const entries = Object.entries(labels || {}).sort(([a], [b]) => a.localeCompare(b));
    if (entries.length === 0) return el("span", { class: "muted" }, "—");
    return el("span", { class: "labels" }, entries.map(([k, v]) => el("span", { class: "label" }, `${k}=${v}`)));
  }

  /** `key: value` list for attribute maps (events, inventory). */
  function keyValueList(map) {
    const entries = Object.entries(map || {}).sort(([a], [b]) => a.localeCompare(b));
    if (entries.length === 0) return el("span", { class: "muted" }, "—");
    return el("ul", { class: "kv" }, entries.map(([k, v]) =>
      el("li", null, el("span", { class: "k" }, k + ": "), typeof v === "string" ? v : JSON.stringify(v))));
  }

  /** A <time> that shows "12 s ago" and keeps itself current (see the ticker below). */
  function relativeTime(ms) {
    if (ms == null) return el("span", { class: "muted" }, "—");
    const date = new Date(ms);
    return el("time", { datetime: date.toISOString(), title: formatTime(ms), "data-rel": ms }, formatRelative(ms));
  }

  /** A <time> with the absolute local time. */
  function absoluteTime(ms) {
    if (ms == null) return el("span", { class: "muted" }, "—");
    return el("time", { datetime: new Date(ms).toISOString(), class: "nowrap" }, formatTime(ms));
  }

  function tickRelativeTimes() {
    for (const node of document.querySelectorAll("time[data-rel]")) {
      node.textContent = formatRelative(Number(node.getAttribute("data-rel")));
    }
  }
  setInterval(tickRelativeTimes, 1000);

  /** A role="alert" paragraph describing an error. */
  function errorBox(err, what) {
    return el("p", { class: "error", role: "alert" }, `${what}: ${err && err.message ? err.message : String(err)}`);
  }

  function emptyBox(text) {
    return el("p", { class: "empty" }, text);
  }

  // --- API -----------------------------------------------------------------

  class ApiError extends Error {
    constructor(message, status) {
      super(message);
      this.name = "ApiError";
      this.status = status;
    }
  }

  /**
   * GETs JSON from the collector. `params` values that are null/undefined are skipped.
   * Throws ApiError with a message naming the URL and what the server said.
   */
  async function api(path, params) {
    const url = new URL(path, document.baseURI);
    for (const [key, value] of Object.entries(params || {})) {
      if (value != null) url.searchParams.set(key, String(value));
    }
    const label = url.pathname + url.search;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), FETCH_TIMEOUT_MS);
    let response;
    try {
      response = await fetch(url, { headers: { Accept: "application/json" }, signal: controller.signal, cache: "no-store" });
    } catch (err) {
      const why = err && err.name === "AbortError" ? `no answer within ${FETCH_TIMEOUT_MS / 1000} s` : "collector unreachable";
      throw new ApiError(`GET ${label}: ${why}`, 0);
    } finally {
      clearTimeout(timer);
    }
    noteServerDate(response);
    const body = await response.text();
    if (!response.ok) {
      throw new ApiError(`GET ${label}: ${response.status} ${response.statusText}${describeErrorBody(body)}`, response.status);
    }
    try {
      return JSON.parse(body);
    } catch (err) {
      throw new ApiError(`GET ${label}: response is not JSON (${err.message})`, response.status);
    }
  }

  function describeErrorBody(body) {
    if (!body) return "";
    try {
      const parsed = JSON.parse(body);
      const message = parsed && (parsed.message || parsed.error || parsed.reason);
      if (message) return ` — ${typeof message === "string" ? message : JSON.stringify(message)}`;
    } catch (_) {
      // Not JSON: fall through to the raw text.
    }
    return ` — ${body.slice(0, 200)}`;
  }

  /** Runs async `tasks` (functions) with at most `limit` in flight; keeps the collector responsive. */
  async function pool(tasks, limit) {
    const results = new Array(tasks.length);
    let next = 0;
    async function worker() {
      while (next < tasks.length) {
        const index = next++;
        results[index] = await tasks[index]();
      }
    }
    await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
    return results;
  }

  // --- Formatters ------------------------------------------------------------

  const IEC = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

  /** 1536 → "1.5 KiB". */
  function formatBytes(bytes) {
    if (bytes == null || !Number.isFinite(bytes)) return "—";
    const sign = bytes < 0 ? "-" : "";
    let value = Math.abs(bytes);
    let unit = 0;
    while (value >= 1024 && unit < IEC.length - 1) {
      value /= 1024;
      unit++;
    }
    return sign + (unit === 0 ? String(Math.round(value)) : trimNumber(value)) + " " + IEC[unit];
  }

  function formatBytesRate(bytesPerSecond) {
    return bytesPerSecond == null || !Number.isFinite(bytesPerSecond) ? "—" : formatBytes(bytesPerSecond) + "/s";
  }

  /** A value already in percent (0..100) → "12.3 %". */
  function formatPercent(percent) {
    if (percent == null || !Number.isFinite(percent)) return "—";
    return trimNumber(percent) + " %";
  }

  /** Three significant digits, no exponent for everyday magnitudes. */
  function trimNumber(value) {
    const abs = Math.abs(value);
    if (abs === 0) return "0";
    if (abs >= 100) return value.toFixed(0);
    if (abs >= 10) return value.toFixed(1).replace(/\.0$/, "");
    if (abs >= 0.01) return value.toFixed(2).replace(/\.?0+$/, "");
    return value.toPrecision(2);
  }

  /** Plain numbers with k/M/G suffixes for large magnitudes (counts, load). */
  function formatNumber(value) {
    if (value == null || !Number.isFinite(value)) return "—";
    const abs = Math.abs(value);
    if (abs >= 1e9) return trimNumber(value / 1e9) + " G";
    if (abs >= 1e6) return trimNumber(value / 1e6) + " M";
    if (abs >= 1e4) return trimNumber(value / 1e3) + " k";
    return trimNumber(value);
  }

  /** Milliseconds → "350 ms", "1.2 s", "3 min 20 s", "2 h 5 min", "3 d 4 h". */
  function formatDuration(ms) {
    if (ms == null || !Number.isFinite(ms)) return "—";
    const abs = Math.abs(ms);
    if (abs < 1000) return trimNumber(ms) + " ms";
    const s = abs / 1000;
    if (s < 60) return trimNumber(s) + " s";
    const total = Math.floor(s);
    const d = Math.floor(total / 86400);
    const h = Math.floor((total % 86400) / 3600);
    const m = Math.floor((total % 3600) / 60);
    const sec = total % 60;
    if (d > 0) return h > 0 ? `${d} d ${h} h` : `${d} d`;
    if (h > 0) return m > 0 ? `${h} h ${m} min` : `${h} h`;
    return sec > 0 ? `${m} min ${sec} s` : `${m} min`;
  }

  /** "12 s ago", "5 min ago", "in 3 s" (clock skew), "just now". */
  function formatRelative(ms) {
    if (ms == null || !Number.isFinite(ms)) return "—";
    const delta = now() - ms;
    if (Math.abs(delta) < 1000) return "just now";
    const words = coarseDuration(Math.abs(delta));
    return delta > 0 ? `${words} ago` : `in ${words}`;
  }

  function coarseDuration(ms) {
    const s = Math.floor(ms / 1000);
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min`;
    const h = Math.floor(m / 60);
    if (h < 48) return `${h} h`;
    return `${Math.floor(h / 24)} d`;
  }

  function pad(n, width) {
    return String(n).padStart(width || 2, "0");
  }

  /** Local time as "2025-01-31 14:05:09": unambiguous and sortable. */
  function formatTime(ms) {
    if (ms == null || !Number.isFinite(ms)) return "—";
    const d = new Date(ms);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  /** Marks "updated at" in the top bar's live region. */
  function markRefreshed(ok, message) {
    const node = document.getElementById("refresh-status");
    if (!node) return;
    node.textContent = ok ? `Updated ${formatTime(now())}` : message;
    node.classList.toggle("error", !ok);
  }

  /** Calls `fn` now and every `ms`, skipping ticks while the tab is hidden. */
  function every(ms, fn) {
    let running = false;
    async function tick() {
      if (running || document.hidden) return;
      running = true;
      try {
        await fn();
      } finally {
        running = false;
      }
    }
    tick();
    setInterval(tick, ms);
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) tick();
    });
  }

  return {
    now,
    el,
    replace,
    byId,
    hostHref,
    statusBadge,
    severityBadge,
    severityRank,
    incidentStatusBadge,
    labelChips,
    keyValueList,
    relativeTime,
    absoluteTime,
    errorBox,
    emptyBox,
    api,
    ApiError,
    pool,
    formatBytes,
    formatBytesRate,
    formatPercent,
    formatNumber,
    formatDuration,
    formatRelative,
    formatTime,
    markRefreshed,
    every,
  };
})();
