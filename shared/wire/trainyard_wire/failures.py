"""Why a job failed (or was cancelled), as the one list every part reports from.

A failed job's `error.reason` is one of these, whoever saw the failure: train.py (the exception
it caught), the executor (how the process or pod ended) or the gateway (what its watchdog saw).
Clients branch on the value; the message beside it is for people.
"""

from __future__ import annotations

from enum import StrEnum


class FailureReason(StrEnum):
    # train.py raised
    EXCEPTION = "exception"  # an unexpected exception
    STORAGE_UNAVAILABLE = "storage_unavailable"
    DATASET_NOT_FOUND = "dataset_not_found"
    DATASET_INVALID = "dataset_invalid"
    DATASET_UNSUPPORTED = "dataset_unsupported"
    MODEL_UNKNOWN = "model_unknown"
    MODEL_INVALID = "model_invalid"
    OPTIONS_INVALID = "options_invalid"
    TASK_UNSUPPORTED = "task_unsupported"
    SPEC_UNSUPPORTED = "spec_unsupported"
    PRETRAINED_UNAVAILABLE = "pretrained_unavailable"
    PRETRAINED_MISMATCH = "pretrained_mismatch"
    CHECKPOINT_UNAVAILABLE = "checkpoint_unavailable"
    CHECKPOINT_INVALID = "checkpoint_invalid"
    NO_CHECKPOINT = "no_checkpoint"
    RESUME_INVALID = "resume_invalid"
    RESUME_FINISHED = "resume_finished"
    NO_EPOCHS = "no_epochs"
    REGISTRATION_FAILED = "registration_failed"  # spec.register_as: the registry refused
    # export: the exported file answered differently from the model it came from
    EXPORT_MISMATCH = "export_mismatch"
    EXPORT_FAILED = "export_failed"  # the exporter or the exported file's runtime raised
    # memory, from the exception, the exit or the pod
    OOM_KILLED = "oom_killed"  # the kernel's OOM killer (or Kubernetes' OOMKilled)
    CUDA_OOM = "cuda_oom"  # the GPU ran out of memory
    OUT_OF_MEMORY = "out_of_memory"  # Python's MemoryError: the host refused an allocation
    # how the process or pod ended
    PROCESS_EXITED = "process_exited"  # a non-zero exit or a signal, nothing more known
    EXITED_WITHOUT_RESULT = "exited_without_result"  # exit code 0 and no final report
    EVICTED = "evicted"  # Kubernetes evicted the pod (node pressure, preemption)
    # One rank of a distributed run died by a signal or vanished without a report (not of its
    # own exception): the launcher stopped the group, which may start again from a checkpoint.
    RANK_LOST = "rank_lost"
    DEADLINE_EXCEEDED = "deadline_exceeded"  # Kubernetes' activeDeadlineSeconds
    # what the gateway saw
    REJECTED_BY_SERVICE = "rejected_by_service"  # the service refused the start (422)
    LOST = "lost"  # no heartbeat, and the service no longer knows the run
    SERVICE_UNREACHABLE = "service_unreachable"  # no answer and no heartbeat, for too long
    CANCELLED = "cancelled"  # a user cancelled the job (its only reason)


# What a cancelled job's error says, whichever part saw the cancel first: the gateway, or
# train.py stopped by its service at the gateway's request.
CANCELLED_MESSAGE = "cancelled by user"


OOM_REASONS: frozenset[FailureReason] = frozenset(
    {FailureReason.OOM_KILLED, FailureReason.CUDA_OOM, FailureReason.OUT_OF_MEMORY}
)


def is_oom(reason: str | None) -> bool:
    return reason in OOM_REASONS
