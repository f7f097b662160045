"""Structured logs: JSON lines or text, each line with the job it is about.

Real processes logging JSON lines are checked in tests/gateway/test_metrics.py, whose gateway
and service run jobs anyway.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from trainyard_runtime.logs import (
    SERVER_LOGGERS,
    JobIdFilter,
    current_job_id,
    job_context,
    job_scoped,
    log_format,
    setup_logging,
)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """setup_logging changes process-wide state: put it back after each test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    servers = {name: logging.getLogger(name) for name in SERVER_LOGGERS}
    saved = {name: (list(lg.handlers), lg.propagate) for name, lg in servers.items()}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)
    for name, (server_handlers, propagate) in saved.items():
        servers[name].handlers[:] = server_handlers
        servers[name].propagate = propagate


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_json_lines_carry_the_job_from_context_or_extra(restore_logging, capsys):
    setup_logging({"LOG_FORMAT": "json"})
    log = logging.getLogger("trainyard.test")
    log.info("outside any job")
    with job_context("job-a"):
        log.info("inside job %s", "a")
    log.warning("given explicitly", extra={"job_id": "job-b", "epoch": 3})
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed")

    lines = json_lines(capsys.readouterr().err)
    assert [line["message"] for line in lines] == [
        "outside any job",
        "inside job a",
        "given explicitly",
        "failed",
    ]
    assert [line["job_id"] for line in lines] == [None, "job-a", "job-b", None]
    first = lines[0]
    assert set(first) == {"ts", "level", "logger", "message", "job_id"}
    assert first["level"] == "INFO" and first["logger"] == "trainyard.test"
    assert first["ts"].endswith("Z") and "T" in first["ts"]
    assert lines[2]["epoch"] == 3
    assert "ValueError: boom" in lines[3]["exception"]
    assert current_job_id() is None


def test_job_scoped_binds_the_calls_job_id_argument(restore_logging, capsys):
    setup_logging({"LOG_FORMAT": "json"})
    log = logging.getLogger("trainyard.test")

    @job_scoped
    def handle(job_id: str, note: str) -> str:
        log.info(note)
        return job_id

    assert handle("job-positional", "one") == "job-positional"
    assert handle(note="two", job_id="job-keyword") == "job-keyword"
    log.info("after")
    lines = json_lines(capsys.readouterr().err)
    assert [line["job_id"] for line in lines] == ["job-positional", "job-keyword", None]


@pytest.mark.parametrize(
    ("path", "job_id"),
    [
        ("/v1/jobs/job-1a2b/logs/stream?tail=5", "job-1a2b"),
        ("/internal/v1/jobs/job-9/events", "job-9"),
        ("/v1/runs/job-3/stop", "job-3"),
        ("/v1/jobs?state=running", None),
        ("/health", None),
    ],
)
def test_access_lines_take_the_job_from_the_request_path(path, job_id):
    # uvicorn's access record: (client, method, path, http version, status)
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d', None, None
    )
    record.args = ("127.0.0.1:5000", "GET", path, "1.1", 200)
    assert JobIdFilter().filter(record)
    assert record.job_id == job_id


def test_text_by_default_json_in_production_and_bad_values_refused():
    assert log_format({}) == "text"
    assert log_format({"TRAINYARD_ENV": "production"}) == "json"
    assert log_format({"TRAINYARD_ENV": "production", "LOG_FORMAT": "text"}) == "text"
    with pytest.raises(ValueError, match="allowed: json, text"):
        log_format({"LOG_FORMAT": "xml"})
    with pytest.raises(ValueError, match="LOG_LEVEL is 'LOUD'; allowed: DEBUG"):
        setup_logging({"LOG_LEVEL": "loud"})


def test_text_lines_name_the_job_and_setup_twice_keeps_one_handler(restore_logging, capsys):
    setup_logging({})
    setup_logging({"LOG_LEVEL": "debug"})
    with job_context("job-t"):
        logging.getLogger("trainyard.test").debug("hello")
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1, err
    assert err[0].endswith(" DEBUG trainyard.test [job-t] hello")
    # The servers' own loggers hand their lines to the same handler.
    for name in SERVER_LOGGERS:
        assert logging.getLogger(name).propagate and not logging.getLogger(name).handlers
