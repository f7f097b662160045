"""Read the deployment files as the tools would: Dockerfiles, compose, settings names."""

from __future__ import annotations

import ast
import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import AliasChoices, AliasPath
from pydantic_settings import BaseSettings

REPO = Path(__file__).resolve().parents[2]
# Component -> its Dockerfile; the gateway and the three training services.
COMPONENT_DOCKERFILES = {
    "gateway": REPO / "gateway" / "Dockerfile",
    "timm": REPO / "services" / "timm" / "Dockerfile",
    "ultralytics": REPO / "services" / "ultralytics" / "Dockerfile",
    "huggingface": REPO / "services" / "huggingface" / "Dockerfile",
}
COMPOSE = REPO / "compose" / "docker-compose.yml"
COMPOSE_GPU = REPO / "compose" / "docker-compose.gpu.yml"
ENV_EXAMPLE = REPO / "compose" / ".env.example"


def all_dockerfiles() -> list[Path]:
    skip = {".venv", ".venvs", ".git", ".tools", ".data"}
    return sorted(
        p for p in REPO.rglob("Dockerfile") if not skip.intersection(p.relative_to(REPO).parts)
    )


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str

    def exec_form(self) -> list[str]:
        """The JSON (exec) form of CMD/ENTRYPOINT/HEALTHCHECK CMD, which every image here uses."""
        text = self.args
        if self.keyword == "HEALTHCHECK":
            text = text[text.index("CMD ") + 4 :]
        value = json.loads(text)
        assert isinstance(value, list), f"{self.keyword} is not in exec form: {self.args}"
        return [str(v) for v in value]


def instructions(dockerfile: Path) -> list[Instruction]:
    """Logical instructions: continuation lines joined, comments and parser directives dropped."""
    result, pending = [], ""
    for line in dockerfile.read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).strip().partition(" ")
        result.append(Instruction(keyword.upper(), " ".join(args.split())))
        pending = ""
    return result


def final_stage(dockerfile: Path) -> list[Instruction]:
    found = instructions(dockerfile)
    last_from = max(i for i, ins in enumerate(found) if ins.keyword == "FROM")
    return found[last_from:]


def image_env(dockerfile: Path) -> dict[str, str]:
    """The final stage's ENV as key=value pairs (values without quotes)."""
    env: dict[str, str] = {}
    for ins in final_stage(dockerfile):
        if ins.keyword == "ENV":
            for pair in shlex.split(ins.args):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def command(dockerfile: Path) -> list[str]:
    found = {ins.keyword: ins for ins in final_stage(dockerfile)}
    argv = found["ENTRYPOINT"].exec_form() if "ENTRYPOINT" in found else []
    return argv + (found["CMD"].exec_form() if "CMD" in found else [])


def copy_sources(dockerfile: Path) -> list[str]:
    """Paths COPY takes from the build context (not from another stage)."""
    sources = []
    for ins in instructions(dockerfile):
        if ins.keyword in ("COPY", "ADD"):
            parts = [p for p in shlex.split(ins.args) if not p.startswith("--")]
            if "--from=" not in ins.args:
                sources.extend(parts[:-1])
    return sources


def load_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def compose_variables(path: Path) -> set[str]:
    """Every ${VAR} the compose file interpolates ($$ escapes a literal dollar)."""
    text = path.read_text().replace("$$", "")
    return set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text))


def env_example_names() -> set[str]:
    names = set()
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            names.add(line.split("=", 1)[0].strip())
    return names


def settings_names(model: type[BaseSettings]) -> set[str]:
    """The environment variables a pydantic settings class reads (its validation aliases)."""
    names: set[str] = set()
    for field in model.model_fields.values():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseSettings):
            names |= settings_names(field.annotation)  # nested settings read their own names
            continue
        alias = field.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
        for choice in choices:
            if isinstance(choice, str):
                names.add(choice)
            elif isinstance(choice, AliasPath) and isinstance(choice.path[0], str):
                names.add(choice.path[0])
    return names


def environ_reads(module: Path) -> set[str]:
    """Names a module reads from an environment mapping: env.get("X"), env["X"], "X" in env."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text())):
        key: ast.expr | None = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "get" and node.args:
                key = node.args[0]
        elif isinstance(node, ast.Subscript):
            key = node.slice
        elif isinstance(node, ast.Compare) and isinstance(node.ops[0], ast.In):
            key = node.left
        if (
            isinstance(key, ast.Constant)
            and isinstance(key.value, str)
            and re.fullmatch(r"[A-Z][A-Z0-9_]+", key.value)
        ):
            names.add(key.value)
    return names
