"""WMMSE compiled with numba: the algorithm of ``baselines.spectrum.wmmse`` (same updates, same start,
same stopping rule, same recorded iterate), one sample at a time in machine code.

Why: numpy's batch (``wmmse_solve``) is memory-bound — every update streams the whole batch
through memory, and its stacked ``matmul`` calls one BLAS ``dgemv`` per sample and
half-iteration — so its advantage over the per-sample loop falls with K (about 10× at K = 30).
A compiled per-sample kernel keeps each sample's K × K gains in cache for all its iterations.

Agreement, not bit-identity: the sums here run in a fixed left-to-right order where BLAS may
block or vectorise, so results agree with ``wmmse_loop`` within the project's cross-machine
tolerance (``bench.reproduce``: floats rel 1e-9, abs 1e-12) with identical iteration counts —
``tests/spectrum/test_wmmse_compiled.py`` checks both on thousands of random cases. The one
exception is a degenerate input where ``rx − |h v|²`` cancels to exactly 0 (gains ~1e36 over noise
1e-6): whether it cancels depends on the summation order, so there the objective may turn
infinite one iteration earlier or later (both implementations then stop). The speed is in
``tests/benchmarks/test_spectrum_speed.py`` and ``docs/performance.md``.
"""

from __future__ import annotations

import math

import numpy as np

from baselines.spectrum.wmmse import WmmseResult, _check_budgets, _validated_gains

try:
    import numba
except ImportError:              # pragma: no cover - numba is a declared dependency
    numba = None

_TINY = 1e-300


def _objective(w, a, weighted):  # pragma: no cover - compiled
    """``Σ α_i log2 w_i``. Unweighted, as the log2 of running products (one logarithm per block
    of factors instead of one per link: the logarithms cost as much as the K² products); a block
    closes before its product could overflow or underflow, and a NaN or infinite factor falls
    back to the per-link sum so that it propagates as in numpy."""
    if weighted:
        acc = 0.0
        for i in range(w.size):
            acc += a[i] * math.log2(w[i])
        return acc
    acc = 0.0
    prod = 1.0
    for i in range(w.size):
        x = w[i]
        if not (1e-100 < x < 1e100):
            acc = 0.0
            for j in range(w.size):
                acc += math.log2(w[j])
            return acc
        prod *= x
        if not (1e-100 < prod < 1e100):
            acc += math.log2(prod)
            prod = 1.0
    return acc + math.log2(prod)


def padded_width(K: int) -> int:
    """Row length the kernel's inner loops run over: ``K`` rounded up to a multiple of 16 when
    that adds at most 10 % (K = 30 → 32), else ``K``. The compiler's vectorised loop body covers
    16 doubles (four 4-wide FMAs); a shorter tail runs scalar, so at K = 30 fourteen of thirty
    products per row would be scalar. The padding holds zeros: the sums are unchanged but for
    their order (agreement within tolerance, module docstring); 17 % faster at K = 30, no gain
    at K = 20 (``docs/performance.md``)."""
    kp = -(-K // 16) * 16
    return kp if kp <= 1.1 * K else K


def _kernel(G, P, N, A, weighted, max_iter, tol, out_p, out_it, out_obj, KP):  # pragma: no cover - compiled
    B, K = P.shape
    v = np.empty(K)
    vv = np.zeros(KP)                # entries K.. stay 0
    u = np.empty(K)
    w = np.empty(K)
    h = np.empty(K)
    sp = np.empty(K)
    a = np.ones(K)
    den = np.empty(KP)
    pad = np.zeros((K, KP))          # one sample's gains, rows padded with zeros
    for b in range(B):
        if KP == K:
            g = G[b]
        else:
            gb = G[b]
            for i in range(K):
                for j in range(K):
                    pad[i, j] = gb[i, j]
            g = pad
        for i in range(K):
            sp[i] = math.sqrt(P[b, i])
            v[i] = sp[i]
            vv[i] = v[i] * v[i]
            h[i] = math.sqrt(g[i, i])
            if weighted:
                a[i] = A[b, i]
        # u, w at full power and the objective
        for i in range(K):
            s = 0.0
            for j in range(KP):
                s += g[i, j] * vv[j]
            r = s + N[b, i]
            hv = h[i] * v[i]
            u[i] = hv / r
            w[i] = r / (r - hv * hv)
        obj = _objective(w, a, weighted)
        it = 0
        while it < max_iter:
            it += 1
            # v_i = min(α_i w_i u_i h_i / max(Σ_j α_j w_j u_j² G[j, i], tiny), sqrt(P_i))
            for i in range(KP):
                den[i] = 0.0
            for j in range(K):
                c = a[j] * w[j] * u[j] * u[j]
                for i in range(KP):
                    den[i] += c * g[j, i]
            for i in range(K):
                x = a[i] * w[i] * u[i] * h[i] / max(den[i], _TINY)
                v[i] = x if x < sp[i] else sp[i]
                vv[i] = v[i] * v[i]
            for i in range(K):
                s = 0.0
                for j in range(KP):
                    s += g[i, j] * vv[j]
                r = s + N[b, i]
                hv = h[i] * v[i]
                u[i] = hv / r
                w[i] = r / (r - hv * hv)
            new = _objective(w, a, weighted)
            if not new - obj > tol:               # a NaN objective stops too
                obj = new
                break
            obj = new
        for i in range(K):
            out_p[b, i] = vv[i]
        out_it[b] = it
        out_obj[b] = obj


# reassociation lets the compiler vectorise the sums (a different summation order: agreement
# within tolerance, see the module docstring); no 'nnan'/'ninf', so NaN still stops a sample
_FLAGS = {"reassoc", "contract", "nsz", "arcp"}
if numba is not None:
    _objective = numba.njit(cache=True, nogil=True, fastmath=_FLAGS)(_objective)
    _compiled = numba.njit(cache=True, nogil=True, fastmath=_FLAGS)(_kernel)
else:                            # pragma: no cover
    _compiled = None


def available() -> bool:
    """Whether the compiled kernel can run (numba importable)."""
    return _compiled is not None


def wmmse_solve_compiled(gains: np.ndarray, p_max, noise_power, max_iter: int = 100, tol: float = 1e-3,
                         weights=None) -> WmmseResult:
    """``baselines.spectrum.wmmse.wmmse_solve`` (same arguments, same result) with the compiled kernel."""
    if _compiled is None:
        raise RuntimeError("numba is not installed: pip install numba, or use baselines.spectrum.wmmse.wmmse_solve")
    if max_iter < 0:
        raise ValueError(f"max_iter must be >= 0, got {max_iter}")
    G = _validated_gains(gains)
    B, K, _ = G.shape
    p_in, n_in = np.asarray(p_max, dtype=float), np.asarray(noise_power, dtype=float)
    _check_budgets(p_in, n_in, B * K)
    P = np.ascontiguousarray(np.broadcast_to(p_in, (B, K)))
    N = np.ascontiguousarray(np.broadcast_to(n_in, (B, K)))
    if weights is None:
        A, weighted = np.ones((1, 1)), False
    else:
        A = np.ascontiguousarray(np.broadcast_to(np.asarray(weights, float), (B, K)))
        if B * K and (A < 0).any():
            raise ValueError("weights must be >= 0")
        weighted = True
    out_p, out_obj = np.empty((B, K)), np.empty(B)
    out_it = np.zeros(B, dtype=np.int64)
    _compiled(G, P, N, A, weighted, int(max_iter), float(tol), out_p, out_it, out_obj, padded_width(K))
    return WmmseResult(powers=out_p, iterations=out_it, objective=out_obj)
