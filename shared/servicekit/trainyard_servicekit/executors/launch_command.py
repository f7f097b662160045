"""The command that starts a run: train.py itself, or the distributed launcher in front of it.

A run of one process is `python -m <train module>`. A distributed run (spec.distributed) is
`python -m trainyard_runtime.distributed.launch … <train module>`: the launcher runs torchrun's
agent for this node's ranks and speaks for the group (trainyard_runtime.distributed). Both
executors build their commands here, so a subprocess and a pod start runs alike.
"""

from __future__ import annotations

from trainyard_servicekit.executors.base import LaunchSpec

LAUNCHER_MODULE = "trainyard_runtime.distributed.launch"
# Where node 0's relay listens in a pod (pods have a network of their own; a subprocess run
# lets the launcher pick a free port) and torchrun's rendezvous port between pods.
RELAY_PORT = 29401
RENDEZVOUS_PORT = 29400


def uses_launcher(launch: LaunchSpec) -> bool:
    return launch.ranks_per_node * launch.spec.distributed.nodes > 1


def local_command(python: str, launch: LaunchSpec) -> list[str]:
    """One node: the train module, or the launcher with a free port for its rendezvous
    (torchrun --standalone) and for its relay."""
    if not uses_launcher(launch):
        return [python, "-m", launch.module]
    return [
        python,
        "-m",
        LAUNCHER_MODULE,
        f"--nproc-per-node={launch.ranks_per_node}",
        "--relay-port=0",
        launch.module,
    ]


def node_command(python: str, launch: LaunchSpec, node_rank: str, master_addr: str) -> list[str]:
    """One node of several (a pod of an Indexed Job): `node_rank` and `master_addr` as the pod
    sees them (its completion index, node 0's DNS name); the relay listens on every address."""
    return [
        python,
        "-m",
        LAUNCHER_MODULE,
        f"--nproc-per-node={launch.ranks_per_node}",
        f"--nnodes={launch.spec.distributed.nodes}",
        f"--node-rank={node_rank}",
        f"--master-addr={master_addr}",
        f"--master-port={RENDEZVOUS_PORT}",
        f"--relay-port={RELAY_PORT}",
        "--relay-host=0.0.0.0",
        launch.module,
    ]
