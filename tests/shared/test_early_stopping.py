"""Early stopping in process: the spec field, the stopper's arithmetic, the context that asks it
after each epoch, and the plugin check that names the metrics a framework reports."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tests.toy_framework.plugin import PLUGIN as TOY
from trainyard_runtime.storage import open_storage
from trainyard_runtime.training import TrainingContext
from trainyard_runtime.training.early_stopping import EarlyStopper
from trainyard_runtime.training.offline_sink import OfflineSink
from trainyard_wire.spec import EarlyStopping, JobSpec

BASE: dict[str, Any] = {
    "framework": "toy",
    "task": "classification",
    "model": "counter",
    "dataset": {"uri": "/data/shapes", "format": "imagefolder"},
}


def stopper(**rule: Any) -> EarlyStopper:
    return EarlyStopper(EarlyStopping.model_validate(rule))


def stops(s: EarlyStopper, values: list[float | None], metric: str = "m") -> list[bool]:
    return [s.update(epoch, {metric: v}) for epoch, v in enumerate(values, start=1)]


def test_the_mode_defaults_by_name_and_bounds_are_checked() -> None:
    assert EarlyStopping(metric="val_loss").mode == "min"
    assert EarlyStopping(metric="val/mAP50-95").mode == "max"
    assert EarlyStopping(metric="val_loss", mode="max").mode == "max"
    for bad in ({"patience": 0}, {"min_delta": -1}, {"mode": "up"}, {"metric": ""}):
        with pytest.raises(ValidationError):
            EarlyStopping.model_validate({"metric": "top1", **bad})
    spec = JobSpec.model_validate({**BASE, "early_stopping": {"metric": "loss", "patience": 2}})
    assert spec.model_dump()["early_stopping"] == {
        "metric": "loss",
        "mode": "min",
        "patience": 2,
        "min_delta": 0.0,
    }


def test_max_mode_counts_epochs_without_improvement() -> None:
    s = stopper(metric="m", mode="max", patience=2)
    assert stops(s, [0.1, 0.3, 0.3, 0.2]) == [False, False, False, True]
    assert (s.best, s.best_epoch) == (0.3, 2)


def test_min_mode_and_an_improvement_resets_the_count() -> None:
    s = stopper(metric="m", mode="min", patience=2)
    assert stops(s, [1.0, 1.1, 0.5, 0.6, 0.7]) == [False, False, False, False, True]
    assert s.best_epoch == 3


def test_min_delta_an_improvement_must_beat() -> None:
    s = stopper(metric="m", mode="max", patience=2, min_delta=0.1)
    assert stops(s, [0.5, 0.55, 0.6]) == [False, False, True]  # 0.6 is not > 0.5 + 0.1
    assert s.best_epoch == 1
    s = stopper(metric="m", mode="min", patience=1, min_delta=0.1)
    assert stops(s, [1.0, 0.85, 0.8]) == [False, False, True]
    assert s.best_epoch == 2


def test_missing_none_and_nan_values_count_as_no_improvement() -> None:
    s = stopper(metric="m", mode="max", patience=3)
    assert stops(s, [None, math.nan, 0.2, math.inf, 0.1, None]) == [False] * 5 + [True]
    assert (s.best, s.best_epoch) == (0.2, 3)
    s = stopper(metric="m", mode="max", patience=2)
    assert stops(s, [0.9, 0.9], metric="other") == [False, True]
    assert s.best_epoch is None
    assert s.stopped_at(2).best_epoch is None


def context(tmp_path: Path, epochs: int, **rule: Any) -> TrainingContext:
    spec = JobSpec.model_validate(
        {**BASE, "hyperparams": {"epochs": epochs}, "early_stopping": rule or None}
    )
    return TrainingContext(
        job_id="job-es",
        spec=spec,
        dataset_dir=tmp_path,
        work_dir=tmp_path,
        storage=open_storage(tmp_path.as_uri()),
        reporter=OfflineSink(),
    )


def test_the_context_stops_before_the_last_epoch_only(tmp_path: Path) -> None:
    ctx = context(tmp_path, 6, metric="accuracy", patience=2, min_delta=10.0)
    assert [ctx.epoch_end(e, {"accuracy": 0.1 * e}) for e in (1, 2, 3)] == [False, False, True]
    assert ctx.stopped_early is not None
    assert (ctx.stopped_early.epoch, ctx.stopped_early.best_epoch) == (3, 1)
    assert "accuracy" in ctx.stopped_early.reason and "patience 2" in ctx.stopped_early.reason

    ctx = context(tmp_path, 3, metric="accuracy", patience=2, min_delta=10.0)
    assert [ctx.epoch_end(e, {"accuracy": 0.5}) for e in (1, 2, 3)] == [False, False, False]
    assert ctx.stopped_early is None  # stalled at the last epoch: the run simply ends

    ctx = context(tmp_path, 6)
    assert ctx.early_stopper is None
    assert not any(ctx.epoch_end(e, {"accuracy": 0.5}) for e in range(1, 7))


def test_the_plugin_refuses_a_metric_its_framework_does_not_report() -> None:
    tasks = TOY.tasks()
    ok = JobSpec.model_validate({**BASE, "early_stopping": {"metric": "accuracy"}})
    assert TOY.check(ok, tasks) == []
    bad = JobSpec.model_validate({**BASE, "early_stopping": {"metric": "top1"}})
    assert TOY.check(bad, tasks) == [
        {
            "field": "early_stopping.metric",
            "message": "toy reports no metric 'top1' for classification",
            "allowed": ["loss", "accuracy"],
        }
    ]
