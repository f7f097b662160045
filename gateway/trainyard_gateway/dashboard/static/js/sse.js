// Server-Sent Events read with fetch(): unlike EventSource, it can send the API key header.

import { authHeaders, errorFrom } from "./api.js";

function parseBlock(block) {
  const event = { id: null, type: "message", data: [] };
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue; // a comment: the server's keep-alive
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "id") event.id = value;
    else if (field === "event") event.type = value;
    else if (field === "data") event.data.push(value);
  }
  if (event.id === null && event.data.length === 0) return null;
  return { ...event, data: event.data.join("\n") };
}

// Calls onEvent({id, type, data}) for each event until the server closes the stream.
export async function readEvents(url, { lastEventId = null, signal, onEvent }) {
  const headers = authHeaders({ Accept: "text/event-stream" });
  if (lastEventId !== null) headers["Last-Event-ID"] = String(lastEventId);
  const response = await fetch(url, { headers, signal, cache: "no-store" });
  if (!response.ok) throw await errorFrom(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = parseBlock(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (event) onEvent(event);
    }
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Follows a job's log stream to its `end` event, reconnecting after the last line seen when
// the connection drops. Returns a function that stops following.
export function followLogs(url, { onLine, onEnd, onProblem }) {
  const controller = new AbortController();
  let lastId = null;
  let ended = false;
  (async () => {
    while (!ended && !controller.signal.aborted) {
      try {
        await readEvents(url, {
          lastEventId: lastId,
          signal: controller.signal,
          onEvent: (event) => {
            if (event.id !== null) lastId = event.id;
            if (event.type === "log") onLine(JSON.parse(event.data));
            if (event.type === "end") {
              ended = true;
              onEnd(JSON.parse(event.data));
            }
          },
        });
      } catch (error) {
        if (controller.signal.aborted) return;
        onProblem(error);
        if (error.status >= 400 && error.status < 500) return; // retrying cannot fix it
      }
      if (!ended) await sleep(1500);
    }
  })();
  return () => controller.abort();
}
