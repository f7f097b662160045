"""The toy framework's capabilities and options.

The service can stand in for another framework's options schema, so that tests see the page
a real schema makes without training that framework: `TOY_FRAMEWORK` names the framework it
serves (default `toy`), `TOY_OPTIONS_MODEL` (`module:Class`) takes that options model from a
real plugin module, and `TOY_EXTRA_OPTIONS` adds options to its schema, a JSON object of
`{name: {type, default, description, minimum, maximum, enum}}`. Options the toy does not act on
are checked by the service like any other and ignored by its train.py. `TOY_COLOUR_MODEL=1` lets
it predict, evaluate and export (the colour rule of `toy_framework.predict`).
`TOY_DISTRIBUTED=1` lets a job run several processes on the CPU (`spec.distributed`): the
service's launcher starts one toy train.py per rank, so its interpreter needs torch (torchrun).
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from trainyard_servicekit import FrameworkPlugin, TaskSupport
from trainyard_wire.runs import DistributedSupport
from trainyard_wire.spec import JobSpec


class ToyOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    epoch_seconds: float = Field(0.05, ge=0, le=60, description="time one epoch takes")
    lines_per_epoch: int = Field(2, ge=0, le=10_000, description="log lines printed per epoch")
    fail_at_epoch: int | None = Field(None, ge=1, description="raise an exception at this epoch")
    hard_exit_at_epoch: int | None = Field(None, ge=1, description="os._exit without reporting")
    exit_code: int = Field(3, ge=1, le=255, description="exit code of a hard exit")
    spawn_child: bool = Field(False, description="start a child process that sleeps")
    write_token: bool = Field(False, description="write the callback token to the work dir")
    ignore_sigterm: bool = Field(False, description="ignore SIGTERM, so only SIGKILL stops it")
    hold_file: str | None = Field(
        None, description="after epoch 1, wait (at most 120 s) until this file exists"
    )


_TYPES: dict[str, type] = {"integer": int, "number": float, "string": str, "boolean": bool}


def _extra_field(spec: Mapping[str, Any]) -> tuple[Any, Any]:
    """A pydantic field from a small JSON description of one option."""
    kind: Any = _TYPES[spec["type"]]
    if spec.get("enum"):
        kind = Literal[tuple(spec["enum"])]
    return kind, Field(
        spec.get("default"),
        ge=spec.get("minimum"),
        le=spec.get("maximum"),
        description=spec.get("description"),
    )


def options_model(environ: Mapping[str, str]) -> type[BaseModel]:
    """The options model `environ` asks for: a real plugin's, or the toy's (plus extras)."""
    if named := environ.get("TOY_OPTIONS_MODEL"):
        module, _, name = named.partition(":")
        model: type[BaseModel] = getattr(importlib.import_module(module), name)
        return model
    extras = json.loads(environ.get("TOY_EXTRA_OPTIONS") or "{}")
    if not extras:
        return ToyOptions
    fields = {name: _extra_field(spec) for name, spec in extras.items()}
    return create_model("ToyOptions", __base__=ToyOptions, **fields)


def _tasks(colour_model: bool) -> dict[str, TaskSupport]:
    """Classification; with the colour model also the tasks it finds boxes for (in images of
    an ImageFolder set, which is all the toy reads)."""
    support = TaskSupport(
        dataset_formats=["imagefolder"],
        models=["counter", "counter-wide"],
        metrics=["loss", "accuracy"],
    )
    more = ("detection", "segmentation", "pose") if colour_model else ()
    return {task: support for task in ("classification", *more)}


def toy_plugin(environ: Mapping[str, str]) -> FrameworkPlugin:
    colour_model = environ.get("TOY_COLOUR_MODEL") == "1"
    return FrameworkPlugin(
        name=environ.get("TOY_FRAMEWORK") or "toy",
        train_module="toy_framework.train",
        default_port=8009,
        tasks=lambda: _tasks(colour_model),
        versions=lambda: {"toy": "1.0"},
        device=lambda: "cpu",
        options_model=options_model(environ),
        warm_imports=("toy_framework.plugin",),
        # TOY_COLOUR_MODEL=1: it predicts, evaluates and exports (toy_framework.predict says
        # how; the export needs an interpreter with torch and onnxruntime);
        # without it, the toy stands for a framework that only trains.
        predictor=_toy_predictor if colour_model else None,
        evaluates=colour_model,
        export_formats=lambda task: (
            ["onnx", "torchscript"] if colour_model and task == "classification" else []
        ),
        distributed=DistributedSupport(cpu_processes=environ.get("TOY_DISTRIBUTED") == "1"),
    )


def _toy_predictor(checkpoint: Path, spec: JobSpec) -> Any:
    from toy_framework.predict import ToyPredictor

    return ToyPredictor(checkpoint, spec)


PLUGIN = toy_plugin({})


def plugin_from_environment() -> FrameworkPlugin:
    return toy_plugin(os.environ)
