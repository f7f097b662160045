"""Webhooks: registering URLs for job events, and reading back what was delivered to them.

A webhook's URL is checked once, when it is registered: http or https, a host, and no
credentials in it (they would be logged and shown in every listing). Its secret is made here,
answered once, and kept to sign deliveries (HMAC needs the secret itself, not a hash).
"""

from __future__ import annotations

import secrets
import uuid
from urllib.parse import urlsplit

from sqlalchemy import delete, select

from trainyard_gateway.db import ReadSession, WriteSession
from trainyard_gateway.errors import InvalidInput, InvalidWebhook, WebhookNotFound
from trainyard_gateway.models import Webhook, WebhookDelivery, utcnow
from trainyard_wire.webhooks import (
    Delivery,
    WebhookCreate,
    WebhookCreated,
)
from trainyard_wire.webhooks import (
    Webhook as WebhookView,
)

ALLOWED_SCHEMES = ("http", "https")


def check_url(url: str) -> None:
    """Raise `InvalidWebhook` for a URL the gateway will not deliver to, saying what is allowed."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 (raises for a port that is not a number)
    except ValueError as exc:
        raise _invalid_url(f"{url!r} is not a URL ({exc})") from exc
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise _invalid_url(
            f"the scheme {parts.scheme or '(none)'!r} is not allowed: use http:// or https://"
        )
    if parts.username is not None or parts.password is not None:
        raise _invalid_url(
            "the URL carries credentials (user:password@): remove them; every delivery is "
            "signed with the webhook's secret instead (X-Trainyard-Signature)"
        )
    if not parts.hostname:
        raise _invalid_url("the URL has no host: give one, as in https://example.com/hooks")


def _invalid_url(message: str) -> InvalidWebhook:
    return InvalidWebhook(message, [{"loc": ["body", "url"], "msg": message}])


def create_webhook(session: WriteSession, request: WebhookCreate) -> WebhookCreated:
    check_url(request.url)
    webhook = Webhook(
        id=f"wh-{uuid.uuid4().hex[:12]}",
        url=request.url.strip(),
        project=request.project,
        events=list(dict.fromkeys(request.events)),  # each once, in the order given
        secret=f"whsec_{secrets.token_urlsafe(32)}",
        created_at=utcnow(),
    )
    session.add(webhook)
    session.flush()
    return WebhookCreated(**webhook_view(webhook).model_dump(), secret=webhook.secret)


def webhook_view(webhook: Webhook) -> WebhookView:
    return WebhookView(
        id=webhook.id,
        url=webhook.url,
        project=webhook.project,
        events=list(webhook.events),
        created_at=webhook.created_at,
    )


def get_webhook(session: ReadSession, webhook_id: str) -> Webhook:
    webhook = session.get(Webhook, webhook_id)
    if webhook is None:
        raise WebhookNotFound(webhook_id)
    return webhook


def list_webhooks(session: ReadSession, project: str | None = None) -> list[Webhook]:
    query = select(Webhook).order_by(Webhook.created_at, Webhook.id)
    if project:
        query = query.where(Webhook.project == project)
    return list(session.scalars(query))


def delete_webhook(session: WriteSession, webhook_id: str) -> None:
    """Remove the webhook and its deliveries, pending ones included (nothing more is sent)."""
    get_webhook(session, webhook_id)
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id))
    session.execute(delete(Webhook).where(Webhook.id == webhook_id))


def deliveries(
    session: ReadSession,
    webhook_id: str,
    *,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[Delivery], str | None]:
    """The webhook's deliveries, newest first; `cursor` is a previous page's `next_cursor`."""
    get_webhook(session, webhook_id)
    query = (
        select(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit + 1)
    )
    if status:
        query = query.where(WebhookDelivery.status == status)
    if cursor:
        if not cursor.isdigit():
            raise InvalidInput(
                "invalid cursor: pass the next_cursor value of a previous page unchanged"
            )
        query = query.where(WebhookDelivery.id < int(cursor))
    rows = list(session.scalars(query))
    next_cursor = str(rows[limit - 1].id) if len(rows) > limit else None
    return [delivery_view(row) for row in rows[:limit]], next_cursor


def delivery_view(row: WebhookDelivery) -> Delivery:
    return Delivery(
        delivery_id=row.delivery_id,
        event=row.event,
        job_id=row.job_id,
        status=row.status,
        attempts=row.attempts,
        last_error=row.last_error,
        last_status_code=row.last_status_code,
        next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
    )
