"""The Python client: one method per public endpoint of the gateway, plus waiting helpers.

from trainyard_client import Client

with Client() as trainyard:  # TRAINYARD_URL, TRAINYARD_API_KEY
    job = trainyard.create_job(spec)
    for line in trainyard.follow_logs(job.id):
        print(line.line)
    job = trainyard.wait(job.id, timeout=3600)

Answers are the wire package's pydantic models (`JobView`, `JobList`, `Logs`, `Metrics`,
`DatasetView`, …), the same types the gateway answers with; `model_dump(mode="json")` gives
the JSON back.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

import httpx

from trainyard_client.config import ClientConfig
from trainyard_client.errors import GatewayUnreachable, WaitTimeout
from trainyard_client.sse import parse_events
from trainyard_client.transfers import MultipartUpload, Progress, save_stream, zip_folder
from trainyard_client.transport import Transport
from trainyard_wire.datasets import DatasetView
from trainyard_wire.jobs import Artifact, JobList, JobView, LogLine, Logs, Metrics
from trainyard_wire.predictions import Prediction
from trainyard_wire.registry import ModelList
from trainyard_wire.states import TERMINAL
from trainyard_wire.webhooks import DeliveryList, Webhook, WebhookCreated, WebhookList
from trainyard_wire.weights import WEIGHTS_PATH, WeightsView

# Longer than the gateway's 15 s keep-alive: a silent stream this long is a dead connection.
STREAM_READ_TIMEOUT = 45.0
RECONNECT_DELAY = 0.5


def _segment(value: str) -> str:
    return quote(value, safe="")


def _without_none(params: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in params.items() if value is not None}


class Client:
    """Talks to one gateway. Arguments win over TRAINYARD_URL and TRAINYARD_API_KEY."""

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        config: ClientConfig | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self.config = config or ClientConfig.from_env(url, api_key)
        self._transport = Transport(self.config, http)
        self._sleep = time.sleep

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()

    def _get(self, path: str, **params: Any) -> Any:
        response = self._transport.request("GET", path, safe=True, params=_without_none(params))
        return response.json()

    # Jobs

    def create_job(self, spec: Mapping[str, Any] | None = None, **fields: Any) -> JobView:
        """Submit a job from a spec, keyword fields, or both (fields win). Never repeated once
        the gateway may have received it, so a job is never created twice."""
        body = {**(spec or {}), **fields}
        response = self._transport.request("POST", "/v1/jobs", safe=False, json=body)
        return JobView.model_validate(response.json())

    def list_jobs(
        self,
        *,
        state: str | None = None,
        framework: str | None = None,
        project: str | None = None,
        kind: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> JobList:
        """One page, newest first; pass its `next_cursor` back for the next one. `kind`:
        train, export or evaluate."""
        return JobList.model_validate(
            self._get(
                "/v1/jobs",
                state=state,
                framework=framework,
                project=project,
                kind=kind,
                limit=limit,
                cursor=cursor,
            ),
        )

    def iter_jobs(
        self,
        *,
        state: str | None = None,
        framework: str | None = None,
        project: str | None = None,
        kind: str | None = None,
        page_size: int = 100,
    ) -> Iterator[JobView]:
        """Every matching job, newest first, fetching pages as they are needed."""
        cursor: str | None = None
        while True:
            page = self.list_jobs(
                state=state,
                framework=framework,
                project=project,
                kind=kind,
                limit=page_size,
                cursor=cursor,
            )
            yield from page.items
            cursor = page.next_cursor
            if cursor is None:
                return

    def get_job(self, job_id: str) -> JobView:
        return JobView.model_validate(self._get(f"/v1/jobs/{_segment(job_id)}"))

    def cancel_job(self, job_id: str) -> JobView:
        """Ask the job to stop. Cancelling twice is harmless, so this call is retried."""
        path = f"/v1/jobs/{_segment(job_id)}/cancel"
        return JobView.model_validate(self._transport.request("POST", path, safe=True).json())

    def resume_job(self, job_id: str) -> JobView:
        """Continue a job from its last checkpoint: the job that now trains."""
        path = f"/v1/jobs/{_segment(job_id)}/resume"
        return JobView.model_validate(self._transport.request("POST", path, safe=False).json())

    def export_job(
        self, job_id: str, format: str, checkpoint: str = "best", **checks: Any
    ) -> JobView:
        """Export a succeeded training job's model (`format` onnx or torchscript): the export
        job, which checks the file against the trained model (`checks`: atol,
        min_top1_agreement, max_images)."""
        path = f"/v1/jobs/{_segment(job_id)}/export"
        body = {"format": format, "checkpoint": checkpoint, **checks}
        return JobView.model_validate(
            self._transport.request("POST", path, safe=False, json=body).json()
        )

    def evaluate_job(
        self, job_id: str, checkpoint: str = "best", dataset: dict[str, str] | None = None
    ) -> JobView:
        """Evaluate a succeeded training job's model on its validation data or `dataset`
        (`{"uri", "format"}`): the evaluation job."""
        path = f"/v1/jobs/{_segment(job_id)}/evaluate"
        body: dict[str, Any] = {"checkpoint": checkpoint, "dataset": dataset}
        return JobView.model_validate(
            self._transport.request("POST", path, safe=False, json=body).json()
        )

    def predict(
        self,
        job_id: str,
        images: Sequence[Path] = (),
        *,
        urls: Sequence[str] = (),
        checkpoint: str = "best",
        top_k: int = 5,
        conf: float = 0.25,
    ) -> Prediction:
        """Ask a succeeded training job's model about image files and image objects in the
        platform's storage (`urls`: s3://… under its STORAGE_URI); one answer per image, the
        files first."""
        files = [("images", (path.name, path.read_bytes())) for path in images]
        form: dict[str, Any] = {"checkpoint": checkpoint, "top_k": str(top_k), "conf": str(conf)}
        if urls:
            form["urls"] = list(urls)
        path = f"/v1/models/{_segment(job_id)}/predict"
        response = self._transport.request("POST", path, safe=True, files=files or None, data=form)
        return Prediction.model_validate(response.json())

    def logs(self, job_id: str, tail: int = 100) -> Logs:
        return Logs.model_validate(self._get(f"/v1/jobs/{_segment(job_id)}/logs", tail=tail))

    def metrics(self, job_id: str) -> Metrics:
        return Metrics.model_validate(self._get(f"/v1/jobs/{_segment(job_id)}/metrics"))

    def artifacts(self, job_id: str) -> list[Artifact]:
        listed = self._get(f"/v1/jobs/{_segment(job_id)}/artifacts")
        return [Artifact.model_validate(each) for each in listed]

    def download_artifact(
        self,
        job_id: str,
        name: str,
        destination: str | Path = ".",
        progress: Progress | None = None,
    ) -> Path:
        """Stream an artifact to `destination` (a file, or a folder to keep its name in) and
        check its sha256. `name` may leave out the extension: `best` finds `best.pt`."""
        listed = self.artifacts(job_id)
        artifact = next((a for a in listed if a.name == name), None) or next(
            (a for a in listed if a.name.split(".", 1)[0] == name), None
        )
        real_name = artifact.name if artifact else name  # unknown: the gateway says so
        target = Path(destination)
        if target.is_dir():
            target = target / real_name
        path = f"/v1/jobs/{_segment(job_id)}/artifacts/{_segment(real_name)}"
        with self._transport.stream("GET", path) as response:
            declared = response.headers.get("content-length")
            total = int(declared) if declared and declared.isdigit() else None
            expected = response.headers.get("x-checksum-sha256") or (
                artifact.sha256 if artifact else None
            )
            return save_stream(response.iter_bytes(), target, total, expected, progress)

    # Waiting

    def wait(
        self,
        job_id: str,
        timeout: float | None = None,
        poll_interval: float = 1.0,
        on_update: Callable[[JobView], None] | None = None,
        reconnect_timeout: float = 60.0,
        until: Collection[str] = TERMINAL,
    ) -> JobView:
        """Poll until the job ends (or reaches a state in `until`, e.g. `{"running"}`) and return
        it; WaitTimeout after `timeout` seconds. A gateway that is away for less than
        `reconnect_timeout` seconds (a restart) is waited for."""
        deadline = None if timeout is None else time.monotonic() + timeout
        down_since: float | None = None
        job: JobView | None = None
        while True:
            try:
                job = self.get_job(job_id)
                down_since = None
            except GatewayUnreachable:
                down_since = down_since or time.monotonic()
                if time.monotonic() - down_since > reconnect_timeout:
                    raise
            if job is not None:
                if on_update:
                    on_update(job)
                if job.state in until:
                    return job
            now = time.monotonic()
            if timeout is not None and deadline is not None and now >= deadline:
                last_seen = job.model_dump(mode="json") if job else None
                raise WaitTimeout(last_seen or {"id": job_id, "state": "unreachable"}, timeout)
            pause = poll_interval if deadline is None else min(poll_interval, deadline - now)
            self._sleep(max(pause, 0.0))

    def follow_logs(
        self, job_id: str, tail: int = 100, reconnect_timeout: float = 60.0
    ) -> Iterator[LogLine]:
        """The last `tail` lines, then each new one until the job ends. A dropped connection
        is resumed after the last line seen (Last-Event-ID), so no line repeats or goes
        missing; GatewayUnreachable once the gateway has been away `reconnect_timeout`."""
        path = f"/v1/jobs/{_segment(job_id)}/logs/stream"
        timeout = httpx.Timeout(self.config.timeout, read=STREAM_READ_TIMEOUT)
        last_seq: int | None = None
        down_since: float | None = None
        while True:
            if last_seq is None:
                params, headers = {"tail": tail}, {}
            else:
                params, headers = {}, {"Last-Event-ID": str(last_seq)}
            try:
                with self._transport.stream(
                    "GET", path, params=params, headers=headers, timeout=timeout
                ) as response:
                    down_since = None
                    for event in parse_events(response.iter_lines()):
                        if event.event == "end":
                            return
                        if event.event == "log":
                            line = LogLine.model_validate_json(event.data)
                            last_seq = line.seq
                            yield line
            except GatewayUnreachable:
                down_since = down_since or time.monotonic()
                if time.monotonic() - down_since > reconnect_timeout:
                    raise
            # The stream broke off before its `end` event: connect again.
            self._sleep(RECONNECT_DELAY)

    # Datasets

    def upload_dataset(
        self, path: str | Path, name: str | None = None, progress: Progress | None = None
    ) -> DatasetView:
        """Upload a dataset zip, or a folder (zipped first into a temporary file). The gateway
        checks it before answering: a broken dataset is refused with the files named."""
        source = Path(path)
        if not source.is_dir():
            return self._upload_zip(source, source.name, name, progress)
        with tempfile.TemporaryDirectory(prefix="trainyard-upload-") as scratch:
            archive = zip_folder(source, Path(scratch) / f"{source.resolve().name}.zip")
            return self._upload_zip(archive, archive.name, name or source.resolve().name, progress)

    def _upload_zip(
        self, zip_path: Path, filename: str, name: str | None, progress: Progress | None
    ) -> DatasetView:
        body = MultipartUpload(zip_path, filename, name, progress)
        headers = {
            "Content-Type": body.content_type,
            "Content-Length": str(body.content_length),
        }
        response = self._transport.request(
            "POST", "/v1/datasets", safe=False, content=body, headers=headers
        )
        return DatasetView.model_validate(response.json())

    def register_dataset(self, uri: str, name: str | None = None) -> DatasetView:
        """Record data already in storage (`s3://bucket/prefix`, `file:///path`) after a check."""
        body = _without_none({"uri": uri, "name": name})
        response = self._transport.request("POST", "/v1/datasets", safe=False, json=body)
        return DatasetView.model_validate(response.json())

    def list_datasets(self, limit: int = 100) -> list[DatasetView]:
        listed = self._get("/v1/datasets", limit=limit)
        return [DatasetView.model_validate(each) for each in listed]

    def get_dataset(self, dataset_id: str) -> DatasetView:
        return DatasetView.model_validate(self._get(f"/v1/datasets/{_segment(dataset_id)}"))

    def delete_dataset(self, dataset_id: str) -> None:
        self._transport.request("DELETE", f"/v1/datasets/{_segment(dataset_id)}", safe=True)

    # Seeded pretrained weights

    def upload_weights(
        self,
        path: str | Path,
        framework: str,
        model: str,
        progress: Progress | None = None,
    ) -> WeightsView:
        """Seed pretrained weights for a framework's model: a weights file, or a folder (zipped
        first). The framework's service loads them before they are stored; runs with
        `pretrained: true` then take them from object storage."""
        source = Path(path)
        fields = {"framework": framework, "model": model}
        with tempfile.TemporaryDirectory(prefix="trainyard-weights-") as scratch:
            if source.is_dir():
                source = zip_folder(source, Path(scratch) / f"{source.resolve().name}.zip")
            body = MultipartUpload(source, source.name, None, progress, fields)
            headers = {
                "Content-Type": body.content_type,
                "Content-Length": str(body.content_length),
            }
            response = self._transport.request(
                "POST", WEIGHTS_PATH, safe=False, content=body, headers=headers
            )
        return WeightsView.model_validate(response.json())

    def list_weights(self) -> list[WeightsView]:
        return [WeightsView.model_validate(each) for each in self._get(WEIGHTS_PATH)]

    def delete_weights(self, weights_id: str) -> None:
        """Refused (409) while a queued or running job needs them."""
        self._transport.request("DELETE", f"{WEIGHTS_PATH}/{_segment(weights_id)}", safe=True)

    # Webhooks

    def create_webhook(
        self, url: str, *, project: str | None = None, events: Collection[str] | None = None
    ) -> WebhookCreated:
        """Register `url` for job events (the gateway's default events when none are given).
        The answer's `secret` signs every delivery and is never shown again: keep it."""
        body = _without_none(
            {"url": url, "project": project, "events": list(events) if events else None}
        )
        response = self._transport.request("POST", "/v1/webhooks", safe=False, json=body)
        return WebhookCreated.model_validate(response.json())

    def list_webhooks(self, project: str | None = None) -> list[Webhook]:
        return WebhookList.model_validate(self._get("/v1/webhooks", project=project)).items

    def get_webhook(self, webhook_id: str) -> Webhook:
        return Webhook.model_validate(self._get(f"/v1/webhooks/{_segment(webhook_id)}"))

    def delete_webhook(self, webhook_id: str) -> None:
        self._transport.request("DELETE", f"/v1/webhooks/{_segment(webhook_id)}", safe=True)

    def webhook_deliveries(
        self,
        webhook_id: str,
        *,
        status: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> DeliveryList:
        """The webhook's deliveries, newest first: status, tries, last error, next try."""
        return DeliveryList.model_validate(
            self._get(
                f"/v1/webhooks/{_segment(webhook_id)}/deliveries",
                status=status,
                limit=limit,
                cursor=cursor,
            )
        )

    # The model registry

    def models(self) -> ModelList:
        """Every registered model with its versions (job, framework, metrics, checkpoint)."""
        return ModelList.model_validate(self._get("/v1/models"))

    # The gateway itself

    def frameworks(self) -> list[dict[str, Any]]:
        """Every training service: URL, health, versions, device, tasks, models, options."""
        return cast(list[dict[str, Any]], self._get("/v1/frameworks"))

    def health(self) -> dict[str, Any]:
        return cast(dict[str, Any], self._get("/health"))

    def ready(self) -> dict[str, Any]:
        """Whether the gateway can take jobs (its answer also when it cannot: `ready: false`)."""
        response = self._transport.request("GET", "/ready", safe=True, accept=(503,))
        return cast(dict[str, Any], response.json())
