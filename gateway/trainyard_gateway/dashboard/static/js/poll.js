// Periodic refresh: runs a task, waits, runs it again; the top bar says how fresh the data is.

const status = () => document.getElementById("refresh-status");

export function reportFresh() {
  const node = status();
  node.textContent = `Updated ${new Date().toLocaleTimeString()}`;
  node.classList.remove("problem");
}

export function reportProblem(error) {
  const node = status();
  node.textContent =
    error.status === 0 ? "Gateway unreachable, retrying…" : `Refresh failed: ${error.message}`;
  node.classList.add("problem");
}

// Runs task() now and then every `ms` after each run ends, until the returned stop() is called
// or task() returns false.
export function every(ms, task) {
  let timer = null;
  let stopped = false;
  const run = async () => {
    let again = true;
    try {
      again = (await task()) !== false;
      reportFresh();
    } catch (error) {
      if (error.name !== "AbortError") reportProblem(error);
    }
    if (!stopped && again) timer = setTimeout(run, ms);
  };
  run();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
