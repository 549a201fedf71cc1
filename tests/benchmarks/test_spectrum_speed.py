"""Speed of spectrum/Interference-v1 and of the batched WMMSE.

``test_env_steps_per_second``: env steps per second at every scale, driven by pre-drawn random
actions (the env alone: ``step`` with PettingZoo's per-agent dicts, observations, infos);
``extra_info["steps_per_second"]`` is the figure to read (issue target: >= 10,000 at K = 50; the
assert is a loose regression floor, the table is the measure). ``test_episode_seconds`` times a
whole episode with the registered random baseline (what the conformance checks run).
``test_batched_wmmse_vs_loop``: the batched WMMSE against a per-sample loop of the same
algorithm (``baselines.wmmse.wmmse_loop``) on 1,000 Gaussian-IC channels per K = 10, 20, 30;
equal results, and the batched one at least 20x faster at K = 10 and 20 (the gain shrinks with
K: it is the loop's per-iteration overhead amortised over the batch).

Run with ``pytest -m benchmark_suite --benchmark-enable tests/benchmarks/test_spectrum_speed.py``.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import bench
from baselines.random_policy import RandomPolicy
from baselines.wmmse import wmmse, wmmse_loop

pytestmark = pytest.mark.benchmark_suite

TASK = "spectrum/Interference-v1"
SCALES = [s.name for s in bench.get_spec(TASK).scales]
FLOOR = {"k4": 5000, "k20": 3000, "k50": 2000, "k100": 1000, "k200": 500}   # steps/s regressions


def _actions(env, n: int, seed: int = 0) -> list[dict[str, int]]:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, env.n_actions, size=(n, env.n_links)).tolist()
    return [dict(zip(env.possible_agents, row)) for row in a]


@pytest.mark.parametrize("scale", SCALES)
def test_env_steps_per_second(benchmark, scale: str) -> None:
    env = bench.make(TASK, scale=scale)
    env.reset(seed=0)
    acts = _actions(env, env.horizon)
    seeds = iter(range(10_000))

    def episode() -> int:
        env.reset(seed=next(seeds))
        for a in acts:
            env.step(a)
        return len(acts)

    steps = benchmark.pedantic(episode, rounds=10, iterations=1, warmup_rounds=2)
    assert steps == env.horizon
    if benchmark.stats is not None:
        sps = env.horizon / benchmark.stats.stats.min
        benchmark.extra_info["steps_per_second"] = sps
        benchmark.extra_info["agent_steps_per_second"] = sps * env.n_links
        assert sps > FLOOR[scale]


@pytest.mark.parametrize("scale", SCALES)
def test_episode_seconds(benchmark, scale: str) -> None:
    env = bench.make(TASK, scale=scale)
    env.reset(seed=0)
    policy = RandomPolicy(env)
    seeds = iter(range(10_000))

    def episode() -> int:
        s = next(seeds)
        obs, _ = env.reset(seed=s)
        policy.reset(s)
        n = 0
        while env.agents:
            obs, *_ = env.step(policy.act(obs))
            n += 1
        return n

    assert benchmark.pedantic(episode, rounds=5, iterations=1, warmup_rounds=1) == env.horizon
    if benchmark.stats is not None:
        assert benchmark.stats.stats.mean < 1.5          # the conformance checks' budget


@pytest.mark.parametrize("K", [10, 20, 30])
def test_batched_wmmse_vs_loop(benchmark, K: int) -> None:
    rng = np.random.default_rng(K)
    G = rng.exponential(1.0, size=(1000, K, K))
    batched = benchmark.pedantic(lambda: wmmse(G, 1.0, 1.0), rounds=5, iterations=1, warmup_rounds=1)
    looped = wmmse_loop(G, 1.0, 1.0)
    np.testing.assert_allclose(batched, looped, rtol=1e-12, atol=1e-15)
    # best of several runs each: the ratio of the two algorithms, not of the machine's load
    t_loop = min(_time(lambda: wmmse_loop(G, 1.0, 1.0)) for _ in range(2))
    t_batch = min(_time(lambda: wmmse(G, 1.0, 1.0)) for _ in range(7))
    speedup = t_loop / t_batch
    if benchmark.stats is not None:
        benchmark.extra_info["loop_seconds"] = t_loop
        benchmark.extra_info["speedup"] = speedup
    print(f"\nWMMSE K={K}, 1000 channels: batched {t_batch * 1e3:.1f} ms, loop {t_loop * 1e3:.0f} ms "
          f"-> {speedup:.0f}x")
    # the batched gain is the loop's per-iteration Python overhead amortised over the batch, so
    # it shrinks as K grows (K = 30: 13-23x on the reference machine); the target applies to
    # K = 10 and 20, the K = 30 bound is a regression floor
    assert speedup >= (20.0 if K <= 20 else 8.0)


def _time(f) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0
