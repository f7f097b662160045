"""Jobs made from a training job's model: an export (`POST /v1/jobs/{id}/export`) or an
evaluation (`POST /v1/jobs/{id}/evaluate`).

Such a job carries the training job's spec (framework, task, model, dataset: its validation
images are what the export is checked on) with `kind`, `source` (the job and the storage key
of the chosen checkpoint) and the export settings, and then goes through the same queue,
service, executor and events as training. Only a succeeded training job with that checkpoint
has a model to export.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from trainyard_gateway.db import ReadSession
from trainyard_gateway.errors import Conflict
from trainyard_gateway.job_queries import artifacts
from trainyard_gateway.models import Job
from trainyard_runtime.storage.layout import checkpoint_key
from trainyard_wire.exports import EvaluateRequest, ExportRequest
from trainyard_wire.spec import ExportSettings, JobSpec, ModelSource
from trainyard_wire.states import JobState


def _checkpoint_name(session: ReadSession, job: Job, checkpoint: str) -> str:
    """The file name of the job's `best` or `last` checkpoint; 409 when it saved none."""
    names = [
        artifact.name
        for artifact in artifacts(job)
        if artifact.kind == "checkpoint" and PurePosixPath(artifact.name).stem == checkpoint
    ]
    if not names:
        raise Conflict(
            f"job {job.id} saved no {checkpoint} checkpoint",
            [
                {
                    "field": "checkpoint",
                    "message": f"no {checkpoint} checkpoint",
                    "allowed": ["best", "last"],
                }
            ],
        )
    return names[-1]


def model_source(session: ReadSession, job: Job, checkpoint: str) -> ModelSource:
    """The model of a succeeded training job; 409 for any other job."""
    if job.kind != "train":
        raise Conflict(
            f"job {job.id} is an {job.kind} job: only a training job has a model to use",
            [{"field": "kind", "message": f"job is {job.kind}", "allowed": ["train"]}],
        )
    if job.state != JobState.SUCCEEDED:
        raise Conflict(
            f"job {job.id} is {job.state}: only a succeeded training job has a model to use",
            [{"field": "state", "message": f"job is {job.state}", "allowed": ["succeeded"]}],
        )
    name = _checkpoint_name(session, job, checkpoint)
    return ModelSource(
        job_id=job.id,
        checkpoint="best" if checkpoint == "best" else "last",
        key=checkpoint_key(job.project, job.id, name),
    )


def export_spec(session: ReadSession, job: Job, request: ExportRequest) -> JobSpec:
    """The spec of a job that exports `job`'s model as `request` asks."""
    source = model_source(session, job, request.checkpoint)
    settings = ExportSettings(
        format=request.format,
        atol=request.atol,
        min_top1_agreement=request.min_top1_agreement,
        max_images=request.max_images,
        max_map_diff=request.max_map_diff,
    )
    name = f"export of {job.name or job.id} to {request.format}"
    return JobSpec.model_validate(
        {
            **job.spec,
            "kind": "export",
            "source": source.model_dump(),
            "export": settings.model_dump(),
            "name": name[:200],
            "resume_from": None,
            "early_stopping": None,
            "max_retries": 0,
        }
    )


def evaluate_spec(session: ReadSession, job: Job, request: EvaluateRequest) -> JobSpec:
    """The spec of a job that evaluates `job`'s model on its own data or `request.dataset`."""
    source = model_source(session, job, request.checkpoint)
    dataset = request.dataset.model_dump() if request.dataset else job.spec["dataset"]
    name = f"evaluation of {job.name or job.id}"
    return JobSpec.model_validate(
        {
            **job.spec,
            "kind": "evaluate",
            "source": source.model_dump(),
            "dataset": dataset,
            "name": name[:200],
            "resume_from": None,
            "early_stopping": None,
            "max_retries": 0,
        }
    )
