"""The dispatcher: starts queued jobs on their services and follows the runs it started.

It runs in a background thread of each gateway process. A job is claimed under a row lock
(`SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL) while still `queued`, so two gateway workers
never start the same job, and the service's start is idempotent on the job id, so a retried
start never trains twice.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta

import httpx
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from trainyard_gateway.db import Database
from trainyard_gateway.job_state import transition
from trainyard_gateway.metrics import record_dispatch
from trainyard_gateway.models import Job, utcnow
from trainyard_gateway.retries import continued_mlflow_run, end_or_retry
from trainyard_gateway.services import ServiceRegistry, describe_http_error, message_of
from trainyard_gateway.settings import GatewaySettings
from trainyard_gateway.tokens import new_token, token_hash
from trainyard_runtime.logs import job_scoped
from trainyard_wire.states import ACTIVE, JobState, is_terminal

log = logging.getLogger("trainyard.dispatcher")

# Starts per framework per round: bounds one round's work when a service reports no capacity.
MAX_STARTS_PER_ROUND = 50


def _no_slot(framework: str, capacity: object) -> str:
    most = f"at most {capacity}" if isinstance(capacity, int) else "no more"
    return f"waiting for a free slot: the {framework} service runs {most} jobs at once"


class Dispatcher:
    def __init__(self, db: Database, registry: ServiceRegistry, settings: GatewaySettings):
        self.db = db
        self.registry = registry
        self.settings = settings
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="trainyard-dispatcher", daemon=True)
        self._last_poll = 0.0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # keep dispatching whatever one round hit; it is logged
                log.exception("dispatcher round failed")
            self._wake.wait(self.settings.dispatch_interval)
            self._wake.clear()

    def tick(self) -> None:
        now = time.monotonic()
        if now - self._last_poll >= self.settings.service_poll_interval:
            self._last_poll = now
            self.registry.poll_all()
        self.dispatch_queued()
        self.follow_active()

    # -- dispatch ----------------------------------------------------------------------------
    def dispatch_queued(self) -> None:
        for framework in self.registry.frameworks:
            self._dispatch_framework(framework)

    def _dispatch_framework(self, framework: str) -> None:
        """Start as many of the framework's queued jobs, best first, as its service has room for."""
        status = self.registry.status(framework)
        with self.db.session() as session:
            if not self._has_queued(session, framework):
                return
            if not status.healthy:
                status = self.registry.poll(framework)
            if not status.healthy:
                self._mark_waiting(
                    session, framework, f"waiting for the {framework} service: {status.error}"
                )
                return
            capacity = (status.health or {}).get("capacity")
            free = self._free_slots(session, framework, capacity)
            if free <= 0:
                self._mark_waiting(session, framework, _no_slot(framework, capacity))
                return
            job_ids = session.scalars(
                select(Job.id)
                .where(Job.state == JobState.QUEUED, Job.framework == framework)
                .order_by(Job.priority.desc(), Job.created_at, Job.id)
                .limit(free)
            ).all()
        for job_id in job_ids:
            reason = self._dispatch(job_id, framework, status.url)
            if reason:
                break
        else:
            reason = _no_slot(framework, capacity)  # for those still waiting behind them
        with self.db.session(write=True) as session:
            self._mark_waiting(session, framework, reason)

    @staticmethod
    def _has_queued(session: Session, framework: str) -> bool:
        return (
            session.scalar(
                select(Job.id)
                .where(Job.state == JobState.QUEUED, Job.framework == framework)
                .limit(1)
            )
            is not None
        )

    @staticmethod
    def _free_slots(session: Session, framework: str, capacity: object) -> int:
        """Slots left: the service's capacity minus the framework's jobs starting or running.

        Counted from the job store, which every gateway worker shares, so no worker exceeds
        the capacity; a service that reports none has its own 429 as the only limit.
        """
        if not isinstance(capacity, int):
            return MAX_STARTS_PER_ROUND
        busy = session.scalar(
            select(func.count())
            .select_from(Job)
            .where(
                Job.framework == framework,
                Job.state.in_([JobState.STARTING.value, JobState.RUNNING.value]),
            )
        )
        return min(capacity - int(busy or 0), MAX_STARTS_PER_ROUND)

    @staticmethod
    def _mark_waiting(session: Session, framework: str, reason: str) -> None:
        """Say why the framework's queued jobs wait (one UPDATE, only rows that change)."""
        session.execute(
            update(Job)
            .where(
                Job.state == JobState.QUEUED,
                Job.framework == framework,
                or_(Job.queue_reason.is_(None), Job.queue_reason != reason),
            )
            .values(queue_reason=reason)
        )

    @job_scoped
    def _dispatch(self, job_id: str, framework: str, url: str) -> str | None:
        """Try to start one job. Returns why its framework can take no more now, if so."""
        token = new_token()
        claimed = self._claim(job_id, token, url)
        if claimed is None:
            return None  # another worker took it, or it was cancelled meanwhile
        spec, mlflow_run_id = claimed
        body = {
            "job_id": job_id,
            "spec": spec,
            "callback_url": f"{self.settings.callback_base()}/internal/v1/jobs/{job_id}/events",
            "callback_token": token,
        }
        if mlflow_run_id:
            body["mlflow_run_id"] = mlflow_run_id
        try:
            # Generous: a busy service may take a while; a retried start is idempotent anyway.
            response = self.registry.client.post(f"{url}/v1/runs", json=body, timeout=60)
        except httpx.HTTPError as exc:
            error = f"unreachable at {url}: {describe_http_error(exc)}"
            self.registry.mark_down(framework, error)
            return self._requeue(job_id, f"waiting for the {framework} service: {error}")
        if response.status_code in (200, 201):
            self._started(job_id, response.json().get("run_id", job_id))
            return None
        message, errors = message_of(response)
        if response.status_code == 422:
            self._fail(job_id, "rejected_by_service", message, errors=errors)
            return None
        if response.status_code == 429:
            return self._requeue(job_id, f"waiting for a free slot: {message}")
        return self._requeue(
            job_id, f"the {framework} service answered {response.status_code}: {message}"
        )

    def _claim(self, job_id: str, token: str, service_url: str) -> tuple[dict, str | None] | None:
        """Take a queued job for this worker (`queued` -> `starting`).

        Returns its spec and the MLflow run this attempt goes on in, or None if not taken.

        On PostgreSQL the row is locked first and skipped when another worker holds it; the
        UPDATE itself only changes a row that is still `queued`, which keeps every database
        (SQLite: one writer at a time) safe.
        """
        with self.db.session(write=True) as session:
            row = session.execute(
                select(Job.spec, Job.attempt, Job.mlflow)
                .where(Job.id == job_id, Job.state == JobState.QUEUED)
                .with_for_update(skip_locked=True)
            ).one_or_none()
            if row is None:
                return None
            spec, attempt, mlflow = row
            claimed = session.execute(  # type: ignore[attr-defined]  # an UPDATE's CursorResult
                update(Job)
                .where(Job.id == job_id, Job.state == JobState.QUEUED)
                .values(
                    state=JobState.STARTING,
                    callback_token_hash=token_hash(token),
                    service_url=service_url,
                    queue_reason=None,
                    updated_at=utcnow(),
                    dispatch_attempts=Job.dispatch_attempts + 1,
                )
            ).rowcount
            if claimed != 1:
                return None
            return dict(spec), continued_mlflow_run(attempt, mlflow)

    def _requeue(self, job_id: str, reason: str) -> str:
        with self.db.session(write=True) as session:
            session.execute(
                update(Job)
                .where(Job.id == job_id, Job.state == JobState.STARTING)
                .values(state=JobState.QUEUED, queue_reason=reason, callback_token_hash=None)
            )
        return reason

    def _started(self, job_id: str, run_id: str) -> None:
        with self.db.session(write=True) as session:
            job = session.get(Job, job_id, with_for_update=True)
            if job is None:
                return
            job.run_id = run_id
            record_dispatch(job)
            cancelled_meanwhile = is_terminal(job.state) or job.cancel_requested
            url = job.service_url
        if cancelled_meanwhile:  # the user cancelled while the start was in flight
            self._stop_run(url, run_id)

    def _fail(self, job_id: str, reason: str, message: str, **details: object) -> None:
        with self.db.session(write=True) as session:
            job = session.get(Job, job_id, with_for_update=True)
            if job is not None:
                transition(job, JobState.FAILED, {"reason": reason, "message": message, **details})

    # -- follow ------------------------------------------------------------------------------
    def follow_active(self) -> None:
        with self.db.session() as session:
            active = session.execute(
                select(Job.id, Job.service_url, Job.run_id, Job.cancel_requested).where(
                    Job.state.in_([s.value for s in ACTIVE])
                )
            ).all()
        for job_id, url, run_id, cancel_requested in active:
            if not url or not run_id:
                continue
            if cancel_requested and self._stop_run(url, run_id):
                self._end(job_id, JobState.CANCELLED, {"reason": "cancelled by user"})
                continue
            self._check_run(job_id, url, run_id)

    def _stop_run(self, url: str | None, run_id: str) -> bool:
        try:
            response = self.registry.client.post(f"{url}/v1/runs/{run_id}/stop")
        except httpx.HTTPError:
            return False
        return response.status_code in (200, 404)

    @job_scoped
    def _check_run(self, job_id: str, url: str, run_id: str) -> None:
        try:
            response = self.registry.client.get(f"{url}/v1/runs/{run_id}")
        except httpx.HTTPError as exc:
            self._service_unreachable(job_id, f"{url}: {describe_http_error(exc)}")
            return
        self._service_answered(job_id)
        if response.status_code == 404:
            self._maybe_lost(job_id)
            return
        if response.status_code != 200:
            return
        run = response.json()
        if run["status"] not in ("succeeded", "failed", "stopped") or not run.get("ended_at"):
            return
        # The run ended. Its own final status normally arrived before it exited; give any
        # in-flight batch a moment, then say what we know from the outside.
        ended = run["ended_at"]
        if (utcnow() - datetime.fromisoformat(ended)).total_seconds() < (
            self.settings.exit_grace_seconds
        ):
            return
        if run["status"] == "stopped":
            self._end(job_id, JobState.CANCELLED, {"reason": "stopped", "ended_at": ended})
            return
        tail = self._run_log_tail(url, run_id)
        exit_code = run.get("exit_code")
        # The service's attribution (oom_killed, evicted, …) when it has one.
        reason = (
            "exited_without_result"
            if exit_code == 0
            else (run.get("failure_reason") or "process_exited")
        )
        message = (
            "train.py exited with code 0 without reporting a result"
            if exit_code == 0
            else (run.get("reason") or f"exited with code {exit_code}")
        )
        self._end(
            job_id,
            JobState.FAILED,
            {
                "reason": reason,
                "message": message,
                "exit_code": exit_code,
                "signal": run.get("signal"),
                "oom": bool(run.get("oom")),
                "log_tail": tail,
            },
        )

    def _service_unreachable(self, job_id: str, error: str) -> None:
        """Mark the job (once) and keep checking; `lost` only when heartbeats stopped as well.

        One missed poll proves nothing: the service may be restarting while train.py, in its
        own process group, trains on and reports straight to the gateway.
        """
        now = utcnow()
        with self.db.session(write=True) as session:
            job = session.get(Job, job_id, with_for_update=True)
            if job is None or is_terminal(job.state):
                return
            if job.service_unreachable_since is None:
                job.service_unreachable_since = now
                log.warning("job %s: its service does not answer (%s)", job_id, error)
            away = now - job.service_unreachable_since
            silent = now - (job.last_event_at or job.updated_at)
            limit = timedelta(seconds=self.settings.service_unreachable_timeout)
            if away > limit and silent > timedelta(seconds=self.settings.heartbeat_timeout):
                end_or_retry(
                    session,
                    job,
                    JobState.LOST,
                    {
                        "reason": "service_unreachable",
                        "message": f"the {job.framework} service has not answered for "
                        f"{int(away.total_seconds())}s ({error}) and the run sent no heartbeat "
                        f"for {int(silent.total_seconds())}s",
                    },
                )

    def _service_answered(self, job_id: str) -> None:
        with self.db.session(write=True) as session:
            session.execute(
                update(Job)
                .where(Job.id == job_id, Job.service_unreachable_since.is_not(None))
                .values(service_unreachable_since=None)
            )

    def _run_log_tail(self, url: str, run_id: str) -> list[str]:
        try:
            response = self.registry.client.get(
                f"{url}/v1/runs/{run_id}/logs", params={"tail": self.settings.log_tail_lines}
            )
            return list(response.json().get("lines", [])) if response.status_code == 200 else []
        except (httpx.HTTPError, ValueError):
            return []

    def _maybe_lost(self, job_id: str) -> None:
        limit = timedelta(seconds=self.settings.heartbeat_timeout)
        with self.db.session(write=True) as session:
            job = session.get(Job, job_id, with_for_update=True)
            if job is None or is_terminal(job.state):
                return
            last = job.last_event_at or job.updated_at
            if utcnow() - last > limit:
                end_or_retry(
                    session,
                    job,
                    JobState.LOST,
                    {
                        "reason": "lost",
                        "message": f"no heartbeat for {int(limit.total_seconds())}s and the "
                        f"{job.framework} service no longer knows the run",
                    },
                )

    def _end(self, job_id: str, state: JobState, error: dict[str, object]) -> None:
        with self.db.session(write=True) as session:
            job = session.get(Job, job_id, with_for_update=True)
            if job is not None:
                end_or_retry(session, job, state, error)  # or another attempt, if one may help
