"""Simulation speed of supply_chain/ThreeTier-v1: one full episode (182 days) per scale.

Targets (docs/tasks/supply_chain.md): a nominal episode well under 1 s, the 200-product ``paper``
scale a few seconds at most. The bounds asserted here are looser (shared CI machines are noisy);
the benchmark table is the measurement.
"""

from __future__ import annotations

import numpy as np
import pytest

import bench.registry as reg
from baselines.three_tier.heuristics import FixedCoverPolicy as OrderUpToPolicy

pytestmark = pytest.mark.benchmark_suite

TASK = "supply_chain/ThreeTier-v1"
# seconds per episode that would clearly mean a performance regression
BOUND = {"small": 1.5, "nominal": 2.0, "large": 4.0, "paper": 10.0}


def _episode(env, policy, seed: int) -> int:
    obs, _ = env.reset(seed=seed)
    steps = 0
    while env.agents:
        obs, *_ = env.step(policy(obs))
        steps += 1
    return steps


@pytest.mark.parametrize("scale", list(BOUND))
@pytest.mark.parametrize("policy", ["order_up_to", "random"])
def test_episode_speed(benchmark, scale, policy):
    env = reg.make(TASK, scale=scale)
    env.reset(seed=0)
    if policy == "order_up_to":
        act = OrderUpToPolicy(env).act
    else:
        rng = np.random.default_rng(0)
        shapes = {a: env.action_space(a).shape for a in env.possible_agents}
        act = lambda obs: {a: rng.random(shapes[a]).astype(np.float32) for a in obs}  # noqa: E731
    seeds = iter(range(1000))
    steps = benchmark.pedantic(lambda: _episode(env, act, next(seeds)), rounds=3, iterations=1,
                               warmup_rounds=0)
    assert steps == env.horizon
    assert benchmark.stats.stats.mean < BOUND[scale]
