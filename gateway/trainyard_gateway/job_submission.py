"""Accepting a new job: checks beyond the spec schema, then the queue."""

from __future__ import annotations

import uuid

from trainyard_gateway.db import ReadSession, WriteSession
from trainyard_gateway.errors import InvalidSpec
from trainyard_gateway.fine_tuning import resolve_init_from
from trainyard_gateway.models import Dataset, Job, utcnow
from trainyard_gateway.resume import resolve_resume_from
from trainyard_gateway.service_client import ServiceError, ServiceRejected
from trainyard_gateway.services import ServiceRegistry
from trainyard_runtime.storage import Storage
from trainyard_runtime.training.datasets import (
    SUPPORTED_DATASET_URIS,
    dataset_location,
    is_dataset_id,
)
from trainyard_wire.registry import ModelVersion
from trainyard_wire.spec import JobSpec
from trainyard_wire.states import JobState


def new_job_id() -> str:
    return f"job-{uuid.uuid4().hex[:16]}"


def check_spec(spec: JobSpec, registry: ServiceRegistry) -> None:
    """Refuse what no service could run; ask the framework's service when it is up."""
    if spec.framework not in registry.urls:
        raise InvalidSpec(
            f"unknown framework {spec.framework!r}",
            [
                {
                    "field": "framework",
                    "message": "unknown framework",
                    "allowed": registry.frameworks,
                }
            ],
        )
    if dataset_location(spec.dataset.uri) is None:
        raise InvalidSpec(
            f"dataset.uri {spec.dataset.uri!r} is not supported",
            [
                {
                    "field": "dataset.uri",
                    "message": "unsupported dataset location",
                    "allowed": [SUPPORTED_DATASET_URIS],
                }
            ],
        )
    try:
        registry.client(spec.framework).validate(spec)
    except ServiceRejected as exc:
        raise InvalidSpec(exc.message, exc.errors) from None
    except ServiceError:
        return  # the service is away: the job waits in the queue and is checked at dispatch


def _registered_dataset(session: ReadSession, spec: JobSpec) -> tuple[JobSpec, str | None]:
    """For a dataset id: the spec to run (a registered location replaces the id) and the id."""
    if not is_dataset_id(spec.dataset.uri):
        return spec, None
    dataset = session.get(Dataset, spec.dataset.uri)
    if dataset is None:
        raise InvalidSpec(
            f"dataset.uri {spec.dataset.uri!r}: no dataset has this id",
            [
                {
                    "field": "dataset.uri",
                    "message": "unknown dataset id",
                    "allowed": ["an id from GET /v1/datasets", SUPPORTED_DATASET_URIS],
                }
            ],
        )
    if dataset.format != spec.dataset.format:
        raise InvalidSpec(
            f"dataset {dataset.id} is {dataset.format}, not {spec.dataset.format}: "
            f"set dataset.format to {dataset.format!r}",
            [
                {
                    "field": "dataset.format",
                    "message": f"dataset {dataset.id} is {dataset.format}",
                    "allowed": [dataset.format],
                }
            ],
        )
    if dataset.source == "registered":  # not under datasets/<id>/: train.py fetches it there
        spec = spec.model_copy(
            update={"dataset": spec.dataset.model_copy(update={"uri": dataset.uri})}
        )
    return spec, dataset.id


def _same_dataset_id(spec: JobSpec, resumed: Job | None) -> str | None:
    """A job resuming another on the same data uses the registered dataset that one used."""
    if resumed is None or resumed.spec.get("dataset") != spec.dataset.model_dump(mode="json"):
        return None
    return resumed.dataset_id


def submit(
    session: WriteSession,
    spec: JobSpec,
    storage: Storage,
    registered: ModelVersion | None = None,
) -> Job:
    """Store a new job. `registered`: the registry version `init_from` names, read before."""
    spec, dataset_id = _registered_dataset(session, spec)
    spec, resumed = resolve_resume_from(session, storage, spec)
    spec, lineage = resolve_init_from(session, storage, spec, registered)
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
        dataset_id=dataset_id or _same_dataset_id(spec, resumed),
        attempt=1,
        resumed_from=resumed.id if resumed else None,
        init_from=lineage,
        kind=spec.kind,
        source_job_id=spec.source.job_id if spec.source else None,
    )
    session.add(job)
    session.flush()
    return job
