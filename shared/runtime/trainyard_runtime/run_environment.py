"""The environment of one training run: every variable train.py reads, named here only.

A service builds one `RunEnvironment` per run (from its settings, its own environment and the
gateway's start request) and hands it to an executor; the subprocess executor and the
Kubernetes Job builder both write it with `to_env()`, and train.py reads it back with
`from_env()`. The job spec travels as JSON text in `JOB_SPEC` on both tiers (a pod's
environment is the one place a Job can carry it without a volume); a user running train.py by
hand may name a file with `JOB_SPEC_PATH` instead.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from trainyard_runtime.reporter import (
    DEFAULT_FINAL_DELIVERY_TIMEOUT,
    DEFAULT_HEARTBEAT_INTERVAL,
    DEFAULT_MAX_BUFFERED,
)
from trainyard_runtime.tracking import DEFAULT_EXPERIMENT_PREFIX
from trainyard_runtime.weights.access import WeightsAccess
from trainyard_runtime.weights.local_cache import default_weights_cache
from trainyard_wire.spec import JobSpec

DEFAULT_CHECKPOINT_INTERVAL = 300.0  # seconds: upload `last` during training at most this often


class RunVariable(StrEnum):
    """The names of the run's environment variables (documented in the README)."""

    JOB_ID = "JOB_ID"
    JOB_SPEC = "JOB_SPEC"  # the spec as JSON text
    JOB_SPEC_PATH = "JOB_SPEC_PATH"  # by hand only: the spec as a JSON file
    CALLBACK_URL = "CALLBACK_URL"
    CALLBACK_TOKEN = "CALLBACK_TOKEN"  # noqa: S105 - a variable name, not a secret
    STORAGE_URI = "STORAGE_URI"
    WORK_DIR = "WORK_DIR"
    HEARTBEAT_INTERVAL = "HEARTBEAT_INTERVAL"
    FINAL_DELIVERY_TIMEOUT = "FINAL_DELIVERY_TIMEOUT"
    CHECKPOINT_INTERVAL_SECONDS = "CHECKPOINT_INTERVAL_SECONDS"
    REPORTER_MAX_BUFFERED = "REPORTER_MAX_BUFFERED"
    RUN_EXIT_CODE_FILE = "RUN_EXIT_CODE_FILE"
    MLFLOW_TRACKING_URI = "MLFLOW_TRACKING_URI"
    MLFLOW_UI_URL = "MLFLOW_UI_URL"
    MLFLOW_EXPERIMENT_PREFIX = "MLFLOW_EXPERIMENT_PREFIX"
    MLFLOW_RUN_ID = "MLFLOW_RUN_ID"
    # Pretrained weights (weights/): the local cache and the frameworks' sources.
    WEIGHTS_CACHE_DIR = "WEIGHTS_CACHE_DIR"
    HF_ENDPOINT = "HF_ENDPOINT"
    HF_TOKEN = "HF_TOKEN"  # noqa: S105 - a variable name, not a secret
    ULTRALYTICS_ASSETS_URL = "ULTRALYTICS_ASSETS_URL"


# Written only when set: huggingface_hub reads an empty HF_ENDPOINT as an endpoint "".
OMITTED_WHEN_UNSET = frozenset({RunVariable.HF_ENDPOINT, RunVariable.HF_TOKEN})


V = RunVariable


@dataclass(frozen=True)
class RunEnvironment:
    job_id: str
    spec: JobSpec
    callback_url: str | None
    callback_token: str | None
    storage_uri: str
    # The run's scratch folder; the executor places it (None: `./work` where train.py runs).
    work_dir: Path | None = None
    heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL
    final_delivery_timeout: float = DEFAULT_FINAL_DELIVERY_TIMEOUT
    checkpoint_interval: float = DEFAULT_CHECKPOINT_INTERVAL
    # Events kept in memory while the gateway is away; more wait in a spill file.
    reporter_max_buffered: int = DEFAULT_MAX_BUFFERED
    # Where to leave the exit code for a service that may no longer be this process's parent.
    exit_code_file: Path | None = None
    # MLflow tracking: off unless a tracking server is given.
    mlflow_tracking_uri: str | None = None
    mlflow_ui_url: str | None = None
    mlflow_experiment_prefix: str = DEFAULT_EXPERIMENT_PREFIX
    # A retried attempt goes on in its job's MLflow run.
    mlflow_run_id: str | None = None
    # Pretrained weights: where the run's cache is and where its sources are (weights/).
    weights_cache_dir: Path | None = None  # None: ~/.cache/trainyard/weights
    hf_endpoint: str | None = None
    hf_token: str | None = field(default=None, repr=False)
    ultralytics_assets_url: str | None = None

    @property
    def workspace(self) -> Path:
        return self.work_dir or Path.cwd() / "work"

    def weights_access(self) -> WeightsAccess:
        return WeightsAccess(
            cache_dir=self.weights_cache_dir or default_weights_cache(),
            hf_endpoint=self.hf_endpoint,
            hf_token=self.hf_token,
            ultralytics_assets_url=self.ultralytics_assets_url,
        )

    def placed(self, work_dir: Path, exit_code_file: Path | None = None) -> RunEnvironment:
        """The same run with its scratch folder (and exit-code file) where an executor puts it."""
        return replace(self, work_dir=work_dir, exit_code_file=exit_code_file)

    @classmethod
    def for_run(cls, environ: Mapping[str, str] | None = None, **fields: Any) -> RunEnvironment:
        """A run of a service: `fields` as given, the tuning the service's own environment sets
        (checkpoint interval, reporter buffer, MLflow, …) passed on, and defaults for the rest.

        A Kubernetes pod inherits nothing from the service, so all of it is written out.
        """
        return cls(**{**_tuning(os.environ if environ is None else environ), **fields})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RunEnvironment:
        """The run train.py is started for, from its environment."""
        env = os.environ if environ is None else environ
        if env.get(V.JOB_SPEC_PATH):
            raw = Path(env[V.JOB_SPEC_PATH]).read_text()
        elif env.get(V.JOB_SPEC):
            raw = env[V.JOB_SPEC]
        else:
            raise SystemExit(
                f"train.py needs {V.JOB_SPEC} (the job spec as JSON text) or "
                f"{V.JOB_SPEC_PATH} (a JSON file)"
            )
        exit_file = env.get(V.RUN_EXIT_CODE_FILE)
        return cls(
            job_id=env.get(V.JOB_ID) or "local",
            spec=JobSpec.model_validate(json.loads(raw)),
            callback_url=env.get(V.CALLBACK_URL) or None,
            callback_token=env.get(V.CALLBACK_TOKEN) or None,
            storage_uri=env.get(V.STORAGE_URI) or (Path.cwd() / ".data" / "storage").as_uri(),
            work_dir=Path(env[V.WORK_DIR]) if env.get(V.WORK_DIR) else None,
            exit_code_file=Path(exit_file) if exit_file else None,
            mlflow_run_id=env.get(V.MLFLOW_RUN_ID) or None,
            **_tuning(env),
        )

    def to_env(self) -> dict[str, str]:
        """Every variable of the run. Unset ones are written empty, so a process never takes
        one from the service that starts it (`from_env` reads empty as unset)."""

        def text(value: object) -> str:
            return "" if value is None else str(value)

        env: dict[str, str] = {
            V.JOB_ID: self.job_id,
            V.JOB_SPEC: self.spec.model_dump_json(),
            V.CALLBACK_URL: text(self.callback_url),
            V.CALLBACK_TOKEN: text(self.callback_token),
            V.STORAGE_URI: self.storage_uri,
            V.WORK_DIR: text(self.work_dir),
            V.HEARTBEAT_INTERVAL: str(self.heartbeat_interval),
            V.FINAL_DELIVERY_TIMEOUT: str(self.final_delivery_timeout),
            V.CHECKPOINT_INTERVAL_SECONDS: str(self.checkpoint_interval),
            V.REPORTER_MAX_BUFFERED: str(self.reporter_max_buffered),
            V.RUN_EXIT_CODE_FILE: text(self.exit_code_file),
            V.MLFLOW_TRACKING_URI: text(self.mlflow_tracking_uri),
            V.MLFLOW_UI_URL: text(self.mlflow_ui_url),
            V.MLFLOW_EXPERIMENT_PREFIX: self.mlflow_experiment_prefix,
            V.MLFLOW_RUN_ID: text(self.mlflow_run_id),
            V.WEIGHTS_CACHE_DIR: text(self.weights_cache_dir),
            V.HF_ENDPOINT: text(self.hf_endpoint),
            V.HF_TOKEN: text(self.hf_token),
            V.ULTRALYTICS_ASSETS_URL: text(self.ultralytics_assets_url),
            # Not the run's own, but every run wants it: output reaches the log line by line.
            "PYTHONUNBUFFERED": "1",
        }
        return {
            str(name): value
            for name, value in env.items()
            if value or name not in OMITTED_WHEN_UNSET
        }


def _tuning(env: Mapping[str, str]) -> dict[str, Any]:
    """What a run's environment may tune beside its identity; defaults where unset or empty."""

    def number(name: RunVariable, default: float) -> float:
        return float(env.get(name) or default)

    cache = env.get(V.WEIGHTS_CACHE_DIR)
    return {
        "heartbeat_interval": number(V.HEARTBEAT_INTERVAL, DEFAULT_HEARTBEAT_INTERVAL),
        "final_delivery_timeout": number(V.FINAL_DELIVERY_TIMEOUT, DEFAULT_FINAL_DELIVERY_TIMEOUT),
        "checkpoint_interval": number(V.CHECKPOINT_INTERVAL_SECONDS, DEFAULT_CHECKPOINT_INTERVAL),
        "reporter_max_buffered": int(env.get(V.REPORTER_MAX_BUFFERED) or DEFAULT_MAX_BUFFERED),
        "mlflow_tracking_uri": env.get(V.MLFLOW_TRACKING_URI) or None,
        "mlflow_ui_url": env.get(V.MLFLOW_UI_URL) or None,
        "mlflow_experiment_prefix": env.get(V.MLFLOW_EXPERIMENT_PREFIX)
        or DEFAULT_EXPERIMENT_PREFIX,
        "weights_cache_dir": Path(cache).expanduser() if cache else None,
        "hf_endpoint": env.get(V.HF_ENDPOINT) or None,
        "hf_token": env.get(V.HF_TOKEN) or None,
        "ultralytics_assets_url": env.get(V.ULTRALYTICS_ASSETS_URL) or None,
    }
