"""Chen-Zheng optimal echelon base-stock levels (baselines/chen_zheng.py) against the textbook,
stockpyl and the newsvendor formula — and THE KEY TEST: simulating the optimal base-stock policy
in SerialEnv reproduces the theory's expected cost per period within 1 %.

Reference numbers from stockpyl 1.0.2 (Snyder & Shen's own library) were produced with

    .venv-peer/bin/python scripts/stockpyl_peer.py optimum

(see that script for the instance data); stockpyl discretises normal lead-time demand into 100
cells truncated at ±4 sd, so its normal-demand optima carry ~0.2 % discretisation error (its
docstring for Example 6.1 prints C* = 47.6687 while 1.0.2 returns 47.6654; our converged value is
47.6601): we compare C* with a 0.2 % tolerance for normal demand and S* within one step of
stockpyl's grids (its S* can be no more precise than that; the cost is flat near the optimum),
and much tighter for Poisson, where both sides sum exactly (stockpyl truncates tails at 4 sd).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import bench
from baselines.base_stock import BaseStockPolicy
from baselines.chen_zheng import (echelon_holding_costs, echelon_to_local_base_stock,
                                  expected_cost, local_holding_costs,
                                  local_to_echelon_base_stock, optimal_echelon_base_stock,
                                  optimal_local_base_stock)

TASK = "supply_chain/Serial-v1"
STOCKPYL_TOL = 2e-3          # stockpyl's discretisation error for normal demand (see above)

# stockpyl 1.0.2 output (scripts/stockpyl_peer.py optimum), stage 1 first
STOCKPYL = {
    "example_6_1": ([6.484, 12.028, 22.72], 47.66539330753092),
    "problem_6_1": ([123.93912554797208, 228.4875670302182], 166.27052889662946),
    "problem_6_16": ([171.06173735261743, 232.11261373248394], 438.2396253072112),
    "problem_6_2b_adj": ([41, 74, 109, 142, 174], 226.84279894551065),
}
# (lead times, echelon holding costs, p, dist, mean, sd) — stage 1 first
INSTANCES = {
    "example_6_1": ([1, 1, 2], [3, 2, 2], 37.12, "normal", 5, 1),
    "problem_6_1": ([1, 1], [1, 1], 15, "normal", 100, 15),
    "problem_6_16": ([8, 3], [5, 2], 24, "normal", 20, 4),
    "problem_6_2b_adj": ([1, 1, 1, 1, 1], [1, 1, 0.5, 0.5, 0.5], 12, "poisson", 32, None),
}


def stockpyl_grid_step(name: str) -> float:
    """stockpyl's resolution for a normal instance: the larger of its x-grid step (1000 cells over
    [lo - hi, hi], lo and hi the ±4 sd quantiles of demand over all lead times) and its
    lead-time-demand cell (100 cells over ±4 sd); its S* is only that precise."""
    L, _, _, _, mean, sd = INSTANCES[name]
    m, s = mean * sum(L), sd * math.sqrt(sum(L))
    hi, lo = m + 4 * s, m - 4 * s
    return max((2 * hi - lo) / 1000, 8 * sd * math.sqrt(max(L)) / 100)


def solve(name: str, **kw):
    L, h, p, dist, mean, sd = INSTANCES[name]
    return optimal_echelon_base_stock(L, h, p, dist, mean, sd, holding="echelon", **kw)


def test_example_6_1_matches_textbook_and_stockpyl() -> None:
    S, C = solve("example_6_1")
    # Snyder & Shen, Example 6.1: S* = (6.49, 12.02, 22.71)
    np.testing.assert_allclose(S, [6.49, 12.02, 22.71], atol=0.006)
    S_ref, C_ref = STOCKPYL["example_6_1"]
    np.testing.assert_allclose(S, S_ref, atol=stockpyl_grid_step("example_6_1"))
    assert C == pytest.approx(C_ref, rel=STOCKPYL_TOL)
    # local levels from the textbook: 6.49, 5.53, 10.69 (stockpyl's example_6_1 network)
    np.testing.assert_allclose(echelon_to_local_base_stock(S), [6.49, 5.53, 10.69], atol=0.006)
    # the env's parameters are local holding costs (7, 4, 2): same answer
    S2, C2 = optimal_echelon_base_stock([1, 1, 2], [7, 4, 2], 37.12, "normal", 5, 1)
    np.testing.assert_allclose(S2, S)
    assert C2 == C


@pytest.mark.parametrize("name", ["problem_6_1", "problem_6_16"])
def test_other_normal_instances_match_stockpyl(name: str) -> None:
    S, C = solve(name)
    S_ref, C_ref = STOCKPYL[name]
    np.testing.assert_allclose(S, S_ref, atol=stockpyl_grid_step(name))
    assert C == pytest.approx(C_ref, rel=STOCKPYL_TOL)


def test_poisson_five_stage_matches_stockpyl_exactly() -> None:
    """S&S Problem 6.2(b) adjusted to periodic review (stockpyl's ``problem_6_2b_adj``)."""
    S, C = solve("problem_6_2b_adj")
    S_ref, C_ref = STOCKPYL["problem_6_2b_adj"]
    np.testing.assert_array_equal(S, S_ref)
    assert C == pytest.approx(C_ref, rel=2e-5)     # stockpyl truncates the tail at 4 sd


@pytest.mark.parametrize("h, p, mu, sd, L", [(0.18, 0.7, 50, 8, 1), (1.0, 9.0, 10, 3, 4),
                                               (2.0, 1.0, 100, 20, 2)])
def test_single_stage_is_the_newsvendor(h, p, mu, sd, L) -> None:
    """N = 1: S* = F⁻¹(p/(p+h)) of lead-time demand, C* = (p+h) σ_L φ(z) (S&S eq. 4.35-ish)."""
    S, C = optimal_echelon_base_stock([L], [h], p, "normal", mu, sd)
    z = stats.norm.ppf(p / (p + h))
    sL = sd * math.sqrt(L)
    assert S[0] == pytest.approx(mu * L + z * sL, abs=1e-4 * sL)
    assert C == pytest.approx((p + h) * sL * stats.norm.pdf(z), rel=1e-5)   # O(δ²) grid error


def test_single_stage_poisson_newsvendor_exact() -> None:
    mu, h, p = 6.0, 1.0, 4.0
    S, C = optimal_echelon_base_stock([1], [h], p, "poisson", mu)
    k = np.arange(200)
    cost = [(h * np.maximum(s - k, 0) + p * np.maximum(k - s, 0)) @ stats.poisson.pmf(k, mu)
            for s in range(40)]
    assert S[0] == int(np.argmin(cost)) and C == pytest.approx(min(cost), rel=1e-9)


def test_grid_is_converged() -> None:
    """Halving the grid step changes C* by < 1e-5 relative (the stated tolerance)."""
    _, C = solve("example_6_1")
    _, C_fine = solve("example_6_1", grid_step=0.005)
    assert C == pytest.approx(C_fine, rel=1e-5)


def test_expected_cost_of_given_levels() -> None:
    L, h, p, dist, mean, sd = INSTANCES["example_6_1"]
    S, C = solve("example_6_1")
    assert expected_cost(S, L, h, p, dist, mean, sd, holding="echelon") == pytest.approx(C, rel=1e-5)
    for delta in ([1, 0, 0], [0, -1, 0], [0, 0, 2]):
        assert expected_cost(S + delta, L, h, p, dist, mean, sd, holding="echelon") > C


def test_conversions() -> None:
    np.testing.assert_allclose(echelon_holding_costs([7, 4, 2]), [3, 2, 2])
    np.testing.assert_allclose(local_holding_costs([3, 2, 2]), [7, 4, 2])
    np.testing.assert_allclose(local_to_echelon_base_stock([6.49, 5.53, 10.69]), [6.49, 12.02, 22.71])
    # a non-monotone echelon vector is capped by the upstream levels before differencing
    np.testing.assert_allclose(echelon_to_local_base_stock([10, 8, 20]), [8, 0, 12])
    np.testing.assert_allclose(optimal_local_base_stock([1, 1, 2], [7, 4, 2], 37.12, "normal", 5, 1),
                               [6.49, 5.53, 10.69], atol=0.006)


@pytest.mark.parametrize("kwargs, match", [
    (dict(lead_times=[1, 1], holding_costs=[1, 2, 3]), "holding_costs has 3 entries"),
    (dict(holding_costs=[1, 4, 2]), "echelon holding costs must be >= 0"),
    (dict(lead_times=[1, -1, 2]), "lead_times must be non-negative integers"),
    (dict(demand_dist="gamma"), "demand_dist must be one of"),
    (dict(demand_sd=None), "normal demand needs demand_sd > 0"),
    (dict(stockout_cost=-1.0), "stockout_cost"),
    (dict(holding="installation"), "holding must be 'local' or 'echelon'"),
], ids=["lengths", "negative-echelon", "lead", "dist", "sd", "p", "holding-kind"])
def test_validation(kwargs, match) -> None:
    args = dict(lead_times=[1, 1, 2], holding_costs=[7, 4, 2], stockout_cost=37.12,
                demand_dist="normal", demand_mean=5, demand_sd=1)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        optimal_echelon_base_stock(**args)


# ---------------------------------------------------------------------------------------------
# THE KEY TEST: simulated cost of the optimal base-stock policy == theory (within 1 %)
# ---------------------------------------------------------------------------------------------

def simulate_base_stock(periods: int, seed: int, warmup: int = 200, levels=None, **overrides
                        ) -> tuple[float, float, float]:
    """Run BaseStockPolicy in SerialEnv for ``warmup + periods`` periods; return (mean cost per
    period after warm-up, its standard error by 50 batch means, the policy's theory C*)."""
    env = bench.make(TASK, horizon=warmup + periods, **overrides)
    obs, _ = env.reset(seed=seed)
    policy = BaseStockPolicy(env)
    if levels is not None:
        policy._impl.levels = list(levels)
    policy.reset(seed)
    cost = np.empty(env.horizon)
    t = 0
    while env.agents:
        obs, rew, _, _, _ = env.step(policy.act(obs))
        cost[t] = -rew["stage_1"]
        t += 1
    c = cost[warmup:]
    batches = c[: len(c) // 50 * 50].reshape(50, -1).mean(axis=1)
    return float(c.mean()), float(batches.std(ddof=1) / math.sqrt(50)), policy.expected_cost


def assert_within_one_percent(sim: float, se: float, theory: float) -> None:
    assert abs(sim - theory) <= 0.01 * theory, f"simulated {sim:.4f} vs theory {theory:.4f}"
    # the test must be able to see a 1 % error: 1 % is several standard errors
    assert 0.01 * theory >= 3.0 * se, f"too few periods: SE {se:.4f} vs 1 % = {0.01 * theory:.4f}"


def test_simulation_matches_theory_example_6_1_fast() -> None:
    """Default run: 40,000 periods (SE ≈ 0.1, i.e. 1 % ≈ 4-5 SE)."""
    sim, se, theory = simulate_base_stock(40_000, seed=11)
    assert theory == pytest.approx(47.66, abs=0.01)
    assert_within_one_percent(sim, se, theory)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_simulation_matches_theory_example_6_1_long(seed: int) -> None:
    sim, se, theory = simulate_base_stock(200_000, seed=seed)
    assert_within_one_percent(sim, se, theory)
    assert abs(sim - theory) <= 4 * se          # and statistically indistinguishable


POISSON_5 = dict(n_stages=5, lead_times=[1, 1, 1, 1, 1], holding_costs=[3.5, 2.5, 1.5, 1.0, 0.5],
                 stockout_cost=12, demand_dist="poisson", demand_mean=32, max_order=200,
                 storage_capacity=1000)


@pytest.mark.slow
@pytest.mark.parametrize("name, overrides, periods", [
    ("problem_6_2b_adj", POISSON_5, 100_000),
    ("problem_6_16", dict(n_stages=2, lead_times=[8, 3], holding_costs=[7, 2], stockout_cost=24,
                          demand_mean=20, demand_sd=4, max_order=100, storage_capacity=1000),
     100_000),
    ("scale_n5", dict(scale="n5"), 100_000),
    ("scale_n20", dict(scale="n20"), 50_000),
], ids=["poisson-5-stage", "problem-6.16", "scale-n5", "scale-n20"])
def test_simulation_matches_theory_other_instances(name: str, overrides: dict, periods: int) -> None:
    sim, se, theory = simulate_base_stock(periods, seed=5, **overrides)
    if name in STOCKPYL:
        assert theory == pytest.approx(STOCKPYL[name][1], rel=STOCKPYL_TOL)
    assert_within_one_percent(sim, se, theory)
    assert abs(sim - theory) <= 4 * se


def test_simulation_matches_theory_poisson_five_stage_fast() -> None:
    """A second instance in the default run: the 5-stage Poisson one (integer levels)."""
    sim, se, theory = simulate_base_stock(15_000, seed=3, **POISSON_5)
    assert theory == pytest.approx(STOCKPYL["problem_6_2b_adj"][1], rel=2e-5)
    assert_within_one_percent(sim, se, theory)


@pytest.mark.slow
def test_simulation_matches_theory_at_non_optimal_levels() -> None:
    """The env's timing, not just the optimum, matches Clark-Scarf: any echelon base-stock
    vector's simulated cost equals the recursion's expected_cost."""
    S = np.array([8.0, 12.0, 20.0])
    theory = expected_cost(S, [1, 1, 2], [7, 4, 2], 37.12, "normal", 5, 1)
    sim, se, _ = simulate_base_stock(200_000, seed=9, levels=echelon_to_local_base_stock(S))
    assert theory > 47.7
    assert_within_one_percent(sim, se, theory)
    assert abs(sim - theory) <= 4 * se
