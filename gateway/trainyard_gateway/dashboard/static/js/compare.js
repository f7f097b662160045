// Jobs side by side (#/compare?jobs=id1,id2,…): each metric's curves overlaid, the spec keys
// that differ, and each metric's final and best value. The rules are the CLI's
// (trainyard_client/compare.py): dotted keys, "loss" minimised, final = last known epoch.

import { api, jobPath } from "./api.js";
import { multiLineChart } from "./chart.js";
import { every } from "./poll.js";
import { TERMINAL, el, errorBox, formatNumber, stateBadge } from "./ui.js";

const REFRESH_MS = 3000;
// Distinct hues, one per job, in the order the jobs were picked.
const PALETTE = ["#2563eb", "#e0562b", "#0f9d7a", "#8b5cf6", "#d97706", "#db2777", "#0891b2", "#4b5563"];

export const compareHash = (ids) => `#/compare?jobs=${ids.map(encodeURIComponent).join(",")}`;

export function flatten(value, prefix = "", into = {}) {
  for (const [key, inner] of Object.entries(value)) {
    const name = `${prefix}${key}`;
    if (inner && typeof inner === "object" && !Array.isArray(inner)) flatten(inner, `${name}.`, into);
    else into[name] = inner;
  }
  return into;
}

// {key: [value per spec]} for the keys whose values are not the same in every spec.
export function specDifferences(specs) {
  const flat = specs.map((spec) => flatten(spec));
  const keys = [...new Set(flat.flatMap(Object.keys))].sort();
  const differences = {};
  for (const key of keys) {
    const values = flat.map((each) => (key in each ? each[key] : null));
    const first = JSON.stringify(values[0]);
    if (values.some((value) => JSON.stringify(value) !== first)) differences[key] = values;
  }
  return differences;
}

export const isMinimised = (metric) => metric.toLowerCase().includes("loss");

export function summarize(metric, points) {
  const known = points.map(([, v]) => v).filter((v) => typeof v === "number" && Number.isFinite(v));
  if (!known.length) return { final: null, best: null };
  return {
    final: known[known.length - 1],
    best: isMinimised(metric) ? Math.min(...known) : Math.max(...known),
  };
}

const label = (job) => job.name || job.id;
const shown = (value) =>
  value === null || value === undefined ? "–" : typeof value === "object" ? JSON.stringify(value) : formatNumber(value);

function jobHeads(runs) {
  return runs.map(({ job, color }) =>
    el(
      "th",
      { dataset: { jobId: job.id } },
      el("span", { class: "swatch", style: `background:${color}` }),
      el("a", { href: `#/jobs/${encodeURIComponent(job.id)}` }, label(job)),
    ),
  );
}

function legend(runs) {
  return el(
    "section",
    { class: "card" },
    el(
      "ul",
      { class: "compare-jobs" },
      runs.map(({ job, color }) =>
        el(
          "li",
          { dataset: { jobId: job.id } },
          el("span", { class: "swatch", style: `background:${color}` }),
          el("a", { href: `#/jobs/${encodeURIComponent(job.id)}` }, label(job)),
          job.name ? el("span", { class: "muted small mono" }, job.id) : null,
          stateBadge(job.state),
          el("span", { class: "muted small" }, `${job.framework} · ${job.model}`),
        ),
      ),
    ),
  );
}

function specTable(runs) {
  const differences = specDifferences(runs.map(({ job }) => job.spec));
  const keys = Object.keys(differences);
  if (!keys.length) return el("p", { class: "muted" }, "The specs are the same.");
  return el(
    "table",
    { class: "compare", id: "spec-differences" },
    el("thead", {}, el("tr", {}, el("th", {}, "Spec key"), jobHeads(runs))),
    el(
      "tbody",
      {},
      keys.map((key) =>
        el(
          "tr",
          { dataset: { key } },
          el("td", { class: "mono" }, key),
          differences[key].map((value) => el("td", { class: "mono" }, shown(value))),
        ),
      ),
    ),
  );
}

function metricsTable(runs, names) {
  if (!names.length) return el("p", { class: "muted" }, "No metrics reported yet.");
  const rows = [];
  for (const name of names) {
    const summaries = runs.map(({ metrics }) => (metrics.series[name] ? summarize(name, metrics.series[name]) : null));
    const bests = summaries.filter((s) => s && s.best !== null).map((s) => s.best);
    const winner = bests.length ? (isMinimised(name) ? Math.min(...bests) : Math.max(...bests)) : null;
    rows.push(
      el(
        "tr",
        { dataset: { metric: name, row: "final" } },
        el("td", { class: "mono" }, name, el("span", { class: "muted" }, " final")),
        summaries.map((s) => el("td", { class: "num" }, shown(s?.final))),
      ),
      el(
        "tr",
        { dataset: { metric: name, row: "best" } },
        el("td", { class: "mono" }, name, el("span", { class: "muted" }, ` best (${isMinimised(name) ? "min" : "max"})`)),
        summaries.map((s) =>
          el("td", { class: `num ${s && s.best !== null && s.best === winner ? "winner" : ""}` }, shown(s?.best)),
        ),
      ),
    );
  }
  return el(
    "table",
    { class: "compare", id: "metric-summary" },
    el("thead", {}, el("tr", {}, el("th", {}, "Metric"), jobHeads(runs))),
    el("tbody", {}, rows),
  );
}

export function mount(root, { ids }) {
  const message = el("div");
  const jobs = el("div");
  const charts = el("div", { class: "charts" });
  const specs = el("div");
  const summary = el("div");
  root.append(
    el("nav", { class: "crumbs" }, el("a", { href: "#/jobs" }, "Jobs"), " / compare"),
    el("div", { class: "page-head" }, el("h1", {}, `Compare ${ids.length} jobs`)),
    message,
    jobs,
    el("section", { class: "card" }, el("h2", {}, "Metrics per epoch"), charts),
    el("section", { class: "card" }, el("h2", {}, "Spec differences"), specs),
    el("section", { class: "card" }, el("h2", {}, "Final and best metrics"), summary),
  );
  document.title = "Compare · Trainyard";
  if (ids.length < 2) {
    message.replaceChildren(errorBox(new Error("Pick at least two jobs in the jobs table to compare them.")));
    return () => {};
  }

  let drawn = "";
  async function load() {
    const answers = await Promise.allSettled(
      ids.map((id) => Promise.all([api(jobPath(id)), api(jobPath(id, "/metrics"))])),
    );
    const problems = answers
      .map((answer, i) => (answer.status === "rejected" ? `${ids[i]}: ${answer.reason.message}` : null))
      .filter(Boolean);
    if (answers.some((a) => a.status === "rejected" && a.reason.status !== 404)) {
      throw answers.find((a) => a.status === "rejected" && a.reason.status !== 404).reason;
    }
    message.replaceChildren(problems.length ? errorBox(new Error(`Not compared: ${problems.join("; ")}`)) : "");
    const runs = answers
      .map((answer, i) => ({ answer, color: PALETTE[i % PALETTE.length] }))
      .filter(({ answer }) => answer.status === "fulfilled")
      .map(({ answer, color }) => ({ job: answer.value[0], metrics: answer.value[1], color }));
    const key = JSON.stringify(runs.map(({ job, metrics }) => [job.state, job.spec, metrics.series]));
    if (key !== drawn) {
      drawn = key;
      const names = [...new Set(runs.flatMap(({ metrics }) => Object.keys(metrics.series)))];
      jobs.replaceChildren(legend(runs));
      charts.replaceChildren(
        ...(names.length
          ? names.map((name) =>
              multiLineChart(
                name,
                runs.map(({ job, metrics, color }) => ({ label: label(job), color, points: metrics.series[name] || [] })),
              ),
            )
          : [el("p", { class: "muted" }, "No metrics reported yet: they arrive at the end of each epoch.")]),
      );
      specs.replaceChildren(specTable(runs));
      summary.replaceChildren(metricsTable(runs, names));
    }
    return runs.some(({ job }) => !TERMINAL.has(job.state)); // all finished: nothing changes
  }

  return every(REFRESH_MS, load);
}
