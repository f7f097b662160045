"""Comparing jobs, in process: flattening specs, the keys that differ, final and best values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from trainyard_client.compare import (
    MetricSummary,
    compare,
    flatten,
    is_minimised,
    spec_differences,
    summarize,
)
from trainyard_wire.jobs import JobView, Metrics

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def job(job_id: str, spec: dict[str, Any]) -> JobView:
    return JobView(
        id=job_id,
        state="succeeded",
        framework="toy",
        task="classification",
        model="counter",
        project="default",
        name=None,
        priority=0,
        executor=None,
        spec=spec,
        progress={"epoch": 2, "total_epochs": 2, "percent": 100, "eta_seconds": None},
        metrics=None,
        error=None,
        queue=None,
        artifacts=[],
        mlflow=None,
        run_id=None,
        cancel_requested=False,
        created_at=NOW,
        updated_at=NOW,
        started_at=NOW,
        finished_at=NOW,
        last_event_at=NOW,
    )


def metrics(job_id: str, series: dict[str, list[tuple[int, float | None]]]) -> Metrics:
    return Metrics(job_id=job_id, epochs=[], series=series)


def test_flatten_gives_dotted_keys_keeps_lists_and_drops_empty_mappings():
    spec = {"model": "counter", "hyperparams": {"epochs": 3, "aug": {"flip": True}}, "options": {}}
    spec["classes"] = [1, 2]
    assert flatten(spec) == {
        "model": "counter",
        "hyperparams.epochs": 3,
        "hyperparams.aug.flip": True,
        "classes": [1, 2],
    }


def test_only_keys_whose_values_differ_are_kept_with_each_jobs_value():
    first = {"model": "counter", "hyperparams": {"epochs": 3, "learning_rate": 0.01}}
    second = {"model": "counter", "hyperparams": {"epochs": 3, "learning_rate": 0.001}}
    third = {"model": "counter", "hyperparams": {"epochs": 3, "learning_rate": 0.01, "seed": 1}}
    assert spec_differences([first, second, third]) == {
        "hyperparams.learning_rate": [0.01, 0.001, 0.01],
        "hyperparams.seed": [None, None, 1],  # missing in two of them
    }
    assert spec_differences([first, dict(first)]) == {}


def test_a_list_differs_as_a_whole():
    assert spec_differences([{"tags": [1, 2]}, {"tags": [1, 3]}]) == {"tags": [[1, 2], [1, 3]]}


def test_values_are_compared_as_json_true_is_not_1_but_1_is_1_0():
    assert spec_differences([{"pretrained": True}, {"pretrained": 1}]) == {"pretrained": [True, 1]}
    assert spec_differences([{"learning_rate": 1}, {"learning_rate": 1.0}]) == {}


@pytest.mark.parametrize(
    ("metric", "minimised"),
    [("loss", True), ("val_loss", True), ("train/box_loss", True), ("Loss", True),
     ("accuracy", False), ("top1", False), ("metrics/mAP50(B)", False)],
)  # fmt: skip
def test_losses_are_minimised_everything_else_maximised(metric, minimised):
    assert is_minimised(metric) is minimised


def test_final_is_the_last_known_value_and_best_depends_on_the_metric():
    series = [(1, 0.5), (2, 0.2), (3, 0.3), (4, None)]
    assert summarize("val_loss", series) == MetricSummary(final=0.3, best=0.2)
    assert summarize("accuracy", series) == MetricSummary(final=0.3, best=0.5)
    assert summarize("accuracy", [(1, None)]) == MetricSummary(None, None)


def test_compare_lines_up_jobs_metrics_and_differences():
    jobs = [
        job("job-a", {"hyperparams": {"epochs": 2, "learning_rate": 0.01}}),
        job("job-b", {"hyperparams": {"epochs": 2, "learning_rate": 0.001}}),
    ]
    comparison = compare(
        jobs,
        [
            metrics("job-a", {"loss": [(1, 0.5), (2, 0.25)], "accuracy": [(1, 0.5), (2, 0.75)]}),
            metrics("job-b", {"loss": [(1, 0.4), (2, 0.45)], "top1": [(1, 0.1), (2, 0.2)]}),
        ],
    )
    assert comparison.as_json() == {
        "jobs": ["job-a", "job-b"],
        "spec_differences": {"hyperparams.learning_rate": {"job-a": 0.01, "job-b": 0.001}},
        "metrics": {
            "loss": {
                "job-a": {"final": 0.25, "best": 0.25},
                "job-b": {"final": 0.45, "best": 0.4},
            },
            "accuracy": {"job-a": {"final": 0.75, "best": 0.75}, "job-b": None},
            "top1": {"job-a": None, "job-b": {"final": 0.2, "best": 0.2}},
        },
    }


def test_compare_needs_metrics_for_every_job():
    with pytest.raises(ValueError, match="one Metrics per job"):
        compare([job("job-a", {})], [])
