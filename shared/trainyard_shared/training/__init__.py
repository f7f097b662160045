"""What a framework's train.py builds on: the run's environment, context and lifecycle."""

from trainyard_shared.training.context import TrainingContext, TrainingError
from trainyard_shared.training.runner import run_training

__all__ = ["TrainingContext", "TrainingError", "run_training"]
