"""Fine-tuning (`spec.init_from`): fetch the checkpoint a new training starts from.

Unlike resuming, only the weights are taken: the optimizer, schedule and epoch start fresh.
The gateway resolves a job, a registered model version or a key to the checkpoint's URI in
this deployment's storage, so train.py needs no gateway lookup. Each framework loads the
weights in its own format and, when the classes differ, re-initialises the classification head
(`head_changes` says so in the job's log).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from trainyard_runtime.storage import Storage
from trainyard_runtime.training.checkpoint_fetch import fetching_checkpoint, starting_checkpoint_key
from trainyard_runtime.training.errors import TrainingError
from trainyard_wire.failures import FailureReason
from trainyard_wire.spec import InitFromUri, JobSpec


@dataclass(frozen=True)
class InitPoint:
    key: str  # where the checkpoint lives in storage
    checkpoint: Path  # downloaded here


def init_uri(spec: JobSpec) -> str | None:
    """The checkpoint URI the gateway resolved `init_from` to (None without init_from).

    A job id or registry reference reaching train.py unresolved means it was started by hand:
    say what to give instead.
    """
    value = spec.init_from
    if value is None:
        return None
    if not isinstance(value, InitFromUri):
        raise TrainingError(
            FailureReason.CHECKPOINT_INVALID,
            f"init_from {value.model_dump()} must be resolved by the gateway: run train.py by "
            "hand with init_from {'uri': '<checkpoint key or URI in this storage>'}",
        )
    return value.uri


def fetch_init_point(storage: Storage, uri: str, into: Path) -> InitPoint:
    key = starting_checkpoint_key(storage, uri, "init_from", FailureReason.CHECKPOINT_INVALID)
    with fetching_checkpoint(storage, key, "to fine-tune from"):
        local = storage.get_file(key, into / f"init-{PurePosixPath(key).name}")
    print(f"[trainyard] fine-tuning from {storage.uri_for(key)}", flush=True)
    return InitPoint(key=key, checkpoint=local)


def _classes(count: int) -> str:
    return f"{count} class" if count == 1 else f"{count} classes"


def head_changes(source_classes: Sequence[str] | None, classes: Sequence[str]) -> bool:
    """Whether the head must be re-initialised (the classes differ), said in the job's log."""
    if source_classes is not None and list(source_classes) == list(classes):
        print(
            f"[trainyard] head kept: the same {len(classes)} classes as the source model",
            flush=True,
        )
        return False
    before = "unknown classes" if source_classes is None else _classes(len(source_classes))
    same_count = source_classes is not None and len(source_classes) == len(classes)
    why = " (same count, other class names)" if same_count else ""
    print(
        f"[trainyard] head re-initialised: {before} → {_classes(len(classes))}{why}; "
        "backbone weights kept",
        flush=True,
    )
    return True
