"""The context a framework's train function gets: spec, data, workspace, and how to report."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from trainyard_runtime.reporter import DEFAULT_FINAL_DELIVERY_TIMEOUT
from trainyard_runtime.run_environment import DEFAULT_CHECKPOINT_INTERVAL
from trainyard_runtime.storage import Storage, StoredObject
from trainyard_runtime.storage.layout import checkpoint_key, export_key
from trainyard_runtime.tracking import NullTracker, Tracker
from trainyard_runtime.training.early_stopping import EarlyStopper
from trainyard_runtime.training.errors import TrainingError
from trainyard_runtime.training.init_point import InitPoint, fetch_init_point, init_uri
from trainyard_runtime.training.resume_point import ResumePoint, fetch_resume_point
from trainyard_runtime.weights.access import WeightsAccess
from trainyard_runtime.weights.local_cache import WeightsCache
from trainyard_runtime.weights.shared_store import SharedWeights
from trainyard_runtime.weights.source import WeightsSource

if TYPE_CHECKING:  # the resolver imports training.errors, and so this package
    from trainyard_runtime.weights.resolver import Resolved
from trainyard_wire.events import StoppedEarly
from trainyard_wire.failures import FailureReason
from trainyard_wire.spec import JobSpec


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
    def weights(self, **fields: Any) -> None: ...
    def close(self, timeout: float = DEFAULT_FINAL_DELIVERY_TIMEOUT) -> bool: ...


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
    checkpoint_interval: float = DEFAULT_CHECKPOINT_INTERVAL
    _last_periodic: float = field(default_factory=time.monotonic)
    # Epochs an earlier run of this training finished (resumed from its checkpoint).
    epochs_before: int = 0
    _resume: ResumePoint | None = None
    _init: InitPoint | None = None
    _best_uploaded: tuple[int, int] | None = None  # (size, mtime) of the best file uploaded
    # spec.early_stopping at work; set when it ended training before the last epoch.
    early_stopper: EarlyStopper | None = None
    stopped_early: StoppedEarly | None = None
    # Where pretrained weights may come from (the run environment's cache dir, hub, assets).
    weights_access: WeightsAccess = field(default_factory=WeightsAccess)
    # This process's place in a distributed run (rank 0 of 1 otherwise). Only rank 0 saves
    # checkpoints; every rank reports, and the launcher's relay keeps rank 0's metrics only.
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # What an export or evaluation job found; the final status carries it, succeeded or failed.
    result: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.early_stopper is None and self.spec.early_stopping is not None:
            self.early_stopper = EarlyStopper(self.spec.early_stopping)

    @property
    def total_epochs(self) -> int:
        return self.spec.hyperparams.epochs

    def epoch_end(
        self, epoch: int, metrics: Mapping[str, Any], total_epochs: int | None = None
    ) -> bool:
        """Report one finished epoch (1-based) with its metrics; progress and ETA follow.

        Returns True when early stopping (spec.early_stopping) ends training after this epoch,
        before the last: the framework then leaves its loop and saves checkpoints as usual.
        """
        total = total_epochs or self.total_epochs
        elapsed = time.monotonic() - self.started
        done = max(epoch - self.epochs_before, 1)  # epochs this run trained, for the ETA
        eta = elapsed / done * max(total - epoch, 0)
        self.epochs_reported[epoch] = {k: float(v) for k, v in metrics.items()}
        self.reporter.metric(epoch, total, metrics, elapsed_seconds=elapsed, eta_seconds=eta)
        self.tracker.epoch(epoch, self.epochs_reported[epoch])
        if self.early_stopper is None or self.stopped_early is not None:
            return self.stopped_early is not None
        if self.early_stopper.update(epoch, metrics) and epoch < total:
            self.stopped_early = self.early_stopper.stopped_at(epoch)
            print(
                f"[trainyard] early stopping after epoch {epoch}/{total}: "
                f"{self.stopped_early.reason}",
                flush=True,
            )
        return self.stopped_early is not None

    def pretrained_weights(self, model: str, source: WeightsSource | None) -> Resolved:
        """The model's pretrained weights through the tiers (weights/resolver.py), reported:
        a log line, and a `weights` event the job view shows (tier, sha256, size)."""
        from trainyard_runtime.weights.resolver import resolve_weights

        framework = self.spec.framework
        resolved = resolve_weights(
            framework,
            model,
            cache=WeightsCache(self.weights_access.cache_dir),
            shared=SharedWeights(self.storage),
            source=source,
            scratch=self.work_dir / "weights-fetch",
        )
        manifest = resolved.manifest
        for note in resolved.tried:
            print(f"[trainyard] pretrained weights: {note}", flush=True)
        print(
            f"[trainyard] pretrained weights for {model} from tier {resolved.tier} "
            f"(sha256 {manifest.sha256}, {manifest.size} bytes, first from {manifest.source})"
            + (f"; put in storage at {resolved.published}" if resolved.published else ""),
            flush=True,
        )
        self.reporter.weights(
            framework=framework,
            model=model,
            tier=str(resolved.tier),
            sha256=manifest.sha256,
            size=manifest.size,
            source=manifest.source[:2048],
            tried=[note[:1000] for note in resolved.tried][:10],
            published=resolved.published,
        )
        return resolved

    def resume_point(self) -> ResumePoint | None:
        """The checkpoint `spec.resume_from` names, fetched once; None for a fresh start."""
        if self.spec.resume_from is None:
            return None
        if self._resume is None:
            self._resume = fetch_resume_point(
                self.storage, self.spec.resume_from, self.work_dir / "resume"
            )
        return self._resume

    def init_point(self) -> InitPoint | None:
        """The checkpoint `spec.init_from` names, fetched once; None to start from scratch."""
        uri = init_uri(self.spec)
        if uri is None:
            return None
        if self._init is None:
            self._init = fetch_init_point(self.storage, uri, self.work_dir / "init")
        return self._init

    def resuming_after(self, epoch: int, total_epochs: int | None = None) -> int:
        """Note that `epoch` epochs are done already; returns the first epoch to train now."""
        total = total_epochs or self.total_epochs
        if epoch >= total:
            raise TrainingError(
                FailureReason.RESUME_FINISHED,
                f"the checkpoint to resume from is at epoch {epoch} of {total}: nothing is left "
                "to train (raise hyperparams.epochs to train further)",
            )
        self.epochs_before = epoch
        print(f"[trainyard] epochs 1-{epoch} done before: training {epoch + 1}-{total}", flush=True)
        return epoch + 1

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

    def save_artifact(self, local: Path, filename: str, kind: str = "export") -> StoredObject:
        """Upload an export job's file under `exports/` and report it as an artifact."""
        stored = self.storage.put_file(local, export_key(self.spec.project, self.job_id, filename))
        assert stored.sha256 is not None
        self.reporter.artifact(filename, stored.uri, stored.size, stored.sha256, kind=kind)
        return stored

    def save_periodic(self, last: Path, best: Path | None = None) -> StoredObject:
        """Save `last` during training, and `best` first when it changed since it was saved.

        A run resumed from this `last` then finds the best it has to beat beside it.
        """
        if best is not None and best.is_file():
            stat = best.stat()
            stamp = (stat.st_size, stat.st_mtime_ns)
            if stamp != self._best_uploaded:
                self.save_checkpoint(best, "best")
                self._best_uploaded = stamp
        return self.save_checkpoint(last, "last")
