"""Webhooks: what a client registers, what the gateway answers, and what a receiver gets.

A receiver gets `WebhookPayload` as the JSON body of a POST, with the headers below; the
signature is HMAC-SHA256 of the exact body bytes, keyed with the webhook's secret.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from pydantic import BaseModel, Field

from trainyard_wire.jobs import JobView

WebhookEvent = Literal["running", "succeeded", "failed", "cancelled", "lost", "epoch"]
WEBHOOK_EVENTS: tuple[str, ...] = get_args(WebhookEvent)
# Without `events`: the job started, and the job ended (however it ended).
DEFAULT_WEBHOOK_EVENTS: tuple[WebhookEvent, ...] = (
    "running",
    "succeeded",
    "failed",
    "cancelled",
    "lost",
)

SIGNATURE_HEADER = "X-Trainyard-Signature"  # "sha256=<hex>"
DELIVERY_HEADER = "X-Trainyard-Delivery"  # the delivery id, the same on every retry
TIMESTAMP_HEADER = "X-Trainyard-Timestamp"  # seconds since the epoch, when this attempt was sent
EVENT_HEADER = "X-Trainyard-Event"

DeliveryStatus = Literal["pending", "delivered", "failed"]


class WebhookCreate(BaseModel):
    url: str = Field(max_length=2048, description="http:// or https://, no user:password@")
    project: str | None = Field(
        None, max_length=64, description="only this project's jobs; none: every project"
    )
    events: list[WebhookEvent] = Field(
        default_factory=lambda: list(DEFAULT_WEBHOOK_EVENTS), min_length=1
    )


class Webhook(BaseModel):
    id: str
    url: str
    project: str | None
    events: list[str]
    created_at: datetime


class WebhookCreated(Webhook):
    """The answer to creating a webhook: the only one that shows its secret."""

    secret: str


class WebhookList(BaseModel):
    items: list[Webhook]


class Delivery(BaseModel):
    delivery_id: str
    event: str
    job_id: str
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    last_status_code: int | None
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None


class DeliveryList(BaseModel):
    items: list[Delivery]
    next_cursor: str | None


class WebhookPayload(BaseModel):
    delivery_id: str
    event: str
    timestamp: datetime
    job: JobView
