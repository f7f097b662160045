"""Launches and specs the Kubernetes tests build Jobs from."""

from __future__ import annotations

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
        run_id=run_id,
        module="toy_framework.train",
        spec_json=spec.model_dump_json(),
        env={
            "JOB_ID": run_id,
            "CALLBACK_URL": f"http://gateway:8000/internal/v1/jobs/{run_id}/events",
            "CALLBACK_TOKEN": token,
            "STORAGE_URI": "s3://bucket/runs",
            "HEARTBEAT_INTERVAL": "5.0",
            "MLFLOW_TRACKING_URI": "http://mlflow:5000",
        },
    )
