"""Where things live in object storage (the layout of the design brief), built and read here.

datasets/{dataset_id}/…
checkpoints/projects/{project}/jobs/{job_id}/{best,last}.<ext>
models/pretrained/{framework}/{model}/…   (the shared weights cache, with its manifest.json)
exports/projects/{project}/jobs/{export_job_id}/model.<format suffix>
"""

from __future__ import annotations

from dataclasses import dataclass

from trainyard_runtime.storage.base import check_key

CHECKPOINTS = "checkpoints/"
PRETRAINED = "models/pretrained/"
EXPORTS = "exports/"


@dataclass(frozen=True)
class CheckpointPlace:
    """What a checkpoint's key says: whose it is and its file name."""

    project: str
    job_id: str
    filename: str


def checkpoint_key(project: str, job_id: str, filename: str) -> str:
    return check_key(f"{CHECKPOINTS}projects/{project}/jobs/{job_id}/{filename}")


def export_key(project: str, job_id: str, filename: str) -> str:
    """Where an export job keeps the file it exported (beside nothing else: one per job)."""
    return check_key(f"{EXPORTS}projects/{project}/jobs/{job_id}/{filename}")


def parse_checkpoint_key(key: str) -> CheckpointPlace | None:
    """The project, job and file of a key `checkpoint_key` builds; None for any other key."""
    parts = key.split("/")
    if len(parts) != 6 or f"{parts[0]}/" != CHECKPOINTS or parts[1:4:2] != ["projects", "jobs"]:
        return None
    project, job_id, filename = parts[2], parts[4], parts[5]
    if not (project and job_id and filename):
        return None
    return CheckpointPlace(project, job_id, filename)


def checkpoint_place_in(uri: str) -> CheckpointPlace | None:
    """What a checkpoint's key or URI (the key at its end) says; None for any other value."""
    parts = uri.split("/")
    return parse_checkpoint_key("/".join(parts[-6:])) if len(parts) >= 6 else None


def dataset_key(dataset_id: str, relative: str) -> str:
    return check_key(f"datasets/{dataset_id}/{relative}")


@dataclass(frozen=True)
class PretrainedPlace:
    """What a pretrained weights key says: the framework, the model and the file."""

    framework: str
    model: str
    filename: str


def storage_model_name(model: str) -> str:
    """A model name as one key part: a hub id's `/` becomes `--` (as the Hugging Face cache
    names its folders), so `google/vit-base` and a flat name never share a folder."""
    return model.replace("/", "--")


def pretrained_prefix(framework: str, model: str) -> str:
    """The folder (ending in `/`) holding one model's pretrained weights and manifest."""
    return check_key(f"{PRETRAINED}{framework}/{storage_model_name(model)}") + "/"


def pretrained_key(framework: str, model: str, relative: str) -> str:
    return check_key(pretrained_prefix(framework, model) + relative)


def parse_pretrained_key(key: str) -> PretrainedPlace | None:
    """The framework, model and file of a key `pretrained_key` builds; None for any other."""
    if not key.startswith(PRETRAINED):
        return None
    parts = key[len(PRETRAINED) :].split("/", 2)
    if len(parts) != 3 or not all(parts):
        return None
    framework, model, filename = parts
    return PretrainedPlace(framework, model.replace("--", "/"), filename)
