"""Helpers for tests that drive a real gateway over HTTP."""

from __future__ import annotations

import hashlib
import io
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx

from trainyard_dev.synthetic import make_classification

TERMINAL = {"succeeded", "failed", "cancelled", "lost"}


def toy_spec(dataset_dir: Path | str, **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "framework": "toy",
        "task": "classification",
        "model": "counter",
        "dataset": {"uri": str(dataset_dir), "format": "imagefolder"},
        "hyperparams": {"epochs": 3},
        "options": {},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(spec.get(key), dict):
            spec[key] = {**spec[key], **value}
        else:
            spec[key] = value
    return spec


def tiny_dataset(root: Path) -> Path:
    return make_classification(root, train_per_class=2, val_per_class=1, size=16)


def submit(url: str, spec: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{url}/v1/jobs", json=spec, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()


def get_job(url: str, job_id: str) -> dict[str, Any]:
    response = httpx.get(f"{url}/v1/jobs/{job_id}", timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for(url: str, job_id: str, states: set[str], timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            job = get_job(url, job_id)
        except httpx.TransportError:  # the gateway may be restarting
            time.sleep(0.2)
            continue
        if job["state"] in states:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never reached {states}; last seen: {job}")


def wait_until_checkpointed(url: str, job_id: str, epoch: int, timeout: float = 60) -> None:
    """Until the job reported `epoch` and stored its `last` checkpoint of that epoch."""
    checkpoint = hashlib.sha256(f"epoch {epoch}".encode()).hexdigest()  # the toy's content
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = get_job(url, job_id)
        done = job["progress"]["epoch"] or 0
        assert done <= epoch, f"job {job_id} went past epoch {epoch} unseen: {job}"
        if done == epoch and any(a["sha256"] == checkpoint for a in job["artifacts"]):
            return
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} never checkpointed epoch {epoch}: {job}")


def process_alive(pid: int) -> bool:
    """True while the pid exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def zip_of(folder: Path, top: str | None = "shapes") -> bytes:
    """The folder as a zip, wrapped in one top folder like most zip tools do."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            relative = path.relative_to(folder).as_posix()
            archive.write(path, f"{top}/{relative}" if top else relative)
    return buffer.getvalue()
