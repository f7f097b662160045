"""What a framework's train.py builds on: the run's environment, context and lifecycle."""

from trainyard_runtime.training.context import TrainingContext
from trainyard_runtime.training.errors import TrainingError
from trainyard_runtime.training.runner import run_training

__all__ = ["TrainingContext", "TrainingError", "run_training"]
