"""A schema-driven fuzz run of the public API: no input, however odd, gets a 5xx answer.

Schemathesis reads the gateway's own OpenAPI document and sends generated requests (valid and
invalid bodies, paths, queries and headers) to a real gateway with a real toy service behind it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.datasets import tiny_dataset

API_KEY = "fuzz-key-0123456789"
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


def test_no_input_gets_a_server_error(tmp_path, processes):
    tiny_dataset(tmp_path / "ds")  # a real dataset folder for generated specs that find it
    _, service = processes.toy_service(MAX_CONCURRENT_RUNS="1")
    gateway = processes.gateway(
        TRAINYARD_API_KEYS=API_KEY, TRAINYARD_EXTRA_SERVICES=f"toy={service}"
    )
    events = tmp_path / "fuzz.ndjson"
    result = subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            f"{gateway.url}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--header",
            f"Authorization: Bearer {API_KEY}",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "40",
            "--seed",
            "20261122",
            "--request-timeout",
            "20",
            "--generation-database",
            "none",
            # One worker: hypothesis parses lambda sources with ast.parse, and on CPython 3.11
            # two threads parsing at once can fail with "AST constructor recursion depth
            # mismatch" (seen in CI).
            "--workers",
            "1",
            "--report",
            "ndjson",
            "--report-ndjson-path",
            str(events),
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
    )
    summary = result.stdout[-3000:]
    assert result.returncode == 0, summary
    statuses = _response_statuses(events)
    print(f"fuzz: {len(statuses)} requests, statuses {sorted(set(statuses))}")
    assert len(statuses) >= 300, summary
    assert not [s for s in statuses if s >= 500]
    assert any(400 <= s < 500 for s in statuses) and any(s < 300 for s in statuses)
    assert "Traceback" not in gateway.proc.log_path.read_text()


def _response_statuses(path: Path) -> list[int]:
    """Every HTTP status the gateway answered during the run, from the event report."""
    statuses: list[int] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            response = node.get("response")
            if isinstance(response, dict) and isinstance(response.get("status_code"), int):
                statuses.append(response["status_code"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for line in path.read_text().splitlines():
        walk(json.loads(line))
    return statuses
