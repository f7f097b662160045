"""SQLite writers queue across processes and threads: a second writer waits for the first."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

from trainyard_gateway.sqlite_writer import SqliteWriteLock

HOLD_IN_OTHER_PROCESS = """
import pathlib, sys, time
from trainyard_gateway.sqlite_writer import SqliteWriteLock
with SqliteWriteLock(sys.argv[1]).hold():
    print("held", flush=True)
    time.sleep(1.0)
    pathlib.Path(sys.argv[2]).write_text("done")  # the last thing it does while holding
"""


def test_a_writer_in_another_process_waits_for_the_file(tmp_path):
    database, marker = str(tmp_path / "jobs.db"), tmp_path / "other-done"
    with subprocess.Popen(
        [sys.executable, "-c", HOLD_IN_OTHER_PROCESS, database, str(marker)],
        stdout=subprocess.PIPE,
        text=True,
    ) as other:
        assert other.stdout is not None and other.stdout.readline().strip() == "held"
        with SqliteWriteLock(database).hold():
            # It got the place only once the other process let go: after its last step.
            assert marker.read_text() == "done"
        assert other.wait(timeout=30) == 0


def test_threads_of_one_process_write_one_at_a_time(tmp_path):
    lock = SqliteWriteLock(str(tmp_path / "jobs.db"))
    inside, most = 0, 0
    guard = threading.Lock()

    def write() -> None:
        nonlocal inside, most
        for _ in range(20):
            with lock.hold():
                with guard:
                    inside += 1
                    most = max(most, inside)
                time.sleep(0.001)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=write) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most == 1
