"""What a rank of a distributed run reports through: its launcher's relay, not the gateway.

It offers the reporter's methods (the training context's `EventSink`), so a framework's code is
the same in one process and in many. Events go out over one TCP connection as they happen.
The launcher never writes back: the connection closing means the launcher is gone, and the
rank ends at once instead of training on unheard (or waiting in a collective forever).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

from trainyard_runtime.distributed.world import split_address
from trainyard_runtime.reporter import finite_or_none
from trainyard_wire.events import MAX_LOG_LINE

CONNECT_SECONDS = 60.0  # the launcher on node 0 may still be starting


class RelaySink:
    def __init__(self, sock: socket.socket, rank: int) -> None:
        self._sock = sock
        self.rank = rank
        self._lock = threading.Lock()
        self._broken = False
        self._closing = False

    @classmethod
    def connect(
        cls, address: str, rank: int, token: str, timeout: float = CONNECT_SECONDS
    ) -> RelaySink:
        host, port = split_address(address)
        deadline = time.monotonic() + timeout
        while True:
            try:
                sock = socket.create_connection((host, port), timeout=10)
                break
            except OSError as exc:
                if time.monotonic() >= deadline:
                    raise SystemExit(
                        f"rank {rank}: the launcher's relay at {address} is unreachable: {exc}"
                    ) from None
                time.sleep(0.2)
        sock.settimeout(None)
        sink = cls(sock, rank)
        sink._send({"rank": rank, "token": token})
        threading.Thread(target=sink._watch_launcher, name="relay-watch", daemon=True).start()
        return sink

    def status(self, state: str, **fields: Any) -> None:
        self._event("status", {"state": state, **fields})

    def metric(
        self,
        epoch: int,
        total_epochs: int,
        metrics: Mapping[str, Any],
        *,
        elapsed_seconds: float | None = None,
        eta_seconds: float | None = None,
    ) -> None:
        self._event(
            "metric",
            {
                "epoch": epoch,
                "total_epochs": total_epochs,
                "metrics": finite_or_none(metrics),
                "elapsed_seconds": elapsed_seconds,
                "eta_seconds": eta_seconds,
            },
        )

    def log(self, line: str, stream: str = "stdout") -> None:
        self._event("log", {"line": line[:MAX_LOG_LINE], "stream": stream})

    def artifact(
        self, name: str, uri: str, size: int, sha256: str, kind: str = "checkpoint"
    ) -> None:
        fields = {"name": name, "uri": uri, "size": size, "sha256": sha256, "kind": kind}
        self._event("artifact", fields)

    def tracking(self, **fields: Any) -> None:
        self._event("tracking", fields)

    def close(self, timeout: float = 0.0) -> bool:
        """Everything was sent as it happened; closing tells the relay this rank is done."""
        with self._lock:
            self._closing = True
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
            return not self._broken

    def _watch_launcher(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.recv(1)
        if not self._closing:
            gone = f"[trainyard] rank {self.rank}: the launcher is gone; ending"
            print(gone, file=sys.__stderr__)
            os.kill(os.getpid(), signal.SIGKILL)

    def _event(self, kind: str, fields: dict[str, Any]) -> None:
        self._send({"event": kind, "fields": fields})

    def _send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message, default=str) + "\n").encode()
        with self._lock:
            if self._broken:
                return
            try:
                self._sock.sendall(data)
            except OSError as exc:
                self._broken = True
                print(f"[trainyard] rank {self.rank}: relay gone: {exc}", file=sys.__stderr__)
