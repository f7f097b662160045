"""The Dockerfiles: hadolint-clean, COPY only what exists, ports and commands that agree."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.deploy_files import (
    COMPONENT_DOCKERFILES,
    REPO,
    SERVICE_DOCKERFILE,
    Build,
    MissingBuildArgError,
    all_dockerfiles,
    builds_of,
    command,
    copy_sources,
    final_stage,
    image_env,
    instructions,
)
from trainyard_dev.launcher import GATEWAY, SERVICES, Component
from trainyard_gateway.settings import GatewaySettings

HADOLINT = Path(sys.executable).parent / "hadolint"
DEFAULT_PORTS = {c.name: c.port for c in (GATEWAY, *SERVICES)}


def test_every_component_has_a_dockerfile() -> None:
    assert set(COMPONENT_DOCKERFILES) == set(DEFAULT_PORTS)
    for build in COMPONENT_DOCKERFILES.values():
        assert build.dockerfile in all_dockerfiles()


def test_the_services_share_one_dockerfile() -> None:
    for service in SERVICES:
        build = COMPONENT_DOCKERFILES[service.name]
        assert build.dockerfile == SERVICE_DOCKERFILE
        assert build.args["FRAMEWORK"] == service.name
    assert not list((REPO / "services").glob("*/Dockerfile"))


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


def build_id(build: Build) -> str:
    framework = build.args.get("FRAMEWORK")
    return str(build.dockerfile.relative_to(REPO)) + (f"[{framework}]" if framework else "")


# Each Dockerfile with each component's build arguments (a file no component uses, with none).
BUILDS = [build for path in all_dockerfiles() for build in builds_of(path)]


@pytest.mark.parametrize("build", BUILDS, ids=build_id)
def test_copied_paths_exist(build: Build) -> None:
    sources = copy_sources(build)
    missing = [s for s in sources if not (REPO / s).exists()]
    assert not missing, f"{build_id(build)} copies paths the build context lacks: {missing}"


@pytest.mark.parametrize("name", sorted(COMPONENT_DOCKERFILES))
def test_component_image_shape(name: str) -> None:
    build = COMPONENT_DOCKERFILES[name]
    stage = final_stage(build)
    keywords = [ins.keyword for ins in stage]
    env = image_env(build)
    exposed = [int(ins.args) for ins in stage if ins.keyword == "EXPOSE"]
    # The port: EXPOSE, the image's PORT and the component's documented default agree.
    assert exposed == [int(env["PORT"])] == [DEFAULT_PORTS[name]]
    assert env["HOST"] == "0.0.0.0"
    assert "HEALTHCHECK" in keywords
    user = next(ins.args for ins in stage if ins.keyword == "USER")
    assert not user.startswith("0") and user != "root"
    # Only the lock and project files before the dependency sync; the code after it.
    text = build.dockerfile.read_text()
    assert text.index("--no-install-workspace") < text.index("COPY shared/wire/trainyard_wire")
    assert "--frozen" in text
    assert "UV_NO_CACHE=1" in text


def test_gateway_port_default_matches_settings() -> None:
    assert GatewaySettings.model_fields["port"].default == DEFAULT_PORTS["gateway"]


def test_commands() -> None:
    assert command(COMPONENT_DOCKERFILES["gateway"]) == ["python", "-m", "trainyard_gateway.serve"]
    for service in SERVICES:
        build = COMPONENT_DOCKERFILES[service.name]
        # The generic entry serves the plugin of trainyard_<TRAINYARD_FRAMEWORK>, the one
        # `python -m <module>` serves; test_image_commands runs it for real.
        assert command(build) == ["python", "-m", "trainyard_servicekit"]
        assert f"trainyard_{image_env(build)['TRAINYARD_FRAMEWORK']}" == service.module


def test_torch_variant_build_argument() -> None:
    text = SERVICE_DOCKERFILE.read_text()
    assert "ARG TORCH_VARIANT=" in text
    assert 'sync-args "$TORCH_VARIANT"' in text


@pytest.mark.parametrize("missing", ["FRAMEWORK", "PORT"])
def test_the_build_refuses_a_missing_argument(missing: str) -> None:
    # Docker reads `${NAME:?message}` when it reads the file: no step runs without the argument.
    args = {**COMPONENT_DOCKERFILES["timm"].args}
    for value in (None, ""):
        if value is None:
            del args[missing]
        else:
            args[missing] = value
        with pytest.raises(MissingBuildArgError, match=f"^{missing}: set --build-arg {missing}"):
            image_env(Build(SERVICE_DOCKERFILE, args))


def framework_guard() -> tuple[str, list[str]]:
    """The build stage's RUN that checks FRAMEWORK names a folder under services/, and the
    paths COPY has put in /src before it (all the same there as in the repository)."""
    copied: list[str] = []
    for ins in instructions(SERVICE_DOCKERFILE):
        if ins.keyword == "COPY" and "--from=" not in ins.args:
            copied.extend(ins.args.split()[:-1])
        if ins.keyword == "RUN" and "is not a folder under services/" in ins.args:
            return ins.args, copied
    raise AssertionError("services/Dockerfile has no FRAMEWORK guard")


@pytest.mark.parametrize(
    ("framework", "accepted"),
    [
        *[(service.name, True) for service in SERVICES],
        ("", False),
        ("tim", False),
        ("../gateway", False),
        ("timm/..", False),
        (".", False),
    ],
)
def test_the_build_refuses_an_unknown_framework(
    framework: str, accepted: bool, tmp_path: Path
) -> None:
    # The guard runs as Docker runs it (sh -c, in /src) on what the build stage has there by
    # then: the lock and the workspace's project files.
    guard, copied = framework_guard()
    assert "services/timm/pyproject.toml" in copied
    for source in copied:
        (tmp_path / source).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / source).write_bytes((REPO / source).read_bytes())
    result = subprocess.run(
        ["sh", "-c", guard],
        env={"PATH": os.environ["PATH"], "FRAMEWORK": framework},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode == 0) == accepted, result.stderr
    if not accepted:
        assert f"FRAMEWORK={framework} is not a folder under services/" in result.stderr
        assert "services/timm/" in result.stderr


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
def test_only_the_ultralytics_image_installs_opencv_libraries(
    service: Component, tmp_path: Path
) -> None:
    # The runtime stage's apt RUN, with apt-get and rm stubbed: they only log what they are asked.
    stage = final_stage(COMPONENT_DOCKERFILES[service.name])
    apt = next(i.args for i in stage if i.keyword == "RUN" and "apt-get install" in i.args)
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    for tool in ("apt-get", "rm"):
        (bin_dir / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >> "{log}"\n')
        (bin_dir / tool).chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FRAMEWORK": service.name}
    subprocess.run(["sh", "-c", apt], env=env, check=True)
    calls = log.read_text() if log.exists() else ""
    if service.name == "ultralytics":
        assert "apt-get install -y --no-install-recommends libgl1 libglib2.0-0" in calls
    else:
        assert calls == ""
