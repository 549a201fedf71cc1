"""ThreeTier-v1 reference baselines (baselines/three_tier): valid and deterministic episodes,
the LP against hand-computed optima, the ordering of the baselines, decentralisation of the
heuristics, the observation-only scale estimates, and that tuning never sees eval seeds."""

from __future__ import annotations

import json

import numpy as np
import pytest

import bench
from baselines.random_policy import RandomPolicy
from baselines.three_tier import (ThreeTierBaseStock, ThreeTierHindsightLP, ThreeTierOrderUpTo,
                                  ThreeTierRollingLP, ThreeTierStaticLP)
from baselines.three_tier import tune
from baselines.three_tier.heuristics import PARAMS_FILE
from baselines.three_tier.lp import (Costs, GroupData, build_group_lp, observed_scales,
                                     solve_cbc, solve_highs)
from bench.episode import run_episode
from bench.policy import Policy

TASK = "supply_chain/ThreeTier-v1"
SPEC = bench.get_spec(TASK)
ALL = [ThreeTierOrderUpTo, ThreeTierBaseStock, ThreeTierStaticLP, ThreeTierRollingLP, ThreeTierHindsightLP]
NAMES = {ThreeTierOrderUpTo: ("order_up_to", "heuristic"), ThreeTierBaseStock: ("base_stock", "optimization"),
         ThreeTierStaticLP: ("lp_static", "optimization"), ThreeTierRollingLP: ("lp_rolling", "optimization"),
         ThreeTierHindsightLP: ("lp_hindsight", "oracle")}
# eval-like seeds: outside the training range, not the leaderboard's eval seeds
ORDER_SEEDS = (70011, 70012, 70013)


def play(cls, seed: int, scale: str | None = None, scenario: str | None = None):
    """One episode; returns (actions per step, team KPI totals, violation totals)."""
    env = bench.make(TASK, scale=scale, scenario=scenario)
    obs, _ = env.reset(seed=seed)
    policy = cls(env)
    policy.reset(seed)
    actions, kpi, viol = [], {}, {}
    while env.agents:
        act = policy.act(obs)
        for a, x in act.items():
            assert env.action_space(a).contains(x), f"{cls.__name__}: {a} action outside its space"
        actions.append(act)
        obs, _, _, _, infos = env.step(act)
        for info in infos.values():
            for k, v in info["kpi"].items():
                kpi[k] = kpi.get(k, 0.0) + v
            for k, v in info["violations"].items():
                viol[k] = viol.get(k, 0.0) + v
    return actions, kpi, viol


# -- metadata and the policy protocol -----------------------------------------------------------
@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_metadata(cls) -> None:
    name, paradigm = NAMES[cls]
    assert (cls.info.name, cls.info.paradigm) == (name, paradigm)
    assert TASK in cls.tasks
    env = bench.make(TASK, scale="small")
    env.reset(seed=1)
    assert isinstance(cls(env), Policy)


# -- valid, deterministic episodes ----------------------------------------------------------------
@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_small_scale_valid_and_deterministic(cls) -> None:
    a1, k1, v1 = play(cls, 5, scale="small")
    a2, k2, _ = play(cls, 5, scale="small")
    assert len(a1) == SPEC.horizon
    assert k1 == k2
    assert all(np.array_equal(x[a], y[a]) for x, y in zip(a1, a2) for a in x)
    assert v1["production_over_capacity"] == 0.0          # requests are kept within capacity


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_nominal_scale_runs_in_the_harness(cls) -> None:
    env = bench.make(TASK)
    env.reset(seed=6)
    policy = cls(env)
    r1 = run_episode(env, policy, 6, SPEC)
    r2 = run_episode(env, policy, 6, SPEC)               # the same policy object reused (protocol)
    assert r1["kpis"] == r2["kpis"] and r1["V"] == r2["V"]
    assert r1["safety"]["production_over_capacity"]["violating_steps"] == 0
    if cls is not ThreeTierStaticLP:                     # the open-loop plan may overfill storage
        assert r1["kpis"]["delivery_rate"] > 0.95


# -- the LP against hand-computed optima ----------------------------------------------------------
def _tiny(demand, init, delay_s, delay_d, cap_m=100.0, K=1) -> GroupData:
    """1 supplier, 1 manufacturer, 1 retailer, 1 product; costs chosen for hand computation."""
    H = len(demand)
    costs = Costs(prod_s=1.0, prod_m=1.5, hold=(0.006, 0.008, 0.02, 0.03),
                  transport_s=(0.1, 0.4)[:K], transport_d=(0.15, 0.6)[:K], lost=8.0, overflow=5.0,
                  terminal=8.0)
    return GroupData(demand=np.asarray(demand, float)[:, None], slice_of=np.array([0]),
                     cap_m=np.full(H, cap_m), cap_s=np.full((H, 1), 100.0),
                     storage=(np.array([1e6]), 1e6, 1e6), init=np.asarray(init, float)[:, None],
                     delay_s=np.tile(delay_s, (H, 1)), delay_d=np.tile(delay_d, (H, 1)),
                     yield_=1.0, qmax=np.array([1e6]), costs=costs)


@pytest.mark.parametrize("solve", [solve_highs, solve_cbc], ids=["highs", "cbc"])
def test_lp_tiny_instance_hand_optimum(solve) -> None:
    # 10 units wanted on day 3, nothing in stock, one-day delays on both lanes, manufacturer
    # capacity 6 a day. Cheapest: supplier makes 4 on day 0 and 6 on day 1 and ships each the
    # same day; the manufacturer makes 4 on day 1 (held one day as finished goods, 0.02 $/day)
    # and 6 on day 2, ships all 10 on day 2; they arrive on day 3 and sell.
    # Cost = 10 x (1 + 0.1 + 1.5 + 0.15) + 4 x 0.02 = 27.58 $ (losing the sales would be 80 $).
    lp = build_group_lp(_tiny([0, 0, 0, 10], [0, 0, 0, 0], [1], [1], cap_m=6.0))
    z, obj = solve(lp)
    assert obj == pytest.approx(27.58, abs=1e-6)
    assert lp.get(z, "ym")[:, 0] == pytest.approx([0, 4, 6, 0], abs=1e-6)
    assert lp.get(z, "xd")[0, :, 0] == pytest.approx([0, 0, 10, 0], abs=1e-6)
    assert lp.get(z, "lost").sum() == pytest.approx(0.0, abs=1e-9)


def test_lp_uses_the_express_route_only_when_road_is_too_slow() -> None:
    # 10 finished units in stock, 10 wanted on day 1: road (delay 2) cannot make it, express
    # (delay 1, 0.60 $/unit) can: optimum 6.0 $; on day 3 (reachable by road) road is used.
    lp = build_group_lp(_tiny([0, 10, 0, 0], [0, 0, 10, 0], [1, 1], [2, 1], K=2))
    z, obj = solve_highs(lp)
    assert obj == pytest.approx(6.0, abs=1e-6)
    assert lp.get(z, "xd")[1, 0, 0] == pytest.approx(10.0, abs=1e-6)
    lp = build_group_lp(_tiny([0, 0, 0, 10], [0, 0, 10, 0], [1, 1], [2, 1], K=2))
    z, obj = solve_highs(lp)
    assert obj == pytest.approx(10 * 0.15 + 10 * 0.02, abs=1e-6)      # road on day 1, 1 day held
    assert lp.get(z, "xd")[1].sum() == pytest.approx(0.0, abs=1e-9)


def test_lp_terminal_condition_rebuilds_stock() -> None:
    data = _tiny([0, 0, 0, 0], [0, 0, 0, 0], [1], [1])
    data.terminal = np.array([[0.0], [0.0], [5.0], [0.0]])      # end with 5 finished units
    z, obj = solve_highs(build_group_lp(data))
    # supplier makes and ships 5 on day 2, the manufacturer makes them on day 3 and holds them
    # at the end of that day: 5 x (1 + 0.1 + 1.5 + 0.02)
    assert obj == pytest.approx(5 * (1.0 + 0.1 + 1.5 + 0.02), abs=1e-6)


# -- the baselines' ordering ------------------------------------------------------------------------
def _mean(cls, scenario: str | None = None) -> tuple[float, float, list[dict]]:
    env = bench.make(TASK, scenario=scenario)
    env.reset(seed=ORDER_SEEDS[0])
    policy = cls(env)
    recs = [run_episode(env, policy, s, SPEC) for s in ORDER_SEEDS]
    return (float(np.mean([r["V"] for r in recs])),
            float(np.mean([r["kpis"]["total_cost"] for r in recs])), recs)


@pytest.fixture(scope="module")
def nominal_results() -> dict:
    return {cls: _mean(cls) for cls in [RandomPolicy] + ALL}


def test_hindsight_is_the_upper_bound(nominal_results) -> None:
    V_h, cost_h, recs_h = nominal_results[ThreeTierHindsightLP]
    assert cost_h <= nominal_results[ThreeTierStaticLP][1]
    for cls in [RandomPolicy] + ALL[:-1]:
        V, cost, recs = nominal_results[cls]
        assert V_h >= V - 1e-9, f"{cls.__name__} V {V:.4f} > hindsight {V_h:.4f}"
        # per KPI of V: the oracle is the cheapest and fills the most demand
        assert cost_h <= cost, cls.__name__
        fill = np.mean([r["kpis"]["delivery_rate"] for r in recs])
        assert np.mean([r["kpis"]["delivery_rate"] for r in recs_h]) >= fill - 1e-4, cls.__name__


def test_heuristics_beat_random(nominal_results) -> None:
    V_rand = nominal_results[RandomPolicy][0]
    assert nominal_results[ThreeTierBaseStock][0] > V_rand + 0.2
    assert nominal_results[ThreeTierOrderUpTo][0] > V_rand + 0.2
    assert nominal_results[ThreeTierRollingLP][0] > V_rand + 0.2


def test_rolling_beats_static_under_demand_shock() -> None:
    V_roll, cost_roll, _ = _mean(ThreeTierRollingLP, "demand_shock")
    V_static, cost_static, _ = _mean(ThreeTierStaticLP, "demand_shock")
    assert V_roll > V_static + 0.1
    assert cost_roll < cost_static


# -- decentralisation and information use ---------------------------------------------------------
@pytest.mark.parametrize("cls", [ThreeTierOrderUpTo, ThreeTierBaseStock], ids=lambda c: c.__name__)
def test_heuristics_are_decentralised(cls) -> None:
    env = bench.make(TASK)
    obs, _ = env.reset(seed=2)
    for _ in range(3):                                   # build some history first
        obs, *_ = env.step(cls(env).act(obs))
    base = cls(env).act(obs)
    for target in env.possible_agents:
        noisy = {a: (o if a == target else o * 1.7 + 0.3) for a, o in obs.items()}
        assert np.array_equal(cls(env).act(noisy)[target], base[target]), target


@pytest.mark.parametrize("scale", ["small", "nominal", "paper"])
def test_observed_scales_match_the_env(scale: str) -> None:
    env = bench.make(TASK, scale=scale)
    obs, _ = env.reset(seed=70003)
    policy = ThreeTierStaticLP(env)
    rho, w = observed_scales(env, obs, policy.net)
    mu_p = env._mu_rp.sum(axis=0)
    assert rho == pytest.approx(mu_p / mu_p.sum(), rel=1e-5)   # exact from demand shares
    assert w.sum() == pytest.approx(1.0)
    assert np.abs(w - env._mu_rp[:, 0] / mu_p[0]).max() < 0.05


def test_static_lp_does_not_read_oracle_information(monkeypatch) -> None:
    env = bench.make(TASK, scale="small")
    obs, _ = env.reset(seed=3)
    for name in ("demand_path", "expected_demand"):
        monkeypatch.setattr(type(env), name, property(lambda self: pytest.fail(f"read {name}")))
    for cls in (ThreeTierStaticLP, ThreeTierRollingLP, ThreeTierOrderUpTo, ThreeTierBaseStock):
        policy = cls(env)
        policy.reset(3)
        policy.act(obs)


# -- tuning sees training seeds only ---------------------------------------------------------------
def test_tuning_uses_training_seeds_only() -> None:
    seeds = tune.training_seeds(SPEC)
    assert all(SPEC.seeds.train_start <= s < SPEC.seeds.train_stop for s in seeds)
    assert not set(seeds) & set(SPEC.seeds.eval)
    doc = json.loads(PARAMS_FILE.read_text())
    assert doc["training_seeds"] and all(
        SPEC.seeds.train_start <= s < SPEC.seeds.train_stop and s not in SPEC.seeds.eval
        for s in doc["training_seeds"])
    seen: list[int] = []
    k, _ = tune.tune_base_stock(seeds[:1], SPEC, grid=(2.0,), max_sweeps=1, seen=seen)
    assert seen == seeds[:1] and k == dict.fromkeys(tune.TIERS, 2.0)
    with pytest.raises(ValueError, match="not a training seed"):
        tune.evaluate(ThreeTierBaseStock, [SPEC.seeds.eval[0]], SPEC)


def test_tuned_parameters_are_used() -> None:
    doc = json.loads(PARAMS_FILE.read_text())
    env = bench.make(TASK, scale="small")
    env.reset(seed=1)
    assert ThreeTierBaseStock(env).k == {t: float(doc["k"][t]) for t in tune.TIERS}
    roll = ThreeTierRollingLP(env)
    assert (roll.safety_days, roll.kappa) == (doc["rolling_lp"]["safety_days"], doc["rolling_lp"]["kappa"])
