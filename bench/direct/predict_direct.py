"""Predictions without Trainyard: the service's own predictor for a trained checkpoint, called in
this one Python process (no HTTP, no base64, no gateway), and its exported ONNX file in
onnxruntime next to the PyTorch model. Run in the framework's environment, it answers the
benchmark's commands on stdin (`{"op": "load" | "warm" | "batch" | "onnx" | "quit"}`) with a
`BENCH` line each: seconds, or the ONNX comparison.

The predictor and the exporter are the service's (`PLUGIN.predictor`, `export.prepare`), so both
sides load, preprocess and run exactly the same model; only the way a request reaches it differs.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from PIL import Image
from progress import PREFIX

from trainyard_runtime.export.runners import onnx_runner
from trainyard_wire.spec import JobSpec


def timed(call: Callable[[], object], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


def decode(data: bytes) -> Any:
    """As the service decodes what it is sent."""
    with Image.open(io.BytesIO(data)) as opened:
        return opened.convert("RGB")


def main(config_path: Path, out: Path) -> None:
    config = json.loads(config_path.read_text())
    framework = config["framework"]
    spec = JobSpec.model_validate(config["spec"])
    plugin = importlib.import_module(f"trainyard_{framework}.plugin").PLUGIN
    exporter = importlib.import_module(f"trainyard_{framework}.export")
    paths = {"best": Path(config["best"]), "last": Path(config["last"])}
    blobs = [Path(path).read_bytes() for path in config["images"]]
    top_k, conf = config["top_k"], config["conf"]
    loaded: list[Any] = []
    sent = iter(range(10**9))

    def load(checkpoint: str) -> float:
        """A model not loaded: built from its checkpoint, then asked about one image (the
        first load also imports the framework)."""
        started = time.perf_counter()
        predictor = plugin.predictor(paths[checkpoint], spec)
        predictor.predict([decode(blobs[0])], top_k, conf)
        took = time.perf_counter() - started
        loaded[:] = [predictor]
        return took

    def warm() -> float:
        started = time.perf_counter()
        loaded[0].predict([decode(blobs[next(sent) % len(blobs)])], top_k, conf)
        return time.perf_counter() - started

    def batch() -> float:
        started = time.perf_counter()
        loaded[0].predict([decode(b) for b in blobs[: config["batch"]]], top_k, conf)
        return time.perf_counter() - started

    def exported() -> dict[str, Any]:
        """The exported ONNX file (the export job's own exporter) against the PyTorch model it
        came from, one preprocessed image each, model call only."""
        prepared = exporter.prepare(paths["best"], spec, Path(config["dataset"]), 1)
        written = prepared.export_to("onnx", out / "model.onnx")
        run_onnx = onnx_runner(written)
        image = prepared.inputs[0]
        timed(lambda: prepared.run_reference(image), 3)
        timed(lambda: run_onnx(image), 3)
        torch_times, onnx_times = [], []
        for _ in range(config["model_runs"]):  # alternating, so both see the same machine
            torch_times += timed(lambda: prepared.run_reference(image), 1)
            onnx_times += timed(lambda: run_onnx(image), 1)
        return {
            "torch": torch_times,
            "onnx": onnx_times,
            "onnx_bytes": written.stat().st_size,
            "input_shape": list(image.shape),
        }

    # Driven line by line from stdin, so the benchmark can alternate each call with one through
    # the platform and both sides see the same machine. Each call runs in a pool thread, as the
    # service runs its predictor (FastAPI runs a plain endpoint in its thread pool).
    operations: dict[str, Callable[..., object]] = {
        "load": load,
        "warm": warm,
        "batch": batch,
        "onnx": exported,
    }
    answer("ready")
    with ThreadPoolExecutor(1) as pool:
        for line in sys.stdin:
            command = json.loads(line)
            if command["op"] == "quit":
                break
            answer(pool.submit(operations[command["op"]], *command.get("args", [])).result())


def answer(value: object) -> None:
    print(PREFIX + json.dumps(value), flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
