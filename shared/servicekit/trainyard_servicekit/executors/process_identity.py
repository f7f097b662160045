"""Tell a process apart from a later one that got the same pid: its start time in /proc.

Field 22 of /proc/<pid>/stat is when the process started, in clock ticks since boot. A pid the
kernel hands out again belongs to a process with another start time, so (pid, start time)
names one process for as long as the machine runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
STAT_STATE = 3  # field numbers as proc(5) counts them, from 1
STAT_START_TIME = 22


def _stat_fields(pid: int, proc: Path = PROC) -> list[str] | None:
    """The fields of /proc/<pid>/stat from field 3 on (the name in field 2 may hold spaces)."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return stat.rsplit(")", 1)[1].split()


@dataclass(frozen=True)
class ProcessIdentity:
    pid: int
    start_time: int  # clock ticks after boot

    @classmethod
    def of(cls, pid: int, proc: Path = PROC) -> ProcessIdentity | None:
        fields = _stat_fields(pid, proc)
        if fields is None:
            return None
        return cls(pid, int(fields[STAT_START_TIME - 3]))

    def alive(self, proc: Path = PROC) -> bool:
        """True while this very process runs: same pid, same start time, not a zombie."""
        fields = _stat_fields(self.pid, proc)
        if fields is None:
            return False
        return fields[STAT_STATE - 3] != "Z" and int(fields[STAT_START_TIME - 3]) == self.start_time
