"""The webhook outbox: a delivery row per subscribed webhook, written with the job's change.

`job_changed` runs inside the write transaction that changed the job (every state change passes
through `job_state.transition`; each epoch through event ingestion), so a delivery exists if and
only if the change was committed, and the job path never waits on a receiver: the delivery
worker (`webhook_delivery.py`) sends the rows later. The payload is the job view at that moment.

After a transaction that wrote deliveries commits, the workers of this process are woken.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import event, or_, select
from sqlalchemy.orm import Session, object_session

from trainyard_gateway.db import WriteSession
from trainyard_gateway.job_queries import job_view
from trainyard_gateway.models import Job, Webhook, WebhookDelivery, utcnow
from trainyard_wire.webhooks import WEBHOOK_EVENTS

_WOKEN = "webhook_deliveries_written"
_wakers: set[Callable[[], None]] = set()


def on_new_deliveries(wake: Callable[[], None]) -> Callable[[], None]:
    """Call `wake` after each commit that wrote deliveries; returns the call that stops it."""
    _wakers.add(wake)
    return lambda: _wakers.discard(wake)


def job_changed(job: Job, event_name: str, session: Session | None = None) -> int:
    """Queue `event_name` for every webhook subscribed to it and to the job's project.

    Returns how many deliveries were queued. A job not attached to a write session (a row being
    built in a test) has nobody to tell.
    """
    if event_name not in WEBHOOK_EVENTS:
        return 0
    session = session or object_session(job)
    if not isinstance(session, WriteSession):
        return 0
    hooks = [
        hook
        for hook in session.scalars(
            select(Webhook).where(or_(Webhook.project.is_(None), Webhook.project == job.project))
        )
        if event_name in hook.events
    ]
    if not hooks:
        return 0
    now = utcnow()
    view: dict[str, Any] = job_view(session, job).model_dump(mode="json")
    for hook in hooks:
        delivery_id = str(uuid.uuid4())
        session.add(
            WebhookDelivery(
                delivery_id=delivery_id,
                webhook_id=hook.id,
                job_id=job.id,
                event=event_name,
                payload={
                    "delivery_id": delivery_id,
                    "event": event_name,
                    "timestamp": now.isoformat(),
                    "job": view,
                },
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
    session.info[_WOKEN] = True
    return len(hooks)


@event.listens_for(WriteSession, "after_commit")
def _wake_workers(session: Session) -> None:
    if session.info.pop(_WOKEN, False):
        for wake in list(_wakers):
            wake()


@event.listens_for(WriteSession, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_WOKEN, None)
