// The training services the gateway routes to: health, device, versions, tasks, models, options.

import { api } from "./api.js";
import { every } from "./poll.js";
import { el } from "./ui.js";

const REFRESH_MS = 10000;
const MODELS_SHOWN = 12;

function chips(values, className = "chip") {
  return el("div", { class: "chips" }, values.map((v) => el("span", { class: className }, v)));
}

function modelList(support) {
  const models = support.models;
  const note = support.models_exhaustive ? "" : " (examples; more are accepted)";
  if (models.length <= MODELS_SHOWN) return el("div", {}, chips(models, "chip mono"), note ? el("span", { class: "muted small" }, note) : null);
  return el(
    "details",
    {},
    el("summary", {}, `${models.length} models${note}`, chips(models.slice(0, MODELS_SHOWN), "chip mono")),
    chips(models.slice(MODELS_SHOWN), "chip mono"),
  );
}

function tasksTable(tasks) {
  return el(
    "table",
    { class: "tasks" },
    el("thead", {}, el("tr", {}, el("th", {}, "Task"), el("th", {}, "Dataset formats"), el("th", {}, "Models"))),
    el(
      "tbody",
      {},
      Object.entries(tasks).map(([task, support]) =>
        el("tr", {}, el("td", {}, task), el("td", {}, chips(support.dataset_formats)), el("td", {}, modelList(support))),
      ),
    ),
  );
}

function optionsList(schema) {
  const properties = Object.entries(schema?.properties || {});
  if (!properties.length) return el("p", { class: "muted small" }, "No framework options.");
  const describe = (spec) => {
    const type = spec.type || (spec.anyOf || []).map((s) => s.type).filter(Boolean).join(" | ") || "value";
    const bits = [type];
    if (spec.default !== undefined) bits.push(`default ${JSON.stringify(spec.default)}`);
    if (spec.minimum !== undefined) bits.push(`≥ ${spec.minimum}`);
    if (spec.maximum !== undefined) bits.push(`≤ ${spec.maximum}`);
    if (spec.enum) bits.push(`one of ${spec.enum.join(", ")}`);
    return bits.join(", ");
  };
  return el(
    "details",
    {},
    el("summary", {}, `${properties.length} options`),
    el(
      "dl",
      { class: "options" },
      properties.map(([name, spec]) => [
        el("dt", { class: "mono" }, name),
        el("dd", {}, describe(spec), spec.description ? el("span", { class: "muted" }, ` · ${spec.description}`) : null),
      ]),
    ),
  );
}

function serviceCard(service) {
  const health = service.health || {};
  const capabilities = service.capabilities || {};
  const versions = Object.entries(health.versions || capabilities.versions || {}).map(([k, v]) => `${k} ${v}`);
  return el(
    "section",
    { class: "card service", dataset: { framework: service.framework } },
    el(
      "div",
      { class: "service-head" },
      el("h2", {}, service.framework),
      el("span", { class: `badge ${service.healthy ? "state-succeeded" : "state-failed"}` }, service.healthy ? "healthy" : "down"),
      el("span", { class: "spacer" }),
      el("span", { class: "muted mono small" }, service.url),
    ),
    service.error ? el("div", { class: "alert" }, service.error) : null,
    el(
      "dl",
      { class: "facts" },
      el("div", { class: "fact" }, el("dt", {}, "Device"), el("dd", { class: "device" }, health.device || capabilities.device || "–")),
      el("div", { class: "fact" }, el("dt", {}, "Runs"), el("dd", {}, health.capacity ? `${health.running} running of ${health.capacity}` : "–")),
    ),
    versions.length ? chips(versions) : null,
    capabilities.tasks ? tasksTable(capabilities.tasks) : el("p", { class: "muted" }, "Capabilities unknown until the service answers."),
    capabilities.options_schema ? optionsList(capabilities.options_schema) : null,
  );
}

export function mount(root) {
  const list = el("div", { class: "services" });
  root.append(el("div", { class: "page-head" }, el("h1", {}, "Frameworks")), list);
  return every(REFRESH_MS, async () => {
    const services = await api("v1/frameworks");
    list.replaceChildren(
      ...(services.length ? services.map(serviceCard) : [el("div", { class: "empty" }, "No training services are configured.")]),
    );
  });
}
