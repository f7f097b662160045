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
SERVICE_DOCKERFILE = REPO / "services" / "Dockerfile"


@dataclass(frozen=True)
class Build:
    """A Dockerfile and the build arguments that make one component's image from it."""

    dockerfile: Path
    args: dict[str, str]


def service_build(framework: str, port: int) -> Build:
    return Build(SERVICE_DOCKERFILE, {"FRAMEWORK": framework, "PORT": str(port)})


# Component -> how its image is built: the gateway from its own Dockerfile, the three training
# services from the one services/Dockerfile with their FRAMEWORK and PORT.
COMPONENT_DOCKERFILES = {
    "gateway": Build(REPO / "gateway" / "Dockerfile", {}),
    "timm": service_build("timm", 8001),
    "ultralytics": service_build("ultralytics", 8002),
    "huggingface": service_build("huggingface", 8003),
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


class MissingBuildArgError(ValueError):
    """A `${NAME:?message}` met an unset or empty NAME: Docker stops reading the file there."""


_VARIABLE = re.compile(
    r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::([?-])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))"
)


def expand(text: str, variables: dict[str, str]) -> str:
    """Docker's substitution of build arguments: $NAME, ${NAME}, ${NAME:-default}, ${NAME:?error}.

    A name not in `variables` is left as it is (the shell of a RUN, or the image's own ENV, sees
    it later); only `:?` insists, as Docker does when it reads the file.
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(4)
        value = variables.get(name)
        if match.group(2) == "?" and not value:
            raise MissingBuildArgError(f"{name}: {match.group(3)}")
        if match.group(2) == "-" and not value:
            return match.group(3)
        return match.group(0) if value is None else value

    return _VARIABLE.sub(replace, text)


def instructions(dockerfile: Path, args: dict[str, str] | None = None) -> list[Instruction]:
    """Logical instructions: continuation lines joined, comments and parser directives dropped.

    With `args` (build arguments), Docker's substitution is done as Docker does it: FROM sees
    the ARGs declared before the first FROM; every other instruction the ARGs its stage declared
    (a value from `args`, else the default, else a global one of that name). RUN, CMD,
    ENTRYPOINT and HEALTHCHECK are left as written: a shell or the image expands those.
    """
    found = _logical_lines(dockerfile)
    if args is None:
        return found
    result: list[Instruction] = []
    global_args: dict[str, str] = {}
    stage: dict[str, str] | None = None  # None before the first FROM
    for ins in found:
        if ins.keyword == "ARG":
            name, has_default, default = ins.args.partition("=")
            scope = global_args if stage is None else stage
            value = args.get(name)
            if value is None and has_default:
                value = expand(default, scope)
            if value is None and stage is not None:
                value = global_args.get(name)
            if value is not None:
                scope[name] = value
        elif ins.keyword == "FROM":
            ins = Instruction(ins.keyword, expand(ins.args, global_args))
            stage = {}
        elif ins.keyword not in ("RUN", "CMD", "ENTRYPOINT", "HEALTHCHECK"):
            ins = Instruction(ins.keyword, expand(ins.args, stage or {}))
        result.append(ins)
    return result


def _logical_lines(dockerfile: Path) -> list[Instruction]:
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


def final_stage(build: Build | Path) -> list[Instruction]:
    build = as_build(build)
    found = instructions(build.dockerfile, build.args)
    last_from = max(i for i, ins in enumerate(found) if ins.keyword == "FROM")
    return found[last_from:]


def image_env(build: Build | Path) -> dict[str, str]:
    """The final stage's ENV as key=value pairs (values without quotes)."""
    env: dict[str, str] = {}
    for ins in final_stage(build):
        if ins.keyword == "ENV":
            for pair in shlex.split(ins.args):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def command(build: Build | Path) -> list[str]:
    found = {ins.keyword: ins for ins in final_stage(build)}
    argv = found["ENTRYPOINT"].exec_form() if "ENTRYPOINT" in found else []
    return argv + (found["CMD"].exec_form() if "CMD" in found else [])


def copy_sources(build: Build | Path) -> list[str]:
    """Paths COPY takes from the build context (not from another stage)."""
    build = as_build(build)
    sources = []
    for ins in instructions(build.dockerfile, build.args):
        if ins.keyword in ("COPY", "ADD"):
            parts = [p for p in shlex.split(ins.args) if not p.startswith("--")]
            if "--from=" not in ins.args:
                sources.extend(parts[:-1])
    return sources


def as_build(build: Build | Path) -> Build:
    return build if isinstance(build, Build) else Build(build, {})


def builds_of(dockerfile: Path) -> list[Build]:
    """The components' builds from this Dockerfile; a file no component uses, with no args."""
    builds = [b for b in COMPONENT_DOCKERFILES.values() if b.dockerfile == dockerfile]
    return builds or [Build(dockerfile, {})]


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
