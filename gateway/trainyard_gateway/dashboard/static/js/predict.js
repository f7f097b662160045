// Ask a succeeded training job's model about an image (POST /v1/models/{id}/predict, multipart):
// drop or choose one, and see the answer drawn over it in SVG (boxes with class and score, mask
// outlines, keypoints) or, for a classifier, its top classes as bars.

import { ApiError, authHeaders, errorFrom } from "./api.js";
import { el, errorBox, formatNumber } from "./ui.js";

const SVG = "http://www.w3.org/2000/svg";
const TOP_K = 5;
const PALETTE = ["#e0562b", "#2563eb", "#0f9d7a", "#8b5cf6", "#d97706", "#db2777", "#0891b2", "#65a30d"];

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  node.append(...children.flat());
  return node;
}

const colour = (classId) => PALETTE[classId % PALETTE.length];
const percent = (p) => `${(p * 100).toFixed(1)}%`;

async function predict(jobId, file) {
  const form = new FormData();
  form.append("images", file, file.name);
  form.append("top_k", String(TOP_K));
  let response;
  try {
    response = await fetch(`v1/models/${encodeURIComponent(jobId)}/predict`, {
      method: "POST",
      headers: authHeaders({ Accept: "application/json" }),
      body: form,
    });
  } catch {
    throw new ApiError(0, "the gateway cannot be reached");
  }
  if (!response.ok) throw await errorFrom(response);
  return response.json();
}

// One detection drawn in the image's own pixels: its mask outlines, its box, its keypoints and
// a label with class and score.
function detectionShapes(detection, index, scale) {
  const [x1, y1, x2, y2] = detection.box;
  const c = colour(detection.class_id);
  const stroke = 2 / scale;
  const label = `${detection.label} ${percent(detection.score)}`;
  const shapes = svg("g", { class: "detection", "data-label": detection.label, "data-index": String(index) });
  for (const polygon of detection.polygons || []) {
    const points = polygon.map(([x, y]) => `${x},${y}`).join(" ");
    shapes.append(svg("polygon", { class: "mask", points, fill: c, "fill-opacity": "0.3", stroke: c, "stroke-width": stroke }));
  }
  shapes.append(svg("rect", { class: "box", x: x1, y: y1, width: x2 - x1, height: y2 - y1, fill: "none", stroke: c, "stroke-width": stroke }));
  for (const [x, y, confidence] of detection.keypoints || []) {
    if (confidence !== undefined && confidence < 0.5) continue; // not visible
    shapes.append(svg("circle", { class: "keypoint", cx: x, cy: y, r: 3 / scale, fill: c, stroke: "#fff", "stroke-width": 1 / scale }));
  }
  const size = 12 / scale;
  shapes.append(
    svg("text", { class: "detection-label", x: x1, y: Math.max(y1 - 3 / scale, size), fill: c, "font-size": size, "font-weight": "700", "paint-order": "stroke", stroke: "#fff", "stroke-width": 3 / scale }, label),
  );
  return shapes;
}

// The image with its detections over it: the SVG uses the image's pixels as its coordinates,
// so boxes land where the model put them whatever size the picture is shown at.
function overlay(url, answer) {
  const shownWidth = Math.min(answer.width * Math.max(1, Math.floor(320 / answer.width)), 640);
  const scale = shownWidth / answer.width;
  return svg(
    "svg",
    { class: "prediction-overlay", viewBox: `0 0 ${answer.width} ${answer.height}`, width: shownWidth, height: answer.height * scale },
    svg("image", { href: url, x: 0, y: 0, width: answer.width, height: answer.height, preserveAspectRatio: "none", style: "image-rendering: pixelated" }),
    (answer.detections || []).map((d, i) => detectionShapes(d, i, scale)),
  );
}

function classBars(classes) {
  return el(
    "ol",
    { class: "top-classes" },
    classes.map((c, rank) =>
      el(
        "li",
        { class: rank === 0 ? "top" : null, dataset: { label: c.label, probability: String(c.probability) } },
        el("span", { class: "class-label" }, c.label),
        el("span", { class: "bar" }, el("span", { class: "bar-fill", style: `width:${(c.probability * 100).toFixed(1)}%` })),
        el("span", { class: "num" }, percent(c.probability)),
      ),
    ),
  );
}

function answerView(url, prediction) {
  const answer = prediction.predictions[0];
  const detections = answer.detections || [];
  return el(
    "div",
    { class: "prediction", dataset: { task: prediction.task } },
    answer.classes ? el("img", { src: url, alt: answer.image, class: "prediction-image" }) : overlay(url, answer),
    el(
      "div",
      { class: "prediction-facts" },
      el("div", { class: "muted small" }, `${answer.image} · ${answer.width}×${answer.height} · ${prediction.checkpoint} checkpoint${prediction.cached ? " · model was loaded" : " · model loaded now"}`),
      answer.classes ? classBars(answer.classes) : null,
      answer.detections
        ? el("p", { class: "detections-count" }, detections.length ? `${detections.length} found: ${detections.map((d) => `${d.label} ${formatNumber(d.score)}`).join(", ")}` : "Nothing found above the score threshold.")
        : null,
    ),
  );
}

export function predictPanel(job) {
  const input = el("input", { type: "file", accept: "image/*", id: "predict-file", class: "visually-hidden" });
  const result = el("div", { id: "prediction" });
  const zone = el(
    "label",
    { class: "drop-zone", id: "predict-drop", for: "predict-file" },
    input,
    el("span", {}, "Drop an image here, or click to choose one"),
  );
  let url = null;
  const run = async (file) => {
    if (!file) return;
    if (url) URL.revokeObjectURL(url);
    url = URL.createObjectURL(file);
    result.replaceChildren(el("p", { class: "muted" }, `Asking the model about ${file.name}…`));
    try {
      result.replaceChildren(answerView(url, await predict(job.id, file)));
    } catch (problem) {
      result.replaceChildren(errorBox(new Error(`Predict failed: ${problem.message}`)));
    }
  };
  input.addEventListener("change", () => run(input.files[0]));
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    run(event.dataTransfer.files[0]);
  });
  return el("section", { class: "card", id: "predict" }, el("h2", {}, "Predict"), zone, result);
}
