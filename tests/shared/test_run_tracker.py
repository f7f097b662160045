"""The run tracker against a real `mlflow server`: a retried attempt goes on in its job's run."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import mlflow
import pytest

from tests.support.server_mlflow import MlflowServer
from trainyard_runtime.tracking import MlflowRestClient, RunTracker
from trainyard_wire.spec import JobSpec


class Sink:
    """Keeps the tracking events a tracker reports."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def tracking(self, **fields: Any) -> None:
        self.events.append(fields)


def job_spec(**overrides: Any) -> JobSpec:
    return JobSpec.model_validate(
        {
            "framework": "toy",
            "task": "classification",
            "model": "counter",
            "dataset": {"uri": "/data/shapes", "format": "imagefolder"},
            "project": f"tracker-{uuid.uuid4().hex[:8]}",  # one experiment per test
            **overrides,
        }
    )


@pytest.fixture
def tracker(mlflow_server: MlflowServer) -> Iterator[Callable[..., RunTracker]]:
    """`tracker(sink, continue_run_id=None)`: a tracker with its own client, closed at the end
    (a killed attempt never closes its own)."""
    clients: list[MlflowRestClient] = []

    def make(sink: Sink, continue_run_id: str | None = None) -> RunTracker:
        clients.append(MlflowRestClient(mlflow_server.url))
        return RunTracker(clients[-1], sink, continue_run_id=continue_run_id)

    yield make
    for client in clients:
        client.close()


def loss_history(server: MlflowServer, run_id: str) -> list[tuple[int, float]]:
    official = mlflow.MlflowClient(tracking_uri=server.url)
    return sorted((m.step, m.value) for m in official.get_metric_history(run_id, "loss"))


@pytest.mark.parametrize("first_status", ["FAILED", None])  # None: killed, the run left RUNNING
def test_a_retried_attempt_goes_on_in_its_jobs_run(
    mlflow_server: MlflowServer, tracker: Callable[..., RunTracker], first_status: str | None
) -> None:
    spec = job_spec()
    first_sink = Sink()
    first = tracker(first_sink)
    first.start("job-retried", spec)
    for epoch in (1, 2):
        first.epoch(epoch, {"loss": 1 / epoch})
    if first_status:
        first.finish(first_status)  # type: ignore[arg-type]
    assert first.run is not None
    run_id = first.run.run_id

    # The retry resumes from a checkpoint, so its spec differs from the one logged as params.
    retried = job_spec(project=spec.project, resume_from="checkpoints/x/last.bin")
    sink = Sink()
    second = tracker(sink, continue_run_id=run_id)
    second.start("job-retried", retried)
    assert second.run == first.run
    official = mlflow.MlflowClient(tracking_uri=mlflow_server.url)
    assert official.get_run(run_id).info.status == "RUNNING"
    for epoch in (3, 4):
        second.epoch(epoch, {"loss": 1 / epoch})
    second.finish("FINISHED")

    run = official.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.info.end_time is not None and run.info.end_time >= run.info.start_time
    assert loss_history(mlflow_server, run_id) == [(1, 1.0), (2, 0.5), (3, 1 / 3), (4, 0.25)]
    assert run.data.params["resume_from"] == "null"  # the first attempt's params, kept
    experiment = official.get_experiment_by_name(f"trainyard/{spec.project}")
    assert experiment is not None
    assert [r.info.run_id for r in official.search_runs([experiment.experiment_id])] == [run_id]
    assert sink.events == [first_sink.events[0]]  # the same link, and no error
    assert "error" not in sink.events[0]


@pytest.mark.parametrize(
    ("run_id", "why"),
    [
        ("0" * 32, "the tracking server has no such run"),
        ("other", "the run is not one of job job-retried"),
        ("deleted", "the run is deleted"),
    ],
)
def test_a_run_that_cannot_be_continued_gives_way_to_a_new_one(
    mlflow_server: MlflowServer,
    tracker: Callable[..., RunTracker],
    capsys: pytest.CaptureFixture[str],
    run_id: str,
    why: str,
) -> None:
    spec = job_spec()
    official = mlflow.MlflowClient(tracking_uri=mlflow_server.url)
    if run_id in ("other", "deleted"):
        earlier = tracker(Sink())
        earlier.start("job-other" if run_id == "other" else "job-retried", spec)
        earlier.finish("FAILED")
        assert earlier.run is not None
        run_id = earlier.run.run_id
        if why.endswith("deleted"):
            official.delete_run(run_id)

    sink = Sink()
    second = tracker(sink, continue_run_id=run_id)
    second.start("job-retried", spec)
    second.epoch(1, {"loss": 1.0})
    second.finish("FINISHED")

    assert second.run is not None and second.run.run_id != run_id
    (event,) = sink.events
    assert event["run_id"] == second.run.run_id
    assert event["error"] == f"could not continue MLflow run {run_id}: {why}"
    assert f"could not continue MLflow run {run_id}" in capsys.readouterr().err
    new = official.get_run(second.run.run_id)
    assert new.info.status == "FINISHED" and new.data.tags["trainyard.job_id"] == "job-retried"
    assert new.data.params["framework"] == "toy"  # a new run gets the params
    assert loss_history(mlflow_server, second.run.run_id) == [(1, 1.0)]
