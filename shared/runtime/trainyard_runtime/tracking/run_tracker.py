"""One training run as one MLflow run: params, per-epoch metrics, checkpoints, final status.

Tracking never stops training. The first `TrackingError` is printed and reported once as a
`tracking` event with `error`; the tracker then stays quiet for the rest of the run, except
that `finish` still tries to close a run it created, so the run does not stay RUNNING.

A retried attempt of a job is given the run its earlier attempts logged to (`continue_run_id`)
and goes on in it: its epochs continue the same metric series. When that run cannot be used,
the attempt tracks in a new run and says why in the `tracking` event's `error`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, Protocol

from trainyard_runtime.storage.layout import checkpoint_place_in
from trainyard_runtime.tracking.mlflow_client import (
    Metric,
    MlflowRestClient,
    RunInfo,
    TrackingError,
    now_ms,
)
from trainyard_wire.spec import InitFromUri, JobSpec

RunStatus = Literal["FINISHED", "FAILED", "KILLED"]
DEFAULT_EXPERIMENT_PREFIX = "trainyard/"


class TrackingSink(Protocol):
    def tracking(self, **fields: Any) -> None: ...


class Tracker(Protocol):
    @property
    def run(self) -> RunInfo | None: ...
    def start(self, job_id: str, spec: JobSpec) -> None: ...
    def epoch(self, epoch: int, metrics: Mapping[str, float | None]) -> None: ...
    def checkpoint(self, local: Path, filename: str) -> None: ...
    def finish(self, status: RunStatus) -> None: ...


class NullTracker:
    """Used when no tracking server is configured."""

    @property
    def run(self) -> RunInfo | None:
        return None

    def start(self, job_id: str, spec: JobSpec) -> None:
        pass

    def epoch(self, epoch: int, metrics: Mapping[str, float | None]) -> None:
        pass

    def checkpoint(self, local: Path, filename: str) -> None:
        pass

    def finish(self, status: RunStatus) -> None:
        pass


def flatten_params(value: Any, prefix: str = "") -> dict[str, str]:
    """`{"hyperparams": {"epochs": 3}}` -> `{"hyperparams.epochs": "3"}`; lists stay JSON."""
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for key, item in value.items():
            out.update(flatten_params(item, f"{prefix}{key}."))
        return out
    key = prefix.rstrip(".")
    return {key: value if isinstance(value, str) else json.dumps(value)} if key else {}


def lineage_tags(spec: JobSpec) -> dict[str, str]:
    """A fine-tuned run's tags: the checkpoint it started from and that checkpoint's job."""
    if not isinstance(spec.init_from, InitFromUri):
        return {}
    tags = {"trainyard.init_from": spec.init_from.uri}
    place = checkpoint_place_in(spec.init_from.uri)
    if place is not None:
        tags["trainyard.init_from_job"] = place.job_id
    return tags


class RunTracker:
    def __init__(
        self,
        client: MlflowRestClient,
        sink: TrackingSink,
        *,
        experiment_prefix: str = DEFAULT_EXPERIMENT_PREFIX,
        ui_url: str | None = None,
        continue_run_id: str | None = None,
    ) -> None:
        self._client = client
        self._continue_run_id = continue_run_id
        self._sink = sink
        self._prefix = experiment_prefix
        self._ui_url = (ui_url or client.tracking_uri).rstrip("/")
        self._run: RunInfo | None = None
        self._failed = False
        self._finished = False

    @property
    def run(self) -> RunInfo | None:
        return self._run

    @property
    def url(self) -> str | None:
        if self._run is None:
            return None
        return f"{self._ui_url}/#/experiments/{self._run.experiment_id}/runs/{self._run.run_id}"

    def start(self, job_id: str, spec: JobSpec) -> None:
        self._attempt("start the MLflow run", lambda: self._start(job_id, spec))

    def _start(self, job_id: str, spec: JobSpec) -> None:
        note = None
        if self._continue_run_id:
            problem = self._reopen(job_id, self._continue_run_id)
            if problem is None:
                self._sink.tracking(**self._where())
                return
            note = f"could not continue MLflow run {self._continue_run_id}: {problem}"
            print(
                f"[trainyard] MLflow tracking: {note}; starting a new run",
                file=sys.stderr,
                flush=True,
            )
        experiment_id = self._client.get_or_create_experiment(f"{self._prefix}{spec.project}")
        name = spec.name or job_id
        tags = {
            "trainyard.job_id": job_id,
            "trainyard.framework": spec.framework,
            "trainyard.model": spec.model,
            "trainyard.task": spec.task,
            "trainyard.project": spec.project,
            "mlflow.runName": name,
            **lineage_tags(spec),
        }
        self._run = self._client.create_run(experiment_id, name, tags)
        # Report the link first: if logging params fails, the job still points at the run.
        where = self._where()
        if note:  # the job points at the new run, and says why it is not the earlier one
            where["error"] = note[:2000]
        self._sink.tracking(**where)
        params = flatten_params(spec.model_dump(mode="json"))
        self._client.log_batch(self._run.run_id, params=params)

    def _reopen(self, job_id: str, run_id: str) -> str | None:
        """Set an earlier attempt's run RUNNING again and log into it; why not, if it can't be.

        Its params are not logged again: they are the first attempt's, and MLflow refuses a
        changed value (a retry's `resume_from` differs).
        """
        try:
            found = self._client.get_run(run_id)
            if found is None:
                return "the tracking server has no such run"
            if found.lifecycle_stage != "active":
                return f"the run is {found.lifecycle_stage}"
            if found.tags.get("trainyard.job_id") != job_id:
                return f"the run is not one of job {job_id}"
            self._client.update_run(run_id, "RUNNING")
        except TrackingError as exc:
            return str(exc)
        self._run = found.info
        return None

    def epoch(self, epoch: int, metrics: Mapping[str, float | None]) -> None:
        run = self._run
        if run is None:
            return
        at = now_ms()
        batch = [Metric(k, float(v), epoch, at) for k, v in metrics.items() if v is not None]
        self._attempt(
            f"log the metrics of epoch {epoch}",
            lambda: self._client.log_batch(run.run_id, metrics=batch),
        )

    def checkpoint(self, local: Path, filename: str) -> None:
        run = self._run
        if run is None:
            return
        self._attempt(
            f"upload checkpoint {filename}",
            lambda: self._client.upload_artifact(
                run.artifact_uri, local, f"checkpoints/{filename}"
            ),
        )

    def finish(self, status: RunStatus) -> None:
        """Close the run. Not in a `finally`: if a stop request interrupts the update, the
        runner's KILLED call after it still finds the client open."""
        if self._finished:
            return
        if self._run is not None:
            run_id = self._run.run_id
            self._attempt(
                f"mark the MLflow run {status}",
                lambda: self._client.update_run(run_id, status),
                even_after_error=True,
            )
        self._finished = True
        self._client.close()

    # -- internals --------------------------------------------------------------------------
    def _where(self) -> dict[str, str]:
        if self._run is None:
            return {}
        url = self.url or ""
        return {"run_id": self._run.run_id, "experiment_id": self._run.experiment_id, "url": url}

    def _attempt(
        self, action: str, call: Callable[[], None], *, even_after_error: bool = False
    ) -> None:
        if self._failed and not even_after_error:
            return
        try:
            call()
        except TrackingError as exc:
            message = f"could not {action}: {exc}"
            print(f"[trainyard] MLflow tracking: {message}", file=sys.stderr, flush=True)
            if not self._failed:
                self._failed = True
                self._sink.tracking(error=message[:2000], **self._where())
