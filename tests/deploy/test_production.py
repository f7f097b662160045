"""The gateway refuses to start unprotected: no API keys without an explicit development opt-in,
and in production neither anonymous access nor the development internal token, at every way in."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.processes import framework_python
from trainyard_gateway.app import create_app
from trainyard_gateway.production import UnsafeSettingsError, production_problems
from trainyard_gateway.settings import GatewaySettings
from trainyard_wire.runs import DEV_INTERNAL_TOKEN


def settings(tmp_path: Path, **values: str) -> GatewaySettings:
    return GatewaySettings(data_dir=tmp_path, **values)


def test_development_accepts_the_default_token(tmp_path: Path) -> None:
    dev = settings(tmp_path, TRAINYARD_API_KEYS="k1")
    assert dev.environment == "development"
    assert production_problems(dev) == []


def test_development_without_keys_needs_the_explicit_opt_in(tmp_path: Path) -> None:
    problems = production_problems(settings(tmp_path))
    assert "TRAINYARD_API_KEYS" in problems[0]
    assert "TRAINYARD_ALLOW_ANONYMOUS=1" in problems[0]
    with pytest.raises(UnsafeSettingsError, match="no API keys"):
        create_app(settings(tmp_path))
    assert production_problems(settings(tmp_path, TRAINYARD_ALLOW_ANONYMOUS="1")) == []


def test_production_refuses_the_default_token(tmp_path: Path) -> None:
    unsafe = settings(tmp_path, TRAINYARD_ENV="production", TRAINYARD_API_KEYS="k1")
    assert unsafe.internal_token == DEV_INTERNAL_TOKEN
    assert "TRAINYARD_INTERNAL_TOKEN" in production_problems(unsafe)[0]
    with pytest.raises(UnsafeSettingsError, match="TRAINYARD_INTERNAL_TOKEN"):
        create_app(unsafe)


def test_production_refuses_anonymous_access(tmp_path: Path) -> None:
    unsafe = settings(
        tmp_path,
        TRAINYARD_ENV="production",
        TRAINYARD_INTERNAL_TOKEN="s3cr3t" * 8,
        TRAINYARD_ALLOW_ANONYMOUS="1",
    )
    assert len(production_problems(unsafe)) == 1
    assert "refused in production" in production_problems(unsafe)[0]


def test_production_with_secrets_is_fine(tmp_path: Path) -> None:
    safe = settings(
        tmp_path,
        TRAINYARD_ENV="production",
        TRAINYARD_INTERNAL_TOKEN="s3cr3t" * 8,
        TRAINYARD_API_KEYS="key-a, key-b",
    )
    assert production_problems(safe) == []
    assert safe.api_key_list() == ["key-a", "key-b"]


def test_unknown_environment_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="development"):
        settings(tmp_path, TRAINYARD_ENV="prod")


@pytest.mark.parametrize("module", ["trainyard_gateway", "trainyard_gateway.serve"])
def test_entry_points_exit_with_a_message(tmp_path: Path, module: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TRAINYARD_INTERNAL_TOKEN"}
    env |= {"TRAINYARD_ENV": "production", "TRAINYARD_DATA_DIR": str(tmp_path), "PORT": "1"}
    result = subprocess.run(
        [str(framework_python("gateway")), "-m", module],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "refuses to start" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "gateway.db").exists()
