"""A job spec from a YAML/JSON job file and command-line flags, the flags winning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import typer


def load_job_file(path: Path) -> dict[str, Any]:
    """A YAML or JSON file holding one job spec (JSON is YAML too)."""
    import yaml  # here, not at the top: every command would pay for its import otherwise

    try:
        spec = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise typer.BadParameter(
            f"cannot read {path}: {exc.strerror}", param_hint="--file"
        ) from None
    except yaml.YAMLError as exc:
        raise typer.BadParameter(
            f"{path} is not valid YAML or JSON: {exc}", param_hint="--file"
        ) from None
    if not isinstance(spec, dict):
        raise typer.BadParameter(f"{path} must hold one job spec (a mapping)", param_hint="--file")
    dataset = spec.get("dataset")
    if isinstance(dataset, dict) and isinstance(dataset.get("uri"), str):
        dataset["uri"] = local_dataset_uri(dataset["uri"], path.parent)
    return spec


def parse_option(text: str) -> tuple[list[str], Any]:
    """`key=value` as a path into `options` and a value: JSON where it parses (`3`, `true`,
    `0.5`, `[1, 2]`), a string otherwise; `a.b=1` sets a nested key."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise typer.BadParameter(f"{text!r} is not key=value", param_hint="--option")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return [part.strip() for part in key.split(".")], value


def local_dataset_uri(uri: str, base: Path) -> str:
    """A relative folder that exists here becomes absolute: the gateway resolves paths from
    its own working directory, not the caller's. Ids, URIs and absolute paths stay as given."""
    if urlparse(uri).scheme or Path(uri).is_absolute() or uri.startswith("ds-"):
        return uri
    candidate = base / uri
    return str(candidate.resolve()) if candidate.exists() else uri


def _set(target: dict[str, Any], path: list[str], value: Any) -> None:
    for key in path[:-1]:
        child = target.get(key)
        if not isinstance(child, dict):
            child = target[key] = {}
        target = child
    target[path[-1]] = value


def build_spec(base: dict[str, Any], flags: dict[str, Any], options: list[str]) -> dict[str, Any]:
    """`base` (from a job file) with every flag that was given laid over it; `flags` maps a
    dotted spec path (`hyperparams.epochs`) to a value or None (not given)."""
    spec = json.loads(json.dumps(base))  # a deep copy: the file's mapping stays as read
    for dotted, value in flags.items():
        if value is not None:
            _set(spec, dotted.split("."), value)
    for text in options:
        path, value = parse_option(text)
        _set(spec, ["options", *path], value)
    return spec


def parse_init_from(text: str) -> dict[str, Any]:
    """`--init-from`: `job-…` or `job-…:last`, `NAME@VERSION` (a registered model), or a
    checkpoint's storage key or URI."""
    if text.startswith("job-"):
        job, _, checkpoint = text.partition(":")
        return {"job": job, "checkpoint": checkpoint or "best"}
    name, at, version = text.rpartition("@")
    if at and name and version.isdigit() and "/" not in text:
        return {"model": name, "version": int(version)}
    return {"uri": text}
