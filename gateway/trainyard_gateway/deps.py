"""What route handlers get from the app: settings, database sessions, the services."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from trainyard_gateway.db import Database, ReadSession, WriteSession
from trainyard_gateway.dispatcher import Dispatcher
from trainyard_gateway.encoded_views import EncodedViews
from trainyard_gateway.services import ServiceRegistry
from trainyard_gateway.settings import GatewaySettings
from trainyard_gateway.webhook_delivery import DeliveryWorker
from trainyard_runtime.storage import Storage


@dataclass
class Gateway:
    settings: GatewaySettings
    db: Database
    registry: ServiceRegistry
    dispatcher: Dispatcher
    storage: Storage
    deliveries: DeliveryWorker
    views: EncodedViews = field(default_factory=EncodedViews)


async def get_gateway(request: Request) -> Gateway:
    # async: FastAPI runs a plain function dependency in a worker thread, a hop per request.
    return request.app.state.gateway


def get_read_session(gateway: Annotated[Gateway, Depends(get_gateway)]) -> Iterator[ReadSession]:
    with gateway.db.read() as session:
        yield session


def get_write_session(
    gateway: Annotated[Gateway, Depends(get_gateway)],
) -> Iterator[WriteSession]:
    """A write transaction for the whole request: for handlers that call no service."""
    with gateway.db.write() as session:
        yield session


GatewayDep = Annotated[Gateway, Depends(get_gateway)]
ReadSessionDep = Annotated[ReadSession, Depends(get_read_session)]
# scope="function": the transaction commits when the handler returns, before the answer is
# sent, so a client that reads right after a 2xx sees what it wrote.
WriteSessionDep = Annotated[WriteSession, Depends(get_write_session, scope="function")]
