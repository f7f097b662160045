"""A TCP relay on loopback whose connections can be cut, like a load balancer dropping them."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress


class CuttableRelay:
    """Relays every connection to `upstream`; `cut()` breaks the open ones off mid-stream.
    `sent` keeps what clients sent, a chunk a read (a request's head arrives in one)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sent: list[bytes] = []
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve(self) -> None:
        while True:
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return  # closed
            upstream = socket.create_connection(self.upstream)
            with self._lock:
                self._open += [downstream, upstream]
            threading.Thread(
                target=self._pipe, args=(downstream, upstream, True), daemon=True
            ).start()
            threading.Thread(
                target=self._pipe, args=(upstream, downstream, False), daemon=True
            ).start()

    def _pipe(self, source: socket.socket, target: socket.socket, record: bool) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                if record:
                    self.sent.append(data)
                target.sendall(data)
        for each in (source, target):
            with suppress(OSError):
                each.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self._lock:
            cut, self._open = self._open, []
        for each in cut:
            with suppress(OSError):
                each.shutdown(socket.SHUT_RDWR)
            each.close()

    def close(self) -> None:
        with suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() in serve()
        self.listener.close()
        self.cut()


@contextmanager
def cuttable_relay(url: str) -> Iterator[CuttableRelay]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    relay = CuttableRelay((host, int(port)))
    thread = threading.Thread(target=relay.serve, daemon=True)
    thread.start()
    try:
        yield relay
    finally:
        relay.close()
        thread.join(timeout=5)
