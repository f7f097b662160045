"""Names of one run's Kubernetes objects, the same for the same run id: what the Job, its
Secret, its rendezvous Service and the status reader all refer to."""

from __future__ import annotations

import hashlib
import re

CONTAINER = "train"  # the training container's name in every pod


def job_name(run_id: str) -> str:
    """A DNS-1123 label (<= 63 characters) that is the same for the same run id, always."""
    base = re.sub(r"[^a-z0-9-]+", "-", run_id.lower()).strip("-") or "run"
    name = f"trainyard-{base}"
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:10]
    return f"{name[:52].rstrip('-')}-{digest}"
