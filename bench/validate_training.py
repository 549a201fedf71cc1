"""Old import path of the training-block checks; the code lives in :mod:`bench.submit.training`."""

from bench.submit.training import LEARNING_PARADIGMS, check_training

__all__ = ["LEARNING_PARADIGMS", "check_training"]
