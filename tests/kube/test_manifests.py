"""Every manifest in k8s/ and every object the executor builds is valid Kubernetes (strict)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from trainyard_servicekit.executors.kubernetes.distributed import build_service
from trainyard_servicekit.executors.kubernetes.job import (
    KubernetesSettings,
    build_callback_secret,
    build_job,
    job_name,
)
from trainyard_servicekit.settings import ServiceSettings

from .jobs import TOKEN, launch

K8S = Path(__file__).resolve().parents[2] / "k8s"
VERSION = "1.34"  # a recent Kubernetes
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def manifests() -> list[tuple[str, dict]]:
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kind-config.yaml":
            continue  # kind's own format, not a Kubernetes object
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found.append((f"{path.name}:{doc['kind']}/{doc['metadata']['name']}", doc))
    return found


@pytest.mark.parametrize(
    ("where", "doc"), manifests(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_manifest_is_valid(where: str, doc: dict) -> None:
    kubernetes_validate.validate(doc, VERSION, strict=True)


def test_the_manifests_cover_the_platform() -> None:
    kinds = {where.split(":")[1] for where, _ in manifests()}
    for expected in (
        "Namespace/training",
        "ServiceAccount/trainyard-service",
        "Role/trainyard-service",
        "RoleBinding/trainyard-service",
        "ResourceQuota/trainyard-training",
        "Secret/trainyard-storage",
        "ConfigMap/trainyard-storage",
        "Deployment/trainyard-gateway",
        "Service/trainyard-timm",
        "Deployment/trainyard-huggingface",
    ):
        assert expected in kinds


def test_the_role_grants_exactly_what_the_executor_uses() -> None:
    role = next(doc for where, doc in manifests() if where.endswith("Role/trainyard-service"))
    rules = {
        (r["apiGroups"][0], res): sorted(r["verbs"])
        for r in role["rules"]
        for res in r["resources"]
    }
    assert rules == {
        ("batch", "jobs"): ["create", "delete", "get", "list", "watch"],
        ("", "pods"): ["get", "list", "watch"],
        ("", "pods/log"): ["get", "list", "watch"],
        ("", "secrets"): ["create", "delete", "get", "update"],
        ("", "events"): ["list", "watch"],
        ("", "services"): ["create", "delete"],
    }


@pytest.mark.parametrize("gpu", [0, 2])
def test_built_job_and_secret_are_valid(gpu: int) -> None:
    settings = KubernetesSettings(gpu_node_selector={"nvidia.com/gpu.present": "true"})
    run = launch("job-0123abcd", gpu=gpu, cpu=1.5, memory="3Gi")
    job = build_job(run, settings)
    kubernetes_validate.validate(job, VERSION, strict=True)
    kubernetes_validate.validate(
        build_callback_secret(run, job, "5f0c4e1e-0000-4000-8000-000000000000", TOKEN),
        VERSION,
        strict=True,
    )
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    limits = container["resources"]["limits"]
    assert limits["cpu"] == "1500m" and limits["memory"] == "3Gi"
    if gpu:
        assert limits["nvidia.com/gpu"] == "2"
        assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
        assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    else:
        assert "nvidia.com/gpu" not in limits
        assert "nodeSelector" not in pod and "tolerations" not in pod
    assert container["image"] == "ghcr.io/trainyard/toy:0.1.0"
    assert container["command"] == ["python", "-m", "toy_framework.train"]
    env = {e["name"]: e for e in container["env"]}
    assert json.loads(env["JOB_SPEC"]["value"])["framework"] == "toy"
    assert env["MLFLOW_TRACKING_URI"]["value"] == "http://mlflow:5000"
    # As many CPU threads as the 1.5-CPU limit allows whole, spinning briefly when idle.
    assert env["OMP_NUM_THREADS"]["value"] == "1"
    assert env["GOMP_SPINCOUNT"]["value"] == "10000"
    assert env["CALLBACK_TOKEN"] == {
        "name": "CALLBACK_TOKEN",
        "valueFrom": {
            "secretKeyRef": {"name": "trainyard-job-0123abcd-callback", "key": "callback-token"}
        },
    }
    assert TOKEN not in json.dumps(job)  # the token is only in the Secret
    assert pod["restartPolicy"] == "Never" and pod["securityContext"]["runAsNonRoot"] is True
    assert {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}} in pod["volumes"]
    assert job["metadata"]["labels"]["trainyard.io/job-id"] == "job-0123abcd"


def test_a_run_over_two_nodes_is_an_indexed_job_with_a_headless_service() -> None:
    run = launch("job-dist", gpu=2, distributed={"nodes": 2})
    job = build_job(run, KubernetesSettings())
    kubernetes_validate.validate(job, VERSION, strict=True)
    uid = "5f0c4e1e-0000-4000-8000-000000000000"
    service = build_service(run, job, uid)
    kubernetes_validate.validate(service, VERSION, strict=True)
    kubernetes_validate.validate(build_callback_secret(run, job, uid, TOKEN), VERSION, strict=True)

    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 2, 2)
    assert spec["backoffLimit"] == 0
    rules = spec["podFailurePolicy"]["rules"]
    assert all(rule["action"] == "FailJob" for rule in rules)  # any pod fails: the Job fails
    assert rules[0]["onExitCodes"] == {"containerName": "train", "operator": "NotIn", "values": [0]}
    pod = spec["template"]["spec"]
    assert pod["subdomain"] == service["metadata"]["name"] == "trainyard-job-dist"
    (container,) = pod["containers"]
    assert container["command"] == [
        "python",
        "-m",
        "trainyard_runtime.distributed.launch",
        "--nproc-per-node=2",  # one per GPU
        "--nnodes=2",
        "--node-rank=$(JOB_COMPLETION_INDEX)",
        "--master-addr=trainyard-job-dist-0.trainyard-job-dist",
        "--master-port=29400",
        "--relay-port=29401",
        "--relay-host=0.0.0.0",
        "toy_framework.train",
    ]
    env = {e["name"]: e for e in container["env"]}
    index = env["JOB_COMPLETION_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert index == "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    assert "secretKeyRef" in env["CALLBACK_TOKEN"]["valueFrom"]  # the per-job Secret as before

    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"] == spec["template"]["metadata"]["labels"]
    assert service["metadata"]["labels"] == job["metadata"]["labels"]
    (owner,) = service["metadata"]["ownerReferences"]  # goes with the Job: stop and TTL
    assert (owner["kind"], owner["name"], owner["uid"]) == ("Job", "trainyard-job-dist", uid)


def test_one_node_with_several_processes_is_one_pod_with_the_launcher() -> None:
    run = launch("job-one-node", gpu=0, distributed={"processes_per_node": 2})
    job = build_job(run, KubernetesSettings())
    kubernetes_validate.validate(job, VERSION, strict=True)
    assert "completionMode" not in job["spec"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"][2:] == [
        "trainyard_runtime.distributed.launch",
        "--nproc-per-node=2",
        "--relay-port=0",
        "toy_framework.train",
    ]


def test_development_mode_mounts_the_package_from_a_configmap() -> None:
    job = build_job(launch("job-dev"), KubernetesSettings(dev_code_configmap="toy-dev"))
    kubernetes_validate.validate(job, VERSION, strict=True)
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert {"name": "dev-code", "configMap": {"name": "toy-dev"}} in pod["volumes"]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "dev-code")
    assert mount["mountPath"] == "/opt/trainyard/dev/toy_framework"
    assert {"name": "PYTHONPATH", "value": "/opt/trainyard/dev"} in container["env"]


def test_the_hub_token_reaches_a_pod_only_by_secret_reference() -> None:
    run = launch("job-hub")
    run = replace(
        run,
        environment=replace(
            run.environment, hf_token="hf_secret-value", hf_endpoint="http://hub.internal"
        ),
    )
    job = build_job(run, KubernetesSettings(hf_token_secret="trainyard-hf"))
    kubernetes_validate.validate(job, VERSION, strict=True)
    (container,) = job["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["HF_ENDPOINT"]["value"] == "http://hub.internal"
    assert env["HF_TOKEN"] == {
        "name": "HF_TOKEN",
        "valueFrom": {
            "secretKeyRef": {"name": "trainyard-hf", "key": "HF_TOKEN", "optional": True}
        },
    }
    assert "hf_secret-value" not in json.dumps(job)
    # Without a Secret to name, a pod gets no token at all.
    plain = build_job(run, KubernetesSettings())
    assert "HF_TOKEN" not in json.dumps(plain) and "hf_secret-value" not in json.dumps(plain)


@pytest.mark.parametrize(
    "run_id", ["job-1", "JOB_with.odd*chars", "job-" + "x" * 120, "-leading-and-trailing-"]
)
def test_job_names_are_dns_labels(run_id: str) -> None:
    name = job_name(run_id)
    assert len(name) <= 63 and DNS_LABEL.match(name)
    assert job_name(run_id) == name  # stable: a restarted service finds the same Job


def test_service_settings_build_the_kubernetes_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAINING_EXECUTOR", "kubernetes")
    monkeypatch.setenv("TRAINYARD_IMAGE", "registry.local/ty-{framework}:{version}")
    monkeypatch.setenv("TRAINYARD_IMAGE_VERSION", "1.2.3")
    monkeypatch.setenv("KUBERNETES_FALLBACK_TO_SUBPROCESS", "true")
    monkeypatch.setenv("KUBERNETES_GPU_NODE_SELECTOR", '{"gpu": "a100"}')
    settings = ServiceSettings()
    assert settings.enabled_executors() == ["kubernetes", "subprocess"]
    kube = settings.kubernetes
    assert kube.namespace == "training" and kube.gpu_node_selector == {"gpu": "a100"}
    assert kube.image_for("timm") == "registry.local/ty-timm:1.2.3"
