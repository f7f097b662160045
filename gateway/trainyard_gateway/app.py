"""Build the gateway app: settings, job store, routing table, dispatcher, webhook delivery,
routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from trainyard_gateway.auth import ApiKeyRequired, ApiKeys
from trainyard_gateway.body_limit import BodyLimit
from trainyard_gateway.dashboard import router as dashboard_router
from trainyard_gateway.db import Database, migrate
from trainyard_gateway.deps import Gateway
from trainyard_gateway.dispatcher import Dispatcher
from trainyard_gateway.http_errors import install_error_handlers
from trainyard_gateway.metrics import install_metrics
from trainyard_gateway.predictions import LIMITS, MAX_PREDICT_BODY, PREDICT_PREFIX
from trainyard_gateway.production import check_production_settings
from trainyard_gateway.routes import (
    callbacks,
    datasets,
    jobs,
    models,
    predictions,
    system,
    webhooks,
    weights,
)
from trainyard_gateway.services import ServiceRegistry
from trainyard_gateway.settings import GatewaySettings
from trainyard_gateway.webhook_delivery import DeliveryWorker
from trainyard_runtime.logs import setup_logging
from trainyard_runtime.storage import open_storage
from trainyard_wire.spec import JobSpec
from trainyard_wire.weights import WEIGHTS_PATH

log = logging.getLogger("trainyard.gateway")


def create_app(
    settings: GatewaySettings | None = None, registry: ServiceRegistry | None = None
) -> FastAPI:
    """`registry` replaces the routing table the settings describe (tests reach fake services)."""
    settings = settings or GatewaySettings()
    check_production_settings(settings)
    db = Database(settings.resolved_database_url())
    registry = registry or ServiceRegistry(settings.service_urls(), settings.internal_token)
    gateway = Gateway(
        settings=settings,
        db=db,
        registry=registry,
        dispatcher=Dispatcher(db, registry, settings),
        storage=open_storage(settings.resolved_storage_uri()),
        deliveries=DeliveryWorker(db, settings),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if app.state.api_keys.anonymous:
            log.warning(
                "TRAINYARD_ALLOW_ANONYMOUS=1 and no TRAINYARD_API_KEYS: the public API is open "
                "to anyone who can reach it; development only"
            )
        migrate(db.engine)
        gateway.dispatcher.start()
        gateway.deliveries.start()
        yield
        gateway.dispatcher.stop()
        gateway.deliveries.stop()
        registry.close()
        db.engine.dispose()

    app = FastAPI(title="Trainyard", version="0.1.0", lifespan=lifespan)
    app.state.gateway = gateway
    app.state.api_keys = ApiKeys(settings.api_key_list(), settings.allow_anonymous)
    install_error_handlers(app, JobSpec)
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_request_bytes,
        exempt_prefixes=("/v1/datasets", WEIGHTS_PATH, PREDICT_PREFIX),
    )
    app.add_middleware(
        BodyLimit,
        max_bytes=MAX_PREDICT_BODY,
        exempt_prefixes=(),
        only_prefixes=(PREDICT_PREFIX,),
        hint=f"{LIMITS})",
    )
    app.include_router(system.router)
    app.include_router(system.public_router, dependencies=[ApiKeyRequired])
    app.include_router(jobs.router, dependencies=[ApiKeyRequired])
    app.include_router(datasets.router, dependencies=[ApiKeyRequired])
    app.include_router(webhooks.router, dependencies=[ApiKeyRequired])
    app.include_router(weights.router, dependencies=[ApiKeyRequired])
    app.include_router(models.router, dependencies=[ApiKeyRequired])
    app.include_router(predictions.router, dependencies=[ApiKeyRequired])
    app.include_router(callbacks.router)
    app.include_router(dashboard_router)
    install_metrics(app, db, lambda: registry.frameworks)
    setup_logging()
    return app
