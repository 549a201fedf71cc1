"""Speed of the vectorised ThreeTier-v2 engine against the SimPy env (issue 15: >= 20x env steps
per second at B = 64). Both run random actions for whole episodes (182 days) in the same process,
interleaved, best of several rounds each, so that machine load hits both alike; resets are not
timed (the engine resets through the SimPy env). The figures go to docs/performance.md:

    pytest -m benchmark_suite tests/benchmarks/test_three_tier_batch_speed.py --benchmark-enable -s
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import bench
from tasks.supply_chain.three_tier_batch import ThreeTierBatch

pytestmark = pytest.mark.benchmark_suite

TASK = "supply_chain/ThreeTier-v2"
B = 64


def _simpy_steps_per_s(env, rng: np.random.Generator, seed: int) -> float:
    env.reset(seed=seed)
    shapes = {a: env.action_space(a).shape for a in env.possible_agents}
    t0, n = time.perf_counter(), 0
    while env.agents:
        env.step({a: rng.random(shapes[a]).astype(np.float32) for a in env.agents})
        n += 1
    return n / (time.perf_counter() - t0)


def _batch_steps_per_s(batch: ThreeTierBatch, rng: np.random.Generator, seed: int) -> float:
    batch.reset(list(range(seed, seed + B)))
    t0, n = time.perf_counter(), 0
    while batch.agents:
        batch.step({a: rng.random((B, batch.n_act[a])) for a in batch.possible_agents})
        n += 1
    return B * n / (time.perf_counter() - t0)


@pytest.mark.parametrize("scale", ["small", "nominal"])
def test_batch_engine_speedup(benchmark, scale: str) -> None:
    env = bench.make(TASK, scale=scale)
    batch = ThreeTierBatch(B, scale=scale)
    rng = np.random.default_rng(0)
    simpy, engine = [], []
    for r in range(3):
        simpy.append(_simpy_steps_per_s(env, rng, 1000 + r))
        engine.append(_batch_steps_per_s(batch, rng, 2000 + B * r))
    ratio = max(engine) / max(simpy)
    benchmark.extra_info.update({"scale": scale, "batch": B, "simpy_steps_per_s": max(simpy),
                                 "engine_env_steps_per_s": max(engine), "speedup": ratio})
    print(f"\n{scale}: SimPy {max(simpy):.0f} steps/s, engine B={B} {max(engine):.0f} env steps/s, "
          f"speed-up {ratio:.1f}x")
    benchmark.pedantic(lambda: _batch_steps_per_s(batch, rng, 5000), rounds=1, iterations=1)
    assert ratio >= 20.0, f"speed-up {ratio:.1f}x < 20x at B={B} ({scale})"
