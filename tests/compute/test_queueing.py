"""The edge-cluster simulator against queueing theory.

A node of ``compute/EdgeCluster-v1`` fed with Poisson arrivals in continuous time
(``tasks.compute.cluster.simulate_single_node`` drives the env's own ``Node`` class through
SimPy) is an M/G/c queue. Its mean waiting time must agree with Erlang C (M/M/c), M/M/1,
Pollaczek–Khinchine (M/D/1, M/LogNormal/1) and, with priority classes, Cobham's formula — each
within the run's 99 % batch-means confidence interval. Every simulation check also shows that the
interval is tight enough to reject a plausible wrong answer, so these tests can fail.

The default run keeps two fast checks (M/M/4 against Erlang C and M/D/1 against P-K); the long
runs over many (c, ρ) points are marked ``slow``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tasks.compute import queueing as q
from tasks.compute.cluster import simulate_single_node

WARMUP = 5_000


def _ci(waits: np.ndarray) -> tuple[float, float, float]:
    return q.batch_means_ci(waits[WARMUP:], n_batches=30, confidence=0.99)


# ---------------------------------------------------------------------------------------------
# closed forms, against values worked out by hand or tabulated
# ---------------------------------------------------------------------------------------------

def test_erlang_formulas_match_hand_values() -> None:
    # B(1, a) = a / (1 + a); C(1, a) = a (M/M/1: P(wait) = rho)
    assert q.erlang_b(1, 0.5) == pytest.approx(1 / 3)
    assert q.erlang_c(1, 0.7) == pytest.approx(0.7)
    # M/M/2 with a = 1: P0 = 1/3, P(wait) = a^2/(2!(1 - a/2)) P0 = 1/3
    assert q.erlang_c(2, 1.0) == pytest.approx(1 / 3)
    # tabulated: 10 servers, 8 Erlangs -> P(wait) = 0.4092 (Erlang C tables)
    assert q.erlang_c(10, 8.0) == pytest.approx(0.40918, abs=1e-4)
    # direct summation formula for a larger case
    c, a = 16, 13.0
    top = a ** c / math.factorial(c) * c / (c - a)
    direct = top / (sum(a ** k / math.factorial(k) for k in range(c)) + top)
    assert q.erlang_c(c, a) == pytest.approx(direct, rel=1e-12)
    # the recursion stays finite where a^c / c! would overflow
    assert 0.0 < q.erlang_c(400, 380.0) < 1.0


def test_mean_wait_formulas_are_consistent() -> None:
    lam, mu = 0.6, 1.0
    assert q.mm1_mean_wait(lam, mu) == pytest.approx(0.6 / 0.4)
    assert q.mmc_mean_wait(lam, mu, 1) == pytest.approx(q.mm1_mean_wait(lam, mu))
    # P-K with exponential service (E[S^2] = 2/mu^2) is M/M/1; deterministic halves it
    assert q.mg1_mean_wait(lam, 1.0, 2.0) == pytest.approx(q.mm1_mean_wait(lam, mu))
    assert q.mg1_mean_wait(lam, 1.0, 1.0) == pytest.approx(0.5 * q.mm1_mean_wait(lam, mu))
    # Allen-Cunneen: exact for scv = 1 and for c = 1
    assert q.mgc_mean_wait_approx(2.0, 1.0, 1.0, 3) == pytest.approx(q.mmc_mean_wait(2.0, 1.0, 3))
    assert q.mgc_mean_wait_approx(lam, 1.0, 0.0, 1) == pytest.approx(q.mg1_mean_wait(lam, 1.0, 1.0))
    # Cobham with one class is Erlang C; the class-mix average equals FCFS (work conservation
    # with equal service rates: the mean wait over all jobs does not depend on the order)
    assert q.mmc_priority_mean_waits([2.0], 1.0, 3)[0] == pytest.approx(q.mmc_mean_wait(2.0, 1.0, 3))
    lams = [0.5, 1.0, 1.0]
    w = q.mmc_priority_mean_waits(lams, 1.0, 3)
    assert np.dot(lams, w) / sum(lams) == pytest.approx(q.mmc_mean_wait(2.5, 1.0, 3))
    assert w[0] < w[1] < w[2]
    m, m2 = q.lognormal_moments(2.0, 0.5)
    assert (m, m2) == pytest.approx((2.0, 4.0 * math.exp(0.25)))


@pytest.mark.parametrize("call", [
    lambda: q.mmc_mean_wait(4.0, 1.0, 4),          # rho = 1
    lambda: q.mm1_mean_wait(1.2, 1.0),
    lambda: q.mg1_mean_wait(1.0, 1.0, 0.5),        # E[S^2] < E[S]^2
    lambda: q.erlang_b(0, 1.0),
    lambda: q.mmc_mean_wait(-1.0, 1.0, 2),
    lambda: q.batch_means_ci(np.ones(50), n_batches=30),
])
def test_bad_inputs_raise(call) -> None:
    with pytest.raises(ValueError):
        call()


def test_batch_means_ci_covers_a_known_mean() -> None:
    rng = np.random.default_rng(0)
    # AR(1) series with mean 3: correlated like queue waits
    x = np.empty(60_000)
    x[0] = 3.0
    e = rng.standard_normal(len(x))
    for t in range(1, len(x)):
        x[t] = 3.0 + 0.9 * (x[t - 1] - 3.0) + e[t]
    m, lo, hi = q.batch_means_ci(x, 30, 0.99)
    assert lo < 3.0 < hi
    # the naive i.i.d. interval is far too narrow for correlated data; batch means is wider
    naive = 2.58 * x.std() / math.sqrt(len(x))
    assert (hi - lo) / 2 > 2 * naive


# ---------------------------------------------------------------------------------------------
# simulation vs theory (fast default checks)
# ---------------------------------------------------------------------------------------------

def test_mmc_node_matches_erlang_c() -> None:
    """M/M/4 at rho = 0.7 (60k jobs, ~0.3 s): the simulated mean wait's 99 % CI holds the
    Erlang C value, is narrower than 12 % of it, and excludes the wrong M/M/1 answer with the
    pooled rate (one server 4x as fast)."""
    c, mu, rho = 4, 1.0, 0.7
    lam = rho * c * mu
    rng = np.random.default_rng(20240601)
    waits = simulate_single_node(c, lam, rng.exponential(1.0 / mu, 60_000), rng)
    theory = q.mmc_mean_wait(lam, mu, c)
    m, lo, hi = _ci(waits)
    assert lo <= theory <= hi, f"Erlang C {theory:.4f} outside CI [{lo:.4f}, {hi:.4f}]"
    assert hi - lo < 0.24 * theory
    wrong = q.mm1_mean_wait(lam, c * mu)
    assert not lo <= wrong <= hi


def test_md1_node_matches_pollaczek_khinchine() -> None:
    """M/D/1 at rho = 0.6: P-K gives half the M/M/1 wait; the CI holds P-K and excludes M/M/1."""
    lam, s = 0.6, 1.0
    rng = np.random.default_rng(7)
    waits = simulate_single_node(1, lam, np.full(60_000, s), rng)
    theory = q.mg1_mean_wait(lam, s, s * s)
    m, lo, hi = _ci(waits)
    assert lo <= theory <= hi, f"P-K {theory:.4f} outside CI [{lo:.4f}, {hi:.4f}]"
    assert not lo <= q.mm1_mean_wait(lam, 1.0 / s) <= hi


# ---------------------------------------------------------------------------------------------
# long runs
# ---------------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("c, rho", [(1, 0.5), (1, 0.8), (2, 0.5), (2, 0.9), (8, 0.7), (8, 0.9),
                                    (16, 0.8), (16, 0.95)])
def test_mmc_grid_matches_erlang_c(c: int, rho: float) -> None:
    mu = 0.5                                     # mean job size 2 s
    lam = rho * c * mu
    n = 400_000 if rho >= 0.9 else 200_000
    rng = np.random.default_rng(1000 * c + int(100 * rho))
    waits = simulate_single_node(c, lam, rng.exponential(1.0 / mu, n), rng)
    theory = q.mm1_mean_wait(lam, mu) if c == 1 else q.mmc_mean_wait(lam, mu, c)
    m, lo, hi = _ci(waits)
    assert lo <= theory <= hi, f"c={c} rho={rho}: theory {theory:.4f} outside [{lo:.4f}, {hi:.4f}]"
    assert hi - lo < 0.35 * theory                # tight enough to tell a 20 % error


@pytest.mark.slow
@pytest.mark.parametrize("law", ["deterministic", "lognormal_0.5", "lognormal_1.0", "uniform"])
@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_mg1_matches_pollaczek_khinchine(law: str, rho: float) -> None:
    mean = 2.0
    lam = rho / mean
    n = 400_000
    laws = ["deterministic", "lognormal_0.5", "lognormal_1.0", "uniform"]
    rng = np.random.default_rng(100 * laws.index(law) + int(10 * rho))
    if law == "deterministic":
        sizes, m2 = np.full(n, mean), mean ** 2
    elif law == "uniform":
        sizes, m2 = rng.uniform(0.0, 2 * mean, n), (2 * mean) ** 2 / 3
    else:
        sigma = float(law.split("_")[1])
        sizes = mean * np.exp(sigma * rng.standard_normal(n) - 0.5 * sigma ** 2)
        m2 = q.lognormal_moments(mean, sigma)[1]
    waits = simulate_single_node(1, lam, sizes, rng)
    theory = q.mg1_mean_wait(lam, mean, m2)
    m, lo, hi = _ci(waits)
    assert lo <= theory <= hi, f"{law} rho={rho}: P-K {theory:.4f} outside [{lo:.4f}, {hi:.4f}]"


@pytest.mark.slow
def test_priority_node_matches_cobham() -> None:
    """Three classes, M/M/4 non-preemptive priority at rho = 0.7: per-class waits match
    Cobham's formula (the node's class-priority discipline)."""
    c, lams = 4, [0.8, 1.2, 0.8]
    n = 300_000
    rng = np.random.default_rng(5)
    cls = rng.choice(3, n, p=np.array(lams) / sum(lams))
    waits = simulate_single_node(c, sum(lams), rng.exponential(1.0, n), rng, cls)
    theory = q.mmc_priority_mean_waits(lams, 1.0, c)
    for k in range(3):
        wk = waits[WARMUP:][cls[WARMUP:] == k]
        m, lo, hi = q.batch_means_ci(wk, 30, 0.99)
        assert lo <= theory[k] <= hi, f"class {k}: Cobham {theory[k]:.4f} outside [{lo:.4f}, {hi:.4f}]"
