"""Continuing a job from a checkpoint (`spec.resume_from`): fetch it, with its best beside it.

The gateway checks `resume_from` and hands train.py a storage key under `checkpoints/`; run by
hand, it may also be a URI under this run's storage. The `best` checkpoint saved next to it comes
along, so a resumed run that never beats the earlier best still ends with that best.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from trainyard_runtime.storage import Storage
from trainyard_runtime.training.checkpoint_fetch import fetching_checkpoint, starting_checkpoint_key
from trainyard_wire.failures import FailureReason


@dataclass(frozen=True)
class ResumePoint:
    key: str  # where the checkpoint lives in storage
    checkpoint: Path  # downloaded here
    best: Path | None  # the best checkpoint saved beside it, downloaded; None if there is none


def resume_key(storage: Storage, resume_from: str) -> str:
    """The storage key `resume_from` names (a key, or a URI under this storage)."""
    return starting_checkpoint_key(
        storage, resume_from, "resume_from", FailureReason.RESUME_INVALID
    )


def best_key_beside(key: str) -> str:
    """`…/last.pt` -> `…/best.pt`: the best checkpoint of the same run."""
    path = PurePosixPath(key)
    return str(path.with_name(f"best{path.suffix}"))


def fetch_resume_point(storage: Storage, resume_from: str, into: Path) -> ResumePoint:
    key = resume_key(storage, resume_from)
    with fetching_checkpoint(storage, key, "to resume from"):
        checkpoint = storage.get_file(key, into / f"resume-{PurePosixPath(key).name}")
        best_key = best_key_beside(key)
        best = None
        if best_key != key and storage.exists(best_key):
            best = storage.get_file(best_key, into / f"resume-{PurePosixPath(best_key).name}")
    print(f"[trainyard] resuming from {storage.uri_for(key)}", flush=True)
    return ResumePoint(key=key, checkpoint=checkpoint, best=best)
