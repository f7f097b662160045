"""Experiment tracking for training runs: MLflow over its REST API (no `mlflow` package)."""

from __future__ import annotations

from trainyard_runtime.tracking.mlflow_client import MlflowRestClient, RunInfo, TrackingError
from trainyard_runtime.tracking.run_tracker import (
    DEFAULT_EXPERIMENT_PREFIX,
    NullTracker,
    RunStatus,
    RunTracker,
    Tracker,
    TrackingSink,
)


def open_tracker(
    tracking_uri: str | None,
    sink: TrackingSink,
    *,
    ui_url: str | None = None,
    experiment_prefix: str = DEFAULT_EXPERIMENT_PREFIX,
    continue_run_id: str | None = None,
) -> Tracker:
    """A tracker for the run: MLflow when a tracking URI is set, otherwise one that does nothing.

    `continue_run_id`: the MLflow run of the job's earlier attempt, which this one goes on in.
    """
    if not tracking_uri:
        return NullTracker()
    client = MlflowRestClient(tracking_uri)
    return RunTracker(
        client,
        sink,
        experiment_prefix=experiment_prefix,
        ui_url=ui_url,
        continue_run_id=continue_run_id,
    )


__all__ = [
    "DEFAULT_EXPERIMENT_PREFIX",
    "MlflowRestClient",
    "NullTracker",
    "RunInfo",
    "RunStatus",
    "RunTracker",
    "Tracker",
    "TrackingError",
    "open_tracker",
]
