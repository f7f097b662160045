// What an evaluation or export job found (`job.result`): an evaluation's metrics, its per-class
// table and confusion matrix (rows: true class, columns: predicted; a heat map by share of the
// row); an export's parity report and the exported file.

import { artifactLink } from "./download.js";
import { el, formatNumber } from "./ui.js";

function metricsList(metrics) {
  return el(
    "dl",
    { class: "facts result-metrics" },
    Object.entries(metrics || {}).map(([name, value]) =>
      el("div", { class: "fact", dataset: { metric: name } }, el("dt", {}, name), el("dd", { class: "num" }, formatNumber(value))),
    ),
  );
}

// Per class: a classifier's precision, recall and support; a detector's AP50 and AP50-95.
function perClassTable(rows, caption) {
  if (!rows?.length) return null;
  const columns = ["precision", "recall", "support", "ap50", "ap"].filter((key) => rows.some((row) => row[key] !== undefined));
  const heading = { precision: "Precision", recall: "Recall", support: "Support", ap50: "AP50", ap: "AP50-95" };
  return el(
    "table",
    { class: "per-class", dataset: { part: caption } },
    el("caption", {}, caption),
    el("thead", {}, el("tr", {}, el("th", {}, "Class"), columns.map((key) => el("th", { class: "num" }, heading[key])))),
    el(
      "tbody",
      {},
      rows.map((row) =>
        el("tr", { dataset: { label: row.label } }, el("td", {}, row.label), columns.map((key) => el("td", { class: "num", dataset: { column: key } }, formatNumber(row[key])))),
      ),
    ),
  );
}

function confusionMatrix(labels, matrix) {
  if (!matrix?.length) return null;
  const cell = (count, row, column, total) => {
    const share = total ? count / total : 0;
    const hue = row === column ? "15, 157, 122" : "224, 86, 43";
    return el(
      "td",
      {
        class: `num cell${row === column ? " diagonal" : ""}`,
        style: `background: rgba(${hue}, ${(share * 0.85).toFixed(3)})`,
        title: `true ${labels[row]}, predicted ${labels[column]}: ${count}`,
        dataset: { row: String(row), column: String(column), count: String(count) },
      },
      String(count),
    );
  };
  return el(
    "table",
    { class: "confusion", id: "confusion-matrix" },
    el("caption", {}, "Confusion matrix: rows the true class, columns the predicted one"),
    el("thead", {}, el("tr", {}, el("th", {}, "true \\ predicted"), labels.map((label) => el("th", { class: "num" }, label)))),
    el(
      "tbody",
      {},
      matrix.map((counts, row) => {
        const total = counts.reduce((a, b) => a + b, 0);
        return el("tr", {}, el("th", {}, labels[row]), counts.map((count, column) => cell(count, row, column, total)));
      }),
    ),
  );
}

function sourceNote(result) {
  const source = result.source;
  if (!source) return null;
  return el("p", { class: "muted small" }, "Model: ", el("a", { href: `#/jobs/${encodeURIComponent(source.job_id)}`, class: "mono" }, source.job_id), ` (${source.checkpoint} checkpoint)`);
}

export function evaluationResult(job) {
  const result = job.result;
  if (!result) return null;
  const parts = [
    ["per_class", "Per class"],
    ["box", "Boxes, per class"],
    ["seg", "Masks, per class"],
    ["pose", "Keypoints, per class"],
  ];
  return el(
    "section",
    { class: "card", id: "evaluation-result" },
    el("h2", {}, "Evaluation"),
    sourceNote(result),
    metricsList(result.metrics),
    result.images !== undefined ? el("p", { class: "muted small" }, `${result.images} images`) : null,
    el("div", { class: "result-tables" }, parts.map(([key, caption]) => perClassTable(result[key], caption)), confusionMatrix(result.labels || [], result.confusion_matrix)),
  );
}

const PARITY_FIELDS = [
  ["passed", "Passed"],
  ["images", "Images compared"],
  ["max_abs_diff", "Max |difference|"],
  ["mean_abs_diff", "Mean |difference|"],
  ["top1_agreement", "Top-1 agreement"],
  ["min_top1_agreement", "Top-1 agreement needed"],
  ["atol", "atol"],
  ["rtol", "rtol"],
  ["worst_excess", "Worst excess over tolerance"],
];

// A detector's (segmenter's, pose model's) validation metrics, measured on the PyTorch checkpoint
// and on the exported file, side by side (`result.task_metrics`; compared within max_map_diff).
function taskMetricsTable(taskMetrics) {
  if (!taskMetrics) return null;
  const pytorch = taskMetrics.pytorch || {};
  const exported = taskMetrics.exported || {};
  const names = [...new Set([...Object.keys(pytorch), ...Object.keys(exported)])];
  if (!names.length) return null;
  const difference = (name) =>
    typeof pytorch[name] === "number" && typeof exported[name] === "number" ? formatNumber(Math.abs(pytorch[name] - exported[name])) : "";
  return el(
    "table",
    { class: "task-metrics", id: "task-metrics" },
    el("caption", {}, "Validation metrics: the model and its export"),
    el("thead", {}, el("tr", {}, ["metric", "PyTorch", "exported", "|difference|"].map((h) => el("th", {}, h)))),
    el(
      "tbody",
      {},
      names.map((name) =>
        el("tr", { dataset: { metric: name } }, el("td", {}, name), el("td", { class: "num" }, formatNumber(pytorch[name])), el("td", { class: "num" }, formatNumber(exported[name])), el("td", { class: "num" }, difference(name))),
      ),
    ),
  );
}

export function exportResult(job, onProblem) {
  const result = job.result;
  if (!result) return null;
  const parity = result.parity || {};
  const stored = result.artifact ? job.artifacts.find((a) => a.name === result.artifact.name) : null;
  const outputs = parity.outputs || [];
  const outputKeys = [...new Set(outputs.flatMap((o) => Object.keys(o)))];
  return el(
    "section",
    { class: "card", id: "export-result" },
    el("h2", {}, `Export: ${result.format}`),
    sourceNote(result),
    el(
      "dl",
      { class: "facts", id: "parity" },
      PARITY_FIELDS.filter(([key]) => parity[key] !== undefined && parity[key] !== null).map(([key, label]) =>
        el("div", { class: "fact", dataset: { field: key } }, el("dt", {}, label), el("dd", { class: key === "passed" ? (parity.passed ? "ok" : "error") : "num" }, key === "passed" ? (parity.passed ? "yes" : "no") : formatNumber(parity[key]))),
      ),
    ),
    outputs.length
      ? el(
          "table",
          { class: "parity-outputs" },
          el("caption", {}, "Per output"),
          el("thead", {}, el("tr", {}, outputKeys.map((key) => el("th", {}, key)))),
          el("tbody", {}, outputs.map((o) => el("tr", {}, outputKeys.map((key) => el("td", { class: "num" }, typeof o[key] === "object" ? JSON.stringify(o[key]) : formatNumber(o[key])))))),
        )
      : null,
    taskMetricsTable(result.task_metrics),
    stored
      ? el("p", { id: "export-file" }, "Exported file: ", artifactLink(stored, onProblem), ` · ${stored.size.toLocaleString()} bytes · sha256 `, el("span", { class: "mono small" }, stored.sha256))
      : el("p", { class: "muted" }, parity.passed === false ? "No file stored: the export did not match the model." : "No file stored yet."),
  );
}
