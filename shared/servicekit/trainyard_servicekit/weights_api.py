"""The service's weights endpoints: seed pretrained weights into the shared cache (after
loading them in this framework), name models' weights, and remove seeded weights.

The service, not the gateway, writes `models/pretrained/…`: its STORAGE_URI is the one its
runs read weights from.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from trainyard_runtime.storage import open_storage
from trainyard_runtime.storage.base import UnsafeKeyError, check_key
from trainyard_runtime.weights.manifest import MANIFEST_FILE, Manifest, ManifestError
from trainyard_runtime.weights.shared_store import SharedWeights
from trainyard_servicekit.http_api import ApiError
from trainyard_wire.weights import (
    WEIGHTS_PATH,
    StoredWeights,
    WeightsFileView,
    WeightsNames,
    WeightsNamesAnswer,
)

MAX_FILES = 1000  # a model folder holds a few files; more is no model


def unzip_folder(archive: Path, folder: Path, max_bytes: int) -> None:
    """Unpack a zip of a weights folder: relative paths only, no links, bounded size."""
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = [m for m in zipped.infolist() if not m.is_dir()]
            if len(members) > MAX_FILES or sum(m.file_size for m in members) > max_bytes:
                raise ApiError(413, f"the zip unpacks to more than {max_bytes} bytes or files")
            for member in members:
                if (member.external_attr >> 16) & 0o170000 == 0o120000:
                    raise ApiError(422, f"the zip holds a link ({member.filename}): not allowed")
                target = folder / check_key(member.filename)
                target.parent.mkdir(parents=True, exist_ok=True)
                with zipped.open(member) as src, target.open("wb") as out:
                    shutil.copyfileobj(src, out)
    except UnsafeKeyError as exc:
        raise ApiError(422, f"unsafe path in the zip: {exc}") from None
    except zipfile.BadZipFile as exc:
        raise ApiError(422, f"the upload ends in .zip but is no zip: {exc}") from None


def install_weights_routes(app: FastAPI, service: Any, internal: Any) -> None:
    """`service` is the app's TrainingService (its plugin, settings and check lock)."""
    plugin, settings = service.plugin, service.settings

    def support() -> Any:
        if plugin.weights is None:
            raise ApiError(422, f"{plugin.name} takes no pretrained weights")
        return plugin.weights

    def shared() -> SharedWeights:
        return SharedWeights(open_storage(settings.resolved_storage_uri()))

    def store(upload: Path, filename: str, model: str, scratch: Path) -> StoredWeights:
        weights = support()
        name = weights.name_for(model)
        folder = scratch / "weights"
        folder.mkdir()
        if filename.lower().endswith(".zip"):
            unzip_folder(upload, folder, settings.max_weights_upload_bytes)
        else:
            shutil.move(upload, folder / filename)
        if (folder / MANIFEST_FILE).exists():
            (folder / MANIFEST_FILE).unlink()  # ours is written from the files themselves
        try:
            with service.check_lock:
                weights.load(folder, model)
        except Exception as exc:  # whatever the framework raises for weights it cannot load
            message = f"{plugin.name} cannot load these weights for {model!r}: "
            raise ApiError(422, message + f"{type(exc).__name__}: {str(exc)[:500]}") from None
        try:
            manifest = Manifest.of_folder(folder, plugin.name, name, f"upload {filename}")
        except ManifestError as exc:
            raise ApiError(422, str(exc)) from None
        uri = shared().publish(folder, manifest)
        return StoredWeights(
            framework=plugin.name,
            model=name,
            sha256=manifest.sha256,
            size=manifest.size,
            files=[WeightsFileView(**f.__dict__) for f in manifest.files],
            uri=uri,
        )

    @app.post(WEIGHTS_PATH, response_model=StoredWeights, dependencies=[Depends(internal)])
    async def seed(
        request: Request,
        model: Annotated[str, Query(min_length=1, max_length=500)],
        filename: Annotated[str, Query(min_length=1, max_length=255)],
    ) -> StoredWeights:
        """Load the uploaded weights (a file, or a .zip of a folder) and store them in tier 2."""
        if "/" in filename or filename in (".", "..") or "\\" in filename:
            raise ApiError(422, f"filename {filename!r} must be a plain file name")
        limit = settings.max_weights_upload_bytes
        scratch_root = settings.data_dir / "tmp"
        scratch_root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=scratch_root, prefix="weights-") as temp:
            upload, size = Path(temp) / "upload", 0
            with upload.open("wb") as out:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise ApiError(413, f"the upload is over {limit} bytes")
                    out.write(chunk)
            if size == 0:
                raise ApiError(422, "the upload is empty")
            return await run_in_threadpool(store, upload, filename, model, Path(temp))

    @app.post(
        f"{WEIGHTS_PATH}/names",
        response_model=WeightsNamesAnswer,
        dependencies=[Depends(internal)],
    )
    def names(body: WeightsNames) -> WeightsNamesAnswer:
        weights = support()
        return WeightsNamesAnswer(names={m: weights.name_for(m) for m in body.models})

    @app.delete(WEIGHTS_PATH, status_code=204, dependencies=[Depends(internal)])
    def remove(model: Annotated[str, Query(min_length=1, max_length=500)]) -> Response:
        """Remove seeded weights (by their name in the tiers) from storage."""
        shared().discard(plugin.name, model)
        return Response(status_code=204)
