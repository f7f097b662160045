// A link that downloads an artifact: a plain link where that works (no key, or a presigned
// address elsewhere), otherwise a fetch that carries the API key the gateway's route needs.

import { apiKey, authHeaders, errorFrom } from "./api.js";
import { el } from "./ui.js";

async function downloadWithKey(url, name) {
  const response = await fetch(url, { headers: authHeaders() });
  if (!response.ok) throw await errorFrom(response);
  const link = el("a", { href: URL.createObjectURL(await response.blob()), download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
}

export function artifactLink(artifact, onProblem, props = {}) {
  const sameOrigin = new URL(artifact.download_url, location.href).origin === location.origin;
  const onclick = (event) => {
    if (!sameOrigin || !apiKey.get()) return;
    event.preventDefault();
    downloadWithKey(artifact.download_url, artifact.name).catch(onProblem);
  };
  return el("a", { href: artifact.download_url, download: artifact.name, onclick, class: "artifact-link", ...props }, artifact.name);
}
