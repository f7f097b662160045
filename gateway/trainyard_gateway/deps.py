"""What route handlers get from the app: settings, the database session, the services."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from trainyard_gateway.db import Database
from trainyard_gateway.dispatcher import Dispatcher
from trainyard_gateway.services import ServiceRegistry
from trainyard_gateway.settings import GatewaySettings
from trainyard_runtime.storage import Storage


@dataclass
class Gateway:
    settings: GatewaySettings
    db: Database
    registry: ServiceRegistry
    dispatcher: Dispatcher
    storage: Storage


def get_gateway(request: Request) -> Gateway:
    return request.app.state.gateway


def get_session(gateway: Annotated[Gateway, Depends(get_gateway)]) -> Iterator[Session]:
    with gateway.db.session() as session:
        yield session


GatewayDep = Annotated[Gateway, Depends(get_gateway)]
SessionDep = Annotated[Session, Depends(get_session)]
