"""The batched env (B episodes as arrays) is bit-identical to B separate envs: every observation,
reward, KPI counter, violation and state, on every scale and scenario, through power-flow
failures, with and without curtailment; and its per-episode power flow stops each episode where
a lone solve stops."""

from __future__ import annotations

import numpy as np
import pytest

import bench
from bench.registry import get_spec
from tasks.power_grid.batched import BatchedVoltageControl, solve_episodes
from tasks.power_grid.network import build_network
from tasks.power_grid.powerflow import solve_blocks

TASK = "power_grid/IEEE33-v1"
SPEC = get_spec(TASK)


def run_both(B: int, seeds: list[int], steps: int | None = None, scale: str | None = None,
             scenario: str | None = None, action_seed: int = 0, action: list[float] | None = None,
             **overrides) -> int:
    """Step a batch and B lone envs with the same actions (random, or ``action`` for every
    agent); assert every output is equal (bitwise); returns the number of steps compared."""
    batch = BatchedVoltageControl(B, scale=scale, scenario=scenario, **overrides)
    envs = [bench.make(TASK, scale=scale, scenario=scenario, **overrides) for _ in range(B)]
    obs_b = batch.reset(seeds)
    agents = batch.possible_agents
    for b, (env, s) in enumerate(zip(envs, seeds)):
        obs, _ = env.reset(seed=s)
        assert np.array_equal(obs_b[b], np.stack([obs[a] for a in agents]))
        assert np.array_equal(batch.state()[b], env.state())
    rng = np.random.default_rng(action_seed)
    lo, hi = batch.action_space.low, batch.action_space.high
    n = 0
    done = False
    while not done and (steps is None or n < steps):
        acts = rng.uniform(lo, hi, size=(B, batch.n_agents, batch.action_width)).astype(np.float32)
        if action is not None:
            acts[:] = action
        obs_b, rew_b, done, kpi, viol = batch.step(acts)
        for b, env in enumerate(envs):
            obs, rew, term, trunc, infos = env.step({a: acts[b, i] for i, a in enumerate(agents)})
            assert np.array_equal(obs_b[b], np.stack([obs[a] for a in agents])), (b, n)
            assert rew_b[b].tolist() == [rew[a] for a in agents], (b, n)
            assert batch.infos(b, kpi, viol) == infos, (b, n)
            assert np.array_equal(batch.state()[b], env.state()), (b, n)
            assert all(trunc.values()) == done and not any(term.values())
        n += 1
    return n


@pytest.mark.parametrize("scale", [s.name for s in SPEC.scales])
def test_batched_equals_separate_envs_on_every_scale(scale):
    steps = None if scale in ("f1", "f4") else 24       # whole day where cheap
    assert run_both(3, [70001, 5, 123456], steps=steps, scale=scale) == (steps or SPEC.horizon)


@pytest.mark.parametrize("scenario", [s.name for s in SPEC.shift_scenarios])
def test_batched_equals_separate_envs_in_every_shift(scenario):
    """Whole days at the nominal scale; line_outage also at f4, where feeder 0 differs from the
    others after the reconfiguration (two feeder groups, one of a single feeder)."""
    assert run_both(3, [70001, 7, 99], scenario=scenario) == SPEC.horizon
    if scenario == "line_outage":
        assert run_both(2, [3, 4], scale="f4", scenario=scenario) == SPEC.horizon


FAILURE_CASES = {
    # six times the load, random actions: flows fail and tripping the inverters cannot save them
    # (the load is the cause), so the feeders' breakers open
    "overload": (dict(load_scale=6.0, scale="f4"), None),
    # and ten times the PV injecting full reactive power: PV-driven failures, which tripping the
    # inverters saves, besides load-driven ones, which it does not
    "overload_pv": (dict(load_scale=6.0, pv_scale=10.0, scale="f4"), [1.0, 0.0]),
}


@pytest.mark.parametrize("case", list(FAILURE_CASES))
def test_batched_equals_separate_envs_through_power_flow_failures(case):
    """The env's deterministic fallbacks (trip the failed feeders' inverters and solve again;
    open the breaker of a feeder that still fails), in some episodes and not others."""
    kw, action = FAILURE_CASES[case]
    assert run_both(4, [1, 2, 3, 4], action=action, **kw) == SPEC.horizon
    batch = BatchedVoltageControl(4, **kw)
    batch.reset([1, 2, 3, 4])
    first = batch.layout.feeder_first
    rng = np.random.default_rng(0)
    failed, fails, dead = [], 0.0, 0
    done = False
    while not done:
        acts = rng.uniform(batch.action_space.low, batch.action_space.high, (4, batch.n_agents, 2))
        if action is not None:
            acts[:] = action
        obs, _, done, kpi, _ = batch.step(acts)
        failed.append(kpi["pf_failures"].sum(axis=1) > 0)
        fails += kpi["pf_failures"].sum()                  # feeder-intervals whose flow failed
        dead += int((obs[:, first, 7] == 0).sum())         # ... and stayed dead after tripping
    failed = np.array(failed)
    assert (failed.any(axis=1) & ~failed.all(axis=1)).any(), "some episodes fail while others do not"
    assert dead > 0
    if case == "overload_pv":
        assert fails > dead, "some failed flows are saved by tripping the inverters"


def test_batched_without_curtailment_and_with_short_horizon():
    assert run_both(2, [8, 9], curtailment=False, horizon=30) == 30


def test_batch_of_one_and_repeated_seeds():
    assert run_both(1, [70001], steps=40) == 40
    assert run_both(3, [4, 4, 4], steps=20) == 20


def test_solve_episodes_stops_each_episode_where_a_lone_solve_stops():
    """Different episodes need different numbers of sweeps; each result equals its lone solve
    (which a batch solve of all states at once would not: it sweeps on until all converge)."""
    net = build_network("ieee33", 4, 1.0)
    topo = net.topology
    rng = np.random.default_rng(0)
    E = 6
    s = np.zeros((E, net.n_bus + 1), dtype=complex)
    scale = np.array([0.2, 1.0, 2.0, 0.5, 3.0, 1.5])[:, None]
    s[:, :net.n_bus] = scale * (net.load_p_mw + 1j * net.load_q_mvar) * rng.uniform(0.5, 1.5, (E, net.n_bus))
    s[:, net.slack_bus] = 0
    blocks = s[:, topo.block_bus]
    start = np.full(blocks.shape, complex(net.slack_vm_pu))
    v, j, loss, conv = solve_episodes(topo, blocks, net.slack_vm_pu, 1e-9, 100, start)
    sweeps = []
    for e in range(E):
        lone = solve_blocks(topo, blocks[e:e + 1], net.slack_vm_pu, 1e-9, 100)
        assert np.array_equal(v[e], lone.v[0]) and np.array_equal(j[e], lone.j[0])
        assert np.array_equal(loss[e], lone.loss_pu[0]) and np.array_equal(conv[e], lone.converged[0])
        sweeps.append(int(lone.iterations[0, 0]))
    assert len(set(sweeps)) > 1, "the test needs episodes that converge after different sweeps"
    together = solve_blocks(topo, blocks, net.slack_vm_pu, 1e-9, 100)
    assert not np.array_equal(together.v, v), "a joint solve differs; per-episode stopping matters"


def test_bad_arguments_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="batch_size"):
        BatchedVoltageControl(0)
    batch = BatchedVoltageControl(2)
    with pytest.raises(ValueError, match="one seed per episode"):
        batch.reset([1])
    with pytest.raises(RuntimeError, match="reset"):
        batch.step(np.zeros((2, 6, 2)))
    batch.reset([1, 2])
    with pytest.raises(ValueError, match=r"shape \(2, 6, 2\)"):
        batch.step(np.zeros((2, 5, 2)))
    bad = np.zeros((2, 6, 2))
    bad[1, 3, 0] = np.nan
    with pytest.raises(ValueError, match=r"finite.*\[1\]"):
        batch.step(bad)
