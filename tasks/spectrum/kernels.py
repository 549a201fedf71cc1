"""Compiled (numba) kernels for one slot of ``spectrum/Interference-v1/-v2``: the fading update
with the refresh of the gains, and the slot's outcome (interference, SINR, rates, incumbent
interference and blame, counters, measurements and the next observation) in one call each.

Why: at K = 50 the numpy step is about sixty small array calls of a few microseconds each; the
arithmetic itself is a few thousand flops. ``InterferenceEnv`` uses these kernels when numba is
installed (``AVAILABLE``) and its numpy path otherwise, or when asked (``use_compiled(False)``).

Agreement: every random draw is still the env's own numpy Generator's stream, bit for bit (numba's
port of numpy's ziggurat on the Generator's PCG64 state, as ``channel.gauss_markov_step``), so the
fading state is identical on both paths. The derived floats are not bit-identical to the numpy
path — numpy's BLAS products and SIMD ``log2``/``log10`` round differently from these loops — but
they agree within the project's cross-machine tolerance (``bench.reproduce``: rel 1e-9, abs 1e-12),
which ``tests/spectrum/test_compiled_step.py`` checks on the env over whole episodes at every scale
and in every scenario, v1 and v2. The observations are float32 casts of those floats, so where a
float64 value lies within an ulp of a float32 rounding boundary the two paths' observations can
differ by one float32 ulp (relative 6e-8); the tests bound that too.

Drawing from the Generator without numba's per-call unboxing: numba unboxes a ``Generator``
argument through ``ctypes`` on every call (about 12 µs, as much as 2,000 normal draws). Here the
kernels receive the bit generator's state address and its ``next_*`` function pointers as four
integers (``generator_pointers``) and rebuild numba's bit-generator struct inside the kernel; the
draws then go through numba's own ``random_standard_normal`` exactly as with a ``Generator``
argument. The pointers are read from the live Generator before every call, so a copied or
re-seeded Generator is never drawn through a stale address.
"""

from __future__ import annotations

import ctypes
import math

import numpy as np

_SQRT_HALF = math.sqrt(0.5)
_LOG10_SCALE = 10.0

try:
    import numba as _numba
    from numba.core import cgutils, types
    from numba.extending import intrinsic
    from numba.np.random.distributions import random_standard_normal

    _BITGEN = types.NumPyRandomBitGeneratorType("bit_generator")

    @intrinsic
    def _bitgen_from_pointers(typingctx, state, next_uint64, next_uint32, next_double):
        """numba's bit-generator struct for a numpy BitGenerator given by its addresses."""
        sig = _BITGEN(types.uintp, types.uintp, types.uintp, types.uintp)

        def codegen(context, builder, signature, args):
            st, f64, f32, fdbl = args
            bg = cgutils.create_struct_proxy(_BITGEN)(context, builder)
            bg.state_address = st
            bg.state = st
            bg.fnptr_next_uint64 = f64
            bg.fnptr_next_uint32 = f32
            bg.fnptr_next_double = fdbl
            bg.bit_generator = context.get_constant(types.uintp, 0)
            bg.parent = cgutils.get_null_value(bg.parent.type)
            return bg._getvalue()

        return sig, codegen

    _njit = _numba.njit(cache=True, nogil=True)
    AVAILABLE = True
except Exception:           # pragma: no cover - numba absent or its internals changed
    _njit = None
    AVAILABLE = False


_FN_POINTERS: dict[type, tuple[int, int, int]] = {}


def generator_pointers(rng: np.random.Generator) -> np.ndarray:
    """``[state address, next_uint64, next_uint32, next_double]`` (uint64) of ``rng``'s bit
    generator, read from the live object (numpy caches its ``ctypes`` interface)."""
    bg = rng.bit_generator
    iface = bg.ctypes
    fns = _FN_POINTERS.get(type(bg))
    if fns is None:
        fns = tuple(ctypes.cast(getattr(iface, n), ctypes.c_void_p).value
                    for n in ("next_uint64", "next_uint32", "next_double"))
        _FN_POINTERS[type(bg)] = fns
    return np.array((iface.state_address,) + fns, dtype=np.uint64)


def _draw_normals(ptrs, out):  # pragma: no cover - compiled
    """``rng.standard_normal(out=out)`` for 1-D ``out``: the same stream, bit for bit."""
    bitgen = _bitgen_from_pointers(ptrs[0], ptrs[1], ptrs[2], ptrs[3])
    for i in range(out.size):
        out[i] = random_standard_normal(bitgen)


def _gauss_markov_step(ptrs, h, rho, scale):  # pragma: no cover - compiled
    """``channel.gauss_markov_step`` on the addresses of the Generator (same draws, same bits)."""
    bitgen = _bitgen_from_pointers(ptrs[0], ptrs[1], ptrs[2], ptrs[3])
    for i in range(h.size):
        z = random_standard_normal(bitgen)
        z = z * 0.7071067811865476
        z = z * scale
        h[i] = h[i] * rho + z


def _fading_core(ptrs, h, rho, scale, direct_mean, neighbour_mean, external_mean, direct, dev, external,
                 primary):  # pragma: no cover - compiled
    """``channel.gauss_markov_step`` (same draws, same operations, same bits of ``h``), then the
    slot's gains from ``|h|²`` written into ``direct`` (K, M), ``dev`` (K, F, M: the faded cross
    gains' deviation from their mean), ``external`` (K,) and ``primary`` (U, K)
    (``InterferenceChannel._refresh``'s quantities)."""
    bitgen = _bitgen_from_pointers(ptrs[0], ptrs[1], ptrs[2], ptrs[3])
    for i in range(h.size):
        z = random_standard_normal(bitgen)
        z = z * 0.7071067811865476
        z = z * scale
        h[i] = h[i] * rho + z
    K, M = direct.shape
    F = dev.shape[1]
    e = 0
    for k in range(K):
        for m in range(M):
            direct[k, m] = (h[e] * h[e] + h[e + 1] * h[e + 1]) * direct_mean[k]
            e += 2
    for k in range(K):
        for f in range(F):
            for m in range(M):
                dev[k, f, m] = (h[e] * h[e] + h[e + 1] * h[e + 1] - 1.0) * neighbour_mean[k, f]
                e += 2
    for k in range(K):
        external[k] = (h[e] * h[e] + h[e + 1] * h[e + 1]) * external_mean[k]
        e += 2
    for u in range(primary.shape[0]):
        for k in range(K):
            primary[u, k] = h[e] * h[e] + h[e + 1] * h[e + 1]
            e += 2


def _fading_step(ptrs, h, rho, scale, direct_mean, neighbour_mean, external_mean, n_bands, n_primary):  # pragma: no cover - compiled
    """``_fading_core`` into fresh arrays (every slot's gains are new arrays: snapshots stay valid)."""
    K = direct_mean.shape[0]
    F = neighbour_mean.shape[1]
    direct = np.empty((K, n_bands))
    dev = np.empty((K, F, n_bands))
    external = np.empty(K)
    primary = np.empty((n_primary, K))
    _fading_core(ptrs, h, rho, scale, direct_mean, neighbour_mean, external_mean, direct, dev, external, primary)
    return direct, dev, external, primary


def _fading_steps(ptrs, h, rho, scale, direct_mean, neighbour_mean, external_mean, direct, dev, external,
                  primary):  # pragma: no cover - compiled
    """``_fading_core`` for every episode ``b`` of a batch (leading axis), in place."""
    for b in range(h.shape[0]):
        _fading_core(ptrs[b], h[b], rho, scale, direct_mean[b], neighbour_mean[b], external_mean[b], direct[b],
                     dev[b], external[b], primary[b])


def _slot_core(a_played, cap_of, available, band0_of, power_of, direct, cross_mean, dev, neighbours, noise,
               ext_band, ext_mw, external, pu_gain, pu_band, pu_active, pu_fade, threshold, proportional,
               energy_of, budget_of, mbit_per_rate, cum_rate, t, onehot_of, rel_db_of, min_gain, snr_scale,
               inv_noise, static_next, feedback_nb, leak_db,
               a, cols, power, suspended, si, fb, last_power_db, obs):  # pragma: no cover - compiled
    """One slot's outcome (``InterferenceEnv._advance`` up to the channel's move, both rules), written
    into the outputs: the executed actions ``a`` (K,), ``cols`` (7, K, zeros on entry) = [rate,
    safe rate, Mbit, energy J, budget excess dB, blamed incumbent excess dB, blocked 0/1],
    ``power`` (K,), ``suspended`` (K,) bool (False on entry), the measurements ``si`` (K, 2M),
    ``fb`` (K, M + 1), ``last_power_db`` (K,) and the next observation matrix ``obs`` (K, D)
    float32; ``cum_rate`` is updated in place. Returns ``(any_blocked, any_over, jain, p5)``:
    whether an action was not executed as played, whether an active incumbent is above ``I_th``,
    Jain's index and the 5th percentile of the running average rates."""
    K, M = direct.shape
    n_actions = band0_of.size
    # what the radios execute: a level above the budget capped (v2's mask rule, ``cap_of``), a
    # band in outage silent (``available``); ``blocked`` where that differs from the action played
    any_blocked = False
    for k in range(K):
        x = a_played[k]
        if cap_of.size:
            x = cap_of[k * n_actions + x]
        if available.size and x > 0 and not available[band0_of[x]]:
            x = 0
        a[k] = x
        if x != a_played[k]:
            cols[6, k] = 1.0
            any_blocked = True
    b0 = np.empty(K, dtype=np.int64)
    for j in range(K):
        b0[j] = band0_of[a[j]]
        power[j] = power_of[a[j]]
    # received power from the other links, R[i, m] = sum_j G_m[i, j] p_j [b_j = m]
    received = np.zeros((K, M))
    for j in range(K):
        pj = power[j]
        if pj != 0.0:
            m = b0[j]
            for i in range(K):
                received[i, m] += cross_mean[i, j] * pj
    F = dev.shape[1]
    for i in range(K):
        for f in range(F):
            j = neighbours[i, f]
            pj = power[j]
            if pj != 0.0:
                m = b0[j]
                received[i, m] += dev[i, f, m] * pj
    if external.size:
        for i in range(K):
            received[i, ext_band] += ext_mw * external[i]
    for k in range(K):
        m = b0[k]
        sinr = direct[k, m] * power[k] / (noise + received[k, m])
        r = np.log2(1.0 + sinr)
        cols[0, k] = r
        cols[1, k] = r
        cols[2, k] = r * mbit_per_rate
        cols[3, k] = energy_of[a[k]]
        cols[4, k] = budget_of[k * n_actions + a[k]]
    # incumbents (the active ones, in index order)
    any_over = False
    U = pu_band.size
    at_pu = np.zeros(U)
    for u in range(U):
        if not pu_active[u]:
            continue
        b = pu_band[u]
        s = 0.0
        for k in range(K):
            if b0[k] == b and power[k] != 0.0:
                g = pu_gain[u, k]
                if pu_fade.size:
                    g = g * pu_fade[u, k]
                s += g * power[k]
        at_pu[u] = s
        if s > threshold:
            any_over = True
    if any_over and proportional:
        for u in range(U):
            x = at_pu[u]
            if pu_active[u] and x > threshold:
                w = _LOG10_SCALE * np.log10(x / threshold) / x
                b = pu_band[u]
                for k in range(K):
                    if b0[k] == b and power[k] != 0.0:
                        g = pu_gain[u, k]
                        if pu_fade.size:
                            g = g * pu_fade[u, k]
                        cols[5, k] += w * (g * power[k])
                        suspended[k] = True
        for k in range(K):
            if suspended[k]:
                cols[1, k] = 0.0
    elif any_over:
        per_band = np.zeros(M)
        for u in range(U):
            x = at_pu[u]
            if pu_active[u] and x > threshold:
                per_band[pu_band[u]] = max(per_band[pu_band[u]], _LOG10_SCALE * math.log10(x / threshold))
        for k in range(K):
            if power[k] > 0.0:
                cols[5, k] = per_band[b0[k]]
    # long-run statistics of the running average rates
    inv = 1.0 / (t + 1)
    avg = np.empty(K)
    s = 0.0
    s2 = 0.0
    for k in range(K):
        cum_rate[k] += cols[0, k]
        x = cum_rate[k] * inv
        avg[k] = x
        s += x
        s2 += x * x
    jain = 0.0 if s2 <= 0.0 else s * s / (K * s2)
    srt = np.sort(avg)
    pos = 0.05 * (K - 1)
    lo = int(pos)
    if lo + 1 < K:
        p5 = srt[lo] + (pos - lo) * (srt[lo + 1] - srt[lo])
    else:
        p5 = srt[lo]
    # measurements for the next observation, and the observation itself
    for k in range(K):
        for m in range(M + 1):
            fb[k, m] = onehot_of[a[k], m]
        fb[k, M] = cols[0, k]
        last_power_db[k] = rel_db_of[a[k]]
        for m in range(M):
            si[k, m] = _LOG10_SCALE * np.log10(max(direct[k, m], min_gain) * snr_scale + 0.0)
            si[k, M + m] = _LOG10_SCALE * np.log10(received[k, m] * inv_noise + 1.0)
    n_nb = feedback_nb.shape[1]
    S = static_next.shape[1]
    for k in range(K):
        c = 0
        for m in range(2 * M):
            obs[k, c] = si[k, m]
            c += 1
        for m in range(M + 1):
            obs[k, c] = fb[k, m]
            c += 1
        obs[k, c] = last_power_db[k]
        c += 1
        for m in range(S):
            obs[k, c] = static_next[k, m]
            c += 1
        for n in range(n_nb):
            j = feedback_nb[k, n]
            for m in range(M + 1):
                obs[k, c] = fb[j, m]
                c += 1
            obs[k, c] = leak_db[k, n]
            c += 1
    return any_blocked, any_over, jain, p5


def _play_slot(a_played, cap_of, available, band0_of, power_of, direct, cross_mean, dev, neighbours, noise,
               ext_band, ext_mw, external, pu_gain, pu_band, pu_active, pu_fade, threshold, proportional,
               energy_of, budget_of, mbit_per_rate, cum_rate, t, onehot_of, rel_db_of, min_gain, snr_scale,
               inv_noise, static_next, feedback_nb, leak_db):  # pragma: no cover - compiled
    """``_slot_core`` for one env into fresh arrays: returns ``(a, cols, power, any_blocked,
    suspended, any_over, jain, p5, si, fb, last_power_db, obs)``."""
    K, M = direct.shape
    D = 5 * M + 3 + feedback_nb.shape[1] * (M + 2)
    a = np.empty(K, dtype=np.int64)
    cols = np.zeros((7, K))
    power = np.empty(K)
    suspended = np.zeros(K, dtype=np.bool_)
    si = np.empty((K, 2 * M))
    fb = np.empty((K, M + 1))
    last_power_db = np.empty(K)
    obs = np.empty((K, D), dtype=np.float32)
    any_blocked, any_over, jain, p5 = _slot_core(
        a_played, cap_of, available, band0_of, power_of, direct, cross_mean, dev, neighbours, noise, ext_band,
        ext_mw, external, pu_gain, pu_band, pu_active, pu_fade, threshold, proportional, energy_of, budget_of,
        mbit_per_rate, cum_rate, t, onehot_of, rel_db_of, min_gain, snr_scale, inv_noise, static_next,
        feedback_nb, leak_db, a, cols, power, suspended, si, fb, last_power_db, obs)
    return a, cols, power, any_blocked, suspended, any_over, jain, p5, si, fb, last_power_db, obs


def _play_slots(a_played, cap_of, available, band0_of, power_of, direct, cross_mean, dev, neighbours, noise,
                ext_band, ext_mw, external, pu_gain, pu_band, pu_active, pu_fade, threshold, proportional,
                energy_of, budget_of, mbit_per_rate, cum_rate, t, onehot_of, rel_db_of, min_gain, snr_scale,
                inv_noise, static_next, feedback_nb, leak_db,
                a, cols, power, suspended, si, fb, last_power_db, obs, flags, stats):  # pragma: no cover - compiled
    """``_slot_core`` for every episode ``b`` of a batch (leading axis of every per-episode array),
    into the outputs; ``flags`` (B, 2) bool = (any_blocked, any_over), ``stats`` (B, 2) = (Jain, p5)."""
    for b in range(a_played.shape[0]):
        r = _slot_core(a_played[b], cap_of[b], available[b], band0_of, power_of, direct[b], cross_mean[b], dev[b],
                       neighbours[b], noise, ext_band[b], ext_mw, external[b], pu_gain[b], pu_band, pu_active[b],
                       pu_fade[b], threshold, proportional, energy_of, budget_of[b], mbit_per_rate, cum_rate[b], t,
                       onehot_of, rel_db_of, min_gain, snr_scale, inv_noise, static_next[b], feedback_nb[b],
                       leak_db[b], a[b], cols[b], power[b], suspended[b], si[b], fb[b], last_power_db[b], obs[b])
        flags[b, 0] = r[0]
        flags[b, 1] = r[1]
        stats[b, 0] = r[2]
        stats[b, 1] = r[3]


if AVAILABLE:
    draw_normals = _njit(_draw_normals)
    gauss_markov_step = _njit(_gauss_markov_step)
    _fading_core = _njit(_fading_core)
    _slot_core = _njit(_slot_core)
    fading_step = _njit(_fading_step)
    fading_steps = _njit(_fading_steps)
    play_slot = _njit(_play_slot)
    play_slots = _njit(_play_slots)
else:                                   # pragma: no cover
    draw_normals = gauss_markov_step = fading_step = fading_steps = play_slot = play_slots = None
