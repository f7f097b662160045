"""Find pretrained weights through three tiers: this machine's cache, the platform's object
storage, and the framework's own source, in that order; the first copy that matches its
manifest is used.

Weights fetched from storage or from the source are installed in the local cache; weights from
the source are also put in storage, so the next run anywhere takes them from there. With no
tier able to serve, the run fails at once (`pretrained_unavailable`), naming each tier tried.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from trainyard_runtime.storage.base import StorageError
from trainyard_runtime.training.errors import TrainingError
from trainyard_runtime.weights.local_cache import WeightsCache
from trainyard_runtime.weights.manifest import Manifest, ManifestError
from trainyard_runtime.weights.shared_store import SharedWeights
from trainyard_runtime.weights.source import SourceUnavailable, WeightsSource
from trainyard_wire.failures import FailureReason


class Tier(StrEnum):
    CACHE = "cache"  # WEIGHTS_CACHE_DIR on the machine that runs train.py
    STORAGE = "storage"  # models/pretrained/… under STORAGE_URI
    SOURCE = "source"  # the framework's hub or asset server


@dataclass(frozen=True)
class Resolved:
    path: Path  # the local folder holding the weights' files (an entry of the local cache)
    tier: Tier
    manifest: Manifest
    tried: tuple[str, ...]  # what each tier before the one that served said
    published: str | None = None  # where weights from the source were put in storage

    def file(self, name: str | None = None) -> Path:
        """One file of the weights: `name`, or the only one there is."""
        if name is None:
            if len(self.manifest.files) != 1:
                names = [f.path for f in self.manifest.files]
                raise ValueError(f"the weights hold several files, name one of {names}")
            name = self.manifest.files[0].path
        return self.path / name


def resolve_weights(
    framework: str,
    model: str,
    *,
    cache: WeightsCache,
    shared: SharedWeights | None,
    source: WeightsSource | None,
    scratch: Path,
) -> Resolved:
    """The model's weights as a verified local folder, and which tier served them."""
    tried: list[str] = []
    with cache.locked(framework, model):
        hit = cache.lookup(framework, model)
        if not isinstance(hit, str):
            return Resolved(hit[0], Tier.CACHE, hit[1], ())
        tried.append(f"cache: {hit}")
        scratch.mkdir(parents=True, exist_ok=True)
        if shared is not None:
            temp = Path(tempfile.mkdtemp(dir=scratch, prefix="storage-"))
            try:
                got = shared.fetch(framework, model, temp)
                if isinstance(got, Manifest):
                    entry = cache.install(framework, model, temp, got)
                    return Resolved(entry, Tier.STORAGE, got, tuple(tried))
                tried.append(f"storage: {got}")
            except (StorageError, OSError, ManifestError) as exc:
                tried.append(f"storage: {shared.where(framework, model)}: {exc}")
            finally:
                shutil.rmtree(temp, ignore_errors=True)
        else:
            tried.append("storage: no STORAGE_URI for this run")
        if source is not None:
            temp = Path(tempfile.mkdtemp(dir=scratch, prefix="source-"))
            try:
                source.fetch(temp)
                manifest = Manifest.of_folder(temp, framework, model, source.describe())
                entry = cache.install(framework, model, temp, manifest)
                published = _publish(shared, entry, manifest)
                return Resolved(entry, Tier.SOURCE, manifest, tuple(tried), published)
            except (SourceUnavailable, ManifestError) as exc:
                tried.append(f"source: {exc}")
            finally:
                shutil.rmtree(temp, ignore_errors=True)
        else:
            tried.append(f"source: {framework} publishes no weights for {model!r}")
    raise TrainingError(
        FailureReason.PRETRAINED_UNAVAILABLE,
        f"no tier could serve pretrained weights for {framework} model {model!r}; tried "
        + "; ".join(f"{n}) {t}" for n, t in enumerate(tried, 1))
        + ". Seed them with `trainyard weights upload`, or train with "
        "hyperparams.pretrained=false.",
    )


def _publish(shared: SharedWeights | None, folder: Path, manifest: Manifest) -> str | None:
    """Put weights from the source in storage; a failure only costs the next run a download."""
    if shared is None:
        return None
    try:
        return shared.publish(folder, manifest)
    except (StorageError, OSError) as exc:
        print(f"[trainyard] could not put the weights in storage: {exc}", flush=True)
        return None
