"""WMMSE power control for the single-antenna interference channel, batched over channel draws.

Shi, Razaviyayn, Luo & He, "An iteratively weighted MMSE approach to distributed sum-utility
maximization for a MIMO interfering broadcast channel", IEEE Trans. Signal Process. 59(9), 2011,
specialised to one antenna per node (the form Sun et al. 2018, "Learning to optimize", use as
their reference). ``K`` links, power gains ``G[i, j]`` from transmitter ``j`` to receiver ``i``,
noise ``σ²_i``, power budgets ``P_i``, weights ``α_i`` (1 for sum rate). Maximising
``Σ α_i log2(1 + SINR_i)`` over ``0 <= p_i <= P_i`` is equivalent to minimising the weighted
sum-MSE

    f(u, w, v) = Σ_i α_i (w_i e_i − ln w_i),
    e_i = (1 − u_i h_i v_i)² + u_i² (Σ_{j≠i} G[i, j] v_j² + σ²_i),   h_i = sqrt(G[i, i]),

over receive gains ``u``, MSE weights ``w`` and transmit amplitudes ``v`` (``p = v²``). WMMSE is
block-coordinate descent on ``f``; each block has a closed-form exact minimiser:

    u_i = h_i v_i / (Σ_j G[i, j] v_j² + σ²_i)                 (MMSE receiver)
    w_i = 1 / e_i = 1 / (1 − u_i h_i v_i) = 1 + SINR_i
    v_i = min( α_i w_i u_i h_i / Σ_j α_j w_j u_j² G[j, i], sqrt(P_i) )

so ``f`` never increases between blocks, and after each (u, w) update
``f = Σ α_i (1 − ln w_i)``, i.e. the weighted sum rate ``Σ α_i log2 w_i`` of the current powers
never decreases between iterations (``tests/spectrum/test_wmmse.py`` checks both).

Protocol (Sun et al. 2018, their released code): start at full power ``v_i = sqrt(P_i)``; iterate
until ``max_iter`` iterations or until an iteration improves the objective ``Σ α_i log2 w_i`` by
at most ``tol`` (the iterate of that last iteration is kept). In a batch every sample stops on
its own: its result is recorded at the iteration where it stops, and stopped samples are dropped
from the working set once a quarter of it has stopped (until then they ride along, their results
already taken), so a batch costs about the total number of iterations, not the batch size times
the slowest sample.

Speed: ``wmmse_loop`` is the same algorithm one sample at a time, with the same numpy operations
on 1-D arrays (the same BLAS matrix-vector products, the same summation), so its results equal
the batched ones bit for bit; ``tests/benchmarks/test_spectrum_speed.py`` times the two. What
the batch saves is numpy's per-call overhead (~17 small-array calls per iteration of the loop);
what it cannot save is one BLAS matrix-vector product per sample and per half-iteration (numpy's
stacked ``matmul`` calls ``dgemv`` per sample), which streams every ``G`` twice per iteration and
dominates at K = 30.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_TINY = 1e-300


@dataclass(frozen=True)
class WmmseResult:
    """``powers`` (B, K) in the unit of ``p_max``; ``iterations`` (B,) run per sample;
    ``objective`` (B,) the final weighted sum rate ``Σ α log2(1 + SINR)``, bit/s/Hz."""

    powers: np.ndarray
    iterations: np.ndarray
    objective: np.ndarray


def _prepare(gains: np.ndarray, p_max, noise_power, weights=None):
    G = np.asarray(gains, dtype=float)
    if G.ndim == 2:
        G = G[None]
    if G.ndim != 3 or G.shape[1] != G.shape[2]:
        raise ValueError(f"gains must have shape (B, K, K) (gains[b, i, j]: transmitter j -> "
                         f"receiver i), got {np.shape(gains)}")
    if G.size and not (G.min() >= 0.0 and G.max() < np.inf):     # NaN fails both comparisons
        raise ValueError("gains must be finite power gains >= 0")
    B, K, _ = G.shape
    P = np.broadcast_to(np.asarray(p_max, dtype=float), (B, K)).copy()
    N = np.broadcast_to(np.asarray(noise_power, dtype=float), (B, K)).copy()
    if (P < 0).any() or not np.all(np.isfinite(P)):
        raise ValueError("p_max must be finite and >= 0 (scalar, (K,) or (B, K))")
    if (N <= 0).any() or not np.all(np.isfinite(N)):
        raise ValueError("noise_power must be finite and > 0 (scalar, (K,) or (B, K))")
    a = np.ones((B, K)) if weights is None else np.broadcast_to(np.asarray(weights, float), (B, K)).copy()
    if (a < 0).any():
        raise ValueError("weights must be >= 0")
    return G, P, N, a


def _uw(G: np.ndarray, h: np.ndarray, v: np.ndarray, N: np.ndarray):
    """MMSE receive gains ``u`` and weights ``w = 1 + SINR`` for amplitudes ``v`` (batched)."""
    rx = G @ (v * v)[..., None]
    rx = rx[..., 0] + N                                   # total received power incl. own signal
    hv = h * v
    u = hv / rx
    w = rx / (rx - hv * hv)                               # 1 / (1 - u h v), stable form
    return u, w, rx


def _v_update(G: np.ndarray, h: np.ndarray, u: np.ndarray, w: np.ndarray, a: np.ndarray | None,
              sqrt_p: np.ndarray) -> np.ndarray:
    """``v_i = min(α_i w_i u_i h_i / Σ_j α_j w_j u_j² G[j, i], sqrt(P_i))``. Where the
    denominator vanishes so does the numerator (its j = i term is ``α_i w_i u_i² G[i, i]``), and
    the floor under the denominator makes such a link (e.g. a zero-gain padding link) silent."""
    wu = w * u if a is None else a * w * u
    den = ((wu * u)[:, None, :] @ G)[:, 0, :]             # Σ_j α_j w_j u_j² G[j, i]
    v = wu * h / np.maximum(den, _TINY)
    return np.minimum(v, sqrt_p, out=v)


def _objective(a: np.ndarray | None, w: np.ndarray) -> np.ndarray:
    lw = np.log2(w)
    return lw.sum(axis=-1) if a is None else (a * lw).sum(axis=-1)


def wmmse_solve(gains: np.ndarray, p_max, noise_power, max_iter: int = 100, tol: float = 1e-3,
                weights=None) -> WmmseResult:
    """WMMSE on a batch (see the module docstring); ``weights`` α (default 1: sum rate).

    The updates are ``_v_update`` and ``_uw`` written out with preallocated buffers (the same
    operations in the same order, so the same floating-point results as the loop); the working
    block of samples not yet stopped is compacted when a quarter of it has stopped."""
    if max_iter < 0:
        raise ValueError(f"max_iter must be >= 0, got {max_iter}")
    G, P, N, a = _prepare(gains, p_max, noise_power, weights)
    if weights is None:
        a = None                                          # sum rate: skip the unit weights
    B, K, _ = G.shape
    h = np.sqrt(np.diagonal(G, axis1=1, axis2=2))        # (B, K)
    sqrt_p = np.sqrt(P)
    v = sqrt_p.copy()                                     # start at full power
    u, w, _ = _uw(G, h, v, N)
    obj = _objective(a, w)
    iters = np.zeros(B, dtype=np.int64)
    out_v = v.copy()
    out_obj = obj.copy()

    # working block: samples not stopped (``live``) plus those stopped since the last compaction
    blk = np.arange(B)
    live = np.ones(B, dtype=bool)
    n_blk = n_live = B
    Ga, ha, Na, aa, sa = G, h, N, a, sqrt_p
    row_in, row_out = np.empty((B, 1, K)), np.empty((B, 1, K))       # matmul operands, reused
    col_in = np.empty((B, K, 1))
    buf_wu, buf_lw = np.empty((B, K)), np.empty((B, K))
    it = 0
    while it < max_iter:
        it += 1
        # v_i = min(α_i w_i u_i h_i / max(Σ_j α_j w_j u_j² G[j, i], tiny), sqrt(P_i))
        wu = np.multiply(w, u, out=buf_wu[:n_blk]) if aa is None else \
            np.multiply(aa * w, u, out=buf_wu[:n_blk])
        np.multiply(wu, u, out=row_in[:n_blk, 0, :])
        den = np.matmul(row_in[:n_blk], Ga, out=row_out[:n_blk])[:, 0, :]
        wu *= ha
        np.maximum(den, _TINY, out=den)
        v = np.divide(wu, den)
        np.minimum(v, sa, out=v)
        # MMSE receivers u and weights w = 1 + SINR (``_uw``)
        np.multiply(v, v, out=col_in[:n_blk, :, 0])
        rx = np.matmul(Ga, col_in[:n_blk])[:, :, 0]
        rx += Na
        hv = ha * v
        u = hv / rx
        np.multiply(hv, hv, out=hv)
        np.subtract(rx, hv, out=hv)
        w = np.divide(rx, hv, out=hv)
        lw = np.log2(w, out=buf_lw[:n_blk])
        new = lw.sum(axis=-1) if aa is None else (aa * lw).sum(axis=-1)
        going = (new - obj) > tol
        obj = new
        if n_live < n_blk:
            going &= live
        elif going.all():
            continue
        done = live & ~going
        if done.any():                                    # record the samples that stop here
            idx = blk[done]
            iters[idx] = it
            out_v[idx] = v[done]
            out_obj[idx] = new[done]
        live = going
        n_live = int(np.count_nonzero(live))
        if n_live == 0:
            break
        if n_live < 0.75 * n_blk:
            sel = np.flatnonzero(live)
            blk, v, u, w, obj = blk[sel], v[sel], u[sel], w[sel], obj[sel]
            Ga, ha, Na, sa = Ga.take(sel, axis=0), ha[sel], Na[sel], sa[sel]
            aa = None if aa is None else aa[sel]
            n_blk = n_live
            live = np.ones(n_blk, dtype=bool)
    if n_live and it > 0:
        idx = blk[live]
        iters[idx] = it
        out_v[idx] = v[live]
        out_obj[idx] = obj[live]
    return WmmseResult(powers=out_v * out_v, iterations=iters, objective=out_obj)


def wmmse(gains: np.ndarray, p_max, noise_power, max_iter: int = 100, tol: float = 1e-3) -> np.ndarray:
    """WMMSE sum-rate power control on a batch of interference channels.

    ``gains`` (B, K, K): ``gains[b, i, j]`` is the power gain from transmitter ``j`` to receiver
    ``i`` in sample ``b`` (a (K, K) matrix is taken as B = 1). ``p_max``: power budget, a scalar
    or broadcastable to (B, K). ``noise_power``: noise (plus any fixed external interference) at
    each receiver, scalar or broadcastable to (B, K), in the same unit as ``gains * p_max``.
    Starts at full power; stops per sample after ``max_iter`` iterations or when an iteration
    improves the sum rate ``Σ log2(1 + SINR)`` by ``<= tol`` bit/s/Hz (Sun et al. 2018).
    Returns the powers, shape (B, K), in the unit of ``p_max``.
    """
    return wmmse_solve(gains, p_max, noise_power, max_iter, tol).powers


def wmmse_loop(gains: np.ndarray, p_max, noise_power, max_iter: int = 100, tol: float = 1e-3) -> np.ndarray:
    """The same algorithm one sample at a time: a plain per-sample implementation (1-D arrays,
    a scalar stopping test), the reference that ``wmmse`` must equal bit for bit and the
    comparator of the speed benchmark. Inputs are checked once for the whole batch."""
    if max_iter < 0:
        raise ValueError(f"max_iter must be >= 0, got {max_iter}")
    G, P, N, _ = _prepare(gains, p_max, noise_power)
    H = np.sqrt(np.diagonal(G, axis1=1, axis2=2))
    SP = np.sqrt(P)
    out = np.empty(P.shape)
    for b in range(G.shape[0]):
        g, h, sp, n = G[b], H[b], SP[b], N[b]
        v = sp.copy()
        rx = g @ (v * v) + n
        hv = h * v
        u = hv / rx
        w = rx / (rx - hv * hv)
        obj = np.log2(w).sum()
        for _ in range(max_iter):
            wu = w * u
            den = (wu * u) @ g                            # Σ_j w_j u_j² G[j, i]
            v = wu * h / np.maximum(den, _TINY)
            np.minimum(v, sp, out=v)
            rx = g @ (v * v) + n                          # Σ_j G[i, j] v_j² + σ²_i
            hv = h * v
            u = hv / rx
            w = rx / (rx - hv * hv)
            new = np.log2(w).sum()
            if new - obj <= tol:
                break
            obj = new
        out[b] = v * v
    return out


def sum_rate(gains: np.ndarray, powers: np.ndarray, noise_power) -> np.ndarray:
    """``Σ_i log2(1 + G[i,i] p_i / (σ²_i + Σ_{j≠i} G[i,j] p_j))`` per sample, bit/s/Hz; shapes
    (B, K, K), (B, K) -> (B,)."""
    G = np.asarray(gains, dtype=float)
    p = np.asarray(powers, dtype=float)
    if G.ndim == 2:
        G, p = G[None], p[None]
    rx = np.einsum("bij,bj->bi", G, p)
    own = np.diagonal(G, axis1=1, axis2=2) * p
    N = np.broadcast_to(np.asarray(noise_power, dtype=float), own.shape)
    return np.log2(1.0 + own / (N + rx - own)).sum(axis=-1)


def weighted_sum_mse(gains: np.ndarray, u: np.ndarray, w: np.ndarray, v: np.ndarray, noise_power,
                     weights=None) -> np.ndarray:
    """The WMMSE objective ``f(u, w, v) = Σ α (w e − ln w)`` per sample (module docstring)."""
    G, _, N, a = _prepare(gains, 1.0, noise_power, weights)
    u, w, v = (np.asarray(x, dtype=float).reshape(G.shape[0], -1) for x in (u, w, v))
    h = np.sqrt(np.diagonal(G, axis1=1, axis2=2))
    rx = np.einsum("bij,bj->bi", G, v * v) + N
    e = 1.0 - 2.0 * u * h * v + u * u * rx
    return (a * (w * e - np.log(w))).sum(axis=-1)


def wmmse_blocks(gains: np.ndarray, p_max, noise_power, n_iter: int) -> list[tuple[str, np.ndarray]]:
    """Run ``n_iter`` iterations without the stopping rule and return the weighted sum-MSE after
    every block update, as ``[(block name, f (B,)), ...]`` starting from the full-power point with
    its MMSE ``u`` and ``w`` (for the monotonicity test)."""
    G, P, N, a = _prepare(gains, p_max, noise_power)
    h = np.sqrt(np.diagonal(G, axis1=1, axis2=2))
    sqrt_p = np.sqrt(P)
    v = sqrt_p.copy()
    u, w, _ = _uw(G, h, v, N)
    trace = [("init", weighted_sum_mse(G, u, w, v, N, a))]
    for _ in range(n_iter):
        v = _v_update(G, h, u, w, a, sqrt_p)
        trace.append(("v", weighted_sum_mse(G, u, w, v, N, a)))
        u, _, rx = _uw(G, h, v, N)
        trace.append(("u", weighted_sum_mse(G, u, w, v, N, a)))
        e = 1.0 - 2.0 * u * h * v + u * u * rx
        w = 1.0 / e
        trace.append(("w", weighted_sum_mse(G, u, w, v, N, a)))
    return trace


def __getattr__(name: str):
    """``baselines.wmmse.WmmsePolicy``: the spectrum task's policy built on this function (per
    sub-band WMMSE; ``baselines/spectrum/wmmse_policy.py``), imported lazily so that this module
    stays a plain numpy function."""
    if name == "WmmsePolicy":
        from baselines.spectrum.wmmse_policy import WmmsePolicy

        return WmmsePolicy
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
