"""Job specs for the benchmarks, and the times the gateway stored for their jobs (jobs are
submitted and waited for through the Python client)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from trainyard_dev.synthetic import make_classification
from trainyard_gateway.db import make_engine
from trainyard_gateway.models import Job, JobEvent


def tiny_dataset(root: Path) -> Path:
    """The toy frameworks never read images; a valid ImageFolder is all the checks need."""
    if not (root / "val").is_dir():
        make_classification(root, train_per_class=2, val_per_class=1, size=16)
    return root


def toy_spec(dataset: Path, framework: str = "toy", **options: Any) -> dict[str, Any]:
    epochs = options.pop("epochs", 1)
    return {
        "framework": framework,
        "task": "classification",
        "model": "counter",
        "dataset": {"uri": str(dataset), "format": "imagefolder"},
        "hyperparams": {"epochs": epochs},
        "options": options,
        "project": "bench",
    }


def unix_time(stamp: str | datetime) -> float:
    """A stored timestamp as Unix seconds (the gateway's clock is this machine's clock)."""
    moment = datetime.fromisoformat(stamp) if isinstance(stamp, str) else stamp
    return moment.timestamp()


class JobStore:
    """Read-only access to the gateway's database through its own models, for the times the
    public API does not show (when the gateway stored each event)."""

    def __init__(self, database_url: str) -> None:
        self.engine = make_engine(database_url)

    def close(self) -> None:
        self.engine.dispose()

    def first_stored(self, job_id: str) -> dict[str, float]:
        """Unix time the gateway stored the job's first `running` status and first metric."""
        query = (
            select(JobEvent.type, JobEvent.data, JobEvent.received_at)
            .where(JobEvent.job_id == job_id, JobEvent.type.in_(["status", "metric"]))
            .order_by(JobEvent.seq)
        )
        found: dict[str, float] = {}
        with Session(self.engine) as session:
            for kind, data, received in session.execute(query):
                if kind == "metric":
                    found.setdefault("metric", received.timestamp())
                elif data.get("state") == "running":
                    found.setdefault("running", received.timestamp())
        return found

    def log_received(self, job_id: str) -> dict[int, float]:
        """seq -> Unix time the gateway stored each log line of the job."""
        query = select(JobEvent.seq, JobEvent.received_at).where(
            JobEvent.job_id == job_id, JobEvent.type == "log"
        )
        with Session(self.engine) as session:
            return {seq: received.timestamp() for seq, received in session.execute(query)}

    def job_times(self) -> list[tuple[str, float, float | None, float | None]]:
        """(state, created, started, finished) of every job, as Unix seconds."""
        query = select(Job.state, Job.created_at, Job.started_at, Job.finished_at)
        with Session(self.engine) as session:
            return [
                (state, created.timestamp(), _stamp(started), _stamp(finished))
                for state, created, started, finished in session.execute(query)
            ]


def _stamp(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()
