"""Scoring metrics used by the RAO-Bench harness.

Every function here is pure: no I/O, no global state, no randomness. The
formulas are written out in ``docs/metrics.md``; the docstrings below state
array shapes and the edge-case conventions the harness relies on.

Scores are computed against *fixed* per-task anchors (see
:func:`normalise_kpi`), never against other submissions, so adding an entry
to the leaderboard never changes anyone else's score.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "hyperscore",
    "normalise_kpi",
    "value_score",
    "retention",
    "recovery_time",
    "recovery_time_ratio",
    "log_log_slope",
    "safety_summary",
    "safety_aggregate",
]

FloatOrArray = Union[float, NDArray[np.float64]]

# Floor on |pre-shock level| so a relative recovery band stays meaningful
# when the pre-shock KPI is (numerically) zero.
_BAND_FLOOR = 1e-12


def _fmt_values(values: NDArray[Any], limit: int = 5) -> str:
    """Render up to ``limit`` offending values for an error message."""
    flat = np.asarray(values).ravel()
    shown = ", ".join(repr(float(v)) for v in flat[:limit])
    if flat.size > limit:
        shown += f", ... ({flat.size} in total)"
    return shown


def _check_finite_scalar(name: str, value: float) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(out):
        raise ValueError(f"{name} must be finite, got {out!r}")
    return out


def _stable_logistic(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Logistic 1/(1+e^-x) without overflow for large |x| (handles +-inf).

    Each branch only exponentiates a non-positive number, so ``exp`` can
    underflow to 0 (harmless) but never overflow.
    """
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out


# --------------------------------------------------------------------------
# HyperScore
# --------------------------------------------------------------------------


def hyperscore(
    V: ArrayLike,
    beta: float = 6.0,
    gamma: float = -math.log(2),
    kappa: float = 2.5,
) -> FloatOrArray:
    """Founding paper's HyperScore: ``100 * (1 + sigmoid(beta*ln V + gamma)**kappa)``.

    Kept verbatim from the paper so leaderboard numbers are comparable with
    it. Note the true range for V in [0, 1] with the defaults is
    [100, ~106.415], not 100-200 (see docs/metrics.md).

    Args:
        V: value score(s) in [0, 1]; a scalar or an array of any shape.
        beta, gamma: slope and offset inside the logistic (finite).
        kappa: power applied to the logistic (must be > 0).

    Returns:
        A float for scalar input, otherwise an array with the shape of ``V``.
        ``V == 0`` gives exactly 100 (the limit) for ``beta > 0``.

    Raises:
        ValueError: if any V is NaN or outside [0, 1], or a parameter is bad.
    """
    beta = _check_finite_scalar("beta", beta)
    gamma = _check_finite_scalar("gamma", gamma)
    kappa = _check_finite_scalar("kappa", kappa)
    if kappa <= 0:
        raise ValueError(f"kappa must be > 0, got {kappa!r}")

    is_scalar = np.ndim(V) == 0
    try:
        v = np.asarray(V, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"V must be numeric and lie in [0, 1], got {V!r}") from None
    bad = ~((v >= 0.0) & (v <= 1.0))  # also catches NaN
    if np.any(bad):
        raise ValueError(
            f"V must lie in [0, 1] (no NaN); offending value(s): {_fmt_values(v[bad])}"
        )

    v1 = np.atleast_1d(v)
    x = np.empty_like(v1)
    zero = v1 == 0.0
    if beta == 0.0:
        x[...] = gamma
    else:
        # ln V -> -inf as V -> 0, so the argument tends to -inf*sign(beta).
        x[zero] = -math.inf if beta > 0 else math.inf
        x[~zero] = beta * np.log(v1[~zero]) + gamma
    out = 100.0 * (1.0 + _stable_logistic(x) ** kappa)
    out = out.reshape(v.shape)
    return float(out) if is_scalar else out


# --------------------------------------------------------------------------
# Value score
# --------------------------------------------------------------------------


def normalise_kpi(value: ArrayLike, zero: float, one: float) -> FloatOrArray:
    """Map a raw KPI onto [0, 1] using two fixed anchors from the task spec.

    ``zero`` maps to 0 and ``one`` maps to 1 linearly; results are clipped to
    [0, 1]. Direction is implied by the anchors: for a cost KPI (lower is
    better) pass ``zero > one``.

    Args:
        value: raw KPI; scalar or array of any shape (finite).
        zero, one: anchors (finite, distinct).

    Returns:
        A float for scalar input, else an array shaped like ``value``.
    """
    z = _check_finite_scalar("zero", zero)
    o = _check_finite_scalar("one", one)
    if z == o:
        raise ValueError(
            f"anchors zero and one must differ (both are {z!r}); fix the task spec's anchors"
        )
    is_scalar = np.ndim(value) == 0
    try:
        x = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"value must be numeric, got {value!r}") from None
    if not np.all(np.isfinite(x)):
        raise ValueError(f"value must be finite; offending value(s): {_fmt_values(x[~np.isfinite(x)])}")
    with np.errstate(over="ignore"):  # |x| near float max: the ratio overflows to ±inf, clipped
        out = np.clip((x - z) / (o - z), 0.0, 1.0)
    return float(out) if is_scalar else out


def value_score(
    kpis: Mapping[str, float],
    anchors: Mapping[str, tuple[float, float]],
    weights: Mapping[str, float],
) -> float:
    """Weighted value score ``V = sum_k w_k * normalise_kpi(kpis[k], *anchors[k])``.

    Only KPIs named in ``weights`` contribute; each must appear in ``kpis``
    and ``anchors``. Weights must be >= 0 and sum to 1 (tolerance 1e-9), so V
    lies in [0, 1] by construction (tiny float excess is clipped).

    Args:
        kpis: raw KPI value per name.
        anchors: ``(zero, one)`` anchors per name, frozen in the task spec.
        weights: weight per name.

    Returns:
        V as a float in [0, 1].
    """
    if len(weights) == 0:
        raise ValueError("weights is empty; give at least one KPI weight summing to 1")
    ws: dict[str, float] = {}
    for name, w in weights.items():
        wf = _check_finite_scalar(f"weights[{name!r}]", w)
        if wf < 0:
            raise ValueError(f"weights[{name!r}] must be >= 0, got {wf!r}")
        ws[name] = wf
    total = math.fsum(ws.values())
    if abs(total - 1.0) > 1e-9:
        raise ValueError(f"weights must sum to 1 (tolerance 1e-9), got sum {total!r}; rescale them")
    terms = []
    for name, w in ws.items():
        if name not in kpis:
            raise ValueError(f"weighted KPI {name!r} is missing from kpis; report it or drop its weight")
        if name not in anchors:
            raise ValueError(f"weighted KPI {name!r} is missing from anchors; add (zero, one) anchors for it")
        anc = anchors[name]
        if len(anc) != 2:
            raise ValueError(f"anchors[{name!r}] must be a (zero, one) pair, got {anc!r}")
        x = _check_finite_scalar(f"kpis[{name!r}]", kpis[name])
        terms.append(w * float(normalise_kpi(x, anc[0], anc[1])))
    return float(min(max(math.fsum(terms), 0.0), 1.0))


# --------------------------------------------------------------------------
# Adaptability
# --------------------------------------------------------------------------


def _as_1d_finite(name: str, x: ArrayLike) -> NDArray[np.float64]:
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numeric") from None
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} is empty; it needs at least one value")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite; offending value(s): {_fmt_values(a[~np.isfinite(a)])}")
    return a


def retention(shifted: ArrayLike, nominal: ArrayLike) -> float:
    """Share of nominal value kept under a shift: ``mean(shifted) / mean(nominal)``.

    Both inputs are V scores on the same seeds, shape ``(num_seeds,)`` each,
    non-negative. The ratio may exceed 1 if the shift happens to help.

    Convention: if ``mean(nominal) == 0`` (the entry scored V = 0 on every
    nominal seed) the result is 1.0. There is nothing to retain, and its
    poor nominal value is already penalised by the main score; returning 1.0
    keeps the metric finite and neither rewards nor punishes the shift.
    """
    s = _as_1d_finite("shifted", shifted)
    n = _as_1d_finite("nominal", nominal)
    if s.shape != n.shape:
        raise ValueError(
            f"shifted and nominal must have the same length (same seeds), got {s.size} and {n.size}"
        )
    if np.any(s < 0) or np.any(n < 0):
        raise ValueError("shifted and nominal must be non-negative V scores")
    nom = float(np.mean(n))
    if nom == 0.0:
        return 1.0
    return float(np.mean(s)) / nom


def _validate_recovery_args(T: int, onset: int, window: int, band: float) -> float:
    for name, v in (("onset", onset), ("window", window)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"{name} must be an int, got {v!r}")
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if onset < window:
        raise ValueError(
            f"onset ({onset}) must be >= window ({window}) so a full pre-shock window exists"
        )
    if onset + window > T:
        raise ValueError(
            f"onset + window ({onset} + {window}) must be <= len(series) ({T}) "
            "so at least one full post-shock window exists"
        )
    b = _check_finite_scalar("band", band)
    if b < 0:
        raise ValueError(f"band must be >= 0, got {b!r}")
    return b


def _first_recovery(rolling: NDArray[np.float64], pre: float, band: float, onset: int) -> tuple[int, bool]:
    """``rolling[i]`` is the window ending at step ``i + window - 1``."""
    post = rolling[onset:]  # windows starting at onset, i.e. t >= onset + window - 1
    tol = band * max(abs(pre), _BAND_FLOOR)
    hit = np.flatnonzero(np.abs(post - pre) <= tol)
    if hit.size:
        return int(hit[0]), True
    return int(post.size), False


def recovery_time(series: ArrayLike, onset: int, window: int, band: float) -> tuple[int, bool]:
    """Steps until a rolling KPI is back within a relative band of its pre-shock level.

    ``series`` shape ``(T,)`` is a per-step KPI (already reduced per step).
    With ``pre = mean(series[onset-window:onset])`` and rolling mean
    ``R_t = mean(series[t-window+1 : t+1])``, the first eligible step is
    ``t0 = onset + window - 1`` (first window wholly after the shock) and
    ``t* = min{t >= t0 : |R_t - pre| <= band * max(|pre|, 1e-12)}``.

    Returns:
        ``(t* - t0, True)`` if recovered, else ``(T - t0, False)``: censored at
        the number of eligible steps, one more than any uncensored value.
    """
    s = _as_1d_finite("series", series)
    b = _validate_recovery_args(s.size, onset, window, band)
    rolling = np.lib.stride_tricks.sliding_window_view(s, window).mean(axis=1)
    pre = float(np.mean(s[onset - window : onset]))
    return _first_recovery(rolling, pre, b, onset)


def recovery_time_ratio(
    num: ArrayLike, den: ArrayLike, onset: int, window: int, band: float
) -> tuple[int, bool]:
    """:func:`recovery_time` for a ratio KPI such as fill rate (served / demanded).

    ``num`` and ``den`` have shape ``(T,)``; ``den >= 0``. The rolling KPI is
    ``sum(num[w]) / sum(den[w])`` over each window ``w`` (pooled, so steps with
    more demand weigh more), and ``pre`` is the same ratio over the
    pre-shock window. A window with ``sum(den) == 0`` has ratio 1.0: with no
    demand nothing was missed, and this avoids 0/0.
    """
    n = _as_1d_finite("num", num)
    d = _as_1d_finite("den", den)
    if n.shape != d.shape:
        raise ValueError(f"num and den must have the same length, got {n.size} and {d.size}")
    if np.any(d < 0):
        raise ValueError("den must be non-negative (it is a per-step demand/denominator)")
    b = _validate_recovery_args(n.size, onset, window, band)

    def ratio(ns: NDArray[np.float64], ds: NDArray[np.float64]) -> NDArray[np.float64]:
        out = np.ones_like(ns)
        pos = ds > 0
        out[pos] = ns[pos] / ds[pos]
        return out

    swv = np.lib.stride_tricks.sliding_window_view
    rolling = ratio(swv(n, window).sum(axis=1), swv(d, window).sum(axis=1))
    pre_n = np.array([n[onset - window : onset].sum()])
    pre_d = np.array([d[onset - window : onset].sum()])
    pre = float(ratio(pre_n, pre_d)[0])
    return _first_recovery(rolling, pre, b, onset)


# --------------------------------------------------------------------------
# Scalability
# --------------------------------------------------------------------------


def log_log_slope(agent_counts: ArrayLike, times: ArrayLike) -> float:
    """Least-squares slope of ``ln(time)`` on ``ln(agent count)``.

    A slope near 0 means time per agent-step does not grow with scale; 1
    means linear growth. Inputs shape ``(num_points,)``, positive, with at
    least two distinct agent counts.
    """
    x = _as_1d_finite("agent_counts", agent_counts)
    y = _as_1d_finite("times", times)
    if x.shape != y.shape:
        raise ValueError(f"agent_counts and times must have the same length, got {x.size} and {y.size}")
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("agent_counts and times must be strictly positive (logs are taken)")
    if np.unique(x).size < 2:
        raise ValueError("agent_counts needs at least 2 distinct values to fit a slope")
    lx, ly = np.log(x), np.log(y)
    dx = lx - lx.mean()
    return float(np.sum(dx * (ly - ly.mean())) / np.sum(dx * dx))


# --------------------------------------------------------------------------
# Safety
# --------------------------------------------------------------------------


def safety_summary(exceedance: ArrayLike) -> dict[str, Any]:
    """Violation rate and severity for one constraint in one episode.

    Args:
        exceedance: shape ``(T, n_agents)``; amount by which each agent-step
            exceeds the constraint bound (0 = no violation, > 0 = violation).

    Returns:
        ``{"rate": float, "severity": float, "violating_steps": int,
        "any": bool, "agent_steps": int}`` where rate is violating
        agent-steps / agent-steps, severity is the mean exceedance over
        violating agent-steps (0.0 if none), and agent_steps = T * n_agents
        (kept so :func:`safety_aggregate` can pool episodes).
    """
    try:
        e = np.asarray(exceedance, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("exceedance must be numeric") from None
    if e.ndim != 2:
        raise ValueError(f"exceedance must have shape (T, n_agents), got shape {e.shape}")
    if e.size == 0:
        raise ValueError(f"exceedance has no agent-steps (shape {e.shape})")
    if not np.all(np.isfinite(e)):
        raise ValueError("exceedance must be finite")
    if np.any(e < 0):
        raise ValueError("exceedance must be >= 0; pass max(0, usage - bound), not the raw slack")
    viol = e > 0
    k = int(viol.sum())
    return {
        "rate": k / e.size,
        "severity": float(e[viol].mean()) if k else 0.0,
        "violating_steps": k,
        "any": k > 0,
        "agent_steps": int(e.size),
    }


def safety_aggregate(per_episode: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Pool :func:`safety_summary` results over episodes (one constraint).

    Each dict needs ``severity``, ``violating_steps``, ``any`` and
    ``agent_steps``. Pooling weights episodes by their agent-steps (rate) and
    by their violating agent-steps (severity), so long episodes are not
    under-weighted.

    Returns:
        ``{"rate": sum(violating) / sum(agent_steps),
        "severity": sum(severity_i * violating_i) / sum(violating) (0.0 if none),
        "episode_share": share of episodes with any violation}``.
    """
    if len(per_episode) == 0:
        raise ValueError("per_episode is empty; pass at least one safety_summary dict")
    steps = viol = 0
    excess = 0.0
    any_count = 0
    for i, ep in enumerate(per_episode):
        for key in ("severity", "violating_steps", "any", "agent_steps"):
            if key not in ep:
                raise ValueError(f"per_episode[{i}] is missing key {key!r}; use safety_summary output")
        a, v = int(ep["agent_steps"]), int(ep["violating_steps"])
        if a <= 0 or v < 0 or v > a:
            raise ValueError(
                f"per_episode[{i}] needs 0 <= violating_steps <= agent_steps and agent_steps > 0, "
                f"got {v} and {a}"
            )
        steps += a
        viol += v
        excess += float(ep["severity"]) * v
        any_count += bool(ep["any"])
    return {
        "rate": viol / steps,
        "severity": excess / viol if viol else 0.0,
        "episode_share": any_count / len(per_episode),
    }
