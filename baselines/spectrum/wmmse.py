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
from the working set once a quarter of it has stopped (and, for small K, where a compaction costs
more than a stopped sample's iteration, at least ``8000 / (K² + 100)`` samples; until then they
ride along, their results already taken), so a batch costs about the total number of iterations,
not the batch size times the slowest sample.

Speed: ``wmmse_loop`` is the same algorithm one sample at a time, with the same numpy operations
on 1-D arrays (the same BLAS matrix-vector products, the same summation), so its results equal
the batched ones bit for bit; ``tests/benchmarks/test_spectrum_speed.py`` times the two and
``docs/performance.md`` has the figures. What the batch saves is numpy's per-call overhead
(~17 small-array calls per iteration of the loop, ~8 µs per sample-iteration whatever K); what
it cannot save is one BLAS matrix-vector product per sample and per half-iteration (numpy's
stacked ``matmul`` calls ``dgemv`` per sample) plus ~15 elementwise passes, ~530 ns per
sample-iteration at K = 30 on the reference VM — which is why the ratio falls with K. So
``wmmse_solve`` keeps everything else small: all arrays live in a per-thread workspace reused
between calls (fresh large allocations page-fault), every update writes into it with ``out=``,
compactions move only the samples that must move, and the gains are checked in one pass.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np

_TINY = 1e-300
_INF_BITS = np.float64(np.inf).view(np.uint64)
# compaction policy: compact the working block once a fraction ``_DROP_FRACTION`` of it has
# stopped, and at least ``_DROP_WORK / (K² + 100)`` samples (a stopped sample riding along costs
# about K² + 100 units of work per iteration, a compaction tens of numpy calls, so it pays off
# sooner for large K; values tuned by measurement at K = 10 ... 200)
_DROP_FRACTION = 0.25
_DROP_WORK = 8000


@dataclass(frozen=True)
class WmmseResult:
    """``powers`` (B, K) in the unit of ``p_max``; ``iterations`` (B,) run per sample;
    ``objective`` (B,) the final weighted sum rate ``Σ α log2(1 + SINR)``, bit/s/Hz."""

    powers: np.ndarray
    iterations: np.ndarray
    objective: np.ndarray


def _validated_gains(gains) -> np.ndarray:
    """``gains`` as a C-contiguous float (B, K, K) array, checked: finite and >= 0. (Contiguous:
    numpy picks another matrix-product route for a strided matrix, whose last bits differ, and
    the batch and the loop must see the same layout.)"""
    G = np.ascontiguousarray(gains, dtype=float)
    if G.ndim == 2:
        G = G[None]
    if G.ndim != 3 or G.shape[1] != G.shape[2]:
        raise ValueError(f"gains must have shape (B, K, K) (gains[b, i, j]: transmitter j -> "
                         f"receiver i), got {np.shape(gains)}")
    # One pass in the usual case: read as unsigned integers, the bit patterns of +0.0 up to the
    # largest finite float lie below that of +inf, and those of negative numbers, -inf and NaN
    # above it; otherwise the exact test decides (-0.0 passes it; NaN fails both comparisons).
    if G.size and not G.view(np.uint64).max() < _INF_BITS \
            and not (G.min() >= 0.0 and G.max() < np.inf):
        raise ValueError("gains must be finite power gains >= 0")
    return G


def _check_budgets(p_in: np.ndarray, n_in: np.ndarray, size: int) -> None:
    """``p_max`` and ``noise_power`` as given (before broadcasting to (B, K) elements: when
    ``size`` > 0 the broadcast repeats every given value, so checking them is the same)."""
    if size and not (p_in.min() >= 0.0 and p_in.max() < np.inf):
        raise ValueError("p_max must be finite and >= 0 (scalar, (K,) or (B, K))")
    if size and not (n_in.min() > 0.0 and n_in.max() < np.inf):
        raise ValueError("noise_power must be finite and > 0 (scalar, (K,) or (B, K))")


def _prepare(gains: np.ndarray, p_max, noise_power, weights=None):
    G = _validated_gains(gains)
    B, K, _ = G.shape
    p_in, n_in = np.asarray(p_max, dtype=float), np.asarray(noise_power, dtype=float)
    P = np.broadcast_to(p_in, (B, K)).copy()
    N = np.broadcast_to(n_in, (B, K)).copy()
    _check_budgets(p_in, n_in, B * K)
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


# Per-thread workspace of ``wmmse_solve``: one float64 buffer kept between calls, so that a call
# works in memory that is already mapped instead of page-faulting fresh allocations (~1.4 µs per
# 4 KiB page on the reference VM). A call needs B * K * (K + 14) floats (one more B * K with
# weights); workspaces above ``_KEEP_FLOATS`` (32 MiB) are not kept.
_TLS = threading.local()
_KEEP_FLOATS = 1 << 22


def _workspace(shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    """Arrays of the given shapes carved out of this thread's workspace (contents undefined)."""
    sizes = [math.prod(s) for s in shapes]
    spans = [-(-n // 8) * 8 for n in sizes]               # offsets: multiples of 64 bytes
    total = sum(spans)
    buf = getattr(_TLS, "buf", None)
    if buf is None or buf.size < total:
        buf = np.empty(total)
        if total <= _KEEP_FLOATS:
            _TLS.buf = buf
    out, o = [], 0
    for s, n, span in zip(shapes, sizes, spans):
        out.append(buf[o:o + n].reshape(s))
        o += span
    return out


def _uw_objective(g, v, h, nn, a, ci, ci3, co3, rx, t, u, w, lw, obj) -> None:
    """``_uw`` and the objective ``Σ α log2 w`` written into the workspace views of
    ``wmmse_solve``: ``ci``/``ci3`` take ``v²`` (the matmul operand), ``co3``/``rx`` the received
    power, ``t`` is scratch (``hv``), ``u``, ``w``, ``lw`` and ``obj`` the results."""
    np.multiply(v, v, out=ci)
    np.matmul(g, ci3, out=co3)
    np.add(rx, nn, out=rx)
    np.multiply(h, v, out=t)                              # hv
    np.divide(t, rx, out=u)
    np.multiply(t, t, out=t)
    np.subtract(rx, t, out=t)
    np.divide(rx, t, out=w)
    np.log2(w, out=lw)
    if a is not None:
        np.multiply(a, lw, out=lw)
    np.add.reduce(lw, axis=1, out=obj)


def wmmse_solve(gains: np.ndarray, p_max, noise_power, max_iter: int = 100, tol: float = 1e-3,
                weights=None) -> WmmseResult:
    """WMMSE on a batch (see the module docstring); ``weights`` α (default 1: sum rate).

    The updates are ``_uw`` and ``_v_update`` written out into preallocated buffers (the same
    operations in the same order, so the same floating-point results as the loop), all of them in
    a per-thread workspace reused between calls (``_workspace``). The working block holds the
    samples not yet stopped, plus those stopped since the last compaction (their results already
    recorded). The first compaction copies the block's gains out of ``gains`` (read in place until
    then) into the workspace; later ones move only the live samples from the end of the block
    into the stopped samples' slots. The order of the samples in the block does not change any
    sample's arithmetic."""
    if max_iter < 0:
        raise ValueError(f"max_iter must be >= 0, got {max_iter}")
    G = _validated_gains(gains)
    B, K, _ = G.shape
    n_state = 6 if weights is None else 7
    Gw, S, T, LW, OV, TINY, RI, RO, CI, CO = _workspace(
        [(B, K, K), (n_state, B, K)] + [(B, K)] * 4 + [(B, 1, K)] * 2 + [(B, K, 1)] * 2)
    # the inputs, checked as ``_prepare`` checks them, go straight into the workspace
    p_in, n_in = np.asarray(p_max, dtype=float), np.asarray(noise_power, dtype=float)
    p_b, n_b = np.broadcast_to(p_in, (B, K)), np.broadcast_to(n_in, (B, K))
    _check_budgets(p_in, n_in, B * K)
    if weights is None:
        a = None                                          # sum rate: skip the unit weights
    else:
        a_in = np.asarray(weights, float)
        a_b = np.broadcast_to(a_in, (B, K))
        if B * K and (a_in < 0).any():
            raise ValueError("weights must be >= 0")
        a = S[6]
        np.copyto(a, a_b)
    # per-sample state, one array so that a compaction moves it in one step: (B, K) planes
    v, u, w, h, nn, sp = S[:6]
    np.copyto(nn, n_b)
    np.sqrt(p_b, out=sp)
    np.copyto(v, sp)                                      # start at full power
    np.sqrt(np.diagonal(G, axis1=1, axis2=2), out=h)
    TINY.fill(_TINY)                                      # (np.maximum is faster with an array)
    # per-sample scalars: the objective (two planes, alternately the current and the new one)
    # and the stopping threshold, +inf once a sample stopped (NaN > inf is False too)
    s1 = np.empty((3, B))
    obj, new, tols = s1
    tols.fill(tol)
    diff = np.empty(B)
    blk = np.arange(B)                                    # sample in each slot of the block
    live, going, done = np.ones(B, dtype=bool), np.empty(B, dtype=bool), np.empty(B, dtype=bool)

    # views of the block (shortened when it shrinks); rx lives in CO, wu and hv in T
    g, t, lw, tiny = G, T, LW, TINY
    ri3, ro3, ci3, co3 = RI, RO, CI, CO
    ri, ro, ci, rx = RI[:, 0, :], RO[:, 0, :], CI[:, :, 0], CO[:, :, 0]
    # u, w at full power (``_uw``) and the objective
    _uw_objective(g, v, h, nn, a, ci, ci3, co3, rx, t, u, w, lw, obj)
    out_obj = obj.copy()
    np.copyto(OV, v)
    iters = np.zeros(B, dtype=np.int64)
    min_drop = _DROP_WORK / (K * K + 100)
    n = n_live = B
    it = 0
    while n_live and it < max_iter:
        it += 1
        # v_i = min(α_i w_i u_i h_i / max(Σ_j α_j w_j u_j² G[j, i], tiny), sqrt(P_i))
        if a is None:
            np.multiply(w, u, out=t)
        else:
            np.multiply(a, w, out=t)
            np.multiply(t, u, out=t)
        np.multiply(t, u, out=ri)
        np.matmul(ri3, g, out=ro3)                        # den
        np.multiply(t, h, out=t)
        np.maximum(ro, tiny, out=ro)
        np.divide(t, ro, out=v)
        np.minimum(v, sp, out=v)
        # MMSE receivers u and weights w = 1 + SINR (``_uw``), and the objective
        _uw_objective(g, v, h, nn, a, ci, ci3, co3, rx, t, u, w, lw, new)
        np.subtract(new, obj, out=diff)
        np.greater(diff, tols, out=going)
        obj, new = new, obj
        n_go = np.count_nonzero(going)
        if n_go == n_live:
            continue
        # record the samples that stop at this iteration
        pos = np.flatnonzero(np.less(going, live, out=done))
        idx = blk[pos]
        iters[idx] = it
        OV[idx] = v[pos]
        out_obj[idx] = obj[pos]
        tols[pos] = np.inf
        live, going = going, live
        n_live = n_go
        if n_live and n - n_live >= min_drop and n - n_live >= _DROP_FRACTION * n:
            if g is G:
                # first compaction: the live samples to the front, their gains into the workspace
                keep = np.flatnonzero(live)
                S[:, :n_live] = S[:, keep]
                s1[:, :n_live] = s1[:, keep]
                blk[:n_live] = blk[keep]
                g = Gw[:n_live]
                np.take(G, blk[:n_live], axis=0, out=g, mode="clip")
            else:
                # the live samples beyond n_live move into the stopped samples' slots below it
                holes = np.flatnonzero(~live[:n_live])
                if len(holes):
                    movers = np.flatnonzero(live[n_live:])
                    movers += n_live
                    S[:, holes] = S[:, movers]
                    s1[:, holes] = s1[:, movers]
                    blk[holes] = blk[movers]
                    g[holes] = g[movers]
                g = g[:n_live]
            n = n_live
            v, u, w, h, nn, sp = S[:6, :n]
            a = None if a is None else S[6, :n]
            t, lw, tiny = t[:n], lw[:n], tiny[:n]
            obj, new, tols, diff = obj[:n], new[:n], tols[:n], diff[:n]
            blk, live, going, done = blk[:n], live[:n], going[:n], done[:n]
            live.fill(True)
            ri3, ro3, ci3, co3 = ri3[:n], ro3[:n], ci3[:n], co3[:n]
            ri, ro, ci, rx = ri[:n], ro[:n], ci[:n], rx[:n]
    if n_live and it > 0:
        pos = np.flatnonzero(live)
        idx = blk[pos]
        iters[idx] = it
        OV[idx] = v[pos]
        out_obj[idx] = obj[pos]
    return WmmseResult(powers=OV * OV, iterations=iters, objective=out_obj)


def wmmse(gains: np.ndarray, p_max, noise_power, max_iter: int = 100, tol: float = 1e-3,
          compiled: bool | None = None) -> np.ndarray:
    """WMMSE sum-rate power control on a batch of interference channels.

    ``gains`` (B, K, K): ``gains[b, i, j]`` is the power gain from transmitter ``j`` to receiver
    ``i`` in sample ``b`` (a (K, K) matrix is taken as B = 1). ``p_max``: power budget, a scalar
    or broadcastable to (B, K). ``noise_power``: noise (plus any fixed external interference) at
    each receiver, scalar or broadcastable to (B, K), in the same unit as ``gains * p_max``.
    Starts at full power; stops per sample after ``max_iter`` iterations or when an iteration
    improves the sum rate ``Σ log2(1 + SINR)`` by ``<= tol`` bit/s/Hz (Sun et al. 2018).
    Returns the powers, shape (B, K), in the unit of ``p_max``. ``compiled`` (default: whenever
    numba is installed) runs ``baselines.spectrum.wmmse_compiled``'s kernel, which agrees with the numpy
    batch and ``wmmse_loop`` within ``bench.reproduce``'s tolerance with identical iteration
    counts, and is faster; ``compiled=False`` runs the numpy batch (bit-identical to the loop).
    """
    from baselines.spectrum import wmmse_compiled

    if compiled or (compiled is None and wmmse_compiled.available()):
        return wmmse_compiled.wmmse_solve_compiled(gains, p_max, noise_power, max_iter, tol).powers
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
            if not new - obj > tol:                      # (a NaN objective stops, as in the batch)
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
    """``baselines.spectrum.wmmse.WmmsePolicy``: the spectrum task's policy built on this function (per
    sub-band WMMSE; ``baselines/spectrum/wmmse_policy.py``), imported lazily so that this module
    stays a plain numpy function."""
    if name == "WmmsePolicy":
        from baselines.spectrum.wmmse_policy import WmmsePolicy

        return WmmsePolicy
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
