"""What the public API answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from trainyard_wire.events import RegisteredVersion, StoppedEarly, WeightsTier


class Progress(BaseModel):
    epoch: int | None
    total_epochs: int | None
    percent: float
    eta_seconds: float | None


class QueueInfo(BaseModel):
    position: int
    reason: str | None


class Artifact(BaseModel):
    name: str
    kind: str
    uri: str
    size: int
    sha256: str
    created_at: datetime
    download_url: str


class WeightsUsed(BaseModel):
    """The pretrained weights a run started from, and which tier served them."""

    model: str
    tier: WeightsTier
    sha256: str
    size: int
    source: str


class JobView(BaseModel):
    id: str
    state: str
    framework: str
    task: str
    model: str
    project: str
    name: str | None
    priority: int
    executor: str | None
    spec: dict[str, Any]
    progress: Progress
    metrics: dict[str, Any] | None
    error: dict[str, Any] | None
    queue: QueueInfo | None
    # While the job's service does not answer: since when (the watchdog keeps checking).
    service_unreachable_since: datetime | None = None
    artifacts: list[Artifact]
    mlflow: dict[str, Any] | None
    run_id: str | None
    # Which attempt runs (1 = the first; more with spec.max_retries) and why earlier ones were
    # retried; the job this one resumed, if any.
    attempt: int = 1
    retries: list[dict[str, Any]] = []
    resumed_from: str | None = None
    # Fine-tuning: where the starting weights came from (spec.init_from as asked: job and
    # checkpoint, or registered model and version) and `uri`, the checkpoint it resolved to.
    init_from: dict[str, Any] | None = None
    # A succeeded job that early stopping ended before its last epoch: when and why.
    stopped_early: StoppedEarly | None = None
    # With hyperparams.pretrained: the weights the latest attempt loaded (from its event).
    weights: WeightsUsed | None = None
    # A succeeded job with spec.register_as: the model registry version it became.
    registered: RegisteredVersion | None = None
    # train, export or evaluate; for the last two, the training job whose model they use and
    # what they found (an export's parity report).
    kind: str = "train"
    source_job_id: str | None = None
    result: dict[str, Any] | None = None
    # The export and evaluation jobs made from this one: {"id", "kind", "state"}, oldest first.
    derived: list[dict[str, Any]] = []
    cancel_requested: bool
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    last_event_at: datetime | None


class JobList(BaseModel):
    items: list[JobView]
    next_cursor: str | None


class LogLine(BaseModel):
    seq: int
    time: datetime
    stream: str
    line: str


class Logs(BaseModel):
    job_id: str
    state: str
    lines: list[LogLine]


class EpochMetrics(BaseModel):
    epoch: int
    total_epochs: int
    time: datetime
    metrics: dict[str, float | None]


class Metrics(BaseModel):
    job_id: str
    epochs: list[EpochMetrics]
    series: dict[str, list[tuple[int, float | None]]]
