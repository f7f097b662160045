"""Where things live in object storage (the layout of the design brief), built and read here.

datasets/{dataset_id}/…
checkpoints/projects/{project}/jobs/{job_id}/{best,last}.<ext>
exports/projects/{project}/jobs/{export_job_id}/model.<format suffix>
"""

from __future__ import annotations

from dataclasses import dataclass

from trainyard_runtime.storage.base import check_key

CHECKPOINTS = "checkpoints/"
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


def dataset_key(dataset_id: str, relative: str) -> str:
    return check_key(f"datasets/{dataset_id}/{relative}")
