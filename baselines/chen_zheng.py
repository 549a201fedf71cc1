"""Optimal echelon base-stock levels for a serial system (Clark & Scarf 1960; Chen & Zheng 1994).

This module is the *theory* against which ``supply_chain/Serial-v1`` is validated: it computes
the optimal echelon base-stock levels ``S*`` and the optimal long-run expected cost per period
``C*`` of the periodic-review serial system of Snyder & Shen, *Fundamentals of Supply Chain
Theory* (2nd ed., 2019), §6.2, with the exact algorithm of §6.2.3 (their eqs. 6.8-6.13, which
restate Chen & Zheng 1994, §2):

    C̲_0(x) = (p + h'_1) x⁻                                   (6.8)
    Ĉ_j(x) = h_j x + C̲_{j-1}(x)                              (6.9)
    C_j(y) = E[ Ĉ_j(y - D̃_j) ]                               (6.10)
    S*_j   = argmin_y C_j(y)                                 (6.11)
    C̲_j(x) = C_j(min{S*_j, x})                               (6.12)
    C*     = C_N(S*_N)                                       (6.13)

for j = 1 (downstream, faces demand) ... N (upstream, supplied by an infinite source), where
``h_j = h'_j - h'_{j+1}`` (``h'_{N+1} = 0``) is stage j's *echelon* holding cost, ``h'_j`` its
*local* (installation) holding cost, ``p`` the stockout cost per unit backordered per period at
stage 1, and ``D̃_j`` the demand over stage j's shipment lead time ``L_j`` (``L_j`` periods).

Why it works (Clark & Scarf 1960): charging each echelon its echelon holding cost on its echelon
inventory level plus ``(p + h'_1)`` on stage-1 backorders equals the system's local holding +
stockout cost exactly, and under an echelon base-stock policy the echelons decouple, each
facing a newsvendor-like problem whose "shortage" cost is the downstream optimal cost-to-go.

Numerics. Poisson demand is computed exactly on the integer grid (probability mass beyond
``1 - 1e-12`` of each lead-time demand is lumped on the last support point). Normal demand is
continuous: the functions live on a uniform grid of step ``δ`` (default ``σ/100``) spanning
``[-(10 sd_tot + δ), μ_tot + 10 sd_tot]`` where ``μ_tot, sd_tot`` are the mean and sd of demand
over all lead times; each lead-time demand is discretised into cells of width δ (mass
``F(kδ + δ/2) - F(kδ - δ/2)``, tails beyond 9 sd lumped on the end cells) and the expectation
(6.10) is a discrete convolution; ``Ĉ_j`` is extended linearly beyond the grid (it is affine
there). ``S*`` is then refined by a parabola through the three grid points around the minimum.
The midpoint rule makes the error O(δ²): with the default δ, ``C*`` changes by < 1e-5 relative
when δ is halved (checked in ``tests/supply_chain/test_chen_zheng.py``), far below stockpyl's
own discretisation error (~0.2 %, it uses 100 demand cells per lead time).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from scipy import signal, stats

__all__ = [
    "echelon_holding_costs",
    "local_holding_costs",
    "echelon_to_local_base_stock",
    "local_to_echelon_base_stock",
    "optimal_echelon_base_stock",
    "expected_cost",
    "optimal_local_base_stock",
]

_DISTS = ("normal", "poisson")
_POISSON_TAIL = 1e-12   # lead-time demand mass beyond this upper quantile is lumped on the end
_NORMAL_SDS = 9.0       # normal lead-time demand truncated at ± this many sd (mass lumped)


# --------------------------------------------------------------------------------------------
# echelon <-> local conversions
# --------------------------------------------------------------------------------------------

def echelon_holding_costs(local: Sequence[float]) -> np.ndarray:
    """Echelon holding costs ``h_j = h'_j - h'_{j+1}`` (with ``h'_{N+1} = 0``) from local ones.

    Args:
        local: local (installation) holding costs ``h'_1..h'_N`` per unit per period, stage 1
            (downstream) first [S&S §6.2.1].

    Why: the Clark-Scarf decomposition charges each echelon only the value added at its own
    stage, so that the sum over echelons equals the local holding cost of every unit.
    """
    h_local = np.asarray(local, dtype=float).reshape(-1)
    return h_local - np.append(h_local[1:], 0.0)


def local_holding_costs(echelon: Sequence[float]) -> np.ndarray:
    """Local holding costs ``h'_j = Σ_{i>=j} h_i`` from echelon costs (inverse of the above).

    Args:
        echelon: echelon holding costs ``h_1..h_N``, stage 1 first [S&S eq. 6.1].
    """
    h = np.asarray(echelon, dtype=float).reshape(-1)
    return np.cumsum(h[::-1])[::-1].copy()


def echelon_to_local_base_stock(echelon_S: Sequence[float]) -> np.ndarray:
    """Installation (local) base-stock levels equivalent to echelon base-stock levels.

    Args:
        echelon_S: echelon base-stock levels ``S_1..S_N``, stage 1 first.

    Returns:
        ``s_j = S̃_j - S̃_{j-1}`` with ``S̃_0 = 0`` and ``S̃_j = min_{i>=j} S_i``.

    Why: an echelon's inventory position can never exceed the next upstream echelon's level, so
    echelon levels above an upstream one are never reached and may be lowered to it without
    changing the policy (Chen & Zheng 1994, §3); once monotone, an echelon base-stock policy is
    the installation base-stock policy with these differences, each stage ordering up to
    ``s_j`` on its own (local) inventory position (Axsäter & Rosling 1993, "Installation vs.
    echelon stock policies for multilevel inventory control", Management Science 39(10);
    S&S §6.2.4).
    """
    S = np.asarray(echelon_S, dtype=float).reshape(-1)
    S_tilde = np.minimum.accumulate(S[::-1])[::-1]
    return np.diff(np.concatenate(([0.0], S_tilde)))


def local_to_echelon_base_stock(local_s: Sequence[float]) -> np.ndarray:
    """Echelon base-stock levels ``S_j = Σ_{i<=j} s_i`` from installation levels ``s_j``.

    Args:
        local_s: installation base-stock levels ``s_1..s_N``, stage 1 first.
    """
    return np.cumsum(np.asarray(local_s, dtype=float).reshape(-1))


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------

def _validate(lead_times: Sequence[int], holding_costs: Sequence[float], stockout_cost: float,
              demand_dist: str, demand_mean: float, demand_sd: float | None,
              holding: str) -> tuple[np.ndarray, np.ndarray, float, float]:
    L = np.asarray(lead_times, dtype=float).reshape(-1)
    if L.size == 0:
        raise ValueError("lead_times is empty: give one shipment lead time per stage, stage 1 first")
    if np.any(L < 0) or np.any(L != np.round(L)):
        raise ValueError(f"lead_times must be non-negative integers (periods); got {list(L)}")
    h_in = np.asarray(holding_costs, dtype=float).reshape(-1)
    if h_in.size != L.size:
        raise ValueError(f"holding_costs has {h_in.size} entries but lead_times has {L.size}: "
                         "give one holding cost per stage, stage 1 first")
    if holding not in ("local", "echelon"):
        raise ValueError(f"holding must be 'local' or 'echelon', got {holding!r}")
    h = echelon_holding_costs(h_in) if holding == "local" else h_in
    if np.any(h < 0):
        raise ValueError("echelon holding costs must be >= 0 (local holding costs must not increase "
                         f"upstream); echelon costs were {list(np.round(h, 6))}. With a negative "
                         "echelon cost the recursion has no minimiser: merge those stages instead")
    if not np.isfinite(stockout_cost) or stockout_cost < 0:
        raise ValueError(f"stockout_cost must be a finite number >= 0, got {stockout_cost!r}")
    if demand_dist not in _DISTS:
        raise ValueError(f"demand_dist must be one of {_DISTS}, got {demand_dist!r}")
    if not demand_mean > 0:
        raise ValueError(f"demand_mean must be > 0, got {demand_mean!r}")
    if demand_dist == "poisson":
        sd = float(np.sqrt(demand_mean))
    else:
        if demand_sd is None or not demand_sd > 0:
            raise ValueError(f"normal demand needs demand_sd > 0, got {demand_sd!r}")
        sd = float(demand_sd)
    return L.astype(int), h, float(stockout_cost), sd


# --------------------------------------------------------------------------------------------
# the recursion
# --------------------------------------------------------------------------------------------

def _ltd_pmf(dist: str, mean: float, sd: float, L: int, step: float) -> tuple[int, np.ndarray]:
    """Discretised lead-time demand D̃_j on multiples of ``step``: (first offset k0, masses)."""
    if L == 0:
        return 0, np.ones(1)
    if dist == "poisson":
        mu = mean * L
        hi = int(stats.poisson.isf(_POISSON_TAIL, mu)) + 1
        k = np.arange(hi + 1)
        pmf = stats.poisson.pmf(k, mu)
        pmf[-1] += stats.poisson.sf(hi, mu)
        return 0, pmf
    mu, s = mean * L, sd * np.sqrt(L)
    k0 = int(np.floor((mu - _NORMAL_SDS * s) / step))
    k1 = int(np.ceil((mu + _NORMAL_SDS * s) / step))
    edges = (np.arange(k0, k1 + 2) - 0.5) * step
    cdf = stats.norm.cdf(edges, mu, s)
    cdf[0], cdf[-1] = 0.0, 1.0          # lump the (< 1e-18) tails on the end cells
    return k0, np.diff(cdf)


def _extend(values: np.ndarray, below: int, above: int) -> np.ndarray:
    """Pad a function sampled on a uniform grid with its end slopes (it is affine out there)."""
    lo_slope = values[1] - values[0]
    hi_slope = values[-1] - values[-2]
    lo = values[0] - lo_slope * np.arange(below, 0, -1)
    hi = values[-1] + hi_slope * np.arange(1, above + 1)
    return np.concatenate((lo, values, hi))


def _expect(c_hat: np.ndarray, k0: int, pmf: np.ndarray) -> np.ndarray:
    """C(y_i) = Σ_k pmf_k Ĉ(y_i - (k0+k)δ) on the same grid (eq. 6.10)."""
    k1 = k0 + pmf.size - 1
    below, above = max(k1, 0), max(-k0, 0)
    ext = _extend(c_hat, below, above)
    # ext index of grid point i is i + below; we need ext[i + below - (k0 + k)]
    full = signal.fftconvolve(ext, pmf, mode="full") if pmf.size > 64 else np.convolve(ext, pmf)
    # full[m] = Σ_k ext[m - k] pmf[k]; choose m - k = i + below - k0 - k  =>  m = i + below - k0
    start = below - k0
    return full[start:start + c_hat.size]


def _refine(x: np.ndarray, c: np.ndarray, discrete: bool) -> tuple[float, float]:
    """Minimiser and minimum of c on grid x; a parabola through the 3 points around the grid
    minimum refines both for continuous demand (the function is smooth there)."""
    i = int(np.argmin(c))
    if discrete or i == 0 or i == c.size - 1:
        return float(x[i]), float(c[i])
    c0, c1, c2 = c[i - 1], c[i], c[i + 1]
    denom = c0 - 2.0 * c1 + c2
    if denom <= 0:
        return float(x[i]), float(c1)
    off = 0.5 * (c0 - c2) / denom
    step = x[1] - x[0]
    return float(x[i] + off * step), float(c1 - 0.25 * (c0 - c2) * off)


def _recursion(L: np.ndarray, h: np.ndarray, p: float, dist: str, mean: float, sd: float,
               grid_step: float | None, S_given: np.ndarray | None) -> tuple[np.ndarray, float]:
    N = L.size
    discrete = dist == "poisson"
    tot_mean, tot_sd = mean * L.sum(), sd * np.sqrt(max(L.sum(), 1))
    if discrete:
        step = 1.0
        lo = -int(np.ceil(10 * tot_sd)) - 1
        hi = int(stats.poisson.isf(_POISSON_TAIL, max(tot_mean, 1e-9))) + int(10 * tot_sd) + 1
    else:
        step = float(grid_step) if grid_step is not None else sd / 100.0
        if not step > 0:
            raise ValueError(f"grid_step must be > 0, got {grid_step!r}")
        lo = int(np.floor(-(10 * tot_sd) / step)) - 1
        hi = int(np.ceil((tot_mean + 10 * tot_sd) / step))
    if S_given is not None:
        hi = max(hi, int(np.ceil(np.max(S_given) / step)) + 2)
        lo = min(lo, int(np.floor(np.min(S_given) / step)) - 2)
    x = np.arange(lo, hi + 1) * step
    c_bar = (p + h.sum()) * np.maximum(-x, 0.0)        # C̲_0, eq. 6.8 (h.sum() = h'_1)
    S = np.empty(N)
    c_star = 0.0
    for j in range(N):
        c_hat = h[j] * x + c_bar                        # eq. 6.9
        k0, pmf = _ltd_pmf(dist, mean, sd, int(L[j]), step)
        c = _expect(c_hat, k0, pmf)                     # eq. 6.10
        if S_given is None:
            S[j], c_star = _refine(x, c, discrete)      # eq. 6.11
        else:
            S[j] = S_given[j]
            c_star = float(np.interp(S[j], x, c))
        c_bar = np.where(x < S[j], c, c_star)           # eq. 6.12
    return S, c_star                                    # eq. 6.13


@lru_cache(maxsize=256)
def _cached(L: tuple, h: tuple, p: float, dist: str, mean: float, sd: float,
            grid_step: float | None) -> tuple[tuple, float]:
    S, c = _recursion(np.asarray(L), np.asarray(h), p, dist, mean, sd, grid_step, None)
    return tuple(S.tolist()), c


def optimal_echelon_base_stock(lead_times: Sequence[int], holding_costs: Sequence[float],
                               stockout_cost: float, demand_dist: str, demand_mean: float,
                               demand_sd: float | None = None, *, holding: str = "local",
                               grid_step: float | None = None) -> tuple[np.ndarray, float]:
    """Chen-Zheng optimal echelon base-stock levels and optimal expected cost per period.

    Args:
        lead_times: shipment lead times ``L_1..L_N`` in periods, stage 1 (downstream) first
            [S&S §6.2.1].
        holding_costs: holding costs per unit per period, stage 1 first: local ``h'_j`` if
            ``holding="local"`` (the default, as in the env's parameters), echelon ``h_j``
            if ``holding="echelon"``.
        stockout_cost: ``p``, cost per unit backordered at stage 1 per period.
        demand_dist: ``"normal"`` (``N(μ, σ²)`` per period) or ``"poisson"`` (mean μ).
        demand_mean: ``μ = E[D]`` per period.
        demand_sd: ``σ``, required for normal demand (ignored for Poisson, whose sd is √μ).
        holding: ``"local"`` or ``"echelon"``, how to read ``holding_costs``.
        grid_step: normal demand only: the discretisation step ``δ`` (default ``σ/100``).

    Returns:
        ``(S_star, C_star)``: echelon levels ``S*_1..S*_N`` (stage 1 first; integers for Poisson)
        and ``C*`` (S&S eqs. 6.8-6.13; Chen & Zheng 1994, Theorem 2 / Clark & Scarf 1960).

    Raises:
        ValueError: naming the bad parameter (lengths, signs, distribution, negative echelon
            holding cost).
    """
    L, h, p, sd = _validate(lead_times, holding_costs, stockout_cost, demand_dist,
                            demand_mean, demand_sd, holding)
    S, c = _cached(tuple(int(v) for v in L), tuple(float(v) for v in h), p, demand_dist,
                   float(demand_mean), sd, None if grid_step is None else float(grid_step))
    return np.array(S), float(c)


def expected_cost(echelon_S: Sequence[float], lead_times: Sequence[int],
                  holding_costs: Sequence[float], stockout_cost: float, demand_dist: str,
                  demand_mean: float, demand_sd: float | None = None, *, holding: str = "local",
                  grid_step: float | None = None) -> float:
    """Expected cost per period of a *given* echelon base-stock policy ``S`` (not necessarily
    optimal): the same recursion with ``S_j`` in place of the argmin in (6.11)-(6.12).

    Args:
        echelon_S: echelon base-stock levels ``S_1..S_N``, stage 1 first.
        lead_times, holding_costs, stockout_cost, demand_dist, demand_mean, demand_sd, holding,
            grid_step: as for :func:`optimal_echelon_base_stock`.

    Why: the Clark-Scarf decomposition holds for every echelon base-stock policy, so this is the
    exact long-run cost of any such policy, e.g. to check a simulation at non-optimal levels.
    """
    L, h, p, sd = _validate(lead_times, holding_costs, stockout_cost, demand_dist,
                            demand_mean, demand_sd, holding)
    S = np.asarray(echelon_S, dtype=float).reshape(-1)
    if S.size != L.size:
        raise ValueError(f"echelon_S has {S.size} entries but there are {L.size} stages")
    return _recursion(L, h, p, demand_dist, float(demand_mean), sd, grid_step, S)[1]


def optimal_local_base_stock(lead_times: Sequence[int], holding_costs: Sequence[float],
                             stockout_cost: float, demand_dist: str, demand_mean: float,
                             demand_sd: float | None = None, **kwargs) -> np.ndarray:
    """Optimal installation base-stock levels ``s*_j`` (stage 1 first): the echelon optimum of
    :func:`optimal_echelon_base_stock` converted by :func:`echelon_to_local_base_stock`.

    Args: as for :func:`optimal_echelon_base_stock`.
    """
    S, _ = optimal_echelon_base_stock(lead_times, holding_costs, stockout_cost, demand_dist,
                                      demand_mean, demand_sd, **kwargs)
    return echelon_to_local_base_stock(S)
