"""The subprocess executor's runs on disk, so a restarted service finds them again.

One small JSON file per run, replaced atomically (written beside, then renamed) each time the
run changes: started, asked to stop, ended. It names the process by pid and start time, so a
pid the kernel handed out again is never taken for the run.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from trainyard_servicekit.executors.base import RunInfo, RunStatus
from trainyard_servicekit.executors.process_identity import ProcessIdentity

log = logging.getLogger(__name__)
FORMAT_VERSION = 1


@dataclass
class RunRecord:
    info: RunInfo
    process: ProcessIdentity | None  # None: the process's start time could not be read
    pgid: int
    log_path: Path

    def to_json(self) -> dict[str, Any]:
        info = self.info
        return {
            "version": FORMAT_VERSION,
            "run_id": info.run_id,
            "status": info.status.value,
            "executor": info.executor,
            "started_at": info.started_at.isoformat(),
            "ended_at": info.ended_at.isoformat() if info.ended_at else None,
            "pid": info.pid,
            "process_start_time": self.process.start_time if self.process else None,
            "pgid": self.pgid,
            "log_path": str(self.log_path),
            "stop_requested": info.stop_requested,
            "exit_code": info.exit_code,
            "signal": info.signal,
            "reason": info.reason,
            "failure_reason": info.failure_reason,
            "oom": info.oom,
            "processes": info.processes,
            "attempt": info.attempt,
            "devices": info.devices,
            "warm_start": info.warm_start,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        ended = data.get("ended_at")
        info = RunInfo(
            run_id=data["run_id"],
            status=RunStatus(data["status"]),
            executor=data["executor"],
            started_at=datetime.fromisoformat(data["started_at"]),
            ended_at=datetime.fromisoformat(ended) if ended else None,
            pid=data.get("pid"),
            exit_code=data.get("exit_code"),
            signal=data.get("signal"),
            reason=data.get("reason"),
            stop_requested=bool(data.get("stop_requested")),
            failure_reason=data.get("failure_reason"),
            oom=bool(data.get("oom")),
            processes=int(data.get("processes") or 1),
            attempt=data.get("attempt"),
            devices=data.get("devices"),
            warm_start=bool(data.get("warm_start")),
        )
        start_time = data.get("process_start_time")
        process = (
            ProcessIdentity(info.pid, int(start_time))
            if info.pid is not None and start_time is not None
            else None
        )
        return cls(info, process, int(data["pgid"]), Path(data["log_path"]))


class RunRegistry:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, run_id: str) -> Path:
        return self.directory / f"{run_id}.json"

    def save(self, record: RunRecord) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(record.info.run_id)
        temporary = path.with_name(f".{path.name}.tmp")
        # Written beside, then renamed over: a service killed at any moment leaves the old
        # record or the new one, never half of one. (No fsync: a machine that goes down takes
        # its runs with it, and an unreadable record is skipped on loading.)
        temporary.write_text(json.dumps(record.to_json()))
        os.replace(temporary, path)

    def load(self) -> list[RunRecord]:
        if not self.directory.is_dir():
            return []
        records = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                records.append(RunRecord.from_json(json.loads(path.read_text())))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("ignoring unreadable run record %s: %s", path, exc)
        return records

    def forget(self, run_id: str) -> None:
        self._path(run_id).unlink(missing_ok=True)


@dataclass(frozen=True)
class Retention:
    """How long finished runs stay listed: the newest `keep_finished`, none older than `keep`."""

    keep_finished: int = 500
    keep: timedelta = timedelta(hours=24)

    def expired(self, runs: Iterable[RunInfo], now: datetime | None = None) -> list[str]:
        now = now or datetime.now(UTC)
        finished = sorted(
            (run for run in runs if run.finished),
            key=lambda run: run.ended_at or run.started_at,
            reverse=True,
        )
        return [
            run.run_id
            for index, run in enumerate(finished)
            if index >= self.keep_finished or now - (run.ended_at or run.started_at) > self.keep
        ]
