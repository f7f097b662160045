"""Compare jobs: what differs in their specs, and each metric's final and best value.

Plain functions over the gateway's answers (`JobView`, `Metrics`), so that they are tested
without a server. The dashboard's compare page (`dashboard/static/js/compare.js`) applies the
same rules:

- a spec is flattened to dotted keys (`hyperparams.learning_rate`); lists are compared whole,
  an empty mapping adds no key, and a key one job lacks counts as `None` for it;
- a metric whose name contains "loss" is minimised, every other one maximised;
- the final value is the last epoch's known value, the best one the minimum or maximum of all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trainyard_wire.jobs import JobView, Metrics


def flatten(spec: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"a": {"b": 1}}` as `{"a.b": 1}`."""
    flat: dict[str, Any] = {}
    for key, value in spec.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def spec_differences(specs: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """The dotted keys whose values are not the same in every spec, with each spec's value."""
    flat = [flatten(spec) for spec in specs]
    keys = sorted({key for each in flat for key in each})
    differences: dict[str, list[Any]] = {}
    for key in keys:
        values = [each.get(key) for each in flat]
        if any(not _same(value, values[0]) for value in values[1:]):
            differences[key] = values
    return differences


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values: `true` is not `1` (Python's `True == 1` is), `1` is `1.0`."""
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def is_minimised(metric: str) -> bool:
    """Losses are better low; accuracy, mAP, F1 and the rest better high."""
    return "loss" in metric.lower()


@dataclass(frozen=True)
class MetricSummary:
    final: float | None
    best: float | None


def summarize(metric: str, series: Sequence[tuple[int, float | None]]) -> MetricSummary:
    """The last known value of a metric's per-epoch series, and its best."""
    known = [value for _, value in series if value is not None]
    if not known:
        return MetricSummary(None, None)
    return MetricSummary(known[-1], min(known) if is_minimised(metric) else max(known))


@dataclass(frozen=True)
class Comparison:
    jobs: list[JobView]
    spec_differences: dict[str, list[Any]]
    # metric -> one summary per job, in the order of `jobs` (None: the job never reported it)
    metrics: dict[str, list[MetricSummary | None]]

    def as_json(self) -> dict[str, Any]:
        """`{"jobs": [ids], "spec_differences": {key: {id: value}}, "metrics": {name: {id:
        {"final", "best"}}}}`."""
        ids = [job.id for job in self.jobs]
        return {
            "jobs": ids,
            "spec_differences": {
                key: dict(zip(ids, values, strict=True))
                for key, values in self.spec_differences.items()
            },
            "metrics": {
                name: {
                    job_id: None if each is None else {"final": each.final, "best": each.best}
                    for job_id, each in zip(ids, summaries, strict=True)
                }
                for name, summaries in self.metrics.items()
            },
        }


def compare(jobs: Sequence[JobView], metrics: Sequence[Metrics]) -> Comparison:
    """Jobs and their metrics (in the same order) side by side."""
    if len(jobs) != len(metrics):
        raise ValueError("one Metrics per job")
    names: list[str] = []
    for each in metrics:
        names.extend(name for name in each.series if name not in names)
    return Comparison(
        jobs=list(jobs),
        spec_differences=spec_differences([job.spec for job in jobs]),
        metrics={
            name: [
                summarize(name, each.series[name]) if name in each.series else None
                for each in metrics
            ]
            for name in names
        },
    )
