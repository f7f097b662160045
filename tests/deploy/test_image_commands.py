"""Each image's command, exactly as its Dockerfile declares it, serves a healthy /health.

No Docker engine here: the command runs from the component's own environment (.venvs/<name>,
what `uv sync --package` builds, as the image does) with the image's ENV, paths moved to tmp.
Then the image's HEALTHCHECK command runs against it, as Docker would.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.deploy.deploy_files import (
    COMPONENT_DOCKERFILES,
    Build,
    command,
    final_stage,
    image_env,
)
from tests.support.processes import INTERNAL_TOKEN, framework_python, free_port
from trainyard_dev.launcher import ManagedProcess


def healthcheck(build: Build) -> list[str]:
    return next(i for i in final_stage(build) if i.keyword == "HEALTHCHECK").exec_form()


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple]]:
    """Every component started at once (they take seconds to import), stopped at the end."""
    root = tmp_path_factory.mktemp("images")
    started: dict[str, tuple] = {}
    try:
        for name, build in COMPONENT_DOCKERFILES.items():
            bin_dir = framework_python(name).parent
            port = free_port()
            env = image_env(build)
            env |= {
                "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
                "HOST": "127.0.0.1",
                "PORT": str(port),
                "TRAINYARD_DATA_DIR": str(root / name),
                "TRAINYARD_INTERNAL_TOKEN": INTERNAL_TOKEN,
            }
            for key in ("DATASET_CACHE_DIR", "HF_HOME"):
                if key in env:
                    env[key] = str(root / name / key.lower())
            if name == "gateway":
                env |= {
                    "DATABASE_URL": f"sqlite:///{root / 'gateway.db'}",
                    "GATEWAY_WORKERS": "2",
                    "TRAINYARD_API_KEYS": "image-test-key",
                }
            proc = ManagedProcess(name, command(build), env, root / f"{name}.log", cwd=root)
            started[name] = (proc.start(), port, env)
        for proc, port, _ in started.values():
            proc.wait_healthy(f"http://127.0.0.1:{port}/health", timeout=180)
        yield started
    finally:
        for proc, _, _ in started.values():
            proc.stop()


@pytest.mark.parametrize("name", sorted(COMPONENT_DOCKERFILES))
def test_image_command_serves_health(name: str, running: dict[str, tuple]) -> None:
    proc, port, env = running[name]
    assert proc.alive()
    if name != "gateway":
        # One command for every service image: each serves the framework it was built for.
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).json()
        assert health["framework"] == name
    # Docker runs HEALTHCHECK inside the container: same environment, same PATH.
    result = subprocess.run(
        healthcheck(COMPONENT_DOCKERFILES[name]),
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_gateway_runs_gunicorn_workers(running: dict[str, tuple]) -> None:
    proc, _, _ = running["gateway"]
    log = proc.log_path.read_text()
    assert "uvicorn_worker.UvicornWorker" in log or "Booting worker" in log, log
    assert log.count("Booting worker") == 2, log


@pytest.mark.parametrize("framework", ["", "ultralytics", "servicekit"])
def test_service_command_refuses_a_framework_it_cannot_serve(
    framework: str, tmp_path: Path
) -> None:
    # The timm image has trainyard_timm only: anything else exits 2 with the names it has.
    build = COMPONENT_DOCKERFILES["timm"]
    env = {**os.environ, **image_env(build), "TRAINYARD_FRAMEWORK": framework}
    env |= {"PATH": f"{framework_python('timm').parent}{os.pathsep}{os.environ['PATH']}"}
    env |= {"TRAINYARD_DATA_DIR": str(tmp_path), "PORT": str(free_port())}
    result = subprocess.run(
        command(build), env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2, result.stderr
    assert "TRAINYARD_FRAMEWORK" in result.stderr and "installed" in result.stderr
    assert "timm" in result.stderr.rsplit("installed", 1)[1]
    assert "Traceback" not in result.stderr
