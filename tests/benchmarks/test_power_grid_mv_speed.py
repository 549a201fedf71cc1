"""The power-flow step of the power-grid envs against pandapower's ``runpp`` on the same network,
side by side, for the IEEE 33-bus feeder (``power_grid/IEEE33-v2``) and the SimBench rural MV grid
(``power_grid/SimBenchMV-v1``, 98 buses with line charging and the HV/MV transformer).

* ``test_flow[task-solver]`` (group ``flow <task>``): one interval's exact power flow, for the 96
  intervals of a day with random inverter set-points: ``ours`` is the env's own solve
  (``VoltageControlEnv._solve``: the batched sweep warm-started from the last interval, Newton as
  fallback, as every ``env.step`` runs it); ``pandapower`` writes the same net loads into the same
  network and calls ``runpp`` (its defaults: Newton-Raphson, numba when installed).
* ``test_flow_speedup[task]`` times both in one run and asserts ours is at least 100x faster on
  the fastest call; it prints the fastest and median ratios and the whole ``env.step`` (flow plus
  actions, KPIs, rewards and observations of every agent) for scale.

Run with ``PYTHONPATH=. .venv/bin/pytest -m benchmark_suite --benchmark-enable -s
tests/benchmarks/test_power_grid_mv_speed.py``.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest

import bench

pp = pytest.importorskip("pandapower")
pytestmark = pytest.mark.benchmark_suite

TASKS = ["power_grid/IEEE33-v2", "power_grid/SimBenchMV-v1"]
SPEEDUP_REQUIRED = 100.0


def day_states(task: str) -> tuple:
    """The env at seed 200001 and the 96 net-load states (MW, Mvar per bus) of its day with
    random inverter set-points."""
    env = bench.make(task)
    env.reset(seed=200001)
    net = env.network
    rng = np.random.default_rng(0)
    ps, qs = [], []
    for row in range(1, 97):
        p_pv = np.minimum(env.day.pv_mw[row], env.s_max) * rng.uniform(0.5, 1.0, env.n_pv)
        q_pv = rng.uniform(-1, 1, env.n_pv) * np.sqrt(np.maximum(env.s_max ** 2 - p_pv ** 2, 0))
        p, q = env.day.load_p_mw[row].copy(), env.day.load_q_mvar[row].copy()
        p[net.pv_bus] -= p_pv
        q[net.pv_bus] -= q_pv
        ps.append(p)
        qs.append(q)
    return env, ps, qs


def pandapower_net(env):
    """The env's network as pandapower builds it: IEEE 33 from its data (as
    tests/power_grid/test_powerflow.py), SimBench from the ``simbench`` package with one load per
    bus replacing its loads, generators and storage. Returns (net, load index per our bus)."""
    net = env.network
    if net.name == "IEEE33":
        from tests.power_grid.test_powerflow import to_pandapower
        ppn = to_pandapower(net, np.zeros(net.n_bus), np.zeros(net.n_bus))
        ppn.load.drop(ppn.load.index, inplace=True)
        where = {name: i for i, name in enumerate(net.bus_names)}
    else:
        sb = pytest.importorskip("simbench")
        from tasks.power_grid.simbench_mv import mv_data
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ppn = sb.get_simbench_net(str(mv_data()["code"]))
        for table in ("load", "sgen", "storage"):
            ppn[table].drop(ppn[table].index, inplace=True)
        where = {}
        for b in ppn.bus.index:
            name = str(ppn.bus.name[b])
            key = "HV" if ppn.bus.vn_kv[b] > 100 else "busbar" if "busbar" in name else name.split()[-1]
            where.setdefault(key, b)
    buses = [i for i, name in enumerate(net.bus_names) if i != net.slack_bus and name != "T"]
    for i in buses:
        pp.create_load(ppn, where[net.bus_names[i]], p_mw=0.0, q_mvar=0.0)
    return ppn, np.array(buses)


class Ours:
    def __init__(self, task: str) -> None:
        self.env, self.ps, self.qs = day_states(task)
        self.k = 0

    def __call__(self) -> float:
        env = self.env
        v, _, _, conv = env._solve(env.network, self.ps[self.k], self.qs[self.k])
        self.k = (self.k + 1) % 96
        return float(v[env._live_bus].max())


class Pandapower:
    def __init__(self, task: str) -> None:
        env, self.ps, self.qs = day_states(task)
        self.net, self.buses = pandapower_net(env)
        self.k = 0

    def __call__(self) -> float:
        self.net.load["p_mw"] = self.ps[self.k][self.buses]
        self.net.load["q_mvar"] = self.qs[self.k][self.buses]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pp.runpp(self.net)
        self.k = (self.k + 1) % 96
        return float(self.net.res_bus.vm_pu.max())


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


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("solver", ["ours", "pandapower"])
def test_flow(benchmark, task: str, solver: str) -> None:
    benchmark.group = f"flow {task}"
    fn = Ours(task) if solver == "ours" else Pandapower(task)
    vmax = benchmark.pedantic(fn, rounds=480 if solver == "ours" else 40, iterations=1,
                              warmup_rounds=2)
    assert 0.9 < vmax < 1.2


@pytest.mark.parametrize("task", TASKS)
def test_flow_speedup(task: str) -> None:
    ours = call_times(Ours(task), 960)
    peer = call_times(Pandapower(task), 60)
    env = bench.make(task)
    env.reset(seed=200001)
    rng = np.random.default_rng(0)
    acts = [{a: rng.uniform([-1, 0], [1, 0.5]).astype(np.float32) for a in env.possible_agents}
            for _ in range(96)]
    step = call_times(lambda: env.step(acts[env.t]), 90)
    best, median = peer.min() / ours.min(), np.median(peer) / np.median(ours)
    print(f"\n{task} ({env.network.n_bus} buses, {env.n_pv} agents): power flow ours "
          f"{ours.min() * 1e6:.0f} us (median {np.median(ours) * 1e6:.0f}), pandapower runpp "
          f"{peer.min() * 1e3:.1f} ms (median {np.median(peer) * 1e3:.1f}) -> {best:.0f}x "
          f"(median {median:.0f}x); whole env.step {step.min() * 1e3:.2f} ms "
          f"(median {np.median(step) * 1e3:.2f}) = {peer.min() / step.min():.0f}x a runpp")
    assert best >= SPEEDUP_REQUIRED, f"only {best:.0f}x faster than pandapower's runpp"
