"""Job states and the transitions allowed between them, in one place."""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    QUEUED = "queued"
    STARTING = "starting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    LOST = "lost"


TERMINAL: frozenset[JobState] = frozenset(
    {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.LOST}
)
# A run exists (or is being started) for the job.
ACTIVE: frozenset[JobState] = frozenset({JobState.STARTING, JobState.RUNNING})
# Not ended yet: waiting in the queue, or active.
NOT_ENDED: frozenset[JobState] = frozenset({JobState.QUEUED, *ACTIVE})

# A retry: a run that would end lost, OOM-killed or evicted, with retries left, goes back to the
# queue as the same job for another attempt (see the gateway's retries module).
RETRY_EDGES: frozenset[tuple[JobState, JobState]] = frozenset(
    {(JobState.STARTING, JobState.QUEUED), (JobState.RUNNING, JobState.QUEUED)}
)

TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.STARTING, JobState.CANCELLED, JobState.FAILED}),
    # A start the service never confirmed goes back to the queue; so does a retry.
    JobState.STARTING: frozenset({JobState.QUEUED, JobState.RUNNING, *TERMINAL}),
    JobState.RUNNING: frozenset({JobState.QUEUED, *TERMINAL}),
    **{state: frozenset() for state in TERMINAL},
}


def is_terminal(state: JobState | str) -> bool:
    return JobState(state) in TERMINAL


def can_transition(current: JobState | str, target: JobState | str) -> bool:
    return JobState(target) in TRANSITIONS[JobState(current)]


def can_retry(current: JobState | str) -> bool:
    """True for a job whose current attempt may be replaced by another (never a final one)."""
    return (JobState(current), JobState.QUEUED) in RETRY_EDGES


class InvalidTransition(ValueError):
    def __init__(self, current: JobState | str, target: JobState | str) -> None:
        allowed = sorted(TRANSITIONS[JobState(current)])
        super().__init__(
            f"a job in state '{current}' cannot become '{target}'"
            f" (allowed: {', '.join(allowed) if allowed else 'none, the state is final'})"
        )
