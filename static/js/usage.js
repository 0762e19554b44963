// The Usage page's charts, drawn by uPlot (static/vendor/uplot) from the page's
// json_script element "usage-chart-data" (no inline script: the CSP forbids it).
// The same numbers are in the tables under each chart, which is all a page without
// JavaScript shows. Hovering a chart shows each series' value in its legend.
(function () {
  "use strict";

  // Distinct in light and dark themes, and told apart by colour-blind readers in order.
  const PALETTE = [
    "#2b55c9", "#d9730d", "#16803c", "#b1261b", "#7e3ab8",
    "#0f8b9c", "#a0611a", "#c2337a", "#5b6b7f", "#6a8f00",
  ];

  function colour(index) {
    return PALETTE[index % PALETTE.length];
  }

  function usd(value) {
    if (value == null) return "—";
    if (value === 0) return "$0";
    if (Math.abs(value) < 0.01) return "$" + value.toPrecision(3);
    return "$" + value.toFixed(2);
  }

  function ms(value) {
    if (value == null) return "—";
    return value < 1000 ? Math.round(value) + " ms" : (value / 1000).toFixed(1) + " s";
  }

  function size(box) {
    const width = Math.max(240, Math.floor(box.clientWidth));
    return { width: width, height: width < 500 ? 200 : 260 };
  }

  const HOUR = 3600;
  const DAY = 86400;

  function timeAxis(step) {
    // Ticks only on whole hours or days (never "Nov 26" twice), labelled for people.
    return step === "hour"
      ? { space: 50, incrs: [HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR],
          values: [[HOUR, "{HH}:00", "\n{MMM} {D}", null, null, null, null, null, 1]] }
      : { space: 50, incrs: [DAY, 2 * DAY, 7 * DAY, 14 * DAY, 28 * DAY],
          values: [[DAY, "{MMM} {D}", null, null, null, null, null, null, 1]] };
  }

  // The x scale with half a step of room at each end, so the first and last bars show whole.
  function xScale(step) {
    const half = (step === "hour" ? HOUR : DAY) / 2;
    return { time: true, range: function (u, min, max) { return [min - half, max + half]; } };
  }

  function timeSeries(step) {
    const format = uPlot.fmtDate(step === "hour" ? "{WWW} {MMM} {D} {HH}:00" : "{WWW} {MMM} {D}");
    return {
      label: step === "hour" ? "Hour" : "Day",
      value: function (u, v) { return v == null ? "—" : format(new Date(v * 1000)); },
    };
  }

  // uPlot draws no stacks: each task's bar is drawn as the running total up to it,
  // tallest first, so the ones on top cover the rest; hover values stay each task's own.
  function costChart(box, chart, step) {
    const raw = chart.series.map(function (s) { return s.values; });
    const stacked = [];
    let running = chart.x.map(function () { return 0; });
    raw.forEach(function (values) {
      running = running.map(function (sum, i) { return sum + values[i]; });
      stacked.push(running);
    });
    const order = chart.series.map(function (_, k) { return k; }).reverse();
    const bars = uPlot.paths.bars({ size: [0.7, 48] });
    const options = Object.assign(size(box), {
      scales: { x: xScale(step), y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; } } },
      axes: [
        timeAxis(step),
        { size: 64, values: function (u, ticks) { return ticks.map(usd); } },
      ],
      legend: { live: true },
      series: [timeSeries(step)].concat(order.map(function (k) {
        return {
          label: chart.series[k].label,
          stroke: colour(k),
          fill: colour(k),
          width: 0,
          paths: bars,
          value: function (u, v, si, i) { return i == null ? "—" : usd(raw[k][i]); },
        };
      })),
    });
    return new uPlot(options, [chart.x].concat(order.map(function (k) { return stacked[k]; })), box);
  }

  function latencyChart(box, chart, step) {
    const series = [timeSeries(step)];
    const data = [chart.x];
    chart.series.forEach(function (s, k) {
      series.push({ label: s.label + " p50", stroke: colour(k), width: 2, value: function (u, v) { return ms(v); } });
      series.push({ label: s.label + " p95", stroke: colour(k), width: 1.5, dash: [6, 4], value: function (u, v) { return ms(v); } });
      data.push(s.p50, s.p95);
    });
    const options = Object.assign(size(box), {
      scales: { x: xScale(step), y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; } } },
      axes: [timeAxis(step), { size: 64, values: function (u, ticks) { return ticks.map(ms); } }],
      series: series,
      points: { show: true },
    });
    return new uPlot(options, data, box);
  }

  function start() {
    const source = document.getElementById("usage-chart-data");
    if (!source || typeof uPlot === "undefined") return;
    const data = JSON.parse(source.textContent);
    const charts = [];
    const cost = document.getElementById("cost-chart");
    const latency = document.getElementById("latency-chart");
    if (cost) charts.push([cost, costChart(cost, data.cost, data.step)]);
    if (latency) charts.push([latency, latencyChart(latency, data.latency, data.step)]);
    let pending = null;
    window.addEventListener("resize", function () {
      clearTimeout(pending);
      pending = setTimeout(function () {
        charts.forEach(function (pair) { pair[1].setSize(size(pair[0])); });
      }, 100);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
