"""The settings train.py receives from whoever started it: a service, a Kubernetes Job, a user."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from trainyard_runtime.reporter import DEFAULT_MAX_BUFFERED
from trainyard_wire.spec import JobSpec


@dataclass(frozen=True)
class RunEnvironment:
    job_id: str
    spec: JobSpec
    callback_url: str | None
    callback_token: str | None
    storage_uri: str
    work_dir: Path
    heartbeat_interval: float
    final_delivery_timeout: float
    checkpoint_interval: float = 300.0
    # Events kept in memory while the gateway is away; more wait in a spill file.
    reporter_max_buffered: int = DEFAULT_MAX_BUFFERED
    # Where to leave the exit code for a service that may no longer be this process's parent.
    exit_code_file: Path | None = None
    # MLflow tracking: off unless a tracking server is given.
    mlflow_tracking_uri: str | None = None
    mlflow_ui_url: str | None = None
    mlflow_experiment_prefix: str = "trainyard/"
    # A retried attempt goes on in its job's MLflow run.
    mlflow_run_id: str | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> RunEnvironment:
        env = dict(os.environ if env is None else env)
        if "JOB_SPEC_PATH" in env:
            raw = Path(env["JOB_SPEC_PATH"]).read_text()
        elif "JOB_SPEC" in env:
            raw = env["JOB_SPEC"]
        else:
            raise SystemExit("train.py needs JOB_SPEC_PATH (a JSON file) or JOB_SPEC (JSON text)")
        spec = JobSpec.model_validate(json.loads(raw))
        work_dir = Path(env.get("WORK_DIR") or Path.cwd() / "work")
        exit_file = env.get("RUN_EXIT_CODE_FILE")
        return cls(
            job_id=env.get("JOB_ID", "local"),
            spec=spec,
            callback_url=env.get("CALLBACK_URL") or None,
            callback_token=env.get("CALLBACK_TOKEN") or None,
            storage_uri=env.get("STORAGE_URI") or (Path.cwd() / ".data" / "storage").as_uri(),
            work_dir=work_dir,
            heartbeat_interval=float(env.get("HEARTBEAT_INTERVAL", "5")),
            final_delivery_timeout=float(env.get("FINAL_DELIVERY_TIMEOUT", "300")),
            checkpoint_interval=float(env.get("CHECKPOINT_INTERVAL_SECONDS", "300")),
            reporter_max_buffered=int(env.get("REPORTER_MAX_BUFFERED") or DEFAULT_MAX_BUFFERED),
            exit_code_file=Path(exit_file) if exit_file else None,
            mlflow_tracking_uri=env.get("MLFLOW_TRACKING_URI") or None,
            mlflow_ui_url=env.get("MLFLOW_UI_URL") or None,
            mlflow_experiment_prefix=env.get("MLFLOW_EXPERIMENT_PREFIX", "trainyard/"),
            mlflow_run_id=env.get("MLFLOW_RUN_ID") or None,
        )
