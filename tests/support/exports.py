"""Export jobs run by hand (`python -m trainyard_<fw>.export`, no gateway), and the check of an
exported file that a test has broken on purpose."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.support.train_py import REPO, of_type, run_train_py
from trainyard_dev.launcher import environment_python


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
