"""The service client: answers read as wire models, failures as typed exceptions."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from trainyard_gateway.service_client import (
    ServiceBusy,
    ServiceConnections,
    ServiceRejected,
    ServiceStatusError,
    ServiceUnreachable,
)

URL = "http://service.test"


def client(handler: Callable[[httpx.Request], httpx.Response]):
    return ServiceConnections("token", transport=httpx.MockTransport(handler)).client(URL)


def answer(status: int, body: object) -> Callable[[httpx.Request], httpx.Response]:
    return lambda _request: httpx.Response(status, json=body)


def test_failures_are_typed_from_the_error_body() -> None:
    errors = [{"field": "model", "message": "unknown model", "allowed": ["counter"]}]
    with pytest.raises(ServiceRejected) as rejected:
        client(answer(422, {"error": "x", "message": "model: unknown", "errors": errors})).stop("r")
    assert (rejected.value.message, rejected.value.errors) == ("model: unknown", errors)
    with pytest.raises(ServiceBusy, match="no free slot"):
        client(answer(429, {"error": "x", "message": "no free slot"})).stop("r")
    with pytest.raises(ServiceStatusError) as other:
        client(answer(503, {"error": "x", "message": "kubernetes is away"})).stop("r")
    assert (other.value.status_code, other.value.message) == (503, "kubernetes is away")


def test_an_unknown_run_is_none_and_stopping_it_is_done() -> None:
    gone = client(answer(404, {"error": "not found", "message": "no such run"}))
    assert gone.get("r") is None
    gone.stop("r")  # nothing left to stop


def test_a_read_is_tried_again_once_but_a_dead_service_is_unreachable() -> None:
    calls: list[str] = []

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if len(calls) == 1:
            raise httpx.ReadError("connection reset", request=request)
        return httpx.Response(200, json={"run_id": "r", "lines": ["a", "b"]})

    assert client(flaky).logs("r", tail=2) == ["a", "b"] and len(calls) == 2

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(ServiceUnreachable, match=f"unreachable at {URL}: connection refused"):
        client(refused).health()


def test_an_answer_that_is_not_the_api_is_no_answer() -> None:
    with pytest.raises(ServiceUnreachable, match="not a RunView"):
        client(answer(200, {"unexpected": True})).get("r")
