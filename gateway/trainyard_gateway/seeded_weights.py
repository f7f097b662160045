"""Seeded pretrained weights: stored through the framework's service (which loads them first
and writes them to object storage), recorded here, listed, and deleted unless a job needs them.

A job needs seeded weights while it is not ended, asks for pretrained weights, and its model's
weights go by the seeded name (the service says which name a model's weights go by).
"""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import select

from trainyard_gateway.deps import Gateway
from trainyard_gateway.errors import Conflict, InvalidInput, NotFound, Unavailable
from trainyard_gateway.models import Job, SeededWeights, utcnow
from trainyard_gateway.service_client import ServiceClient, ServiceError, ServiceRejected
from trainyard_wire.states import NOT_ENDED
from trainyard_wire.weights import StoredWeights, WeightsFileView, WeightsView


class WeightsNotFound(NotFound):
    def __init__(self, weights_id: str) -> None:
        super().__init__(f"no seeded weights {weights_id!r} (see GET /v1/weights)")


class WeightsInUse(Conflict):
    pass


def view(row: SeededWeights) -> WeightsView:
    return WeightsView(
        id=row.id,
        framework=row.framework,
        model=row.model,
        sha256=row.sha256,
        size=row.size,
        files=[WeightsFileView.model_validate(f) for f in row.files],
        uri=row.uri,
        created_at=row.created_at,
    )


def _service(gateway: Gateway, framework: str) -> ServiceClient:
    known = gateway.registry.frameworks
    if framework not in known:
        raise InvalidInput(
            f"unknown framework {framework!r}",
            [{"field": "framework", "message": "no such framework", "allowed": known}],
        )
    return gateway.registry.client(framework)


def seed(gateway: Gateway, framework: str, model: str, filename: str, upload: Path) -> WeightsView:
    """Have the framework's service load and store the weights, then record them."""
    client = _service(gateway, framework)
    try:
        stored: StoredWeights = client.seed_weights(model, filename, upload)
    except ServiceRejected as exc:
        raise InvalidInput(exc.message, exc.errors) from None
    except ServiceError as exc:
        raise Unavailable(f"the {framework} service could not store the weights: {exc}") from exc
    with gateway.db.write() as session:
        row = session.scalars(
            select(SeededWeights).where(
                SeededWeights.framework == framework, SeededWeights.model == stored.model
            )
        ).first()
        if row is None:
            row = SeededWeights(id=f"w-{uuid.uuid4().hex[:12]}", framework=framework)
            session.add(row)
        row.model, row.sha256, row.size, row.uri = (
            stored.model,
            stored.sha256,
            stored.size,
            stored.uri,
        )
        row.files = [f.model_dump() for f in stored.files]
        row.created_at = utcnow()
        session.flush()
        return view(row)


def list_weights(gateway: Gateway) -> list[WeightsView]:
    with gateway.db.read() as session:
        rows = session.scalars(
            select(SeededWeights).order_by(SeededWeights.framework, SeededWeights.model)
        )
        return [view(row) for row in rows]


def _jobs_needing(gateway: Gateway, row: SeededWeights) -> list[str]:
    with gateway.db.read() as session:
        jobs = session.execute(
            select(Job.id, Job.model, Job.spec)
            .where(Job.framework == row.framework, Job.state.in_([s.value for s in NOT_ENDED]))
            .order_by(Job.created_at)
        ).all()
    pretrained = [(j, m) for j, m, spec in jobs if spec.get("hyperparams", {}).get("pretrained")]
    if not pretrained:
        return []
    try:
        names = _service(gateway, row.framework).weights_names(sorted({m for _, m in pretrained}))
    except ServiceError as exc:
        raise Unavailable(
            f"cannot tell which jobs need these weights: the {row.framework} service: {exc}"
        ) from exc
    return [job for job, model in pretrained if names.get(model) == row.model]


def delete(gateway: Gateway, weights_id: str) -> None:
    """Refused (409) while a queued or running job needs the weights."""
    with gateway.db.read() as session:
        row = session.get(SeededWeights, weights_id)
        if row is None:
            raise WeightsNotFound(weights_id)
        session.expunge(row)
    users = _jobs_needing(gateway, row)
    if users:
        raise WeightsInUse(
            f"weights {weights_id} ({row.framework} {row.model}) are needed by unfinished jobs: "
            f"{', '.join(users[:20])}; delete them after those jobs end (or cancel them)",
            [{"field": "jobs", "message": "unfinished jobs need these weights", "jobs": users}],
        )
    try:
        _service(gateway, row.framework).delete_weights(row.model)
    except ServiceError as exc:
        raise Unavailable(f"the {row.framework} service could not delete them: {exc}") from exc
    with gateway.db.write() as session:
        found = session.get(SeededWeights, weights_id)
        if found is not None:
            session.delete(found)
