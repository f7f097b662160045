"""A webhook receiver on a loopback port, in a thread of the test: records every request.

`status_until(code, when)` answers `code` until the monotonic time `when` (a receiver that is
down); `hold()` keeps each request open until `release()` (a slow receiver).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int  # the status the receiver answered with

    @property
    def json(self) -> dict[str, Any]:
        return dict(json.loads(self.body))

    @property
    def delivery_id(self) -> str:
        return self.headers["x-trainyard-delivery"]

    def signed_with(self, secret: str) -> bool:
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.headers["x-trainyard-signature"], expected)


class WebhookReceiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.arrived = threading.Event()  # set at each request's arrival
        self._lock = threading.Lock()
        self._down: tuple[int, float] | None = None
        self._held = threading.Event()
        self._held.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                receiver.arrived.set()
                receiver._held.wait(timeout=120)
                status = 200
                if receiver._down and time.monotonic() < receiver._down[1]:
                    status = receiver._down[0]
                with receiver._lock:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    receiver.received.append(Received(headers, body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def status_until(self, status: int, seconds: float) -> None:
        self._down = (status, time.monotonic() + seconds)

    def hold(self) -> None:
        self._held.clear()

    def release(self) -> None:
        self._held.set()

    def accepted(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if 200 <= r.answered < 300]

    def all(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def wait_accepted(self, count: int, timeout: float = 60) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(accepted := self.accepted()) < count:
            assert time.monotonic() < deadline, f"{len(accepted)} of {count} deliveries arrived"
            time.sleep(0.05)
        return accepted

    def close(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
