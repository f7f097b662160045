"""Fetching the checkpoint a run starts from (`resume_from`, `init_from`): one storage key or
URI under this run's storage, checked before anything is read, then downloaded. Failures say
what the checkpoint was wanted for and carry the reason the job fails with."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from trainyard_runtime.storage import Storage, StorageError, UnsafeKeyError
from trainyard_runtime.storage.base import check_key
from trainyard_runtime.training.errors import TrainingError
from trainyard_wire.failures import FailureReason


def starting_checkpoint_key(
    storage: Storage, value: str, field: str, invalid: FailureReason
) -> str:
    """The storage key `value` (a key, or a URI under this storage) names; otherwise the run
    fails with `invalid`, naming the spec's `field`."""
    try:
        return storage.key_for(value) if "://" in value else check_key(value)
    except UnsafeKeyError as exc:
        raise TrainingError(
            invalid, f"{field} {value!r} is not a checkpoint in this storage: {exc}"
        ) from None


@contextmanager
def fetching_checkpoint(storage: Storage, key: str, purpose: str) -> Iterator[None]:
    """Around the download of `key` (and of files saved beside it): a missing `key` or a failed
    read fails the run with checkpoint_unavailable; `purpose` is "to resume from" or the like."""
    try:
        if not storage.exists(key):
            raise TrainingError(
                FailureReason.CHECKPOINT_UNAVAILABLE,
                f"the checkpoint {purpose}, {key}, is not in storage {storage.root_uri}",
            )
        yield
    except (OSError, StorageError) as exc:
        raise TrainingError(
            FailureReason.CHECKPOINT_UNAVAILABLE,
            f"could not fetch the checkpoint {key} {purpose}: {exc}",
        ) from exc
