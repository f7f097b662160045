"""Webhooks in process: URL checks, the secret shown once, outbox rows written with each job
change, signing, the backoff schedule, order per webhook, and one claim per delivery."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from tests.support.job_rows import job_row
from trainyard_gateway.db import Database
from trainyard_gateway.errors import InvalidWebhook
from trainyard_gateway.event_ingest import ingest
from trainyard_gateway.job_state import transition
from trainyard_gateway.models import Job, WebhookDelivery, utcnow
from trainyard_gateway.settings import GatewaySettings
from trainyard_gateway.webhook_delivery import backoff, claim_due, record, send
from trainyard_gateway.webhooks import check_url, create_webhook
from trainyard_wire.events import EventBatch
from trainyard_wire.states import JobState
from trainyard_wire.webhooks import WebhookCreate, WebhookPayload

KEY = "key-webhooks-0123456789"


def settings(**values: object) -> GatewaySettings:
    return GatewaySettings.model_validate(values)


# --- registration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://example.com/hook", "use http:// or https://"),
        ("example.com/hook", "use http:// or https://"),
        ("https://user:pass@example.com/hook", "credentials"),
        ("https://token@example.com/hook", "credentials"),
        ("http:///hook", "no host"),
        ("http://example.com:port/hook", "not a URL"),
    ],
)
def test_a_url_that_cannot_be_delivered_to_is_refused_with_what_is_allowed(url, says):
    with pytest.raises(InvalidWebhook) as raised:
        check_url(url)
    assert says in raised.value.message
    assert raised.value.errors == [{"loc": ["body", "url"], "msg": raised.value.message}]


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9000/hook", "https://example.com", "HTTPS://Example.com/a?b=c"]
)
def test_http_and_https_urls_with_a_host_are_accepted(url):
    check_url(url)


@pytest.fixture
def api(processes):
    gateway = processes.gateway(
        TRAINYARD_API_KEYS=KEY, TRAINYARD_EXTRA_SERVICES="toy=http://127.0.0.1:9"
    )
    with httpx.Client(
        base_url=gateway.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=10
    ) as client:
        yield client


def test_the_secret_is_shown_once_and_the_api_says_what_is_wrong(api):
    created = api.post("/v1/webhooks", json={"url": "https://example.com/hook"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert body["events"] == ["running", "succeeded", "failed", "cancelled", "lost"]
    assert body["project"] is None
    hook_id = body["id"]

    one = api.get(f"/v1/webhooks/{hook_id}").json()
    listed = api.get("/v1/webhooks").json()["items"]
    assert "secret" not in one and all("secret" not in item for item in listed)
    assert (
        body["secret"] not in api.get("/v1/webhooks").text + api.get(f"/v1/webhooks/{hook_id}").text
    )
    assert [item["id"] for item in listed] == [hook_id]

    bad = api.post("/v1/webhooks", json={"url": "https://a:b@example.com"})
    assert bad.status_code == 422 and "credentials" in bad.json()["message"]
    bad = api.post("/v1/webhooks", json={"url": "https://example.com", "events": ["finished"]})
    assert bad.status_code == 422
    assert "epoch" in bad.text and "running" in bad.text  # the allowed events are named

    assert api.get(f"/v1/webhooks/{hook_id}/deliveries").json() == {
        "items": [],
        "next_cursor": None,
    }
    assert api.delete(f"/v1/webhooks/{hook_id}").status_code == 204
    missing = api.get(f"/v1/webhooks/{hook_id}")
    assert missing.status_code == 404 and "GET /v1/webhooks" in missing.json()["message"]
    assert api.get("/v1/webhooks", headers={"Authorization": "Bearer nope"}).status_code == 401


# --- the outbox ---------------------------------------------------------------------------


def add_webhook(db: Database, **values: object) -> tuple[str, str]:
    with db.write() as session:
        created = create_webhook(
            session, WebhookCreate.model_validate({"url": "http://127.0.0.1:9/hook", **values})
        )
    return created.id, created.secret


def change(db: Database, job_id: str, target: JobState) -> None:
    with db.write() as session:
        job = session.get(Job, job_id, with_for_update=True)
        assert job is not None
        transition(job, target)


def outbox(db: Database) -> list[WebhookDelivery]:
    with db.read() as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def test_state_changes_write_deliveries_for_subscribed_webhooks_only(job_store):
    db = job_store
    with db.write() as session:
        session.add(job_row("job-a", project="vision", state="starting"))
        session.add(job_row("job-b", project="text", state="starting"))
    everything, _ = add_webhook(db)
    vision_done, _ = add_webhook(db, project="vision", events=["succeeded"])

    change(db, "job-a", JobState.RUNNING)
    change(db, "job-a", JobState.SUCCEEDED)
    change(db, "job-b", JobState.RUNNING)
    change(db, "job-b", JobState.QUEUED)  # a retry: no event

    rows = [(r.webhook_id, r.job_id, r.event) for r in outbox(db)]
    assert rows == [
        (everything, "job-a", "running"),
        (everything, "job-a", "succeeded"),
        (vision_done, "job-a", "succeeded"),
        (everything, "job-b", "running"),
    ]
    row = outbox(db)[1]
    payload = WebhookPayload.model_validate(row.payload)
    assert payload.delivery_id == row.delivery_id and payload.event == "succeeded"
    assert payload.job.id == "job-a" and payload.job.state == "succeeded"
    assert payload.job.progress.percent == 100.0
    assert row.status == "pending" and row.attempts == 0


def test_a_rolled_back_change_writes_no_delivery(job_store):
    db = job_store
    with db.write() as session:
        session.add(job_row("job-a", state="running"))
    add_webhook(db)
    with pytest.raises(RuntimeError), db.write() as session:
        job = session.get(Job, "job-a")
        assert job is not None
        transition(job, JobState.FAILED)
        raise RuntimeError("the transaction fails after the change")
    assert outbox(db) == []


def test_epochs_are_delivered_only_to_webhooks_that_ask(job_store):
    db = job_store
    with db.write() as session:
        session.add(job_row("job-a", state="running"))
    _, _ = add_webhook(db)
    epochs, _ = add_webhook(db, events=["epoch"])
    metric = {"type": "metric", "time": "2026-12-01T10:00:00Z", "total_epochs": 2}
    batch = EventBatch.model_validate(
        {
            "events": [
                {**metric, "seq": 1, "epoch": 1, "metrics": {"loss": 1.0}},
                {**metric, "seq": 2, "epoch": 2, "metrics": {"loss": 0.5}},
            ]
        }
    )
    for _ in range(2):  # a resent batch adds nothing
        with db.write() as session:
            job = session.get(Job, "job-a", with_for_update=True)
            assert job is not None
            ingest(session, job, batch.events)
    rows = outbox(db)
    assert [(r.webhook_id, r.event) for r in rows] == [(epochs, "epoch"), (epochs, "epoch")]
    assert [r.payload["job"]["progress"]["epoch"] for r in rows] == [1, 2]


# --- sending ------------------------------------------------------------------------------


def test_a_delivery_is_signed_over_the_exact_body_with_the_webhooks_secret(job_store):
    db = job_store
    with db.write() as session:
        session.add(job_row("job-a", state="starting"))
    _, secret = add_webhook(db)
    change(db, "job-a", JobState.RUNNING)
    seen: list[httpx.Request] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    (delivery,) = claim_due(db, lease=30)
    with httpx.Client(transport=httpx.MockTransport(receiver)) as client:
        assert send(client, delivery) == (None, 204)
    (request,) = seen
    expected = hmac.new(secret.encode(), request.content, hashlib.sha256).hexdigest()
    assert request.headers["x-trainyard-signature"] == f"sha256={expected}"
    assert request.headers["x-trainyard-delivery"] == delivery.delivery_id
    assert request.headers["x-trainyard-event"] == "running"
    assert abs(int(request.headers["x-trainyard-timestamp"]) - utcnow().timestamp()) < 60
    body = json.loads(request.content)
    assert body["delivery_id"] == delivery.delivery_id and body["job"]["state"] == "running"


def test_backoff_doubles_from_the_first_wait_up_to_the_cap():
    assert [backoff(n, 1.0, 300.0) for n in range(1, 11)] == [
        1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 300.0
    ]  # fmt: skip


def test_failed_tries_are_retried_after_the_backoff_then_marked_failed(job_store):
    db = job_store
    config = settings(WEBHOOK_MAX_ATTEMPTS=3, WEBHOOK_RETRY_INITIAL=10, WEBHOOK_RETRY_MAX=15)
    with db.write() as session:
        session.add(job_row("job-a", state="starting"))
    add_webhook(db)
    change(db, "job-a", JobState.RUNNING)
    waits = []
    for attempt in (1, 2, 3):
        (delivery,) = claim_due(db, lease=30)
        assert delivery.attempts == attempt
        assert claim_due(db, lease=30) == []  # claimed: nobody else sends it meanwhile
        before = utcnow()
        record(db, delivery, error="the receiver answered 503", status_code=503, settings=config)
        (row,) = outbox(db)
        waits.append(round((row.next_attempt_at - before).total_seconds()))
        assert claim_due(db, lease=30) == []  # not due before the backoff ends
        with db.write() as session:  # let the backoff pass
            session.execute(update(WebhookDelivery).values(next_attempt_at=utcnow()))
    (row,) = outbox(db)
    assert waits[:2] == [10, 15]
    assert (row.status, row.attempts, row.last_status_code) == ("failed", 3, 503)
    assert row.last_error == "the receiver answered 503"
    assert claim_due(db, lease=30) == []


def test_a_stale_claim_does_not_overwrite_the_newer_one(job_store):
    db = job_store
    config = settings()
    with db.write() as session:
        session.add(job_row("job-a", state="starting"))
    add_webhook(db)
    change(db, "job-a", JobState.RUNNING)
    (first,) = claim_due(db, lease=0)  # a worker that died mid-send: its lease ends at once
    (second,) = claim_due(db, lease=30)
    assert second.delivery_id == first.delivery_id and second.attempts == 2
    record(db, second, error=None, status_code=200, settings=config)
    record(db, first, error="timed out", status_code=None, settings=config)
    (row,) = outbox(db)
    assert (row.status, row.attempts, row.last_error) == ("delivered", 2, None)


def test_deliveries_to_one_webhook_go_in_order(job_store):
    db = job_store
    with db.write() as session:
        session.add(job_row("job-a", state="starting"))
        session.add(job_row("job-b", state="starting"))
    add_webhook(db)
    change(db, "job-a", JobState.RUNNING)
    change(db, "job-a", JobState.SUCCEEDED)
    first, _second = outbox(db)
    (claimed,) = claim_due(db, lease=30)
    assert claimed.delivery_id == first.delivery_id
    record(db, claimed, error="down", status_code=None, settings=settings())
    with db.write() as session:  # the first is due again; the second waits behind it
        session.execute(update(WebhookDelivery).values(next_attempt_at=utcnow()))
    assert [d.delivery_id for d in claim_due(db, lease=30)] == [first.delivery_id]


def test_two_workers_never_claim_the_same_delivery(job_store):
    db = job_store
    with db.write() as session:
        for n in range(30):
            session.add(job_row(f"job-{n:02d}", state="starting"))
    for _ in range(10):  # ten webhooks, so thirty deliveries are due at once
        add_webhook(db, project="p", events=["running"])
    for n in range(3):
        change(db, f"job-{n:02d}", JobState.RUNNING)
    claims: list[list[str]] = [[], []]
    start = threading.Barrier(2)

    def worker(index: int) -> None:
        start.wait()
        while batch := claim_due(db, lease=30, limit=3):
            claims[index] += [d.delivery_id for d in batch]
            for delivery in batch:
                record(db, delivery, error=None, status_code=200, settings=settings())

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    everything = claims[0] + claims[1]
    assert len(everything) == 30 and len(set(everything)) == 30
    assert {r.status for r in outbox(db)} == {"delivered"}
    assert all(r.attempts == 1 for r in outbox(db))


def test_a_claim_whose_lease_ended_is_claimed_again(job_store):
    db = job_store
    with db.write() as session:
        session.add(job_row("job-a", state="starting"))
    add_webhook(db)
    change(db, "job-a", JobState.RUNNING)
    (claimed,) = claim_due(db, lease=30)
    with db.write() as session:
        session.execute(
            update(WebhookDelivery).values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
    (again,) = claim_due(db, lease=30)
    assert again.delivery_id == claimed.delivery_id and again.attempts == 2
