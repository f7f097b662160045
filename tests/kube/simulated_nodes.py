"""The test cluster's two simulated Nodes, registered as a kubelet would register them and
kept Ready by kwok: a CPU node and a GPU node that advertises `nvidia.com/gpu` (tainted, as
GPU nodes usually are). Their kubelet API is the simulated kubelet's port."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubernetes.client import ApiClient, CoreV1Api

KWOK_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
GPU = "nvidia.com/gpu"


@dataclass(frozen=True)
class NodeShape:
    name: str
    cpu: str
    memory: str
    gpus: int = 0


NODES = (NodeShape("kwok-cpu", "4", "16Gi"), NodeShape("kwok-gpu", "8", "32Gi", gpus=1))


def create_nodes(api: ApiClient, kubelet_port: int) -> None:
    core = CoreV1Api(api)
    for shape in NODES:
        resources = {"cpu": shape.cpu, "memory": shape.memory, "pods": "110"}
        labels = {"kubernetes.io/hostname": shape.name, "kubernetes.io/os": "linux"}
        spec: dict[str, Any] = {}
        if shape.gpus:
            resources[GPU] = str(shape.gpus)
            labels[f"{GPU}.present"] = "true"
            spec["taints"] = [{"key": GPU, "value": "present", "effect": "NoSchedule"}]
        core.create_node(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": shape.name,
                    "labels": labels,
                    "annotations": dict([KWOK_ANNOTATION]),
                },
                "spec": spec,
                # What a kubelet registers (kwok fills in the conditions): where its API
                # is — the simulated kubelet's port — and what the node offers.
                "status": {
                    "capacity": resources,
                    "allocatable": resources,
                    "addresses": [
                        {"type": "InternalIP", "address": "127.0.0.1"},
                        {"type": "Hostname", "address": shape.name},
                    ],
                    "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
                },
            }
        )


def nodes_ready(api: ApiClient) -> bool:
    nodes = CoreV1Api(api).list_node().items
    ready = [
        n
        for n in nodes
        if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])
    ]
    return len(ready) == len(NODES)
