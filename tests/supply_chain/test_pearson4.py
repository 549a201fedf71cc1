"""Tests for tasks.supply_chain.pearson4 (Pearson type IV distribution)."""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from tasks.supply_chain.pearson4 import PearsonIV, _LogConcaveSampler

# (m, nu, a, lam): light and heavy tails, both skew signs, large m and |nu|,
# and the non-log-concave region 1/2 < m <= 1.
PARAMS = [
    (1.5, 0.0, 1.0, 0.0),
    (2.5, 3.0, 2.0, 1.0),
    (5.0, -5.5, 4.36, 4.0),
    (12.0, 8.0, 1.5, 2.0),
    (30.0, 50.0, 1.0, 0.0),
    (200.0, -400.0, 3.0, -2.0),
    (1000.0, 2000.0, 1.0, 0.0),
    (2.0, 100.0, 1.0, 0.0),
    (1.02, 30.0, 1.0, 0.0),
    (1.0, 2.0, 0.5, 0.0),
    (0.75, 1.0, 1.0, 0.0),
    (0.6, -3.0, 1.0, 0.0),
]


def _quad_total(d: PearsonIV, g=lambda x: 1.0) -> float:
    """int g f over R, split at the mode so quad sees the peak."""
    c = d.mode()
    f = lambda x: g(x) * d.pdf(x)  # noqa: E731
    kw = dict(limit=1000, epsabs=1e-14, epsrel=1e-12)
    return integrate.quad(f, -np.inf, c, **kw)[0] + integrate.quad(f, c, np.inf, **kw)[0]


@pytest.mark.parametrize("params", PARAMS)
def test_pdf_integrates_to_one(params):
    d = PearsonIV(*params)
    assert _quad_total(d) == pytest.approx(1.0, abs=1e-9)


def test_normalising_constant_large_parameters_finite():
    d = PearsonIV(m=5000.0, nu=-20000.0, a=2.0, lam=1.0)
    assert math.isfinite(d.log_norm)
    assert _quad_total(d) == pytest.approx(1.0, abs=1e-8)


def test_logpdf_consistent_and_stable_far_out():
    d = PearsonIV(3.0, 2.0, 1.5, -1.0)
    x = np.array([-1e250, -1e6, -3.0, 0.0, 2.0, 1e6, 1e250])
    lp = d.logpdf(x)
    assert np.all(np.isfinite(lp))
    np.testing.assert_allclose(np.exp(lp[1:-1]), d.pdf(x[1:-1]), rtol=1e-14)
    # Direct formula where it does not overflow.
    z = (x[1:-1] - d.lam) / d.a
    direct = d.log_norm - d.m * np.log1p(z * z) - d.nu * np.arctan(z)
    np.testing.assert_allclose(lp[1:-1], direct, rtol=1e-12)
    assert np.isnan(d.logpdf(np.nan))


@pytest.mark.parametrize("params", PARAMS)
def test_cdf_matches_quadrature(params):
    d = PearsonIV(*params)
    c = d.mode()
    kw = dict(limit=1000, epsabs=1e-15, epsrel=1e-13)
    f_mode = integrate.quad(d.pdf, -np.inf, c, **kw)[0]
    offsets = np.array([-40.0, -5.0, -1.0, -0.1, 0.0, 0.3, 1.0, 3.0, 40.0])
    # Scale: the standard deviation when finite, otherwise a.
    scale = d.std() if d.m > 1.5 else d.a
    xs = c + scale * offsets
    ref = np.array([f_mode + integrate.quad(d.pdf, c, x, **kw)[0] for x in xs])
    np.testing.assert_allclose(d.cdf(xs), ref, atol=2e-12, rtol=0)
    np.testing.assert_allclose(d.sf(xs), 1.0 - ref, atol=2e-12, rtol=0)


@pytest.mark.parametrize("params", PARAMS)
def test_cdf_shape_limits_monotone(params):
    d = PearsonIV(*params)
    x = d.lam + d.a * np.linspace(-60, 60, 2001)
    F = d.cdf(x)
    assert np.all(np.diff(F) >= -1e-15)
    assert np.all((F >= 0) & (F <= 1))
    assert d.cdf(-np.inf) == 0.0 and d.cdf(np.inf) == 1.0
    assert d.sf(np.inf) == 0.0 and d.sf(-np.inf) == 1.0
    assert np.isnan(d.cdf(np.nan))
    grid = x.reshape(3, -1)[:, :667]
    assert d.cdf(grid).shape == grid.shape


def test_mirror_symmetry():
    # X ~ PIV(m, nu, a, lam)  <=>  -X ~ PIV(m, -nu, a, -lam)
    d, e = PearsonIV(4.0, 6.0, 2.0, 1.0), PearsonIV(4.0, -6.0, 2.0, -1.0)
    x = np.linspace(-30, 30, 101)
    np.testing.assert_allclose(d.cdf(x), e.sf(-x), atol=1e-13)
    np.testing.assert_allclose(d.pdf(x), e.pdf(-x), rtol=1e-13)


@pytest.mark.parametrize("m", [0.75, 1.0, 1.5, 3.0, 20.0])
def test_nu_zero_is_scaled_student_t(m):
    a, lam = 2.0, 1.0
    d = PearsonIV(m, 0.0, a, lam)
    df = 2 * m - 1
    t = stats.t(df=df, loc=lam, scale=a / math.sqrt(df))
    x = np.linspace(-50, 50, 1001)
    np.testing.assert_allclose(d.pdf(x), t.pdf(x), rtol=1e-11)
    np.testing.assert_allclose(d.cdf(x), t.cdf(x), atol=1e-12)
    if m > 1.5:
        assert d.var() == pytest.approx(t.var(), rel=1e-12)


@pytest.mark.parametrize("params", [(3.5, 2.0, 1.5, 1.0), (5.0, -5.5, 4.36, 4.0), (8.0, 20.0, 0.5, -3.0)])
def test_closed_form_moments_match_quadrature(params):
    d = PearsonIV(*params)
    mu = _quad_total(d, lambda x: x)
    v = _quad_total(d, lambda x: (x - mu) ** 2)
    m3 = _quad_total(d, lambda x: (x - mu) ** 3)
    m4 = _quad_total(d, lambda x: (x - mu) ** 4)
    assert d.mean() == pytest.approx(mu, rel=1e-9, abs=1e-12)
    assert d.var() == pytest.approx(v, rel=1e-9)
    assert d.skewness() == pytest.approx(m3 / v**1.5, rel=1e-8)
    assert d.kurtosis() == pytest.approx(m4 / v**2 - 3.0, rel=1e-8)
    assert d.kurtosis(fisher=False) == pytest.approx(m4 / v**2, rel=1e-9)


def test_moment_existence_conventions():
    assert math.isnan(PearsonIV(1.0, 1.0).mean())
    assert math.isnan(PearsonIV(1.0, 1.0).var())
    assert PearsonIV(1.25, 1.0).var() == math.inf
    assert math.isfinite(PearsonIV(1.25, 1.0).mean())
    assert math.isnan(PearsonIV(2.0, 1.0).skewness())
    assert math.isfinite(PearsonIV(2.01, 1.0).skewness())
    assert PearsonIV(2.5, 1.0).kurtosis() == math.inf
    assert math.isnan(PearsonIV(1.4, 1.0).kurtosis())
    assert math.isfinite(PearsonIV(2.51, 1.0).kurtosis())
    assert PearsonIV(3.0, 0.0).skewness() == 0.0


def _delta_se(stat, mom: np.ndarray, n: int) -> float:
    """Asymptotic SE of stat(M1..M4), M_j the sample raw moments, by the delta method.

    mom[j] = E[Y^j] for j = 0..8; Cov(M_i, M_j) = (mom[i+j] - mom[i] mom[j]) / n.
    """
    point = mom[1:5].astype(float)
    grad = np.empty(4)
    for i in range(4):
        h = 1e-6 * max(1.0, abs(point[i]))
        up, dn = point.copy(), point.copy()
        up[i] += h
        dn[i] -= h
        grad[i] = (stat(up) - stat(dn)) / (2 * h)
    cov = np.array([[mom[i + j] - mom[i] * mom[j] for j in range(1, 5)] for i in range(1, 5)]) / n
    return float(math.sqrt(grad @ cov @ grad))


def _var_stat(M):
    return M[1] - M[0] ** 2


def _skew_stat(M):
    v = _var_stat(M)
    return (M[2] - 3 * M[0] * M[1] + 2 * M[0] ** 3) / v**1.5


def _kurt_stat(M):
    v = _var_stat(M)
    return (M[3] - 4 * M[0] * M[2] + 6 * M[0] ** 2 * M[1] - 3 * M[0] ** 4) / v**2 - 3.0


def test_sample_moments_agree_with_closed_forms():
    """10^6 draws; 5-sigma z-tests with delta-method standard errors.

    Working with Y = (X - mean)/sd (true mean, sd) makes every statistic
    location/scale free; the SEs need E[Y^j] up to j = 8, which exist for
    m = 12 (2m - 1 = 23 > 8) and are computed by quadrature.
    """
    d = PearsonIV(12.0, 8.0, 1.5, 2.0)
    n = 1_000_000
    x = d.sample(np.random.default_rng(20240601), n)
    mu, sd = d.mean(), d.std()
    y = (x - mu) / sd
    mom = np.array([1.0] + [_quad_total(d, lambda t, j=j: ((t - mu) / sd) ** j) for j in range(1, 9)])
    M = np.array([np.mean(y**j) for j in range(1, 5)])
    checks = {
        "mean": (M[0], 0.0, 1.0 / math.sqrt(n)),
        "var": (_var_stat(M), 1.0, _delta_se(_var_stat, mom, n)),
        "skew": (_skew_stat(M), d.skewness(), _delta_se(_skew_stat, mom, n)),
        "kurt": (_kurt_stat(M), d.kurtosis(), _delta_se(_kurt_stat, mom, n)),
    }
    for name, (est, true, se) in checks.items():
        assert abs(est - true) / se < 5.0, (name, est, true, se)


@pytest.mark.parametrize("params", PARAMS)
def test_ks_samples_vs_cdf(params):
    d = PearsonIV(*params)
    x = d.sample(np.random.default_rng(12345), 50_000)
    assert np.all(np.isfinite(x))
    assert stats.kstest(x, d.cdf).pvalue > 1e-3


@pytest.mark.parametrize("params", [(1.5, 0.0, 1.0, 0.0), (2.0, 100.0, 1.0, 0.0), (30.0, -50.0, 1.0, 0.0),
                                    (1.0001, 3.0, 1.0, 0.0), (500.0, 0.0, 1.0, 0.0)])
def test_log_concave_hat_dominates(params):
    """White-box check that the rejection hat is an upper bound (exactness)."""
    m, nu = params[0], abs(params[1])
    p = 2 * m - 2
    smp = _LogConcaveSampler(p, nu)
    s = np.concatenate([np.linspace(1e-9, math.pi - 1e-9, 200_001), smp.s0 + np.linspace(-1e-3, 1e-3, 2001)])
    s = s[(s > 0) & (s < math.pi)]
    logh = p * (np.log(np.sin(s)) - smp.lsin0) - nu * (s - smp.s0)
    sR = math.pi - smp.uR
    hat = np.where(s < smp.sL, smp.hL + smp.kL * (s - smp.sL),
                   np.where(s > sR, smp.hR - smp.kR * (s - sR), 0.0))
    assert np.all(logh <= hat + 1e-9)


def test_sampling_reproducible_and_shaped():
    d = PearsonIV(4.0, -3.0, 2.0, 5.0)
    a = d.sample(np.random.default_rng(7), (3, 4))
    b = d.sample(np.random.default_rng(7), (3, 4))
    c = d.sample(np.random.default_rng(8), (3, 4))
    assert a.shape == (3, 4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert d.sample(np.random.default_rng(0), 0).shape == (0,)
    heavy = PearsonIV(0.8, 2.0)
    np.testing.assert_array_equal(heavy.sample(np.random.default_rng(1), 100),
                                  heavy.sample(np.random.default_rng(1), 100))


def test_sampling_fast():
    d = PearsonIV.from_moments(7.0, 4.0, 1.0, 3.0)
    d.sample(np.random.default_rng(0), 10)  # build envelope
    best = math.inf
    for seed in range(3):
        t0 = time.perf_counter()
        d.sample(np.random.default_rng(seed), 1_000_000)
        best = min(best, time.perf_counter() - t0)
    assert best < 1.0


@pytest.mark.parametrize("params", [(3.5, 2.0, 1.5, 1.0), (5.0, -5.5, 4.36, 4.0), (12.0, 8.0, 1.0, 0.0),
                                    (4.0, 0.0, 2.0, 0.0), (40.0, -90.0, 7.0, 100.0)])
def test_from_moments_round_trip(params):
    d = PearsonIV(*params)
    e = PearsonIV.from_moments(d.mean(), d.var(), d.skewness(), d.kurtosis())
    np.testing.assert_allclose([e.m, e.nu, e.a, e.lam], params, rtol=1e-8, atol=1e-9)
    f = PearsonIV.from_moments(d.mean(), d.var(), d.skewness(), d.kurtosis(fisher=False), fisher=False)
    np.testing.assert_allclose([f.m, f.nu, f.a, f.lam], params, rtol=1e-8, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(m=st.floats(2.55, 25.0), nu=st.floats(-40.0, 40.0), a=st.floats(0.01, 100.0), lam=st.floats(-50.0, 50.0))
def test_from_moments_round_trip_property(m, nu, a, lam):
    d = PearsonIV(m, nu, a, lam)
    e = PearsonIV.from_moments(d.mean(), d.var(), d.skewness(), d.kurtosis())
    assert e.mean() == pytest.approx(d.mean(), rel=1e-7, abs=1e-7 * a)
    assert e.var() == pytest.approx(d.var(), rel=1e-7)
    assert e.skewness() == pytest.approx(d.skewness(), rel=1e-6, abs=1e-9)
    assert e.kurtosis() == pytest.approx(d.kurtosis(), rel=1e-6)
    assert e.m == pytest.approx(m, rel=1e-6)


def test_from_moments_reports_interpretable_moments():
    d = PearsonIV.from_moments(mean=7.0, var=4.0, skewness=1.0, kurtosis=3.0)
    assert (d.mean(), d.var(), d.skewness(), d.kurtosis()) == pytest.approx((7.0, 4.0, 1.0, 3.0), rel=1e-12)
    # Symmetric -> Student t; excess kurtosis 6/(df - 4) = 1 gives df = 10, m = 5.5.
    t = PearsonIV.from_moments(0.0, 2.0, 0.0, 1.0)
    assert t.nu == 0.0 and t.m == pytest.approx(5.5)
    assert t.var() == pytest.approx(2.0)


@pytest.mark.parametrize("args, match", [
    ((0.0, 0.0, 0.5, 2.0), "var"),
    ((0.0, -1.0, 0.5, 2.0), "var"),
    ((0.0, 1.0, 1.0, 0.5), "kurtosis"),       # below 2 beta2 - 3 beta1 - 6 = 0
    ((0.0, 1.0, 0.0, 0.0), "kurtosis"),       # normal: m would be infinite
    ((0.0, 1.0, 2.0, 7.0), "kappa"),          # type VI region: kappa > 1
    ((np.nan, 1.0, 0.5, 2.0), "mean"),
    ((0.0, 1.0, np.inf, 2.0), "skewness"),
])
def test_from_moments_invalid(args, match):
    with pytest.raises(ValueError, match=match):
        PearsonIV.from_moments(*args)


@pytest.mark.parametrize("kwargs, match", [
    (dict(m=0.5, nu=0.0), "m must"),
    (dict(m=0.2, nu=1.0), "m must"),
    (dict(m=2.0, nu=0.0, a=0.0), "a must"),
    (dict(m=2.0, nu=0.0, a=-1.0), "a must"),
    (dict(m=2.0, nu=np.nan), "nu"),
    (dict(m=2.0, nu=0.0, lam=np.inf), "lam"),
    (dict(m="x", nu=0.0), "m"),
])
def test_invalid_parameters_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PearsonIV(**kwargs)


def test_invalid_size_and_frozen():
    d = PearsonIV(3.0, 1.0)
    with pytest.raises(ValueError, match="size"):
        d.sample(np.random.default_rng(0), (2, -1))
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.m = 4.0  # type: ignore[misc]


@settings(max_examples=40, deadline=None)
@given(m=st.floats(0.55, 300.0), nu=st.floats(-300.0, 300.0))
def test_cdf_sf_consistent_property(m, nu):
    d = PearsonIV(m, nu)
    x = np.linspace(-20, 20, 41)
    F, S = d.cdf(x), d.sf(x)
    np.testing.assert_allclose(F + S, 1.0, atol=1e-12)
    assert np.all(np.diff(F) >= -1e-14)
    # Normalisation of the two half tables is exact up to quadrature error.
    left, right = d._halves
    assert left.total + right.total == pytest.approx(1.0, abs=1e-11)
