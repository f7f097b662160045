"""Trainyard's Python client and command-line tool; answers are the wire package's models."""

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
from trainyard_wire.datasets import DatasetView
from trainyard_wire.jobs import Artifact, JobList, JobView, LogLine, Logs, Metrics
from trainyard_wire.webhooks import Delivery, DeliveryList, Webhook, WebhookCreated

__all__ = [
    "ApiError",
    "Artifact",
    "ChecksumMismatch",
    "Client",
    "ClientConfig",
    "ConfigError",
    "Conflict",
    "DatasetView",
    "Delivery",
    "DeliveryList",
    "GatewayUnreachable",
    "InvalidRequest",
    "JobList",
    "JobView",
    "LogLine",
    "Logs",
    "Metrics",
    "NotFound",
    "ServerError",
    "TrainyardError",
    "Unauthorized",
    "WaitTimeout",
    "Webhook",
    "WebhookCreated",
]
