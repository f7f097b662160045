"""Accepting a new job: checks beyond the spec schema, then the queue."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy.orm import Session

from trainyard_gateway.models import Job, utcnow
from trainyard_gateway.services import ServiceRegistry, message_of
from trainyard_shared.http_api import ApiError
from trainyard_shared.spec import JobSpec
from trainyard_shared.states import JobState
from trainyard_shared.training.datasets import SUPPORTED_DATASET_URIS, local_dataset_path


def new_job_id() -> str:
    return f"job-{uuid.uuid4().hex[:16]}"


def check_spec(spec: JobSpec, registry: ServiceRegistry) -> None:
    """Refuse what no service could run; ask the framework's service when it is up."""
    if spec.framework not in registry.urls:
        raise ApiError(
            422,
            f"unknown framework {spec.framework!r}",
            [
                {
                    "field": "framework",
                    "message": "unknown framework",
                    "allowed": registry.frameworks,
                }
            ],
        )
    if local_dataset_path(spec.dataset.uri) is None:
        raise ApiError(
            422,
            f"dataset.uri {spec.dataset.uri!r} is not supported",
            [
                {
                    "field": "dataset.uri",
                    "message": "unsupported dataset location",
                    "allowed": [SUPPORTED_DATASET_URIS],
                }
            ],
        )
    status = registry.status(spec.framework)
    try:
        response = registry.client.post(
            f"{status.url}/v1/validate", json={"spec": spec.model_dump(mode="json")}, timeout=15
        )
    except httpx.HTTPError:
        return  # the service is away: the job waits in the queue and is checked at dispatch
    if response.status_code == 422:
        message, errors = message_of(response)
        raise ApiError(422, message, errors)


def submit(session: Session, spec: JobSpec) -> Job:
    now = utcnow()
    job = Job(
        id=new_job_id(),
        framework=spec.framework,
        task=spec.task,
        model=spec.model,
        project=spec.project,
        name=spec.name,
        priority=spec.priority,
        executor=spec.executor,
        spec=spec.model_dump(mode="json"),
        state=JobState.QUEUED.value,
        created_at=now,
        updated_at=now,
        cancel_requested=False,
        dispatch_attempts=0,
    )
    session.add(job)
    session.flush()
    return job
