"""How an evaluation episode's cost grows with the number of agents and with the episode length,
on every released task — what an evaluation pays per episode: env + the registered ``random``
baseline + the harness's bookkeeping (``bench.episode.run_episode``).

* ``test_cost_vs_agents[task]``: one episode per scale of the ladder (best of at least 3 runs,
  from the first eval seed); ``extra_info``: ``seconds`` and ``us_per_agent_step`` per scale, and
  ``loglog_slope`` — the exponent b of time ≈ a · agents^b fitted over the ladder (b = 1: cost
  linear in agents; below 1 while fixed per-step costs still dominate).
* ``test_cost_vs_episode_length[task]``: the nominal scale with the horizon overridden to 1/4,
  1/2 and all of the spec's; ``extra_info``: ``seconds`` per horizon, ``loglog_slope`` (1 =
  linear in length) and ``r2`` of the straight-line fit time = a + c · horizon.

The asserts are loose sanity bounds (a shared machine is noisy): the figures are the measure.
Run with ``.venv/bin/pytest -m benchmark_suite --benchmark-enable tests/benchmarks/test_scaling_speed.py``.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

import bench
from baselines.random_policy import RandomPolicy
from bench.episode import run_episode
from bench.registry import get_spec, task_ids

pytestmark = pytest.mark.benchmark_suite


def episode_seconds(task_id: str, scale: str, horizon: int | None = None) -> float:
    """Best wall time of one evaluation episode (env + random policy + harness) over at least 3
    runs and at least 0.3 s of runs (at most 50), from the first eval seed."""
    spec = get_spec(task_id)
    kw = {} if horizon is None else {"horizon": horizon}
    env = bench.make(task_id, scale=scale, **kw)
    seed = spec.seeds.eval[0]
    best, spent, runs = np.inf, 0.0, 0
    while runs < 3 or (spent < 0.3 and runs < 50):
        policy = RandomPolicy(env)
        t0 = time.perf_counter()
        run_episode(env, policy, seed, spec)
        dt = time.perf_counter() - t0
        best, spent, runs = min(best, dt), spent + dt, runs + 1
    return float(best)


@pytest.mark.benchmark(group="cost vs agents")
@pytest.mark.parametrize("task_id", task_ids())
def test_cost_vs_agents(benchmark, task_id: str) -> None:
    spec = get_spec(task_id)
    scales = [(s.name, s.agents) for s in spec.scales]

    def ladder() -> dict[str, float]:
        return {name: episode_seconds(task_id, name) for name, _ in scales}

    secs = benchmark.pedantic(ladder, rounds=1, iterations=1)
    agents = np.array([a for _, a in scales], dtype=float)
    t = np.array([secs[n] for n, _ in scales])
    slope = float(np.polyfit(np.log(agents), np.log(t), 1)[0])
    benchmark.extra_info.update(
        seconds=secs, us_per_agent_step={n: 1e6 * secs[n] / (a * spec.horizon) for n, a in scales},
        loglog_slope=slope, loadavg=os.getloadavg()[0])
    assert 0.0 < slope < 1.6, f"cost grows like agents^{slope:.2f}"


@pytest.mark.benchmark(group="cost vs episode length")
@pytest.mark.parametrize("task_id", task_ids())
def test_cost_vs_episode_length(benchmark, task_id: str) -> None:
    spec = get_spec(task_id)
    H = spec.horizon
    horizons = [H // 4, H // 2, H]
    nominal = spec.nominal_scale.name

    def lengths() -> dict[int, float]:
        return {h: episode_seconds(task_id, nominal, horizon=h) for h in horizons}

    secs = benchmark.pedantic(lengths, rounds=1, iterations=1)
    h = np.array(horizons, dtype=float)
    t = np.array([secs[x] for x in horizons])
    slope = float(np.polyfit(np.log(h), np.log(t), 1)[0])
    coef = np.polyfit(h, t, 1)
    resid = t - np.polyval(coef, h)
    r2 = float(1 - (resid ** 2).sum() / ((t - t.mean()) ** 2).sum())
    benchmark.extra_info.update(seconds={str(k): v for k, v in secs.items()}, loglog_slope=slope,
                                r2=r2, seconds_per_step=float(coef[0]), loadavg=os.getloadavg()[0])
    assert 0.3 < slope < 1.5, f"cost grows like length^{slope:.2f}"


@pytest.mark.benchmark(group="random policy act")
@pytest.mark.parametrize("task_id", task_ids())
def test_random_policy_act(benchmark, task_id: str) -> None:
    """One ``act`` of the random baseline at the task's largest scale: all agents' draws in one
    Generator call, against the agent-by-agent loop that defines the draws (``_sample``: same
    numbers, checked in tests/test_protocol.py); ``extra_info``: microseconds of each and
    ``speedup``."""
    from baselines.random_policy import _sample

    spec = get_spec(task_id)
    env = bench.make(task_id, scale=spec.scales[-1].name)
    obs, _ = env.reset(seed=spec.seeds.eval[0])
    policy = RandomPolicy(env)
    policy.reset(0)

    def loop() -> dict:
        return {a: _sample(policy._spaces[a], policy._rng, obs[a]) for a in obs}

    reps = 50
    t_loop = min(_timed(loop, reps) for _ in range(3)) / reps
    benchmark.pedantic(policy.act, args=(obs,), rounds=200, iterations=1, warmup_rounds=5)
    if benchmark.stats is not None:
        fast = benchmark.stats.stats.min
        benchmark.extra_info.update(agents=len(env.possible_agents), batched_us=fast * 1e6,
                                    loop_us=t_loop * 1e6, speedup=t_loop / fast,
                                    loadavg=os.getloadavg()[0])


def _timed(fn, reps: int) -> float:
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return time.perf_counter() - t0
