"""The vectorised ThreeTier-v2 engine (tasks/supply_chain/three_tier_batch.py) reproduces the SimPy
env's episodes — observations, team reward, every KPI counter and violation of every agent at
every step — within bench.reproduce's cross-machine tolerance, at every scale and shift, under
random actions (routes, negotiation and overloads included) and under a competent policy."""

from __future__ import annotations

import numpy as np
import pytest

import bench
from baselines.lot_for_lot import LotForLotPolicy
from bench.reproduce import assert_reproduces, differences
from tasks.supply_chain.three_tier_batch import ThreeTierBatch

TASK = "supply_chain/ThreeTier-v2"
SPEC = bench.get_spec(TASK)


def _episode_pair(scale: str, scenario: str, seeds: list[int], steps: int, policy: str = "random"):
    """Step the engine on len(seeds) episodes and one SimPy env per seed with the same actions;
    return the two traces (per step: obs, reward, kpi, violations per agent and episode)."""
    B = len(seeds)
    batch = ThreeTierBatch(B, scale=scale, scenario=scenario)
    envs = [bench.make(TASK, scale=scale, scenario=scenario) for _ in seeds]
    obs_b = batch.reset(seeds)
    obs_s = [env.reset(seed=s)[0] for env, s in zip(envs, seeds)]
    rng = np.random.default_rng(seeds[0])
    lfl = [LotForLotPolicy(env) for env in envs]
    trace_b, trace_s = [], []

    def record(trace, obs, rew, kpi, viol):
        trace.append({"obs": obs, "reward": rew, "kpi": kpi, "violations": viol})

    record(trace_b, [{a: obs_b[a][j] for a in batch.possible_agents} for j in range(B)], None, None, None)
    record(trace_s, obs_s, None, None, None)
    for t in range(steps):
        if policy == "random":
            # random actions, with some all-zero route weights and some overload days
            acts = {a: rng.random((B, batch.n_act[a])) * (1.0 + (t % 5 == 0)) for a in batch.possible_agents}
            for a in batch.possible_agents:
                lay = batch.act_layout[a]
                if "route" in lay and t % 7 == 3:
                    acts[a][:, lay["route"]] = 0.0
        else:
            per = [pol.act(o) for pol, o in zip(lfl, obs_s)]
            acts = {a: np.stack([per[j][a] for j in range(B)]) for a in batch.possible_agents}
        obs_b, rew_b, kpi_b, viol_b = batch.step(acts)
        record(trace_b, [{a: obs_b[a][j] for a in batch.possible_agents} for j in range(B)],
               [float(rew_b[j]) for j in range(B)],
               [{a: {k: float(v[j]) for k, v in kpi_b[a].items()} for a in batch.possible_agents} for j in range(B)],
               [{a: {k: float(v[j]) for k, v in viol_b[a].items()} for a in batch.possible_agents} for j in range(B)])
        outs = [env.step({a: acts[a][j] for a in env.possible_agents}) for j, env in enumerate(envs)]
        obs_s = [o[0] for o in outs]
        record(trace_s, obs_s, [o[1]["retailer_0"] for o in outs],
               [{a: o[4][a]["kpi"] for a in batch.possible_agents} for o in outs],
               [{a: o[4][a]["violations"] for a in batch.possible_agents} for o in outs])
    return trace_b, trace_s


def _as_lists(trace):
    return [{k: (v if k != "obs" else [{a: x.astype(float).tolist() for a, x in o.items()} for o in v])
             for k, v in step.items()} for step in trace]


@pytest.mark.parametrize("scale", [s.name for s in SPEC.scales])
def test_reproduces_simpy_every_scale(scale: str) -> None:
    steps = 40 if scale == "paper" else 90
    b, s = _episode_pair(scale, "nominal", [70101, 70102], steps)
    assert_reproduces(_as_lists(b), _as_lists(s))


@pytest.mark.parametrize("scenario", [s.name for s in SPEC.scenarios if s.shift])
def test_reproduces_simpy_every_shift(scenario: str) -> None:
    onset = SPEC.scenario(scenario).shift["onset"]
    b, s = _episode_pair("small", scenario, [70103, 70104], onset + 40)
    assert_reproduces(_as_lists(b), _as_lists(s))


def test_reproduces_a_full_episode_under_a_policy() -> None:
    b, s = _episode_pair("nominal", "nominal", [70105, 70106, 70107], SPEC.horizon, policy="lot_for_lot")
    assert_reproduces(_as_lists(b), _as_lists(s))


def test_comparison_can_fail() -> None:
    """The check is not vacuous: one unit more retail stock in one episode is caught."""
    batch = ThreeTierBatch(1, scale="small")
    env = bench.make(TASK, scale="small")
    ob = batch.reset([70108])
    os_, _ = env.reset(seed=70108)
    batch.ret_inv[0, 0, 0] += 1
    acts = {a: np.full((1, batch.n_act[a]), 0.5) for a in batch.possible_agents}
    ob, *_ = batch.step(acts)
    os_, *_ = env.step({a: acts[a][0] for a in env.possible_agents})
    assert differences({a: ob[a][0].astype(float).tolist() for a in ob},
                       {a: os_[a].astype(float).tolist() for a in os_})


def test_episode_ends_at_the_horizon() -> None:
    batch = ThreeTierBatch(2, scale="small")
    batch.reset([1, 2])
    acts = {a: np.full((2, batch.n_act[a]), 0.5) for a in batch.possible_agents}
    for _ in range(SPEC.horizon):
        batch.step(acts)
    assert batch.agents == []
    with pytest.raises(RuntimeError, match="reset"):
        batch.step(acts)
