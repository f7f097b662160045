// The New job page: framework, task and model from what the services declare, the data set,
// hyperparameters, the framework's options and the rest of the spec as forms made from their
// JSON schemas, then POST /v1/jobs. The server's 422 is shown next to each field it names.
// #/new?from=ID starts from a job's spec ("run again"); #/new?resume=ID also continues it from
// its last checkpoint (`resume_from`: the job's id).

import { api, jobPath } from "./api.js";
import { datasetPicker } from "./dataset_picker.js";
import { frame, schemaForm } from "./schema_form.js";
import { el, errorBox } from "./ui.js";

// Spec fields with a widget of their own on this page; every other one is drawn from the schema.
const OWN_WIDGETS = ["framework", "task", "model", "dataset", "hyperparams", "options", "early_stopping"];
const MAX_SELECT_MODELS = 200;
const MAX_SUGGESTED_MODELS = 2000;

function card(title, ...children) {
  return el("section", { class: "card form-card" }, el("h2", {}, title), ...children);
}

function messageOf(problem) {
  const allowed = Array.isArray(problem.allowed) && problem.allowed.length ? ` (allowed: ${problem.allowed.join(", ")})` : "";
  return `${problem.message}${allowed}`;
}

// The registered field a path belongs to: itself, or the nearest parent (`options.foo.0` → `options.foo`).
function fieldFor(fields, path) {
  const parts = String(path || "").split(".");
  for (let n = parts.length; n > 0; n -= 1) {
    const candidate = parts.slice(0, n).join(".");
    if (fields.has(candidate)) return candidate;
  }
  return null;
}

function startingSpec(source, mode) {
  if (!source) return {};
  return { ...source.spec, resume_from: mode === "resume" ? source.id : null };
}

export function mount(root, { query }) {
  const fromId = query.get("resume") || query.get("from");
  const mode = query.get("resume") ? "resume" : fromId ? "again" : "new";
  const top = el("div", { id: "form-message" });
  const body = el("div", {}, el("p", { class: "muted" }, "Loading what the services offer…"));
  root.append(
    el("nav", { class: "crumbs" }, el("a", { href: "#/jobs" }, "Jobs"), " / ", "New job"),
    el("div", { class: "page-head" }, el("h1", {}, "New job")),
    top,
    body,
  );
  const controller = new AbortController();
  const { signal } = controller;

  Promise.all([
    api("v1/frameworks", { signal }),
    api("v1/schemas/job-spec", { signal }),
    api("v1/datasets", { signal }),
    fromId ? api(jobPath(fromId), { signal }) : null,
  ])
    .then(([services, specSchema, datasets, source]) => {
      if (signal.aborted) return;
      body.replaceChildren(form(services, specSchema, datasets, source));
    })
    .catch((problem) => {
      if (problem.name !== "AbortError") body.replaceChildren(errorBox(problem));
    });

  function form(services, specSchema, datasets, source) {
    const spec = startingSpec(source, mode);
    const ready = services.filter((s) => s.capabilities);
    if (!ready.length) return errorBox(new Error("No training service has told the gateway what it can train yet: see Frameworks."));
    const props = specSchema.properties || {};
    const fields = new Map();
    const register = (map) => map.forEach((handle, path) => fields.set(path, handle));

    // -- what to train -----------------------------------------------------------------------
    const framework = el(
      "select",
      { name: "framework" },
      services.map((s) =>
        el("option", { value: s.framework, disabled: !s.capabilities, selected: s.framework === spec.framework }, s.capabilities ? s.framework : `${s.framework} (unavailable)`),
      ),
    );
    if (!ready.some((s) => s.framework === framework.value)) framework.value = (ready.find((s) => s.framework === spec.framework) || ready[0]).framework;
    const task = el("select", { name: "task" });
    const modelSlot = el("div", { class: "model-slot" });
    const taskHelp = el("small", { class: "help" });
    const frameworkField = frame("framework", "framework", framework, null, { required: true });
    const taskField = frame("task", "task", task, null, { required: true });
    taskField.node.insertBefore(taskHelp, taskField.node.lastElementChild);
    const modelField = frame("model", "model", modelSlot, null, { required: true });
    [["framework", frameworkField], ["task", taskField], ["model", modelField]].forEach(([p, h]) => fields.set(p, h));
    let model = { read: () => "" };

    // -- data --------------------------------------------------------------------------------
    const picker = datasetPicker({
      datasets,
      initial: spec.dataset,
      onFormat: (format) => picker.setFormat(format),
    });
    register(picker.fields);

    // -- hyperparameters, early stopping, the rest of the spec: from the spec's schema --------
    const hyperparams = schemaForm(props.hyperparams, { root: specSchema, prefix: "hyperparams", values: spec.hyperparams || {} });
    register(hyperparams.fields);
    const earlySlot = el("div");
    let early = null;
    const rest = schemaForm(specSchema, { skip: OWN_WIDGETS, values: spec });
    register(rest.fields);

    // -- the framework's options: from the schema its service declares ------------------------
    const optionsSlot = el("div", { id: "options-form" });
    const optionsTitle = el("h2", {});
    const optionsError = el("div", { class: "field-error", role: "alert", hidden: true });
    let options = null;
    let optionsFields = new Map();

    const service = () => ready.find((s) => s.framework === framework.value);
    const support = () => service().capabilities.tasks[task.value] || { dataset_formats: [], models: [], metrics: [] };

    function renderModel() {
      const { models, models_exhaustive: exhaustive } = support();
      const wanted = spec.framework === framework.value && spec.task === task.value ? spec.model : null;
      if (exhaustive !== false && models.length <= MAX_SELECT_MODELS) {
        const select = el("select", { name: "model", id: "field-model" }, models.map((m) => el("option", { value: m, selected: m === wanted }, m)));
        if (wanted && !models.includes(wanted)) select.append(el("option", { value: wanted, selected: true }, wanted));
        modelSlot.replaceChildren(select);
        model = { read: () => select.value };
      } else {
        const list = el("datalist", { id: "model-names" }, models.slice(0, MAX_SUGGESTED_MODELS).map((m) => el("option", { value: m })));
        const input = el("input", { type: "text", name: "model", id: "field-model", list: "model-names", spellcheck: "false", value: wanted || models[0] || "", placeholder: models.slice(0, 3).join(", ") });
        const note = exhaustive === false ? "Examples; the framework accepts more." : `${models.length} models: type to search.`;
        modelSlot.replaceChildren(input, list, el("small", { class: "help" }, note));
        model = { read: () => input.value.trim() };
      }
    }

    function renderTaskDependent() {
      const current = support();
      taskHelp.textContent = `formats: ${current.dataset_formats.join(", ") || "–"}; metrics per epoch: ${current.metrics?.join(", ") || "–"}`;
      renderModel();
      picker.setFormats(current.dataset_formats, spec.dataset?.format);
      for (const path of [...fields.keys()]) if (path.startsWith("early_stopping")) fields.delete(path);
      const previous = early ? early.read([]) : undefined;
      early = schemaForm(specSchema, {
        only: ["early_stopping"],
        values: previous && "early_stopping" in previous ? previous : spec,
        suggestions: { "early_stopping.metric": current.metrics || [] },
      });
      register(early.fields);
      earlySlot.replaceChildren(early.node);
    }

    function renderFramework() {
      const capabilities = service().capabilities;
      const wanted = spec.framework === framework.value ? spec.task : task.value;
      task.replaceChildren(...Object.keys(capabilities.tasks).map((t) => el("option", { value: t, selected: t === wanted }, t)));
      for (const path of optionsFields.keys()) fields.delete(path);
      options = schemaForm(capabilities.options_schema || {}, {
        prefix: "options",
        values: spec.framework === framework.value ? spec.options || {} : {},
      });
      optionsFields = new Map([["options", { node: optionsSlot, setError: (m) => { optionsError.textContent = m || ""; optionsError.hidden = !m; } }], ...options.fields]);
      register(optionsFields);
      optionsTitle.textContent = `Options for ${framework.value}`;
      optionsSlot.replaceChildren(
        options.fields.size ? options.node : el("p", { class: "muted" }, `${framework.value} declares no options.`),
      );
      renderTaskDependent();
    }

    framework.addEventListener("change", renderFramework);
    task.addEventListener("change", renderTaskDependent);
    renderFramework();

    // -- submit ------------------------------------------------------------------------------
    const submit = el("button", { class: "primary", type: "submit", id: "submit-job" }, mode === "resume" ? "Resume job" : "Start job");
    const clearErrors = () => {
      fields.forEach((handle) => handle.setError(null));
      top.replaceChildren();
    };
    const showProblems = (headline, problems) => {
      const unplaced = [];
      const placed = new Map(); // field path -> its messages
      for (const problem of problems) {
        const path = fieldFor(fields, problem.field);
        if (!path) unplaced.push(problem);
        else placed.set(path, [...(placed.get(path) || []), messageOf(problem)]);
      }
      placed.forEach((messages, path) => fields.get(path).setError(messages.join("; ")));
      top.replaceChildren(
        el(
          "div",
          { class: "alert", role: "alert", id: "form-problems" },
          el("p", {}, headline),
          unplaced.length ? el("ul", {}, unplaced.map((p) => el("li", { dataset: { field: p.field || "" } }, p.field ? `${p.field}: ${messageOf(p)}` : messageOf(p)))) : null,
        ),
      );
      const first = problems.map((p) => fieldFor(fields, p.field)).find(Boolean);
      (first ? fields.get(first).node : top).scrollIntoView({ block: "center" });
    };

    async function onSubmit(event) {
      event.preventDefault();
      clearErrors();
      const problems = [];
      const body = {
        framework: framework.value,
        task: task.value,
        model: model.read(),
        dataset: picker.read(),
        ...rest.read(problems),
      };
      const hp = hyperparams.read(problems);
      if (Object.keys(hp).length) body.hyperparams = hp;
      body.options = options.read(problems);
      Object.assign(body, early.read(problems));
      if (problems.length) {
        showProblems("Some fields cannot be read:", problems);
        return;
      }
      submit.disabled = true;
      try {
        const job = await api("v1/jobs", { method: "POST", body });
        location.hash = `#/jobs/${encodeURIComponent(job.id)}`;
      } catch (problem) {
        const listed = problem.body?.errors || [];
        if (problem.status === 401) top.replaceChildren(errorBox(problem));
        else showProblems(listed.length ? `The gateway refused the job: ${listed.length === 1 ? "1 problem" : `${listed.length} problems`}, shown next to the fields ${listed.length === 1 ? "it concerns" : "they concern"}.` : problem.message, listed);
      } finally {
        submit.disabled = false;
      }
    }

    const banner = source
      ? el(
          "p",
          { class: "notice", id: "prefilled-from" },
          mode === "resume" ? "Resuming " : "Starting again from ",
          el("a", { href: `#/jobs/${encodeURIComponent(source.id)}`, class: "mono" }, source.name || source.id),
          mode === "resume"
            ? ": the new job continues from its last checkpoint (resume_from). Change what you need, e.g. more epochs."
            : ": its spec, from the start (no resume_from).",
        )
      : null;

    return el(
      "form",
      { class: "new-job", novalidate: true, onsubmit: onSubmit },
      banner,
      card("What to train", el("div", { class: "form-grid" }, frameworkField.node, taskField.node, modelField.node)),
      card("Data set", picker.node),
      card("Hyperparameters", el("div", { class: "form-grid" }, hyperparams.node)),
      el("section", { class: "card form-card", dataset: { field: "options" } }, optionsTitle, optionsError, optionsSlot),
      card("Early stopping", earlySlot),
      card("Resources, placement and the rest", el("div", { class: "form-grid" }, rest.node)),
      el("div", { class: "actions form-actions" }, el("a", { href: "#/jobs", class: "ghost" }, "Cancel"), el("span", { class: "spacer" }), submit),
    );
  }

  return () => controller.abort();
}
