"""Railway configs: each names a Dockerfile that exists and a health path the app serves."""

from __future__ import annotations

import json
from collections.abc import Iterator
from fnmatch import fnmatch
from pathlib import Path

import pytest
from fastapi import FastAPI

from tests.deploy.deploy_files import COMPONENT_DOCKERFILES, REPO, Build, copy_sources
from tests.toy_framework.plugin import PLUGIN
from trainyard_gateway.app import create_app
from trainyard_gateway.settings import GatewaySettings
from trainyard_servicekit.app import create_service_app
from trainyard_servicekit.settings import ServiceSettings

CONFIGS = sorted((REPO / "railway").glob("*.json"))


def get_paths(app: FastAPI) -> set[str]:
    # The OpenAPI document is the app's own account of its routes, included routers too.
    return {path for path, methods in app.openapi()["paths"].items() if "get" in methods}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, set[str]]]:
    """GET paths of the real app factories: the gateway's and a training service's."""
    data = tmp_path_factory.mktemp("railway-gateway")
    gateway = create_app(GatewaySettings(data_dir=data, TRAINYARD_API_KEYS="railway-test-key"))
    service = create_service_app(PLUGIN, ServiceSettings(TRAINYARD_DATA_DIR=data / "service"))
    yield {"gateway": get_paths(gateway), "service": get_paths(service)}
    gateway.state.gateway.registry.close()
    gateway.state.gateway.db.engine.dispose()


def test_a_config_per_component() -> None:
    assert {p.stem for p in CONFIGS} >= set(COMPONENT_DOCKERFILES)


@pytest.mark.parametrize("config_path", CONFIGS, ids=lambda p: p.name)
def test_config(config_path: Path, served: dict[str, set[str]]) -> None:
    config = json.loads(config_path.read_text())
    build, deploy = config["build"], config["deploy"]
    assert build["builder"] == "DOCKERFILE"
    dockerfile = REPO / build["dockerfilePath"]
    assert dockerfile.is_file()
    assert deploy["restartPolicyType"] in ("ON_FAILURE", "ALWAYS")
    name = config_path.stem
    image = Build(dockerfile, {})
    if name in COMPONENT_DOCKERFILES:
        # The build arguments (FRAMEWORK, PORT) are the service's Railway variables.
        image = COMPONENT_DOCKERFILES[name]
        assert dockerfile == image.dockerfile
        app = "gateway" if name == "gateway" else "service"
        assert deploy["healthcheckPath"] in served[app]
    # A change to the Dockerfile or to anything the image copies redeploys the service.
    for source in [build["dockerfilePath"], *copy_sources(image)]:
        assert any(
            fnmatch(source, pattern) or fnmatch(source + "/x", pattern)
            for pattern in build["watchPatterns"]
        ), f"{name}: a change to {source} would not redeploy"
