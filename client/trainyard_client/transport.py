"""HTTP to the gateway: the API key, timeouts, retries with backoff, errors as exceptions.

Only calls that are safe to repeat (reads, cancel) are retried after a dropped connection or a
502/503/504. A call that creates something (a job, a dataset) is retried only when the
connection was never made, so the gateway cannot have seen it: repeating it after a timeout
or a 503 could create it twice.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from trainyard_client.config import ClientConfig
from trainyard_client.errors import GatewayUnreachable, error_from_response

RETRY_STATUSES = frozenset({502, 503, 504})
MAX_DELAY_SECONDS = 10.0
# Errors raised before a single byte of the request left this machine.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout)


class Transport:
    def __init__(
        self,
        config: ClientConfig,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self.http = http or httpx.Client(
            base_url=config.url,
            headers={"User-Agent": "trainyard-client", **headers},
            timeout=config.timeout,
            follow_redirects=True,  # artifacts may redirect to presigned storage links
        )
        self._sleep = sleep

    def close(self) -> None:
        self.http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        safe: bool,
        accept: Collection[int] = (),
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one call; `safe` says it may be repeated; `accept` lists error statuses that
        are answers, not failures (the 503 of /ready)."""
        for attempt in self._attempts():
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if not self._may_retry(attempt, exc, safe):
                    raise GatewayUnreachable(self.config.url, exc) from exc
                self._sleep(self._delay(attempt))
                continue
            if response.status_code in accept or not response.is_error:
                return response
            if safe and response.status_code in RETRY_STATUSES and attempt < self.config.retries:
                self._sleep(self._delay(attempt, response))
                continue
            raise error_from_response(response)
        raise AssertionError("unreachable: the last attempt returns or raises")

    @contextmanager
    def stream(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """A response whose body is read as it arrives. Opening it is retried like a safe
        call; a connection lost while reading raises GatewayUnreachable."""
        response = self._open(method, path, **kwargs)
        try:
            yield response
        except httpx.TransportError as exc:
            raise GatewayUnreachable(self.config.url, exc) from exc
        finally:
            response.close()

    def _open(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for attempt in self._attempts():
            try:
                request = self.http.build_request(method, path, **kwargs)
                response = self.http.send(request, stream=True)
            except httpx.TransportError as exc:
                if not self._may_retry(attempt, exc, safe=True):
                    raise GatewayUnreachable(self.config.url, exc) from exc
                self._sleep(self._delay(attempt))
                continue
            if not response.is_error:
                return response
            response.read()
            response.close()
            if response.status_code in RETRY_STATUSES and attempt < self.config.retries:
                self._sleep(self._delay(attempt, response))
                continue
            raise error_from_response(response)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _attempts(self) -> range:
        return range(self.config.retries + 1)

    def _may_retry(self, attempt: int, exc: httpx.TransportError, safe: bool) -> bool:
        return attempt < self.config.retries and (safe or isinstance(exc, NOT_SENT))

    def _delay(self, attempt: int, response: httpx.Response | None = None) -> float:
        retry_after = response.headers.get("retry-after", "") if response is not None else ""
        if retry_after.isdigit():
            return min(float(retry_after), MAX_DELAY_SECONDS)
        base = min(self.config.backoff * 2**attempt, MAX_DELAY_SECONDS)
        return base * random.uniform(0.5, 1.0)  # jitter: many clients do not retry in step
