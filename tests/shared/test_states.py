import itertools

import pytest

from trainyard_wire.states import (
    TERMINAL,
    InvalidTransition,
    JobState,
    can_retry,
    can_transition,
    is_terminal,
)


def test_happy_path_is_allowed():
    path = [JobState.QUEUED, JobState.STARTING, JobState.RUNNING, JobState.SUCCEEDED]
    assert all(can_transition(a, b) for a, b in itertools.pairwise(path))


@pytest.mark.parametrize("final", sorted(TERMINAL))
def test_terminal_states_never_change(final):
    assert is_terminal(final)
    assert not any(can_transition(final, target) for target in JobState)


def test_only_a_retry_takes_a_started_job_back_to_the_queue():
    assert can_transition(JobState.RUNNING, JobState.QUEUED)
    assert can_transition(JobState.STARTING, JobState.QUEUED)
    assert can_retry(JobState.RUNNING) and can_retry(JobState.STARTING)
    assert not any(can_retry(state) for state in (JobState.QUEUED, *TERMINAL))


def test_invalid_transition_says_what_is_allowed():
    message = str(InvalidTransition("succeeded", "running"))
    assert "none, the state is final" in message
    assert "cancelled" in str(InvalidTransition("queued", "running"))
