"""Predictions without Trainyard: the service's own predictor for a trained checkpoint, called in
this one Python process (no HTTP, no base64, no gateway), and its exported ONNX file in
onnxruntime next to the PyTorch model. Run in the framework's environment; prints one `BENCH`
line of timings in seconds.

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
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
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
    best, last = Path(config["best"]), Path(config["last"])
    blobs = [Path(path).read_bytes() for path in config["images"]]
    top_k, conf = config["top_k"], config["conf"]

    # The very first load imports the framework; the service paid that before it was asked.
    started = time.perf_counter()
    plugin.predictor(last, spec).predict([decode(blobs[0])], top_k, conf)
    first = time.perf_counter() - started

    # Cold: a model not loaded (best and last in turn, as the platform's side is asked).
    cold = []
    for i in range(config["cold_runs"]):
        started = time.perf_counter()
        predictor = plugin.predictor(last if i % 2 == 0 else best, spec)
        predictor.predict([decode(blobs[0])], top_k, conf)
        cold.append(time.perf_counter() - started)

    predictor = plugin.predictor(best, spec)
    count = iter(range(10**9))

    def one() -> object:
        return predictor.predict([decode(blobs[next(count) % len(blobs)])], top_k, conf)

    timed(one, 3)  # warm-up, as the platform's side has
    warm = timed(one, config["warm_runs"])
    batch = blobs[: config["batch"]]
    batches = timed(
        lambda: predictor.predict([decode(b) for b in batch], top_k, conf), config["batches"]
    )

    # The exported ONNX file (the export job's own exporter) against the PyTorch model it came
    # from, one preprocessed image each, model call only.
    prepared = exporter.prepare(best, spec, Path(config["dataset"]), 1)
    exported = prepared.export_to("onnx", out / "model.onnx")
    run_onnx = onnx_runner(exported)
    image = prepared.inputs[0]
    timed(lambda: prepared.run_reference(image), 3)
    timed(lambda: run_onnx(image), 3)
    torch_times, onnx_times = [], []
    for _ in range(config["model_runs"]):  # alternating, so both see the same machine
        torch_times += timed(lambda: prepared.run_reference(image), 1)
        onnx_times += timed(lambda: run_onnx(image), 1)

    torch.set_flush_denormal(True)
    flushed = timed(lambda: prepared.run_reference(image), config["model_runs"])
    torch.set_flush_denormal(False)

    report = {
        "first_load": first,
        "cold": cold,
        "warm": warm,
        "batch": len(batch),
        "batches": batches,
        "torch": torch_times,
        "onnx": onnx_times,
        "torch_flushed": flushed,
        "onnx_bytes": exported.stat().st_size,
        "input_shape": list(image.shape),
    }
    print(PREFIX + json.dumps(report), flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
