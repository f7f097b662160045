"""The storage layout: a checkpoint's key is built and read in one module."""

from __future__ import annotations

import pytest

from trainyard_runtime.storage.layout import CheckpointPlace, checkpoint_key, parse_checkpoint_key


def test_a_checkpoint_key_reads_back_as_what_built_it() -> None:
    key = checkpoint_key("shapes", "job-0123", "last.pt")
    assert key == "checkpoints/projects/shapes/jobs/job-0123/last.pt"
    assert parse_checkpoint_key(key) == CheckpointPlace("shapes", "job-0123", "last.pt")


@pytest.mark.parametrize(
    "key",
    [
        "datasets/ds-1/train/a.png",
        "checkpoints/elsewhere/last.pt",
        "checkpoints/projects/p/runs/job-1/last.pt",
        "checkpoints/projects/p/jobs/job-1/sub/last.pt",
        "checkpoints/projects//jobs/job-1/last.pt",
    ],
)
def test_other_keys_are_no_checkpoint_place(key: str) -> None:
    assert parse_checkpoint_key(key) is None
