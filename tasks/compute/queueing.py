"""Closed-form queueing results the edge-cluster simulator is checked against.

All times are in seconds, rates in jobs per second. A node with ``c`` cores, one priority
class, no core reservation and no deadlines is a multi-server FCFS queue, so with Poisson
arrivals its mean waiting time must match these formulas. ``tests/compute/test_queueing.py``
checks the node fed in continuous time by a standalone driver; ``tests/compute/
test_edge_cluster_v2.py`` checks ``EdgeCluster-v2`` itself (jobs decided at arrival). Inside
``EdgeCluster-v1`` jobs wait for the next 1-s decision boundary, so a v1 node is fed batches at
integer times and is *not* this queue (issue 18):

* **M/M/c (Erlang C)**, arrival rate ``λ``, service rate ``μ`` per core, offered load
  ``a = λ/μ`` (Erlangs), utilisation ``ρ = a/c < 1``. The probability that an arrival waits is
  Erlang's C formula

      C(c, a) = (a^c / c!) · c/(c − a)  /  [ Σ_{k=0}^{c−1} a^k/k!  +  (a^c / c!) · c/(c − a) ],

  and the mean wait in queue is ``W_q = C(c, a) / (cμ − λ)`` (Kleinrock, *Queueing Systems*
  vol. 1, 1975, eq. 3.40; Gross & Harris, *Fundamentals of Queueing Theory*, §2.3). ``C`` is
  computed from Erlang's B formula by the numerically stable recursion
  ``B(0) = 1, B(k) = a B(k−1) / (k + a B(k−1))`` and ``C = c B / (c − a (1 − B))``
  (Gross & Harris eq. 2.37), which never forms ``a^c`` or ``c!``.
* **M/M/1**: ``W_q = ρ / (μ − λ)``, the case ``c = 1`` of the above.
* **M/M/c with non-preemptive priority classes** and a common service rate (Cobham 1954):
  :func:`mmc_priority_mean_waits` — the node's class-priority discipline (no reservation).
* **M/G/1 (Pollaczek–Khinchine)**: ``W_q = λ E[S²] / (2 (1 − ρ))`` with ``ρ = λ E[S]``
  (Kleinrock eq. 5.105); it depends on the service law only through its first two moments.
* **M/G/c** has no closed form; :func:`mgc_mean_wait_approx` gives the Allen–Cunneen
  (Lee–Longton) two-moment approximation ``W_q ≈ (1 + C_s²)/2 · W_q^{M/M/c}``, exact for
  ``c = 1`` and for exponential service. No baseline calls it (the v1 docs said the dispatch
  baselines did; they use their own fluid or list-scheduling estimates); the tests never treat
  it as exact.

:func:`batch_means_ci` is the confidence interval the tests compare against: successive waits of
one long run are correlated, so the run is cut into ``b`` contiguous batches whose means are
nearly independent (Law & Kelton, *Simulation Modeling and Analysis*, §9.5.3).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def _check_positive(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return value


def _check_stable(rho: float) -> None:
    if not rho < 1.0:
        raise ValueError(f"the queue is unstable (utilisation rho = {rho:.4g} >= 1): lower the "
                         "arrival rate or raise the service capacity")


def erlang_b(c: int, a: float) -> float:
    """Erlang's B (loss) formula ``B(c, a)`` for ``c`` servers and offered load ``a`` Erlangs,
    by the recursion ``B(k) = a B(k−1) / (k + a B(k−1))`` (stable for any ``c``)."""
    if isinstance(c, bool) or int(c) != c or c < 1:
        raise ValueError(f"c (number of servers) must be an integer >= 1, got {c!r}")
    a = _check_positive("a (offered load, Erlangs)", a)
    b = 1.0
    for k in range(1, int(c) + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(c: int, a: float) -> float:
    """Erlang's C formula: probability that an arrival to an M/M/c queue has to wait.

    ``c`` servers, offered load ``a = λ/μ`` Erlangs with ``a < c``."""
    b = erlang_b(c, a)
    _check_stable(a / c)
    return c * b / (c - a * (1.0 - b))


def mmc_mean_wait(lam: float, mu: float, c: int) -> float:
    """Mean waiting time in queue ``W_q`` (s) of M/M/c-FCFS: ``C(c, λ/μ) / (cμ − λ)``.

    ``lam`` arrivals/s, ``mu`` services/s per server, ``c`` servers."""
    lam, mu = _check_positive("lam (arrival rate, 1/s)", lam), _check_positive("mu (service rate, 1/s)", mu)
    return erlang_c(c, lam / mu) / (c * mu - lam)


def mmc_priority_mean_waits(lams: list[float] | tuple[float, ...], mu: float, c: int) -> list[float]:
    """Per-class mean waits (s) of M/M/c with non-preemptive priority and one service rate ``mu``
    for every class (Cobham 1954; Gross & Harris eq. 3.41):

        W_k = [C(c, a) / (c μ)] / [(1 − σ_{k−1}) (1 − σ_k)],   σ_k = Σ_{i ≤ k} λ_i / (c μ),

    with ``a = Σ λ_i / μ``. ``lams[0]`` is the top class."""
    mu = _check_positive("mu (service rate, 1/s)", mu)
    lams = [_check_positive(f"lams[{i}] (arrival rate, 1/s)", x) for i, x in enumerate(lams)]
    a = sum(lams) / mu
    base = erlang_c(c, a) / (c * mu)
    out, sigma_prev = [], 0.0
    for lam in lams:
        sigma = sigma_prev + lam / (c * mu)
        out.append(base / ((1.0 - sigma_prev) * (1.0 - sigma)))
        sigma_prev = sigma
    return out


def mm1_mean_wait(lam: float, mu: float) -> float:
    """Mean waiting time in queue of M/M/1: ``ρ / (μ − λ)`` with ``ρ = λ/μ`` (s)."""
    lam, mu = _check_positive("lam (arrival rate, 1/s)", lam), _check_positive("mu (service rate, 1/s)", mu)
    rho = lam / mu
    _check_stable(rho)
    return rho / (mu - lam)


def mg1_mean_wait(lam: float, mean_s: float, second_moment_s: float) -> float:
    """Pollaczek–Khinchine mean wait of M/G/1: ``λ E[S²] / (2 (1 − λ E[S]))`` (s).

    ``mean_s`` = E[S] (s), ``second_moment_s`` = E[S²] (s²), which must be >= E[S]²."""
    lam = _check_positive("lam (arrival rate, 1/s)", lam)
    mean_s = _check_positive("mean_s (E[S], s)", mean_s)
    second_moment_s = _check_positive("second_moment_s (E[S^2], s^2)", second_moment_s)
    if second_moment_s < mean_s ** 2 * (1 - 1e-12):
        raise ValueError(f"second_moment_s ({second_moment_s}) must be >= mean_s^2 ({mean_s ** 2}): "
                         "E[S^2] >= E[S]^2 for any distribution")
    rho = lam * mean_s
    _check_stable(rho)
    return lam * second_moment_s / (2.0 * (1.0 - rho))


def mgc_mean_wait_approx(lam: float, mean_s: float, scv: float, c: int) -> float:
    """Allen–Cunneen approximation of the M/G/c mean wait: ``(1 + C_s²)/2 · W_q^{M/M/c}`` (s).

    ``scv`` = squared coefficient of variation of the service time, Var[S]/E[S]². Exact for
    exponential service (``scv = 1``) and for ``c = 1`` (it is then Pollaczek–Khinchine)."""
    if not math.isfinite(scv) or scv < 0:
        raise ValueError(f"scv (squared coefficient of variation) must be >= 0, got {scv!r}")
    mean_s = _check_positive("mean_s (E[S], s)", mean_s)
    return 0.5 * (1.0 + scv) * mmc_mean_wait(lam, 1.0 / mean_s, c)


def lognormal_moments(mean: float, sigma: float) -> tuple[float, float]:
    """First two moments (E[S], E[S²]) of a lognormal with the given mean and log-s.d. ``sigma``:
    ``E[S²] = E[S]² exp(σ²)``."""
    mean = _check_positive("mean", mean)
    return mean, mean ** 2 * math.exp(sigma ** 2)


def batch_means_ci(samples: np.ndarray, n_batches: int = 30, confidence: float = 0.99
                   ) -> tuple[float, float, float]:
    """Batch-means confidence interval for the steady-state mean of a correlated output series.

    ``samples`` has shape (n,) in arrival order (warm-up already removed). It is cut into
    ``n_batches`` contiguous batches of equal length (the first ``n mod n_batches`` samples are
    dropped); the batch means are treated as i.i.d. normal, so the interval is
    ``m ± t_{b−1, 1−α/2} · s_b / √b``. Returns (mean, low, high)."""
    x = np.asarray(samples, dtype=np.float64).ravel()
    if n_batches < 2:
        raise ValueError(f"n_batches must be >= 2, got {n_batches}")
    if x.size < 10 * n_batches:
        raise ValueError(f"{x.size} samples are too few for {n_batches} batches: use at least "
                         f"{10 * n_batches}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    m = x.size // n_batches
    means = x[x.size - m * n_batches:].reshape(n_batches, m).mean(axis=1)
    centre = float(means.mean())
    half = float(stats.t.ppf(0.5 + confidence / 2, n_batches - 1) * means.std(ddof=1) / math.sqrt(n_batches))
    return centre, centre - half, centre + half
