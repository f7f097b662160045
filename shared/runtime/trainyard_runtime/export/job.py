"""An export job (`spec.kind == "export"`): fetch the trained model, export it, prove it.

The framework's `export.py` says how to load its checkpoint, prepare validation images the way
its training did, and export (`Prepared`); this module does the rest the same for every
framework: run the exported file in its own runtime next to the PyTorch model, compare
(`parity.py`), store the file as an artifact only when it passed, and put the parity report on
the job's final status either way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from trainyard_runtime.export.parity import (
    ParityReport,
    compare,
    require_parity,
    require_same_metrics,
)
from trainyard_runtime.export.runners import (
    SUFFIXES,
    Runner,
    export_module,
    exported_runner,
    torch_runner,
)
from trainyard_runtime.storage import StorageError
from trainyard_runtime.storage.layout import checkpoint_key
from trainyard_runtime.training.context import TrainingContext
from trainyard_runtime.training.errors import TrainingError
from trainyard_wire.failures import FailureReason
from trainyard_wire.spec import ExportSettings, JobSpec


@dataclass
class Prepared:
    """A framework's trained model, ready to export and to compare against its export."""

    model: Any  # in eval mode: an image batch in, its outputs out
    inputs: list[np.ndarray]  # validation images as the model takes them, each (1, C, H, W)
    classification: bool
    # (format, file to write) -> the file written; by default torch.onnx / torch.jit.trace.
    export: Callable[[str, Path], Path] | None = None
    reference: Runner | None = None  # by default the model called on each image
    notes: dict[str, Any] = field(default_factory=dict)  # e.g. which outputs are compared
    # (exported file) -> the task's metrics of the PyTorch model and of the file on the
    # validation split, e.g. a detector's mAP; compared within `max_map_diff`.
    task_metrics: Callable[[Path], tuple[dict[str, float], dict[str, float]]] | None = None

    def export_to(self, fmt: str, path: Path) -> Path:
        if self.export is not None:
            return self.export(fmt, path)
        return export_module(self.model, fmt, self.inputs[0], path)

    def run_reference(self, image: np.ndarray) -> list[np.ndarray]:
        return (self.reference or torch_runner(self.model))(image)


# (checkpoint file, the job's spec, its dataset folder, how many validation images) -> Prepared
Prepare = Callable[[Path, JobSpec, Path, int], Prepared]


def source_checkpoint(ctx: TrainingContext) -> Path:
    """Download the checkpoint `spec.source` names (its key, or the job's `{best,last}.pt`)."""
    source = ctx.spec.source
    if source is None:
        raise TrainingError(FailureReason.SPEC_UNSUPPORTED, f"a {ctx.spec.kind} job needs source")
    key = source.key or checkpoint_key(ctx.spec.project, source.job_id, f"{source.checkpoint}.pt")
    try:
        if not ctx.storage.exists(key):
            raise TrainingError(
                FailureReason.CHECKPOINT_UNAVAILABLE,
                f"the {source.checkpoint} checkpoint of job {source.job_id}, {key}, is not in "
                f"storage {ctx.storage.root_uri}",
            )
        local = ctx.storage.get_file(key, ctx.work_dir / "source" / PurePosixPath(key).name)
    except (OSError, StorageError) as exc:
        raise TrainingError(
            FailureReason.CHECKPOINT_UNAVAILABLE, f"could not fetch {key}: {exc}"
        ) from exc
    print(f"[trainyard] model: {ctx.storage.uri_for(key)}", flush=True)
    return local


def check_export(prepared: Prepared, exported: Path, settings: ExportSettings) -> ParityReport:
    """Run the exported file in its own runtime and the PyTorch model on the same images."""
    try:
        run = exported_runner(exported, settings.format)
        answers = [run(image) for image in prepared.inputs]
    except Exception as exc:  # the runtime cannot load or run what was written
        raise TrainingError(
            FailureReason.EXPORT_MISMATCH,
            f"the exported {settings.format} file does not run in its runtime: "
            f"{type(exc).__name__}: {str(exc)[:500]}",
        ) from exc
    reference = [prepared.run_reference(image) for image in prepared.inputs]
    return compare(
        reference,
        answers,
        fmt=settings.format,
        atol=settings.atol,
        classification=prepared.classification,
        min_top1_agreement=settings.min_top1_agreement,
    )


def run_export(ctx: TrainingContext, prepare: Prepare) -> dict[str, float]:
    """The whole export job; returns the job's final metrics (the parity figures)."""
    settings = ctx.spec.export
    if settings is None:
        raise TrainingError(FailureReason.SPEC_UNSUPPORTED, "an export job needs export settings")
    checkpoint = source_checkpoint(ctx)
    prepared = prepare(checkpoint, ctx.spec, ctx.dataset_dir, settings.max_images)
    if not prepared.inputs:
        raise TrainingError(
            FailureReason.DATASET_INVALID, "no validation images to check the export on"
        )
    path = ctx.work_dir / "export" / f"model{SUFFIXES[settings.format]}"
    try:
        exported = prepared.export_to(settings.format, path)
    except TrainingError:
        raise
    except Exception as exc:
        raise TrainingError(
            FailureReason.EXPORT_FAILED,
            f"exporting to {settings.format} failed: {type(exc).__name__}: {str(exc)[:2000]}",
        ) from exc
    report = check_export(prepared, exported, settings)
    ctx.result = {
        "format": settings.format,
        "source": ctx.spec.source.model_dump() if ctx.spec.source else None,
        "parity": report.as_dict(),
        **prepared.notes,
    }
    print(f"[trainyard] parity: {report.summary()}", flush=True)
    require_parity(report)
    if prepared.task_metrics is not None:
        reference, measured = prepared.task_metrics(exported)
        ctx.result["task_metrics"] = {"pytorch": reference, "exported": measured}
        require_same_metrics(reference, measured, settings.max_map_diff)
    stored = ctx.save_artifact(exported, f"model{SUFFIXES[settings.format]}", kind="export")
    ctx.result["artifact"] = {"name": PurePosixPath(stored.key).name, "uri": stored.uri}
    final = {
        "parity_max_abs_diff": report.max_abs_diff,
        "parity_mean_abs_diff": report.mean_abs_diff,
    }
    if report.top1_agreement is not None:
        final["parity_top1_agreement"] = report.top1_agreement
    return final
