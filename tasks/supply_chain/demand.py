"""Synthetic daily demand for many products with weekly and annual seasonality.

The founding paper replays historical demand for 200 consumer-goods product
types. That data cannot be shipped, so RAO-Bench generates statistically
similar demand from seeds. The model per product i and absolute day t is

    mu[t, i] = b_i * exp(g_i t) * w_i[t mod 7] * (1 + A_i cos(2 pi (t - phi_i) / 365)),
    D[t, i] | eps ~ Poisson(mu[t, i] * M[t, i] * eps[t, i]),

i.e. a multiplicative decomposition (level x trend x weekly x annual), as in
the classical seasonal-decomposition / Holt-Winters literature (Hyndman &
Athanasopoulos, *Forecasting: Principles and Practice*, 3rd ed., ch. 3 and
8), with a Poisson count layer so that demand is non-negative integer data,
and a latent log-normal intensity noise

    eps[t, i] = exp(sigma_i eta[t, i] - sigma_i^2 / 2),  sigma_i^2 = log(1 + c_i^2),
    eta[t, i] = rho_i eta[t-1, i] + sqrt(1 - rho_i^2) xi[t, i],  xi ~ N(0, 1),

which has E[eps] = 1, CV[eps] = c_i exactly and lag-k log-autocorrelation
rho_i^k (a Poisson-log-normal AR(1) count model; Cox 1981, "Statistical
analysis of time series: some recent developments", Scand. J. Stat. 8).
Hence E[D] = mu M and Var[D] = mu M + (c mu M)^2: over-dispersed relative to
Poisson, like real retail demand. M is an optional shock multiplier path.

Day t = 0 is weekday 0 and day 0 of the annual cycle; ``start_day`` lets an
episode begin anywhere on the calendar without changing the product.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["DemandModel", "latent_noise", "DAYS_PER_WEEK", "DAYS_PER_YEAR"]

DAYS_PER_WEEK = 7
DAYS_PER_YEAR = 365.0


def _as_vector(name: str, value: ArrayLike, n: int | None) -> NDArray[np.float64]:
    arr = np.array(value, dtype=np.float64, copy=True)
    if arr.ndim != 1 or (n is not None and arr.shape[0] != n):
        want = "(n_products,)" if n is None else f"({n},)"
        raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    arr.flags.writeable = False
    return arr


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if int(value) < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


@dataclass(frozen=True, eq=False)
class DemandModel:
    """Per-product parameters of the seasonal Poisson-log-normal demand model.

    All arrays have leading dimension n_products and are stored read-only.

    Parameters
    ----------
    base : array, shape (n_products,)
        Level b_i > 0: mean units/day at t = 0 before seasonal multipliers.
    trend : array, shape (n_products,)
        Log-linear growth rate g_i per day (level b_i exp(g_i t));
        exponential rather than additive so the mean can never turn
        negative however long the horizon. 1e-3/day is about +44%/year.
    weekly : array, shape (n_products, 7)
        Weekday multipliers w_i[0..6] >= 0 with mean exactly 1 (tolerance
        1e-9), so the weekly cycle redistributes but does not change volume.
    annual_amplitude : array, shape (n_products,)
        A_i in [0, 1]: relative amplitude of the annual cosine.
    annual_peak_day : array, shape (n_products,)
        phi_i: day of the 365-day cycle on which the annual factor peaks.
    noise_cv : array, shape (n_products,)
        c_i >= 0: coefficient of variation of the latent intensity noise
        eps (not of the counts; those add Poisson variance, see module doc).
    ar1 : array, shape (n_products,), optional
        rho_i in (-1, 1): AR(1) coefficient of log eps (default 0: i.i.d.).
    """

    base: NDArray[np.float64]
    trend: NDArray[np.float64]
    weekly: NDArray[np.float64]
    annual_amplitude: NDArray[np.float64]
    annual_peak_day: NDArray[np.float64]
    noise_cv: NDArray[np.float64]
    ar1: NDArray[np.float64] | None = None

    def __post_init__(self) -> None:
        base = _as_vector("base", self.base, None)
        n = base.shape[0]
        if n < 1:
            raise ValueError("base must contain at least one product")
        if not np.all(base > 0):
            raise ValueError("base must be > 0 for every product")
        trend = _as_vector("trend", self.trend, n)
        weekly = np.array(self.weekly, dtype=np.float64, copy=True)
        if weekly.shape != (n, DAYS_PER_WEEK):
            raise ValueError(f"weekly must have shape ({n}, {DAYS_PER_WEEK}), got {weekly.shape}")
        if not np.all(np.isfinite(weekly)) or np.any(weekly < 0):
            raise ValueError("weekly multipliers must be finite and >= 0")
        if not np.allclose(weekly.mean(axis=1), 1.0, rtol=0, atol=1e-9):
            raise ValueError("weekly multipliers must have mean 1 per product (row means in [1-1e-9, 1+1e-9])")
        weekly.flags.writeable = False
        amp = _as_vector("annual_amplitude", self.annual_amplitude, n)
        if np.any((amp < 0) | (amp > 1)):
            raise ValueError("annual_amplitude must lie in [0, 1]")
        peak = _as_vector("annual_peak_day", self.annual_peak_day, n)
        cv = _as_vector("noise_cv", self.noise_cv, n)
        if np.any(cv < 0):
            raise ValueError("noise_cv must be >= 0")
        ar1 = _as_vector("ar1", np.zeros(n) if self.ar1 is None else self.ar1, n)
        if np.any(np.abs(ar1) >= 1):
            raise ValueError("ar1 must lie in the open interval (-1, 1)")
        for name, val in (("base", base), ("trend", trend), ("weekly", weekly), ("annual_amplitude", amp),
                          ("annual_peak_day", peak), ("noise_cv", cv), ("ar1", ar1)):
            object.__setattr__(self, name, val)

    @property
    def n_products(self) -> int:
        """Number of products (columns of every generated array)."""
        return int(self.base.shape[0])

    # ------------------------------------------------------------------ draw
    @classmethod
    def draw(
        cls,
        n_products: int,
        rng: np.random.Generator,
        *,
        base_median: float = 20.0,
        base_log_sd: float = 1.2,
        trend_sd: float = 2e-4,
        weekly_strong_fraction: float = 0.3,
        weekly_concentration_strong: float = 4.0,
        weekly_concentration_weak: float = 60.0,
        annual_amplitude_max: float = 0.4,
        noise_cv_low: float = 0.1,
        noise_cv_high: float = 0.4,
        ar1_max: float = 0.5,
    ) -> "DemandModel":
        """Draw a heterogeneous product family (the "200 consumer goods").

        Distributions (independent across products; keyword names in brackets):

        * b_i ~ LogNormal(log base_median, base_log_sd) [20, 1.2]: a 5-95 %
          range of about 3-140 units/day, i.e. slow and fast movers.
        * g_i ~ Normal(0, trend_sd) [2e-4/day, about +-7 %/year]: small
          positive and negative trends.
        * w_i = 7 * Dirichlet(alpha * 1_7), alpha = weekly_concentration_strong
          [4] with probability weekly_strong_fraction [0.3], else
          weekly_concentration_weak [60]. Each weekday multiplier then has CV
          sqrt(6 / (7 alpha + 1)): 0.45 (strong) or 0.12 (weak); the mean is
          exactly 1 by construction.
        * A_i ~ Uniform(0, annual_amplitude_max) [0.4], phi_i ~ Uniform(0, 365).
        * c_i ~ Uniform(noise_cv_low, noise_cv_high) [0.1, 0.4].
        * rho_i ~ Uniform(0, ar1_max) [0.5].

        Parameters
        ----------
        n_products : int
            Number of products N >= 1.
        rng : numpy.random.Generator
            Source of randomness; the same seed gives the same family.
        """
        n = _check_int("n_products", n_products, 1)
        if not (base_median > 0 and math.isfinite(base_median)):
            raise ValueError(f"base_median must be finite and > 0, got {base_median!r}")
        for name, val in (("base_log_sd", base_log_sd), ("trend_sd", trend_sd)):
            if not (val >= 0 and math.isfinite(val)):
                raise ValueError(f"{name} must be finite and >= 0, got {val!r}")
        if not 0.0 <= weekly_strong_fraction <= 1.0:
            raise ValueError(f"weekly_strong_fraction must lie in [0, 1], got {weekly_strong_fraction!r}")
        for name, val in (("weekly_concentration_strong", weekly_concentration_strong),
                          ("weekly_concentration_weak", weekly_concentration_weak)):
            if not (val > 0 and math.isfinite(val)):
                raise ValueError(f"{name} must be finite and > 0, got {val!r}")
        if not 0.0 <= annual_amplitude_max <= 1.0:
            raise ValueError(f"annual_amplitude_max must lie in [0, 1], got {annual_amplitude_max!r}")
        if not (0.0 <= noise_cv_low <= noise_cv_high and math.isfinite(noise_cv_high)):
            raise ValueError(f"need 0 <= noise_cv_low <= noise_cv_high < inf, got {noise_cv_low!r}, {noise_cv_high!r}")
        if not 0.0 <= ar1_max < 1.0:
            raise ValueError(f"ar1_max must lie in [0, 1), got {ar1_max!r}")

        base = base_median * np.exp(base_log_sd * rng.standard_normal(n))
        trend = trend_sd * rng.standard_normal(n)
        strong = rng.random(n) < weekly_strong_fraction
        alpha = np.where(strong, weekly_concentration_strong, weekly_concentration_weak)
        # Dirichlet via normalised gammas (vectorised over products).
        gam = rng.gamma(alpha[:, None], 1.0, size=(n, DAYS_PER_WEEK))
        weekly = gam / gam.mean(axis=1, keepdims=True)
        amp = rng.uniform(0.0, annual_amplitude_max, n)
        peak = rng.uniform(0.0, DAYS_PER_YEAR, n)
        cv = rng.uniform(noise_cv_low, noise_cv_high, n)
        ar1 = rng.uniform(0.0, ar1_max, n)
        return cls(base=base, trend=trend, weekly=weekly, annual_amplitude=amp,
                   annual_peak_day=peak, noise_cv=cv, ar1=ar1)

    # ------------------------------------------------------------ mean path
    def _multiplier(self, multiplier: ArrayLike | None, n_days: int) -> NDArray[np.float64] | None:
        if multiplier is None:
            return None
        mult = np.asarray(multiplier, dtype=np.float64)
        if mult.shape == (n_days,):
            mult = mult[:, None]
        elif mult.shape != (n_days, self.n_products):
            raise ValueError(f"multiplier must have shape ({n_days},) or ({n_days}, {self.n_products}), "
                             f"got {mult.shape}")
        if not np.all(np.isfinite(mult)) or np.any(mult < 0):
            raise ValueError("multiplier must be finite and >= 0")
        return mult

    def mean(self, n_days: int, start_day: int = 0, multiplier: ArrayLike | None = None) -> NDArray[np.float64]:
        """Deterministic seasonal mean path E[D[t, i]] = mu[t, i] M[t, i].

        Parameters
        ----------
        n_days : int
            Horizon length T >= 0.
        start_day : int
            Absolute calendar day t_0 of the first row (sets weekday t mod 7,
            annual phase and trend position).
        multiplier : array, shape (T,) or (T, n_products), optional
            Shock factor path M >= 0 (1 = no shock).

        Returns
        -------
        numpy.ndarray, shape (T, n_products), float64
            Useful as the "perfect forecast" for LP baselines.
        """
        n_days = _check_int("n_days", n_days, 0)
        start_day = _check_int("start_day", start_day, -(2**62))
        t = start_day + np.arange(n_days)
        level = self.base * np.exp(np.outer(t, self.trend))
        week = self.weekly[:, np.mod(t, DAYS_PER_WEEK)].T
        annual = 1.0 + self.annual_amplitude * np.cos(
            (2.0 * math.pi / DAYS_PER_YEAR) * (t[:, None] - self.annual_peak_day))
        mu = level * week * annual
        mult = self._multiplier(multiplier, n_days)
        return mu if mult is None else mu * mult

    # -------------------------------------------------------------- sampling
    def generate(self, n_days: int, start_day: int, rng: np.random.Generator,
                 multiplier: ArrayLike | None = None) -> NDArray[np.int64]:
        """Draw integer daily demand D[t, i] (module docstring model).

        Parameters
        ----------
        n_days : int
            Horizon length T >= 0.
        start_day : int
            Absolute calendar day t_0 of the first row.
        rng : numpy.random.Generator
            Source of randomness; same seed gives identical demand.
        multiplier : array, shape (T,) or (T, n_products), optional
            Shock factor path M >= 0 applied to the mean, e.g. a demand
            shock or a seasonal regime change from some day on.

        Returns
        -------
        numpy.ndarray, shape (T, n_products), int64, >= 0

        Notes
        -----
        The latent AR(1) noise is started from its stationary law at t_0, so
        one call is one independent stationary stretch. Vectorised over
        products; 200 products x 400 days takes about 2 ms.
        """
        mu = self.mean(n_days, start_day, multiplier)
        eta = latent_noise(rng.standard_normal((n_days, self.n_products)), self.ar1)
        return self.realise(mu, eta, rng)

    def realise(self, mean: NDArray[np.float64], eta: NDArray[np.float64],
                rng: np.random.Generator) -> NDArray[np.int64]:
        """Poisson counts D ~ Poisson(mean * exp(sigma eta - sigma^2 / 2)) (module docstring),
        given the mean path and the latent noise eta (both (T, n_products))."""
        sigma = np.sqrt(np.log1p(self.noise_cv ** 2))
        intensity = mean * np.exp(sigma * eta - 0.5 * sigma * sigma)
        return rng.poisson(intensity).astype(np.int64, copy=False)


def latent_noise(xi: NDArray[np.float64], rho: NDArray[np.float64],
                 eta_prev: NDArray[np.float64] | None = None) -> NDArray[np.float64]:
    """The latent AR(1) path eta[t] = rho eta[t-1] + sqrt(1 - rho^2) xi[t] (module docstring)
    from standard normal innovations xi (T, n). Without ``eta_prev`` the path starts from its
    stationary law (eta[0] = xi[0]); with it, the path continues a previous one, so that a
    warm-up history and an episode are one process."""
    rho = np.asarray(rho, dtype=np.float64)
    n_days = len(xi)
    if eta_prev is None and (not np.any(rho != 0.0) or n_days <= 1):
        return xi
    innov = np.sqrt(1.0 - rho * rho)
    eta = np.empty_like(xi)
    if n_days == 0:
        return eta
    eta[0] = xi[0] if eta_prev is None else rho * eta_prev + innov * xi[0]
    for k in range(1, n_days):
        eta[k] = rho * eta[k - 1] + innov * xi[k]
    return eta
