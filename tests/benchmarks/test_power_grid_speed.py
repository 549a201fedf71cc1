"""Speed of power_grid/IEEE33-v1 and its power flow, side by side with a pandapower step.

* ``test_env_step`` and ``test_pandapower_step`` (group ``step``) time one control interval of the
  33-bus feeder: our ``env.step`` (actions → inverter limits → exact power flow → KPIs, safety,
  reward, observations) against the step of a pandapower-based env as MAPDN builds it (write the
  interval's loads and PV set-points into the net, ``pandapower.runpp``, read the bus voltages).
  ``test_step_speedup[task]`` measures both in one run and asserts ours is at least 100x faster,
  for v1 and for v2 (v2's step adds the Newton fallback when needed, IEEE 1547 trips with their
  re-solves, and SimBench profiles).
* ``test_batched_flows`` (group ``batched power flow``) times ``solve_power_flow`` on batches of
  1 … 1024 random states of the 33-bus feeder; ``extra_info["flows_per_second"]`` is the figure.
* ``test_env_steps_per_second[scale]`` (group ``env steps``): ``reset`` + a whole day of ``step``
  with pre-drawn random actions at every scale; ``extra_info``: ``steps_per_second`` and
  ``agent_steps_per_second``.
* ``test_batched_env[scale-B]`` (group ``batched env``): ``tasks.power_grid.batched`` stepping B
  episodes of a day at once against B separate envs stepped one after the other with the same
  actions (dict actions built outside the timing); ``extra_info``: ``episode_steps_per_second``
  of each and ``speedup``.

Run with ``.venv/bin/pytest -m benchmark_suite --benchmark-enable tests/benchmarks/test_power_grid_speed.py``.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandapower as pp
import pytest

import bench
from tasks.power_grid import ieee33, solve_power_flow
from tasks.power_grid.batched import BatchedVoltageControl
from tests.power_grid.test_powerflow import random_states, to_pandapower

pytestmark = pytest.mark.benchmark_suite

TASK = "power_grid/IEEE33-v1"
TASKS = ["power_grid/IEEE33-v1", "power_grid/IEEE33-v2"]
SPEEDUP_REQUIRED = 100.0
BATCHES = [1, 4, 16, 64, 256, 1024]


class EnvStepper:
    """Steps our env with fixed random actions, resetting at the end of each day."""

    def __init__(self, task: str = TASK) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.env = bench.make(task, day_of_year=172)
        self.env.reset(seed=0)
        rng = np.random.default_rng(0)
        self.acts = [{a: rng.uniform([-1, 0], [1, 0.2]).astype(np.float32)
                      for a in self.env.possible_agents} for _ in range(96)]

    def step(self) -> None:
        env = self.env
        if not env.agents:
            env.reset(seed=0)
        env.step(self.acts[env.t])


class PandapowerStepper:
    """The pandapower-based step of MAPDN's design on the same feeder and day: loads and PV
    (static generators with p and q) are written into the net, then ``runpp``."""

    def __init__(self, task: str = TASK) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            env = bench.make(task, day_of_year=172)
        env.reset(seed=0)
        self.day = env.day
        net = env.network
        self.net = to_pandapower(net, net.load_p_mw, net.load_q_mvar)
        self.pv = [pp.create_sgen(self.net, bus=int(b), p_mw=0.0, q_mvar=0.0) for b in net.pv_bus]
        self.load_bus = self.net.load.bus.to_numpy()
        self.s_max = env.s_max
        rng = np.random.default_rng(0)
        self.acts = rng.uniform([-1, 0], [1, 0.2], size=(96, len(self.pv), 2))
        self.t = 0

    def step(self) -> np.ndarray:
        row = self.t + 1
        a = self.acts[self.t]
        p = (1 - a[:, 1]) * np.minimum(self.day.pv_mw[row], self.s_max)
        q = a[:, 0] * np.sqrt(np.maximum(self.s_max ** 2 - p ** 2, 0.0))
        self.net.load["p_mw"] = self.day.load_p_mw[row, self.load_bus]
        self.net.load["q_mvar"] = self.day.load_q_mvar[row, self.load_bus]
        self.net.sgen["p_mw"] = p
        self.net.sgen["q_mvar"] = q
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pp.runpp(self.net, numba=False)
        self.t = (self.t + 1) % 96
        return self.net.res_bus.vm_pu.to_numpy()


def call_times(fn, n: int) -> np.ndarray:
    """Seconds of each of ``n`` calls (after two warm-up calls)."""
    fn()
    fn()
    out = np.empty(n)
    for i in range(n):
        t0 = time.perf_counter()
        fn()
        out[i] = time.perf_counter() - t0
    return out


@pytest.mark.benchmark(group="step")
def test_env_step(benchmark) -> None:
    s = EnvStepper()
    benchmark.pedantic(s.step, rounds=500, iterations=1, warmup_rounds=20)


@pytest.mark.benchmark(group="step")
def test_pandapower_step(benchmark) -> None:
    s = PandapowerStepper()
    vm = benchmark.pedantic(s.step, rounds=30, iterations=1, warmup_rounds=2)
    assert vm.shape == (33,) and 0.8 < vm.min() < vm.max() < 1.2


@pytest.mark.parametrize("task", TASKS)
def test_step_speedup(task: str) -> None:
    """Compared on the fastest and on the median call of each (the machine's load moves both)."""
    ours = call_times(EnvStepper(task).step, 960)
    peer = call_times(PandapowerStepper(task).step, 40)
    best, median = peer.min() / ours.min(), np.median(peer) / np.median(ours)
    print(f"\n{task} step: ours {ours.min() * 1e6:.0f} us (median {np.median(ours) * 1e6:.0f}), "
          f"pandapower runpp step {peer.min() * 1e3:.1f} ms (median {np.median(peer) * 1e3:.1f}) "
          f"-> {best:.0f}x (median {median:.0f}x)")
    assert best >= SPEEDUP_REQUIRED, f"only {best:.0f}x faster than the pandapower step"


@pytest.mark.benchmark(group="batched power flow")
@pytest.mark.parametrize("batch", BATCHES)
def test_batched_flows(benchmark, batch: int) -> None:
    net = ieee33()
    p, q = random_states(net, np.random.default_rng(batch), batch)
    res = benchmark.pedantic(solve_power_flow, args=(net, p, q), rounds=20 if batch >= 256 else 100,
                             iterations=1, warmup_rounds=2)
    assert res.converged.all()
    if benchmark.stats is not None:
        benchmark.extra_info["flows_per_second"] = batch / benchmark.stats.stats.min


SCALES = [s.name for s in bench.get_spec(TASK).scales]


@pytest.mark.benchmark(group="env steps")
@pytest.mark.parametrize("scale", SCALES)
def test_env_steps_per_second(benchmark, scale: str) -> None:
    env = bench.make(TASK, scale=scale)
    rng = np.random.default_rng(0)
    n = len(env.possible_agents)
    acts = [dict(zip(env.possible_agents, rng.uniform([-1, 0], [1, 1], (n, 2)).astype(np.float32)))
            for _ in range(env.horizon)]

    def day() -> int:
        env.reset(seed=1)
        for a in acts:
            env.step(a)
        return env.horizon

    steps = benchmark.pedantic(day, rounds=5 if n > 100 else 10, iterations=1, warmup_rounds=1)
    if benchmark.stats is not None:
        best = benchmark.stats.stats.min
        benchmark.extra_info.update(agents=n, steps_per_second=steps / best,
                                    agent_steps_per_second=steps * n / best)


@pytest.mark.benchmark(group="batched env")
@pytest.mark.parametrize("scale, B", [("f1", 1), ("f1", 8), ("f1", 64), ("f16", 8)])
def test_batched_env(benchmark, scale: str, B: int) -> None:
    batch = BatchedVoltageControl(B, scale=scale)
    envs = [bench.make(TASK, scale=scale) for _ in range(B)]
    seeds = list(range(B))
    rng = np.random.default_rng(0)
    T = batch.horizon
    acts = rng.uniform([-1, 0], [1, 1], (T, B, batch.n_agents, 2)).astype(np.float32)
    dicts = [[dict(zip(batch.possible_agents, acts[t, b])) for b in range(B)] for t in range(T)]

    def batched() -> None:
        batch.reset(seeds)
        for t in range(T):
            batch.step(acts[t])

    def separate() -> None:
        for env, s in zip(envs, seeds):
            env.reset(seed=s)
        for t in range(T):
            for env, a in zip(envs, dicts[t]):
                env.step(a)

    sep = call_times(separate, 3).min()
    benchmark.pedantic(batched, rounds=5, iterations=1, warmup_rounds=1)
    if benchmark.stats is not None:
        best = benchmark.stats.stats.min
        benchmark.extra_info.update(
            agents=batch.n_agents, batch=B, episode_steps_per_second=B * T / best,
            separate_episode_steps_per_second=B * T / sep, speedup=sep / best)
