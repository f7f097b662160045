"""Server-Sent Events of a job's log lines, read from the job store as they arrive.

Polling the store (not an in-process queue) keeps it right with several gateway workers:
the callback that stored a line may have reached another process.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from trainyard_gateway.db import Database
from trainyard_gateway.job_queries import get_job, log_lines
from trainyard_wire.states import is_terminal

POLL_SECONDS = 0.1
KEEPALIVE_SECONDS = 15.0


def _read(db: Database, job_id: str, after: int):
    with db.read() as session:
        lines = log_lines(session, job_id, after_seq=after, limit=500)
        state = get_job(session, job_id).state
    return lines, state


async def stream_logs(db: Database, job_id: str, after: int) -> AsyncIterator[str]:
    last_sent = time.monotonic()
    while True:
        lines, state = await asyncio.to_thread(_read, db, job_id, after)
        for line in lines:
            after = line.seq
            data = json.dumps(line.model_dump(mode="json"))
            yield f"id: {line.seq}\nevent: log\ndata: {data}\n\n"
            last_sent = time.monotonic()
        if not lines:
            if is_terminal(state):
                yield f"event: end\ndata: {json.dumps({'state': state})}\n\n"
                return
            if time.monotonic() - last_sent > KEEPALIVE_SECONDS:
                yield ": keep-alive\n\n"
                last_sent = time.monotonic()
            await asyncio.sleep(POLL_SECONDS)
