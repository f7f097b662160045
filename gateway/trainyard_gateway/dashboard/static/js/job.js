// One job: state and progress, live logs, a chart per metric, error details, artifacts, actions
// (cancel; run again and resume open the New job page with its spec). A succeeded training job
// also offers evaluate, export and predict, and lists the jobs made from it; an evaluation or
// export job shows what it found.

import { afterTrainingActions, derivedJobs, exportFormats } from "./after_training.js";
import { api, jobPath } from "./api.js";
import { artifactLink } from "./download.js";
import { lineChart } from "./chart.js";
import { every } from "./poll.js";
import { predictPanel } from "./predict.js";
import { evaluationResult, exportResult } from "./results.js";
import { followLogs } from "./sse.js";
import {
  ACTIVE,
  TERMINAL,
  el,
  errorBox,
  formatBytes,
  formatDuration,
  formatTime,
  jobDuration,
  progressBar,
  stateBadge,
} from "./ui.js";

const REFRESH_MS = 2000;
const MAX_LOG_LINES = 5000;
const RESUMABLE = new Set(["failed", "cancelled", "lost"]);

function fact(label, value) {
  return el("div", { class: "fact" }, el("dt", {}, label), el("dd", {}, value ?? "–"));
}

function header(job, actions) {
  const title = job.name || job.id;
  const eta = job.state === "running" && job.progress.eta_seconds !== null
    ? `ETA ${formatDuration(job.progress.eta_seconds)}`
    : null;
  const queue = job.queue
    ? el("p", { class: "muted" }, `Queue position ${job.queue.position}${job.queue.reason ? `: ${job.queue.reason}` : ""}`)
    : null;
  return el(
    "section",
    { class: "card job-head" },
    el(
      "div",
      { class: "job-title" },
      el("h1", {}, title),
      stateBadge(job.state),
      job.cancel_requested && !TERMINAL.has(job.state) ? el("span", { class: "muted" }, "cancel requested") : null,
      el("span", { class: "spacer" }),
      actions,
    ),
    job.name ? el("div", { class: "muted mono small" }, job.id) : null,
    queue,
    el(
      "dl",
      { class: "facts" },
      job.kind !== "train" ? fact("Kind", job.kind) : null,
      job.source_job_id ? fact("Model of", el("a", { href: `#/jobs/${encodeURIComponent(job.source_job_id)}`, class: "mono", id: "source-job" }, job.source_job_id)) : null,
      fact("Framework", job.framework),
      fact("Task", job.task),
      fact("Model", el("span", { class: "mono" }, job.model)),
      fact("Project", job.project),
      fact("Executor", job.executor || "default"),
      fact("Created", formatTime(job.created_at)),
      fact("Started", formatTime(job.started_at)),
      fact("Finished", formatTime(job.finished_at)),
      fact("Duration", jobDuration(job)),
      job.weights
        ? fact("Weights", el("span", { title: job.weights.sha256 }, `${job.weights.tier} tier · ${formatBytes(job.weights.size)} · ${job.weights.sha256.slice(0, 12)}`))
        : null,
      job.mlflow?.url ? fact("MLflow", el("a", { href: job.mlflow.url, target: "_blank", rel: "noopener" }, job.mlflow.run_id || "run")) : null,
      job.resumed_from ? fact("Resumed from", jobLink(job.resumed_from)) : null,
      job.init_from ? fact("Fine-tuned from", lineage(job.init_from)) : null,
      job.registered ? fact("Registered as", `${job.registered.name} v${job.registered.version}`) : null,
    ),
    el("div", { class: "job-progress" }, progressBar(job), eta ? el("span", { class: "muted small" }, eta) : null),
  );
}

function jobLink(id) {
  return el("a", { href: `#/jobs/${encodeURIComponent(id)}`, class: "mono", id: "lineage-job" }, id);
}

// Where a fine-tuned job's weights came from: the source job (a link), the registered model
// version it was read from, and the checkpoint file.
function lineage(source) {
  return el(
    "span",
    { id: "lineage" },
    source.model ? `model ${source.model} v${source.version} · ` : null,
    source.job ? jobLink(source.job) : null,
    source.checkpoint ? ` (${source.checkpoint})` : null,
    el("div", { class: "muted mono small" }, source.uri || ""),
  );
}

function errorDetails(job) {
  const error = job.error;
  if (!error) return null;
  const known = ["reason", "message", "exit_code", "signal", "error_type", "log_tail"];
  const rest = Object.entries(error).filter(([key, v]) => !known.includes(key) && v !== null);
  const tail = Array.isArray(error.log_tail) ? error.log_tail : [];
  const failed = job.state === "failed" || job.state === "lost";
  return el(
    "section",
    { class: `card error-details ${failed ? "is-failure" : ""}`, id: "error-details" },
    el("h2", {}, failed ? "Error" : "How it ended"),
    el(
      "dl",
      { class: "facts" },
      fact("Reason", error.reason),
      error.exit_code !== undefined && error.exit_code !== null ? fact("Exit code", String(error.exit_code)) : null,
      error.signal ? fact("Signal", String(error.signal)) : null,
      error.error_type ? fact("Error type", error.error_type) : null,
      rest.map(([key, value]) => fact(key, typeof value === "object" ? JSON.stringify(value) : String(value))),
    ),
    error.message ? el("p", { class: "error-message" }, error.message) : null,
    tail.length ? el("h3", {}, "Last output lines") : null,
    tail.length ? el("pre", { class: "log tail" }, tail.join("\n")) : null,
  );
}

function artifactsTable(job, onProblem) {
  if (!job.artifacts.length) {
    return el("p", { class: "muted" }, TERMINAL.has(job.state) ? "No artifacts." : "None yet.");
  }
  const row = (artifact) => {
    return el(
      "tr",
      {},
      el("td", {}, artifactLink(artifact, onProblem)),
      el("td", {}, artifact.kind),
      el("td", { class: "num" }, formatBytes(artifact.size)),
      el("td", { class: "mono small", title: artifact.sha256 }, `${artifact.sha256.slice(0, 16)}…`),
      el("td", {}, formatTime(artifact.created_at)),
    );
  };
  return el(
    "table",
    { class: "artifacts" },
    el("thead", {}, el("tr", {}, ["Name", "Kind", "Size", "sha256", "Saved"].map((h) => el("th", {}, h)))),
    el("tbody", {}, job.artifacts.map(row)),
  );
}

function logPanel() {
  const box = el("div", { class: "log live", tabindex: "0" });
  const status = el("span", { class: "muted small" }, "connecting…");
  const follow = el("input", { type: "checkbox", checked: true });
  const panel = el(
    "section",
    { class: "card" },
    el("div", { class: "section-head" }, el("h2", {}, "Logs"), status, el("span", { class: "spacer" }), el("label", { class: "small" }, follow, " follow")),
    box,
  );
  const add = (line) => {
    const time = new Date(line.time).toLocaleTimeString();
    box.append(el("div", { class: `line ${line.stream}`, dataset: { seq: String(line.seq) } }, el("span", { class: "time" }, time), line.line));
    while (box.childElementCount > MAX_LOG_LINES) box.firstElementChild.remove();
    if (follow.checked) box.scrollTop = box.scrollHeight;
    status.textContent = "live";
  };
  return { panel, add, setStatus: (text) => (status.textContent = text) };
}

export function mount(root, { id }) {
  let job = null;
  let lastMetrics = "";
  let notice = null;
  const actions = el("div", { class: "actions" });
  const head = el("div");
  const error = el("div");
  const result = el("div");
  const derived = el("div");
  const predict = el("div");
  const charts = el("div", { class: "charts" });
  const metricsCard = el("section", { class: "card" }, el("h2", {}, "Metrics"), charts);
  const artifacts = el("div");
  const spec = el("pre", { class: "code" });
  const logs = logPanel();
  const message = el("div");
  root.append(
    el("nav", { class: "crumbs" }, el("a", { href: "#/jobs" }, "Jobs"), " / ", el("span", { class: "mono" }, id)),
    message,
    head,
    error,
    result,
    derived,
    predict,
    metricsCard,
    logs.panel,
    el("section", { class: "card" }, el("h2", {}, "Artifacts"), artifacts),
    el("section", { class: "card" }, el("details", {}, el("summary", {}, "Job spec"), spec)),
  );

  const showProblem = (problem) => {
    notice = problem;
    message.replaceChildren(problem ? errorBox(problem) : "");
  };

  async function act(label, path) {
    showProblem(null);
    try {
      await api(jobPath(id, path), { method: "POST" });
      await load();
    } catch (problem) {
      showProblem(new Error(`${label} failed: ${problem.message}`));
    }
  }

  // A succeeded training job's model: evaluate and export it (in the formats its framework
  // offers for the task, asked once), ask it about an image.
  let formats = null;
  let modelActions = null; // made once, so a chosen format stays chosen while the page polls
  const isModel = () => job.kind === "train" && job.state === "succeeded";
  async function showModelTools() {
    if (!isModel() || formats !== null) return;
    formats = [];
    if (!predict.firstChild) predict.replaceChildren(predictPanel(job));
    try {
      formats = await exportFormats(job);
    } catch (problem) {
      showProblem(new Error(`Export formats unavailable: ${problem.message}`));
    }
    modelActions = afterTrainingActions(job, formats, showProblem);
    renderActions();
  }

  function renderActions() {
    const buttons = [];
    if (isModel() && modelActions) buttons.push(modelActions);
    if (ACTIVE.has(job.state) && !job.cancel_requested) {
      buttons.push(el("button", {
        class: "danger",
        type: "button",
        id: "cancel-job",
        onclick: () => confirm(`Cancel job ${job.name || job.id}?`) && act("Cancel", "/cancel"),
      }, "Cancel job"));
    }
    // Both open the New job page with this job's spec, to change before starting.
    const startFrom = (how) => () => {
      location.hash = `#/new?${how}=${encodeURIComponent(job.id)}`;
    };
    if (job.kind === "train") {
      buttons.push(el("button", { class: "ghost", type: "button", id: "run-again", onclick: startFrom("from") }, "Run again"));
    }
    if (RESUMABLE.has(job.state)) {
      buttons.push(el("button", { class: "primary", type: "button", id: "resume-job", onclick: startFrom("resume") }, "Resume…"));
    }
    actions.replaceChildren(...buttons);
  }

  async function loadMetrics() {
    const metrics = await api(jobPath(id, "/metrics"));
    const key = JSON.stringify(metrics.series);
    if (key === lastMetrics) return;
    lastMetrics = key;
    const names = Object.keys(metrics.series);
    // An evaluation or export reports no epochs: what it found is shown above.
    metricsCard.hidden = job.kind !== "train" && !names.length;
    charts.replaceChildren(
      ...(names.length
        ? names.map((name) => lineChart(name, metrics.series[name]))
        : [el("p", { class: "muted" }, "No metrics reported yet: they arrive at the end of each epoch.")]),
    );
  }

  async function load() {
    try {
      job = await api(jobPath(id));
    } catch (problem) {
      if (problem.status !== 404) throw problem;
      showProblem(problem);
      stopLogs();
      return false;
    }
    document.title = `${job.name || job.id} · Trainyard`;
    renderActions();
    head.replaceChildren(header(job, actions));
    error.replaceChildren(errorDetails(job) || "");
    const found = { evaluate: () => evaluationResult(job), export: () => exportResult(job, showProblem) }[job.kind];
    result.replaceChildren((found && found()) || "");
    derived.replaceChildren(derivedJobs(job) || "");
    await showModelTools();
    artifacts.replaceChildren(artifactsTable(job, showProblem));
    spec.textContent = JSON.stringify(job.spec, null, 2);
    await loadMetrics();
    if (notice && notice.status === 0) showProblem(null);
    // A finished job changes no more, but the jobs made from its model do: poll while they run.
    return !TERMINAL.has(job.state) || job.derived.some((each) => ACTIVE.has(each.state));
  }

  const stopLogs = followLogs(jobPath(id, "/logs/stream?tail=1000"), {
    onLine: logs.add,
    onEnd: ({ state }) => logs.setStatus(`ended: ${state}`),
    onProblem: (problem) => logs.setStatus(`stream interrupted: ${problem.message}`),
  });
  const stopPolling = every(REFRESH_MS, load);
  return () => {
    stopPolling();
    stopLogs();
  };
}
