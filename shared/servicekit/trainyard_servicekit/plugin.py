"""What a framework tells the service factory about itself, and spec checks built on it."""

from __future__ import annotations

import difflib
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from trainyard_runtime.training.datasets import (
    DATA_FILE_SUFFIXES,
    SUPPORTED_DATASET_URIS,
    local_dataset_problem,
)
from trainyard_runtime.training.torch_env import device_description, package_versions
from trainyard_servicekit.distributed_checks import distributed_problems
from trainyard_servicekit.weights_support import WeightsSupport
from trainyard_wire.errors import describe_errors
from trainyard_wire.runs import SERVICE_PORTS, Capabilities, DistributedSupport, TaskSupport
from trainyard_wire.spec import JobSpec


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


def suggest(given: str, known: list[str], limit: int = 40) -> list[str]:
    """Names to show for an unknown one: the closest first, then the rest up to `limit`."""
    close = difflib.get_close_matches(given, known, n=5, cutoff=0.6)
    shown = close + [name for name in known if name not in close][: limit - len(close)]
    hidden = len(known) - len(shown)
    return shown + ([f"… {hidden} more (GET /v1/frameworks lists all)"] if hidden > 0 else [])


def problem(field: str, message: str, allowed: list[str] | None = None) -> dict[str, Any]:
    """One problem with a spec, as the error body lists it (`allowed`: what would do)."""
    return {"field": field, "message": message, **({"allowed": allowed} if allowed else {})}


def _no_extra_checks(_spec: JobSpec) -> list[dict[str, Any]]:
    return []


@dataclass(frozen=True)
class FrameworkPlugin:
    """A framework's identity: how to train (a module with a train.py) and what it can train."""

    name: str
    tasks: Callable[[], dict[str, TaskSupport]]
    # The packages whose versions the service reports (the framework, torch, …).
    packages: tuple[str, ...] = ()
    options_model: type[BaseModel] = NoOptions
    is_known_model: Callable[[str, str], bool] | None = None  # (task, model) -> bool
    extra_checks: Callable[[JobSpec], list[dict[str, Any]]] = field(default=_no_extra_checks)
    # Heavy imports the checks need, done once before the service answers (see app.py).
    warm_up: Callable[[], None] | None = None
    # `python -m` this to train; default `trainyard_<name>.train`.
    train_module: str = ""
    # What the warm runner imports once, before it forks runs (executors/warm_runner.py):
    # slow imports every run makes, none that touches CUDA or starts a thread.
    warm_imports: tuple[str, ...] = ()
    versions: Callable[[], dict[str, str]] = dict  # more versions than `packages` give
    device: Callable[[], str] = device_description
    # Pretrained weights: their name in the tiers, whether the framework publishes them, how
    # to load them (None: the framework has none, so pretrained=true needs seeded weights).
    weights: WeightsSupport | None = None
    # Where the service listens without PORT; the platform's frameworks have theirs in the wire.
    default_port: int = 0
    # How it spreads one job over processes and nodes; by default it does not.
    distributed: DistributedSupport = field(default_factory=DistributedSupport)
    # task -> the formats an export job of that task may ask for (none: the task has no export).
    export_formats: Callable[[str], list[str]] = field(default=lambda _task: [])
    # (checkpoint file, the training job's spec) -> a loaded model that predicts
    # (trainyard_servicekit.model_cache.Predictor); None: the framework does not predict.
    predictor: Callable[[Path, JobSpec], Any] | None = None
    # Whether it runs evaluation jobs (`evaluate`, the module beside its train module).
    evaluates: bool = False

    def __post_init__(self) -> None:
        if not self.train_module:
            object.__setattr__(self, "train_module", f"trainyard_{self.name}.train")
        if not self.default_port:
            if self.name not in SERVICE_PORTS:
                raise ValueError(f"plugin {self.name!r} needs a default_port")
            object.__setattr__(self, "default_port", SERVICE_PORTS[self.name])

    def predict_tasks(self) -> list[str]:
        """The tasks a predictor answers for: every task it trains, when it has one."""
        return sorted(self.tasks()) if self.predictor is not None else []

    def module_for(self, kind: str) -> str:
        """What `python -m` runs for a job of this kind: train.py, or the module named after the
        kind beside it (`trainyard_<name>.export`, `trainyard_<name>.evaluate`)."""
        if kind == "train":
            return self.train_module
        package, _, _ = self.train_module.rpartition(".")
        return f"{package}.{kind}" if package else kind

    def capabilities(self) -> Capabilities:
        return Capabilities(
            framework=self.name,
            tasks={
                task: support.model_copy(update={"export_formats": self.export_formats(task)})
                for task, support in self.tasks().items()
            },
            options_schema=self.options_model.model_json_schema(),
            versions={
                "python": platform.python_version(),
                **package_versions(*self.packages),
                **self.versions(),
            },
            device=self.device(),
            distributed=self.distributed,
        )

    def check(
        self, spec: JobSpec, tasks: dict[str, TaskSupport], datasets_here: bool = False
    ) -> list[dict[str, Any]]:
        """Problems with a spec this framework cannot serve; empty when it can.

        `datasets_here`: the run will see this machine's files, so a local dataset path must
        exist here (the service says so for its subprocess runs; a Kubernetes pod has its own).
        """
        if spec.framework != self.name:
            return [{"field": "framework", "message": f"this service trains {self.name!r}"}]
        support = tasks.get(spec.task)
        if support is None:
            return [
                {
                    "field": "task",
                    "message": f"{self.name} does not do {spec.task!r}",
                    "allowed": sorted(tasks),
                }
            ]
        problems: list[dict[str, Any]] = []
        if spec.dataset.format not in support.dataset_formats:
            per_task = "; ".join(
                f"{task}: {', '.join(each.dataset_formats)}" for task, each in sorted(tasks.items())
            )
            problems.append(
                problem(
                    "dataset.format",
                    f"{self.name} does not train {spec.task} from {spec.dataset.format} data "
                    f"(its formats per task: {per_task})",
                    support.dataset_formats,
                )
            )
        elif datasets_here:
            problems += self._local_dataset_problems(spec)
        known = (
            self.is_known_model(spec.task, spec.model)
            if self.is_known_model
            else spec.model in support.models
        )
        if not known:
            problems.append(
                {
                    "field": "model",
                    "message": f"unknown {self.name} model {spec.model!r} for {spec.task}",
                    "allowed": suggest(spec.model, support.models),
                }
            )
        try:
            self.options_model.model_validate(spec.options)
        except ValidationError as exc:
            for item in describe_errors(exc.errors(), self.options_model):
                item["field"] = f"options.{item['field']}"
                problems.append(item)
        return (
            problems
            + self._early_stopping_problems(spec, support)
            + distributed_problems(self.name, self.distributed, spec)
            + self._export_problems(spec)
            + self._evaluate_problems(spec)
            + self.extra_checks(spec)
        )

    def _evaluate_problems(self, spec: JobSpec) -> list[dict[str, Any]]:
        if spec.kind != "evaluate" or self.evaluates:
            return []
        kinds = ["train", "export"] if any(map(self.export_formats, self.tasks())) else ["train"]
        return [problem("kind", f"{self.name} does not evaluate models", kinds)]

    def _export_problems(self, spec: JobSpec) -> list[dict[str, Any]]:
        """An export job must ask for a format this framework exports the task to."""
        if spec.export is None:
            return []
        formats = self.export_formats(spec.task)
        if spec.export.format in formats:
            return []
        return [
            problem(
                "export.format",
                f"{self.name} does not export {spec.task} models to {spec.export.format}"
                if formats
                else f"{self.name} does not export {spec.task} models",
                formats,
            )
        ]

    def _local_dataset_problems(self, spec: JobSpec) -> list[dict[str, Any]]:
        """A local dataset path must name what exists on the machine the run will see."""
        found = local_dataset_problem(spec.dataset.uri, spec.dataset.format)
        if found is None:
            return []
        folder = "a folder" + (
            f" (or its data file, *{' / *'.join(DATA_FILE_SUFFIXES)})"
            if spec.dataset.format == "yolo"
            else ""
        )
        return [
            problem(
                "dataset.uri",
                f"{found} on the {self.name} service's machine, where the job would train",
                [f"{folder} that exists there", SUPPORTED_DATASET_URIS],
            )
        ]

    def _early_stopping_problems(self, spec: JobSpec, support: TaskSupport) -> list[dict[str, Any]]:
        """early_stopping.metric must be one this framework reports per epoch for the task."""
        rule = spec.early_stopping
        if rule is None or rule.metric in support.metrics:
            return []
        if not support.metrics:
            return [
                problem(
                    "early_stopping.metric",
                    f"{self.name} does not declare the metrics of {spec.task}: "
                    "early stopping is unavailable",
                )
            ]
        return [
            problem(
                "early_stopping.metric",
                f"{self.name} reports no metric {rule.metric!r} for {spec.task}",
                support.metrics,
            )
        ]
