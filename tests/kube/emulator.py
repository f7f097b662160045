"""A Kubernetes API emulator (kmock) served on a loopback port from a background thread.

No API server can run here, so the tests talk the real REST protocol, through the official
client, to kmock's in-memory emulator. It stores what it is sent and streams watches; the
subclass below fills in what a real API server sets on creation (uid, resourceVersion,
creationTimestamp). Tests play the Job controller and kubelet by writing Job and Pod status.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp.web
import kmock
import yaml
from kubernetes.client import ApiClient, Configuration

RESOURCES = ("batch/v1/jobs", "v1/pods", "v1/secrets")


class ApiServerEmulator(kmock.KubernetesEmulator):
    _versions = itertools.count(1)

    async def __call__(self, raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        # The API server reads booleans like Go's ParseBool; the Python client sends `True`.
        if raw.query.get("watch") == "True":
            raw = raw.clone(rel_url=raw.rel_url.update_query(watch="true"))
        return await super().__call__(raw)

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        if request.action == kmock.action.CREATE and isinstance(request.data, dict):
            meta = request.data.setdefault("metadata", {})
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
            meta["resourceVersion"] = str(next(self._versions))
        return await super()._handle(request)


class EmulatedCluster:
    """`with EmulatedCluster() as cluster:` — cluster.url, cluster.client(), cluster.requests."""

    def __init__(self) -> None:
        self.url = ""
        self.handler: ApiServerEmulator | None = None
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())
        self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with ApiServerEmulator() as handler, kmock.Server(handler) as server:
            for resource in RESOURCES:
                handler.resources[resource] = {}
            self.handler = handler
            self.url = str(server.url).rstrip("/")
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> EmulatedCluster:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the Kubernetes emulator did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def on(self, criteria: Any, payload: Any) -> None:
        """Add a reaction (e.g. pod logs) from the test's thread."""
        assert self.handler is not None
        self._loop.call_soon_threadsafe(lambda: self.handler[criteria] << payload)

    @property
    def requests(self) -> list[kmock.Request]:
        assert self.handler is not None
        return list(self.handler._requests)

    def client(self) -> ApiClient:
        return ApiClient(Configuration(host=self.url))

    def write_kubeconfig(self, path: Path, namespace: str = "training") -> Path:
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
                    "users": [{"name": "tester", "user": {"token": "emulator-token"}}],
                    "contexts": [
                        {
                            "name": "emulator",
                            "context": {
                                "cluster": "emulator",
                                "user": "tester",
                                "namespace": namespace,
                            },
                        }
                    ],
                    "current-context": "emulator",
                }
            )
        )
        return path
