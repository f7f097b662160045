"""Where things live in object storage (the layout of the design brief)."""

from __future__ import annotations

from trainyard_runtime.storage.base import check_key


def checkpoint_key(project: str, job_id: str, filename: str) -> str:
    return check_key(f"checkpoints/projects/{project}/jobs/{job_id}/{filename}")


def dataset_key(dataset_id: str, relative: str) -> str:
    return check_key(f"datasets/{dataset_id}/{relative}")
