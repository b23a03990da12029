/*
 * Harbinger dashboard: time-series charts on top of the vendored uPlot.
 *
 * A chart is described by a spec (title, unit, one or more metric queries) and fed the
 * query API's answers: `{series: [{labels, points: [[ts, min, max, avg], ...]}]}`.
 * It plots `avg` per bucket, one line per series (per device, per mountpoint…),
 * breaks the line where data is really missing, and shows "no data yet" instead
 * of an empty frame.
 */
"use strict";

window.HarbingerCharts = (function (H) {
  const HEIGHT = 220;

  // Tableau 10: distinguishable on both light and dark backgrounds.
  const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];

  // Bytes axes tick at powers of two so they read "512 MiB, 1 GiB" rather than "1.07 GB".
  const POW2_INCRS = Array.from({ length: 61 }, (_, i) => 2 ** i);

  const UNITS = {
    percent: { format: H.formatPercent, range: percentRange },
    bytes: { format: H.formatBytes, range: zeroBasedRange, incrs: POW2_INCRS },
    bytesRate: { format: H.formatBytesRate, range: zeroBasedRange, incrs: POW2_INCRS },
    ms: { format: H.formatDuration, range: zeroBasedRange },
    number: { format: H.formatNumber, range: zeroBasedRange },
    rpm: { format: (v) => (v == null || !Number.isFinite(v) ? "—" : H.formatNumber(v) + " RPM"), range: zeroBasedRange },
    celsius: { format: (v) => (v == null || !Number.isFinite(v) ? "—" : H.formatNumber(v) + " °C"), range: zeroBasedRange },
  };

  function percentRange(_u, min, max) {
    return [Math.min(0, min ?? 0), Math.max(100, max ?? 0)];
  }

  function zeroBasedRange(_u, min, max) {
    const lo = Math.min(0, min ?? 0);
    const hi = max == null || max <= lo ? lo + 1 : max * 1.1;
    return [lo, hi];
  }

  function cssVar(name, fallback) {
    const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  const charts = [];

  // Canvas colours are read from CSS once per build, so a theme switch rebuilds every chart.
  const darkQuery = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  if (darkQuery && darkQuery.addEventListener) {
    darkQuery.addEventListener("change", () => {
      for (const chart of charts) chart.rebuild();
    });
  }

  /**
   * Turns query results into uPlot's aligned columns.
   *
   * `lines` are `{name, points}`; the x column is the union of their bucket starts.
   * Where consecutive buckets of a series are further apart than `gapMs`, the series
   * gets `null` at every x inside the hole (plus one x a step after its last point, so
   * a lone series has a null to break on): uPlot draws nulls as gaps. Any other x the
   * series lacks gets `undefined`, which uPlot spans: that keeps a single missing
   * bucket, or jitter around bucket edges, from shredding the line into dashes.
   */
  function alignLines(lines, win, factor, band) {
    const columns = [];
    for (const line of lines) {
      const avg = new Map();
      const gaps = [];
      let prev = null;
      for (const point of line.points) {
        const ts = point[0];
        if (prev != null && ts - prev > win.gapMs) {
          gaps.push([prev, ts]);
          avg.set(prev + win.step, null);
        }
        prev = ts;
        avg.set(ts, scaled(point[3], factor));
      }
      columns.push({ values: avg, gaps });
      if (band) {
        columns.push({ values: new Map(line.points.map((p) => [p[0], scaled(p[2], factor)])), gaps });
        columns.push({ values: new Map(line.points.map((p) => [p[0], scaled(p[1], factor)])), gaps });
      }
    }
    const xs = new Set();
    for (const column of columns) for (const ts of column.values.keys()) xs.add(ts);
    const sorted = Array.from(xs).sort((a, b) => a - b);
    const data = [sorted.map((ts) => ts / 1000)];
    for (const column of columns) {
      let gap = 0;
      data.push(sorted.map((ts) => {
        if (column.values.has(ts)) return column.values.get(ts);
        while (gap < column.gaps.length && column.gaps[gap][1] <= ts) gap++;
        const inGap = gap < column.gaps.length && column.gaps[gap][0] < ts;
        return inGap ? null : undefined;
      }));
    }
    return data;
  }

  /** The newest non-null value of a series, shown in the legend when the cursor is away. */
  function latest(values) {
    for (let i = values.length - 1; i >= 0; i--) if (values[i] != null) return values[i];
    return null;
  }

  function scaled(value, factor) {
    return value == null || !Number.isFinite(value) ? null : value * factor;
  }

  class Chart {
    /**
     * spec: {id, title, unit, factor, band, queries: [{metric, fn, labels, name(labels)}]}
     */
    constructor(container, spec) {
      this.spec = spec;
      this.unit = UNITS[spec.unit] || UNITS.number;
      this.plot = null;
      this.key = "";
      this.win = null;
      this.lastData = null;
      this.lastLines = null;

      const titleId = "chart-title-" + spec.id;
      this.box = H.el("section", { class: "chart", "aria-labelledby": titleId });
      this.title = H.el("h3", { id: titleId }, spec.title);
      this.body = H.el("div", { class: "plot" }, H.emptyBox("Loading…"));
      this.box.append(this.title, this.body);
      container.append(this.box);

      if (window.ResizeObserver) {
        this.observer = new ResizeObserver(() => this.resize());
        this.observer.observe(this.box);
      }
      charts.push(this);
    }

    /** The query parameters for each of this chart's queries over `win`. */
    requests(win) {
      return this.spec.queries.map((q) => {
        const params = { metric: q.metric, start: win.start, end: win.end, step: win.step, fn: q.fn };
        for (const [key, value] of Object.entries(q.labels || {})) params["label." + key] = value;
        return params;
      });
    }

    /** results: one `{body}` or `{error}` per query, in spec order. */
    update(results, win) {
      this.win = win;
      const lines = [];
      const errors = [];
      results.forEach((result, index) => {
        if (result.error) {
          errors.push(result.error);
          return;
        }
        const query = this.spec.queries[index];
        const found = (result.body && Array.isArray(result.body.series) ? result.body.series : [])
          .filter((s) => Array.isArray(s.points) && s.points.length > 0)
          .map((s) => ({ name: query.name(s.labels || {}), points: s.points }))
          .sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
        lines.push(...found);
      });

      if (lines.length === 0) {
        this.destroyPlot();
        if (errors.length > 0) H.replace(this.body, H.errorBox(errors[0], "Query failed"));
        else H.replace(this.body, H.emptyBox("No data yet in this time range."));
        return;
      }
      this.lastLines = lines;
      this.draw(errors);
    }

    draw(errors) {
      const lines = this.lastLines;
      const band = Boolean(this.spec.band) && lines.length === 1;
      const data = alignLines(lines, this.win, this.spec.factor || 1, band);
      const key = JSON.stringify([band, lines.map((l) => l.name)]);
      if (this.plot && key === this.key) {
        this.plot.setData(data);
      } else {
        this.destroyPlot();
        const notice = errors && errors.length > 0 ? H.errorBox(errors[0], "Some queries failed") : null;
        const target = H.el("div");
        H.replace(this.body, target, notice);
        this.plot = new uPlot(this.options(lines, band), data, target);
        this.key = key;
      }
    }

    rebuild() {
      if (!this.plot || !this.lastLines) return;
      this.destroyPlot();
      this.draw(null);
    }

    destroyPlot() {
      if (this.plot) {
        this.plot.destroy();
        this.plot = null;
        this.key = "";
      }
    }

    resize() {
      if (this.plot) this.plot.setSize({ width: this.width(), height: HEIGHT });
    }

    width() {
      return Math.max(280, this.box.clientWidth - 24);
    }

    options(lines, band) {
      const axisColor = cssVar("--muted", "#666");
      const gridColor = cssVar("--grid", "rgba(128,128,128,0.15)");
      const bandColor = cssVar("--band", "rgba(78,121,167,0.18)");
      const format = this.unit.format;
      const chart = this;
      const series = [
        { label: "Time", value: (_u, v) => (v == null ? "" : H.formatTime(v * 1000)) },
      ];
      // With the cursor away (idx == null) the legend shows each series' latest value.
      const legendValue = (u, v, seriesIdx, idx) => {
        const shown = idx == null ? latest(u.data[seriesIdx]) : v;
        return shown == null ? "—" : format(shown);
      };
      lines.forEach((line, index) => {
        series.push({
          label: line.name,
          stroke: PALETTE[index % PALETTE.length],
          width: 1.5,
          spanGaps: false,
          value: legendValue,
        });
        if (band) {
          for (const name of ["max", "min"]) {
            series.push({
              label: name,
              stroke: bandColor,
              width: 1,
              spanGaps: false,
              points: { show: false },
              value: legendValue,
            });
          }
        }
      });
      const yAxis = {
        stroke: axisColor,
        grid: { stroke: gridColor, width: 1 },
        ticks: { stroke: gridColor, width: 1 },
        size: 76,
        values: (_u, splits) => splits.map((v) => format(v)),
      };
      if (this.unit.incrs) yAxis.incrs = this.unit.incrs;
      return {
        width: this.width(),
        height: HEIGHT,
        series,
        bands: band ? [{ series: [2, 3], fill: bandColor }] : [],
        scales: {
          // The x range is the requested window, not the data's extent, so a host
          // that started reporting ten minutes ago is drawn at the right edge.
          x: { time: true, range: () => [chart.win.start / 1000, chart.win.end / 1000] },
          y: { range: this.unit.range },
        },
        axes: [
          { stroke: axisColor, grid: { stroke: gridColor, width: 1 }, ticks: { stroke: gridColor, width: 1 } },
          yAxis,
        ],
        legend: { live: true },
        cursor: { drag: { x: true, y: false } },
      };
    }
  }

  /**
   * Picks the bucket width for a window: at most ~`maxBuckets` buckets, never finer
   * than the host's collection interval (finer buckets would be mostly empty), rounded
   * to a readable step so refreshes keep the same bucket edges.
   */
  const NICE_STEPS_MS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400].map((s) => s * 1000);

  function chooseStep(rangeMs, intervalMs, maxBuckets) {
    const wanted = Math.max(Math.ceil(rangeMs / maxBuckets), intervalMs || 1000);
    for (const step of NICE_STEPS_MS) if (step >= wanted) return step;
    return Math.ceil(wanted / 86400000) * 86400000;
  }

  /** The query window ending now: start aligned down to the step so bucket edges are stable. */
  function windowFor(rangeMs, intervalMs) {
    const step = chooseStep(rangeMs, intervalMs, 600);
    const end = Math.ceil(H.now() / 1000) * 1000;
    const start = Math.floor((end - rangeMs) / step) * step;
    // Two missing buckets in a row (or two missed collections) is a real gap.
    const gapMs = 2 * Math.max(step, intervalMs || 0);
    return { start, end, step, gapMs };
  }

  return { Chart, windowFor, chooseStep, alignLines };
})(window.Harbinger);
