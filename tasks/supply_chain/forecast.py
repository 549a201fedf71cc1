"""Cheap per-product demand forecaster for the supply-chain simulator.

The founding paper gives each agent "an incoming order forecast (ARIMA
models) fitted on past demand". Refitting an ARIMA per product per simulated
day (200 products x hundreds of days x many seeds) would dominate the cost of
an episode, so RAO-Bench uses additive Holt-Winters exponential smoothing
with a damped trend and fixed smoothing constants instead:

* it is the innovations state-space model ETS(A,Ad,A), whose forecasts
  coincide with those of a particular seasonal ARIMA (Hyndman &
  Athanasopoulos, *Forecasting: Principles and Practice*, 3rd ed. [FPP],
  sec. 8.5 and 9.10; Gardner & McKenzie 1985 for the damped trend), so it
  is in the model class the paper refers to;
* one update is O(1) per product and vectorises over all products in a few
  array operations (no optimiser, no per-product loop), and it is
  deterministic, so every agent and baseline sees identical forecasts;
* additive (not multiplicative) seasonality stays well defined for slow
  movers whose daily demand is often 0.

Recurrences ([FPP] sec. 8.3, with the damped trend of sec. 8.2), season length s:

    l_t = alpha (y_t - s_{t-s}) + (1 - alpha)(l_{t-1} + phi b_{t-1})
    b_t = beta (l_t - l_{t-1}) + (1 - beta) phi b_{t-1}
    s_t = gamma (y_t - l_{t-1} - phi b_{t-1}) + (1 - gamma) s_{t-s}
    yhat_{t+h|t} = max(0, l_t + (phi + ... + phi^h) b_t + s_{t+h-s(k+1)}),
                   k = floor((h - 1) / s).

Initialisation (classical decomposition on the first two seasons): the
trend is the difference of the two seasonal means divided by s, the level
is the first season's mean moved to its last day, and the seasonal indices
are the first season's detrended values. This is exact for noiseless
"linear trend + additive season" input, so such series are forecast
exactly from the first full update onward.
"""

from __future__ import annotations

import math
import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["Forecaster"]


def _unit(name: str, value: float, *, open_low: bool = False) -> float:
    v = float(value)
    ok = (0.0 < v <= 1.0) if open_low else (0.0 <= v <= 1.0)
    if not (math.isfinite(v) and ok):
        rng = "(0, 1]" if open_low else "[0, 1]"
        raise ValueError(f"{name} must lie in {rng}, got {value!r}")
    return v


class Forecaster:
    """Vectorised additive damped Holt-Winters forecaster (ETS(A,Ad,A)).

    Parameters
    ----------
    n_products : int
        Number N of independent series (columns).
    season : int
        Season length s >= 1 in days (7: weekly cycle).
    alpha : float
        Level smoothing alpha in [0, 1] ([FPP] sec. 8.3).
    beta : float
        Trend smoothing beta* in [0, 1]; small, because daily demand trends
        are weak and a jumpy trend extrapolates noise over the horizon.
    gamma : float
        Seasonal smoothing gamma in [0, 1].
    phi : float
        Trend damping phi in (0, 1] (Gardner & McKenzie 1985); phi = 1 is
        the undamped Holt-Winters method, phi < 1 flattens long-horizon
        trend extrapolation, which is safer for replenishment decisions.

    The defaults were chosen on ``DemandModel.draw`` families (tests report
    the resulting accuracy); they are fixed, not fitted, by design.
    """

    def __init__(self, n_products: int, season: int = 7, alpha: float = 0.1, beta: float = 0.01,
                 gamma: float = 0.05, phi: float = 0.98) -> None:
        if isinstance(n_products, bool) or not isinstance(n_products, (int, np.integer)) or n_products < 1:
            raise ValueError(f"n_products must be an integer >= 1, got {n_products!r}")
        if isinstance(season, bool) or not isinstance(season, (int, np.integer)) or season < 1:
            raise ValueError(f"season must be an integer >= 1, got {season!r}")
        self.n_products = int(n_products)
        self.season = int(season)
        self.alpha = _unit("alpha", alpha)
        self.beta = _unit("beta", beta)
        self.gamma = _unit("gamma", gamma)
        self.phi = _unit("phi", phi, open_low=True)
        self.reset()

    # ---------------------------------------------------------------- state
    def reset(self) -> None:
        """Forget all observations."""
        n, s = self.n_products, self.season
        self._level = np.zeros(n)
        self._trend = np.zeros(n)
        self._seasonal = np.zeros((s, n))  # row j holds the index for time t with t mod s == j
        self._t = 0  # number of observations processed
        self._buffer: list[NDArray[np.float64]] = []
        self._initialised = False

    @property
    def n_observed(self) -> int:
        """Number of observations seen since the last reset."""
        return self._t

    @property
    def initialised(self) -> bool:
        """True once two full seasons have been observed."""
        return self._initialised

    @property
    def level(self) -> NDArray[np.float64]:
        """Current level l_t, shape (n_products,) (copy)."""
        return self._level.copy()

    @property
    def trend(self) -> NDArray[np.float64]:
        """Current trend b_t per day, shape (n_products,) (copy)."""
        return self._trend.copy()

    @property
    def seasonal(self) -> NDArray[np.float64]:
        """Seasonal indices for the next s days, shape (season, n_products) (copy)."""
        idx = (self._t + np.arange(self.season)) % self.season
        return self._seasonal[idx].copy()

    def _check_obs(self, observed: ArrayLike) -> NDArray[np.float64]:
        y = np.asarray(observed, dtype=np.float64)
        if y.shape != (self.n_products,):
            raise ValueError(f"observed must have shape ({self.n_products},), got {y.shape}")
        if not np.all(np.isfinite(y)):
            raise ValueError("observed must be finite")
        return y

    def _initialise(self, first: NDArray[np.float64]) -> None:
        """Classical two-season start; ``first`` has shape (2s, n)."""
        s = self.season
        m1 = first[:s].mean(axis=0)
        m2 = first[s:].mean(axis=0)
        b = (m2 - m1) / s
        centre = 0.5 * (s - 1)
        self._trend = b
        self._level = m1 + b * (s - 1 - centre)  # level at time s - 1
        self._seasonal = first[:s] - (m1 + b * (np.arange(s)[:, None] - centre))
        self._t = s
        self._initialised = True
        for row in first[s:]:
            self._step(row)

    def _step(self, y: NDArray[np.float64]) -> None:
        j = self._t % self.season
        s_old = self._seasonal[j]
        damped = self.phi * self._trend
        pred_level = self._level + damped
        level = self.alpha * (y - s_old) + (1.0 - self.alpha) * pred_level
        self._trend = self.beta * (level - self._level) + (1.0 - self.beta) * damped
        self._seasonal[j] = self.gamma * (y - pred_level) + (1.0 - self.gamma) * s_old
        self._level = level
        self._t += 1

    # ------------------------------------------------------------------ API
    def update(self, observed: ArrayLike) -> None:
        """Incorporate one day's demand y_t (shape (n_products,)).

        Parameters
        ----------
        observed : array, shape (n_products,)
            Demand y_t of the day just finished. Until 2 * season days have
            been seen the values are buffered; the model is then initialised
            from them (see module docstring).
        """
        y = self._check_obs(observed)
        if self._initialised:
            self._step(y)
            return
        self._buffer.append(y.copy())
        if len(self._buffer) == 2 * self.season:
            first = np.stack(self._buffer)
            self._buffer = []
            self._initialise(first)

    def warm_start(self, history: ArrayLike) -> None:
        """Reset and fit the state to a history of shape (n_days, n_products).

        Parameters
        ----------
        history : array, shape (T, n_products)
            Past demand, oldest first; T >= 2 * season. Equivalent to
            ``reset()`` followed by ``update`` on every row.
        """
        h = np.asarray(history, dtype=np.float64)
        if h.ndim != 2 or h.shape[1] != self.n_products:
            raise ValueError(f"history must have shape (n_days, {self.n_products}), got {h.shape}")
        if h.shape[0] < 2 * self.season:
            raise ValueError(f"history needs at least 2 * season = {2 * self.season} days, got {h.shape[0]}")
        if not np.all(np.isfinite(h)):
            raise ValueError("history must be finite")
        self.reset()
        self._initialise(h[: 2 * self.season])
        for row in h[2 * self.season:]:
            self._step(row)

    def forecast(self, horizon: int) -> NDArray[np.float64]:
        """Point forecasts yhat_{t+1..t+H | t}, shape (H, n_products), >= 0.

        Parameters
        ----------
        horizon : int
            H >= 1 days ahead.

        Before initialisation the forecast is flat at the mean of the days
        seen so far (0 if none): a naive stand-in for the first two weeks.
        """
        if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
            raise ValueError(f"horizon must be an integer >= 1, got {horizon!r}")
        H = int(horizon)
        if not self._initialised:
            flat = np.mean(self._buffer, axis=0) if self._buffer else np.zeros(self.n_products)
            return np.tile(np.maximum(flat, 0.0), (H, 1))
        h = np.arange(1, H + 1)
        if self.phi == 1.0:
            damp = h.astype(np.float64)
        else:
            damp = self.phi * (1.0 - self.phi ** h) / (1.0 - self.phi)
        # Most recent seasonal index for time t - 1 + h lives in row (t - 1 + h) mod s.
        season_rows = self._seasonal[(self._t - 1 + h) % self.season]
        out = self._level + damp[:, None] * self._trend + season_rows
        return np.maximum(out, 0.0)

    def __repr__(self) -> str:
        return (f"Forecaster(n_products={self.n_products}, season={self.season}, alpha={self.alpha}, "
                f"beta={self.beta}, gamma={self.gamma}, phi={self.phi}, n_observed={self._t})")
