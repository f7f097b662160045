// Pretrained weights seeded into the platform's shared cache (POST /v1/weights): the list.

import { api } from "./api.js";
import { every } from "./poll.js";
import { el, formatBytes, formatTime } from "./ui.js";

const REFRESH_MS = 10000;

function weightsTable(items) {
  return el(
    "table",
    { class: "tasks weights" },
    el(
      "thead",
      {},
      el("tr", {}, ["Framework", "Model", "Size", "Files", "sha256", "Stored at", "Seeded"].map((h) => el("th", {}, h))),
    ),
    el(
      "tbody",
      {},
      items.map((w) =>
        el(
          "tr",
          { dataset: { weights: w.id } },
          el("td", {}, w.framework),
          el("td", { class: "mono" }, w.model),
          el("td", {}, formatBytes(w.size)),
          el("td", { class: "mono small" }, w.files.map((f) => f.path).join(", ")),
          el("td", { class: "mono small", title: w.sha256 }, w.sha256.slice(0, 12)),
          el("td", { class: "mono small" }, w.uri),
          el("td", {}, formatTime(w.created_at)),
        ),
      ),
    ),
  );
}

export function mount(root) {
  const list = el("div", { class: "card" });
  root.append(
    el("div", { class: "page-head" }, el("h1", {}, "Weights")),
    el(
      "p",
      { class: "muted small" },
      "Pretrained weights seeded for clusters without hub access. Jobs with pretrained: true take them from object storage. " +
        "Upload with `trainyard weights upload FILE --framework F --model M`.",
    ),
    list,
  );
  return every(REFRESH_MS, async () => {
    const items = await api("v1/weights");
    list.replaceChildren(items.length ? weightsTable(items) : el("div", { class: "empty" }, "No weights are seeded."));
  });
}
