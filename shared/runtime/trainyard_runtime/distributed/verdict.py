"""The one final status of a distributed run, decided by its launcher once the group ended.

Ranks report their own endings to the relay, but a rank torn down because another died would
say `cancelled`, and a rank killed by a signal says nothing: neither may speak for the job.
The launcher weighs what it knows — how the group ended (torchrun's view of its local ranks)
and what the relay saw of every rank — and names the rank that failed first.
"""

from __future__ import annotations

import signal as signals
from dataclasses import dataclass, field
from typing import Any

from trainyard_runtime.distributed.relay import RankRecord
from trainyard_runtime.failure import describe_exit, process_failure
from trainyard_wire.failures import CANCELLED_MESSAGE, FailureReason

EXIT_FAILED = 1
EXIT_CANCELLED = 128 + signals.SIGTERM


@dataclass(frozen=True)
class RankExit:
    """A local rank's process that ended badly, as torchrun saw it."""

    rank: int
    exit_code: int | None
    signal: int | None


@dataclass
class GroupOutcome:
    succeeded: bool = False
    cancelled: bool = False
    failures: list[RankExit] = field(default_factory=list)
    # The launcher itself could not run the group (a rendezvous that timed out, …).
    error: str | None = None
    oom_killer_fired: bool = False


@dataclass(frozen=True)
class Verdict:
    state: str
    fields: dict[str, Any]
    exit_code: int


def decide(outcome: GroupOutcome, ranks: dict[int, RankRecord]) -> Verdict:
    if outcome.cancelled:
        fields = {"reason": FailureReason.CANCELLED, "message": CANCELLED_MESSAGE}
        return Verdict("cancelled", fields, EXIT_CANCELLED)
    if outcome.succeeded:
        main = ranks.get(0)
        final = main.final if main is not None else None
        if final is not None and final.get("state") == "succeeded":
            return Verdict("succeeded", _without_state(final), 0)
        return _failed(
            FailureReason.EXITED_WITHOUT_RESULT,
            "every rank exited 0, but rank 0 sent no final report",
            main.tail if main is not None else (),
            0,
        )
    culprit = _first_failed(outcome, ranks)
    if culprit is None:
        message = outcome.error or "the group failed and no rank says why"
        return _failed(FailureReason.PROCESS_EXITED, message, (), None)
    record = ranks.get(culprit) or RankRecord(culprit)
    local = next((each for each in outcome.failures if each.rank == culprit), None)
    exit_code = local.exit_code if local else None
    signal = local.signal if local else None
    final = record.final
    if final is not None and final.get("state") == "failed":
        fields = _without_state(final)
        fields["message"] = f"rank {culprit}: {fields.get('message') or 'failed'}"
        fields["exit_code"] = exit_code if exit_code is not None else fields.get("exit_code")
        return Verdict("failed", fields, EXIT_FAILED)
    failure = process_failure(
        exit_code, signal, oom_killer_fired=outcome.oom_killer_fired, log_tail=list(record.tail)
    )
    reason = failure.reason
    how = describe_exit(exit_code, signal) if local else "ended without a report"
    if reason == FailureReason.PROCESS_EXITED and (signal is not None or local is None):
        reason = FailureReason.RANK_LOST
    message = (
        f"rank {culprit} {how}; the other ranks were stopped"
        if reason in (FailureReason.PROCESS_EXITED, FailureReason.RANK_LOST)
        else f"rank {culprit}: {failure.message}"
    )
    return _failed(reason, message, record.tail, exit_code)


def _first_failed(outcome: GroupOutcome, ranks: dict[int, RankRecord]) -> int | None:
    """The rank whose failure came first: by when its relay connection ended, else torchrun's."""
    failed = [record for record in ranks.values() if record.failed]
    if failed:
        return min(failed, key=lambda record: record.ended_at or 0.0).rank
    if outcome.failures:
        return outcome.failures[0].rank
    return None


def _failed(reason: FailureReason, message: str, tail: Any, exit_code: int | None) -> Verdict:
    fields = {
        "reason": reason,
        "message": message,
        "exit_code": exit_code if exit_code is not None else EXIT_FAILED,
        "log_tail": list(tail),
    }
    return Verdict("failed", fields, EXIT_FAILED)


def _without_state(final: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in final.items() if key != "state"}
