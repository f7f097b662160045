// The jobs table: filters by state, framework, kind and project, refreshed every few seconds; ticked
// jobs open side by side with Compare.

import { api } from "./api.js";
import { compareHash } from "./compare.js";
import { every } from "./poll.js";
import { STATES, el, jobDuration, progressBar, stateBadge, timeAgo } from "./ui.js";

const REFRESH_MS = 3000;
const PAGE_SIZE = 50;
// What a job does (trainyard_wire.spec.JOB_KINDS); GET /v1/jobs?kind= filters by it.
const KINDS = ["train", "export", "evaluate"];

function filterBar(filters, frameworks, onChange) {
  const select = (name, label, options) =>
    el(
      "label",
      { class: "field inline" },
      el("span", {}, label),
      el(
        "select",
        { name, onchange: (e) => onChange(name, e.target.value) },
        el("option", { value: "" }, "all"),
        options.map((value) => el("option", { value, selected: filters[name] === value }, value)),
      ),
    );
  const project = el("input", {
    name: "project",
    type: "search",
    placeholder: "any project",
    value: filters.project || "",
    oninput: (e) => onChange("project", e.target.value.trim(), { debounce: true }),
  });
  return el(
    "div",
    { class: "filters" },
    select("state", "State", STATES),
    select("framework", "Framework", frameworks),
    select("kind", "Kind", KINDS),
    el("label", { class: "field inline" }, el("span", {}, "Project"), project),
  );
}

function jobRow(job, selected, onSelect) {
  const open = () => {
    location.hash = `#/jobs/${encodeURIComponent(job.id)}`;
  };
  const pick = el("input", {
    type: "checkbox",
    class: "pick",
    checked: selected.has(job.id),
    "aria-label": `Compare ${job.name || job.id}`,
    onchange: (e) => onSelect(job.id, e.target.checked),
  });
  return el(
    "tr",
    { class: "clickable", dataset: { jobId: job.id, state: job.state }, onclick: open },
    el("td", { class: "pick-cell", onclick: (e) => e.stopPropagation() }, pick),
    el("td", {}, stateBadge(job.state)),
    el(
      "td",
      { class: "job-cell" },
      el("a", { href: `#/jobs/${encodeURIComponent(job.id)}` }, job.name || job.id),
      job.name ? el("div", { class: "muted small mono" }, job.id) : null,
    ),
    el("td", {}, job.framework),
    el("td", { class: "mono" }, job.model),
    el("td", {}, job.project),
    el("td", {}, progressBar(job)),
    el("td", {}, timeAgo(job.created_at)),
    el("td", { class: "num" }, jobDuration(job)),
  );
}

function emptyState(filtered) {
  if (filtered) return el("div", { class: "empty" }, "No job matches these filters.");
  return el(
    "div",
    { class: "empty" },
    el("p", {}, "No jobs yet. Start one with ", el("a", { href: "#/new" }, "New job"), ", or submit one to the API:"),
    el(
      "pre",
      { class: "code" },
      `curl -X POST ${location.origin}/v1/jobs -H 'content-type: application/json' -d '{\n` +
        `  "framework": "timm", "task": "classification", "model": "resnet18",\n` +
        `  "dataset": {"uri": "/tmp/shapes", "format": "imagefolder"},\n` +
        `  "hyperparams": {"epochs": 5}\n}'`,
    ),
  );
}

export function mount(root, { query }) {
  const filters = {
    state: query.get("state") || "",
    framework: query.get("framework") || "",
    kind: query.get("kind") || "",
    project: query.get("project") || "",
  };
  const cursors = [null]; // the cursor of each page seen, to page back
  const frameworks = new Set();
  const body = el("div", { class: "table-wrap" });
  const pager = el("div", { class: "pager" });
  const bar = el("div");
  const selected = new Set(); // ticked job ids, in the order they were ticked; kept across pages
  const compare = el("button", {
    class: "primary small",
    type: "button",
    id: "compare-jobs",
    onclick: () => {
      location.hash = compareHash([...selected]);
    },
  });
  const renderCompare = () => {
    compare.textContent = selected.size ? `Compare ${selected.size}` : "Compare";
    compare.disabled = selected.size < 2;
    compare.title = selected.size < 2 ? "Tick two or more jobs to compare them" : "";
  };
  const onSelect = (id, on) => {
    if (on) selected.add(id);
    else selected.delete(id);
    renderCompare();
  };
  renderCompare();
  root.append(
    el(
      "div",
      { class: "page-head" },
      el("h1", {}, "Jobs"),
      el("span", { class: "spacer" }),
      compare,
      el("a", { class: "button primary small", href: "#/new", id: "new-job" }, "New job"),
    ),
    bar,
    el("section", { class: "card flush" }, body, pager),
  );

  const renderBar = () => bar.replaceChildren(filterBar(filters, [...frameworks].sort(), onFilter));

  let typing = null;
  let mounted = true;
  function onFilter(name, value, { debounce = false } = {}) {
    clearTimeout(typing);
    if (debounce) {
      typing = setTimeout(() => onFilter(name, value), 300); // one query per pause in typing
      return;
    }
    if (!mounted) return; // the user has left the page
    filters[name] = value;
    cursors.splice(1);
    const params = new URLSearchParams(Object.entries(filters).filter(([, v]) => v));
    history.replaceState(null, "", `#/jobs${params.size ? `?${params}` : ""}`);
    refresh();
  }

  async function load() {
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
    for (const [key, value] of Object.entries(filters)) if (value) params.set(key, value);
    const cursor = cursors[cursors.length - 1];
    if (cursor) params.set("cursor", cursor);
    const page = await api(`v1/jobs?${params}`);
    const before = frameworks.size;
    page.items.forEach((job) => frameworks.add(job.framework));
    if (frameworks.size !== before) renderBar();
    render(page);
  }

  function render(page) {
    const filtered = Object.values(filters).some(Boolean);
    if (!page.items.length) {
      body.replaceChildren(emptyState(filtered));
    } else {
      const head = ["", "State", "Job", "Framework", "Model", "Project", "Progress", "Created", "Duration"];
      body.replaceChildren(
        el(
          "table",
          { class: "jobs" },
          el("thead", {}, el("tr", {}, head.map((h) => el("th", {}, h)))),
          el("tbody", {}, page.items.map((job) => jobRow(job, selected, onSelect))),
        ),
      );
    }
    pager.replaceChildren(
      el("button", { class: "ghost small", type: "button", disabled: cursors.length === 1, onclick: () => { cursors.pop(); refresh(); } }, "← Newer"),
      el("span", { class: "muted small" }, `page ${cursors.length}`),
      el("button", { class: "ghost small", type: "button", disabled: !page.next_cursor, onclick: () => { cursors.push(page.next_cursor); refresh(); } }, "Older →"),
    );
  }

  let stop = () => {};
  function refresh() {
    stop();
    stop = every(REFRESH_MS, load);
  }

  renderBar();
  // Frameworks known to the gateway, for the filter (jobs add any others they name).
  api("v1/frameworks")
    .then((list) => {
      list.forEach((service) => frameworks.add(service.framework));
      renderBar();
    })
    .catch(() => {}); // the table itself reports problems
  refresh();
  return () => {
    mounted = false;
    clearTimeout(typing);
    stop();
  };
}
