"""Launches and specs the Kubernetes tests build Jobs from."""

from __future__ import annotations

from typing import Any

from trainyard_shared.executors import LaunchSpec
from trainyard_shared.spec import JobSpec

TOKEN = "callback-token-0123456789abcdef"
WORKLOAD = "kube.workload"  # tests/kube/workload.py, what the simulated kubelet runs


def launch(
    run_id: str,
    gpu: int | None = 0,
    framework: str = "toy",
    token: str = TOKEN,
    *,
    cpu: float = 0.5,
    memory: str = "256Mi",
    module: str = "toy_framework.train",
    **workload: Any,
) -> LaunchSpec:
    """A run of `module`; `seconds=`, `exit=`, `output=`, `allocate_mb=` make it the test
    workload (tests/kube/workload.py) and steer it."""
    spec = JobSpec.model_validate(
        {
            "framework": framework,
            "task": "classification",
            "model": "counter",
            "dataset": {"uri": "/data/shapes", "format": "imagefolder"},
            "resources": {"cpu": cpu, "memory": memory, "gpu": gpu},
            "project": "shapes",
            "name": "a test run",
        }
    )
    env = {
        "JOB_ID": run_id,
        "CALLBACK_URL": f"http://gateway:8000/internal/v1/jobs/{run_id}/events",
        "CALLBACK_TOKEN": token,
        "STORAGE_URI": "s3://bucket/runs",
        "HEARTBEAT_INTERVAL": "5.0",
        "MLFLOW_TRACKING_URI": "http://mlflow:5000",
    }
    if workload:
        module = WORKLOAD
        env |= {f"WORKLOAD_{key.upper()}": str(value) for key, value in workload.items()}
    return LaunchSpec(run_id=run_id, module=module, spec_json=spec.model_dump_json(), env=env)
