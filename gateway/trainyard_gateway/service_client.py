"""The gateway's client of one training service: typed requests and replies, typed failures.

Every call the gateway makes to a service goes through here, so the internal API's paths, its
error body and what counts as "unreachable" live in one place. A call is tried again once when
the connection failed before the request was sent, and reads also when the answer was cut off:
a service's start and stop are idempotent on the job id, but a read (a GET, or the runs'
lookup) is the only call whose repeat is harmless whatever happened to the first try.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from trainyard_wire.predictions import ModelCacheView, Prediction, PredictRun
from trainyard_wire.runs import Capabilities, Health, RunLookup, RunView, StartRun, ValidateRun
from trainyard_wire.spec import JobSpec
from trainyard_wire.weights import WEIGHTS_PATH, StoredWeights, WeightsNames, WeightsNamesAnswer

# Generous: a busy service may take a while to start a run; a retried start is idempotent.
START_TIMEOUT = 60.0
VALIDATE_TIMEOUT = 15.0
HEALTH_TIMEOUT = 3.0
# Seeding loads the weights in the framework and uploads them to storage: minutes for big ones.
SEED_TIMEOUT = 600.0
# Run ids asked about in one POST /v1/run-lookup.
RUNS_PER_CALL = 500
# A first prediction loads the model (the framework's import, the checkpoint's download).
PREDICT_TIMEOUT = 300.0

Answer = TypeVar("Answer", bound=BaseModel)
_RUN_LIST = TypeAdapter(list[RunView])


class ServiceError(Exception):
    """A call to a training service did not get the answer it asked for."""

    status_code: int | None = None  # the answer's status, when there was one

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ServiceUnreachable(ServiceError):
    """No answer: refused, timed out, cut off, or an answer that is not the API's."""


class ServiceRejected(ServiceError):
    """422: the service refuses this request; `errors` says field by field why."""

    status_code = 422

    def __init__(self, message: str, errors: list[dict[str, Any]] | None) -> None:
        super().__init__(message)
        self.errors = errors


class ServiceBusy(ServiceError):
    """429: no free slot on the service now."""

    status_code = 429


class ServiceStatusError(ServiceError):
    """Any other answer that is not a success."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code: int = status_code


def describe_http_error(exc: BaseException) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        return f"answered {exc.response.status_code}"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    return type(exc).__name__ + (f": {exc}" if str(exc) else "")


def message_of(response: httpx.Response) -> tuple[str, list[dict[str, Any]] | None]:
    """The message and field errors of an error answer in Trainyard's error format."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or f"status {response.status_code}", None
    if isinstance(body, dict):
        errors = body.get("errors")
        return str(body.get("message") or body), errors if isinstance(errors, list) else None
    return str(body)[:500], None


def _failure(response: httpx.Response) -> ServiceError:
    message, errors = message_of(response)
    if response.status_code == 422:
        return ServiceRejected(message, errors)
    if response.status_code == 429:
        return ServiceBusy(message)
    return ServiceStatusError(response.status_code, message)


class ServiceConnections:
    """One connection pool for every service, carrying the internal token.

    `transport` replaces the network (tests pass an `httpx.MockTransport`).
    """

    def __init__(
        self, token: str, timeout: float = 5.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        self._http = httpx.Client(
            timeout=timeout, headers={"Authorization": f"Bearer {token}"}, transport=transport
        )

    def client(self, url: str) -> ServiceClient:
        return ServiceClient(url, self._http)

    def close(self) -> None:
        self._http.close()


class ServiceClient:
    """One training service at `url`, over a shared HTTP client that carries the token."""

    def __init__(self, url: str, http: httpx.Client) -> None:
        self.url = url.rstrip("/")
        self._http = http

    def health(self) -> Health:
        return self._model(Health, "GET", "/health", timeout=HEALTH_TIMEOUT)

    def capabilities(self) -> Capabilities:
        return self._model(Capabilities, "GET", "/v1/capabilities")

    def validate(self, spec: JobSpec) -> None:
        """Raises ServiceRejected when the service could not run `spec`."""
        body = ValidateRun(spec=spec).model_dump(mode="json")
        self._call("POST", "/v1/validate", json=body, timeout=VALIDATE_TIMEOUT)

    def start(self, request: StartRun) -> RunView:
        body = request.model_dump(mode="json")
        return self._run("POST", "/v1/runs", json=body, timeout=START_TIMEOUT)

    def get(self, run_id: str) -> RunView | None:
        """The run, or None when the service does not know it."""
        try:
            return self._run("GET", f"/v1/runs/{run_id}")
        except ServiceStatusError as exc:
            if exc.status_code == 404:
                return None
            raise

    def runs(self, run_ids: list[str]) -> dict[str, RunView]:
        """The runs among `run_ids` that the service knows, by id: one call per
        `RUNS_PER_CALL` ids, however many runs it follows."""
        found: dict[str, RunView] = {}
        for start in range(0, len(run_ids), RUNS_PER_CALL):
            body = RunLookup(run_ids=run_ids[start : start + RUNS_PER_CALL])
            answer = self._json("POST", "/v1/run-lookup", json=body.model_dump(), read=True)
            try:
                listed = _RUN_LIST.validate_python(answer)
            except ValidationError as exc:
                raise ServiceUnreachable(
                    f"unreachable at {self.url}: not a list of RunView ({exc})"
                ) from exc
            wanted = set(body.run_ids)
            found.update({run.run_id: run for run in listed if run.run_id in wanted})
        return found

    def stop(self, run_id: str) -> None:
        """Stop the run; a run the service no longer knows counts as stopped."""
        try:
            self._call("POST", f"/v1/runs/{run_id}/stop")
        except ServiceStatusError as exc:
            if exc.status_code != 404:
                raise

    def logs(self, run_id: str, tail: int | None = None) -> list[str]:
        params = {"tail": tail} if tail is not None else None
        body = self._json("GET", f"/v1/runs/{run_id}/logs", params=params)
        lines = body.get("lines") if isinstance(body, dict) else None
        return [str(line) for line in lines] if isinstance(lines, list) else []

    def seed_weights(self, model: str, filename: str, upload: Path) -> StoredWeights:
        """Have the service load the weights (a file or a zip of a folder) and store them."""
        with upload.open("rb") as body:
            return self._model(
                StoredWeights,
                "POST",
                WEIGHTS_PATH,
                params={"model": model, "filename": filename},
                content=body,
                headers={"Content-Type": "application/octet-stream"},
                timeout=SEED_TIMEOUT,
            )

    def weights_names(self, models: list[str]) -> dict[str, str]:
        """The tiers' name of each model's weights."""
        body = WeightsNames(models=models).model_dump(mode="json")
        answer = self._model(WeightsNamesAnswer, "POST", f"{WEIGHTS_PATH}/names", json=body)
        return answer.names

    def delete_weights(self, model: str) -> None:
        self._call("DELETE", WEIGHTS_PATH, params={"model": model})

    def predict(self, request: PredictRun) -> Prediction:
        body = request.model_dump(mode="json")
        return self._model(Prediction, "POST", "/v1/predict", json=body, timeout=PREDICT_TIMEOUT)

    def model_cache(self) -> ModelCacheView:
        return self._model(ModelCacheView, "GET", "/v1/predict/cache")

    # -- plumbing ----------------------------------------------------------------------------
    def _run(self, method: str, path: str, **kwargs: Any) -> RunView:
        return self._model(RunView, method, path, **kwargs)

    def _model(self, model: type[Answer], method: str, path: str, **kwargs: Any) -> Answer:
        """The answer read as `model`; one that is not is no answer of the service API."""
        try:
            return model.model_validate(self._json(method, path, **kwargs))
        except ValidationError as exc:
            name = model.__name__
            raise ServiceUnreachable(f"unreachable at {self.url}: not a {name} ({exc})") from exc

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._call(method, path, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise ServiceUnreachable(f"unreachable at {self.url}: answer is not JSON") from exc

    def _call(self, method: str, path: str, read: bool = False, **kwargs: Any) -> httpx.Response:
        """`read`: a call that changes nothing (as every GET), so safe to repeat whatever
        happened to the first try."""
        retry_on: tuple[type[Exception], ...] = (httpx.ConnectError, httpx.ConnectTimeout)
        if method == "GET" or read:
            retry_on = (httpx.TransportError,)
        for tries_left in (1, 0):
            try:
                response = self._http.request(method, self.url + path, **kwargs)
                break
            except retry_on as exc:
                if not tries_left:
                    raise ServiceUnreachable(
                        f"unreachable at {self.url}: {describe_http_error(exc)}"
                    ) from exc
            except httpx.HTTPError as exc:
                raise ServiceUnreachable(
                    f"unreachable at {self.url}: {describe_http_error(exc)}"
                ) from exc
        if response.status_code >= 400:
            raise _failure(response)
        return response
