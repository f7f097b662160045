"""The random number generators' states, saved in a checkpoint so a resumed run draws on.

Restored, a resumed run shuffles and augments the next epoch as the interrupted run would have.
torch and numpy are imported inside the functions: only the framework environments have them.
"""

from __future__ import annotations

import random
from typing import Any


def rng_state() -> dict[str, Any]:
    import numpy as np
    import torch

    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    import numpy as np
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    # Resumed on a machine with other GPUs (or none), their streams start afresh instead.
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if len(state.get("cuda", ())) == gpus > 0:
        torch.cuda.set_rng_state_all(state["cuda"])
