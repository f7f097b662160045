"""Trained models kept loaded for predictions, least recently used out, within a memory budget.

Loading a model (fetching its checkpoint, building it, importing the framework the first time)
costs seconds; a prediction on a loaded one, milliseconds. The service keeps the models it was
asked for most recently, as many as fit in PREDICT_CACHE_BYTES by their weights' size, and
counts loads, hits and evictions (`GET /v1/predict/cache`) so a second request can be seen not
to reload. A model larger than the whole budget is still loaded for its request, and is the
first to go.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from trainyard_wire.predictions import ModelCacheEntry, ModelCacheView


class Predictor(Protocol):
    """A loaded model: `predict` takes PIL images and answers one dict per image (`classes` or
    `detections`, as `trainyard_wire.predictions.ImagePrediction` holds them)."""

    memory_bytes: int

    def predict(self, images: list[Any], top_k: int, conf: float) -> list[dict[str, Any]]: ...


@dataclass
class _Entry:
    predictor: Predictor
    uses: int = 0


class ModelCache:
    def __init__(self, budget_bytes: int, load: Callable[[str], Predictor]) -> None:
        self.budget_bytes = budget_bytes
        self._load = load
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0
        self.hits = 0
        self.evictions = 0

    def get(self, key: str) -> tuple[Predictor, bool]:
        """The model at `key` and whether it was loaded already. One load at a time: two
        requests for a model not yet loaded load it once."""
        with self._lock:
            entry = self._entries.get(key)
            cached = entry is not None
            if entry is None:
                entry = _Entry(self._load(key))
                self.loads += 1
                self._entries[key] = entry
            else:
                self.hits += 1
            self._entries.move_to_end(key)
            entry.uses += 1
            self._evict()
            return entry.predictor, cached

    def _used(self) -> int:
        return sum(entry.predictor.memory_bytes for entry in self._entries.values())

    def _evict(self) -> None:
        """Drop least recently used models until the rest fit (the newest always stays)."""
        while len(self._entries) > 1 and self._used() > self.budget_bytes:
            self._entries.popitem(last=False)
            self.evictions += 1

    def view(self) -> ModelCacheView:
        with self._lock:
            return ModelCacheView(
                budget_bytes=self.budget_bytes,
                used_bytes=self._used(),
                loads=self.loads,
                hits=self.hits,
                evictions=self.evictions,
                entries=[
                    ModelCacheEntry(key=key, bytes=entry.predictor.memory_bytes, uses=entry.uses)
                    for key, entry in self._entries.items()
                ],
            )
