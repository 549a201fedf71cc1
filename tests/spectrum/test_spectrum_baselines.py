"""Reference baselines of spectrum/Interference-v1: the oracle is optimal on small instances (no
baseline and no feasible joint action beats it), the fallback never loses to WMMSE, every
baseline is what it claims to be (feasible where it says so, masks respected), ordering sanity."""

from __future__ import annotations

import numpy as np
import pytest

import bench
from baselines.random_policy import RandomPolicy
from baselines.spectrum import quantize_powers
from baselines.spectrum.full_power import FullPowerRandomBandPolicy
from baselines.spectrum.greedy import GreedyChannelPolicy
from baselines.spectrum.milp_oracle import (Enumerator, JointOptimumOracle, coordinate_ascent,
                                            exhaustive_optimum)
from baselines.spectrum.wmmse_policy import WmmsePolicy, greedy_assignment, wmmse_allocation
from bench.episode import run_episode
from tasks.spectrum.interference import allocation_outcome, decode_actions

TASK = "spectrum/Interference-v1"
SPEC = bench.get_spec(TASK)
POLICIES = [RandomPolicy, FullPowerRandomBandPolicy, GreedyChannelPolicy, WmmsePolicy]


def outcome(env, view, actions: dict) -> dict:
    a = np.array([actions[x] for x in env.possible_agents])
    band, level = decode_actions(a, env.n_levels)
    power = np.where(band >= 0, env.levels_mw[level], 0.0)
    return allocation_outcome(view, band, power)


def test_fast_enumeration_equals_the_reference() -> None:
    env = bench.make(TASK, scale="k4", scenario="new_interferer")
    obs, _ = env.reset(seed=21)
    enum = Enumerator(4, env.n_bands, env.n_levels)
    policy = RandomPolicy(env)
    policy.reset(0)
    while env.agents:
        view = env.oracle_view()
        b, lv, val = enum.solve(view)
        rb, rl, rval = exhaustive_optimum(view, enum.band_of[enum.joint], enum.level_of[enum.joint])
        assert val == pytest.approx(rval, rel=1e-12)
        np.testing.assert_array_equal(b, rb)
        np.testing.assert_array_equal(lv, np.where(rb >= 0, rl, -1))
        obs, *_ = env.step(policy.act(obs))


@pytest.mark.parametrize("scenario", ["nominal", "primary_user_on", "subband_outage"])
def test_oracle_is_optimal_at_k4(scenario: str) -> None:
    """Slot by slot along the oracle's own episode (the channel does not depend on the actions),
    no baseline's allocation and none of 3,000 random joint actions that is feasible has a
    higher sum rate than the oracle's; the oracle's allocation is feasible; and what it expects
    is what the env pays."""
    env = bench.make(TASK, scale="k4", scenario=scenario)
    obs, _ = env.reset(seed=SPEC.seeds.eval[0])
    oracle = JointOptimumOracle(env)
    assert oracle.exact
    others = [cls(env) for cls in POLICIES]
    for p in others:
        p.reset(1)
    rng = np.random.default_rng(0)
    beaten = 0
    while env.agents:
        view = env.oracle_view()
        mine = oracle.act(obs)
        best = outcome(env, view, mine)
        assert best["feasible"]
        for p in others:
            o = outcome(env, view, p.act(obs))
            if o["feasible"]:
                assert o["sum_rate"] <= best["sum_rate"] + 1e-9
                beaten += o["sum_rate"] < best["sum_rate"] - 1e-6
        a = rng.integers(0, env.n_actions, size=(3000, 4))
        band, level = decode_actions(a, env.n_levels)
        o = allocation_outcome(view, band, np.where(band >= 0, env.levels_mw[level], 0.0))
        assert (o["sum_rate"][o["feasible"]] <= best["sum_rate"] + 1e-9).all()
        obs, _, _, _, infos = env.step(mine)
        paid = sum(infos[x]["kpi"]["rate"] for x in env.possible_agents)
        assert paid == pytest.approx(float(best["sum_rate"]), rel=1e-9)
        assert all(v == 0.0 for x in infos for v in infos[x]["violations"].values())
    assert beaten > 0          # the other baselines are really suboptimal, not equal by accident


def test_no_baseline_beats_the_oracle_over_episodes_at_k4() -> None:
    seeds = SPEC.seeds.eval[:3]
    means = {}
    for cls in POLICIES + [JointOptimumOracle]:
        env = bench.make(TASK, scale="k4")
        env.reset(seed=seeds[0])
        policy = cls(env)
        recs = [run_episode(env, policy, s, SPEC) for s in seeds]
        safe = all(r["safety"][c]["rate"] == 0 for r in recs for c in r["safety"])
        means[cls.__name__] = (np.mean([r["kpis"]["sum_rate"] for r in recs]), safe)
    top = means["JointOptimumOracle"][0]
    assert means["JointOptimumOracle"][1]
    for name, (value, safe) in means.items():
        if safe:
            assert value <= top + 1e-9, (name, value, top)


def test_coordinate_ascent_never_loses_and_stays_feasible() -> None:
    env = bench.make(TASK, scale="k50", scenario="primary_user_on")
    env.reset(seed=3)
    for _ in range(env.onset):                                # include the new incumbent
        env.step(dict.fromkeys(env.possible_agents, 0))
    for _ in range(3):
        view = env.oracle_view()
        band, level = wmmse_allocation(view)
        p0 = np.where(band >= 0, view.levels_mw[np.maximum(level, 0)], 0.0)
        start = allocation_outcome(view, band, p0)
        assert start["feasible"]
        b2, l2 = coordinate_ascent(view, band, level, sweeps=2)
        p2 = np.where(b2 >= 0, view.levels_mw[np.maximum(l2, 0)], 0.0)
        end = allocation_outcome(view, b2, p2)
        assert end["feasible"]
        assert end["sum_rate"] >= start["sum_rate"] - 1e-9
        env.step(dict.fromkeys(env.possible_agents, 0))
    assert not JointOptimumOracle(env).exact                  # k50 uses the fallback


def test_wmmse_policy_allocation_is_feasible_and_beats_its_own_start() -> None:
    env = bench.make(TASK, scale="k20")
    env.reset(seed=5)
    for _ in range(20):
        view = env.oracle_view()
        band = greedy_assignment(view)
        assert view.available[band[band >= 0]].all()
        b, lv = wmmse_allocation(view, band)
        power = np.where(b >= 0, view.levels_mw[np.maximum(lv, 0)], 0.0)
        out = allocation_outcome(view, b, power)
        assert out["feasible"]
        full = allocation_outcome(view, band, view.budget_mw)
        assert out["sum_rate"] >= full["sum_rate"] * 0.95      # power control does not lose
        env.step(dict.fromkeys(env.possible_agents, 0))


def test_quantize_powers() -> None:
    levels = 10 ** (np.array([23, 20, 17, 14, 11, 8]) / 10)
    budget = 10 ** (np.array([23, 17, 23, 23, 23]) / 10)
    p = 10 ** (np.array([22.0, 23.0, 9.0, 4.0, 18.6]) / 10)
    np.testing.assert_array_equal(quantize_powers(p, levels, budget), [0, 2, 5, -1, 1])


@pytest.mark.parametrize("cls", [FullPowerRandomBandPolicy, GreedyChannelPolicy, WmmsePolicy,
                                 JointOptimumOracle])
def test_baselines_respect_masks_and_budgets(cls) -> None:
    env = bench.make(TASK, scale="k20", scenario="subband_outage")
    env.reset(seed=1)
    policy = cls(env)
    rec = run_episode(env, policy, 2, SPEC)
    assert rec["safety"]["power_budget"]["rate"] == 0.0
    env.reset(seed=2)
    policy.reset(2)
    obs = env._observe()
    blocked = 0
    while env.agents:
        obs, _, _, _, infos = env.step(policy.act(obs))
        blocked += sum(infos[x]["kpi"]["blocked"] for x in env.possible_agents)
    assert blocked == 0


def test_ordering_and_safety_at_the_nominal_scale() -> None:
    seeds = SPEC.seeds.eval[:2]
    res = {}
    for cls in POLICIES + [JointOptimumOracle]:
        env = bench.make(TASK)
        env.reset(seed=seeds[0])
        policy = cls(env)
        recs = [run_episode(env, policy, s, SPEC) for s in seeds]
        res[cls.__name__] = {
            "sum_rate": np.mean([r["kpis"]["sum_rate"] for r in recs]),
            "pu": np.mean([r["safety"]["pu_interference"]["rate"] for r in recs]),
            "budget": np.mean([r["safety"]["power_budget"]["rate"] for r in recs]),
        }
    r = res
    assert r["RandomPolicy"]["sum_rate"] < r["WmmsePolicy"]["sum_rate"] < r["JointOptimumOracle"]["sum_rate"]
    assert r["GreedyChannelPolicy"]["sum_rate"] > r["RandomPolicy"]["sum_rate"]
    assert r["WmmsePolicy"]["sum_rate"] > 1.5 * r["FullPowerRandomBandPolicy"]["sum_rate"]
    # the constraints bind: random and the incumbent-blind full-power baseline violate them
    assert r["RandomPolicy"]["pu"] > 0.1 and r["RandomPolicy"]["budget"] > 0.05
    assert r["FullPowerRandomBandPolicy"]["pu"] > 0.1 and r["FullPowerRandomBandPolicy"]["budget"] == 0
    for name in ("GreedyChannelPolicy", "WmmsePolicy", "JointOptimumOracle"):
        assert r[name]["pu"] == 0 and r[name]["budget"] == 0, name


def test_policies_declare_the_task_and_paradigms() -> None:
    assert {cls.info.paradigm for cls in (FullPowerRandomBandPolicy, GreedyChannelPolicy)} == {"heuristic"}
    assert WmmsePolicy.info.paradigm == JointOptimumOracle.info.paradigm == "oracle"
    for cls in (FullPowerRandomBandPolicy, GreedyChannelPolicy, WmmsePolicy, JointOptimumOracle):
        assert cls.tasks == (TASK, "spectrum/Interference-v2")
