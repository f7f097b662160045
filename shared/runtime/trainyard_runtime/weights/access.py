"""Where a run may look for pretrained weights: its cache folder and the sources' addresses.

Made from the run's environment (WEIGHTS_CACHE_DIR, HF_ENDPOINT, HF_TOKEN,
ULTRALYTICS_ASSETS_URL; see run_environment.py) and handed to the framework's train code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from trainyard_runtime.weights.local_cache import default_weights_cache


@dataclass(frozen=True)
class WeightsAccess:
    cache_dir: Path = field(default_factory=default_weights_cache)
    hf_endpoint: str | None = None  # None: huggingface.co
    hf_token: str | None = None
    ultralytics_assets_url: str | None = None  # None: Ultralytics' GitHub release

    def __repr__(self) -> str:  # never print the token
        token = "set" if self.hf_token else None
        return (
            f"WeightsAccess(cache_dir={self.cache_dir!s}, hf_endpoint={self.hf_endpoint!r}, "
            f"hf_token={token}, ultralytics_assets_url={self.ultralytics_assets_url!r})"
        )
