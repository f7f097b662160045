"""Logging for every Trainyard process: JSON lines or plain text, each line with its job.

`setup_logging()` is called once when the gateway or a training service starts. It reads
`LOG_FORMAT` (`json` or `text`; `json` by default when `TRAINYARD_ENV=production`) and
`LOG_LEVEL` (`INFO`). A JSON line looks like
`{"ts": …, "level": "INFO", "logger": …, "message": …, "job_id": …, <extra fields>}`.

A line is about a job when it is logged inside `job_context(job_id)`, inside a call wrapped by
`job_scoped`, after `bind_job_id(job_id)` in the same task, with `extra={"job_id": …}`, or when
it is an access line for a `/jobs/{id}` or `/runs/{id}` path (a run's id is its job's id).
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

FORMATS = ("json", "text")
# The servers' own loggers: they get our handler through the root logger instead of theirs.
SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
# LogRecord attributes that are not extra fields of a line.
_RECORD_FIELDS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "taskName", "color_message", "job_id"}
)
_JOB_IN_PATH = re.compile(r"/(?:jobs|runs)/([A-Za-z0-9][A-Za-z0-9._-]*)")

_job_id: ContextVar[str | None] = ContextVar("trainyard_job_id", default=None)

P = ParamSpec("P")
R = TypeVar("R")


def current_job_id() -> str | None:
    return _job_id.get()


@contextmanager
def job_context(job_id: str | None) -> Iterator[None]:
    """Lines logged inside the block carry `job_id`."""
    token = _job_id.set(job_id)
    try:
        yield
    finally:
        _job_id.reset(token)


def bind_job_id(job_id: str | None) -> None:
    """Lines logged from here to the end of the current task (one request) carry `job_id`.

    Only for code that runs in its own task or copied context, as an async request handler does.
    """
    _job_id.set(job_id)


def job_scoped(func: Callable[P, R]) -> Callable[P, R]:
    """Lines logged during a call carry the call's `job_id` argument."""
    signature = inspect.signature(func)

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        job_id = signature.bind_partial(*args, **kwargs).arguments.get("job_id")
        with job_context(job_id):
            return func(*args, **kwargs)

    return wrapper


def _job_of_access_line(record: logging.LogRecord) -> str | None:
    # uvicorn's access lines: args are (client, method, path, http version, status).
    if record.name != "uvicorn.access" or not isinstance(record.args, tuple):
        return None
    if len(record.args) < 3 or not isinstance(record.args[2], str):
        return None
    match = _JOB_IN_PATH.search(record.args[2])
    return match.group(1) if match else None


class JobIdFilter(logging.Filter):
    """Give every line a `job_id` attribute: its own, the current job's, or None."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "job_id", None) is None:
            record.job_id = current_job_id() or _job_of_access_line(record)
        return True


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per line; extra fields given to the logger are kept."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "job_id": getattr(record, "job_id", None),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`2025-01-01T12:00:00.000Z INFO trainyard.dispatcher [job-…] message`."""

    def format(self, record: logging.LogRecord) -> str:
        job_id = getattr(record, "job_id", None)
        job = f" [{job_id}]" if job_id else ""
        text = f"{_timestamp(record)} {record.levelname} {record.name}{job} {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            text += "\n" + self.formatStack(record.stack_info)
        return text


class _TrainyardHandler(logging.StreamHandler):
    """Marks the handler this module installed, so a second setup replaces it."""


def log_format(environ: Mapping[str, str]) -> str:
    default = "json" if environ.get("TRAINYARD_ENV") == "production" else "text"
    chosen = (environ.get("LOG_FORMAT") or default).strip().lower()
    if chosen not in FORMATS:
        raise ValueError(f"LOG_FORMAT is {chosen!r}; allowed: {', '.join(FORMATS)}")
    return chosen


def log_level(environ: Mapping[str, str]) -> int:
    name = (environ.get("LOG_LEVEL") or "INFO").strip().upper()
    allowed = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
    if name not in allowed:
        raise ValueError(f"LOG_LEVEL is {name!r}; allowed: {', '.join(allowed)}")
    return logging.getLevelName(name)


def setup_logging(environ: Mapping[str, str] | None = None) -> None:
    """Send every logger's lines to stderr in the chosen format; safe to call again."""
    environ = os.environ if environ is None else environ
    handler = _TrainyardHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format(environ) == "json" else TextFormatter())
    handler.addFilter(JobIdFilter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _TrainyardHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(log_level(environ))
    logging.captureWarnings(True)  # warnings become log lines too, in the same format
    for name in SERVER_LOGGERS:
        server_logger = logging.getLogger(name)
        server_logger.handlers.clear()
        server_logger.propagate = True
