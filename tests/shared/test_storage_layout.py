"""The storage layout: a checkpoint's key is built and read in one module."""

from __future__ import annotations

import pytest

from trainyard_runtime.storage.layout import (
    CheckpointPlace,
    PretrainedPlace,
    checkpoint_key,
    parse_checkpoint_key,
    parse_pretrained_key,
    pretrained_key,
    pretrained_prefix,
)


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


def test_a_pretrained_key_reads_back_with_a_hub_id_as_one_part() -> None:
    key = pretrained_key("huggingface", "google/vit-base", "config.json")
    assert key == "models/pretrained/huggingface/google--vit-base/config.json"
    assert parse_pretrained_key(key) == PretrainedPlace(
        "huggingface", "google/vit-base", "config.json"
    )
    assert pretrained_prefix("timm", "resnet18") == "models/pretrained/timm/resnet18/"
    assert parse_pretrained_key("models/pretrained/timm/resnet18") is None
    assert parse_pretrained_key("checkpoints/projects/p/jobs/j/last.pt") is None
