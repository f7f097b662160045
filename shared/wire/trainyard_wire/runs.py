"""Request and response bodies of the internal service API (gateway ↔ training service)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from trainyard_wire.spec import JobSpec, StrictModel, capacity_slots

# The internal token services accept when none is configured: for development only.
DEV_INTERNAL_TOKEN = "dev-internal-token"  # noqa: S105 - the documented development default

# Where each framework's service listens unless told otherwise (the gateway's default routes).
SERVICE_PORTS: dict[str, int] = {"timm": 8001, "ultralytics": 8002, "huggingface": 8003}

# What MLflow names runs (uuid4 hex); nothing else reaches train.py's environment.
MLFLOW_RUN_ID_PATTERN = r"^[0-9a-f]{32}$"


class StartRun(StrictModel):
    job_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    spec: JobSpec
    callback_url: str = Field(min_length=1, max_length=2048)
    callback_token: str = Field(min_length=16, max_length=512)
    # A retried attempt goes on in the MLflow run of the job's earlier attempts.
    mlflow_run_id: str | None = Field(None, pattern=MLFLOW_RUN_ID_PATTERN)
    # Which attempt of the job this is: a run of an earlier attempt still ending is waited for,
    # never taken for this one's.
    attempt: int = Field(1, ge=1)


class ValidateRun(StrictModel):
    spec: JobSpec


class RunLookup(StrictModel):
    """The runs to report on, by id: the gateway follows all its runs on a service at once."""

    run_ids: list[str] = Field(max_length=1000)


class RunView(BaseModel):
    run_id: str
    status: str
    executor: str
    started_at: datetime
    ended_at: datetime | None
    pid: int | None
    exit_code: int | None
    signal: int | None
    reason: str | None
    stop_requested: bool
    # A failed run's machine-readable reason (trainyard_runtime.failure.FailureReason) and
    # whether it ran out of memory; the gateway copies both into the job's error.
    failure_reason: str | None = None
    oom: bool = False
    # Forked from the service's warm runner (its imports already done) rather than started cold.
    warm_start: bool = False


class WarmRunnerHealth(BaseModel):
    """The warm runner that forks runs with torch and the framework already imported."""

    enabled: bool
    ready: bool  # False: starting (or restarting); runs start cold meanwhile
    pid: int | None = None
    imports: list[str] = []
    restarts: int = 0  # replaced after it ended unasked
    last_failure: str | None = None


class Health(BaseModel):
    status: str
    framework: str
    versions: dict[str, str]
    device: str
    running: int
    capacity: int
    warm_runner: WarmRunnerHealth | None = None  # None: its executor has none (Kubernetes)
    # How `running` and `capacity` count: a run on one of these executors (they run on the
    # service's own machine) takes one slot per process of its node; a run elsewhere (a Job on
    # a cluster) takes one. An older service names none: one slot per run.
    process_executors: list[str] = []
    default_executor: str | None = None

    def slots(self, spec: JobSpec) -> int:
        """The slots of `running` and `capacity` a run of `spec` takes on this service."""
        executor = spec.executor or self.default_executor
        return capacity_slots(spec, executor in self.process_executors)

    @property
    def slot_unit(self) -> str:
        """What a slot of the default executor is, for people: a process or a job."""
        return "processes" if self.default_executor in self.process_executors else "jobs"


class TaskSupport(BaseModel):
    dataset_formats: list[str]
    models: list[str]
    # True when `models` lists every model accepted; False when it is a list of examples.
    models_exhaustive: bool = True
    # The metrics a run of this task reports per epoch: what early_stopping.metric may name.
    metrics: list[str] = []
    # The formats an export job of this task may ask for (POST /v1/jobs/{id}/export).
    export_formats: list[str] = []


class DistributedSupport(BaseModel):
    """How a framework spreads one job over processes and nodes (`spec.distributed`)."""

    # Several processes per node without GPUs (gloo on the CPU).
    cpu_processes: bool = False
    # Several processes per node, one per GPU (NCCL).
    gpu_processes: bool = False
    # More than one node (machine or pod) for one job.
    multi_node: bool = False
    # It starts its processes itself (Ultralytics' own DDP launch): the executor starts train.py
    # once per node instead of one rank per process.
    own_launcher: bool = False


class Capabilities(BaseModel):
    """What a service can train: tasks with their models and dataset formats, the options
    schema, library versions and device (`GET /v1/capabilities`)."""

    framework: str
    tasks: dict[str, TaskSupport]
    options_schema: dict[str, Any]
    versions: dict[str, str]
    device: str
    distributed: DistributedSupport = DistributedSupport()
