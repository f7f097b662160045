"""The run monitor: follows the runs the scheduler started, from the outside.

train.py reports its own progress and end. The monitor catches what it cannot report: a run
that exited without a final report (exit attribution), a run its service no longer knows
(`lost`), a service that stopped answering (`service_unreachable`), and cancels whose stop
has not reached the service yet. Each round asks each service once about all of its runs
(`POST /v1/run-lookup`), then records what it learnt in short write transactions of their own,
only for the jobs where there is something to record.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update

from trainyard_gateway.cancellation import RunToStop, record_cancelled, stop_run
from trainyard_gateway.db import Database
from trainyard_gateway.models import Job, utcnow
from trainyard_gateway.retries import end_or_retry
from trainyard_gateway.service_client import ServiceError, ServiceUnreachable
from trainyard_gateway.services import ServiceRegistry
from trainyard_gateway.settings import GatewaySettings
from trainyard_runtime.logs import job_scoped
from trainyard_wire.failures import FailureReason
from trainyard_wire.runs import RunView
from trainyard_wire.states import ACTIVE, JobState, is_terminal

log = logging.getLogger("trainyard.run_monitor")

# What a service reports for a run that has ended.
ENDED_RUN_STATUSES = frozenset({"succeeded", "failed", "stopped"})


@dataclass(frozen=True)
class ActiveRun:
    """A run to check, and whether its job is marked as having an unreachable service."""

    job_id: str
    run_id: str
    marked_unreachable: bool


class RunMonitor:
    def __init__(self, db: Database, registry: ServiceRegistry, settings: GatewaySettings):
        self.db = db
        self.registry = registry
        self.settings = settings

    def follow_active(self) -> None:
        """Check every active run: one call per service for all of its runs."""
        with self.db.read() as session:
            active = session.execute(
                select(
                    Job.id,
                    Job.service_url,
                    Job.run_id,
                    Job.cancel_requested,
                    Job.service_unreachable_since,
                ).where(Job.state.in_([s.value for s in ACTIVE]))
            ).all()
        by_service: dict[str, list[ActiveRun]] = {}
        for job_id, url, run_id, cancel_requested, unreachable_since in active:
            if not url or not run_id:
                continue
            if cancel_requested and stop_run(
                self.db, self.registry, RunToStop(job_id, url, run_id)
            ):
                continue
            by_service.setdefault(url, []).append(
                ActiveRun(job_id, run_id, unreachable_since is not None)
            )
        for url, runs in by_service.items():
            self.check_service(url, runs)

    def check_service(self, url: str, runs: list[ActiveRun]) -> None:
        """Ask the service about all `runs` at once; one that cannot list them is asked run by
        run (a listing fails whole when one of its executors is away)."""
        try:
            known = self.registry.client_at(url).runs([run.run_id for run in runs])
        except ServiceUnreachable as exc:
            for run in runs:
                self._service_unreachable(run.job_id, exc.message)
            return
        except ServiceError:
            for run in runs:
                self.check_run(run.job_id, url, run.run_id)
            return
        for run in runs:
            self.follow(run.job_id, url, run, known.get(run.run_id))

    @job_scoped
    def check_run(self, job_id: str, url: str, run_id: str) -> None:
        """Ask the service about one run."""
        client = self.registry.client_at(url)
        try:
            run = client.get(run_id)
        except ServiceUnreachable as exc:
            self._service_unreachable(job_id, exc.message)
            return
        except ServiceError:
            self._service_answered(job_id)
            return
        self.follow(job_id, url, ActiveRun(job_id, run_id, True), run)

    @job_scoped
    def follow(self, job_id: str, url: str, active: ActiveRun, run: RunView | None) -> None:
        """Act on what the service said of the job's run (None: it does not know it)."""
        if active.marked_unreachable:
            self._service_answered(job_id)
        if run is None:
            self._maybe_lost(job_id)
            return
        if run.status not in ENDED_RUN_STATUSES or run.ended_at is None:
            return
        # The run ended. Its own final status normally arrived before it exited; give any
        # in-flight batch a moment, then say what we know from the outside.
        if (utcnow() - run.ended_at).total_seconds() < self.settings.exit_grace_seconds:
            return
        if run.status == "stopped":  # only the stop path stops a run: a user's cancel
            record_cancelled(self.db, job_id)
            return
        self._end(job_id, JobState.FAILED, self._exit_error(url, run))

    def _exit_error(self, url: str, run: RunView) -> dict[str, object]:
        """Why a run that exited without reporting a result failed, as far as we can tell."""
        try:
            tail = self.registry.client_at(url).logs(run.run_id, self.settings.log_tail_lines)
        except ServiceError:
            tail = []
        if run.exit_code == 0:
            reason: str = FailureReason.EXITED_WITHOUT_RESULT
            message = "train.py exited with code 0 without reporting a result"
        else:
            # The service's attribution (oom_killed, evicted, …) when it has one.
            reason = run.failure_reason or FailureReason.PROCESS_EXITED
            message = run.reason or f"exited with code {run.exit_code}"
        return {
            "reason": reason,
            "message": message,
            "exit_code": run.exit_code,
            "signal": run.signal,
            "oom": run.oom,
            "log_tail": tail,
        }

    def _service_unreachable(self, job_id: str, error: str) -> None:
        """Mark the job (once) and keep checking; `lost` only when heartbeats stopped as well.

        One missed poll proves nothing: the service may be restarting while train.py, in its
        own process group, trains on and reports straight to the gateway.
        """
        now = utcnow()
        with self.db.write() as session:
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
                        "reason": FailureReason.SERVICE_UNREACHABLE,
                        "message": f"the {job.framework} service has not answered for "
                        f"{int(away.total_seconds())}s ({error}) and the run sent no heartbeat "
                        f"for {int(silent.total_seconds())}s",
                    },
                )

    def _service_answered(self, job_id: str) -> None:
        with self.db.write() as session:
            session.execute(
                update(Job)
                .where(Job.id == job_id, Job.service_unreachable_since.is_not(None))
                .values(service_unreachable_since=None)
            )

    def _maybe_lost(self, job_id: str) -> None:
        limit = timedelta(seconds=self.settings.heartbeat_timeout)
        with self.db.write() as session:
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
                        "reason": FailureReason.LOST,
                        "message": f"no heartbeat for {int(limit.total_seconds())}s and the "
                        f"{job.framework} service no longer knows the run",
                    },
                )

    def _end(self, job_id: str, state: JobState, error: dict[str, object]) -> None:
        with self.db.write() as session:
            job = session.get(Job, job_id, with_for_update=True)
            if job is not None:
                end_or_retry(session, job, state, error)  # or another attempt, if one may help
