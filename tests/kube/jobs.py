"""Launches and specs the Kubernetes tests build Jobs from."""

from __future__ import annotations

from trainyard_runtime.run_environment import RunEnvironment
from trainyard_servicekit.executors import LaunchSpec
from trainyard_wire.spec import JobSpec

TOKEN = "callback-token-0123456789abcdef"


def launch(
    run_id: str, gpu: int | None = 0, framework: str = "toy", token: str = TOKEN
) -> LaunchSpec:
    spec = JobSpec.model_validate(
        {
            "framework": framework,
            "task": "classification",
            "model": "counter",
            "dataset": {"uri": "/data/shapes", "format": "imagefolder"},
            "resources": {"cpu": 1.5, "memory": "3Gi", "gpu": gpu},
            "project": "shapes",
            "name": "a test run",
        }
    )
    return LaunchSpec(
        "toy_framework.train",
        RunEnvironment(
            job_id=run_id,
            spec=spec,
            callback_url=f"http://gateway:8000/internal/v1/jobs/{run_id}/events",
            callback_token=token,
            storage_uri="s3://bucket/runs",
            mlflow_tracking_uri="http://mlflow:5000",
        ),
    )
