"""Migrations on both job stores: what a new column derives from the event log is filled in
for the jobs stored before it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import MetaData, Table, insert

from trainyard_gateway.db import Database, alembic_config, migrate
from trainyard_gateway.job_queries import job_view, logged_artifacts
from trainyard_gateway.models import Job


def _upgrade_to(db: Database, revision: str) -> None:
    config = alembic_config(db.engine.url.render_as_string(hide_password=False))
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_jobs_stored_before_0008_get_their_artifacts_early_stop_and_weights(
    store, tmp_path, request
):
    if store == "sqlite":
        url = f"sqlite:///{tmp_path / 'jobs.db'}"
    else:
        url = request.getfixturevalue("postgres_server").new_database()
    db = Database(url)
    try:
        _upgrade_to(db, "0007")
        at = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
        stopped = {"epoch": 2, "best_epoch": 1, "reason": "no better for 1 epoch"}
        jobs = [
            {
                "id": job_id,
                "framework": "toy",
                "task": "classification",
                "model": "counter",
                "project": "p",
                "priority": 0,
                "spec": {
                    "early_stopping": {"metric": "loss", "patience": 1},
                    "hyperparams": {"pretrained": True},
                },
                "state": state,
                "created_at": at,
                "updated_at": at,
                "cancel_requested": False,
                "attempt": 1,
            }
            for job_id, state in (("job-done", "succeeded"), ("job-bare", "failed"))
        ]

        def event(seq: int, kind: str, data: dict) -> dict:
            return {
                "job_id": "job-done",
                "seq": seq,
                "type": kind,
                "time": at,
                "received_at": at,
                "data": data,
            }

        def artifact(name: str, size: int) -> dict:
            uri = f"file:///s/{name}.{size}"
            sha = "0" * 64
            return {"name": name, "kind": "checkpoint", "uri": uri, "size": size, "sha256": sha}

        def weights(tier: str, sha: str) -> dict:
            return {
                "framework": "toy",
                "model": "counter",
                "tier": tier,
                "sha256": sha * 64,
                "size": 1234,
                "source": "http://hub.local/org/counter",
                "tried": [],
            }

        events = [
            event(1, "artifact", artifact("last.bin", 1)),
            event(2, "artifact", artifact("best.bin", 2)),
            event(3, "artifact", artifact("last.bin", 3)),
            event(4, "weights", weights("storage", "a")),
            event(5, "weights", weights("cache", "b")),
            event(6, "status", {"state": "succeeded", "stopped_early": stopped}),
        ]
        with db.engine.begin() as conn:
            # The tables as they stood then: the models' defaults name columns added later.
            stored = MetaData()
            conn.execute(insert(Table("jobs", stored, autoload_with=conn)), jobs)
            conn.execute(insert(Table("job_events", stored, autoload_with=conn)), events)
        migrate(db.engine)
        with db.read() as session:
            done = session.get(Job, "job-done")
            bare = session.get(Job, "job-bare")
            assert done is not None and bare is not None
            assert done.artifacts == logged_artifacts(session, "job-done")
            view = job_view(session, done)
            assert bare.artifacts is None and job_view(session, bare).artifacts == []
        assert [(a.name, a.size) for a in view.artifacts] == [("last.bin", 3), ("best.bin", 2)]
        assert view.stopped_early is not None and view.stopped_early.model_dump() == stopped
        assert view.weights is not None and (view.weights.tier, view.weights.sha256) == (
            "cache",
            "b" * 64,
        )
    finally:
        db.engine.dispose()
