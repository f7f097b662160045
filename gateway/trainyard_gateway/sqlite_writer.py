"""One SQLite writer at a time, queued across the gateway's threads and worker processes.

SQLite allows one write transaction per database file. Left to its busy handler, waiting
writers poll with sleeps that grow to 100 ms while each holds a pooled connection; under many
concurrent callbacks they starve one another until "database is locked" or an empty pool.
Queued here instead (a thread lock, then an flock on a file beside the database), the next
writer gets the file the moment the last one commits.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class SqliteWriteLock:
    def __init__(self, database_path: str | None) -> None:
        self._threads = threading.Lock()
        # An in-memory database lives in one process: the thread lock is all it needs.
        self._path = f"{database_path}.write-lock" if database_path else None
        self._fd: int | None = None
        self._pid = 0

    @contextmanager
    def hold(self) -> Iterator[None]:
        with self._threads:
            fd = self._file()
            if fd is None:
                yield
                return
            fcntl.flock(fd, fcntl.LOCK_EX)  # blocks without the GIL until the file is free
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _file(self) -> int | None:
        # Opened once per process: a forked worker must not share its parent's open file,
        # since flock locks belong to the open file, not to the process.
        if self._path is None:
            return None
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd
