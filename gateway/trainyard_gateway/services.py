"""The routing table: which training service serves which framework, and what we know of it."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class ServiceStatus:
    framework: str
    url: str
    healthy: bool = False
    checked_at: float = 0.0
    error: str | None = "not checked yet"
    health: dict[str, Any] | None = None
    capabilities: dict[str, Any] | None = None

    def view(self) -> dict[str, Any]:
        return {
            "framework": self.framework,
            "url": self.url,
            "healthy": self.healthy,
            "error": self.error,
            "health": self.health,
            "capabilities": self.capabilities,
        }


@dataclass
class ServiceRegistry:
    urls: dict[str, str]
    internal_token: str
    timeout: float = 5.0
    statuses: dict[str, ServiceStatus] = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self.statuses = {fw: ServiceStatus(fw, url) for fw, url in self.urls.items()}
        self.client = httpx.Client(
            timeout=self.timeout, headers={"Authorization": f"Bearer {self.internal_token}"}
        )

    @property
    def frameworks(self) -> list[str]:
        return sorted(self.urls)

    def url(self, framework: str) -> str:
        return self.urls[framework]

    def status(self, framework: str) -> ServiceStatus:
        return self.statuses[framework]

    def mark_down(self, framework: str, error: str) -> None:
        with self._lock:
            status = self.statuses[framework]
            status.healthy, status.error, status.checked_at = False, error, time.monotonic()

    def poll(self, framework: str) -> ServiceStatus:
        """Ask the service for its health (and its capabilities, once)."""
        status = self.statuses[framework]
        try:
            health = self.client.get(f"{status.url}/health", timeout=3.0)
            health.raise_for_status()
            capabilities = status.capabilities
            if capabilities is None:
                response = self.client.get(f"{status.url}/v1/capabilities")
                response.raise_for_status()
                capabilities = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            self.mark_down(framework, f"unreachable at {status.url}: {describe_http_error(exc)}")
            return status
        with self._lock:
            status.healthy, status.error = True, None
            status.health, status.capabilities = health.json(), capabilities
            status.checked_at = time.monotonic()
        return status

    def poll_all(self) -> list[ServiceStatus]:
        return [self.poll(framework) for framework in self.frameworks]

    def close(self) -> None:
        self.client.close()


def describe_http_error(exc: BaseException) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        return f"answered {exc.response.status_code}"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    return type(exc).__name__ + (f": {exc}" if str(exc) else "")


def message_of(response: httpx.Response) -> tuple[str, list[dict[str, Any]] | None]:
    """The message and field errors of an error answer in Trainyard's error format."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or f"status {response.status_code}", None
    if isinstance(body, dict):
        return str(body.get("message") or body), body.get("errors")
    return str(body)[:500], None
