"""supply_chain/Serial-v1: spec, PettingZoo conformance, determinism, dynamics, costs, shifts."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

import bench
from bench.registry import env_config
from tasks.supply_chain.serial import LEAD_TIME_SURGE, SerialEnv

TASK = "supply_chain/Serial-v1"
SPEC = bench.get_spec(TASK)
SCALES = [s.name for s in SPEC.scales]
SCENARIOS = [s.name for s in SPEC.scenarios]


def make(**kw) -> SerialEnv:
    return bench.make(TASK, **kw)


def orders(env: SerialEnv, q) -> dict[str, np.ndarray]:
    q = np.broadcast_to(np.asarray(q, dtype=np.float32), (env.n_stages,))
    return {a: np.array([v], dtype=np.float32) for a, v in zip(env.possible_agents, q)}


# ---------------------------------------------------------------------------------------------
# spec and construction
# ---------------------------------------------------------------------------------------------

def test_spec_loads_with_example_6_1_as_nominal() -> None:
    p = SPEC.parameters
    assert SPEC.nominal_scale.name == "n3" and SPEC.nominal_scale.agents == 3
    assert (p["n_stages"], list(p["lead_times"]), list(p["holding_costs"])) == (3, [1, 1, 2], [7, 4, 2])
    assert (p["stockout_cost"], p["demand_mean"], p["demand_sd"]) == (37.12, 5, 1)
    assert [s.agents for s in SPEC.scales] == [2, 3, 5, 10, 20]
    assert {s.name for s in SPEC.shift_scenarios} == {"demand_shock", "lead_time_surge",
                                                      "demand_volatility"}
    assert dict(SPEC.weights) == {"cost_per_period": 1.0}
    assert SPEC.kpi("cost_per_period").anchors[1] == pytest.approx(47.66, abs=0.01)


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("scale", SCALES)
def test_every_scale_and_scenario_builds(scale: str, scenario: str) -> None:
    env = make(scale=scale, scenario=scenario)
    obs, _ = env.reset(seed=0)
    n = SPEC.scale(scale).agents
    assert env.possible_agents == [f"stage_{j}" for j in range(1, n + 1)]
    assert all(env.observation_space(a).contains(o) for a, o in obs.items())
    assert env.state().shape == env.state_space.shape == (n * env.obs_dim + 1,)
    # the observation space is the same in every scenario (zero-shot shift evaluation)
    assert env.observation_space("stage_1") == make(scale=scale).observation_space("stage_1")


@pytest.mark.parametrize("scale", SCALES)
def test_pettingzoo_parallel_api(scale: str) -> None:
    parallel_api_test(make(scale=scale), num_cycles=1000)


@pytest.mark.parametrize("scale", SCALES)
def test_pettingzoo_parallel_seed(scale: str) -> None:
    parallel_seed_test(lambda: make(scale=scale))


def _episode(env: SerialEnv, seed: int, action_seed: int) -> list:
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(action_seed)
    trace = [obs]
    while env.agents:
        out = env.step(orders(env, rng.uniform(0, 12, env.n_stages)))
        trace.append(out)
    return trace


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.tobytes() == b.tobytes()
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_two_episodes_bit_identical_and_seed_sensitive(scenario: str) -> None:
    env_a, env_b = make(scenario=scenario), make(scenario=scenario)
    first = _episode(env_a, 7, 1)
    assert _same(first, _episode(env_a, 7, 1))          # same env reset again
    assert _same(first, _episode(env_b, 7, 1))          # a second env object
    assert not _same(first, _episode(env_b, 8, 1))      # another seed
    np.testing.assert_array_equal(env_a.demand_path, _demand(scenario, 7))


def _demand(scenario: str, seed: int) -> np.ndarray:
    env = make(scenario=scenario)
    env.reset(seed=seed)
    return env.demand_path


def test_demand_path_is_drawn_from_the_env_generator_and_read_only() -> None:
    env = make()
    env.reset(seed=3)
    path = env.demand_path
    assert path.shape == (env.horizon,) and not path.flags.writeable
    expect = np.maximum(5 + np.random.Generator(np.random.PCG64(3)).standard_normal(env.horizon), 0)
    np.testing.assert_array_equal(path, expect)
    state = np.random.get_state()
    env.reset(seed=4)
    assert np.random.get_state()[1].tobytes() == state[1].tobytes()   # global RNG untouched
    poisson = make(demand_dist="poisson")
    poisson.reset(seed=1)
    assert np.all(poisson.demand_path == np.round(poisson.demand_path))


# ---------------------------------------------------------------------------------------------
# parameter validation
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("overrides, match", [
    ({"lead_times": [1, 1]}, "lead_times has 2 entries but n_stages=3"),
    ({"holding_costs": [7, 4, 2, 1]}, "holding_costs has 4 entries"),
    ({"lead_times": [1, 0, 2]}, "lead_times must be integers >= 1"),
    ({"lead_times": 2}, "lead_times must be a list"),
    ({"holding_costs": [7, -1, 2]}, "holding_costs"),
    ({"n_stages": 0}, "n_stages must be an integer >= 1"),
    ({"demand_dist": "gamma"}, "demand_dist must be 'normal' or 'poisson'"),
    ({"demand_mean": 0}, "demand_mean must be a finite number > 0"),
    ({"max_order": -1}, "max_order"),
    ({"storage_capacity": [1, 2]}, "storage_capacity has 2 entries"),
    ({"initial_inventory": "full"}, "initial_inventory must be 'base_stock'"),
    ({"initial_inventory": [1, -2, 3]}, "initial_inventory must be >= 0"),
    ({"stockout_cost": float("nan")}, "stockout_cost"),
], ids=lambda v: v if isinstance(v, str) else ",".join(v))
def test_bad_parameters_raise_value_error_naming_them(overrides, match) -> None:
    with pytest.raises(ValueError, match=match):
        make(**overrides)


def test_unknown_shift_kind_is_rejected() -> None:
    cfg = env_config(TASK, scenario="demand_shock")
    bad = dataclasses.replace(cfg.scenario, shift={"kind": "earthquake", "onset": 10})
    with pytest.raises(ValueError, match="shift.kind 'earthquake'"):
        SerialEnv(dataclasses.replace(cfg, scenario=bad))


def test_non_finite_orders_are_rejected_and_out_of_range_clipped() -> None:
    env = make()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="finite"):
        env.step(orders(env, [1.0, np.nan, 1.0]))
    env.reset(seed=0)
    env.step(orders(env, [-5.0, 100.0, 3.0]))
    np.testing.assert_array_equal(env.last_received, [env.demand_path[0], 0.0, 20.0])


# ---------------------------------------------------------------------------------------------
# dynamics: timing, conservation, costs
# ---------------------------------------------------------------------------------------------

def test_timing_lead_time_one_serves_this_period_and_pipeline_slots() -> None:
    """Order at step t with L=1 serves step t's demand; with L=2 it sits in pipeline slot 0 of
    the next observation and is received during step t+1 (module docstring, item 2)."""
    env = make(n_stages=2, lead_times=[1, 2], holding_costs=[2, 1], initial_inventory=[0, 50])
    env.reset(seed=0)
    obs, *_ = env.step(orders(env, [10.0, 7.0]))
    d0 = env.demand_path[0]
    assert obs["stage_1"][0] == pytest.approx(10.0 - d0, abs=1e-5)   # arrived before demand
    assert obs["stage_2"][0] == pytest.approx(40.0)                  # shipped 10 of its 50
    assert obs["stage_2"][3] == pytest.approx(7.0)                   # slot 0: received next step
    assert obs["stage_2"][2] == pytest.approx(47.0)                  # IP = 40 + 7
    assert obs["stage_2"][-1] == pytest.approx(10.0)                 # last order received
    assert obs["stage_1"][-1] == pytest.approx(d0)                   # stage 1: last demand
    obs, *_ = env.step(orders(env, [0.0, 0.0]))
    assert obs["stage_2"][0] == pytest.approx(47.0) and obs["stage_2"][3] == 0.0


def test_backorders_upstream_and_inventory_position() -> None:
    env = make(initial_inventory=[0, 3, 0])
    env.reset(seed=0)
    obs, *_ = env.step(orders(env, [8.0, 0.0, 0.0]))
    # stage 2 had 3 units: ships 3, owes 5; stage 1 sees the 5 as on order in its IP
    assert obs["stage_2"][1] == pytest.approx(5.0) and obs["stage_2"][0] == 0.0
    d0 = env.demand_path[0]
    assert obs["stage_1"][2] == pytest.approx(3.0 - d0 + 5.0, abs=1e-5)
    assert obs["stage_2"][2] == pytest.approx(-5.0)


def test_conservation_cost_identity_and_kpis_over_random_play() -> None:
    """Every period: units are conserved; the local cost equals the Clark-Scarf echelon cost
    Σ h_j E_j + (p + h'_1) B_1; rewards and the KPI counters agree with the state."""
    env = make(scale="n5", demand_dist="poisson")
    rng = np.random.default_rng(0)
    env.reset(seed=2)
    h_loc = env.holding_costs
    h_ech = h_loc - np.append(h_loc[1:], 0.0)
    supplied = 0.0
    to_customers = 0.0
    start = env.on_hand.sum()
    while env.agents:
        q = rng.uniform(0, 9, env.n_stages).astype(np.float32).astype(float)
        _, rew, _, _, infos = env.step(orders(env, q))
        supplied += q[-1]
        k = {c: sum(infos[a]["kpi"][c] for a in infos) for c in infos["stage_1"]["kpi"]}
        to_customers += k["shipped_to_customers"]
        oh, bo, tr = env.on_hand, env.backorders, env.in_transit
        assert start + supplied - to_customers == pytest.approx(oh.sum() + tr.sum())
        E = np.cumsum(oh) + np.concatenate(([0.0], np.cumsum(tr[:-1]))) - bo[0]
        echelon_cost = float(h_ech @ E) + (env.stockout_cost + h_loc[0]) * bo[0]
        assert k["total_cost"] == pytest.approx(echelon_cost)
        assert all(r == pytest.approx(-k["total_cost"]) for r in rew.values())
        assert k["holding_cost"] + k["stockout_cost"] == pytest.approx(k["total_cost"])
        assert k["inventory"] == pytest.approx(oh.sum())
        assert k["orders"] == pytest.approx(q[-1])
        assert 0 <= k["filled"] <= k["demand"] and k["shipped_to_customers"] >= k["filled"]
        assert infos["stage_1"]["kpi"]["stockout_cost"] == pytest.approx(env.stockout_cost * bo[0])


def test_storage_overflow_reported_per_stage() -> None:
    env = make(initial_inventory=[0, 130, 0])
    env.reset(seed=0)
    _, _, _, _, infos = env.step(orders(env, [0.0, 0.0, 0.0]))
    assert infos["stage_2"]["violations"] == {"storage_overflow": pytest.approx(30.0)}
    assert infos["stage_1"]["violations"]["storage_overflow"] == 0.0


def test_initial_inventory_base_stock_rule() -> None:
    env = make()
    env.reset(seed=0)
    z = 0.99993  # Phi^-1(37.12 / 44.12)
    np.testing.assert_allclose(env.on_hand, [5 + z, 5 + z, 10 + z * np.sqrt(2)], atol=1e-3)


# ---------------------------------------------------------------------------------------------
# held-out shifts fire
# ---------------------------------------------------------------------------------------------

def test_demand_shock_multiplies_mean_from_onset() -> None:
    env = make(scenario="demand_shock", horizon=40_000)
    env.reset(seed=1)
    d, on = env.demand_path, env.onset
    assert on == 52
    assert d[:on].mean() == pytest.approx(5.0, abs=0.5)
    assert d[on:].mean() == pytest.approx(7.5, abs=0.03)
    assert d[on:].std() == pytest.approx(1.0, abs=0.03)


def test_demand_volatility_multiplies_sd_from_onset() -> None:
    env = make(scenario="demand_volatility", horizon=40_000)
    env.reset(seed=1)
    d = env.demand_path[env.onset:]
    # N(5, 3^2) truncated at 0 (max(0, x)): sd 2.90, mean 5.04 analytically
    assert d.std() == pytest.approx(2.90, abs=0.05) and d.mean() == pytest.approx(5.04, abs=0.05)
    pois = make(scenario="demand_volatility", demand_dist="poisson", horizon=40_000)
    pois.reset(seed=1)
    dp = pois.demand_path[pois.onset:]
    assert dp.mean() == pytest.approx(5.0, abs=0.1) and dp.var() == pytest.approx(45.0, rel=0.05)


def test_lead_time_surge_delays_shipments_dispatched_from_onset() -> None:
    def arrival_step(scenario: str, dispatch: int) -> int:
        env = make(scenario=scenario, initial_inventory=[0, 0, 0])
        env.reset(seed=0)
        for t in range(dispatch + 10):
            q = [0.0, 0.0, 5.0 if t == dispatch else 0.0]
            env.step(orders(env, q))
            if env.on_hand[2] > 0:
                return t
        raise AssertionError("shipment never arrived")

    onset = SPEC.scenario("lead_time_surge").onset
    L3 = SPEC.parameters["lead_times"][2]
    for t in (onset - 5, onset - 1):            # dispatched before the onset: unaffected
        assert arrival_step("lead_time_surge", t) == t + L3 - 1 == arrival_step("nominal", t)
    for t in (onset, onset + 3):
        assert arrival_step("lead_time_surge", t) == t + L3 - 1 + LEAD_TIME_SURGE


# ---------------------------------------------------------------------------------------------
# anchors are what the documented procedure measures
# ---------------------------------------------------------------------------------------------

def test_spec_anchors_match_the_measuring_script() -> None:
    """Re-run scripts/measure_anchors_serial.py's procedure; the YAML's (rounded) anchors must
    agree, so a change to the env or the baselines that moves them cannot go unnoticed."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "measure_anchors_serial.py"
    module_spec = importlib.util.spec_from_file_location("measure_anchors_serial", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    measured = module.measure()
    for kpi in SPEC.kpis:
        zero, one = kpi.anchors
        assert zero == pytest.approx(measured[kpi.name]["zero"], rel=2e-3, abs=1e-9), kpi.name
        assert one == pytest.approx(measured[kpi.name]["one"], rel=2e-3, abs=1e-9), kpi.name
        for scale, pair in measured[kpi.name].get("scales", {}).items():
            assert kpi.anchors_at(scale) == pytest.approx((pair["zero"], pair["one"]), rel=2e-3), \
                (kpi.name, scale)
