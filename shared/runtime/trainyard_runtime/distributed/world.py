"""Where a process stands in a distributed run, read from the variables torchrun sets.

train.py asks this once: a process with `WORLD_SIZE` > 1 is one rank of a group, and reports
through the relay of its launcher (named by `TRAINYARD_RELAY_ADDRESS`) instead of a reporter.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

# Set by torchrun for each worker (torch.distributed.run).
RANK = "RANK"
LOCAL_RANK = "LOCAL_RANK"
WORLD_SIZE = "WORLD_SIZE"
# Set by the launcher for its ranks, beside the run's own variables: host:port of its relay.
RELAY_ADDRESS = "TRAINYARD_RELAY_ADDRESS"


@dataclass(frozen=True)
class WorldPosition:
    rank: int
    local_rank: int
    world_size: int
    # host:port of the launcher's relay on node 0, where this rank sends its events.
    relay_address: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> WorldPosition | None:
        """This process's place in its group; None for a run of one process."""
        env = os.environ if environ is None else environ
        world = int(env.get(WORLD_SIZE) or 1)
        if world <= 1:
            return None
        relay = env.get(RELAY_ADDRESS) or ""
        if not relay:
            raise SystemExit(
                f"train.py runs as one of {world} processes ({WORLD_SIZE}={world}) but "
                f"{RELAY_ADDRESS} is unset: start distributed runs with "
                "`python -m trainyard_runtime.distributed.launch`, not torchrun alone"
            )
        return cls(
            rank=int(env.get(RANK) or 0),
            local_rank=int(env.get(LOCAL_RANK) or 0),
            world_size=world,
            relay_address=relay,
        )


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)
