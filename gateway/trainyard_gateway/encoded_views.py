"""Job views as the API answers them, encoded once and kept by the content of the job's row.

Building a view is most of what GET /v1/jobs/{id} and the listing cost: the row's JSON columns
decoded, its times parsed, the pydantic view built and encoded again (~0.1 ms a job). Most jobs
do not change between two reads (a finished one never does), so the answer is kept, keyed by the
row's version (which the database counts up on every change to the row: migration 0011) and by
the jobs made from it: a job whose row or derived jobs changed has another key, so a kept answer
is never stale, and every gateway worker may keep its own. Whether an answer is still good costs
a read of four small columns. A queued job's view also holds its place in the queue, which
other jobs change: it is built each time.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, or_, select

from trainyard_gateway.db import Database
from trainyard_gateway.errors import JobNotFound
from trainyard_gateway.job_queries import JOBS, derived_of, job_view, list_jobs
from trainyard_wire.states import JobState

# What tells whether a kept answer is still the row's, plus what a page's cursor needs and what
# a derived job shows on its source's view.
KEY_COLUMNS = (JOBS.c.id, JOBS.c.row_version, JOBS.c.state, JOBS.c.kind, JOBS.c.created_at)
# The job and the jobs made from it, in one query.
_KEYS_WITH_DERIVED = (
    select(*KEY_COLUMNS)
    .where(or_(JOBS.c.id == bindparam("job_id"), JOBS.c.source_job_id == bindparam("job_id")))
    .order_by(JOBS.c.created_at, JOBS.c.id)
)
_FULL_ROW = select(JOBS).where(JOBS.c.id == bindparam("job_id"))
_FULL_ROWS = select(JOBS).where(JOBS.c.id.in_(bindparam("ids", expanding=True)))
MAX_KEPT = 4096  # answers per gateway worker, a few KiB each


class EncodedViews:
    """A bounded map of row content → encoded view, least recently used out; thread-safe."""

    def __init__(self, capacity: int = MAX_KEPT) -> None:
        self.capacity = capacity
        self._kept: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[Any, ...]) -> bytes | None:
        with self._lock:
            found = self._kept.get(key)
            if found is None:
                self.misses += 1
                return None
            self._kept.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: tuple[Any, ...], encoded: bytes) -> None:
        with self._lock:
            self._kept[key] = encoded
            self._kept.move_to_end(key)
            while len(self._kept) > self.capacity:
                self._kept.popitem(last=False)

    def __len__(self) -> int:
        return len(self._kept)


def _key(row: Any, derived: list[dict[str, Any]]) -> tuple[Any, ...]:
    return (row.id, row.row_version, *(tuple(d.values()) for d in derived))


def _keeps(row: Any) -> bool:
    return row.state != JobState.QUEUED  # a queued job's position changes with other jobs


def _encoded(
    views: EncodedViews,
    db: Database,
    conn: Connection,
    rows: Sequence[Any],  # rows of KEY_COLUMNS
    derived: dict[str, list[dict[str, Any]]],
) -> list[bytes]:
    """Each row's view, encoded: kept ones as they were, the others built now and kept."""
    answers: dict[str, bytes] = {}
    for row in rows:
        found = views.get(_key(row, derived.get(row.id, []))) if _keeps(row) else None
        if found is not None:
            answers[row.id] = found
    missing = [row.id for row in rows if row.id not in answers]
    if missing:
        # One job: a plain statement, cheaper to execute than an expanding IN.
        full = conn.execute(
            *(
                (_FULL_ROW, {"job_id": missing[0]})
                if len(missing) == 1
                else (_FULL_ROWS, {"ids": missing})
            )
        ).all()
        with db.session_on(conn) as session:
            for job in full:
                job_derived = derived.get(job.id, [])
                answer = job_view(session, job, job_derived).model_dump_json().encode()
                answers[job.id] = answer
                if _keeps(job):  # under the version just read, which the answer is of
                    views.put(_key(job, job_derived), answer)
    # A job deleted between the two reads is left out, as if the page had been read later.
    return [answers[row.id] for row in rows if row.id in answers]


def job_json(views: EncodedViews, db: Database, job_id: str) -> bytes:
    """GET /v1/jobs/{id}'s answer."""
    with db.rows() as conn:
        rows = conn.execute(_KEYS_WITH_DERIVED, {"job_id": job_id}).all()
        row = next((r for r in rows if r.id == job_id), None)
        derived = [{"id": r.id, "kind": r.kind, "state": r.state} for r in rows if r.id != job_id]
        found = [] if row is None else _encoded(views, db, conn, [row], {job_id: derived})
    if not found:
        raise JobNotFound(job_id)
    return found[0]


def page_json(views: EncodedViews, db: Database, **filters: Any) -> bytes:
    """GET /v1/jobs's answer: a page of views and the next page's cursor, as JobList encodes
    them."""
    with db.rows() as conn:
        rows, next_cursor = list_jobs(conn, columns=KEY_COLUMNS, **filters)
        derived = derived_of(conn, [row.id for row in rows])
        items = b",".join(_encoded(views, db, conn, rows, derived))
    return b'{"items":[' + items + b'],"next_cursor":' + json.dumps(next_cursor).encode() + b"}"
