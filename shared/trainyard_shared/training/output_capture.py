"""Capture this process's stdout and stderr at the file-descriptor level.

Everything written to fd 1 and 2 — by Python, C extensions or child processes — still goes to
the original output (the run's log file) and is also handed line by line to a callback, which
sends it to the gateway as log events. A progress bar's carriage-return updates collapse to
the last one before the newline, as a terminal would show it.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import deque
from collections.abc import Callable


class OutputCapture:
    def __init__(self, on_line: Callable[[str, str], None], tail_lines: int = 50) -> None:
        self._on_line = on_line
        self.tail: deque[str] = deque(maxlen=tail_lines)
        self._saved: dict[int, int] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def start(self) -> OutputCapture:
        for fd, stream in ((1, "stdout"), (2, "stderr")):
            sys.stdout.flush() if fd == 1 else sys.stderr.flush()
            saved = os.dup(fd)
            read_end, write_end = os.pipe()
            os.dup2(write_end, fd)
            os.close(write_end)
            self._saved[fd] = saved
            thread = threading.Thread(
                target=self._pump, args=(read_end, saved, stream), daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Restore the original descriptors and wait until every captured line is handed on."""
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, saved in self._saved.items():
            os.dup2(saved, fd)  # closes the pipe's last write end held by this process
        for thread in self._threads:
            thread.join(timeout=5)
        for saved in self._saved.values():
            os.close(saved)
        self._saved.clear()

    def _pump(self, read_end: int, original: int, stream: str) -> None:
        pending = b""
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                os.write(original, chunk)
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for raw in lines:
                    self._emit(raw, stream)
        if pending:
            self._emit(pending, stream)

    def _emit(self, raw: bytes, stream: str) -> None:
        line = raw.decode("utf-8", "replace").split("\r")[-1].rstrip()
        if not line:
            return
        with self._lock:
            self.tail.append(line)
        self._on_line(line, stream)
