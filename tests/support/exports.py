"""Export and evaluation jobs run by hand (`python -m trainyard_<fw>.export`, no gateway) on a
model trained as job `job-trained`, and the check of an exported file that a test has broken on
purpose."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.support.train_py import REPO, checkpoint, of_type, run_train_py, sha256
from trainyard_dev.launcher import environment_python

TRAINED = "job-trained"  # the training job the after-training tests export and evaluate


def export_spec(
    train_spec: dict[str, Any], source_job: str, fmt: str, checkpoint: str = "best"
) -> dict[str, Any]:
    """The spec the gateway makes for `POST /v1/jobs/{source_job}/export`."""
    return {
        **train_spec,
        "kind": "export",
        "source": {"job_id": source_job, "checkpoint": checkpoint},
        "export": {"format": fmt, "max_images": 8},
    }


def run_export(
    framework: str, tmp: Path, job_id: str, spec: dict[str, Any], cwd: Path | None = None
) -> tuple[int, list[dict[str, Any]], str, float]:
    return run_train_py(framework, tmp, job_id, spec, module="export", timeout=300, cwd=cwd)


def export_trained(
    framework: str, tmp: Path, train_spec: dict[str, Any], fmt: str, cwd: Path | None = None
) -> dict[str, Any]:
    """Export job-trained's best checkpoint to `fmt` as job-export-{fmt}; its final status,
    once it succeeded and stored its one artifact, model.{fmt}, as it says."""
    job_id = f"job-export-{fmt}"
    spec = export_spec(train_spec, TRAINED, fmt)
    code, events, output, _ = run_export(framework, tmp, job_id, spec, cwd)
    assert code == 0, output
    final = final_status(events)
    assert final["state"] == "succeeded", output
    name = f"model.{fmt}"
    (artifact,) = of_type(events, "artifact")
    assert (artifact["name"], artifact["kind"]) == (name, "export")
    stored = exported_file(tmp, job_id, name)
    assert artifact["size"] == stored.stat().st_size
    assert artifact["sha256"] == sha256(stored)
    return final


def evaluate_trained(
    framework: str,
    tmp: Path,
    train_spec: dict[str, Any],
    training_events: list[dict[str, Any]],
    **run_options: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Evaluate job-trained's best checkpoint on its own validation data; (the evaluation's
    final status, once it succeeded; the metrics training reported for its one epoch)."""
    spec = {**train_spec, "kind": "evaluate", "source": {"job_id": TRAINED, "checkpoint": "best"}}
    code, events, output, _ = run_train_py(
        framework, tmp, "job-evaluate", spec, module="evaluate", **run_options
    )
    assert code == 0, output
    final = final_status(events)
    assert final["state"] == "succeeded", output
    (epoch,) = of_type(training_events, "metric")
    return final, epoch["metrics"]


def exported_file(tmp: Path, job_id: str, name: str, project: str = "tests") -> Path:
    return tmp / "storage" / "exports" / "projects" / project / "jobs" / job_id / name


def final_status(events: list[dict[str, Any]]) -> dict[str, Any]:
    return of_type(events, "status")[-1]


# Run in the framework's environment: check an ONNX file as the export job does, once as
# written and once with its weights (every float initializer of 2 or more dimensions) scaled by
# 1.1: one weight alone can sit before a zero-initialised norm and change nothing.
_CHECK = """
import json, sys
from importlib import import_module
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from trainyard_runtime.export.job import check_export
from trainyard_runtime.export.parity import require_parity
from trainyard_runtime.training import TrainingError
from trainyard_wire.spec import JobSpec

framework, checkpoint, exported, dataset, spec_json, broken = sys.argv[1:]
spec = JobSpec.model_validate_json(spec_json)
model = onnx.load(exported)
for weight in model.graph.initializer:
    if weight.data_type == onnx.TensorProto.FLOAT and len(weight.dims) >= 2:
        array = numpy_helper.to_array(weight) * np.float32(1.1)
        weight.CopyFrom(numpy_helper.from_array(array, weight.name))
onnx.save(model, broken)
prepare = import_module(f"trainyard_{framework}.export").prepare
prepared = prepare(Path(checkpoint), spec, Path(dataset), spec.export.max_images)
answers = {}
for name, path in (("as_exported", exported), ("broken", broken)):
    report = check_export(prepared, Path(path), spec.export)
    try:
        require_parity(report)
        reason = None
    except TrainingError as exc:
        reason = str(exc.reason)
    answers[name] = {"report": report.as_dict(), "reason": reason}
print(json.dumps(answers))
"""


def check_with_broken_weight(
    framework: str, checkpoint: Path, exported: Path, dataset: Path, spec: dict[str, Any]
) -> dict[str, Any]:
    """The export check of `exported` as written and of a copy with its weights perturbed."""
    broken = exported.with_name(f"broken-{exported.name}")
    out = subprocess.run(
        [
            str(environment_python(REPO, framework)),
            "-c",
            _CHECK,
            framework,
            str(checkpoint),
            str(exported),
            str(dataset),
            json.dumps(spec),
            str(broken),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=exported.parent,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def break_exported_onnx(
    framework: str, tmp: Path, train_spec: dict[str, Any], dataset: Path, cwd: Path | None = None
) -> dict[str, Any]:
    """Export job-trained to ONNX, then check that file as written (it passes) and with its
    weights perturbed (it fails with export_mismatch); the perturbed file's answer."""
    job_id = "job-export-to-break"
    spec = export_spec(train_spec, TRAINED, "onnx")
    code, _, output, _ = run_export(framework, tmp, job_id, spec, cwd)
    assert code == 0, output
    answers = check_with_broken_weight(
        framework,
        checkpoint(tmp, TRAINED, "best.pt"),
        exported_file(tmp, job_id, "model.onnx"),
        dataset,
        spec,
    )
    assert answers["as_exported"]["reason"] is None
    assert answers["broken"]["reason"] == "export_mismatch"
    broken: dict[str, Any] = answers["broken"]
    return broken
