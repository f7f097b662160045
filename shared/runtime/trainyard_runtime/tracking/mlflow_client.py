"""A small client for the MLflow tracking server's REST API.

The framework environments do not install the `mlflow` package, so train.py talks to the
server over HTTP: experiments, runs, batched params/metrics/tags, and artifact uploads through
the server's artifact proxy (`mlflow server` serves artifacts by default since MLflow 2).
Every failure becomes a `TrackingError` that says what was attempted and what went wrong.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

# Limits of runs/log-batch (https://mlflow.org/docs/latest/rest-api.html#log-batch).
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_PER_BATCH = 100
MAX_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000
MAX_PARAM_VALUE = 250  # older servers refuse longer values; newer ones allow 6000
MAX_TAG_VALUE = 5000
MAX_KEY = 250

ARTIFACT_SCHEME = "mlflow-artifacts:"


class TrackingError(Exception):
    """The tracking server could not be reached or refused a request."""


@dataclass(frozen=True)
class Metric:
    key: str
    value: float
    step: int
    timestamp: int  # milliseconds since the epoch


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    experiment_id: str
    artifact_uri: str


@dataclass(frozen=True)
class ExistingRun:
    info: RunInfo
    lifecycle_stage: str  # "active" or "deleted"
    tags: dict[str, str]


def safe_key(name: str) -> str:
    """A param/metric/tag key MLflow accepts: its characters, and no path tricks like `a//b`."""
    cleaned = re.sub(r"[^/\w.\- ]", "_", name)
    parts = [p for p in cleaned.split("/") if p not in ("", ".", "..")]
    return "/".join(parts)[:MAX_KEY] or "_"


def now_ms() -> int:
    return int(time.time() * 1000)


def _json_number(value: float) -> float | str:
    """Protobuf's JSON spells non-finite numbers as strings (a diverged loss is worth logging)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _metric_json(metric: Metric) -> dict[str, Any]:
    return {
        "key": safe_key(metric.key),
        "value": _json_number(metric.value),
        "step": metric.step,
        "timestamp": metric.timestamp,
    }


def log_batches(
    metrics: list[Metric], params: dict[str, str], tags: dict[str, str]
) -> Iterator[dict[str, Any]]:
    """Split into log-batch bodies that respect every per-request limit."""
    # Keys are made valid first; two that become equal keep the last value, as a dict would.
    metric_items = [_metric_json(m) for m in metrics]
    clean_params = {safe_key(k): v[:MAX_PARAM_VALUE] for k, v in params.items()}
    clean_tags = {safe_key(k): v[:MAX_TAG_VALUE] for k, v in tags.items()}
    param_items = [{"key": k, "value": v} for k, v in clean_params.items()]
    tag_items = [{"key": k, "value": v} for k, v in clean_tags.items()]
    while metric_items or param_items or tag_items:
        batch_params, param_items = (
            param_items[:MAX_PARAMS_PER_BATCH],
            param_items[MAX_PARAMS_PER_BATCH:],
        )
        batch_tags, tag_items = tag_items[:MAX_TAGS_PER_BATCH], tag_items[MAX_TAGS_PER_BATCH:]
        room = min(
            MAX_METRICS_PER_BATCH, MAX_ENTITIES_PER_BATCH - len(batch_params) - len(batch_tags)
        )
        batch_metrics, metric_items = metric_items[:room], metric_items[room:]
        yield {"metrics": batch_metrics, "params": batch_params, "tags": batch_tags}


class MlflowRestClient:
    def __init__(
        self,
        tracking_uri: str,
        *,
        timeout: float = 15.0,
        upload_timeout: float = 600.0,
        connect_retries: int = 2,
        retry_wait: float = 0.5,
    ) -> None:
        self.tracking_uri = tracking_uri.rstrip("/")
        self._upload_timeout = httpx.Timeout(upload_timeout, connect=5.0)
        self._connect_retries = connect_retries
        self._retry_wait = retry_wait
        self._http = httpx.Client(
            base_url=self.tracking_uri, timeout=httpx.Timeout(timeout, connect=5.0)
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MlflowRestClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- experiments and runs ---------------------------------------------------------------
    def get_or_create_experiment(self, name: str) -> str:
        found = self._get_experiment(name)
        if found is None:
            response = self._request(
                "POST", "/api/2.0/mlflow/experiments/create", json={"name": name}, ok=(400,)
            )
            if response.status_code == 200:
                return str(_field(response, "experiment_id"))
            found = self._get_experiment(name)  # created by another run meanwhile
            if found is None:
                raise TrackingError(f"could not create experiment {name!r}: {_describe(response)}")
        if found["lifecycle_stage"] == "deleted":
            raise TrackingError(
                f"experiment {name!r} is deleted in MLflow: restore it to track runs"
            )
        return found["experiment_id"]

    def _get_experiment(self, name: str) -> dict[str, str] | None:
        """The experiment's id and lifecycle stage, or None when there is none by that name."""
        response = self._request(
            "GET",
            "/api/2.0/mlflow/experiments/get-by-name",
            params={"experiment_name": name},
            ok=(404,),
        )
        if response.status_code == 404:
            return None
        return {
            "experiment_id": str(_field(response, "experiment", "experiment_id")),
            "lifecycle_stage": str(_field(response, "experiment", "lifecycle_stage")),
        }

    def create_run(
        self, experiment_id: str, run_name: str, tags: dict[str, str], start_time: int | None = None
    ) -> RunInfo:
        body = {
            "experiment_id": experiment_id,
            "run_name": run_name,
            "start_time": start_time or now_ms(),
            "tags": [{"key": safe_key(k), "value": v[:MAX_TAG_VALUE]} for k, v in tags.items()],
        }
        response = self._request("POST", "/api/2.0/mlflow/runs/create", json=body)
        return RunInfo(
            run_id=str(_field(response, "run", "info", "run_id")),
            experiment_id=str(_field(response, "run", "info", "experiment_id")),
            artifact_uri=str(_field(response, "run", "info", "artifact_uri")),
        )

    def get_run(self, run_id: str) -> ExistingRun | None:
        """The run, or None when the server has no run by that id."""
        response = self._request(
            "GET", "/api/2.0/mlflow/runs/get", params={"run_id": run_id}, ok=(404,)
        )
        if response.status_code == 404:
            return None
        run = _field(response, "run")
        try:
            info, tags = run["info"], (run.get("data") or {}).get("tags") or []
            return ExistingRun(
                info=RunInfo(
                    run_id=str(info["run_id"]),
                    experiment_id=str(info["experiment_id"]),
                    artifact_uri=str(info["artifact_uri"]),
                ),
                lifecycle_stage=str(info.get("lifecycle_stage", "active")),
                tags={str(t["key"]): str(t.get("value", "")) for t in tags},
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise TrackingError(f"unexpected answer from runs/get: {response.text[:300]}") from exc

    def log_batch(
        self,
        run_id: str,
        metrics: list[Metric] | None = None,
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        for body in log_batches(metrics or [], params or {}, tags or {}):
            self._request("POST", "/api/2.0/mlflow/runs/log-batch", json={"run_id": run_id, **body})

    def update_run(self, run_id: str, status: str, end_time: int | None = None) -> None:
        body: dict[str, Any] = {"run_id": run_id, "status": status}
        if status != "RUNNING":  # a run set RUNNING again has not ended (as mlflow.start_run)
            body["end_time"] = end_time or now_ms()
        self._request("POST", "/api/2.0/mlflow/runs/update", json=body)

    # -- artifacts --------------------------------------------------------------------------
    def upload_artifact(self, artifact_uri: str, local: Path, artifact_path: str) -> None:
        """Upload a file under the run's artifact root through the server's artifact proxy."""
        if not artifact_uri.startswith(ARTIFACT_SCHEME):
            raise TrackingError(
                f"the run's artifact root {artifact_uri!r} is not served by the tracking server: "
                "start `mlflow server` with artifact serving (--artifacts-destination)"
            )
        # mlflow-artifacts:/1/<run>/artifacts or mlflow-artifacts://host:port/1/<run>/artifacts
        root = artifact_uri[len(ARTIFACT_SCHEME) :].lstrip("/")
        if artifact_uri.startswith(ARTIFACT_SCHEME + "//"):
            root = root.partition("/")[2]
        url = f"/api/2.0/mlflow-artifacts/artifacts/{root.strip('/')}/{artifact_path}"
        try:
            with local.open("rb") as data:
                self._request("PUT", url, content=data, timeout=self._upload_timeout)
        except OSError as exc:
            raise TrackingError(f"could not read {local} for upload: {exc}") from exc

    # -- transport --------------------------------------------------------------------------
    def request(
        self, method: str, path: str, *, ok: tuple[int, ...] = (), **kwargs: Any
    ) -> httpx.Response:
        """One REST call (see `_request`), for the other MLflow APIs (model_registry.py)."""
        return self._request(method, path, ok=ok, **kwargs)

    def _request(
        self, method: str, path: str, *, ok: tuple[int, ...] = (), **kwargs: Any
    ) -> httpx.Response:
        """One call; retried only when the connection was never made, so nothing runs twice."""
        if not self.tracking_uri.startswith(("http://", "https://")):
            raise TrackingError(
                "MLFLOW_TRACKING_URI must be the http:// or https:// address of a tracking "
                f"server, not {self.tracking_uri!r}"
            )
        attempt = 0
        while True:
            try:
                response = self._http.request(method, path, **kwargs)
                break
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if attempt >= self._connect_retries:
                    raise TrackingError(
                        f"MLflow at {self.tracking_uri} is unreachable ({method} {path}): {exc}"
                    ) from exc
                attempt += 1
                time.sleep(self._retry_wait * attempt)
            except httpx.HTTPError as exc:
                raise TrackingError(
                    f"MLflow request {method} {path} failed: {type(exc).__name__}: {exc}"
                ) from exc
        if response.status_code >= 400 and response.status_code not in ok:
            raise TrackingError(f"MLflow refused {method} {path}: {_describe(response)}")
        return response


def field(response: httpx.Response, *keys: str) -> Any:
    """A value from an MLflow answer (public for the registry client)."""
    return _field(response, *keys)


def _field(response: httpx.Response, *keys: str) -> Any:
    """A value from a JSON answer; anything else means this is not an MLflow server."""
    try:
        value = response.json()
        for key in keys:
            value = value[key]
        return value
    except (ValueError, KeyError, TypeError) as exc:
        where = f"{response.request.method} {response.request.url.path}"
        raise TrackingError(
            f"unexpected answer from {where} (is this an MLflow server?): {response.text[:300]}"
        ) from exc


def _describe(response: httpx.Response) -> str:
    try:
        body = response.json()
        detail = f"{body.get('error_code', '')} {body.get('message', '')}".strip()
    except ValueError:
        detail = response.text[:300]
    return f"{response.status_code} {detail}".strip()
