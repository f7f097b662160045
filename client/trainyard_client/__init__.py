"""Trainyard's Python client and command-line tool."""

from trainyard_client.client import Client
from trainyard_client.config import ClientConfig
from trainyard_client.errors import (
    ApiError,
    ChecksumMismatch,
    ConfigError,
    Conflict,
    GatewayUnreachable,
    InvalidRequest,
    NotFound,
    ServerError,
    TrainyardError,
    Unauthorized,
    WaitTimeout,
)

__all__ = [
    "ApiError",
    "ChecksumMismatch",
    "Client",
    "ClientConfig",
    "ConfigError",
    "Conflict",
    "GatewayUnreachable",
    "InvalidRequest",
    "NotFound",
    "ServerError",
    "TrainyardError",
    "Unauthorized",
    "WaitTimeout",
]
