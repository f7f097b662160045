"""What a framework provides so a job can go on from its `last` checkpoint.

Each service implements it once, in its `checkpoint.py`. The runtime fetches the checkpoint
`spec.resume_from` names (and the `best` beside it: `TrainingContext.resume_point`); the
framework knows what its checkpoint holds beside the weights and how to put it back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from trainyard_runtime.training.context import TrainingContext

Resumed = TypeVar("Resumed", covariant=True)


class Resumable(Protocol[Resumed]):
    def state(self) -> dict[str, Any]:
        """What `last` carries beside the weights to go on: optimizer, schedule, random
        states, the best score so far… (empty where the framework writes it itself)."""
        ...

    def resume(self, ctx: TrainingContext) -> Resumed | None:
        """Put `spec.resume_from` back into this run (TrainingError `checkpoint_invalid` if
        it cannot go on from it), and note the epochs done (`ctx.resuming_after`); what the
        training loop needs to go on, or None for a fresh start."""
        ...
