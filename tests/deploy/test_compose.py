"""The Compose files: valid against the compose spec, and consistent with the code and images."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.deploy.deploy_files import (
    COMPONENT_DOCKERFILES,
    COMPOSE,
    COMPOSE_GPU,
    REPO,
    compose_variables,
    env_example_names,
    environ_reads,
    final_stage,
    image_env,
    load_yaml,
    settings_names,
)
from trainyard_gateway.settings import GatewaySettings
from trainyard_runtime.run_environment import RunVariable
from trainyard_servicekit.settings import ServiceSettings

RUNTIME = REPO / "shared" / "runtime" / "trainyard_runtime"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
# What each Trainyard component reads: its settings class, plus for the services what train.py
# and the dataset cache read; S3 credentials and endpoint are read by the storage on both.
S3_NAMES = environ_reads(RUNTIME / "storage" / "s3.py")
READS = {
    "gateway": settings_names(GatewaySettings) | S3_NAMES,
    "service": settings_names(ServiceSettings)
    | S3_NAMES
    | {str(name) for name in RunVariable}
    | environ_reads(RUNTIME / "datasets" / "cache.py"),
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_yaml(COMPOSE)


def component_of(service: dict) -> str | None:
    """The component a compose service builds: its Dockerfile and, for the shared service
    Dockerfile, its FRAMEWORK build argument."""
    build = service.get("build", {})
    if "dockerfile" not in build:
        return None
    args = build.get("args", {})
    for name, component in COMPONENT_DOCKERFILES.items():
        if (REPO / build["dockerfile"]) == component.dockerfile and component.args.get(
            "FRAMEWORK"
        ) == args.get("FRAMEWORK"):
            return name
    return None


def test_compose_files_match_the_compose_spec() -> None:
    result = subprocess.run(
        [
            str(CHECK_JSONSCHEMA),
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE),
            str(COMPOSE_GPU),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_derived_names_are_real() -> None:
    # If derivation broke, the checks below would pass on nothing.
    expected = {"DATABASE_URL", "GATEWAY_WORKERS", "WEB_CONCURRENCY", "TRAINYARD_ENV"}
    assert expected <= READS["gateway"]
    assert {"AWS_ENDPOINT_URL", "AWS_SECRET_ACCESS_KEY"} <= S3_NAMES
    assert {"MLFLOW_TRACKING_URI", "MLFLOW_UI_URL", "MAX_CONCURRENT_RUNS"} <= READS["service"]


def test_every_component_is_in_compose(compose: dict) -> None:
    found = {component_of(s) for s in compose["services"].values()}
    assert set(COMPONENT_DOCKERFILES) <= found


def test_compose_builds_each_component_with_its_arguments(compose: dict) -> None:
    for name, service in compose["services"].items():
        component = component_of(service)
        if component is None:
            continue
        args = {k: str(v) for k, v in service["build"].get("args", {}).items()}
        expected = COMPONENT_DOCKERFILES[component].args
        assert {k: args.get(k) for k in expected} == expected, name


def test_compose_sets_only_variables_the_components_read(compose: dict) -> None:
    for name, service in compose["services"].items():
        component = component_of(service)
        if component is None:
            continue
        reads = READS["gateway" if component == "gateway" else "service"]
        unknown = set(service.get("environment", {})) - reads
        assert not unknown, f"compose sets {sorted(unknown)} on {name}, which never reads them"


def test_every_interpolated_variable_is_documented() -> None:
    used = compose_variables(COMPOSE) | compose_variables(COMPOSE_GPU)
    assert used, "no ${VAR} found: the parser is broken"
    missing = used - env_example_names()
    assert not missing, f"compose/.env.example lacks {sorted(missing)}"


def test_build_files_exist(compose: dict) -> None:
    for name, service in compose["services"].items():
        if "build" in service:
            context = (COMPOSE.parent / service["build"]["context"]).resolve()
            assert context == REPO, f"{name} must build from the repository root"
            assert (context / service["build"]["dockerfile"]).is_file(), name


def test_dependencies_wait_for_health(compose: dict) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dep, condition in service.get("depends_on", {}).items():
            target = services[dep]
            if condition["condition"] == "service_healthy":
                dockerfile = target.get("build", {}).get("dockerfile")
                built_check = dockerfile and any(
                    ins.keyword == "HEALTHCHECK" for ins in final_stage(REPO / dockerfile)
                )
                assert "healthcheck" in target or built_check, f"{name} waits on {dep}'s health"
            else:
                assert condition["condition"] == "service_completed_successfully"
                assert target.get("restart") == "no", f"{dep} is a one-shot job"


def test_ports_agree(compose: dict) -> None:
    services = compose["services"]
    by_component = {component_of(s): n for n, s in services.items()}
    exposed = {c: int(image_env(build)["PORT"]) for c, build in COMPONENT_DOCKERFILES.items()}
    gateway_env = services[by_component["gateway"]]["environment"]
    for framework in ("timm", "ultralytics", "huggingface"):
        url = urlsplit(gateway_env[f"{framework.upper()}_SERVICE_URL"])
        assert url.hostname == by_component[framework]
        assert url.port == exposed[framework]
    assert urlsplit(gateway_env["GATEWAY_URL"]).port == exposed["gateway"]
    published = services[by_component["gateway"]]["ports"][0]
    assert published.rsplit(":", 1)[1] == str(exposed["gateway"])


def test_gpu_override_reserves_gpus_for_the_training_services_only() -> None:
    gpu = load_yaml(COMPOSE_GPU)["services"]
    assert set(gpu) == {"timm", "ultralytics", "huggingface"}
    for service in gpu.values():
        devices = service["deploy"]["resources"]["reservations"]["devices"]
        assert devices[0]["capabilities"] == ["gpu"]
        assert service["build"]["args"]["TORCH_VARIANT"] == "cuda"
