"""Predict latency: a trained model asked through the platform against the same model called
directly, and its exported ONNX file against PyTorch.

A resnet18 classifier (timm) and a yolo11n detector (Ultralytics) train for one epoch on tiny
synthetic data here, from scratch (no weights downloaded). Then each is asked, one image a request
and a batch a request, `POST /v1/models/{id}/predict` through the gateway to its service, warm
(the service has the model loaded) and cold (a model not loaded: the service keeps one model at
most, `PREDICT_CACHE_BYTES=1`, and is asked for the best and last checkpoints in turn). The
baseline is the service's own predictor called in one Python process of the framework's
environment (`bench/direct/predict_direct.py`), the same cases in the same order, each call
on one side followed by the same call on the other (the machine may be shared: both see the
same load). That script also exports the model to ONNX with the export job's own exporter and
times onnxruntime against the PyTorch model on the same preprocessed image.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from bench.direct.progress import PREFIX
from bench.direct_run import DIRECT
from bench.measure import ms, ratio, summary
from bench.report import Table, progress
from bench.stack import Stack, framework_python
from trainyard_client import Client
from trainyard_dev.synthetic import make_classification, make_yolo
from trainyard_runtime.storage.layout import checkpoint_key

NAME = "predict"
SIZE = 128  # the images' and the models' size, in pixels
BATCH = 8  # images in one request of the throughput case
PROJECT = "bench"
TOP_K, CONF = 5, 0.25  # the predict endpoint's defaults, on both sides
TIMEOUT = 600
# (framework, model, task, dataset format)
CASES = (
    ("timm", "resnet18", "classification", "imagefolder"),
    ("ultralytics", "yolo11n.yaml", "detection", "yolo"),
)
LABELS = {"resnet18": "resnet18 (timm)", "yolo11n.yaml": "yolo11n (Ultralytics)"}


def counts(quick: bool) -> dict[str, int]:
    if quick:
        return {"warm_runs": 10, "cold_runs": 2, "batches": 3, "model_runs": 10}
    return {"warm_runs": 60, "cold_runs": 6, "batches": 10, "model_runs": 60}


def training_spec(framework: str, model: str, task: str, fmt: str, data: Path) -> dict[str, Any]:
    return {
        "framework": framework,
        "task": task,
        "model": model,
        "dataset": {"uri": str(data), "format": fmt},
        "hyperparams": {
            "epochs": 1,
            "batch_size": 8,
            "image_size": SIZE,
            "seed": 0,
            "pretrained": False,
        },
        "resources": {"gpu": 0},
        "project": PROJECT,
    }


def datasets(work: Path) -> dict[str, tuple[Path, list[Path]]]:
    """task -> (dataset folder, validation images to send)."""
    shapes = make_classification(work / "shapes", train_per_class=8, val_per_class=3, size=SIZE)
    yolo = make_yolo(work / "shapes-yolo", train_images=8, val_images=BATCH, size=SIZE)
    return {
        "classification": (shapes, sorted((shapes / "val").rglob("*.png"))),
        "detection": (yolo, sorted((yolo / "images" / "val").glob("*.png"))),
    }


class Asker:
    """POST /v1/models/{id}/predict through the gateway, timed from sending to the answer."""

    def __init__(self, gateway: str, job_id: str, images: list[Path]) -> None:
        self.client = httpx.Client(timeout=300)
        self.url = f"{gateway}/v1/models/{job_id}/predict"
        self.blobs = [(path.name, path.read_bytes()) for path in images]
        self.sent = 0
        self.surprises = 0  # answers whose `cached` was not what the case expects

    def ask(self, count: int = 1, checkpoint: str = "best", cached: bool | None = None) -> float:
        files = []
        for _ in range(count):
            name, data = self.blobs[self.sent % len(self.blobs)]
            files.append(("images", (name, data, "image/png")))
            self.sent += 1
        form = {"checkpoint": checkpoint, "top_k": str(TOP_K), "conf": str(CONF)}
        started = time.perf_counter()
        response = self.client.post(self.url, files=files, data=form)
        took = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"predict answered {response.status_code}: {response.text[:500]}")
        if cached is not None and response.json()["cached"] is not cached:
            self.surprises += 1
        return took

    def close(self) -> None:
        self.client.close()


class Direct:
    """The direct side: `bench/direct/predict_direct.py` in the framework's environment,
    answering one command at a time, so each of its calls can follow one through the platform."""

    def __init__(self, framework: str, config: dict[str, Any], out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(config))
        self.log = (out / "output.log").open("w")
        self.proc = subprocess.Popen(
            [
                str(framework_python(framework)),
                str(DIRECT / "predict_direct.py"),
                str(out / "config.json"),
                str(out),
            ],
            cwd=out,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._read()  # "ready", once it has imported what it needs before the first load

    def _read(self) -> Any:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(PREFIX):
                return json.loads(line.removeprefix(PREFIX))
        raise RuntimeError(f"the direct predictor exited {self.proc.wait()}; see {self.log.name}")

    def call(self, op: str, *args: str) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, "args": list(args)}) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=60)
        self.log.close()


def measure(
    gateway: str, job_id: str, images: list[Path], n: dict[str, int], direct: Direct
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(through Trainyard, direct): each case on both sides, call after call in turn."""
    asker = Asker(gateway, job_id, images)
    ours: dict[str, Any] = {"cold": [], "warm": [], "batches": []}
    base: dict[str, Any] = {"cold": [], "warm": [], "batches": []}
    try:
        # The service's first load (its imports, the file fetched from storage); the direct
        # process's, with its imports.
        ours["first_load"] = asker.ask(checkpoint="last")
        base["first_load"] = direct.call("load", "last")
        asker.ask(checkpoint="best")  # best.pt fetched into the service's model folder
        for i in range(n["cold_runs"]):
            checkpoint = "last" if i % 2 == 0 else "best"
            ours["cold"].append(asker.ask(checkpoint=checkpoint, cached=False))
            base["cold"].append(direct.call("load", checkpoint))
        direct.call("load", "best")
        for _ in range(3):  # warm-up (the first loads best if the cold turns ended on last)
            asker.ask()
            direct.call("warm")
        for _ in range(n["warm_runs"]):
            ours["warm"].append(asker.ask(cached=True))
            base["warm"].append(direct.call("warm"))
        for _ in range(n["batches"]):
            ours["batches"].append(asker.ask(BATCH, cached=True))
            base["batches"].append(direct.call("batch"))
        base.update(direct.call("onnx"))
    finally:
        asker.close()
    ours["surprises"] = asker.surprises
    return ours, base


def images_per_s(times: list[float], per_request: int) -> str:
    total = sum(times)
    return f"{len(times) * per_request / total:.1f}" if total else "n/a"


def run(work: Path, quick: bool) -> list[Table]:
    n = counts(quick)
    data = datasets(work / "data")
    storage = work / "stack" / "storage"
    platform: dict[str, dict[str, Any]] = {}
    direct: dict[str, dict[str, Any]] = {}
    with Stack(work / "stack") as stack:
        urls = {}
        for framework, *_ in CASES:
            progress(f"starting the {framework} service")
            _, urls[framework] = stack.service(framework, PREDICT_CACHE_BYTES="1")
        gateway = stack.gateway(
            TIMM_SERVICE_URL=urls["timm"], ULTRALYTICS_SERVICE_URL=urls["ultralytics"]
        )
        with Client(gateway.url) as api:
            specs = {
                model: training_spec(framework, model, task, fmt, data[task][0])
                for framework, model, task, fmt in CASES
            }
            progress("training resnet18 and yolo11n (one epoch each)")
            jobs = {model: api.create_job(spec).id for model, spec in specs.items()}
            for model, job_id in jobs.items():
                done = api.wait(job_id, timeout=TIMEOUT, poll_interval=0.5)
                if done.state != "succeeded":
                    raise RuntimeError(f"training {model} ended {done.state}: {done.error}")
        for framework, model, task, _ in CASES:
            images = data[task][1]
            progress(f"{model}: through Trainyard and direct, in turn; then ONNX and PyTorch")
            config = {
                "framework": framework,
                "spec": specs[model],
                "best": str(storage / checkpoint_key(PROJECT, jobs[model], "best.pt")),
                "last": str(storage / checkpoint_key(PROJECT, jobs[model], "last.pt")),
                "dataset": str(data[task][0]),
                "images": [str(path) for path in images],
                "top_k": TOP_K,
                "conf": CONF,
                "batch": BATCH,
                "model_runs": n["model_runs"],
            }
            direct_side = Direct(framework, config, work / f"direct-{framework}")
            try:
                platform[model], direct[model] = measure(
                    gateway.url, jobs[model], images, n, direct_side
                )
            finally:
                direct_side.close()
        errors = stack.error_note()
    return [latency_table(platform, direct, n, errors), onnx_table(direct, n)]


def latency_table(
    platform: dict[str, dict[str, Any]],
    direct: dict[str, dict[str, Any]],
    n: dict[str, int],
    errors: str | None,
) -> Table:
    table = Table(
        "Predict latency: through Trainyard against the model called directly",
        f"Models trained here for one epoch at {SIZE} px (resnet18 classifier with timm, yolo11n "
        "detector with Ultralytics; pretrained: false). Trainyard: `POST /v1/models/{id}/predict` "
        "(multipart PNG) sent to the gateway until its answer is read, the gateway passing it to "
        "the service. Direct: the service's own predictor called in one Python process of the "
        "framework's environment (decoding the PNG included). Warm: model loaded, one image a "
        f"request ({n['warm_runs']} requests after 3 not counted). Cold: a model not loaded, "
        f"one image ({n['cold_runs']} requests, best and last checkpoint in turn, the service "
        f"keeping one model). Batch: {BATCH} images a request ({n['batches']} requests).",
        [
            "model",
            "case",
            "Trainyard p50",
            "Trainyard p99",
            "direct p50",
            "direct p99",
            "ratio p50",
            "Trainyard images/s",
            "direct images/s",
        ],
    )
    for model in platform:
        ours, base = platform[model], direct[model]
        for case, key, per in (
            ("warm", "warm", 1),
            ("cold", "cold", 1),
            (f"batch of {BATCH}", "batches", BATCH),
        ):
            mine, theirs = summary(ours[key]), summary(base[key])
            table.add(
                LABELS[model],
                case,
                ms(mine["p50"]),
                ms(mine["p99"]),
                ms(theirs["p50"]),
                ms(theirs["p99"]),
                ratio(mine["p50"], theirs["p50"]),
                images_per_s(ours[key], per),
                images_per_s(base[key], per),
            )
        table.notes.append(
            f"{LABELS[model]}: the very first request (importing the framework in the service, "
            f"fetching the checkpoint from storage) took {ms(ours['first_load'])} through "
            f"Trainyard; the first load in the direct process, imports included, "
            f"{ms(base['first_load'])}. "
            "Neither is in the table."
        )
        if ours["surprises"]:
            table.notes.append(
                f"{LABELS[model]}: {ours['surprises']} answers said `cached` other than the "
                "case expects."
            )
    table.notes.append(
        "On a machine other work keeps busy, torch's intra-op threads wait for each other at "
        "every layer and a small model's latency grows many times over (see the load average "
        "below). Both sides suffer it alike (each call is followed by the same call on the "
        "other side), so read the ratios, and the absolute figures only from an idle machine."
    )
    table.notes.append(
        "Through Trainyard, a request also pays: the multipart upload to the gateway, the job's "
        "lookup in its database, the images base64-encoded in JSON to the service, the answer "
        "relayed back. A ratio near 1 means that is small beside the model."
    )
    if errors:
        table.notes.append(errors)
    return table


def onnx_table(direct: dict[str, dict[str, Any]], n: dict[str, int]) -> Table:
    table = Table(
        "Exported ONNX (onnxruntime) against PyTorch",
        "The same trained models exported to ONNX by the export job's own exporter (the file an "
        "export job stores), run in onnxruntime (CPU) next to the PyTorch model, on the same "
        f"preprocessed validation image, batch 1, model call only; {n['model_runs']} calls each, "
        "alternating, after 3 each not counted.",
        [
            "model",
            "input",
            "PyTorch p50",
            "PyTorch p99",
            "ONNX p50",
            "ONNX p99",
            "ratio ONNX/PyTorch p50",
            "ONNX file",
        ],
    )
    for model, base in direct.items():
        torch_times, onnx_times = summary(base["torch"]), summary(base["onnx"])
        table.add(
            LABELS[model],
            "x".join(str(d) for d in base["input_shape"]),
            ms(torch_times["p50"]),
            ms(torch_times["p99"]),
            ms(onnx_times["p50"]),
            ms(onnx_times["p99"]),
            ratio(onnx_times["p50"], torch_times["p50"]),
            f"{base['onnx_bytes'] / 2**20:.1f} MiB",
        )
    table.notes += [
        "For yolo11n the PyTorch side is the model's forward pass with its inference head (what "
        "the export writes); NMS is in neither.",
        "Both run one call at a time in the same pool thread of one process, as the service "
        "runs its predictor.",
    ]
    return table


if __name__ == "__main__":
    work = Path(os.environ.get("BENCH_WORK", "bench/.work/predict"))
    for each in run(work, quick=bool(os.environ.get("BENCH_QUICK"))):
        print(each.markdown())
