"""`POST /v1/models/{job_id}/predict` with images named by URI (`urls`): objects in the
platform's S3 storage (the real SeaweedFS server), read by the gateway and answered like uploaded
files; refused, each saying what is allowed, for another scheme, a place outside the storage, a
missing object, a non-image, one too large and too many.

The model is the toy framework's colour rule (`TOY_COLOUR_MODEL=1`): a real computation on the
pixels whose answer is known without training (a red image is a circle, green a square, blue a
triangle)."""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.client.conftest import run_trainyard
from tests.support.datasets import tiny_dataset
from tests.support.jobs import submit, toy_spec, wait_for
from tests.support.processes import Processes
from tests.support.server_s3 import S3Server
from trainyard_wire.predictions import MAX_PREDICT_IMAGE_BYTES, MAX_PREDICT_IMAGES

COLOURS = {"circle": (230, 30, 30), "square": (30, 220, 40), "triangle": (30, 40, 230)}


@dataclass
class Stack:
    gateway: str
    root: str  # the storage's root URI
    job: dict[str, Any]


def png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (24, 16), colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def stack(
    module_processes: Processes, s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Stack:
    prefix = f"predict-{uuid.uuid4().hex}"
    root = f"s3://{s3_server.bucket}/{prefix}"
    storage = {**s3_server.env(), "STORAGE_URI": root}
    _, service = module_processes.toy_service(TOY_COLOUR_MODEL="1", **storage)
    gateway = module_processes.gateway(TRAINYARD_EXTRA_SERVICES=f"toy={service}", **storage)
    dataset = tiny_dataset(tmp_path_factory.mktemp("predict-s3") / "ds")
    job = submit(gateway.url, toy_spec(dataset, hyperparams={"epochs": 1}))
    done = wait_for(gateway.url, job["id"], {"succeeded", "failed", "lost"})
    assert done["state"] == "succeeded", done["error"]
    s3 = s3_server.client()
    for label, colour in COLOURS.items():
        s3.put_object(Bucket=s3_server.bucket, Key=f"{prefix}/inputs/{label}.png", Body=png(colour))
    s3.put_object(Bucket=s3_server.bucket, Key=f"{prefix}/inputs/notes.png", Body=b"plain text")
    big = png(COLOURS["circle"]).ljust(MAX_PREDICT_IMAGE_BYTES + 1, b"\0")
    s3.put_object(Bucket=s3_server.bucket, Key=f"{prefix}/inputs/big.png", Body=big)
    return Stack(gateway.url, root, done)


def predict(
    stack: Stack, urls: list[str], files: list[tuple[str, bytes]] | None = None
) -> httpx.Response:
    upload = [("images", (name, data, "image/png")) for name, data in files or []]
    return httpx.post(
        f"{stack.gateway}/v1/models/{stack.job['id']}/predict",
        data={"urls": urls, "top_k": "1"},
        files=upload or None,
        timeout=60,
    )


def refusal(response: httpx.Response, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()


def test_objects_in_storage_are_predicted_after_the_uploaded_files(stack: Stack) -> None:
    urls = [f"{stack.root}/inputs/{label}.png" for label in ("square", "circle")]
    response = predict(stack, urls, [("blue.png", png(COLOURS["triangle"]))])
    assert response.status_code == 200, response.text
    answers = response.json()["predictions"]
    assert [a["image"] for a in answers] == ["blue.png", *urls]
    assert [a["classes"][0]["label"] for a in answers] == ["triangle", "square", "circle"]
    assert {(a["width"], a["height"]) for a in answers} == {(24, 16)}

    # URIs alone, with no file: a form without files is enough.
    alone = predict(stack, urls[:1])
    assert alone.status_code == 200, alone.text
    assert alone.json()["predictions"][0]["classes"][0]["label"] == "square"


def test_another_scheme_is_refused_naming_the_storage(stack: Stack) -> None:
    body = refusal(predict(stack, ["https://example.com/a.png"]))
    assert body["message"].startswith("https://example.com/a.png: unknown scheme https://")
    assert body["errors"] == [
        {
            "field": "urls",
            "message": "https://example.com/a.png: unknown scheme https://",
            "allowed": [f"{stack.root}/…"],
        }
    ]


def test_an_object_outside_the_platforms_storage_is_refused(stack: Stack) -> None:
    bucket = stack.root.removeprefix("s3://").split("/")[0]
    for uri in (f"s3://{bucket}/elsewhere/circle.png", f"{stack.root}/../other/circle.png"):
        body = refusal(predict(stack, [uri]))
        assert body["errors"][0]["message"] == f"{uri}: not in this platform's storage"
        assert body["errors"][0]["allowed"] == [f"{stack.root}/…"]


def test_a_missing_object_is_refused(stack: Stack) -> None:
    uri = f"{stack.root}/inputs/absent.png"
    body = refusal(predict(stack, [f"{stack.root}/inputs/circle.png", uri]))
    assert body["errors"][0]["message"] == f"{uri}: no such object"


def test_an_object_that_is_not_an_image_is_refused(stack: Stack) -> None:
    uri = f"{stack.root}/inputs/notes.png"
    body = refusal(predict(stack, [uri]))
    assert body["message"].startswith(f"{uri} is not an image")
    assert body["errors"][0]["allowed"] == ["JPEG, PNG, BMP, GIF, TIFF or WebP"]


def test_an_object_too_large_is_413_with_the_limit(stack: Stack) -> None:
    uri = f"{stack.root}/inputs/big.png"
    body = refusal(predict(stack, [uri]), 413)
    assert body["message"].startswith(f"{uri} is larger than {MAX_PREDICT_IMAGE_BYTES} bytes")


def test_too_many_counts_files_and_objects_together(stack: Stack) -> None:
    urls = [f"{stack.root}/inputs/circle.png"] * MAX_PREDICT_IMAGES
    body = refusal(predict(stack, urls, [("red.png", png(COLOURS["circle"]))]))
    assert f"{MAX_PREDICT_IMAGES + 1} images sent" in body["message"]
    assert body["errors"][0]["allowed"] == [f"1 to {MAX_PREDICT_IMAGES} images"]


def test_the_cli_sends_files_and_storage_uris(stack: Stack, tmp_path: Path) -> None:
    blue = tmp_path / "blue.png"
    blue.write_bytes(png(COLOURS["triangle"]))
    uri = f"{stack.root}/inputs/circle.png"
    done = run_trainyard("predict", stack.job["id"], str(blue), uri, "--json", url=stack.gateway)
    assert done.returncode == 0, done.stderr
    answers = json.loads(done.stdout)["predictions"]
    assert [(a["image"], a["classes"][0]["label"]) for a in answers] == [
        ("blue.png", "triangle"),
        (uri, "circle"),
    ]
    missing = run_trainyard("predict", stack.job["id"], str(tmp_path / "no.png"), url=stack.gateway)
    assert missing.returncode == 2 and "is not a file" in missing.stderr
