// Small DOM and formatting helpers shared by the views.

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export const STATES = ["queued", "starting", "running", "succeeded", "failed", "cancelled", "lost"];
export const ACTIVE = new Set(["queued", "starting", "running"]);
export const TERMINAL = new Set(["succeeded", "failed", "cancelled", "lost"]);

export function stateBadge(state) {
  return el("span", { class: `badge state-${state}`, dataset: { state } }, state);
}

export function progressBar(job) {
  const { epoch, total_epochs: total, percent } = job.progress;
  const label = total ? `${epoch ?? 0}/${total}` : "–";
  return el(
    "div",
    { class: "progress", title: `${percent}%` },
    el(
      "div",
      { class: "progress-track" },
      el("div", { class: `progress-fill state-${job.state}`, style: `width:${percent}%` }),
    ),
    el("span", { class: "progress-label" }, label),
  );
}

export function formatNumber(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value)) return value.toLocaleString();
  if (Math.abs(value) >= 1000) return value.toLocaleString(undefined, { maximumFractionDigits: 1 });
  if (value !== 0 && Math.abs(value) < 1e-3) return value.toExponential(2);
  return String(Number(value.toPrecision(4)));
}

export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const pad = (n) => String(n).padStart(2, "0");
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86400)}d ${pad(Math.floor((s % 86400) / 3600))}h`;
}

export function formatBytes(bytes) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}

const seconds = (iso) => (iso ? new Date(iso).getTime() / 1000 : null);

export function timeAgo(iso) {
  if (!iso) return el("span", { class: "muted" }, "–");
  const ago = Date.now() / 1000 - seconds(iso);
  const text = ago < 5 ? "just now" : `${formatDuration(ago).split(" ")[0]} ago`;
  return el("time", { datetime: iso, title: new Date(iso).toLocaleString() }, text);
}

export function formatTime(iso) {
  return iso ? new Date(iso).toLocaleString() : "–";
}

// How long a job ran (or has been running); a queued job's wait.
export function jobDuration(job) {
  if (job.started_at) {
    const end = job.finished_at ? seconds(job.finished_at) : Date.now() / 1000;
    return formatDuration(end - seconds(job.started_at));
  }
  if (job.state === "queued") return `waiting ${formatDuration(Date.now() / 1000 - seconds(job.created_at))}`;
  return "–";
}

export function errorBox(error) {
  return el("div", { class: "alert", role: "alert" }, error.message || String(error));
}
