"""Tee this process's `sys.stdout` and `sys.stderr` into log events.

Every write still goes straight through to the original stream (the run's log file), so a
process that dies abruptly loses nothing it printed. Complete lines are also handed to a
callback, which sends them to the gateway. A progress bar's carriage-return updates collapse to
the last one before the newline, as a terminal shows it. Output written below Python (C
extensions, child processes) reaches the log file but not the events.
"""

from __future__ import annotations

import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, TextIO


class _Tee:
    def __init__(self, original: TextIO, stream: str, capture: OutputCapture) -> None:
        self._original = original
        self._stream = stream
        self._capture = capture
        self._pending = ""

    def write(self, text: str) -> int:
        written = self._original.write(text)
        if "\n" in text:
            self._original.flush()
        self._pending += text
        if "\n" in self._pending:
            *lines, self._pending = self._pending.split("\n")
            for line in lines:
                self._capture.emit(line, self._stream)
        return written

    def flush(self) -> None:
        self._original.flush()

    def drain(self) -> None:
        if self._pending:
            self._capture.emit(self._pending, self._stream)
            self._pending = ""

    def __getattr__(self, name: str) -> Any:  # fileno, isatty, encoding…
        return getattr(self._original, name)


class OutputCapture:
    def __init__(self, on_line: Callable[[str, str], None], tail_lines: int = 50) -> None:
        self._on_line = on_line
        self.tail: deque[str] = deque(maxlen=tail_lines)
        self._lock = threading.Lock()
        self._tees: list[_Tee] = []
        self._originals: tuple[TextIO, TextIO] | None = None

    def start(self) -> OutputCapture:
        self._originals = (sys.stdout, sys.stderr)
        out, err = _Tee(sys.stdout, "stdout", self), _Tee(sys.stderr, "stderr", self)
        self._tees = [out, err]
        sys.stdout, sys.stderr = out, err
        return self

    def stop(self) -> None:
        """Hand on any unfinished line and put the original streams back."""
        for tee in self._tees:
            tee.flush()
            tee.drain()
        if self._originals is not None:
            sys.stdout, sys.stderr = self._originals
            self._originals = None

    def emit(self, raw: str, stream: str) -> None:
        line = raw.split("\r")[-1].rstrip()
        if not line:
            return
        with self._lock:
            self.tail.append(line)
        self._on_line(line, stream)
