// The data set of a new job: one the gateway has registered, a path or URI, or a zip uploaded
// right here (POST /v1/datasets). A refused upload shows the gateway's check, problems by file.

import { authHeaders, errorFrom, ApiError } from "./api.js";
import { el, formatBytes } from "./ui.js";

const SOURCES = [
  ["registered", "Registered data set"],
  ["uri", "Path or URI"],
  ["upload", "Upload a zip"],
];

function describe(dataset) {
  const images = Object.entries(dataset.summary?.images || {}).map(([split, n]) => `${split} ${n}`).join(", ");
  return [dataset.name || dataset.id, dataset.format, images, formatBytes(dataset.size_bytes)].filter(Boolean).join(" · ");
}

// The check's problems grouped by file: each file once, with everything wrong with it.
export function problemReport(message, problems, leftOut = 0) {
  const byFile = new Map();
  for (const problem of problems) {
    const files = problem.files?.length ? problem.files : [problem.field || "(dataset)"];
    for (const file of files) {
      if (!byFile.has(file)) byFile.set(file, []);
      byFile.get(file).push(problem);
    }
  }
  return el(
    "div",
    { class: "dataset-report", id: "dataset-report", role: "alert" },
    el("p", { class: "error" }, message),
    el(
      "ul",
      { class: "report-files" },
      [...byFile].map(([file, list]) =>
        el(
          "li",
          { dataset: { file } },
          el("span", { class: "mono report-file" }, file),
          el("ul", {}, list.map((p) => el("li", { dataset: { problem: p.problem || "" } }, p.message))),
        ),
      ),
    ),
    leftOut ? el("p", { class: "muted small" }, `… and ${leftOut} more problems`) : null,
  );
}

async function upload(file, name) {
  const body = new FormData();
  body.append("file", file, file.name);
  if (name) body.append("name", name);
  let response;
  try {
    response = await fetch("v1/datasets", { method: "POST", headers: authHeaders({ Accept: "application/json" }), body });
  } catch {
    throw new ApiError(0, "the gateway cannot be reached");
  }
  if (!response.ok) throw await errorFrom(response);
  return response.json();
}

// `datasets`: GET /v1/datasets; `initial`: a spec's dataset to start from; `onFormat(format)`:
// a registered data set picked, whose format the job must name.
// Answers {node, read(), setFormats(list), fields}.
export function datasetPicker({ datasets, initial, onFormat }) {
  const known = [...datasets];
  const initialId = known.find((d) => d.id === initial?.uri)?.id;
  let source = initial?.uri ? (initialId ? "registered" : "uri") : known.length ? "registered" : "upload";

  const format = el("select", { name: "dataset.format", id: "field-dataset.format" });
  const registered = el("select", { name: "dataset.id" });
  const uri = el("input", { type: "text", name: "dataset.uri", spellcheck: "false", placeholder: "/data/shapes, s3://bucket/prefix, file://…", value: initialId ? "" : initial?.uri || "" });
  const file = el("input", { type: "file", name: "dataset.file", accept: ".zip,application/zip" });
  const uploadName = el("input", { type: "text", name: "dataset.name", placeholder: "name (optional)" });
  const report = el("div", { class: "upload-result" });
  const uploadButton = el("button", { type: "button", class: "small", id: "upload-dataset" }, "Upload and check");

  const fillRegistered = (selected) => {
    registered.replaceChildren(
      ...(known.length
        ? known.map((d) => el("option", { value: d.id, selected: d.id === selected }, describe(d)))
        : [el("option", { value: "" }, "none registered yet")]),
    );
  };
  fillRegistered(initialId);
  registered.addEventListener("change", () => {
    const picked = known.find((d) => d.id === registered.value);
    if (picked) onFormat(picked.format);
  });

  uploadButton.addEventListener("click", async () => {
    if (!file.files.length) {
      report.replaceChildren(el("p", { class: "error" }, "Choose a zip file first."));
      return;
    }
    uploadButton.disabled = true;
    report.replaceChildren(el("p", { class: "muted" }, `Uploading ${file.files[0].name} and checking it…`));
    try {
      const dataset = await upload(file.files[0], uploadName.value.trim());
      known.unshift(dataset);
      fillRegistered(dataset.id);
      onFormat(dataset.format);
      choose("registered");
      const accepted = el("p", { class: "ok", id: "upload-accepted" }, `Uploaded and registered ${dataset.id}: ${describe(dataset)}`);
      const remarks = dataset.problems?.length ? [problemReport("Accepted, with these remarks:", dataset.problems)] : [];
      report.replaceChildren(accepted, ...remarks);
    } catch (problem) {
      const problems = problem.body?.errors || [];
      report.replaceChildren(
        problems.length
          ? problemReport(`Refused: the gateway found ${problems.length === 1 ? "1 problem" : `${problems.length} problems`} in this data set, by file:`, problems)
          : el("p", { class: "error", role: "alert" }, `Refused: ${problem.message}`),
      );
    } finally {
      uploadButton.disabled = false;
    }
  });

  const panes = {
    registered: el("div", { class: "source-pane" }, registered),
    uri: el("div", { class: "source-pane" }, uri, el("small", { class: "help" }, "A path on the framework service's machine, file://…, s3://bucket/prefix, or a data set id (ds-…).")),
    upload: el(
      "div",
      { class: "source-pane" },
      el("div", { class: "upload-row" }, file, uploadName, uploadButton),
      el("small", { class: "help" }, "A zip of an imagefolder (train/<class>/…, val/<class>/…), a YOLO data set (data.yaml) or COCO; the gateway checks every file."),
    ),
  };
  const radios = SOURCES.map(([value, label]) =>
    el("label", { class: "radio" }, el("input", { type: "radio", name: "dataset-source", value, checked: value === source, onchange: () => choose(value) }), label),
  );
  function choose(value) {
    source = value;
    radios.forEach((label) => {
      const radio = label.querySelector("input");
      radio.checked = radio.value === value;
    });
    Object.entries(panes).forEach(([key, pane]) => (pane.hidden = key !== value));
  }
  choose(source);

  const error = el("div", { class: "field-error", role: "alert", hidden: true });
  const sourceField = el("div", { class: "form-field", dataset: { field: "dataset.uri" } }, el("div", { class: "radios" }, radios), Object.values(panes), report, error);
  const formatError = el("div", { class: "field-error", role: "alert", hidden: true });
  const formatField = el("div", { class: "form-field", dataset: { field: "dataset.format" } }, el("label", { class: "form-label", for: format.id }, el("span", { class: "mono" }, "format")), format, formatError);
  const slot = (node, box) => ({
    node,
    setError: (message) => {
      box.textContent = message || "";
      box.hidden = !message;
      node.classList.toggle("has-error", Boolean(message));
    },
  });
  const fields = new Map([
    ["dataset", slot(sourceField, error)],
    ["dataset.uri", slot(sourceField, error)],
    ["dataset.format", slot(formatField, formatError)],
  ]);

  return {
    node: el("div", { class: "dataset-picker" }, formatField, sourceField),
    fields,
    setFormats(formats, preferred) {
      const keep = preferred || format.value || initial?.format;
      format.replaceChildren(...formats.map((f) => el("option", { value: f, selected: f === keep }, f)));
    },
    setFormat(value) {
      if ([...format.options].some((o) => o.value === value)) format.value = value;
      else format.append(el("option", { value, selected: true }, value)); // the server will say
    },
    read() {
      const where = source === "registered" ? registered.value : source === "uri" ? uri.value.trim() : "";
      return { uri: where, format: format.value };
    },
  };
}
