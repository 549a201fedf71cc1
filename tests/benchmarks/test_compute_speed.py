"""Simulation speed of compute/EdgeCluster-v1 (and v2, ``test_v2_decisions_per_second``):
decisions and jobs per second at every scale, and how the cost grows with jobs and with nodes.

* ``test_decisions_per_second[scale]`` — one full episode with fixed actions (every job local),
  i.e. the simulator's own cost. ``extra_info``: ``agent_decisions_per_s`` (agent-steps per
  second), ``dispatch_decisions_per_s`` (job routing decisions applied per second),
  ``jobs_per_s`` (jobs simulated — arrived — per second). Target: >= 20,000 dispatch decisions
  per second at the nominal 10-node scale.
* ``test_decisions_per_second_with_policy[scale]`` — the same with the JSQ baseline acting (env +
  policy, what an evaluation pays).
* ``test_cost_is_linear_in_jobs`` — the load (hence the number of jobs) at fixed nodes; the
  episode time must be an affine function of the job count (R² > 0.98) with a marginal cost per
  job that does not grow with load.
* ``test_cost_growth_with_nodes`` — time per episode over the scale ladder; log-log slope ≈ 1
  (linear in nodes, since each node brings its own jobs).

Run with ``pytest -m benchmark_suite --benchmark-enable tests/benchmarks/test_compute_speed.py``.
Timed bounds are loose (shared CI machines are noisy); the benchmark table is the measurement.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import bench
from baselines.compute.jsq import JSQPolicy

pytestmark = pytest.mark.benchmark_suite

TASK = "compute/EdgeCluster-v1"
SCALES = [s.name for s in bench.get_spec(TASK).scales]
TARGET_DISPATCH_PER_S = 20_000


def _episode(env, act, seed: int) -> tuple[int, int]:
    """Run one episode; return (agent decisions, job dispatch decisions)."""
    obs, _ = env.reset(seed=seed)
    agent_dec = 0
    while env.agents:
        agent_dec += len(env.agents)
        obs, *_ = env.step(act(obs))
    led = env.ledger()
    # every arrived job was routed except those still pending at the end (last epoch's arrivals)
    pending_end = sum(len(env.pending_jobs(a)) for a in env.possible_agents)
    return agent_dec, led["arrived"] - pending_end


def _fixed(env):
    u = env.unwrapped
    if hasattr(u, "always"):             # v2: the rule that keeps every job local
        local = {a: np.array([u.always] * 3 + [0] * 4, np.int64) for a in env.possible_agents}
    else:
        local = {a: np.zeros(env.W + 2, np.int64) for a in env.possible_agents}
    return lambda obs: local


def _best_time(env, act, seeds, repeats: int = 3) -> tuple[float, int, int, int]:
    best, out = float("inf"), (0, 0)
    for _ in range(repeats):
        t0 = time.perf_counter()
        dec = [_episode(env, act, s) for s in seeds]
        el = time.perf_counter() - t0
        if el < best:
            best, out = el, (sum(d[0] for d in dec), sum(d[1] for d in dec))
    arrived = env.ledger()["arrived"]
    return best, out[0], out[1], arrived


@pytest.mark.parametrize("scale", SCALES)
def test_decisions_per_second(benchmark, scale: str) -> None:
    env = bench.make(TASK, scale=scale)
    env.reset(seed=0)
    act = _fixed(env)
    seeds = iter(range(10_000))
    agent_dec, dispatch = benchmark.pedantic(lambda: _episode(env, act, next(seeds)), rounds=5,
                                             iterations=1, warmup_rounds=1)
    arrived = env.ledger()["arrived"]
    if benchmark.stats is not None:
        t = benchmark.stats.stats.min
        benchmark.extra_info.update(agent_decisions_per_s=agent_dec / t,
                                    dispatch_decisions_per_s=dispatch / t, jobs_per_s=arrived / t)
    best, a_dec, disp, _ = _best_time(env, act, [1, 2, 3], repeats=3)
    if scale == "n10":
        assert disp / best >= TARGET_DISPATCH_PER_S, f"{disp / best:.0f} dispatch decisions/s"


@pytest.mark.parametrize("scale", SCALES)
def test_decisions_per_second_with_policy(benchmark, scale: str) -> None:
    env = bench.make(TASK, scale=scale)
    env.reset(seed=0)
    act = JSQPolicy(env).act
    seeds = iter(range(10_000))
    agent_dec, dispatch = benchmark.pedantic(lambda: _episode(env, act, next(seeds)), rounds=3,
                                             iterations=1, warmup_rounds=1)
    if benchmark.stats is not None:
        t = benchmark.stats.stats.min
        benchmark.extra_info.update(agent_decisions_per_s=agent_dec / t,
                                    dispatch_decisions_per_s=dispatch / t,
                                    jobs_per_s=env.ledger()["arrived"] / t)


def test_cost_is_linear_in_jobs() -> None:
    loads = [0.2, 0.4, 0.6, 0.8, 1.0]
    envs = [bench.make(TASK, scale="n64", load=load) for load in loads]
    jobs = []
    for env in envs:
        n = 0
        for s in (1, 2, 3):
            env.reset(seed=s)
            n += sum(len(b["node"]) for b in env._batches)
        jobs.append(n)
    # interleave the repeats so that a busy machine slows every point alike; keep each best
    times = [float("inf")] * len(loads)
    for _ in range(3):
        for k, env in enumerate(envs):
            times[k] = min(times[k], _best_time(env, _fixed(env), [1, 2, 3], repeats=1)[0])
    jobs_a, times_a = np.asarray(jobs, float), np.asarray(times)
    slope, intercept = np.polyfit(jobs_a, times_a, 1)
    pred = slope * jobs_a + intercept
    r2 = 1 - np.sum((times_a - pred) ** 2) / np.sum((times_a - times_a.mean()) ** 2)
    marg_low = (times[1] - times[0]) / (jobs[1] - jobs[0])
    marg_high = (times[-1] - times[-2]) / (jobs[-1] - jobs[-2])
    print(f"\nEdgeCluster n64, 3 episodes per point: jobs {jobs}, seconds {np.round(times, 3).tolist()}; "
          f"{slope * 1e6:.2f} us per job + {intercept:.3f} s fixed, R^2 {r2:.4f}; marginal "
          f"{marg_low * 1e6:.2f} -> {marg_high * 1e6:.2f} us/job")
    assert r2 > 0.95
    assert marg_high < 2.0 * marg_low


def test_cost_growth_with_nodes() -> None:
    agents, times, per_job = [], [], []
    for scale in SCALES:
        env = bench.make(TASK, scale=scale)
        best, _, _, _ = _best_time(env, _fixed(env), [1, 2], repeats=2)
        n_jobs = 0
        for s in (1, 2):
            env.reset(seed=s)
            n_jobs += sum(len(b["node"]) for b in env._batches)
        agents.append(env.n)
        times.append(best / 2)
        per_job.append(best / n_jobs)
    slope = np.polyfit(np.log(agents[1:]), np.log(times[1:]), 1)[0]
    print("\nEdgeCluster episode seconds by nodes: "
          + ", ".join(f"{n}: {t:.3f} s ({pj * 1e6:.1f} us/job)" for n, t, pj in zip(agents, times, per_job))
          + f"; log-log slope (10..256 nodes) {slope:.2f}")
    assert 0.7 < slope < 1.3


TASK_V2 = "compute/EdgeCluster-v2"


@pytest.mark.parametrize("scale", [s.name for s in bench.get_spec(TASK_V2).scales])
def test_v2_decisions_per_second(benchmark, scale: str) -> None:
    """EdgeCluster-v2: every job is dispatched by its node's rule at its arrival instant (one
    SimPy event each), so dispatch decisions = arrived jobs. Same target as v1 at n10."""
    env = bench.make(TASK_V2, scale=scale)
    env.reset(seed=0)
    act = _fixed(env)
    seeds = iter(range(10_000))
    agent_dec, dispatch = benchmark.pedantic(lambda: _episode(env, act, next(seeds)), rounds=5,
                                             iterations=1, warmup_rounds=1)
    if benchmark.stats is not None:
        t = benchmark.stats.stats.min
        benchmark.extra_info.update(agent_decisions_per_s=agent_dec / t,
                                    dispatch_decisions_per_s=dispatch / t)
    best, _, disp, _ = _best_time(env, act, [1, 2, 3], repeats=3)
    print(f"\nEdgeCluster-v2 {scale}: {disp / best:,.0f} job dispatches/s (best of 3 x 3 episodes)")
    if scale == "n10":
        assert disp / best >= TARGET_DISPATCH_PER_S, f"{disp / best:.0f} dispatch decisions/s"
