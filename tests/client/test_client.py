"""The Python client against the real gateway: pagination, errors, a log stream that breaks
off, uploads and downloads with progress, waiting, retries."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.client.conftest import API_KEY
from tests.client.proxy import cuttable_relay
from tests.support.datasets import zip_of
from trainyard_client import (
    Client,
    ClientConfig,
    InvalidRequest,
    NotFound,
    ServerError,
    Unauthorized,
    WaitTimeout,
)


def test_pages_and_the_iterator_over_all_of_them(api, queued_spec):
    created = [api.create_job(queued_spec(project="paging")).id for _ in range(5)]
    first = api.list_jobs(project="paging", limit=2)
    assert [job.id for job in first.items] == created[::-1][:2]
    assert first.next_cursor
    every = [job.id for job in api.iter_jobs(project="paging", page_size=2)]
    assert every == created[::-1]  # newest first, each once, across three pages


def test_errors_carry_the_status_the_gateway_error_and_its_fields(stack, api, toy_spec_for):
    with pytest.raises(InvalidRequest) as bad:
        api.create_job(toy_spec_for(epochs=0))
    assert bad.value.status == 422 and bad.value.error.startswith("unprocessable")
    assert [e["field"] for e in bad.value.errors] == ["hyperparams.epochs"]

    with pytest.raises(InvalidRequest) as unknown:
        api.create_job(toy_spec_for(), framework="keras")
    assert unknown.value.message == "unknown framework 'keras'"
    assert unknown.value.errors[0]["allowed"] == ["huggingface", "timm", "toy", "ultralytics"]

    with pytest.raises(NotFound) as missing:
        api.get_job("job-nope")
    assert missing.value.status == 404 and "job-nope" in missing.value.message

    for key in (None, "wrong-key"):
        stranger = Client(config=ClientConfig(url=stack.url, api_key=key))
        with stranger, pytest.raises(Unauthorized) as refused:
            stranger.list_jobs()
        assert refused.value.status == 401 and "TRAINYARD_API_KEYS" in refused.value.message


def test_follow_logs_resumes_after_the_last_line_when_the_connection_drops(
    stack, api, toy_spec_for
):
    spec = toy_spec_for(epochs=6, options={"epoch_seconds": 0.2, "lines_per_epoch": 2})
    job = api.create_job(spec)
    lines: list[tuple[int, str]] = []
    with cuttable_relay(stack.url) as relay, Client(relay.url, API_KEY) as follower:
        for line in follower.follow_logs(job.id, tail=0):
            lines.append((line.seq, line.line))
            if line.line == "epoch 2 step 0":
                relay.cut()  # the stream breaks off without its end event
    steps = [text for _, text in lines if text.startswith("epoch ")]
    assert steps == [f"epoch {e} step {i}" for e in range(1, 7) for i in range(2)]
    # The second request asked to go on after a line the first one delivered (the cut one,
    # or one already in flight when it was cut).
    streams = [chunk.decode().lower() for chunk in relay.sent if b"/logs/stream" in chunk]
    assert len(streams) == 2, streams
    assert "last-event-id" not in streams[0]
    resumed_after = int(streams[1].split("last-event-id: ")[1].split("\r\n")[0])
    cut_at = next(seq for seq, text in lines if text == "epoch 2 step 0")
    assert resumed_after >= cut_at and resumed_after in [seq for seq, _ in lines]


def test_upload_and_download_report_progress_and_check_checksums(
    api, dataset_dir, toy_spec_for, tmp_path
):
    archive = tmp_path / "shapes.zip"
    archive.write_bytes(zip_of(dataset_dir))
    uploads: list[tuple[int, int | None]] = []
    dataset = api.upload_dataset(
        archive, progress=lambda done, total: uploads.append((done, total))
    )
    assert dataset.name == "shapes" and dataset.format == "imagefolder"
    assert uploads[-1] == (archive.stat().st_size, archive.stat().st_size)
    assert api.get_dataset(dataset.id) == dataset
    assert dataset.id in [each.id for each in api.list_datasets()]

    on_upload = toy_spec_for(dataset={"uri": dataset.id, "format": "imagefolder"})
    job = api.wait(api.create_job(on_upload).id, timeout=60, poll_interval=0.2)
    assert job.state == "succeeded"
    downloads: list[tuple[int, int | None]] = []
    path = api.download_artifact(job.id, "last", tmp_path, lambda d, t: downloads.append((d, t)))
    assert path == tmp_path / "last.bin"
    last = next(a for a in api.artifacts(job.id) if a.name == "last.bin")
    assert downloads[-1] == (last.size, last.size)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == last.sha256
    assert not list(tmp_path.glob("*.part"))


def test_wait_gives_up_after_its_timeout(api, queued_spec):
    job = api.create_job(queued_spec())
    with pytest.raises(WaitTimeout) as late:
        api.wait(job.id, timeout=0.3, poll_interval=0.1)
    assert late.value.job["id"] == job.id and late.value.job["state"] == "queued"
    assert api.cancel_job(job.id).state == "cancelled"


def test_client_reads_url_and_key_from_the_environment(stack, monkeypatch):
    monkeypatch.setenv("TRAINYARD_URL", stack.url + "/")
    monkeypatch.setenv("TRAINYARD_API_KEY", API_KEY)
    with Client() as api:
        assert api.config.url == stack.url
        assert api.health() == {"status": "ok"}
        assert api.ready()["ready"] is True
        assert isinstance(api.list_jobs(limit=1).items, list)


class FlakyGateway(BaseHTTPRequestHandler):
    """Answers 503 to the first `failures` requests, then 200; remembers every request.

    A real gateway cannot be made to answer 503 on cue, hence this small stand-in."""

    failures = 0
    seen: list[str] = []

    def _answer(self) -> None:
        self.seen.append(f"{self.command} {self.path}")
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        status = 503 if len(self.seen) <= self.failures else 200
        body = json.dumps(
            {"error": "service unavailable", "message": "busy"} if status == 503 else {"ok": 1}
        ).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def flaky() -> Iterator[tuple[str, type[FlakyGateway]]]:
    handler = type("Handler", (FlakyGateway,), {"failures": 2, "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def test_reads_are_retried_through_503_but_a_job_submission_is_not(flaky):
    url, handler = flaky
    config = ClientConfig(url=url, retries=3, backoff=0.01)
    with Client(config=config) as api:
        assert api.health() == {"ok": 1}
        assert handler.seen == ["GET /health"] * 3

        handler.seen.clear()
        with pytest.raises(ServerError) as busy:
            api.create_job({"framework": "toy"})
        assert busy.value.status == 503 and busy.value.message == "busy"
        assert handler.seen == ["POST /v1/jobs"]  # once: the job may exist already
