"""Read the end of a log file without loading all of it."""

from __future__ import annotations

import os
from pathlib import Path


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
