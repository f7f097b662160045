"""Where the reporter keeps events past its in-memory bound: a local JSON-lines file.

Events are appended in seq order and read back in the same order; once every spilled event
has been read back the file is emptied, so it only grows while the gateway stays away.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any


class SpillFile:
    def __init__(self, path: Path | None = None) -> None:
        """`path`: the file to use (made on the first spill); None: a new temporary file."""
        self._path = path
        self._file: IO[bytes] | None = None
        self._read_offset = 0
        self._count = 0  # spilled and not read back yet
        self.spilled = 0  # every event that ever went through the file

    @property
    def path(self) -> Path | None:
        return self._path

    def __len__(self) -> int:
        return self._count

    def append(self, event: dict[str, Any]) -> None:
        handle = self._open()
        handle.seek(0, os.SEEK_END)
        handle.write(json.dumps(event, separators=(",", ":")).encode() + b"\n")
        handle.flush()  # on disk as it happens: the file shows how far behind delivery is
        self._count += 1
        self.spilled += 1

    def take(self, limit: int) -> list[dict[str, Any]]:
        """The oldest `limit` spilled events, removed from the file."""
        if self._file is None or self._count == 0 or limit <= 0:
            return []
        self._file.seek(self._read_offset)
        events: list[dict[str, Any]] = []
        while len(events) < limit and self._count:
            events.append(json.loads(self._file.readline()))
            self._count -= 1
        self._read_offset = self._file.tell()
        if self._count == 0:
            self._file.seek(0)
            self._file.truncate()
            self._read_offset = 0
        return events

    def close(self) -> None:
        """Close the file; delete it unless events still wait in it (they show what was lost)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._path is not None and self._count == 0:
            self._path.unlink(missing_ok=True)

    def _open(self) -> IO[bytes]:
        if self._file is None:
            if self._path is None:
                fd, name = tempfile.mkstemp(prefix="trainyard-events-", suffix=".jsonl")
                os.close(fd)
                self._path = Path(name)
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self._path.open("w+b")
            self._read_offset = 0
        return self._file
