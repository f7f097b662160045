// The dashboard's shell: hash routes to views, and the API key dialog.

import { apiKey } from "./api.js";
import * as compareView from "./compare.js";
import * as frameworksView from "./frameworks.js";
import * as jobView from "./job.js";
import * as jobsView from "./jobs.js";
import * as newJobView from "./newjob.js";
import * as weightsView from "./weights.js";

const view = document.getElementById("view");
let unmount = () => {};

// #/jobs?state=running, #/jobs/{id}, #/compare?jobs={id},{id}, #/new?from={id}, #/frameworks,
// #/weights
function route() {
  const [path, search = ""] = (location.hash.slice(1) || "/jobs").split("?");
  const parts = path.split("/").filter(Boolean);
  const query = new URLSearchParams(search);
  if (parts[0] === "jobs" && parts[1]) return { name: "jobs", view: jobView, params: { id: decodeURIComponent(parts[1]) } };
  if (parts[0] === "compare") {
    const ids = (query.get("jobs") || "").split(",").map((id) => id.trim()).filter(Boolean);
    return { name: "jobs", view: compareView, params: { ids: [...new Set(ids)] } };
  }
  if (parts[0] === "new") return { name: "new", view: newJobView, params: { query } };
  if (parts[0] === "frameworks") return { name: "frameworks", view: frameworksView, params: {} };
  if (parts[0] === "weights") return { name: "weights", view: weightsView, params: {} };
  return { name: "jobs", view: jobsView, params: { query } };
}

function render() {
  unmount();
  view.replaceChildren();
  document.title = "Trainyard";
  const current = route();
  document.querySelectorAll("[data-nav]").forEach((link) => {
    link.classList.toggle("active", link.dataset.nav === current.name);
  });
  unmount = current.view.mount(view, current.params) || (() => {});
}

// -- API key ---------------------------------------------------------------------------------
const dialog = document.getElementById("key-dialog");
const input = document.getElementById("key-input");
const reason = document.getElementById("key-reason");

function askForKey(message) {
  reason.textContent = apiKey.get()
    ? `The gateway refused the saved key: ${message}`
    : `This gateway needs an API key. ${message}`;
  reason.classList.toggle("error", Boolean(apiKey.get()));
  if (!dialog.open) {
    input.value = "";
    dialog.showModal();
  }
}

window.addEventListener("trainyard:unauthorized", (event) => askForKey(event.detail));
document.getElementById("key-button").addEventListener("click", () => {
  reason.textContent = apiKey.get() ? "A key is saved in this browser." : "No key is saved in this browser.";
  reason.classList.remove("error");
  input.value = "";
  dialog.showModal();
});
document.getElementById("key-form").addEventListener("submit", () => {
  apiKey.set(input.value.trim());
  render();
});
document.getElementById("key-forget").addEventListener("click", () => {
  apiKey.clear();
  dialog.close();
  render();
});
document.getElementById("key-close").addEventListener("click", () => dialog.close());

window.addEventListener("hashchange", render);
render();
