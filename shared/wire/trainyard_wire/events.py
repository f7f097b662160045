"""The events train.py reports to the gateway: numbered per job, sent in batches, stored once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from trainyard_wire.spec import StrictModel

MAX_EVENTS_PER_BATCH = 1000
MAX_LOG_LINE = 4096

ReportedState = Literal["running", "succeeded", "failed", "cancelled"]


def utcnow() -> datetime:
    return datetime.now(UTC)


class _Event(StrictModel):
    seq: int = Field(ge=1)
    time: datetime = Field(default_factory=utcnow)


class StoppedEarly(StrictModel):
    """Why a succeeded run ended before its last epoch (spec.early_stopping)."""

    epoch: int = Field(ge=1, description="The last epoch trained.")
    best_epoch: int | None = Field(
        None, ge=1, description="The epoch with the best value of the metric; None if none had one."
    )
    reason: str = Field(max_length=1000)


class RegisteredVersion(StrictModel):
    """The model version a succeeded run with spec.register_as became."""

    name: str = Field(max_length=200)
    version: int = Field(ge=1)


class StatusEvent(_Event):
    type: Literal["status"] = "status"
    state: ReportedState
    reason: str | None = Field(None, max_length=200)
    message: str | None = Field(None, max_length=8000)
    error_type: str | None = Field(None, max_length=200)
    exit_code: int | None = None
    log_tail: list[str] | None = Field(None, max_length=500)
    metrics: dict[str, float | None] | None = None
    # On a succeeded run that early stopping ended before its last epoch.
    stopped_early: StoppedEarly | None = None
    # On a succeeded run with spec.register_as: the version it registered.
    registered: RegisteredVersion | None = None
    # What an export or evaluation job found (an export's parity report), succeeded or failed.
    result: dict[str, Any] | None = None


class HeartbeatEvent(_Event):
    type: Literal["heartbeat"] = "heartbeat"


class MetricEvent(_Event):
    type: Literal["metric"] = "metric"
    epoch: int = Field(ge=0)
    total_epochs: int = Field(ge=1)
    # Non-finite values (a diverged loss) travel as null: JSON has no NaN.
    metrics: dict[str, float | None]
    elapsed_seconds: float | None = Field(None, ge=0)
    eta_seconds: float | None = Field(None, ge=0)


class LogEvent(_Event):
    type: Literal["log"] = "log"
    line: str = Field(max_length=MAX_LOG_LINE)
    stream: Literal["stdout", "stderr"] = "stdout"


class ArtifactEvent(_Event):
    type: Literal["artifact"] = "artifact"
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["checkpoint", "metrics", "file", "export"] = "checkpoint"
    uri: str = Field(max_length=2048)
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class TrackingEvent(_Event):
    """Where the run is tracked (MLflow), or why tracking failed; training goes on either way."""

    type: Literal["tracking"] = "tracking"
    system: Literal["mlflow"] = "mlflow"
    run_id: str | None = Field(None, max_length=200)
    experiment_id: str | None = Field(None, max_length=200)
    url: str | None = Field(None, max_length=2048)
    error: str | None = Field(None, max_length=2000)


WeightsTier = Literal["cache", "storage", "source"]


class WeightsEvent(_Event):
    """Which tier served the run's pretrained weights (the job view shows the last one)."""

    type: Literal["weights"] = "weights"
    framework: str = Field(max_length=32)
    model: str = Field(max_length=500)
    tier: WeightsTier
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    source: str = Field(max_length=2048, description="Where the weights were first taken from.")
    # What each tier before the one that served said (a miss, a discarded corrupt copy).
    tried: list[str] = Field(default_factory=list, max_length=10)
    # Weights from the source, put in object storage for the next runs: where.
    published: str | None = Field(None, max_length=2048)


Event = Annotated[
    StatusEvent
    | HeartbeatEvent
    | MetricEvent
    | LogEvent
    | ArtifactEvent
    | TrackingEvent
    | WeightsEvent,
    Field(discriminator="type"),
]


class EventBatch(StrictModel):
    events: list[Event] = Field(min_length=1, max_length=MAX_EVENTS_PER_BATCH)


class BatchAck(BaseModel):
    stored: int
    duplicates: int
    last_seq: int
