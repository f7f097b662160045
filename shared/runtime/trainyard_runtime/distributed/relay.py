"""The launcher's relay: every rank's events reach the job's one reporter through it.

Each rank connects over TCP (loopback on one node, the pod network across nodes), says who it
is with the job's callback token, then sends one JSON object per line:
`{"event": "log" | "status" | "metric" | "artifact" | "tracking", "fields": {…}}`.
Log lines from every rank go on with a `[rank N]` prefix; metrics, artifacts and tracking
come from rank 0 only. A final status is not passed on but kept with its rank: the launcher
decides the group's one final status once the group has ended (`verdict.py`). The relay keeps
each rank's last lines, and when each rank's connection ended, for that decision.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

FINAL_STATES = frozenset({"succeeded", "failed", "cancelled"})
TAIL_LINES = 50
MAX_LINE_BYTES = 1 << 20  # an event larger than this ends the connection


class Sink(Protocol):
    def log(self, line: str, stream: str = "stdout") -> None: ...
    def metric(
        self,
        epoch: int,
        total_epochs: int,
        metrics: Mapping[str, Any],
        *,
        elapsed_seconds: float | None = None,
        eta_seconds: float | None = None,
    ) -> None: ...
    def artifact(
        self, name: str, uri: str, size: int, sha256: str, kind: str = "checkpoint"
    ) -> None: ...
    def tracking(self, **fields: Any) -> None: ...


def rank_prefix(rank: int) -> str:
    return f"[rank {rank}] "


@dataclass
class RankRecord:
    """What the relay saw of one rank."""

    rank: int
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    final: dict[str, Any] | None = None  # its final status event's fields, with "state"
    ended_at: float | None = None  # monotonic time its connection closed

    @property
    def failed(self) -> bool:
        """It died (connection gone without a final status) or reported a failure."""
        if self.ended_at is None:
            return False
        return self.final is None or self.final.get("state") == "failed"


class RelayServer:
    def __init__(self, sink: Sink, token: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self._sink = sink
        self._token = token.encode()
        self._listener = socket.create_server((host, port), reuse_port=False)
        self._listener.settimeout(0.2)
        self._lock = threading.Lock()
        self.ranks: dict[int, RankRecord] = {}
        self._threads: list[threading.Thread] = []
        self._closed = threading.Event()
        self._acceptor = threading.Thread(target=self._accept, name="relay-accept", daemon=True)

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def start(self) -> RelayServer:
        self._acceptor.start()
        return self

    def record(self, rank: int) -> RankRecord:
        with self._lock:
            return self.ranks.setdefault(rank, RankRecord(rank))

    def close(self, timeout: float = 5.0) -> None:
        """Stop accepting; give connections still open `timeout` seconds to finish."""
        self._closed.set()
        self._acceptor.join(timeout)
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))
        with contextlib.suppress(OSError):
            self._listener.close()

    # -- internals --------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        record: RankRecord | None = None
        with conn, conn.makefile("rb") as lines:
            for raw in lines:
                if len(raw) > MAX_LINE_BYTES:
                    break
                try:
                    message = json.loads(raw)
                except ValueError:
                    break
                if record is None:
                    record = self._hello(message)
                    if record is None:
                        return  # not one of this job's ranks: say nothing, drop it
                    continue
                self._handle(record, message)
        if record is not None:
            record.ended_at = time.monotonic()

    def _hello(self, message: Any) -> RankRecord | None:
        if not isinstance(message, dict) or not isinstance(message.get("rank"), int):
            return None
        token = str(message.get("token", "")).encode()
        if not hmac.compare_digest(token, self._token):
            return None
        return self.record(message["rank"])

    def _handle(self, record: RankRecord, message: Any) -> None:
        if not isinstance(message, dict) or not isinstance(message.get("fields"), dict):
            return
        kind, fields = message.get("event"), message["fields"]
        try:
            if kind == "log":
                line = str(fields.get("line", ""))
                record.tail.append(line)
                self._sink.log(rank_prefix(record.rank) + line, str(fields.get("stream", "stdout")))
            elif kind == "status":
                if fields.get("state") in FINAL_STATES:
                    record.final = fields
                # `running` is the launcher's to say, once for the group.
            elif record.rank != 0:
                return  # one voice: metrics, checkpoints and tracking are rank 0's
            elif kind == "metric":
                self._sink.metric(**fields)
            elif kind == "artifact":
                self._sink.artifact(**fields)
            elif kind == "tracking":
                self._sink.tracking(**fields)
        except (TypeError, ValueError) as exc:  # a malformed event: say so, keep the rank
            note = f"{rank_prefix(record.rank)}[trainyard] bad relay event: {exc}"
            self._sink.log(note, "stderr")
