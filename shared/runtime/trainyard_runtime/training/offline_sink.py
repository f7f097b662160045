"""Where events go when train.py runs by hand, with no gateway: metrics print to stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

from trainyard_runtime.reporter import finite_or_none


class OfflineSink:
    def status(self, state: str, **fields: Any) -> None:
        self._print({"type": "status", "state": state, **fields})

    def metric(
        self,
        epoch: int,
        total_epochs: int,
        metrics: Mapping[str, Any],
        *,
        elapsed_seconds: float | None = None,
        eta_seconds: float | None = None,
    ) -> None:
        data = {"type": "metric", "epoch": epoch, "total_epochs": total_epochs}
        self._print({**data, "metrics": finite_or_none(metrics), "eta_seconds": eta_seconds})

    def log(self, line: str, stream: str = "stdout") -> None:
        """Output already reaches the terminal; nothing to forward."""

    def artifact(self, name: str, uri: str, size: int, sha256: str, kind: str = "checkpoint"):
        self._print(
            {
                "type": "artifact",
                "name": name,
                "kind": kind,
                "uri": uri,
                "size": size,
                "sha256": sha256,
            }
        )

    def tracking(self, **fields: Any) -> None:
        self._print({"type": "tracking", **fields})

    def weights(self, **fields: Any) -> None:
        self._print({"type": "weights", **fields})

    def close(self, timeout: float = 0.0) -> bool:
        return True

    @staticmethod
    def _print(event: dict[str, Any]) -> None:
        print(f"[trainyard] {json.dumps(event, default=str)}", file=sys.__stderr__, flush=True)
