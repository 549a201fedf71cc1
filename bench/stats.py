"""Run-level statistics for RAO-Bench, in the style of rliable.

Few runs per entry are the norm, so point estimates come with percentile
bootstrap confidence intervals whose resampling is *stratified* by task and
driven by an explicit ``numpy.random.Generator`` (never global state), so
every reported interval is recomputable from its seed. The harness uses
``np.random.default_rng(SUMMARY_SEED)`` for summary CIs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Union

import numpy as np
import scipy.stats
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "SUMMARY_SEED",
    "mean",
    "iqm",
    "bootstrap_ci",
    "probability_of_improvement",
    "aggregate_over_tasks",
    "summarise",
    "runs_seeds_bootstrap_ci",
    "paired_difference_ci",
    "separable",
    "paired_probability_of_improvement",
]

#: Seed the harness (and the validator) use for summary bootstrap CIs.
SUMMARY_SEED: int = 0

FloatOrArray = Union[float, NDArray[np.float64]]

# Upper bound on float64 elements materialised per resampling chunk (~32 MiB).
_CHUNK_ELEMENTS = 1 << 22


def _as_scores(name: str, x: ArrayLike, allow_2d: bool = True) -> NDArray[np.float64]:
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numeric") from None
    ok_dims = (1, 2) if allow_2d else (1,)
    if a.ndim not in ok_dims:
        want = "(num_runs,) or (num_runs, num_tasks)" if allow_2d else "(num_runs,)"
        raise ValueError(f"{name} must have shape {want}, got shape {a.shape}")
    if a.shape[0] == 0 or a.size == 0:
        raise ValueError(f"{name} is empty; it needs at least one run (and one task)")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite (drop or fix NaN/inf runs first)")
    return a


def _reduce(a: NDArray[np.float64], out: NDArray[np.float64]) -> FloatOrArray:
    return float(out) if a.ndim == 1 else np.asarray(out, dtype=np.float64)


def mean(x: ArrayLike) -> FloatOrArray:
    """Mean over runs.

    ``x`` shape ``(num_runs,)`` gives a float; shape ``(num_runs, num_tasks)``
    gives the per-task means, shape ``(num_tasks,)`` (axis 0).
    """
    a = _as_scores("x", x)
    return _reduce(a, np.mean(a, axis=0))


def iqm(x: ArrayLike) -> FloatOrArray:
    """Interquartile mean over runs: 25 % trimmed from each end, then averaged.

    Robust to outlier runs yet less noisy than the median. Same definition as
    rliable (``scipy.stats.trim_mean(x, 0.25)``), which trims
    ``floor(0.25 * num_runs)`` runs from each end. ``x`` shape
    ``(num_runs,)`` gives a float; ``(num_runs, num_tasks)`` gives per-task
    IQMs, shape ``(num_tasks,)`` (axis 0).
    """
    a = _as_scores("x", x)
    return _reduce(a, scipy.stats.trim_mean(a, 0.25, axis=0))


def _check_bootstrap_args(n_resamples: int, confidence: float) -> None:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive int, got {n_resamples!r}")
    try:
        c = float(confidence)
    except (TypeError, ValueError):
        c = float("nan")
    if not 0.0 < c < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1 (e.g. 0.95), got {confidence!r}")


def _check_rng(rng: Any) -> None:
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"rng must be a numpy.random.Generator (e.g. np.random.default_rng(0)), got {type(rng).__name__}"
        )


def _bootstrap_distributions(
    scores: NDArray[np.float64],
    batch_stats: list[Callable[[NDArray[np.float64]], NDArray[np.float64]]],
    rng: np.random.Generator,
    n_resamples: int,
) -> list[NDArray[np.float64]]:
    """Bootstrap distributions of several statistics on shared resamples.

    ``scores`` is 2-D ``(num_runs, num_tasks)``. For each task independently
    (stratified), ``num_runs`` run indices are drawn with replacement. Each
    function in ``batch_stats`` maps a batch of resampled matrices, shape
    ``(batch, num_runs, num_tasks)``, to shape ``(batch,)``. Resamples are
    drawn in chunks to bound memory; the output is shape ``(n_resamples,)``
    per statistic.
    """
    num_runs, num_tasks = scores.shape
    per = num_runs * num_tasks
    chunk = max(1, min(n_resamples, _CHUNK_ELEMENTS // per))
    outs = [np.empty(n_resamples, dtype=np.float64) for _ in batch_stats]
    cols = np.arange(num_tasks)
    start = 0
    while start < n_resamples:
        b = min(chunk, n_resamples - start)
        idx = rng.integers(0, num_runs, size=(b, num_runs, num_tasks))
        batch = scores[idx, cols]  # (b, num_runs, num_tasks)
        for out, fn in zip(outs, batch_stats):
            vals = np.asarray(fn(batch), dtype=np.float64)
            if vals.shape != (b,):
                raise ValueError(
                    f"statistic must reduce each resample to a scalar; got output shape {vals.shape}"
                )
            out[start : start + b] = vals
        start += b
    return outs


def _percentile_interval(dist: NDArray[np.float64], confidence: float) -> tuple[float, float]:
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(dist, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def _scalar_stat(statistic: Callable[[NDArray[np.float64]], Any], m: NDArray[np.float64]) -> float:
    out = np.asarray(statistic(m), dtype=np.float64)
    if out.ndim != 0 and out.size != 1:
        raise ValueError(
            "statistic must reduce the scores to a scalar; for (num_runs, num_tasks) input use e.g. "
            f"lambda m: np.mean(iqm(m)). Got output shape {out.shape}"
        )
    val = float(out.reshape(()))
    if not np.isfinite(val):
        raise ValueError(f"statistic returned a non-finite value ({val!r})")
    return val


def bootstrap_ci(
    scores: ArrayLike,
    statistic: Callable[[NDArray[np.float64]], Any],
    rng: np.random.Generator,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    *,
    vectorized: bool = False,
) -> tuple[float, float]:
    """Percentile stratified bootstrap confidence interval of ``statistic``.

    Resamples runs with replacement, independently within each task (so each
    task keeps its own run count and no task's runs leak into another), using
    the actual ``num_runs`` of ``scores``.

    Args:
        scores: shape ``(num_runs,)`` or ``(num_runs, num_tasks)``.
        statistic: maps an array shaped like ``scores`` to a scalar (for 2-D
            input e.g. ``lambda m: np.mean(iqm(m))``). If ``vectorized`` is
            true it instead maps a batch, shape ``(batch, *scores.shape)``,
            to shape ``(batch,)`` -- much faster for large ``n_resamples``.
        rng: the only source of randomness; same seed gives the same CI.
        n_resamples: number of bootstrap resamples.
        confidence: central coverage of the interval, e.g. 0.95.

    Returns:
        ``(low, high)``. With a single run every resample is identical, so
        this is ``(x, x)`` with ``x = statistic(scores)`` and no draws are made.
    """
    a = _as_scores("scores", scores)
    _check_rng(rng)
    _check_bootstrap_args(n_resamples, confidence)
    if not callable(statistic):
        raise ValueError("statistic must be callable, e.g. bench.stats.mean")
    if a.shape[0] == 1:
        x = _scalar_stat(statistic, a) if not vectorized else float(
            np.asarray(statistic(a[None]), dtype=np.float64).reshape(-1)[0]
        )
        return x, x

    one_d = a.ndim == 1
    m = a[:, None] if one_d else a

    if vectorized:
        def fn(batch: NDArray[np.float64]) -> NDArray[np.float64]:
            return np.asarray(statistic(batch[:, :, 0] if one_d else batch), dtype=np.float64)
    else:
        def fn(batch: NDArray[np.float64]) -> NDArray[np.float64]:
            return np.array(
                [_scalar_stat(statistic, r[:, 0] if one_d else r) for r in batch], dtype=np.float64
            )

    (dist,) = _bootstrap_distributions(m, [fn], rng, n_resamples)
    if not np.all(np.isfinite(dist)):
        raise ValueError("statistic returned non-finite values on some resamples")
    return _percentile_interval(dist, confidence)


def probability_of_improvement(x: ArrayLike, y: ArrayLike) -> float:
    """P(X > Y) + 0.5 P(X = Y) for a random run X of entry x and Y of entry y.

    Equals the Mann-Whitney U statistic divided by ``n * m``. Inputs shape
    ``(n,)`` and ``(m,)``, or ``(n, num_tasks)`` and ``(m, num_tasks)``, in
    which case the per-task probabilities are averaged over tasks (rliable's
    definition). Run counts ``n`` and ``m`` may differ.
    """
    a = _as_scores("x", x)
    b = _as_scores("y", y)
    if a.ndim != b.ndim:
        raise ValueError(f"x and y must both be 1-D or both 2-D, got shapes {a.shape} and {b.shape}")
    if a.ndim == 1:
        a, b = a[:, None], b[:, None]
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x and y must have the same number of tasks, got {a.shape[1]} and {b.shape[1]}")
    gt = (a[:, None, :] > b[None, :, :]).mean(axis=(0, 1))
    eq = (a[:, None, :] == b[None, :, :]).mean(axis=(0, 1))
    return float(np.mean(gt + 0.5 * eq))


def _batch_mean(batch: NDArray[np.float64]) -> NDArray[np.float64]:
    return batch.reshape(batch.shape[0], -1).mean(axis=1)


def _batch_iqm(batch: NDArray[np.float64]) -> NDArray[np.float64]:
    return scipy.stats.trim_mean(batch.reshape(batch.shape[0], -1), 0.25, axis=1)


def aggregate_over_tasks(
    normalised_scores: ArrayLike,
    rng: np.random.Generator,
    n_resamples: int = 2000,
    confidence: float = 0.95,
) -> dict[str, float]:
    """Mean and IQM over all runs and tasks, with stratified bootstrap CIs.

    Follows rliable's aggregates: ``mean`` is the mean of all
    ``num_runs * num_tasks`` normalised scores (= mean of per-task means) and
    ``iqm`` is the 25 %-trimmed mean of that pooled set. Both CIs come from
    the same stratified resamples.

    Args:
        normalised_scores: shape ``(num_runs, num_tasks)``, scores already
            normalised against fixed anchors so tasks are commensurable.
        rng: the only source of randomness.

    Returns:
        ``{"mean", "mean_ci_low", "mean_ci_high", "iqm", "iqm_ci_low",
        "iqm_ci_high", "num_runs", "num_tasks"}`` (counts are ints).
    """
    a = _as_scores("normalised_scores", normalised_scores)
    if a.ndim != 2:
        raise ValueError(
            f"normalised_scores must have shape (num_runs, num_tasks), got {a.shape}; "
            "use a[:, None] for a single task"
        )
    _check_rng(rng)
    _check_bootstrap_args(n_resamples, confidence)
    point_mean = float(_batch_mean(a[None])[0])
    point_iqm = float(_batch_iqm(a[None])[0])
    if a.shape[0] == 1:
        m_ci, i_ci = (point_mean, point_mean), (point_iqm, point_iqm)
    else:
        d_mean, d_iqm = _bootstrap_distributions(a, [_batch_mean, _batch_iqm], rng, n_resamples)
        m_ci = _percentile_interval(d_mean, confidence)
        i_ci = _percentile_interval(d_iqm, confidence)
    return {
        "mean": point_mean,
        "mean_ci_low": m_ci[0],
        "mean_ci_high": m_ci[1],
        "iqm": point_iqm,
        "iqm_ci_low": i_ci[0],
        "iqm_ci_high": i_ci[1],
        "num_runs": int(a.shape[0]),
        "num_tasks": int(a.shape[1]),
    }


def summarise(
    values: ArrayLike,
    rng: np.random.Generator,
    n_resamples: int = 2000,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Summary of one leaderboard cell: mean, IQM and a bootstrap CI of the mean.

    Args:
        values: per-run values, shape ``(num_runs,)``.
        rng: the harness passes ``np.random.default_rng(SUMMARY_SEED)`` so the
            validator can recompute the CI exactly.

    Returns:
        ``{"mean": float, "iqm": float, "ci_low": float, "ci_high": float,
        "n": int}``; the CI is of the mean.
    """
    a = _as_scores("values", values, allow_2d=False)
    _check_rng(rng)
    lo, hi = bootstrap_ci(
        a,
        lambda batch: batch.mean(axis=1),
        rng,
        n_resamples=n_resamples,
        confidence=confidence,
        vectorized=True,
    )
    return {
        "mean": float(np.mean(a)),
        "iqm": float(scipy.stats.trim_mean(a, 0.25)),
        "ci_low": lo,
        "ci_high": hi,
        "n": int(a.size),
    }


# ------------------------------------------------------------------------------ runs and pairing
#
# A learning entry may carry several independent training runs, each evaluated on the same
# evaluation seeds: its nominal values form a matrix of shape (num_runs, num_seeds). The unit of
# evidence is the run (Agarwal et al. 2021); seeds are a second, crossed source of variation that
# two entries share, so comparisons between entries are paired on seeds.


def _as_matrix(name: str, x: ArrayLike) -> NDArray[np.float64]:
    a = _as_scores(name, x)
    return a[None, :] if a.ndim == 1 else a


def runs_seeds_bootstrap_ci(
    values: ArrayLike,
    rng: np.random.Generator,
    n_resamples: int = 2000,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Percentile CI of the mean of ``values``, shape ``(num_runs, num_seeds)``, resampling runs
    and seeds independently with replacement (a two-way bootstrap over crossed factors).

    With one run this is the ordinary bootstrap over seeds (the same draws and numbers as
    :func:`summarise` on that row), so single-run summaries are unchanged by the runs support.
    """
    m = _as_matrix("values", values)
    _check_rng(rng)
    _check_bootstrap_args(n_resamples, confidence)
    runs, seeds = m.shape
    if runs == 1:
        return bootstrap_ci(m[0], lambda b: b.mean(axis=1), rng, n_resamples, confidence,
                            vectorized=True)
    dist = np.empty(n_resamples)
    chunk = max(1, _CHUNK_ELEMENTS // (runs + seeds))
    for start in range(0, n_resamples, chunk):
        b = min(chunk, n_resamples - start)
        w_run = _counts(rng.integers(0, runs, size=(b, runs)), runs)
        w_seed = _counts(rng.integers(0, seeds, size=(b, seeds)), seeds)
        dist[start:start + b] = np.einsum("br,rs,bs->b", w_run, m, w_seed) / (runs * seeds)
    return _percentile_interval(dist, confidence)


def _counts(idx: NDArray[np.int64], n: int) -> NDArray[np.float64]:
    """How often each of ``n`` items was drawn in each resample: shape ``(batch, n)``."""
    out = np.zeros((idx.shape[0], n))
    np.add.at(out, (np.arange(idx.shape[0])[:, None], idx), 1.0)
    return out


def paired_difference_ci(
    x: ArrayLike,
    y: ArrayLike,
    rng: np.random.Generator,
    n_resamples: int = 2000,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """Mean difference ``mean(x) - mean(y)`` and its percentile bootstrap CI, paired on seeds.

    ``x`` has shape ``(runs_x, num_seeds)`` and ``y`` ``(runs_y, num_seeds)`` (or 1-D for one
    run), with column ``j`` of both on the same evaluation seed. Each resample draws one set of
    seeds for both entries (the pairing) and each entry's runs independently. Returns
    ``(difference, low, high)``; the entries are separable at ``confidence`` when the interval
    excludes 0.
    """
    a, b = _as_matrix("x", x), _as_matrix("y", y)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x and y must cover the same seeds (columns), got {a.shape[1]} and {b.shape[1]}")
    _check_rng(rng)
    _check_bootstrap_args(n_resamples, confidence)
    ra, rb, seeds = a.shape[0], b.shape[0], a.shape[1]
    diff = float(a.mean() - b.mean())
    dist = np.empty(n_resamples)
    chunk = max(1, _CHUNK_ELEMENTS // (ra + rb + seeds))
    for start in range(0, n_resamples, chunk):
        n = min(chunk, n_resamples - start)
        w_seed = _counts(rng.integers(0, seeds, size=(n, seeds)), seeds) / seeds
        w_a = _counts(rng.integers(0, ra, size=(n, ra)), ra) / ra if ra > 1 else np.ones((n, 1))
        w_b = _counts(rng.integers(0, rb, size=(n, rb)), rb) / rb if rb > 1 else np.ones((n, 1))
        dist[start:start + n] = (np.einsum("br,rs,bs->b", w_a, a, w_seed)
                                 - np.einsum("br,rs,bs->b", w_b, b, w_seed))
    lo, hi = _percentile_interval(dist, confidence)
    return diff, lo, hi


def separable(x: ArrayLike, y: ArrayLike, rng: np.random.Generator,
              confidence: float = 0.95) -> bool:
    """Whether a paired comparison on shared seeds (and runs) tells ``x`` and ``y`` apart: the
    CI of the mean difference excludes 0."""
    _, lo, hi = paired_difference_ci(x, y, rng, confidence=confidence)
    return lo > 0.0 or hi < 0.0


def paired_probability_of_improvement(x: ArrayLike, y: ArrayLike) -> float:
    """P(X > Y) + 0.5 P(X = Y), where X and Y are the two entries' values on the *same* seed.

    Per seed, every run of ``x`` is compared with every run of ``y``; the result averages over
    seeds. Shapes ``(runs_x, num_seeds)`` and ``(runs_y, num_seeds)``, or 1-D for one run. Unlike
    the unpaired :func:`probability_of_improvement`, an entry that loses on every seed scores 0
    even when both entries often sit at the same value across seeds.
    """
    a, b = _as_matrix("x", x), _as_matrix("y", y)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x and y must cover the same seeds (columns), got {a.shape[1]} and {b.shape[1]}")
    gt = (a[:, None, :] > b[None, :, :]).mean(axis=(0, 1))
    eq = (a[:, None, :] == b[None, :, :]).mean(axis=(0, 1))
    return float(np.mean(gt + 0.5 * eq))
