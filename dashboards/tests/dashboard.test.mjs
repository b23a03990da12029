// Unit tests for the dashboard's pure helpers (formatters, bucket steps, gap handling).
// Run with `node --test dashboards/tests/` (Node 18+; no packages needed). The scripts are
// loaded exactly as the browser loads them, as classic scripts into one global scope.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import vm from "node:vm";

function loadScripts() {
  const context = vm.createContext({ setInterval: () => 0, clearInterval: () => {} });
  context.window = context;
  for (const name of ["app.js", "charts.js"]) {
    const url = new URL(`../web/assets/${name}`, import.meta.url);
    vm.runInContext(readFileSync(url, "utf8"), context, { filename: name });
  }
  return { H: context.Harbinger, Charts: context.HarbingerCharts };
}

const { H, Charts } = loadScripts();

test("bytes use IEC units", () => {
  assert.equal(H.formatBytes(0), "0 B");
  assert.equal(H.formatBytes(1023), "1023 B");
  assert.equal(H.formatBytes(1536), "1.5 KiB");
  assert.equal(H.formatBytes(16 * 2 ** 30), "16 GiB");
  assert.equal(H.formatBytes(5.05 * 2 ** 30), "5.05 GiB");
  assert.equal(H.formatBytesRate(2 * 2 ** 20), "2 MiB/s");
  assert.equal(H.formatBytes(null), "—");
  assert.equal(H.formatBytes(NaN), "—");
});

test("percent and plain numbers keep three significant digits", () => {
  assert.equal(H.formatPercent(12.345), "12.3 %");
  assert.equal(H.formatPercent(100), "100 %");
  assert.equal(H.formatPercent(0), "0 %");
  assert.equal(H.formatPercent(0.5), "0.5 %");
  assert.equal(H.formatNumber(1.04), "1.04");
  assert.equal(H.formatNumber(25000), "25 k");
  assert.equal(H.formatNumber(3.2e9), "3.2 G");
});

test("durations read naturally at every scale", () => {
  assert.equal(H.formatDuration(0.35), "0.35 ms");
  assert.equal(H.formatDuration(350), "350 ms");
  assert.equal(H.formatDuration(1200), "1.2 s");
  assert.equal(H.formatDuration(200_000), "3 min 20 s");
  assert.equal(H.formatDuration(7_500_000), "2 h 5 min");
  assert.equal(H.formatDuration((3 * 24 + 4) * 3600e3), "3 d 4 h");
  assert.equal(H.formatDuration(3600e3), "1 h");
});

test("relative times say how long ago", () => {
  const now = H.now();
  assert.equal(H.formatRelative(now - 12_500), "12 s ago");
  assert.equal(H.formatRelative(now - 5 * 60e3 - 100), "5 min ago");
  assert.equal(H.formatRelative(now - 3 * 3600e3 - 100), "3 h ago");
  assert.equal(H.formatRelative(now - 3 * 86400e3 - 100), "3 d ago");
  assert.equal(H.formatRelative(now + 30_500), "in 30 s");
  assert.equal(H.formatRelative(now), "just now");
});

test("absolute times are zero-padded local time", () => {
  const ms = new Date(2025, 0, 5, 3, 4, 9).getTime();
  assert.equal(H.formatTime(ms), "2025-01-05 03:04:09");
});

test("bucket steps are readable, bounded and never finer than the interval", () => {
  assert.equal(Charts.chooseStep(3600e3, 10_000, 600), 10_000);
  assert.equal(Charts.chooseStep(6 * 3600e3, 10_000, 600), 60_000);
  assert.equal(Charts.chooseStep(7 * 86400e3, 10_000, 600), 1_800_000);
  assert.equal(Charts.chooseStep(3600e3, 60_000, 600), 60_000);
  assert.equal(Charts.chooseStep(3600e3, 1_000, 600), 10_000);
  for (const range of [3600e3, 6 * 3600e3, 24 * 3600e3, 7 * 86400e3]) {
    assert.ok(range / Charts.chooseStep(range, 1_000, 600) <= 600, `range ${range}`);
  }
});

test("the query window is aligned to its step and ends now", () => {
  const win = Charts.windowFor(3600e3, 10_000);
  assert.equal(win.step, 10_000);
  assert.equal(win.start % win.step, 0);
  assert.ok(win.end >= H.now() - 1000 && win.end <= H.now() + 1000);
  assert.ok(win.end - win.start >= 3600e3);
  assert.equal(win.gapMs, 20_000);
});

// Points are [ts, min, max, avg] as the query API returns them.
const pts = (...ts) => ts.map((t) => [t, t - 1, t + 1, t]);
const plain = (array) => Array.from(array);

test("a hole longer than the gap threshold is null across its whole width", () => {
  const win = { step: 10, gapMs: 20 };
  const data = Charts.alignLines(
    [{ name: "a", points: pts(0, 10, 20, 60, 70) }, { name: "b", points: pts(0, 10, 20, 30, 40, 50, 60, 70) }],
    win, 1, false);
  assert.deepEqual(plain(data[0]), [0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07]);
  assert.deepEqual(plain(data[1]), [0, 10, 20, null, null, null, 60, 70]);
  assert.deepEqual(plain(data[2]), [0, 10, 20, 30, 40, 50, 60, 70]);
});

test("a lone series gets a null one step after the hole starts", () => {
  const data = Charts.alignLines([{ name: "a", points: pts(0, 10, 50) }], { step: 10, gapMs: 20 }, 1, false);
  assert.deepEqual(plain(data[0]), [0, 0.01, 0.02, 0.05]);
  assert.deepEqual(plain(data[1]), [0, 10, null, 50]);
});

test("a single missing bucket is spanned, not broken", () => {
  const data = Charts.alignLines(
    [{ name: "a", points: pts(0, 10, 30) }, { name: "b", points: pts(0, 10, 20, 30) }],
    { step: 10, gapMs: 20 }, 1, false);
  assert.deepEqual(plain(data[1]), [0, 10, undefined, 30]);
});

test("values are scaled and bands carry max then min", () => {
  const data = Charts.alignLines([{ name: "cpu", points: [[0, 0.1, 0.5, 0.25]] }], { step: 10, gapMs: 20 }, 100, true);
  assert.equal(data.length, 4);
  assert.deepEqual([data[1][0], data[2][0], data[3][0]], [25, 50, 10]);
});
