"""The Dockerfiles: hadolint-clean, COPY only what exists, ports and commands that agree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.deploy_files import (
    COMPONENT_DOCKERFILES,
    REPO,
    all_dockerfiles,
    command,
    copy_sources,
    final_stage,
    image_env,
)
from trainyard_dev.launcher import GATEWAY, SERVICES
from trainyard_gateway.settings import GatewaySettings

HADOLINT = Path(sys.executable).parent / "hadolint"
DEFAULT_PORTS = {c.name: c.port for c in (GATEWAY, *SERVICES)}


def test_every_component_has_a_dockerfile() -> None:
    assert set(COMPONENT_DOCKERFILES) == set(DEFAULT_PORTS)
    for path in COMPONENT_DOCKERFILES.values():
        assert path in all_dockerfiles()


@pytest.mark.parametrize("dockerfile", all_dockerfiles(), ids=lambda p: str(p.relative_to(REPO)))
def test_hadolint_clean(dockerfile: Path) -> None:
    result = subprocess.run(
        [str(HADOLINT), "--config", str(REPO / ".hadolint.yaml"), "--no-color", str(dockerfile)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", all_dockerfiles(), ids=lambda p: str(p.relative_to(REPO)))
def test_copied_paths_exist(dockerfile: Path) -> None:
    sources = copy_sources(dockerfile)
    missing = [s for s in sources if not (REPO / s).exists()]
    assert not missing, f"{dockerfile} copies paths the build context lacks: {missing}"


@pytest.mark.parametrize("name", sorted(COMPONENT_DOCKERFILES))
def test_component_image_shape(name: str) -> None:
    dockerfile = COMPONENT_DOCKERFILES[name]
    stage = final_stage(dockerfile)
    keywords = [ins.keyword for ins in stage]
    env = image_env(dockerfile)
    exposed = [int(ins.args) for ins in stage if ins.keyword == "EXPOSE"]
    # The port: EXPOSE, the image's PORT and the component's documented default agree.
    assert exposed == [int(env["PORT"])] == [DEFAULT_PORTS[name]]
    assert env["HOST"] == "0.0.0.0"
    assert "HEALTHCHECK" in keywords
    user = next(ins.args for ins in stage if ins.keyword == "USER")
    assert not user.startswith("0") and user != "root"
    # Only the lock and project files before the dependency sync; the code after it.
    text = dockerfile.read_text()
    assert text.index("--no-install-workspace") < text.index("COPY shared/wire/trainyard_wire")
    assert "--frozen" in text
    assert "UV_NO_CACHE=1" in text


def test_gateway_port_default_matches_settings() -> None:
    assert GatewaySettings.model_fields["port"].default == DEFAULT_PORTS["gateway"]


def test_commands() -> None:
    assert command(COMPONENT_DOCKERFILES["gateway"]) == ["python", "-m", "trainyard_gateway.serve"]
    for service in SERVICES:
        assert command(COMPONENT_DOCKERFILES[service.name]) == ["python", "-m", service.module]


def test_torch_variant_build_argument() -> None:
    for service in SERVICES:
        text = COMPONENT_DOCKERFILES[service.name].read_text()
        assert "ARG TORCH_VARIANT=" in text
        assert 'sync-args "$TORCH_VARIANT"' in text
