"""A container's environment as the simulated kubelet resolves it: plain values, Secret and
ConfigMap keys (`valueFrom`), whole Secrets and ConfigMaps (`envFrom`), read from the API,
and paths under a mount point mapped into the Pod's own folder."""

from __future__ import annotations

import base64
import json
import os
import re
from typing import Any

from kubernetes.client import CoreV1Api
from kubernetes.client.exceptions import ApiException

from .kubelet_pod import PodRun


class ConfigError(Exception):
    """The container cannot be created (a missing Secret, ConfigMap or key)."""


def read_values(core: CoreV1Api, kind: str, namespace: str, name: str) -> dict[str, str] | None:
    """The data of a Secret (decoded) or a ConfigMap; None when there is none by that name."""
    read = core.read_namespaced_secret if kind == "secret" else (core.read_namespaced_config_map)
    try:
        obj = json.loads(read(name, namespace, _preload_content=False).data)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    if kind == "secret":
        return {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
    return dict(obj.get("data") or {})


def container_environment(
    core: CoreV1Api, run: PodRun, container: dict[str, Any], image_env: dict[str, str]
) -> dict[str, str]:
    namespace = run.pod["metadata"]["namespace"]
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        kind, ref = (
            ("secret", source["secretRef"])
            if "secretRef" in source
            else ("configmap", source["configMapRef"])
        )
        values = read_values(core, kind, namespace, ref["name"])
        if values is None:
            if ref.get("optional"):
                continue
            raise ConfigError(f'{kind} "{ref["name"]}" not found')
        prefix = source.get("prefix", "")
        env |= {prefix + k: v for k, v in values.items()}
    for var in container.get("env") or []:
        if "valueFrom" not in var:
            env[var["name"]] = var.get("value", "")
            continue
        source = var["valueFrom"]
        if "secretKeyRef" in source or "configMapKeyRef" in source:
            kind = "secret" if "secretKeyRef" in source else "configmap"
            ref = source.get("secretKeyRef") or source["configMapKeyRef"]
            values = read_values(core, kind, namespace, ref["name"])
            if values is None or ref["key"] not in values:
                if ref.get("optional"):
                    continue
                what = f'{kind} "{ref["name"]}"'
                raise ConfigError(
                    f"{what} not found" if values is None else f"key {ref['key']} not in {what}"
                )
            env[var["name"]] = values[ref["key"]]
        elif "fieldRef" in source:
            env[var["name"]] = field_value(run.pod, source["fieldRef"]["fieldPath"])
        else:
            raise ConfigError(f"unsupported env source for {var['name']}: {source}")
    env = {k: map_path(run, container, v) for k, v in env.items()}
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(run.folder)}
    paths = [env.get("PYTHONPATH"), image_env.get("PYTHONPATH")]
    merged = {**base, **image_env, **env}
    merged["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return merged


def field_value(pod: dict[str, Any], path: str) -> str:
    """A downward-API field: `metadata.name`, …, or `metadata.annotations['key']` (labels too)."""
    keyed = re.fullmatch(r"metadata\.(annotations|labels)\['([^']+)'\]", path)
    if keyed:
        return str((pod["metadata"].get(keyed[1]) or {}).get(keyed[2], ""))
    return str(pod["metadata"].get(path.split(".", 1)[1], ""))


def expand(text: str, env: dict[str, str]) -> str:
    """`$(NAME)` in a command or its args, from the container's environment, as the kubelet
    expands it (`$$` escapes; an unknown name stays as written)."""
    return re.sub(
        r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
        lambda m: "$" if m[0] == "$$" else env.get(m[1], m[0]),
        text,
    )


def map_path(run: PodRun, container: dict[str, Any], value: str) -> str:
    """A path inside one of the container's mounts, as the folder standing for it."""
    for mount in container.get("volumeMounts") or []:
        point = mount["mountPath"].rstrip("/")
        if value == point or value.startswith(point + "/"):
            local = run.folder / "volumes" / mount["name"]
            local.mkdir(parents=True, exist_ok=True)
            return str(local) + value[len(point) :]
    return value
