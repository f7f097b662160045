"""Why an executor could not take a run, when the fault is its backend and not the run."""

from __future__ import annotations


class ExecutorUnavailable(RuntimeError):
    """The backend does not answer (e.g. the Kubernetes API server is unreachable)."""


class ExecutorRefused(RuntimeError):
    """The backend answered and said no (permissions, quota, an invalid object)."""
