"""Fetching the checkpoint a run resumes or fine-tunes from, on real local storage: the key or
URI given, a best checkpoint beside it, and the failures named for the field that asked."""

from __future__ import annotations

import pytest

from trainyard_runtime.storage import open_storage
from trainyard_runtime.storage.layout import checkpoint_key
from trainyard_runtime.training import TrainingError
from trainyard_runtime.training.init_point import fetch_init_point
from trainyard_runtime.training.resume_point import fetch_resume_point
from trainyard_wire.failures import FailureReason


@pytest.fixture
def storage(tmp_path):
    storage = open_storage((tmp_path / "store").as_uri())
    for name in ("last.pt", "best.pt"):
        (tmp_path / name).write_bytes(name.encode())
        storage.put_file(tmp_path / name, checkpoint_key("vision", "job-1", name))
    return storage


def test_resume_fetches_the_checkpoint_and_the_best_beside_it(tmp_path, storage):
    key = checkpoint_key("vision", "job-1", "last.pt")
    point = fetch_resume_point(storage, storage.uri_for(key), tmp_path / "run")
    assert point.key == key
    assert point.checkpoint.read_bytes() == b"last.pt" and point.best is not None
    assert point.best.read_bytes() == b"best.pt"


def test_init_fetches_the_checkpoint_by_key(tmp_path, storage):
    key = checkpoint_key("vision", "job-1", "best.pt")
    point = fetch_init_point(storage, key, tmp_path / "run")
    assert point.key == key and point.checkpoint.name == "init-best.pt"
    assert point.checkpoint.read_bytes() == b"best.pt"


def test_a_key_outside_storage_is_invalid_for_the_field_that_named_it(tmp_path, storage):
    with pytest.raises(TrainingError) as resumed:
        fetch_resume_point(storage, "../escape.pt", tmp_path / "run")
    assert resumed.value.reason == FailureReason.RESUME_INVALID
    assert "resume_from '../escape.pt' is not a checkpoint in this storage" in str(resumed.value)
    with pytest.raises(TrainingError) as init:
        fetch_init_point(storage, "../escape.pt", tmp_path / "run")
    assert init.value.reason == FailureReason.CHECKPOINT_INVALID
    assert "init_from '../escape.pt' is not a checkpoint in this storage" in str(init.value)


def test_a_missing_checkpoint_is_unavailable_and_says_what_it_was_for(tmp_path, storage):
    key = checkpoint_key("vision", "job-2", "last.pt")
    with pytest.raises(TrainingError) as resumed:
        fetch_resume_point(storage, key, tmp_path / "run")
    assert resumed.value.reason == FailureReason.CHECKPOINT_UNAVAILABLE
    assert f"the checkpoint to resume from, {key}, is not in storage" in str(resumed.value)
    with pytest.raises(TrainingError) as init:
        fetch_init_point(storage, key, tmp_path / "run")
    assert init.value.reason == FailureReason.CHECKPOINT_UNAVAILABLE
    assert f"the checkpoint to fine-tune from, {key}, is not in storage" in str(init.value)
