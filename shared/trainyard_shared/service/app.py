"""The app factory: one FastAPI app per framework, the same for every framework."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from trainyard_shared.executors import Executor, LaunchSpec, RunNotFound
from trainyard_shared.executors.subprocess import SubprocessExecutor
from trainyard_shared.http_api import ApiError, install_error_handlers, require_token
from trainyard_shared.service.plugin import Capabilities, FrameworkPlugin
from trainyard_shared.service.schemas import Health, RunView, StartRun, ValidateRun
from trainyard_shared.service.settings import ServiceSettings
from trainyard_shared.spec import JobSpec


class TrainingService:
    """The service's state: its framework, settings and executor, and the run rules."""

    def __init__(self, plugin: FrameworkPlugin, settings: ServiceSettings, executor: Executor):
        self.plugin = plugin
        self.settings = settings
        self.executor = executor
        self._start_lock = asyncio.Lock()
        # Checks may import a framework lazily; two threads importing one module at the same
        # time can see it half-initialised, so checks run one at a time.
        self._check_lock = threading.Lock()

    def warm_up(self) -> None:
        """Compute the capabilities and load what checks need before the first request."""
        with self._check_lock:
            if self.plugin.warm_up:
                self.plugin.warm_up()
            _ = self.capabilities

    @functools.cached_property
    def capabilities(self) -> Capabilities:
        return self.plugin.capabilities()

    def problems(self, spec: JobSpec) -> list[dict[str, Any]]:
        with self._check_lock:
            problems = self.plugin.check(spec, self.capabilities.tasks)
        if spec.executor not in (None, self.executor.name):
            problems.append(
                {
                    "field": "executor",
                    "message": f"executor {spec.executor!r} is not enabled on this service",
                    "allowed": [self.executor.name],
                }
            )
        return problems

    def reject_if_unfit(self, spec: JobSpec) -> None:
        problems = self.problems(spec)
        if problems:
            summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
            raise ApiError(422, f"{self.plugin.name} cannot run this job: {summary}", problems)

    def run_env(self, request: StartRun) -> dict[str, str]:
        return {
            "JOB_ID": request.job_id,
            "CALLBACK_URL": request.callback_url,
            "CALLBACK_TOKEN": request.callback_token,
            "STORAGE_URI": self.settings.resolved_storage_uri(),
            "HEARTBEAT_INTERVAL": str(self.settings.heartbeat_interval),
        }

    async def start(self, request: StartRun) -> tuple[RunView, bool]:
        """Start a run for the job, or return the one already started (retries are safe)."""
        await run_in_threadpool(self.reject_if_unfit, request.spec)
        async with self._start_lock:
            try:
                return RunView.of(self.executor.status(request.job_id)), False
            except RunNotFound:
                pass
            running = self.executor.running_count()
            if running >= self.settings.max_concurrent_runs:
                raise ApiError(
                    429,
                    f"{self.plugin.name} is at capacity ({running}/"
                    f"{self.settings.max_concurrent_runs} runs); try again when one ends",
                )
            launch = LaunchSpec(
                run_id=request.job_id,
                module=self.plugin.train_module,
                spec_json=request.spec.model_dump_json(),
                env=self.run_env(request),
            )
            info = await run_in_threadpool(self.executor.start, launch)
            return RunView.of(info), True


def create_service_app(
    plugin: FrameworkPlugin,
    settings: ServiceSettings | None = None,
    executor: Executor | None = None,
) -> FastAPI:
    settings = settings or ServiceSettings()
    runs_dir = (settings.data_dir / "services" / plugin.name / "runs").resolve()
    service = TrainingService(plugin, settings, executor or SubprocessExecutor(runs_dir))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(service.warm_up)
        yield

    app = FastAPI(
        title=f"Trainyard {plugin.name} training service", version="0.1.0", lifespan=lifespan
    )
    app.state.service = service
    install_error_handlers(app, StartRun)

    def internal(request: Request) -> None:
        require_token(request, settings.internal_token)

    Internal = Depends(internal)

    def run_or_404(run_id: str):
        try:
            return service.executor.status(run_id)
        except RunNotFound as exc:
            raise ApiError(404, str(exc)) from None

    @app.get("/health", response_model=Health)
    def health() -> Health:
        caps = service.capabilities
        return Health(
            status="ok",
            framework=plugin.name,
            versions=caps.versions,
            device=caps.device,
            running=service.executor.running_count(),
            capacity=settings.max_concurrent_runs,
        )

    @app.get("/v1/capabilities", response_model=Capabilities, dependencies=[Internal])
    def capabilities() -> Capabilities:
        return service.capabilities

    @app.post("/v1/validate", dependencies=[Internal])
    def validate(body: ValidateRun) -> dict[str, Any]:
        service.reject_if_unfit(body.spec)
        return {"ok": True}

    @app.post("/v1/runs", status_code=201, response_model=RunView, dependencies=[Internal])
    async def start_run(body: StartRun, request: Request) -> Any:
        view, created = await service.start(body)
        if not created:
            return JSONResponse(view.model_dump(mode="json"), status_code=200)
        return view

    @app.get("/v1/runs", response_model=list[RunView], dependencies=[Internal])
    def list_runs() -> list[RunView]:
        return [RunView.of(info) for info in service.executor.list()]

    @app.get("/v1/runs/{run_id}", response_model=RunView, dependencies=[Internal])
    def get_run(run_id: str) -> RunView:
        return RunView.of(run_or_404(run_id))

    @app.post("/v1/runs/{run_id}/stop", response_model=RunView, dependencies=[Internal])
    def stop_run(run_id: str) -> RunView:
        run_or_404(run_id)
        return RunView.of(service.executor.stop(run_id, settings.stop_grace_seconds))

    @app.get("/v1/runs/{run_id}/logs", dependencies=[Internal])
    def run_logs(
        run_id: str, tail: Annotated[int | None, Query(ge=0, le=100_000)] = None
    ) -> dict[str, Any]:
        run_or_404(run_id)
        return {"run_id": run_id, "lines": service.executor.logs(run_id, tail)}

    return app
