"""The datasets API through a real gateway, and a job that trains on an uploaded dataset."""

from __future__ import annotations

import io
import os
import zipfile

import httpx
import pytest

from tests.support.datasets import tiny_dataset, zip_of
from tests.support.jobs import submit, toy_spec, wait_for
from trainyard_dev.synthetic import make_yolo

UPLOAD_LIMIT = 100_000


@pytest.fixture(scope="module")
def stack(module_processes):
    """A gateway with small dataset limits, a toy service, and `toydown` whose service is down."""
    root = module_processes.root
    _, toy_url = module_processes.toy_service(DATASET_CACHE_DIR=str(root / "run-cache"))
    gateway = module_processes.gateway(
        TRAINYARD_EXTRA_SERVICES=f"toy={toy_url},toydown=http://127.0.0.1:9",
        MAX_DATASET_UPLOAD_BYTES=str(UPLOAD_LIMIT),
        MAX_DATASET_FILES="100",
        MAX_DATASET_BYTES="1000000",
    )
    return gateway, root


def zip_entries(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def upload(url: str, data: bytes, name: str | None = None) -> httpx.Response:
    form = {"name": name} if name else None
    return httpx.post(
        f"{url}/v1/datasets", files={"file": ("shapes.zip", data)}, data=form, timeout=60
    )


def test_zip_upload_is_checked_stored_listed_and_deleted(tmp_path, stack):
    gateway, root = stack
    response = upload(gateway.url, zip_of(tiny_dataset(tmp_path / "ds")), name="tiny shapes")
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["id"].startswith("ds-") and len(created["id"]) == 19
    assert (created["name"], created["format"], created["source"]) == (
        "tiny shapes",
        "imagefolder",
        "upload",
    )
    assert created["summary"]["classes"] == ["circle", "square", "triangle"]
    assert created["summary"]["images"] == {"train": 6, "val": 3}
    assert created["problems"] == []
    stored = root / "storage" / "datasets" / created["id"]
    assert created["uri"] == stored.as_uri()
    assert sorted(p.name for p in stored.iterdir()) == ["train", "val"]  # top folder stripped
    assert len(list(stored.rglob("*.png"))) == 9

    listed = httpx.get(f"{gateway.url}/v1/datasets").json()
    assert listed[0]["id"] == created["id"]  # newest first
    assert httpx.get(f"{gateway.url}/v1/datasets/{created['id']}").json() == created

    assert httpx.delete(f"{gateway.url}/v1/datasets/{created['id']}").status_code == 204
    assert not stored.exists() or not list(stored.rglob("*.png"))
    missing = httpx.get(f"{gateway.url}/v1/datasets/{created['id']}")
    assert missing.status_code == 404 and created["id"] in missing.json()["message"]


def test_broken_datasets_answer_422_naming_files_and_store_nothing(tmp_path, stack):
    gateway, root = stack
    ds = make_yolo(tmp_path / "yolo", "detection", train_images=3, val_images=2, size=32)
    (ds / "labels" / "train" / "0001.txt").unlink()
    (ds / "labels" / "val" / "0000.txt").write_text("9 0.5 0.5 0.2 0.2\n")
    (ds / "images" / "val" / "0001.png").write_bytes(b"garbage")
    before = sorted((root / "storage").rglob("*"))
    response = upload(gateway.url, zip_of(ds))
    assert response.status_code == 422, response.text
    body = response.json()
    by_field = {e["field"]: e for e in body["errors"]}
    assert by_field["images/train/0001.png"]["problem"] == "missing_label"
    assert by_field["labels/val/0000.txt"]["problem"] == "class_out_of_range"
    assert by_field["images/val/0001.png"]["problem"] == "corrupt_image"
    assert "images/train/0001.png" in body["message"]
    assert sorted((root / "storage").rglob("*")) == before

    not_a_dataset = upload(gateway.url, zip_entries({"readme.txt": b"hello"}))
    assert not_a_dataset.status_code == 422
    assert "imagefolder" in not_a_dataset.json()["message"]
    not_a_zip = upload(gateway.url, b"PK\x03\x04 definitely not a zip")
    assert not_a_zip.status_code == 422 and "zip" in not_a_zip.json()["message"]


@pytest.mark.parametrize(
    "name", ["../escape.png", "/etc/evil.png", "train/../../escape.png", "a\\..\\b.png"]
)
def test_zip_slip_entries_are_refused(stack, name):
    gateway, root = stack
    response = upload(gateway.url, zip_entries({"train/a/x.png": b"x", name: b"evil"}))
    assert response.status_code == 422, response.text
    assert "unsafe" in response.json()["message"] or "absolute" in response.json()["message"]
    assert not (root / "escape.png").exists()


def test_symlink_entries_are_refused(stack):
    gateway, _ = stack
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        link = zipfile.ZipInfo("train/a/link.png")
        link.external_attr = (0o120777 << 16) | 0
        archive.writestr(link, "/etc/passwd")
    response = upload(gateway.url, buffer.getvalue())
    assert response.status_code == 422 and "symbolic link" in response.json()["message"]


def test_a_multipart_boundary_is_matched_with_its_case(tmp_path, stack):
    """Browsers send boundaries like ----WebKitFormBoundaryAbC: the body must be read with it."""
    gateway, _ = stack
    boundary = "----WebKitFormBoundaryMixedCASE42"
    data = zip_of(tiny_dataset(tmp_path / "ds"))
    body = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="shapes.zip"\r\n'
            "Content-Type: application/zip\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = httpx.post(
        f"{gateway.url}/v1/datasets",
        content=body,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        timeout=60,
    )
    assert response.status_code == 201, response.text
    assert response.json()["summary"]["images"] == {"train": 6, "val": 3}


def test_oversize_uploads_and_zip_bombs_answer_413(stack):
    gateway, _ = stack
    big = upload(gateway.url, os.urandom(UPLOAD_LIMIT + 70_000))  # refused on Content-Length
    assert big.status_code == 413 and str(UPLOAD_LIMIT) in big.json()["message"]

    def chunked():  # no Content-Length: counted while it streams
        yield b"x" * (UPLOAD_LIMIT + 1)

    raw = httpx.post(
        f"{gateway.url}/v1/datasets",
        content=chunked(),
        headers={"content-type": "application/zip"},
        timeout=30,
    )
    assert raw.status_code == 413 and str(UPLOAD_LIMIT) in raw.json()["message"]

    bomb = upload(gateway.url, zip_entries({"train/a/zeros.png": bytes(5_000_000)}))
    assert bomb.status_code == 413 and "1000000 bytes" in bomb.json()["message"]
    many = upload(gateway.url, zip_entries({f"train/a/{i}.png": b"" for i in range(101)}))
    assert many.status_code == 413 and "100 files" in many.json()["message"]

    other = httpx.post(f"{gateway.url}/v1/datasets", content=b"x", headers={"content-type": "a/b"})
    assert other.status_code == 415 and "multipart/form-data" in other.text


def test_registering_a_folder_and_jobs_naming_dataset_ids(tmp_path, stack):
    gateway, _ = stack
    folder = tiny_dataset(tmp_path / "ds")
    response = httpx.post(
        f"{gateway.url}/v1/datasets", json={"uri": folder.as_uri(), "name": "local"}, timeout=30
    )
    assert response.status_code == 201, response.text
    registered = response.json()
    assert (registered["source"], registered["uri"]) == ("registered", folder.resolve().as_uri())
    broken = tmp_path / "broken"
    (broken / "train" / "a").mkdir(parents=True)
    refused = httpx.post(f"{gateway.url}/v1/datasets", json={"uri": broken.as_uri()})
    assert refused.status_code == 422 and "val" in refused.text
    assert httpx.post(f"{gateway.url}/v1/datasets", json={"uri": "ftp://x"}).status_code == 422

    unknown = httpx.post(f"{gateway.url}/v1/jobs", json=toy_spec("ds-0000000000000000"))
    assert unknown.status_code == 422 and "no dataset has this id" in unknown.json()["message"]
    wrong = toy_spec(registered["id"], dataset={"format": "yolo"})
    mismatch = httpx.post(f"{gateway.url}/v1/jobs", json={**wrong, "framework": "toydown"})
    assert mismatch.status_code == 422
    assert mismatch.json()["errors"][0]["allowed"] == ["imagefolder"]

    job = submit(gateway.url, toy_spec(registered["id"], framework="toydown"))
    assert job["state"] == "queued"
    # A registered location is what the run reads; the job remembers the id.
    assert job["spec"]["dataset"]["uri"] == registered["uri"]
    refused = httpx.delete(f"{gateway.url}/v1/datasets/{registered['id']}")
    assert refused.status_code == 409 and job["id"] in refused.json()["message"]
    httpx.post(f"{gateway.url}/v1/jobs/{job['id']}/cancel", timeout=30)
    wait_for(gateway.url, job["id"], {"cancelled"}, timeout=30)
    assert httpx.delete(f"{gateway.url}/v1/datasets/{registered['id']}").status_code == 204
    assert folder.is_dir()  # registered data is not ours to delete


def test_a_job_trains_on_an_uploaded_dataset_fetched_through_the_cache(tmp_path, stack):
    gateway, root = stack
    created = upload(gateway.url, zip_of(tiny_dataset(tmp_path / "ds"), top=None)).json()
    jobs = []
    for _ in range(2):
        job = submit(gateway.url, toy_spec(created["id"], hyperparams={"epochs": 1}))
        jobs.append(wait_for(gateway.url, job["id"], {"succeeded", "failed"}, timeout=60))
    assert [j["state"] for j in jobs] == ["succeeded", "succeeded"], jobs
    assert jobs[0]["spec"]["dataset"]["uri"] == created["id"]
    logs = [
        [
            line["line"]
            for line in httpx.get(f"{gateway.url}/v1/jobs/{j['id']}/logs").json()["lines"]
            if line["line"].startswith(f"[trainyard] dataset {created['id']}")
        ]
        for j in jobs
    ]
    assert "9 files" in logs[0][0] and "downloaded" in logs[0][0], logs
    assert "reused from the cache" in logs[1][0], logs  # the second job downloaded nothing
    [entry] = [p for p in (root / "run-cache").iterdir()]
    assert len(list(entry.rglob("*.png"))) == 9
