"""Policies used only by harness tests."""

from __future__ import annotations

import time

from baselines.random_policy import RandomPolicy
from bench.policy import PolicyInfo


class SlowRandom(RandomPolicy):
    """Random actions, 1 ms per decision: slow enough that a test can kill a run mid-way."""

    info = PolicyInfo(name="slow-random", version="1", paradigm="random",
                      description="random, deliberately slow (tests only)")

    def act(self, observations):
        time.sleep(0.001)
        return super().act(observations)


class RaisesAtStep5(RandomPolicy):
    """A policy with a bug that shows at step 5 of every episode."""

    info = PolicyInfo(name="raises", version="1", paradigm="heuristic", description="tests only")

    def reset(self, seed):
        super().reset(seed)
        self.t = 0

    def act(self, observations):
        if self.t == 5:
            raise RuntimeError("my bug at step 5")
        self.t += 1
        return super().act(observations)


def wrong_type_factory(env):
    """A factory that returns something that is not a policy."""
    return 42


wrong_type_factory.info = PolicyInfo(name="wrong", version="1", paradigm="heuristic",
                                     description="tests only")


class NoInfo:
    """Random actions, declaring no info (as a first attempt often does)."""

    def __init__(self, env):
        self._inner = RandomPolicy(env)

    def reset(self, seed):
        self._inner.reset(seed)

    def act(self, observations):
        return self._inner.act(observations)


class OutOfRange(RandomPolicy):
    """Orders -3 units: below every Box's lower bound of 0."""

    info = PolicyInfo(name="out-of-range", version="1", paradigm="heuristic", description="tests only")

    def act(self, observations):
        import numpy as np

        return {a: np.array([-3.0], dtype=np.float32) for a in observations}
