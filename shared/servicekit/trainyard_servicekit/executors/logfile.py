"""Read the end of a log file without loading all of it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO


def tail_lines(path: Path, count: int | None = None, block: int = 65536) -> list[str]:
    if not path.exists():
        return []
    with path.open("rb") as fh:
        if count is None:
            data = fh.read()
        else:
            fh.seek(0, os.SEEK_END)
            end = fh.tell()
            data = b""
            while end > 0 and data.count(b"\n") <= count:
                start = max(0, end - block)
                fh.seek(start)
                data = fh.read(end - start) + data
                end = start
    lines = [ln.split("\r")[-1] for ln in data.decode("utf-8", "replace").splitlines()]
    return lines if count is None else lines[-count:] if count > 0 else []


def tail_start(fh: BinaryIO, count: int | None, block: int = 65536) -> int:
    """The offset where the file's last `count` complete lines begin (None: the whole file).

    A line still being written (no newline yet) comes after them. Following a log from here,
    on the handle that measured it, misses no line written meanwhile.
    """
    if count is None:
        return 0
    position = fh.seek(0, os.SEEK_END)
    newlines = 0
    while position > 0:
        start = max(0, position - block)
        fh.seek(start)
        data = fh.read(position - start)
        end = len(data)
        while (found := data.rfind(b"\n", 0, end)) >= 0:
            newlines += 1
            if newlines > count:  # the newline ending the line before the last `count`
                return start + found + 1
            end = found
        position = start
    return 0
