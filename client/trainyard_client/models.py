"""The shapes of the gateway's JSON answers, as typed dictionaries (the JSON, unchanged)."""

from __future__ import annotations

from typing import Any, TypedDict

TERMINAL_STATES = frozenset({"succeeded", "failed", "cancelled", "lost"})


class Progress(TypedDict):
    epoch: int | None
    total_epochs: int | None
    percent: float
    eta_seconds: float | None


class QueueInfo(TypedDict):
    position: int
    reason: str | None


class Artifact(TypedDict):
    name: str
    kind: str
    uri: str
    size: int
    sha256: str
    created_at: str
    download_url: str


class Job(TypedDict):
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
    artifacts: list[Artifact]
    mlflow: dict[str, Any] | None
    run_id: str | None
    cancel_requested: bool
    created_at: str
    updated_at: str
    started_at: str | None
    finished_at: str | None
    last_event_at: str | None


class JobPage(TypedDict):
    items: list[Job]
    next_cursor: str | None


class LogLine(TypedDict):
    seq: int
    time: str
    stream: str
    line: str


class Logs(TypedDict):
    job_id: str
    state: str
    lines: list[LogLine]


class EpochMetrics(TypedDict):
    epoch: int
    total_epochs: int
    time: str
    metrics: dict[str, float | None]


class Metrics(TypedDict):
    job_id: str
    epochs: list[EpochMetrics]
    series: dict[str, list[list[Any]]]  # metric name -> [[epoch, value], …]


class Dataset(TypedDict):
    id: str
    name: str | None
    format: str
    uri: str
    source: str
    summary: dict[str, Any]
    content_hash: str | None
    size_bytes: int
    created_at: str
    problems: list[dict[str, Any]]


def is_terminal(state: str) -> bool:
    return state in TERMINAL_STATES
