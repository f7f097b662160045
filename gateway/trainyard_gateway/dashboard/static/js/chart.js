// Line charts of per-epoch metrics, drawn as inline SVG (no library).

import { el, formatNumber } from "./ui.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 420;
const HEIGHT = 210;
const MARGIN = { left: 54, right: 14, top: 12, bottom: 32 };

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  node.append(...children);
  return node;
}

// Losses warm, scores cool, learning rates apart: a chart's colour says what kind it is.
export function metricColor(name) {
  const lower = name.toLowerCase();
  if (lower.includes("loss")) return "#e0562b";
  if (/(^|[/_])lr$|learning_rate/.test(lower)) return "#8b5cf6";
  if (/acc|top\d|map|precision|recall|f1|iou/.test(lower)) return "#0f9d7a";
  return "#2563eb";
}

// About `count` round tick values covering [min, max].
function niceTicks(min, max, count = 4) {
  const span = max - min;
  const raw = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => span / s <= count);
  const ticks = [];
  for (let v = Math.floor(min / step) * step; v <= max + step * 1e-9; v += step) {
    if (v >= min - step * 1e-9) ticks.push(Number(v.toPrecision(12)));
  }
  return ticks;
}

function domain(values) {
  let min = Math.min(...values);
  let max = Math.max(...values);
  if (min === max) {
    const pad = Math.abs(min) * 0.1 || 1;
    min -= pad;
    max += pad;
  }
  const pad = (max - min) * 0.08;
  return [min - pad, max + pad];
}

// Overlaid lines also differ in dash, so a run hidden under another with the same values shows.
const DASHES = [null, "7 4", "2 3", "10 3 2 3"];

const dash = (index) => DASHES[index % DASHES.length];

const isKnown = (value) => typeof value === "number" && Number.isFinite(value);

// points: [[epoch, value], …]; a null value leaves a gap.
export function lineChart(name, points) {
  const known = points.filter(([, y]) => isKnown(y));
  const color = metricColor(name);
  const latest = known.length ? known[known.length - 1][1] : null;
  const figure = el(
    "figure",
    { class: "chart", dataset: { metric: name, points: String(known.length) } },
    el(
      "figcaption",
      {},
      el("span", { class: "chart-name" }, name),
      el("span", { class: "chart-value", style: `color:${color}` }, formatNumber(latest)),
    ),
  );
  figure.append(plot(name, [{ label: name, color, points }], { area: true }));
  return figure;
}

// Several runs of one metric on shared axes: series [{label, color, points}], one line each,
// and a legend naming them.
export function multiLineChart(name, series) {
  const figure = el(
    "figure",
    { class: "chart", dataset: { metric: name, series: String(series.length) } },
    el("figcaption", {}, el("span", { class: "chart-name" }, name)),
  );
  figure.append(
    plot(name, series, { area: false }),
    el(
      "ul",
      { class: "chart-legend" },
      series.map(({ label, color }, index) =>
        el(
          "li",
          {},
          svg(
            "svg",
            { width: 24, height: 8, class: "legend-line", "aria-hidden": "true" },
            svg("line", { x1: 0, x2: 24, y1: 4, y2: 4, stroke: color, "stroke-width": 2.2, ...(dash(index) ? { "stroke-dasharray": dash(index) } : {}) }),
          ),
          label,
        ),
      ),
    ),
  );
  return figure;
}

function plot(name, series, { area }) {
  const all = series.flatMap(({ points }) => points.filter(([, y]) => isKnown(y)));
  const node = svg("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: "img",
    "aria-label": `${name} per epoch`,
  });
  if (!all.length) {
    node.append(svg("text", { x: WIDTH / 2, y: HEIGHT / 2, class: "chart-empty" }, "no values yet"));
    return node;
  }
  const epochs = all.map(([x]) => x);
  const xMin = Math.min(...epochs);
  const xMax = Math.max(xMin + 1, ...epochs);
  const [yMin, yMax] = domain(all.map(([, y]) => y));
  const innerW = WIDTH - MARGIN.left - MARGIN.right;
  const innerH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (v) => MARGIN.left + ((v - xMin) / (xMax - xMin)) * innerW;
  const y = (v) => MARGIN.top + (1 - (v - yMin) / (yMax - yMin)) * innerH;

  const grid = svg("g", { class: "chart-grid" });
  for (const tick of niceTicks(yMin, yMax)) {
    grid.append(
      svg("line", { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(tick), y2: y(tick) }),
      svg("text", { x: MARGIN.left - 8, y: y(tick) + 4, class: "tick-y" }, formatNumber(tick)),
    );
  }
  const xStep = Math.max(1, Math.ceil((xMax - xMin) / 8));
  for (let epoch = xMin; epoch <= xMax; epoch += xStep) {
    grid.append(svg("text", { x: x(epoch), y: HEIGHT - MARGIN.bottom + 16, class: "tick-x" }, String(epoch)));
  }
  grid.append(
    svg("text", { x: MARGIN.left + innerW / 2, y: HEIGHT - 3, class: "axis-label" }, "epoch"),
    svg("line", {
      class: "axis",
      x1: MARGIN.left,
      x2: WIDTH - MARGIN.right,
      y1: HEIGHT - MARGIN.bottom,
      y2: HEIGHT - MARGIN.bottom,
    }),
  );
  node.append(grid);

  series.forEach(({ label, color, points }, index) => {
    const known = points.filter(([, v]) => isKnown(v));
    if (!known.length) return;
    // One path per series; a missing epoch starts a new stroke, so it shows as a gap.
    let d = "";
    let previous = null;
    for (const [epoch, value] of points) {
      const missing = !isKnown(value);
      if (!missing) d += `${previous === null ? "M" : "L"}${x(epoch).toFixed(1)},${y(value).toFixed(1)}`;
      previous = missing ? null : epoch;
    }
    if (area && known.length === points.length) {
      const fill = `${d}L${x(known[known.length - 1][0]).toFixed(1)},${HEIGHT - MARGIN.bottom}L${x(known[0][0]).toFixed(1)},${HEIGHT - MARGIN.bottom}Z`;
      node.append(svg("path", { d: fill, fill: color, opacity: "0.08" }));
    }
    node.append(
      svg("path", {
        d,
        fill: "none",
        stroke: color,
        "stroke-width": "2.2",
        "stroke-linejoin": "round",
        ...(dash(index) ? { "stroke-dasharray": dash(index) } : {}),
        class: "chart-line",
        "data-series": label,
      }),
    );
    for (const [epoch, value] of known) {
      node.append(
        svg(
          "circle",
          // Earlier runs' points a little larger: a ring shows around a point drawn over them.
          { cx: x(epoch), cy: y(value), r: (known.length > 40 ? 1.6 : 3.2) + Math.min(series.length - 1 - index, 3) * 1.2, fill: color, class: "chart-point" },
          svg("title", {}, `${series.length > 1 ? `${label}, ` : ""}epoch ${epoch}: ${formatNumber(value)}`),
        ),
      );
    }
  });
  return node;
}
