"""The reporter train.py uses to call back: ordered, batched, retried, acknowledged events.

One background thread sends queued events in batches and adds a heartbeat every few seconds,
so heartbeats keep flowing while an epoch computes. Events leave the queue only once the
gateway acknowledges them; while it is unreachable they wait and are retried with backoff.
Up to `max_buffered` events wait in memory; more go to a spill file (JSON lines) and come back
in order as the memory queue empties, so a long outage costs disk, not memory or events.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception,
    wait_exponential_jitter,
)

from trainyard_runtime.reporter_spill import SpillFile
from trainyard_wire.events import (
    MAX_EVENTS_PER_BATCH,
    MAX_LOG_LINE,
    ArtifactEvent,
    HeartbeatEvent,
    LogEvent,
    MetricEvent,
    StatusEvent,
    TrackingEvent,
    WeightsEvent,
    _Event,
)

DEFAULT_MAX_BUFFERED = 10_000
DEFAULT_HEARTBEAT_INTERVAL = 5.0  # seconds between heartbeats
DEFAULT_FINAL_DELIVERY_TIMEOUT = 300.0  # seconds close() keeps retrying what is left


class TransientError(Exception):
    """The gateway could not take the batch now; sending it again later may work."""


class RejectedError(Exception):
    """The gateway refused the batch for good (bad token, finished job, invalid event)."""


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, httpx.TransportError | TransientError)


def finite_or_none(values: Mapping[str, Any]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key, value in values.items():
        number = float(value)
        out[str(key)] = number if math.isfinite(number) else None
    return out


class Reporter:
    def __init__(
        self,
        callback_url: str,
        token: str,
        *,
        batch_size: int = 200,
        flush_interval: float = 0.25,
        heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL,
        max_backoff: float = 5.0,
        timeout: float = 10.0,
        max_buffered: int = DEFAULT_MAX_BUFFERED,
        spill_path: Path | None = None,
    ) -> None:
        """`max_buffered`: events kept in memory before they spill to `spill_path` (None: a
        temporary file, made only if needed)."""
        self._url = callback_url
        self._headers = {"Authorization": f"Bearer {token}"}
        self._batch_size = min(batch_size, MAX_EVENTS_PER_BATCH)
        self._flush_interval = flush_interval
        self._heartbeat_interval = heartbeat_interval
        self._max_backoff = max_backoff
        self._client = httpx.Client(timeout=timeout)
        self._max_buffered = max(1, max_buffered)
        # Oldest first: the memory queue, then the spill file; each event is JSON-ready.
        self._pending: deque[dict[str, Any]] = deque()
        self._spill = SpillFile(spill_path)
        self._cond = threading.Condition()
        self._seq = 0
        self._deadline: float | None = None  # set by close(): stop retrying after it
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="trainyard-reporter", daemon=True)
        self._last_heartbeat = 0.0
        self.delivered = 0
        self.rejected = 0

    # -- public API -------------------------------------------------------------------------
    def start(self) -> Reporter:
        self._thread.start()
        return self

    def status(self, state: str, **fields: Any) -> None:
        self._put(StatusEvent, state=state, **fields)

    def heartbeat(self) -> None:
        self._put(HeartbeatEvent)

    def metric(
        self,
        epoch: int,
        total_epochs: int,
        metrics: Mapping[str, Any],
        *,
        elapsed_seconds: float | None = None,
        eta_seconds: float | None = None,
    ) -> None:
        self._put(
            MetricEvent,
            epoch=epoch,
            total_epochs=total_epochs,
            metrics=finite_or_none(metrics),
            elapsed_seconds=elapsed_seconds,
            eta_seconds=eta_seconds,
        )

    def log(self, line: str, stream: str = "stdout") -> None:
        self._put(LogEvent, line=line[:MAX_LOG_LINE], stream=stream)

    def artifact(
        self, name: str, uri: str, size: int, sha256: str, kind: str = "checkpoint"
    ) -> None:
        self._put(ArtifactEvent, name=name, uri=uri, size=size, sha256=sha256, kind=kind)

    def tracking(self, **fields: Any) -> None:
        self._put(TrackingEvent, **fields)

    def weights(self, **fields: Any) -> None:
        self._put(WeightsEvent, **fields)

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._pending) + len(self._spill)

    @property
    def spilled(self) -> int:
        """How many events had to wait in the spill file."""
        with self._cond:
            return self._spill.spilled

    @property
    def spill_path(self) -> Path | None:
        return self._spill.path

    def close(self, timeout: float = DEFAULT_FINAL_DELIVERY_TIMEOUT) -> bool:
        """Deliver everything queued, waiting at most `timeout` seconds. True if all arrived."""
        with self._cond:
            self._closed = True
            self._deadline = time.monotonic() + timeout
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout + 1.0)
        else:  # never started: deliver inline
            self._drain()
        self._client.close()
        with self._cond:
            delivered = not self._pending and not len(self._spill)
            if not self._thread.is_alive():
                self._spill.close()
        return delivered

    # -- internals --------------------------------------------------------------------------
    def _put(self, cls: type[_Event], **fields: Any) -> None:
        with self._cond:
            self._seq += 1
            event = cls(seq=self._seq, **fields).model_dump(mode="json")
            # Once anything has spilled, newer events queue behind it there: order is kept.
            if len(self._spill) or len(self._pending) >= self._max_buffered:
                self._spill.append(event)
            else:
                self._pending.append(event)
            if len(self._pending) >= self._batch_size:
                self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._closed:
                    self._cond.wait(self._flush_interval)
                closing = self._closed
            now = time.monotonic()
            if not closing and now - self._last_heartbeat >= self._heartbeat_interval:
                self._last_heartbeat = now
                self.heartbeat()
            self._drain()
            if closing:
                return

    def _drain(self) -> None:
        while True:
            with self._cond:
                batch = [self._pending[i] for i in range(min(self._batch_size, len(self._pending)))]
            if not batch:
                return
            try:
                self._send_with_retry(batch)
            except RejectedError as exc:
                print(f"[trainyard] gateway refused {len(batch)} events: {exc}", file=sys.stderr)
                self.rejected += len(batch)
            except (RetryError, httpx.TransportError, TransientError) as exc:
                # Only reached once close()'s deadline has passed.
                print(f"[trainyard] could not deliver events: {exc}", file=sys.stderr)
                return
            with self._cond:
                for _ in batch:
                    self._pending.popleft()
                room = self._max_buffered - len(self._pending)
                self._pending.extend(self._spill.take(room))
            self.delivered += len(batch)
            if self._stop_retrying(None):
                return  # close()'s deadline passed: what is left stays undelivered

    def _stop_retrying(self, _state: Any) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    def _send_with_retry(self, batch: list[dict[str, Any]]) -> None:
        retrying = Retrying(
            retry=retry_if_exception(_is_transient),
            wait=wait_exponential_jitter(multiplier=0.2, max=self._max_backoff, jitter=0.2),
            stop=self._stop_retrying,
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                self._send(batch)

    def _send(self, batch: list[dict[str, Any]]) -> None:
        body = {"events": batch}
        response = self._client.post(self._url, json=body, headers=self._headers)
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientError(f"gateway answered {response.status_code}")
        if response.status_code >= 400:
            raise RejectedError(f"{response.status_code} {response.text[:500]}")
