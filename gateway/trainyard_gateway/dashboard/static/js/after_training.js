// What a succeeded training job leads to: Evaluate and Export (the formats its framework offers
// for the task, from GET /v1/frameworks), each a new job whose page opens; and the jobs already
// made from it (`derived`).

import { api, jobPath } from "./api.js";
import { el, stateBadge } from "./ui.js";

// The export formats the job's framework offers for its task; none when it offers none.
export async function exportFormats(job) {
  const services = await api("v1/frameworks");
  const service = services.find((each) => each.framework === job.framework);
  return service?.capabilities?.tasks?.[job.task]?.export_formats || [];
}

export function afterTrainingActions(job, formats, onProblem) {
  const start = async (label, path, body) => {
    onProblem(null);
    try {
      const made = await api(jobPath(job.id, path), { method: "POST", body });
      location.hash = `#/jobs/${encodeURIComponent(made.id)}`;
    } catch (problem) {
      onProblem(new Error(`${label} failed: ${problem.message}`));
    }
  };
  const format = el("select", { id: "export-format", "aria-label": "Export format" }, formats.map((f) => el("option", { value: f }, f)));
  return el(
    "div",
    { class: "actions", id: "after-training" },
    el("button", { type: "button", id: "evaluate-job", onclick: () => start("Evaluate", "/evaluate", {}) }, "Evaluate"),
    formats.length ? format : null,
    formats.length
      ? el("button", { type: "button", id: "export-job", onclick: () => start("Export", "/export", { format: format.value }) }, "Export")
      : null,
  );
}

export function derivedJobs(job) {
  if (!job.derived?.length) return null;
  return el(
    "section",
    { class: "card", id: "derived-jobs" },
    el("h2", {}, "Made from this model"),
    el(
      "table",
      {},
      el("thead", {}, el("tr", {}, ["Job", "Kind", "State"].map((h) => el("th", {}, h)))),
      el(
        "tbody",
        {},
        job.derived.map((each) =>
          el(
            "tr",
            { dataset: { jobId: each.id } },
            el("td", {}, el("a", { href: `#/jobs/${encodeURIComponent(each.id)}`, class: "mono" }, each.id)),
            el("td", {}, each.kind),
            el("td", {}, stateBadge(each.state)),
          ),
        ),
      ),
    ),
  );
}
