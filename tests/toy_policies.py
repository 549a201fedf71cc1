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
