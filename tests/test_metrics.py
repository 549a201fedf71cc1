"""Hand-worked checks for bench.metrics."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.metrics import (
    hyperscore,
    log_log_slope,
    normalise_kpi,
    recovery_time,
    recovery_time_ratio,
    retention,
    safety_aggregate,
    safety_summary,
    value_score,
)

# ---------------------------------------------------------------- hyperscore

# V = 1: ln V = 0, so sigma(gamma) = 1 / (1 + e^{ln 2}) = 1/3 and
# HyperScore = 100 * (1 + 3^-2.5) = 100 + 100 / (9 * sqrt(3)).
H_AT_1 = 100.0 + 100.0 / (9.0 * math.sqrt(3.0))
# V = 0.5: 6 ln 0.5 - ln 2 = -7 ln 2, sigma = 1 / (1 + 2^7) = 1/129.
H_AT_HALF = 100.0 * (1.0 + 129.0**-2.5)


def test_hyperscore_at_one_matches_hand_value() -> None:
    assert H_AT_1 == pytest.approx(106.41500299099584, abs=1e-12)
    assert hyperscore(1.0) == pytest.approx(H_AT_1, rel=1e-14)
    assert isinstance(hyperscore(1.0), float)


def test_hyperscore_at_half_is_barely_above_100() -> None:
    assert hyperscore(0.5) == pytest.approx(H_AT_HALF, rel=1e-14)
    assert hyperscore(0.5) - 100.0 == pytest.approx(5.290853352e-4, rel=1e-8)


def test_hyperscore_zero_is_exactly_100_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert hyperscore(0.0) == 100.0
        assert hyperscore(0) == 100.0
        assert np.array_equal(hyperscore(np.zeros(3)), np.full(3, 100.0))


def test_hyperscore_custom_parameters() -> None:
    # beta=1, gamma=0, kappa=1 at V=1: sigma(0) = 0.5 -> 150.
    assert hyperscore(1.0, beta=1.0, gamma=0.0, kappa=1.0) == pytest.approx(150.0)
    # kappa = 2 at V = 1 with the default gamma: 100 * (1 + 1/9).
    assert hyperscore(1.0, kappa=2.0) == pytest.approx(100.0 + 100.0 / 9.0)


def test_hyperscore_array_keeps_shape() -> None:
    v = np.array([[0.0, 0.5], [1.0, 1.0]])
    out = hyperscore(v)
    assert isinstance(out, np.ndarray)
    assert out.shape == (2, 2)
    np.testing.assert_allclose(out, [[100.0, H_AT_HALF], [H_AT_1, H_AT_1]], rtol=1e-14)
    assert hyperscore([0.0, 1.0]).shape == (2,)


@pytest.mark.parametrize("bad", [-0.1, 1.1, float("nan")])
def test_hyperscore_rejects_out_of_range(bad: float) -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]") as err:
        hyperscore(bad)
    assert repr(bad) in str(err.value)


def test_hyperscore_rejects_bad_entry_in_array() -> None:
    with pytest.raises(ValueError, match="1.5"):
        hyperscore(np.array([0.2, 1.5, 0.3]))
    with pytest.raises(ValueError, match="kappa"):
        hyperscore(0.5, kappa=0.0)


@settings(max_examples=200, deadline=None)
@given(
    st.floats(min_value=0.0, max_value=1.0, allow_nan=False),
    st.floats(min_value=0.0, max_value=1.0, allow_nan=False),
)
def test_hyperscore_monotone_and_bounded(a: float, b: float) -> None:
    lo, hi = min(a, b), max(a, b)
    assert hyperscore(lo) <= hyperscore(hi)
    assert 100.0 <= hyperscore(lo) <= H_AT_1 + 1e-9


# ---------------------------------------------------------------- normalise


def test_normalise_benefit_direction_and_clip() -> None:
    assert normalise_kpi(5.0, 0.0, 10.0) == 0.5
    assert normalise_kpi(15.0, 0.0, 10.0) == 1.0
    assert normalise_kpi(-3.0, 0.0, 10.0) == 0.0


def test_normalise_cost_direction_and_clip() -> None:
    # cost KPI: 50 is the bad anchor, 10 the good one; 30 is half way.
    assert normalise_kpi(30.0, 50.0, 10.0) == 0.5
    assert normalise_kpi(60.0, 50.0, 10.0) == 0.0
    assert normalise_kpi(0.0, 50.0, 10.0) == 1.0


def test_normalise_vectorised() -> None:
    np.testing.assert_allclose(normalise_kpi([0.0, 2.5, 20.0], 0.0, 10.0), [0.0, 0.25, 1.0])


def test_normalise_rejects_equal_anchors_and_nan() -> None:
    with pytest.raises(ValueError, match="zero and one"):
        normalise_kpi(1.0, 3.0, 3.0)
    with pytest.raises(ValueError, match="value"):
        normalise_kpi(float("nan"), 0.0, 1.0)


# ---------------------------------------------------------------- value_score

ANCHORS = {"fill": (0.5, 1.0), "cost": (100.0, 50.0), "unused": (0.0, 1.0)}


def test_value_score_worked_example() -> None:
    # fill: (0.9 - 0.5) / 0.5 = 0.8; cost: (70 - 100) / (50 - 100) = 0.6
    # V = 0.75 * 0.8 + 0.25 * 0.6 = 0.75
    kpis = {"fill": 0.9, "cost": 70.0, "unused": 123.0}
    v = value_score(kpis, ANCHORS, {"fill": 0.75, "cost": 0.25})
    assert v == pytest.approx(0.75, abs=1e-15)


def test_value_score_bad_weights() -> None:
    kpis = {"fill": 0.9, "cost": 70.0}
    with pytest.raises(ValueError, match="sum to 1"):
        value_score(kpis, ANCHORS, {"fill": 0.5, "cost": 0.4})
    with pytest.raises(ValueError, match=">= 0"):
        value_score(kpis, ANCHORS, {"fill": 1.5, "cost": -0.5})
    with pytest.raises(ValueError, match="empty"):
        value_score(kpis, ANCHORS, {})


def test_value_score_missing_kpi_named() -> None:
    with pytest.raises(ValueError, match="'cost'.*kpis"):
        value_score({"fill": 0.9}, ANCHORS, {"fill": 0.5, "cost": 0.5})
    with pytest.raises(ValueError, match="'delay'.*anchors"):
        value_score({"fill": 0.9, "delay": 3.0}, ANCHORS, {"fill": 0.5, "delay": 0.5})


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(-1e6, 1e6),
            st.floats(-1e3, 1e3),
            st.floats(-1e3, 1e3),
            st.floats(0.0, 10.0),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_value_score_in_unit_interval(rows: list[tuple[float, float, float, float]]) -> None:
    rows = [r for r in rows if r[1] != r[2]]
    total = sum(r[3] for r in rows)
    if not rows or total <= 0:
        return
    names = [f"k{i}" for i in range(len(rows))]
    kpis = {n: r[0] for n, r in zip(names, rows)}
    anchors = {n: (r[1], r[2]) for n, r in zip(names, rows)}
    weights = {n: r[3] / total for n, r in zip(names, rows)}
    if abs(math.fsum(weights.values()) - 1.0) > 1e-9:
        return
    assert 0.0 <= value_score(kpis, anchors, weights) <= 1.0


# ---------------------------------------------------------------- retention


def test_retention_ratio_of_means() -> None:
    assert retention([0.4, 0.6], [0.8, 0.8]) == pytest.approx(0.625)
    assert retention([0.9, 0.9], [0.6, 0.6]) == pytest.approx(1.5)


def test_retention_zero_nominal_is_one() -> None:
    assert retention([0.0, 0.0], [0.0, 0.0]) == 1.0
    assert retention([0.3, 0.0], [0.0, 0.0]) == 1.0


def test_retention_validation() -> None:
    with pytest.raises(ValueError, match="same length"):
        retention([0.1, 0.2], [0.1])
    with pytest.raises(ValueError, match="non-negative"):
        retention([-0.1], [0.5])
    with pytest.raises(ValueError, match="finite"):
        retention([float("nan")], [0.5])


# ---------------------------------------------------------------- recovery

#              pre window ↓↓   shock  recovering
SERIES = [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]


def test_recovery_time_known_answer() -> None:
    # onset=4, window=2: pre = mean(s[2:4]) = 1; t0 = 5.
    # R_5 = mean(s[4:6]) = 0, R_6 = mean(s[5:7]) = 0.5, R_7 = mean(s[6:8]) = 1.
    assert recovery_time(SERIES, onset=4, window=2, band=0.1) == (2, True)
    # A 50 % band already accepts R_6 = 0.5.
    assert recovery_time(SERIES, onset=4, window=2, band=0.5) == (1, True)


def test_recovery_time_censored() -> None:
    s = [1.0] * 4 + [0.0] * 6
    # eligible steps t = 5..9, i.e. 10 - 5 = 5 of them
    assert recovery_time(s, onset=4, window=2, band=0.1) == (5, False)


def test_recovery_time_no_drop_is_immediate() -> None:
    assert recovery_time([2.0] * 8, onset=3, window=3, band=0.0) == (0, True)


def test_recovery_time_validation() -> None:
    with pytest.raises(ValueError, match="onset .* must be >= window"):
        recovery_time(SERIES, onset=1, window=2, band=0.1)
    with pytest.raises(ValueError, match="must be <= len"):
        recovery_time(SERIES, onset=9, window=2, band=0.1)
    with pytest.raises(ValueError, match="window must be >= 1"):
        recovery_time(SERIES, onset=4, window=0, band=0.1)
    with pytest.raises(ValueError, match="band"):
        recovery_time(SERIES, onset=4, window=2, band=-0.1)
    with pytest.raises(ValueError, match="1-D"):
        recovery_time(np.ones((5, 2)), onset=2, window=1, band=0.1)


def test_recovery_time_ratio_matches_scaled_series() -> None:
    num = [10.0 * x for x in SERIES]
    den = [10.0] * len(SERIES)
    assert recovery_time_ratio(num, den, onset=4, window=2, band=0.1) == (2, True)


def test_recovery_time_ratio_pools_over_window() -> None:
    # pre = (1 + 1) / (1 + 1) = 1; first window [2, 3]: (0 + 9) / (1 + 9) = 0.9,
    # within a 15 % band. (A mean of per-step ratios would give 0.5.)
    assert recovery_time_ratio([1, 1, 0, 9], [1, 1, 1, 9], onset=2, window=2, band=0.15) == (0, True)


def test_recovery_time_ratio_zero_demand_counts_as_full() -> None:
    num = [5, 5, 5, 5, 0, 0, 0, 0]
    den = [5, 5, 5, 5, 0, 0, 0, 0]
    assert recovery_time_ratio(num, den, onset=4, window=2, band=0.01) == (0, True)


def test_recovery_time_ratio_censored_and_validation() -> None:
    num = [5, 5, 5, 5, 0, 0, 0, 0]
    den = [5] * 8
    assert recovery_time_ratio(num, den, onset=4, window=2, band=0.1) == (3, False)
    with pytest.raises(ValueError, match="den must be non-negative"):
        recovery_time_ratio(num, [-1] + den[1:], onset=4, window=2, band=0.1)


# ---------------------------------------------------------------- scalability


def test_log_log_slope_exact_power_laws() -> None:
    assert log_log_slope([2, 4], [1.0, 4.0]) == pytest.approx(2.0)
    n = np.array([1, 2, 4, 8, 16])
    assert log_log_slope(n, 3.0 * n**1.5) == pytest.approx(1.5)
    assert log_log_slope(n, np.full(5, 0.2)) == pytest.approx(0.0, abs=1e-12)


def test_log_log_slope_validation() -> None:
    with pytest.raises(ValueError, match="2 distinct"):
        log_log_slope([4, 4, 4], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="positive"):
        log_log_slope([1, 2], [0.0, 1.0])
    with pytest.raises(ValueError, match="same length"):
        log_log_slope([1, 2], [1.0])


# ---------------------------------------------------------------- safety

EP1 = [[0.0, 0.5], [0.0, 0.0], [2.0, 0.0]]


def test_safety_summary_hand_example() -> None:
    s = safety_summary(EP1)
    assert s == {"rate": 2 / 6, "severity": 1.25, "violating_steps": 2, "any": True, "agent_steps": 6}
    z = safety_summary(np.zeros((2, 2)))
    assert z == {"rate": 0.0, "severity": 0.0, "violating_steps": 0, "any": False, "agent_steps": 4}


def test_safety_summary_validation() -> None:
    with pytest.raises(ValueError, match=r"\(T, n_agents\)"):
        safety_summary([0.0, 1.0])
    with pytest.raises(ValueError, match=">= 0"):
        safety_summary([[0.0, -1.0]])


def test_safety_aggregate_pools_episodes() -> None:
    eps = [safety_summary(EP1), safety_summary(np.zeros((2, 2))), safety_summary([[3.0]])]
    agg = safety_aggregate(eps)
    # violating 2 + 0 + 1 = 3 of 6 + 4 + 1 = 11 agent-steps;
    # total exceedance 0.5 + 2.0 + 3.0 = 5.5 over 3 violations.
    assert agg["rate"] == pytest.approx(3 / 11)
    assert agg["severity"] == pytest.approx(5.5 / 3)
    assert agg["episode_share"] == pytest.approx(2 / 3)
    clean = safety_aggregate([safety_summary(np.zeros((1, 1)))])
    assert clean == {"rate": 0.0, "severity": 0.0, "episode_share": 0.0}


def test_safety_aggregate_validation() -> None:
    with pytest.raises(ValueError, match="empty"):
        safety_aggregate([])
    with pytest.raises(ValueError, match="agent_steps"):
        safety_aggregate([{"rate": 0.0, "severity": 0.0, "violating_steps": 0, "any": False}])
