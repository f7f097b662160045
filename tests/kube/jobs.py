"""Launches and specs the Kubernetes tests build Jobs from."""

from __future__ import annotations

from typing import Any

from trainyard_runtime.run_environment import RunEnvironment
from trainyard_servicekit.executors import LaunchSpec
from trainyard_wire.spec import JobSpec, processes_per_node

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
    distributed: dict[str, int] | None = None,
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
            **({"distributed": distributed} if distributed else {}),
        }
    )
    if workload:
        module = WORKLOAD
        spec = spec.model_copy(update={"options": workload})
    return LaunchSpec(
        module,
        RunEnvironment(
            job_id=run_id,
            spec=spec,
            callback_url=f"http://gateway:8000/internal/v1/jobs/{run_id}/events",
            callback_token=token,
            storage_uri="s3://bucket/runs",
            mlflow_tracking_uri="http://mlflow:5000",
        ),
        ranks_per_node=processes_per_node(spec) if distributed else 1,
    )
