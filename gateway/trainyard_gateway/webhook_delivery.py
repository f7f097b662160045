"""The delivery worker: sends the webhook outbox, retrying with backoff, at least once.

It runs in a background thread of each gateway process, like the dispatcher. A round claims the
deliveries that are due, sends each one outside any transaction, then records the outcome:

- Claiming is one conditional UPDATE per row (`… WHERE attempts = what was read`), after a
  `SKIP LOCKED` read on PostgreSQL, so two workers never send the same delivery at once. The
  claim moves `next_attempt_at` past the send's timeout: a worker that dies mid-send leaves a
  delivery that is claimed again once that lease ends (hence at least once, never at most once).
- A failure (no answer, a timeout, a status that is not 2xx) schedules the next try after
  `retry_initial * 2**(attempts-1)` seconds, capped at `retry_max`; after `max_attempts` tries
  the delivery is `failed`.
- Deliveries to one webhook go out in the order they were written: one is due only when no
  earlier delivery to the same webhook is still pending. A receiver that is down holds back its
  own deliveries, nobody else's.

Every try of a delivery carries the same delivery id, so a receiver can drop repeats.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

import httpx
from sqlalchemy import CursorResult, exists, select, update
from sqlalchemy.orm import aliased

from trainyard_gateway.db import Database
from trainyard_gateway.models import Webhook, WebhookDelivery, utcnow
from trainyard_gateway.settings import GatewaySettings
from trainyard_gateway.webhook_outbox import on_new_deliveries
from trainyard_wire.webhooks import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
)

log = logging.getLogger("trainyard.webhooks")

# How many deliveries one round claims; and how often a worker looks for due ones when
# nothing woke it (retries coming due, rows written by another gateway process).
BATCH = 20
POLL_INTERVAL = 1.0


def sign(secret: str, body: bytes) -> str:
    """The `X-Trainyard-Signature` value: HMAC-SHA256 of the body, keyed with the secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def backoff(attempts: int, initial: float, cap: float) -> float:
    """Seconds to wait after the `attempts`-th failed try: initial, doubled each time, capped."""
    return float(min(cap, initial * 2 ** max(0, attempts - 1)))


@dataclass(frozen=True)
class Claimed:
    """A delivery this worker now sends: what the request needs."""

    id: int
    delivery_id: str
    event: str
    url: str
    secret: str
    payload: dict[str, Any]
    attempts: int  # counting this one


def claim_due(db: Database, *, lease: float, limit: int = BATCH) -> list[Claimed]:
    """Take the deliveries that are due for this worker; each is sent by one worker only."""
    now = utcnow()
    earlier = aliased(WebhookDelivery)
    held_back = (
        exists()
        .where(
            earlier.webhook_id == WebhookDelivery.webhook_id,
            earlier.id < WebhookDelivery.id,
            earlier.status == "pending",
        )
        .correlate(WebhookDelivery)
    )
    claimed: list[Claimed] = []
    with db.write() as session:
        rows = session.execute(
            select(WebhookDelivery.id, WebhookDelivery.attempts)
            .where(
                WebhookDelivery.status == "pending",
                WebhookDelivery.next_attempt_at <= now,
                ~held_back,
            )
            .order_by(WebhookDelivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=WebhookDelivery)
        ).all()
        for row_id, attempts in rows:
            result = session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == row_id,
                    WebhookDelivery.status == "pending",
                    WebhookDelivery.attempts == attempts,
                )
                .values(attempts=attempts + 1, next_attempt_at=now + timedelta(seconds=lease))
            )
            if cast(CursorResult[Any], result).rowcount != 1:
                continue  # another worker took it between the read and the update
            delivery_id, event, payload, url, secret = session.execute(
                select(
                    WebhookDelivery.delivery_id,
                    WebhookDelivery.event,
                    WebhookDelivery.payload,
                    Webhook.url,
                    Webhook.secret,
                )
                .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                .where(WebhookDelivery.id == row_id)
            ).one()
            claimed.append(
                Claimed(row_id, delivery_id, event, url, secret, dict(payload), attempts + 1)
            )
    return claimed


def record(
    db: Database,
    delivery: Claimed,
    *,
    error: str | None,
    status_code: int | None,
    settings: GatewaySettings,
) -> None:
    """Store a try's outcome: delivered, due again after the backoff, or failed for good.

    Only the worker holding the latest claim writes (another may have claimed the delivery
    again after this one's lease ran out; its outcome is the one to keep).
    """
    now = utcnow()
    mine = update(WebhookDelivery).where(
        WebhookDelivery.id == delivery.id,
        WebhookDelivery.status == "pending",
        WebhookDelivery.attempts == delivery.attempts,
    )
    if error is None:
        values: dict[str, Any] = {
            "status": "delivered",
            "delivered_at": now,
            "last_error": None,
            "last_status_code": status_code,
        }
    elif delivery.attempts >= settings.webhook_max_attempts:
        values = {"status": "failed", "last_error": error, "last_status_code": status_code}
    else:
        wait = backoff(
            delivery.attempts, settings.webhook_retry_initial, settings.webhook_retry_max
        )
        values = {
            "last_error": error,
            "last_status_code": status_code,
            "next_attempt_at": now + timedelta(seconds=wait),
        }
    with db.write() as session:
        session.execute(mine.values(**values))


def send(client: httpx.Client, delivery: Claimed) -> tuple[str | None, int | None]:
    """POST the delivery; (None, status) when the receiver took it, else (why not, status)."""
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Trainyard-Webhooks",
        SIGNATURE_HEADER: sign(delivery.secret, body),
        DELIVERY_HEADER: delivery.delivery_id,
        TIMESTAMP_HEADER: str(int(utcnow().timestamp())),
        EVENT_HEADER: delivery.event,
    }
    try:
        response = client.post(delivery.url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__, None
    if 200 <= response.status_code < 300:
        return None, response.status_code
    return f"the receiver answered {response.status_code}", response.status_code


class DeliveryWorker:
    def __init__(
        self,
        db: Database,
        settings: GatewaySettings,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        # Redirects are not followed: the URL checked at registration is the one posted to.
        self._client = httpx.Client(
            timeout=settings.webhook_timeout, follow_redirects=False, transport=transport
        )
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="trainyard-webhooks", daemon=True)
        self._unsubscribe: Callable[[], None] = lambda: None

    @property
    def lease(self) -> float:
        """How long a claim holds a delivery: past the send's timeout, with room to record."""
        return self.settings.webhook_timeout * 2 + 10

    def start(self) -> None:
        self._unsubscribe = on_new_deliveries(self.wake)
        self._thread.start()

    def stop(self) -> None:
        self._unsubscribe()
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.settings.webhook_timeout + 5)
        self._client.close()

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            sent = 0
            try:
                sent = self.tick()
            except Exception:  # keep delivering whatever one round hit; it is logged
                log.exception("webhook delivery round failed")
            if not sent:
                self._wake.wait(POLL_INTERVAL)
                self._wake.clear()

    def tick(self) -> int:
        """One round: claim what is due, send each, record each outcome. Returns how many."""
        claimed = claim_due(self.db, lease=self.lease)
        for delivery in claimed:
            if self._stop.is_set():
                break  # the rest are claimed again when their lease ends
            error, status_code = send(self._client, delivery)
            if error:
                log.info(
                    "webhook delivery %s (%s) try %d failed: %s",
                    delivery.delivery_id,
                    delivery.event,
                    delivery.attempts,
                    error,
                )
            record(self.db, delivery, error=error, status_code=status_code, settings=self.settings)
        return len(claimed)
