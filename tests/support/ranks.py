"""The ranks of a distributed run on this machine, found under its launcher through /proc."""

from __future__ import annotations

import time
from pathlib import Path

PROC = Path("/proc")


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children of each of its threads, recursively)."""
    found: list[int] = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        for children in (PROC / str(parent) / "task").glob("*/children"):
            try:
                kids = [int(each) for each in children.read_text().split()]
            except OSError:
                continue
            found += kids
            pending += kids
    return found


def rank_of(pid: int) -> int | None:
    """The RANK torchrun gave a process, or None for one that is no rank."""
    try:
        environ = (PROC / str(pid) / "environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for entry in environ:
        if entry.startswith(b"RANK="):
            return int(entry[5:])
    return None


def rank_pids(launcher: int, world_size: int, timeout: float = 120) -> dict[int, int]:
    """Rank → pid of every rank under the launcher, once all of them run."""
    deadline = time.monotonic() + timeout
    while True:
        ranks = {rank: pid for pid in descendants(launcher) if (rank := rank_of(pid)) is not None}
        if len(ranks) == world_size:
            return ranks
        assert time.monotonic() < deadline, f"ranks under {launcher}: {ranks}"
        time.sleep(0.1)


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent has ended)."""
    try:
        state = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_all_gone(pids: list[int], timeout: float = 60) -> list[int]:
    """Wait until none of `pids` runs; returns those still running at the deadline."""
    deadline = time.monotonic() + timeout
    while (left := [pid for pid in pids if alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left
