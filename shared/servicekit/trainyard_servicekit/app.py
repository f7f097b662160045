"""The app factory: one FastAPI app per framework, the same for every framework."""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
import threading
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse

from trainyard_runtime.logs import bind_job_id, setup_logging
from trainyard_runtime.run_environment import RunEnvironment
from trainyard_runtime.training.torch_env import stay_offline
from trainyard_servicekit.distributed_checks import executor_problems
from trainyard_servicekit.executors import Executor, LaunchSpec, RunInfo, RunNotFound
from trainyard_servicekit.executors.device_pool import DevicePool, DevicesBusy
from trainyard_servicekit.executors.subprocess import SubprocessExecutor
from trainyard_servicekit.executors.unavailable import ExecutorRefused, ExecutorUnavailable
from trainyard_servicekit.executors.warm_starter import WarmStarter
from trainyard_servicekit.http_api import ApiError, install_error_handlers, require_token
from trainyard_servicekit.metrics import install_service_metrics, record_run_started
from trainyard_servicekit.plugin import Capabilities, FrameworkPlugin
from trainyard_servicekit.predictions import ModelPredictions
from trainyard_servicekit.settings import ServiceSettings
from trainyard_servicekit.weights_api import install_weights_routes
from trainyard_servicekit.weights_support import pretrained_problems
from trainyard_wire.predictions import ModelCacheView, Prediction, PredictRun
from trainyard_wire.runs import Health, RunLookup, RunView, StartRun, ValidateRun
from trainyard_wire.spec import JobSpec, capacity_slots, processes_per_node

log = logging.getLogger(__name__)


def describe_unavailable(executor: Executor, exc: Exception) -> str:
    if executor.name == "kubernetes":
        return f"kubernetes cluster unreachable: {exc}"
    return f"executor {executor.name} unavailable: {exc}"


class TrainingService:
    """The service's state: its framework, settings and executors, and the run rules."""

    def __init__(
        self, plugin: FrameworkPlugin, settings: ServiceSettings, executors: Sequence[Executor]
    ):
        self.plugin = plugin
        self.settings = settings
        # The first is the default, for jobs that name no executor.
        self.executors = {executor.name: executor for executor in executors}
        self.default = executors[0]
        self._start_lock = asyncio.Lock()
        # Checks may import a framework lazily; two threads importing one module at the same
        # time can see it half-initialised, so checks run one at a time.
        self.check_lock = threading.Lock()

    def warm_up(self) -> None:
        """Compute the capabilities and load what checks need before the first request."""
        with self.check_lock:
            if self.plugin.warm_up:
                self.plugin.warm_up()
            _ = self.capabilities

    @functools.cached_property
    def capabilities(self) -> Capabilities:
        return self.plugin.capabilities()

    def capacity(self, executor: Executor) -> int:
        if executor.name == "kubernetes":
            return self.settings.kubernetes.max_concurrent_jobs
        return self.settings.max_concurrent_runs

    @staticmethod
    def load(executor: Executor) -> int:
        """What an executor's capacity counts: training processes on this machine (a
        distributed run holds one per rank), Jobs on a cluster."""
        if executor.runs_on_this_machine:
            return executor.running_processes()
        return executor.running_count()

    def ranks_per_node(self, spec: JobSpec) -> int:
        """Ranks the launcher starts per node: none for a framework that starts its own."""
        return 1 if self.plugin.distributed.own_launcher else processes_per_node(spec)

    @staticmethod
    def weight(executor: Executor, spec: JobSpec) -> int:
        """How much of the executor's capacity a run of `spec` takes."""
        return capacity_slots(spec, executor.runs_on_this_machine)

    def problems(self, spec: JobSpec) -> list[dict[str, Any]]:
        executor = self.executors.get(spec.executor or self.default.name)
        datasets_here = executor is not None and executor.runs_on_this_machine
        with self.check_lock:
            problems = self.plugin.check(spec, self.capabilities.tasks, datasets_here)
        if not problems:  # a known model: can a tier serve its weights?
            problems = pretrained_problems(
                self.plugin.name, self.plugin.weights, spec, self.settings.resolved_storage_uri()
            )
        if executor is not None:
            problems += executor_problems(executor.name, executor.max_nodes, spec)
            weight, capacity = self.weight(executor, spec), self.capacity(executor)
            if weight > capacity:
                problems.append(
                    {
                        "field": "distributed.processes_per_node",
                        "message": f"{weight} processes: the {executor.name} executor of this "
                        f"service runs at most {capacity} at a time (MAX_CONCURRENT_RUNS)",
                        "allowed": [f"at most {capacity}"],
                    }
                )
        pool = executor.gpu_pool if isinstance(executor, SubprocessExecutor) else None
        if pool is not None and (spec.resources.gpu or 0) > len(pool.devices):
            problems.append(
                {
                    "field": "resources.gpu",
                    "message": f"{spec.resources.gpu} GPUs: this service's machine has "
                    f"{len(pool.devices)} (TRAINYARD_GPU_DEVICES)",
                    "allowed": [f"at most {len(pool.devices)}"],
                }
            )
        if spec.executor is not None and spec.executor not in self.executors:
            problems.append(
                {
                    "field": "executor",
                    "message": f"executor {spec.executor!r} is not enabled on this service",
                    "allowed": list(self.executors),
                }
            )
        return problems

    def reject_if_unfit(self, spec: JobSpec) -> None:
        problems = self.problems(spec)
        if problems:
            summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
            raise ApiError(422, f"{self.plugin.name} cannot run this job: {summary}", problems)

    def find(self, run_id: str) -> tuple[Executor, RunInfo]:
        """The executor that holds this run, and the run; 404 if none, 503 if one can't tell."""
        unavailable: str | None = None
        for executor in self.executors.values():
            try:
                return executor, executor.status(run_id)
            except RunNotFound:
                continue
            except ExecutorUnavailable as exc:
                unavailable = describe_unavailable(executor, exc)
        if unavailable:
            raise ApiError(503, f"cannot tell whether run {run_id!r} exists: {unavailable}")
        raise ApiError(404, str(RunNotFound(run_id)))

    def run_environment(self, request: StartRun) -> RunEnvironment:
        """The run's environment: the request's job, this service's storage and heartbeat, and
        the tuning its own environment sets (MLflow, checkpoint interval…) passed on."""
        return RunEnvironment.for_run(
            job_id=request.job_id,
            spec=request.spec,
            callback_url=request.callback_url,
            callback_token=request.callback_token,
            storage_uri=self.settings.resolved_storage_uri(),
            heartbeat_interval=self.settings.heartbeat_interval,
            mlflow_run_id=request.mlflow_run_id,
            weights_cache_dir=self.settings.weights_cache_dir,
            hf_endpoint=self.settings.hf_endpoint,
            hf_token=self.settings.hf_token,
            ultralytics_assets_url=self.settings.ultralytics_assets_url,
        )

    async def start(self, request: StartRun) -> tuple[RunView, bool]:
        """Start a run for the job, or return the one already started (retries are safe).

        A run of the job that already ended is not returned: the gateway starts a job again
        only as a new attempt of it (a retry), which needs a new run.
        """
        await run_in_threadpool(self.reject_if_unfit, request.spec)
        async with self._start_lock:
            try:
                _, info = await run_in_threadpool(self.find, request.job_id)
                if not info.finished and _earlier_attempt(info, request):
                    info = await run_in_threadpool(self._wait_to_end, request)
                if not info.finished:
                    return info.view(), False
            except ApiError as exc:
                if exc.status_code not in (404, 503):  # 503: the start below says it better
                    raise
            executor = self.executors[request.spec.executor or self.default.name]
            running, weight = self.load(executor), self.weight(executor, request.spec)
            if running + weight > self.capacity(executor):
                unit = "processes" if executor.runs_on_this_machine else "runs"
                raise ApiError(
                    429,
                    f"{self.plugin.name} is at capacity ({running}/"
                    f"{self.capacity(executor)} {executor.name} {unit}; this run needs "
                    f"{weight}); try again when one ends",
                )
            launch = LaunchSpec(
                self.plugin.module_for(request.spec.kind),
                self.run_environment(request),
                request.attempt,
                ranks_per_node=self.ranks_per_node(request.spec),
            )
            return (await run_in_threadpool(self._launch, executor, launch)).view(), True

    def _wait_to_end(self, request: StartRun) -> RunInfo:
        """The run of an earlier attempt, once it ended: it reported its failure (a lost rank)
        and is exiting. 429 (the gateway tries again) if it takes longer than a stop would."""
        deadline = time.monotonic() + self.settings.stop_grace_seconds
        while True:
            _, info = self.find(request.job_id)
            if info.finished:
                return info
            if time.monotonic() >= deadline:
                raise ApiError(
                    429,
                    f"attempt {info.attempt} of job {request.job_id} is still ending; attempt "
                    f"{request.attempt} starts once it has",
                )
            time.sleep(0.1)

    def _launch(self, executor: Executor, launch: LaunchSpec) -> RunInfo:
        try:
            return executor.start(launch)
        except DevicesBusy as exc:  # 429: the gateway puts the job back and tries again
            raise ApiError(429, f"{executor.name}: {exc}; try again when a run ends") from None
        except ExecutorRefused as exc:
            raise ApiError(422, f"{executor.name} refused the run: {exc}") from None
        except ExecutorUnavailable as exc:
            reason = describe_unavailable(executor, exc)
            fallback = self.executors.get("subprocess")
            # 422: the gateway fails the job with this reason instead of retrying forever.
            if fallback is None or fallback is executor:
                raise ApiError(422, reason) from None
            log.warning("job %s: %s; running it as a subprocess instead", launch.run_id, reason)
            info = fallback.start(launch)
            info.reason = f"{reason}; ran as a subprocess instead"
            return info


def _earlier_attempt(info: RunInfo, request: StartRun) -> bool:
    return info.attempt is not None and info.attempt < request.attempt


def build_executors(
    plugin: FrameworkPlugin, settings: ServiceSettings, runs_dir: Path
) -> list[Executor]:
    executors: list[Executor] = []
    for name in settings.enabled_executors():
        if name == "kubernetes":
            # Imported here: the Kubernetes client is big and subprocess-only services skip it.
            from trainyard_servicekit.executors.kubernetes.executor import KubernetesExecutor

            executors.append(KubernetesExecutor.from_environment(settings.kubernetes, plugin.name))
        else:
            pool = DevicePool.parse(settings.gpu_devices)
            warm = WarmStarter(
                sys.executable,
                ("trainyard_runtime.training", *plugin.warm_imports),
                runs_dir.parent / "warm-runner.log",
                enabled=settings.warm_starts,
            )
            executors.append(SubprocessExecutor(runs_dir, gpu_pool=pool, warm=warm))
    return executors


def create_service_app(
    plugin: FrameworkPlugin,
    settings: ServiceSettings | None = None,
    executor: Executor | None = None,
) -> FastAPI:
    settings = settings or ServiceSettings()
    setup_logging()
    stay_offline()  # before the plugin imports its framework
    runs_dir = (settings.data_dir / "services" / plugin.name / "runs").resolve()
    executors = [executor] if executor else build_executors(plugin, settings, runs_dir)
    service = TrainingService(plugin, settings, executors)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(service.warm_up)
        for each in executors:
            getattr(each, "open", lambda: None)()  # the Kubernetes executor starts its watches
        yield
        for each in executors:
            getattr(each, "close", lambda: None)()

    app = FastAPI(
        title=f"Trainyard {plugin.name} training service", version="0.1.0", lifespan=lifespan
    )
    app.state.service = service
    predictions = ModelPredictions(
        plugin,
        settings.resolved_storage_uri(),
        (settings.data_dir / "services" / plugin.name / "models").resolve(),
        settings.predict_cache_bytes,
    )
    app.state.predictions = predictions
    install_error_handlers(app, StartRun)
    install_service_metrics(app, plugin.name, service.executors, service.capacity)

    def internal(request: Request) -> None:
        require_token(request, settings.internal_token)

    Internal = Depends(internal)

    def unavailable_503(executor: Executor, exc: Exception) -> ApiError:
        return ApiError(503, describe_unavailable(executor, exc))

    @app.get("/health", response_model=Health)
    def health() -> Health:
        caps = service.capabilities
        return Health(
            status="ok",
            framework=plugin.name,
            versions=caps.versions,
            device=caps.device,
            running=sum(service.load(each) for each in executors),
            capacity=sum(service.capacity(each) for each in executors),
            process_executors=[each.name for each in executors if each.runs_on_this_machine],
            default_executor=service.default.name,
            warm_runner=next(
                (
                    each.warm.health()
                    for each in executors
                    if isinstance(each, SubprocessExecutor) and each.warm
                ),
                None,
            ),
        )

    @app.get("/v1/capabilities", response_model=Capabilities, dependencies=[Internal])
    def capabilities() -> Capabilities:
        return service.capabilities

    @app.post("/v1/validate", dependencies=[Internal])
    def validate(body: ValidateRun) -> dict[str, Any]:
        service.reject_if_unfit(body.spec)
        return {"ok": True}

    install_weights_routes(app, service, internal)

    @app.post("/v1/runs", status_code=201, response_model=RunView, dependencies=[Internal])
    async def start_run(body: StartRun, request: Request) -> Any:
        bind_job_id(body.job_id)  # this request's task only
        view, created = await service.start(body)
        if not created:
            return JSONResponse(view.model_dump(mode="json"), status_code=200)
        record_run_started(plugin.name, view)
        return view

    @app.post("/v1/predict", response_model=Prediction, dependencies=[Internal])
    def predict(body: PredictRun) -> Prediction:
        """Predict with a succeeded training job's model, kept loaded for the next call."""
        return predictions.predict(body)

    @app.get("/v1/predict/cache", response_model=ModelCacheView, dependencies=[Internal])
    def predict_cache() -> ModelCacheView:
        return predictions.cache.view()

    @app.get("/v1/runs", response_model=list[RunView], dependencies=[Internal])
    def list_runs() -> list[RunView]:
        return listed_runs(None)

    @app.post("/v1/run-lookup", response_model=list[RunView], dependencies=[Internal])
    def look_up_runs(body: RunLookup) -> list[RunView]:
        """The runs named in the body that this service knows: the gateway follows all of its
        runs here with one call (the ids in the body: an access line names at most one job)."""
        return listed_runs(set(body.run_ids))

    def listed_runs(wanted: set[str] | None) -> list[RunView]:
        views: list[RunView] = []
        for each in executors:
            try:
                views += [
                    info.view() for info in each.list() if wanted is None or info.run_id in wanted
                ]
            except ExecutorUnavailable as exc:
                raise unavailable_503(each, exc) from None
        return views

    @app.get("/v1/runs/{run_id}", response_model=RunView, dependencies=[Internal])
    def get_run(run_id: str) -> RunView:
        return service.find(run_id)[1].view()

    @app.post("/v1/runs/{run_id}/stop", response_model=RunView, dependencies=[Internal])
    def stop_run(run_id: str) -> RunView:
        executor, _ = service.find(run_id)
        try:
            return executor.stop(run_id, settings.stop_grace_seconds).view()
        except (ExecutorUnavailable, ExecutorRefused) as exc:
            raise unavailable_503(executor, exc) from None

    @app.get("/v1/runs/{run_id}/logs/follow", dependencies=[Internal])
    def follow_run_logs(
        run_id: str, tail: Annotated[int | None, Query(ge=0, le=100_000)] = None
    ) -> StreamingResponse:
        """The run's output as plain-text lines, streamed until the run ends."""
        executor, _ = service.find(run_id)
        lines = executor.follow_logs(run_id, tail)
        return StreamingResponse((f"{line}\n" for line in lines), media_type="text/plain")

    @app.get("/v1/runs/{run_id}/logs", dependencies=[Internal])
    def run_logs(
        run_id: str, tail: Annotated[int | None, Query(ge=0, le=100_000)] = None
    ) -> dict[str, Any]:
        executor, _ = service.find(run_id)
        try:
            return {"run_id": run_id, "lines": executor.logs(run_id, tail)}
        except (ExecutorUnavailable, ExecutorRefused) as exc:
            raise unavailable_503(executor, exc) from None

    return app
