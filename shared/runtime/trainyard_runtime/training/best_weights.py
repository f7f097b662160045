"""The best epoch's weights, kept in memory and written to best.pt only before an upload.

A run whose metric improves every epoch would otherwise write a whole model to disk each epoch
(~60 ms for resnet18 on a CPU, more for larger models) for a file nobody reads until the next
upload (periodic or final). A copy in memory costs a fraction of that and cannot be changed by
the steps after it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

# Writes `path` from the kept weights and what was kept with them.
Writer = Callable[[Path, dict[str, Any], dict[str, Any]], object]


class BestWeights:
    def __init__(self, path: Path, write: Writer) -> None:
        self.path = path
        self._write = write
        self._unwritten: tuple[dict[str, Any], dict[str, Any]] | None = None

    def keep(self, module: Any, **extra: Any) -> None:
        """Keep `module`'s weights as they are now (a CPU copy) and `extra` to write with
        them."""
        state = {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}
        self._unwritten = (state, extra)

    def write(self) -> None:
        """Write best.pt if a better epoch was kept since the last write."""
        if self._unwritten is not None:
            state, extra = self._unwritten
            self._write(self.path, state, extra)
            self._unwritten = None
