"""Public webhook API: register a URL for job events, list, inspect, delete, and its deliveries."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from trainyard_gateway.deps import ReadSessionDep, WriteSessionDep
from trainyard_gateway.webhooks import (
    create_webhook,
    delete_webhook,
    deliveries,
    get_webhook,
    list_webhooks,
    webhook_view,
)
from trainyard_wire.webhooks import (
    DeliveryList,
    DeliveryStatus,
    Webhook,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
)

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@router.post("", status_code=201, response_model=WebhookCreated)
def create(request: WebhookCreate, session: WriteSessionDep) -> WebhookCreated:
    """The answer carries the webhook's secret: the only time it is shown."""
    return create_webhook(session, request)


@router.get("", response_model=WebhookList)
def list_all(
    session: ReadSessionDep, project: Annotated[str | None, Query(max_length=64)] = None
) -> WebhookList:
    return WebhookList(items=[webhook_view(w) for w in list_webhooks(session, project)])


@router.get("/{webhook_id}", response_model=Webhook)
def get_one(webhook_id: str, session: ReadSessionDep) -> Webhook:
    return webhook_view(get_webhook(session, webhook_id))


@router.delete("/{webhook_id}", status_code=204)
def delete(webhook_id: str, session: WriteSessionDep) -> Response:
    delete_webhook(session, webhook_id)
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries", response_model=DeliveryList)
def list_deliveries(
    webhook_id: str,
    session: ReadSessionDep,
    status: Annotated[DeliveryStatus | None, Query(description="only deliveries in it")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
) -> DeliveryList:
    items, next_cursor = deliveries(session, webhook_id, status=status, limit=limit, cursor=cursor)
    return DeliveryList(items=items, next_cursor=next_cursor)
