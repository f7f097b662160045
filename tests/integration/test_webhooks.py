"""Webhooks from a real gateway and toy service to a real receiver on a loopback port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.datasets import tiny_dataset
from tests.support.jobs import client, submit, toy_spec, wait_for
from tests.support.webhook_receiver import WebhookReceiver


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    yield server
    server.close()


@pytest.fixture
def stack(processes):
    _, service_url = processes.toy_service()
    return processes, f"toy={service_url}"


def test_a_job_to_success_delivers_running_and_succeeded_signed(tmp_path, stack, receiver):
    processes, services = stack
    gateway = processes.gateway(TRAINYARD_EXTRA_SERVICES=services)
    with client(gateway.url) as api:
        hook = api.create_webhook(receiver.url, project="default")
        other = api.create_webhook(receiver.url, project="someone-else")
    job = submit(gateway.url, toy_spec(tiny_dataset(tmp_path / "ds")))
    done = wait_for(gateway.url, job["id"], {"succeeded", "failed"})
    assert done["state"] == "succeeded", done

    running, succeeded = receiver.wait_accepted(2)
    assert [r.json["event"] for r in (running, succeeded)] == ["running", "succeeded"]
    assert [r.headers["x-trainyard-event"] for r in (running, succeeded)] == [
        "running",
        "succeeded",
    ]
    for delivery in (running, succeeded):
        assert delivery.signed_with(hook.secret)
        assert not delivery.signed_with(other.secret)
        assert delivery.json["delivery_id"] == delivery.delivery_id
        assert delivery.json["job"]["id"] == job["id"]
    assert running.json["job"]["state"] == "running"
    assert succeeded.json["job"]["state"] == "succeeded"
    assert succeeded.json["job"]["progress"]["percent"] == 100.0

    with client(gateway.url) as api:
        listed = api.webhook_deliveries(hook.id).items
        assert [(d.event, d.status, d.attempts) for d in listed] == [
            ("succeeded", "delivered", 1),
            ("running", "delivered", 1),
        ]
        assert api.webhook_deliveries(other.id).items == []
    assert len(receiver.all()) == 2  # nothing for the other project's webhook


def test_a_receiver_down_for_ten_seconds_gets_every_event_afterwards(tmp_path, stack, receiver):
    processes, services = stack
    gateway = processes.gateway(TRAINYARD_EXTRA_SERVICES=services)
    with client(gateway.url) as api:
        hook = api.create_webhook(receiver.url, events=["running", "epoch", "succeeded", "failed"])
    receiver.status_until(503, 10)
    job = submit(gateway.url, toy_spec(tiny_dataset(tmp_path / "ds")))
    done = wait_for(gateway.url, job["id"], {"succeeded", "failed"})
    assert done["state"] == "succeeded", done

    accepted = receiver.wait_accepted(5, timeout=90)
    assert [r.json["event"] for r in accepted] == [
        "running",
        "epoch",
        "epoch",
        "epoch",
        "succeeded",
    ]
    assert [r.json["job"]["progress"]["epoch"] for r in accepted[1:4]] == [1, 2, 3]
    assert all(r.signed_with(hook.secret) for r in accepted)
    assert len({r.delivery_id for r in accepted}) == 5

    refused = [r for r in receiver.all() if r.answered == 503]
    assert len(refused) >= 2, "the receiver was tried more than once while it was down"
    first = accepted[0]
    tries = [r for r in receiver.all() if r.delivery_id == first.delivery_id]
    assert len(tries) >= 2 and {r.body for r in tries} == {first.body}  # the same delivery
    assert {r.delivery_id for r in refused} <= {r.delivery_id for r in accepted}

    with client(gateway.url) as api:
        listed = {d.delivery_id: d for d in api.webhook_deliveries(hook.id).items}
    assert {d.status for d in listed.values()} == {"delivered"}
    assert listed[first.delivery_id].attempts == len(tries)
    assert listed[first.delivery_id].last_status_code == 200


def test_a_slow_receiver_does_not_hold_up_the_job(tmp_path, stack, receiver):
    processes, services = stack
    gateway = processes.gateway(TRAINYARD_EXTRA_SERVICES=services, WEBHOOK_TIMEOUT="60")
    with client(gateway.url) as api:
        api.create_webhook(receiver.url)
    receiver.hold()  # every request waits until the test releases it
    job = submit(gateway.url, toy_spec(tiny_dataset(tmp_path / "ds")))
    # The receiver holds requests for up to 120 s: a job path that waited on it would not end.
    done = wait_for(gateway.url, job["id"], {"succeeded", "failed"}, timeout=60)
    assert done["state"] == "succeeded", done
    assert receiver.arrived.wait(30), "the running event is sent"
    assert receiver.all() == []  # and still unanswered: the job did not wait for it

    receiver.release()
    accepted = receiver.wait_accepted(2)
    assert [r.json["event"] for r in accepted] == ["running", "succeeded"]
