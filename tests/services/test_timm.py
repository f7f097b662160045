"""The timm service for real: train.py as a subprocess on tiny synthetic data, and the HTTP service.

The test process has no torch: everything timm runs in `.venvs/timm` through subprocesses.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.train_py import (
    STALLING_EPOCHS,
    assert_stopped_after_epoch_3,
    checkpoint,
    of_type,
    run_train_py,
    sha256,
    stalling,
)
from trainyard_dev.launcher import environment_python
from trainyard_dev.synthetic import make_classification
from trainyard_runtime.run_environment import RunEnvironment
from trainyard_servicekit.executors import LaunchSpec, RunStatus
from trainyard_servicekit.executors.subprocess import SubprocessExecutor
from trainyard_servicekit.executors.warm_starter import WarmStarter
from trainyard_wire.spec import JobSpec

REPO = Path(__file__).resolve().parents[2]
PYTHON = environment_python(REPO, "timm")
MODEL = "test_resnet"  # a tiny timm ResNet: seconds per epoch at 32 px on 2 cores
BASE_METRICS = {"train_loss", "val_loss", "top1", "lr"}


def spec(data: Path, **overrides: Any) -> dict[str, Any]:
    hyperparams = {"epochs": 2, "batch_size": 8, "image_size": 32, "learning_rate": 0.01}
    hyperparams.update(overrides.pop("hyperparams", {}))
    job = {
        "framework": "timm",
        "task": "classification",
        "model": MODEL,
        "dataset": {"uri": data.as_uri(), "format": "imagefolder"},
        "hyperparams": hyperparams,
        "resources": {"gpu": 0},
        "project": "tests",
    }
    return {**job, **overrides}


def run_train(tmp: Path, job_id: str, job_spec: dict[str, Any], timeout: float = 180, **env: str):
    """Run train.py with no CALLBACK_URL; return (exit code, events, output, seconds)."""
    return run_train_py(
        "timm",
        tmp,
        job_id,
        job_spec,
        timeout=timeout,
        env={
            "HF_HOME": str(tmp / "hf-home"),  # an empty cache: nothing pretrained is local
            "TORCH_HOME": str(tmp / "torch-home"),
            **env,
        },
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("timm-train")
    data = make_classification(tmp / "shapes", train_per_class=8, val_per_class=4, size=32)
    return tmp, run_train(tmp, "job-e2e", spec(data))


@pytest.mark.e2e
def test_train_end_to_end(trained) -> None:
    tmp, (code, events, output, seconds) = trained
    print(f"train.py end to end: {seconds:.1f}s")
    assert code == 0, output
    statuses = of_type(events, "status")
    assert [s["state"] for s in statuses] == ["running", "succeeded"], output
    metrics = of_type(events, "metric")
    assert [m["epoch"] for m in metrics] == [1, 2]
    for m in metrics:
        assert m["total_epochs"] == 2
        assert set(m["metrics"]) == BASE_METRICS  # 3 classes: no top5
        assert 0.0 <= m["metrics"]["top1"] <= 1.0
        assert m["metrics"]["train_loss"] > 0
    assert {a["name"] for a in of_type(events, "artifact")} == {"best.pt", "last.pt"}
    for name in ("best.pt", "last.pt"):
        assert checkpoint(tmp, "job-e2e", name).stat().st_size > 10_000
    final = statuses[-1]["metrics"]
    assert final["best_top1"] == max(m["metrics"]["top1"] for m in metrics)


def checkpoint_record(path: Path) -> dict[str, Any]:
    """The epoch and metrics a timm checkpoint recorded (read in the timm environment)."""
    code = (
        "import json, sys, torch; c = torch.load(sys.argv[1], weights_only=False); "
        "print(json.dumps({'epoch': c['epoch'], 'metrics': c['metrics']}))"
    )
    out = subprocess.run(
        [str(PYTHON), "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


@pytest.mark.e2e
def test_early_stopping_ends_the_run_with_the_best_checkpoint_of_its_epochs(
    tmp_path: Path,
) -> None:
    """val_loss never falls by 10: the 6-epoch run stops after epoch 3, and its best.pt is the
    one a 3-epoch run without early stopping ends with (constant learning rate, same seed)."""
    data = make_classification(tmp_path / "shapes", train_per_class=4, val_per_class=2, size=32)
    constant = {"options": {"scheduler": "none", "augment": False}}
    stopped = run_train(
        tmp_path,
        "job-stopped",
        spec(
            data,
            hyperparams={"epochs": STALLING_EPOCHS, "seed": 7},
            early_stopping=stalling("val_loss"),
            **constant,
        ),
    )
    assert_stopped_after_epoch_3(stopped, "val_loss")
    assert {a["name"] for a in of_type(stopped[1], "artifact")} == {"best.pt", "last.pt"}
    assert checkpoint_record(checkpoint(tmp_path, "job-stopped", "last.pt"))["epoch"] == 3

    full = run_train(
        tmp_path, "job-3", spec(data, hyperparams={"epochs": 3, "seed": 7}, **constant)
    )
    assert full[0] == 0, full[2]
    # The same training up to epoch 3: the same metrics, the same best checkpoint.
    assert [m["metrics"] for m in of_type(full[1], "metric")] == [
        m["metrics"] for m in of_type(stopped[1], "metric")
    ]
    best_stopped = checkpoint(tmp_path, "job-stopped", "best.pt")
    best_full = checkpoint(tmp_path, "job-3", "best.pt")
    assert checkpoint_record(best_stopped) == checkpoint_record(best_full)
    assert sha256(best_stopped) == sha256(best_full)


@pytest.mark.e2e
def test_finetune_from_checkpoint_with_options(trained, tmp_path: Path) -> None:
    """A previous job's best.pt as local pretrained weights, 5 classes (so top5), other options."""
    tmp, (code, _, output, _) = trained
    assert code == 0, output
    data = make_classification(tmp_path / "shapes", train_per_class=6, val_per_class=2, size=32)
    for split in ("train", "val"):  # two more classes, so that top5 is reported
        for src, extra in (("circle", "disc"), ("square", "block")):
            shutil.copytree(data / split / src, data / split / extra)
    job = spec(
        data,
        hyperparams={"epochs": 1, "optimizer": "sgd", "pretrained": True, "weight_decay": 1e-4},
        options={
            "pretrained_file": str(checkpoint(tmp, "job-e2e", "best.pt")),
            "scheduler": "none",
            "augment": False,
            "label_smoothing": 0.1,
            "warmup_epochs": 0,
        },
    )
    code, events, output, seconds = run_train(tmp_path, "job-finetune", job)
    print(f"fine-tune from checkpoint: {seconds:.1f}s")
    assert code == 0, output
    (metric,) = of_type(events, "metric")
    assert set(metric["metrics"]) == BASE_METRICS | {"top5"}
    assert metric["metrics"]["top1"] <= metric["metrics"]["top5"] <= 1.0
    assert metric["metrics"]["lr"] == pytest.approx(0.01)  # scheduler none: constant
    assert checkpoint(tmp_path, "job-finetune", "best.pt").is_file()


@pytest.mark.e2e
def test_training_resumes_from_a_last_checkpoint(trained, tmp_path: Path) -> None:
    """The 2-epoch job's last.pt, resumed to 4 epochs: epochs 3-4 only, schedule and best kept."""
    tmp, (code, before, output, _) = trained
    assert code == 0, output
    data = make_classification(tmp_path / "shapes", train_per_class=8, val_per_class=4, size=32)
    for name in ("best.pt", "last.pt"):  # the earlier job's checkpoints, in this test's storage
        target = checkpoint(tmp_path, "job-e2e", name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(checkpoint(tmp, "job-e2e", name), target)
    last = "checkpoints/projects/tests/jobs/job-e2e/last.pt"
    job = spec(data, hyperparams={"epochs": 4}, resume_from=last)
    # Every epoch's last.pt is uploaded, with best.pt first whenever it changed.
    code, events, output, seconds = run_train(
        tmp_path, "job-resumed", job, CHECKPOINT_INTERVAL_SECONDS="0"
    )
    print(f"resumed run: {seconds:.1f}s")
    assert code == 0, output
    assert f"resuming from {(tmp_path / 'storage').as_uri()}/{last}" in output
    metrics = of_type(events, "metric")
    assert [(m["epoch"], m["total_epochs"]) for m in metrics] == [(3, 4), (4, 4)]
    # The cosine schedule went on from epoch 3: half the base rate of 0.01 over 4 epochs.
    assert metrics[0]["metrics"]["lr"] == pytest.approx(0.005)
    assert [a["name"] for a in of_type(events, "artifact")][-2:] == ["best.pt", "last.pt"]
    assert "last.pt" in [a["name"] for a in of_type(events, "artifact")][:-2]  # epoch 3's
    final = of_type(events, "status")[-1]
    assert final["state"] == "succeeded"
    every_top1 = [m["metrics"]["top1"] for m in of_type(before, "metric") + metrics]
    assert final["metrics"]["best_top1"] == max(every_top1)  # chosen over all four epochs
    for name in ("best.pt", "last.pt"):
        assert checkpoint(tmp_path, "job-resumed", name).stat().st_size > 10_000


@pytest.mark.e2e
def test_pretrained_with_no_tier_able_to_serve_fails_fast(tmp_path: Path) -> None:
    """An empty cache, empty storage and a hub that does not answer: no epoch is trained."""
    data = make_classification(tmp_path / "shapes", train_per_class=2, val_per_class=1, size=32)
    job = spec(data, hyperparams={"pretrained": True})
    code, events, output, seconds = run_train(
        tmp_path,
        "job-pretrained",
        job,
        timeout=120,
        WEIGHTS_CACHE_DIR=str(tmp_path / "weights-cache"),
        HF_ENDPOINT="http://127.0.0.1:9",  # nothing listens on the discard port
    )
    print(f"pretrained unavailable: {seconds:.1f}s")
    assert code == 1, output
    final = of_type(events, "status")[-1]
    assert final["state"] == "failed"
    assert final["reason"] == "pretrained_unavailable"
    for tier in ("1) cache: no entry", "2) storage: no copy", "3) source: http://127.0.0.1:9/"):
        assert tier in final["message"], final["message"]
    assert not of_type(events, "metric")


@pytest.mark.e2e
def test_bad_dataset_layout_is_reported(tmp_path: Path) -> None:
    data = make_classification(tmp_path / "shapes", train_per_class=2, val_per_class=1, size=32)
    shutil.rmtree(data / "val" / "triangle")
    code, events, output, _ = run_train(tmp_path, "job-bad-data", spec(data))
    assert code == 1, output
    final = of_type(events, "status")[-1]
    assert (final["state"], final["reason"]) == ("failed", "dataset_invalid")
    assert "triangle" in final["message"]


@pytest.mark.e2e
def test_service_health_capabilities_and_validation(
    start_service, internal_headers, tmp_path: Path
) -> None:
    _, base = start_service("timm")
    somewhere = tmp_path / "data"  # the service only checks that a local dataset exists
    somewhere.mkdir()
    with httpx.Client(base_url=base, headers=internal_headers, timeout=30) as client:
        health = client.get("/health").json()
        assert health["framework"] == "timm"
        assert {"timm", "torch", "torchvision"} <= set(health["versions"])
        assert health["versions"]["timm"] != "not installed"
        assert health["device"].startswith(("cpu", "cuda"))

        caps = client.get("/v1/capabilities").json()
        support = caps["tasks"]["classification"]
        assert set(caps["tasks"]) == {"classification"}
        assert support["dataset_formats"] == ["imagefolder"]
        assert {"resnet18", "vit_tiny_patch16_224", MODEL} <= set(support["models"])
        assert support["models_exhaustive"] is True
        props = caps["options_schema"]["properties"]
        assert {"augment", "scheduler", "label_smoothing", "pretrained_file"} <= set(props)
        assert caps["options_schema"]["additionalProperties"] is False

        def validate(**overrides: Any) -> httpx.Response:
            return client.post("/v1/validate", json={"spec": spec(somewhere, **overrides)})

        assert validate().status_code == 200, validate().text
        assert validate(model="resnet18.a1_in1k").status_code == 200  # arch + weight tag
        assert validate(options={"scheduler": "none", "label_smoothing": 0.1}).status_code == 200

        def problems(response: httpx.Response) -> dict[str, dict[str, Any]]:
            assert response.status_code == 422, response.text
            return {e["field"]: e for e in response.json()["errors"]}

        unknown = problems(validate(model="resnet_nonexistent"))["model"]
        assert "more" in unknown["allowed"][-1]
        typo = problems(validate(model="resnt18"))["model"]
        assert typo["allowed"][0] == "resnet18"  # the closest names come first
        assert "model" in problems(validate(model="resnet18.no_such_tag"))
        assert "task" in problems(validate(task="detection"))
        wrong_format = {"uri": str(somewhere), "format": "yolo"}
        assert problems(validate(dataset=wrong_format))["dataset.format"]["allowed"] == [
            "imagefolder"
        ]
        assert "options.mixup" in problems(validate(options={"mixup": 0.2}))
        assert "options.label_smoothing" in problems(validate(options={"label_smoothing": 2}))
        assert "options.scheduler" in problems(validate(options={"scheduler": "step"}))
        assert "options.pretrained_file" in problems(
            validate(options={"pretrained_file": "/w.pth"})  # without pretrained=true
        )
        # pretrained=true: a hub repository timm names, or seeded weights; cspresnet50d has
        # neither, so no tier could ever serve it.
        assert validate(model="resnet18", hyperparams={"pretrained": True}).status_code == 200
        no_weights = problems(validate(model="cspresnet50d", hyperparams={"pretrained": True}))
        assert "POST /v1/weights" in no_weights["hyperparams.pretrained"]["allowed"][1]


def warm_imports() -> tuple[str, ...]:
    """What the timm plugin asks its warm runner to import (read in the timm environment)."""
    out = subprocess.run(
        [
            str(PYTHON),
            "-c",
            "from trainyard_timm.plugin import PLUGIN; print(*PLUGIN.warm_imports)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return tuple(out.stdout.split())


def executor_run(executor: SubprocessExecutor, job_id: str, job_spec: dict[str, Any], tmp: Path):
    """Run the timm train module through the executor; return (run, events, other lines)."""
    env = RunEnvironment(
        job_id, JobSpec.model_validate(job_spec), None, None, (tmp / "storage").as_uri()
    )
    started = executor.start(LaunchSpec("trainyard_timm.train", env))
    deadline = time.monotonic() + 300
    while not (info := executor.status(job_id)).finished:
        assert time.monotonic() < deadline, executor.logs(job_id)
        time.sleep(0.2)
    lines = executor.logs(job_id)
    events = [
        json.loads(line.removeprefix("[trainyard] "))
        for line in lines
        if line.startswith("[trainyard] {")
    ]
    # Without the clock: `(5.0s)` an epoch took.
    others = [
        re.sub(r"\(\d+(\.\d+)?s\)", "(s)", line)
        for line in lines
        if not line.startswith("[trainyard] {")
    ]
    assert info.warm_start == started.warm_start
    return info, events, others


def same_run(events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What a run reported, without the clock: states, per-epoch metrics, final metrics."""
    return [
        (e["type"], e.get("state"), e.get("epoch"), e.get("metrics"), e.get("name"))
        for e in events
        if e["type"] in ("status", "metric", "artifact")
    ]


@pytest.mark.e2e
def test_a_warm_started_run_is_the_same_program_as_a_cold_one(tmp_path: Path) -> None:
    """Same seed, same metrics and output, forked from a warm runner or started cold (the same
    job id in two executors' folders); a failure ends with the same exit code."""
    data = make_classification(tmp_path / "shapes", train_per_class=4, val_per_class=2, size=32)
    job = spec(data, hyperparams={"epochs": 1, "seed": 3})
    broken = spec(tmp_path / "missing", hyperparams={"epochs": 1})
    warm = WarmStarter(str(PYTHON), warm_imports(), tmp_path / "warm-runner.log")
    warm.open()
    cold_executor = SubprocessExecutor(tmp_path / "cold", str(PYTHON))
    warm_executor = SubprocessExecutor(tmp_path / "warm", str(PYTHON), warm=warm)
    try:
        deadline = time.monotonic() + 180
        while not warm.health().ready:
            assert time.monotonic() < deadline, (tmp_path / "warm-runner.log").read_text()
            time.sleep(0.2)
        cold, cold_events, cold_lines = executor_run(cold_executor, "job", job, tmp_path)
        hot, hot_events, hot_lines = executor_run(warm_executor, "job", job, tmp_path)
        assert (cold.warm_start, hot.warm_start) == (False, True)
        assert (cold.status, hot.status) == (RunStatus.SUCCEEDED, RunStatus.SUCCEEDED)
        assert same_run(hot_events) == same_run(cold_events)
        assert [e["epoch"] for e in of_type(hot_events, "metric")] == [1]
        assert hot_lines == cold_lines

        cold_bad, *_ = executor_run(cold_executor, "bad", broken, tmp_path)
        hot_bad, *_ = executor_run(warm_executor, "bad", broken, tmp_path)
        assert cold_bad.status == hot_bad.status == RunStatus.FAILED
        assert hot_bad.exit_code == cold_bad.exit_code != 0
    finally:
        warm_executor.close()
