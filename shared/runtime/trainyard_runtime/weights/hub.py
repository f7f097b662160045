"""Weights from a Hugging Face hub (timm and transformers models), through huggingface_hub.

The endpoint and token come from the run's environment (HF_ENDPOINT, HF_TOKEN) and are passed
to huggingface_hub explicitly. A run keeps the hub offline for everything else (see
training/torch_env.py): the framework then loads the fetched files from disk, and only this
fetch talks to the hub.

huggingface_hub retries a file whose metadata request failed on the network five more times
with backoff (about 23 s per file) before it gives up. Against a hub that is down, that only
delays the job's `pretrained_unavailable` failure, so a fetch first asks the endpoint once, with
a short connect timeout: nothing accepting the connection fails the tier at once. A hub that
accepts it, however slowly it then answers, is left to huggingface_hub and its timeouts.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainyard_runtime.weights.source import SourceUnavailable

DEFAULT_HF_ENDPOINT = "https://huggingface.co"
# The reachability check: how long to wait for the connection, then for any answer. A slow
# answer is no failure (the download has its own timeouts); a refused connection or none
# within CONNECT_SECONDS is.
CONNECT_SECONDS = 5.0
ANSWER_SECONDS = 2.0


def check_reachable(url: str, wanted: str) -> None:
    """Raise SourceUnavailable when no server accepts a connection at `url` (refused, unknown
    host, no route, a proxy that cannot connect, or no answer to the connect in time); the
    message names what was `wanted` from it first."""
    import httpx

    timeout = httpx.Timeout(ANSWER_SECONDS, connect=CONNECT_SECONDS)
    try:
        with httpx.Client(timeout=timeout) as client:
            client.head(url)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.ProxyError) as exc:
        raise SourceUnavailable(
            f"{wanted}: {url} is unreachable ({type(exc).__name__}: {exc}); no download was tried"
        ) from exc
    except httpx.HTTPError:
        pass  # it accepted the connection: slow or odd answers are the download's to judge


@contextlib.contextmanager
def _hub_online() -> Iterator[None]:
    """Let huggingface_hub make requests for a moment, whatever HF_HUB_OFFLINE says."""
    from huggingface_hub import constants

    before = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = False
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = before


@dataclass(frozen=True)
class HubSource:
    repo_id: str
    # The files to take; None: the whole repository (as snapshot_download does), filtered.
    filenames: tuple[str, ...] | None = None
    # Or the first of these the repository has (model.safetensors, else pytorch_model.bin).
    one_of: tuple[str, ...] | None = None
    allow_patterns: tuple[str, ...] | None = None
    endpoint: str | None = None
    token: str | None = None
    revision: str | None = None

    @property
    def base_url(self) -> str:
        return (self.endpoint or DEFAULT_HF_ENDPOINT).rstrip("/")

    def describe(self) -> str:
        names = self.filenames or self.one_of
        files = f" ({' or '.join(names) if self.one_of else ', '.join(names)})" if names else ""
        return f"{self.base_url}/{self.repo_id}{files}"

    def fetch(self, dest: Path) -> None:
        try:
            import huggingface_hub
        except ImportError as exc:  # pragma: no cover - every hub framework installs it
            raise SourceUnavailable(f"huggingface_hub is not installed: {exc}") from exc
        check_reachable(self.base_url, self.describe())
        common: dict[str, Any] = {
            "repo_id": self.repo_id,
            "revision": self.revision,
            "endpoint": self.base_url,
            "token": self.token or False,
        }
        # Downloaded into a private hub cache and copied out: a local_dir download would leave
        # huggingface_hub's own bookkeeping files among the weights.
        with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".hub-") as cache, _hub_online():
            try:
                if self.one_of is not None:
                    self._first_of(huggingface_hub, cache, dest, common)
                elif self.filenames is not None:
                    for name in self.filenames:
                        got = huggingface_hub.hf_hub_download(
                            filename=name, cache_dir=cache, **common
                        )
                        target = dest / name
                        target.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copyfile(got, target)
                else:
                    folder = huggingface_hub.snapshot_download(
                        cache_dir=cache,
                        allow_patterns=list(self.allow_patterns) if self.allow_patterns else None,
                        **common,
                    )
                    shutil.copytree(str(folder), dest, dirs_exist_ok=True)
            except SourceUnavailable:
                raise
            except Exception as exc:  # any hub, HTTP or file error: this tier cannot serve
                raise SourceUnavailable(
                    f"{self.describe()}: {type(exc).__name__}: {str(exc)[:300]}"
                ) from exc

    def _first_of(self, hub: Any, cache: str, dest: Path, common: dict[str, Any]) -> None:
        from huggingface_hub.errors import RemoteEntryNotFoundError

        assert self.one_of is not None
        for name in self.one_of:
            try:
                got = hub.hf_hub_download(filename=name, cache_dir=cache, **common)
            except RemoteEntryNotFoundError:  # the hub says it has no such file (not: no answer)
                continue
            shutil.copyfile(got, dest / name)
            return
        raise SourceUnavailable(f"{self.describe()}: the repository has none of these files")
