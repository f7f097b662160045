"""The context a framework's train function gets: spec, data, workspace, and how to report."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from trainyard_shared.spec import JobSpec
from trainyard_shared.storage import Storage, StoredObject
from trainyard_shared.storage.layout import checkpoint_key
from trainyard_shared.tracking import NullTracker, Tracker


class TrainingError(Exception):
    """An expected failure with a reason users can act on (bad dataset, missing weights…)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class EventSink(Protocol):
    def status(self, state: str, **fields: Any) -> None: ...
    def metric(
        self,
        epoch: int,
        total_epochs: int,
        metrics: Mapping[str, Any],
        *,
        elapsed_seconds: float | None = None,
        eta_seconds: float | None = None,
    ) -> None: ...
    def log(self, line: str, stream: str = "stdout") -> None: ...
    def artifact(
        self, name: str, uri: str, size: int, sha256: str, kind: str = "checkpoint"
    ) -> None: ...
    def tracking(self, **fields: Any) -> None: ...
    def close(self, timeout: float = 300.0) -> bool: ...


@dataclass
class TrainingContext:
    job_id: str
    spec: JobSpec
    dataset_dir: Path
    work_dir: Path
    storage: Storage
    reporter: EventSink
    tracker: Tracker = field(default_factory=NullTracker)
    started: float = field(default_factory=time.monotonic)
    epochs_reported: dict[int, dict[str, float | None]] = field(default_factory=dict)
    checkpoints: dict[str, StoredObject] = field(default_factory=dict)
    # Upload `last` during training at most this often, so a crash loses little.
    checkpoint_interval: float = 300.0
    _last_periodic: float = field(default_factory=time.monotonic)

    @property
    def total_epochs(self) -> int:
        return self.spec.hyperparams.epochs

    def epoch_end(self, epoch: int, metrics: Mapping[str, Any], total_epochs: int | None = None):
        """Report one finished epoch (1-based) with its metrics; progress and ETA follow."""
        total = total_epochs or self.total_epochs
        elapsed = time.monotonic() - self.started
        done = max(epoch, 1)
        eta = elapsed / done * max(total - epoch, 0)
        self.epochs_reported[epoch] = {k: float(v) for k, v in metrics.items()}
        self.reporter.metric(epoch, total, metrics, elapsed_seconds=elapsed, eta_seconds=eta)
        self.tracker.epoch(epoch, self.epochs_reported[epoch])

    def checkpoint_due(self) -> bool:
        """True when a periodic `last` checkpoint should be written and saved now.

        Frameworks ask after each epoch; uploading every epoch would cost more than it saves.
        """
        return time.monotonic() - self._last_periodic >= self.checkpoint_interval

    def save_checkpoint(self, local: Path, name: str) -> StoredObject:
        """Upload a checkpoint file as `{name}{suffix}` (name: best or last) and report it."""
        if name not in ("best", "last"):
            raise ValueError(f"checkpoint name must be 'best' or 'last', not {name!r}")
        filename = f"{name}{local.suffix}"
        key = checkpoint_key(self.spec.project, self.job_id, filename)
        stored = self.storage.put_file(local, key)
        assert stored.sha256 is not None
        self.reporter.artifact(filename, stored.uri, stored.size, stored.sha256)
        if name == "last":
            self._last_periodic = time.monotonic()
        self.checkpoints[name] = stored
        self.tracker.checkpoint(local, filename)
        return stored
