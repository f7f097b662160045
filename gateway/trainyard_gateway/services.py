"""The routing table: which training service serves which framework, and what we know of it."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from trainyard_gateway.service_client import ServiceClient, ServiceConnections, ServiceError
from trainyard_wire.runs import Capabilities, Health


@dataclass
class ServiceStatus:
    framework: str
    url: str
    healthy: bool = False
    checked_at: float = 0.0
    error: str | None = "not checked yet"
    health: Health | None = None
    capabilities: Capabilities | None = None

    @property
    def capacity(self) -> int | None:
        return self.health.capacity if self.health else None

    def view(self) -> dict[str, Any]:
        return {
            "framework": self.framework,
            "url": self.url,
            "healthy": self.healthy,
            "error": self.error,
            "health": self.health.model_dump(mode="json") if self.health else None,
            "capabilities": (
                self.capabilities.model_dump(mode="json") if self.capabilities else None
            ),
        }


@dataclass
class ServiceRegistry:
    """Statuses per framework, and a client for each service over one shared connection pool
    (`connections`, made from the token unless given)."""

    urls: dict[str, str]
    internal_token: str
    timeout: float = 5.0
    connections: ServiceConnections | None = None
    statuses: dict[str, ServiceStatus] = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self.statuses = {fw: ServiceStatus(fw, url) for fw, url in self.urls.items()}
        if self.connections is None:
            self.connections = ServiceConnections(self.internal_token, self.timeout)
        self._connections = self.connections

    @property
    def frameworks(self) -> list[str]:
        return sorted(self.urls)

    def client(self, framework: str) -> ServiceClient:
        return self._connections.client(self.urls[framework])

    def client_at(self, url: str) -> ServiceClient:
        """The service a run was started on (its URL is kept on the job)."""
        return self._connections.client(url)

    def status(self, framework: str) -> ServiceStatus:
        return self.statuses[framework]

    def mark_down(self, framework: str, error: str) -> None:
        with self._lock:
            status = self.statuses[framework]
            status.healthy, status.error, status.checked_at = False, error, time.monotonic()

    def poll(self, framework: str) -> ServiceStatus:
        """Ask the service for its health (and its capabilities, once)."""
        status = self.statuses[framework]
        client = self.client(framework)
        try:
            health = client.health()
            capabilities = status.capabilities or client.capabilities()
        except ServiceError as exc:
            self.mark_down(framework, _as_unreachable(status.url, exc))
            return status
        with self._lock:
            status.healthy, status.error = True, None
            status.health, status.capabilities = health, capabilities
            status.checked_at = time.monotonic()
        return status

    def poll_all(self) -> list[ServiceStatus]:
        return [self.poll(framework) for framework in self.frameworks]

    def close(self) -> None:
        self._connections.close()


def _as_unreachable(url: str, exc: ServiceError) -> str:
    """A service that fails its health check is away, whatever it answered."""
    if exc.status_code is None:
        return exc.message
    return f"unreachable at {url}: answered {exc.status_code}"
