"""Hand-worked checks for bench.stats."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench import stats
from bench.stats import (
    SUMMARY_SEED,
    aggregate_over_tasks,
    bootstrap_ci,
    iqm,
    mean,
    probability_of_improvement,
    summarise,
)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# ---------------------------------------------------------------- mean / iqm


def test_iqm_hand_examples() -> None:
    # n = 8: trim floor(0.25 * 8) = 2 from each end -> [3, 4, 5, 6] -> 4.5
    assert iqm([1, 2, 3, 4, 5, 6, 7, 8]) == 4.5
    assert iqm([100, 2, 3, 4, 5, 6, 7, 1]) == 4.5  # order and outlier don't matter
    # n = 5: trim floor(1.25) = 1 -> [2, 3, 4] -> 3
    assert iqm([1, 2, 3, 4, 100]) == 3.0
    assert mean([1, 2, 3, 4, 100]) == 22.0
    assert isinstance(iqm([1.0, 2.0]), float)


def test_mean_and_iqm_along_runs_for_matrix() -> None:
    m = np.array([[1, 10], [2, 20], [3, 30], [4, 400]], dtype=float)
    np.testing.assert_allclose(mean(m), [2.5, 115.0])
    # n = 4: trim 1 each end -> task 0 [2, 3], task 1 [20, 30]
    np.testing.assert_allclose(iqm(m), [2.5, 25.0])


def test_mean_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="empty"):
        mean([])
    with pytest.raises(ValueError, match="shape"):
        iqm(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="finite"):
        mean([1.0, float("nan")])


# ---------------------------------------------------------------- PoI


def test_probability_of_improvement_hand_examples() -> None:
    # pairs (x, y): (1,1) tie 0.5, (1,3) 0, (2,1) 1, (2,3) 0 -> 1.5 / 4
    assert probability_of_improvement([1, 2], [1, 3]) == 0.375
    assert probability_of_improvement([1, 3], [1, 2]) == 0.625
    assert probability_of_improvement([3, 4], [1, 2]) == 1.0
    # unequal run counts: 2 vs (1, 2, 3) -> (1 + 0.5 + 0) / 3
    assert probability_of_improvement([2], [1, 2, 3]) == pytest.approx(0.5)


def test_probability_of_improvement_averages_over_tasks() -> None:
    x = np.array([[1, 5], [2, 5]], dtype=float)
    y = np.array([[1, 5], [3, 5]], dtype=float)
    # task 0: 0.375 (above); task 1: all ties -> 0.5; mean 0.4375
    assert probability_of_improvement(x, y) == pytest.approx(0.4375)
    with pytest.raises(ValueError, match="same number of tasks"):
        probability_of_improvement(x, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="both be 1-D or both 2-D"):
        probability_of_improvement([1.0, 2.0], x)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(0, 5), min_size=1, max_size=8),
    st.lists(st.integers(0, 5), min_size=1, max_size=8),
)
def test_probability_of_improvement_complementary(x: list[int], y: list[int]) -> None:
    p, q = probability_of_improvement(x, y), probability_of_improvement(y, x)
    assert 0.0 <= p <= 1.0
    assert p + q == pytest.approx(1.0)


# ---------------------------------------------------------------- bootstrap


def test_bootstrap_constant_data_gives_degenerate_ci() -> None:
    assert bootstrap_ci(np.full(6, 0.5), np.mean, rng()) == (0.5, 0.5)
    m = np.full((5, 3), 0.25)
    assert bootstrap_ci(m, lambda a: np.mean(iqm(a)), rng()) == (0.25, 0.25)


def test_bootstrap_two_runs_hand_worked() -> None:
    # Resampled mean of [0, 1] is 0, 0.5, 1 with probability 1/4, 1/2, 1/4,
    # so the 2.5 % and 97.5 % quantiles of 2000 resamples are 0 and 1.
    assert bootstrap_ci([0.0, 1.0], np.mean, rng(3)) == (0.0, 1.0)
    # With confidence 0.4 the quantiles 0.3 and 0.7 both fall on 0.5.
    assert bootstrap_ci([0.0, 1.0], np.mean, rng(3), confidence=0.4) == (0.5, 0.5)


def test_bootstrap_single_run_returns_point() -> None:
    assert bootstrap_ci([0.7], np.mean, rng()) == (0.7, 0.7)
    assert bootstrap_ci([[0.2, 0.4]], lambda a: float(np.mean(a)), rng()) == (
        pytest.approx(0.3),
        pytest.approx(0.3),
    )


def test_bootstrap_ci_contains_mean() -> None:
    x = np.array([0.1, 0.4, 0.35, 0.8, 0.55, 0.6, 0.2])
    lo, hi = bootstrap_ci(x, np.mean, rng(1))
    assert lo < x.mean() < hi


def test_bootstrap_seed_governs_draws() -> None:
    x = np.array([0.1, 0.4, 0.35, 0.8, 0.55, 0.6, 0.2])
    a = bootstrap_ci(x, np.mean, rng(7), n_resamples=500)
    b = bootstrap_ci(x, np.mean, rng(7), n_resamples=500)
    c = bootstrap_ci(x, np.mean, rng(8), n_resamples=500)
    assert a == b
    assert a != c


def test_bootstrap_vectorized_matches_loop() -> None:
    x = np.array([0.1, 0.4, 0.35, 0.8, 0.55])
    loop = bootstrap_ci(x, np.mean, rng(5), n_resamples=300)
    vec = bootstrap_ci(x, lambda b: b.mean(axis=1), rng(5), n_resamples=300, vectorized=True)
    assert loop == pytest.approx(vec, abs=1e-15)


def test_bootstrap_uses_actual_run_count() -> None:
    seen: set[tuple[int, ...]] = set()

    def stat(m: np.ndarray) -> float:
        seen.add(m.shape)
        return float(m.mean())

    bootstrap_ci(np.arange(21.0).reshape(7, 3), stat, rng(), n_resamples=50)
    assert seen == {(7, 3)}


def test_bootstrap_is_stratified_by_task() -> None:
    # Task 0 is constant: every resample keeps its mean at exactly 2.
    m = np.array([[2.0, 0.0], [2.0, 1.0], [2.0, 5.0], [2.0, 9.0]])
    assert bootstrap_ci(m, lambda a: float(a[:, 0].mean()), rng()) == (2.0, 2.0)
    # Identical columns: resampling whole rows would keep them identical
    # (difference always 0); per-task resampling decouples them.
    same = np.repeat(np.arange(6.0)[:, None], 2, axis=1)
    lo, hi = bootstrap_ci(same, lambda a: float(a[:, 0].mean() - a[:, 1].mean()), rng())
    assert lo < 0.0 < hi


def test_bootstrap_validation() -> None:
    with pytest.raises(ValueError, match="Generator"):
        bootstrap_ci([1.0, 2.0], np.mean, 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci([1.0, 2.0], np.mean, rng(), confidence=1.0)
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_ci([1.0, 2.0], np.mean, rng(), n_resamples=0)
    with pytest.raises(ValueError, match="scalar"):
        bootstrap_ci(np.ones((3, 2)), mean, rng())


# ---------------------------------------------------------------- aggregate / summarise


def test_aggregate_over_tasks_hand_example() -> None:
    m = np.array([[0.0, 0.5], [0.1, 0.6], [0.2, 0.7], [0.3, 1.0]])
    out = aggregate_over_tasks(m, rng())
    # pooled sorted: 0 .1 .2 .3 .5 .6 .7 1.0; mean 3.4 / 8; IQM of middle four
    assert out["mean"] == pytest.approx(0.425)
    assert out["iqm"] == pytest.approx(0.4)
    assert out["mean_ci_low"] <= out["mean"] <= out["mean_ci_high"]
    assert out["iqm_ci_low"] <= out["iqm"] <= out["iqm_ci_high"]
    assert (out["num_runs"], out["num_tasks"]) == (4, 2)
    assert aggregate_over_tasks(m, rng()) == out
    with pytest.raises(ValueError, match="num_runs, num_tasks"):
        aggregate_over_tasks([0.1, 0.2], rng())


def test_aggregate_constant_task_matrix() -> None:
    out = aggregate_over_tasks(np.full((3, 4), 0.5), rng())
    assert out["mean_ci_low"] == out["mean_ci_high"] == 0.5
    assert out["iqm_ci_low"] == out["iqm_ci_high"] == 0.5


def test_summarise_hand_example_and_recomputable() -> None:
    vals = [1.0, 2.0, 3.0, 10.0]
    s = summarise(vals, np.random.default_rng(SUMMARY_SEED))
    assert s["mean"] == 4.0
    assert s["iqm"] == 2.5  # trim 1 each end -> [2, 3]
    assert s["n"] == 4
    assert s["ci_low"] < 4.0 < s["ci_high"]
    assert summarise(vals, np.random.default_rng(SUMMARY_SEED)) == s
    ci = bootstrap_ci(vals, np.mean, np.random.default_rng(SUMMARY_SEED))
    assert (s["ci_low"], s["ci_high"]) == pytest.approx(ci, abs=1e-15)
    assert set(s) == {"mean", "iqm", "ci_low", "ci_high", "n"}


def test_summarise_single_value() -> None:
    assert summarise([0.3], rng()) == {"mean": 0.3, "iqm": 0.3, "ci_low": 0.3, "ci_high": 0.3, "n": 1}


def test_bootstrap_chunking_does_not_change_result(monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.stats as bs

    m = np.arange(24.0).reshape(8, 3) ** 1.5
    full = aggregate_over_tasks(m, rng(11), n_resamples=400)
    monkeypatch.setattr(bs, "_CHUNK_ELEMENTS", 50)  # 2 resamples per chunk
    assert aggregate_over_tasks(m, rng(11), n_resamples=400) == full


# --------------------------------------------------------------- runs and pairing, worked by hand


def test_paired_probability_counts_ties_half_on_the_same_seed() -> None:
    # per seed: tie, tie, loss, loss -> (0.5 + 0.5 + 0 + 0) / 4
    assert stats.paired_probability_of_improvement([0, 0, 0, 0], [0, 0, 1, 1]) == 0.25
    # unpaired, the same arrays also give 0.25; with shuffled seeds pairing matters:
    assert stats.paired_probability_of_improvement([1, 0], [0, 1]) == 0.5
    assert stats.paired_probability_of_improvement([1, 2], [0, 1]) == 1.0
    assert stats.probability_of_improvement([1, 2], [0, 1]) == 0.875  # (1 + 1 + 0.5 + 1) / 4


def test_paired_probability_with_runs() -> None:
    # x: 2 runs x 2 seeds; y: 1 run. Seed 0: run 0 wins (1 > 0), run 1 ties -> (1 + 0.5) / 2 = 0.75;
    # seed 1: both tie -> 0.5. Mean over seeds 0.625.
    assert stats.paired_probability_of_improvement([[1, 0], [0, 0]], [[0, 0]]) == 0.625


def test_runs_bootstrap_sees_spread_between_runs() -> None:
    # two runs, each constant across seeds (0 and 1): a resample's mean is the share of run-1
    # draws, 0, 1/2 or 1 with probabilities 1/4, 1/2, 1/4, so the 95% CI is [0, 1]; a bootstrap
    # over seeds alone (pooling runs per seed) would give the point 0.5.
    lo, hi = stats.runs_seeds_bootstrap_ci([[0, 0, 0], [1, 1, 1]], np.random.default_rng(0))
    assert (lo, hi) == (0.0, 1.0)
    pooled = stats.bootstrap_ci(np.array([0.5, 0.5, 0.5]), stats.mean, np.random.default_rng(0))
    assert pooled == (0.5, 0.5)


def test_runs_bootstrap_with_one_run_is_the_seed_bootstrap() -> None:
    x = np.array([0.1, 0.5, 0.2, 0.9, 0.4])
    got = stats.runs_seeds_bootstrap_ci(x[None], np.random.default_rng(0))
    want = stats.summarise(x, np.random.default_rng(0))
    assert got == (want["ci_low"], want["ci_high"])


def test_paired_difference_ci_by_hand() -> None:
    y = np.array([0.3, 0.9, 0.1, 0.6])
    # a constant shift: every resample's difference is 0.1
    d, lo, hi = stats.paired_difference_ci(y + 0.1, y, np.random.default_rng(0))
    assert d == pytest.approx(0.1) and lo == pytest.approx(0.1) and hi == pytest.approx(0.1)
    assert stats.separable(y + 0.1, y, np.random.default_rng(0))
    # differences +1, -1, +1, -1: a resample is all -1 or all +1 with probability 1/256 each,
    # and has mean <= -0.5 with probability 5/16, so the 95% CI runs from <= -0.5 to >= 0.5
    d, lo, hi = stats.paired_difference_ci([1, -1, 1, -1], [0, 0, 0, 0], np.random.default_rng(0))
    assert d == 0 and lo <= -0.5 and hi >= 0.5
    assert not stats.separable([1, -1, 1, -1], [0, 0, 0, 0], np.random.default_rng(0))
    with pytest.raises(ValueError, match="same seeds"):
        stats.paired_difference_ci([1, 2], [1, 2, 3], np.random.default_rng(0))
