"""Compiled (numba) kernels for one slot of ``spectrum/Interference-v1/-v2``: the fading update
with the refresh of the gains, and the slot's outcome (interference, SINR, rates, incumbent
interference and blame, counters, measurements and the next observation). The single env's step
runs both in one call (``env_step``, on the episode's constants packed once in a ``StepPack``);
the batched env runs them per slot for all its episodes (``play_slots``, ``fading_steps``).

Why: at K = 50 the numpy step is about sixty small array calls of a few microseconds each; the
arithmetic itself is a few thousand flops. ``InterferenceEnv`` uses these kernels when numba is
installed (``AVAILABLE``) and its numpy path otherwise, or when asked (``use_compiled(False)``).

Agreement: every random draw is still the env's own numpy Generator's stream, bit for bit (numpy's
ziggurat on the Generator's PCG64 state, as ``channel.gauss_markov_step``), so the fading state is
identical on both paths. The derived floats are not bit-identical to the numpy
path — numpy's BLAS products and SIMD ``log2``/``log10`` round differently from these loops — but
they agree within the project's cross-machine tolerance (``bench.reproduce``: rel 1e-9, abs 1e-12),
which ``tests/spectrum/test_compiled_step.py`` checks on the env over whole episodes at every scale
and in every scenario, v1 and v2. The observations are float32 casts of those floats, so where a
float64 value lies within an ulp of a float32 rounding boundary the two paths' observations can
differ by one float32 ulp (relative 6e-8); the tests bound that too.

Drawing from the Generator without numba's per-call unboxing: numba unboxes a ``Generator``
argument through ``ctypes`` on every call (about 12 µs, as much as 2,000 normal draws). Here the
kernels receive the addresses of the bit generator's state and ``next_*`` functions as integers
(``generator_pointers``, read from numpy's ``bitgen_t`` capsule). For a PCG64 whose 128-bit state
numpy keeps as native integers (checked once per process against ``bit_generator.state``) they
also receive the address of that state, load it into registers, run PCG64's step and output and
numpy's ziggurat inline (``_pcg_normal``) and write the state back: the same draws and the same
Generator state as through the function pointers (``test_inline_pcg64_draws_are_numpys_stream``),
about 8 % faster. Other bit generators go through their function pointers and numba's own
``random_standard_normal``. A bit generator's state lives at a fixed address for its lifetime, so
the env reads the addresses once per Generator object and drops them when it is copied.
"""

from __future__ import annotations

import ctypes
import math
import sys

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

    from numba.experimental import structref

    @structref.register
    class _StepPackType(types.StructRef):
        """numba type of ``StepPack`` (fields typed from the values it is built with)."""

        def preprocess_fields(self, fields):
            return tuple((name, types.unliteral(t)) for name, t in fields)

    class StepPack(structref.StructRefProxy):
        """One episode's constants and the env-owned arrays its compiled step updates in place
        (``STEP_PACK_FIELDS``), handed to ``env_step`` as one argument: numba unboxes a struct
        reference in a fraction of a microsecond, a NumPy array argument in about 0.14 µs each.
        Not picklable: the env drops it when copied and rebuilds it on its next step."""

    from llvmlite import ir as _ir
    from numba.np.random._constants import fi_double, ki_double, wi_double, ziggurat_nor_inv_r, ziggurat_nor_r

    @intrinsic
    def _pcg_step(typingctx, lo, hi, inc_lo, inc_hi):
        """PCG64's state transition ``s * MULT + inc (mod 2**128)`` on the halves ``(lo, hi)``."""
        sig = types.UniTuple(types.uint64, 2)(types.uint64, types.uint64, types.uint64, types.uint64)

        def codegen(context, builder, signature, args):
            i128, i64 = _ir.IntType(128), _ir.IntType(64)

            def join(low, high):
                return builder.or_(builder.zext(low, i128), builder.shl(builder.zext(high, i128),
                                                                        _ir.Constant(i128, 64)))

            new = builder.add(builder.mul(join(args[0], args[1]), _ir.Constant(i128, _PCG_MULT)),
                              join(args[2], args[3]))
            return context.make_tuple(builder, signature.return_type, (
                builder.trunc(new, i64), builder.trunc(builder.lshr(new, _ir.Constant(i128, 64)), i64)))

        return sig, codegen

    @intrinsic
    def _pcg_output(typingctx, lo, hi):
        """PCG64's output of a state: XSL-RR, ``rotr64(hi ^ lo, hi >> 58)``."""
        sig = types.uint64(types.uint64, types.uint64)

        def codegen(context, builder, signature, args):
            i64 = _ir.IntType(64)
            x = builder.xor(args[1], args[0])
            rot = builder.lshr(args[1], _ir.Constant(i64, 58))
            return builder.or_(builder.lshr(x, rot),
                               builder.shl(x, builder.and_(builder.neg(rot), _ir.Constant(i64, 63))))

        return sig, codegen

    @intrinsic
    def _load_word(typingctx, address, i):
        """The ``i``-th uint64 at ``address``."""
        sig = types.uint64(types.uintp, types.intp)

        def codegen(context, builder, signature, args):
            ptr = builder.inttoptr(args[0], _ir.IntType(64).as_pointer())
            return builder.load(builder.gep(ptr, [args[1]]), align=8)

        return sig, codegen

    @intrinsic
    def _store_word(typingctx, address, i, value):
        """Write ``value`` as the ``i``-th uint64 at ``address``."""
        sig = types.void(types.uintp, types.intp, types.uint64)

        def codegen(context, builder, signature, args):
            ptr = builder.inttoptr(args[0], _ir.IntType(64).as_pointer())
            builder.store(args[2], builder.gep(ptr, [args[1]]), align=8)
            return context.get_dummy_value()

        return sig, codegen

    _njit = _numba.njit(cache=True, nogil=True)
    AVAILABLE = True
except Exception:           # pragma: no cover - numba absent or its internals changed
    _njit = None
    StepPack = None
    AVAILABLE = False

#: ``StepPack``'s fields, in constructor order (``InterferenceEnv._step_pack`` fills them):
#: the per-episode tables of ``_slot_core`` and ``_fading_core``, the per-slot schedules indexed
#: by ``t`` (``available``/``outage``, ``ext_on``, ``pu_active``, ``rho``/``scale`` of the move into
#: each slot), the rule flags, and the state written in place each step (``h`` the fading state's
#: float view, ``cum_rate``, the measurements ``si``/``fb``/``last_power_db``; ``scratch`` is
#: room for the step's normal draws, like ``h``).
STEP_PACK_FIELDS = (
    "cap_of", "available", "outage", "band0_of", "power_of", "cross_mean", "neighbours", "noise", "ext_band",
    "ext_mw", "ext_on", "pu_gain", "pu_band", "pu_active", "pu_fade_on", "threshold", "proportional", "suspend",
    "penalty", "energy_of", "budget_of", "mbit_per_rate", "onehot_of", "rel_db_of", "min_gain", "snr_scale",
    "inv_noise", "feedback_nb", "leak_db", "direct_mean", "neighbour_mean", "external_mean", "direct_mean2",
    "neighbour_mean3", "rho", "scale", "h", "cum_rate", "si", "fb", "last_power_db", "scratch")


def _new_step_pack(cap_of, available, outage, band0_of, power_of, cross_mean, neighbours, noise, ext_band, ext_mw,
                   ext_on, pu_gain, pu_band, pu_active, pu_fade_on, threshold, proportional, suspend, penalty,
                   energy_of, budget_of, mbit_per_rate, onehot_of, rel_db_of, min_gain, snr_scale, inv_noise,
                   feedback_nb, leak_db, direct_mean, neighbour_mean, external_mean, direct_mean2, neighbour_mean3,
                   rho, scale, h, cum_rate, si, fb, last_power_db, scratch):  # pragma: no cover - compiled
    """``StepPack(...)`` compiled once and cached on disk (called from Python, the proxy's own
    constructor compiles afresh in every process: about half a second)."""
    return StepPack(cap_of, available, outage, band0_of, power_of, cross_mean, neighbours, noise, ext_band, ext_mw,
                    ext_on, pu_gain, pu_band, pu_active, pu_fade_on, threshold, proportional, suspend, penalty,
                    energy_of, budget_of, mbit_per_rate, onehot_of, rel_db_of, min_gain, snr_scale, inv_noise,
                    feedback_nb, leak_db, direct_mean, neighbour_mean, external_mean, direct_mean2, neighbour_mean3,
                    rho, scale, h, cum_rate, si, fb, last_power_db, scratch)


if AVAILABLE:
    structref.define_proxy(StepPack, _StepPackType, list(STEP_PACK_FIELDS))
    new_step_pack = _njit(_new_step_pack)
else:                                   # pragma: no cover
    new_step_pack = None


_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
# PCG64's multiplier (numpy's PCG_DEFAULT_MULTIPLIER_128)
_PCG_MULT = (2549297995355413924 << 64) + 4865540595714422341
_PCG_LAYOUT_OK: list[bool] = []        # checked once: numpy's PCG64 keeps (state, inc) as native uint128


def _pcg_words(bg: np.random.PCG64, state_address: int) -> int:
    """Address of ``bg``'s 128-bit ``(state, inc)`` (numpy's ``pcg64_random_t``), or 0 if its
    memory does not hold the state as native little-endian uint128s (checked once per process
    against ``bg.state``; then the kernels draw through the function pointers instead)."""
    address = ctypes.c_void_p.from_address(state_address).value or 0   # pcg64_state.pcg_state
    if not _PCG_LAYOUT_OK:
        w = (ctypes.c_uint64 * 4).from_address(address) if address else (0, 0, 0, 0)
        st = bg.state["state"]
        _PCG_LAYOUT_OK.append(bool(address) and (w[1] << 64 | w[0]) == st["state"]
                              and (w[3] << 64 | w[2]) == st["inc"] and sys.byteorder == "little")
    return address if _PCG_LAYOUT_OK[0] else 0


def generator_pointers(rng: np.random.Generator) -> np.ndarray:
    """``[state address, next_uint64, next_uint32, next_double, PCG64 words]`` (uint64) of
    ``rng``'s bit generator, read from the live object (numpy caches its ``ctypes`` interface);
    the last entry is the address of a PCG64's 128-bit state and increment (``_pcg_words``), 0 for
    another bit generator."""
    bg = rng.bit_generator
    # numpy's bitgen_t {state, next_uint64, next_uint32, next_double, next_raw}, from the capsule
    # numpy provides for compiled consumers (building ``bg.ctypes`` costs several µs per Generator)
    bitgen = (ctypes.c_uint64 * 4).from_address(_capsule_pointer(bg.capsule, b"BitGenerator"))
    words = _pcg_words(bg, bitgen[0]) if type(bg) is np.random.PCG64 else 0
    return np.array((bitgen[0], bitgen[1], bitgen[2], bitgen[3], words), dtype=np.uint64)


def _draw_normals(ptrs, out):  # pragma: no cover - compiled
    """``rng.standard_normal(out=out)`` for 1-D ``out``: the same stream, bit for bit."""
    if ptrs.size > 4 and ptrs[4] != 0:
        _draw_normals_pcg(ptrs, out)
        return
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


def _pcg_double(lo, hi, inc_lo, inc_hi):  # pragma: no cover - compiled
    """PCG64's ``next_double``: ``(next_uint64 >> 11) * 2**-53``; returns ``(u, lo, hi)``."""
    lo, hi = _pcg_step(lo, hi, inc_lo, inc_hi)
    return (_pcg_output(lo, hi) >> 11) * (1.0 / 9007199254740992.0), lo, hi


def _pcg_normal(lo, hi, inc_lo, inc_hi):  # pragma: no cover - compiled
    """numpy's ``random_standard_normal`` (the ziggurat; numba's port, same operations) on a PCG64
    whose state ``(lo, hi)`` is held in registers: returns ``(x, lo, hi)``."""
    while 1:
        lo, hi = _pcg_step(lo, hi, inc_lo, inc_hi)
        r = _pcg_output(lo, hi)
        idx = r & 0xff
        r >>= 8
        sign = r & 0x1
        rabs = (r >> 1) & 0x000fffffffffffff
        x = rabs * wi_double[idx]
        if sign & 0x1:
            x = -x
        if rabs < ki_double[idx]:
            return x, lo, hi
        if idx == 0:
            while 1:
                u, lo, hi = _pcg_double(lo, hi, inc_lo, inc_hi)
                xx = -ziggurat_nor_inv_r * np.log1p(-u)
                u, lo, hi = _pcg_double(lo, hi, inc_lo, inc_hi)
                yy = -np.log1p(-u)
                if yy + yy > xx * xx:
                    if (rabs >> 8) & 0x1:
                        return -(ziggurat_nor_r + xx), lo, hi
                    return ziggurat_nor_r + xx, lo, hi
        else:
            u, lo, hi = _pcg_double(lo, hi, inc_lo, inc_hi)
            if (fi_double[idx - 1] - fi_double[idx]) * u + fi_double[idx] < np.exp(-0.5 * x * x):
                return x, lo, hi


def _draw_normals_pcg(ptrs, out):  # pragma: no cover - compiled
    """``rng.standard_normal(out=out)`` through PCG64's state words (``ptrs[4]``): same stream."""
    address = ptrs[4]
    lo, hi = _load_word(address, 0), _load_word(address, 1)
    inc_lo, inc_hi = _load_word(address, 2), _load_word(address, 3)
    for i in range(out.size):
        x, lo, hi = _pcg_normal(lo, hi, inc_lo, inc_hi)
        out[i] = x
    _store_word(address, 0, lo)
    _store_word(address, 1, hi)


def _gains(h, direct_mean, neighbour_mean, external_mean, direct, dev, external, primary):  # pragma: no cover - compiled
    """The slot's gains from the fading state ``h`` (re, im pairs): ``direct`` (K, M), ``dev``
    (K, F, M: the faded cross gains' deviation from their mean), ``external`` (K,) and
    ``primary`` (U, K) (``InterferenceChannel._refresh``'s quantities)."""
    K, M = direct.shape
    F = dev.shape[1]
    e = 0
    for k in range(K):
        dm = direct_mean[k]
        for m in range(M):
            direct[k, m] = (h[e] * h[e] + h[e + 1] * h[e + 1]) * dm
            e += 2
    for k in range(K):
        for f in range(F):
            nm = neighbour_mean[k, f]
            for m in range(M):
                dev[k, f, m] = (h[e] * h[e] + h[e + 1] * h[e + 1] - 1.0) * nm
                e += 2
    for k in range(K):
        external[k] = (h[e] * h[e] + h[e + 1] * h[e + 1]) * external_mean[k]
        e += 2
    for u in range(primary.shape[0]):
        for k in range(K):
            primary[u, k] = h[e] * h[e] + h[e + 1] * h[e + 1]
            e += 2


def _fading_core(ptrs, h, rho, scale, direct_mean, neighbour_mean, external_mean, direct, dev, external,
                 primary):  # pragma: no cover - compiled
    """``_fading_core_generic``, drawing inline from a PCG64 (``ptrs[4]`` nonzero: the bit
    generator's state words are held in registers through the draws and written back at the end,
    the same draws and the same Generator state as through its function pointers); the draws
    first, then the update and the gains in loops of independent entries. The same operations
    on every entry, hence the same bits."""
    address = ptrs[4]
    if address == 0:
        _fading_core_generic(ptrs, h, rho, scale, direct_mean, neighbour_mean, external_mean, direct, dev,
                             external, primary)
        return
    z = np.empty(h.size)
    _draw_normals_pcg(ptrs, z)               # the draws first: a tight serial loop
    n = h.size
    for i in range(n):                       # then the update, independent per entry
        x = z[i] * 0.7071067811865476
        x = x * scale
        h[i] = h[i] * rho + x
    _gains(h, direct_mean, neighbour_mean, external_mean, direct, dev, external, primary)


def _fading_core_flat(ptrs, h, rho, scale, direct_mean2, neighbour_mean3, external_mean, direct, dev, external,
                      primary, z):  # pragma: no cover - compiled
    """``_fading_core`` for the single env's step, with the means laid out like the gains they
    scale (``direct_mean2`` (K, M), ``neighbour_mean3`` (K, F, M), C-contiguous): the gains are
    then flat loops the compiler vectorises. ``z`` (like ``h``) is scratch space for the draws.
    The same operations on every entry, the same bits."""
    _draw_normals_pcg(ptrs, z)
    for i in range(h.size):
        x = z[i] * 0.7071067811865476
        x = x * scale
        h[i] = h[i] * rho + x
    K, M = direct.shape
    nd = direct.size
    d = direct.reshape(nd)
    dm = direct_mean2.reshape(nd)
    for p in range(nd):
        d[p] = (h[2 * p] * h[2 * p] + h[2 * p + 1] * h[2 * p + 1]) * dm[p]
    nc = dev.size
    v = dev.reshape(nc)
    nm = neighbour_mean3.reshape(nc)
    e = 2 * nd
    for p in range(nc):
        v[p] = (h[e + 2 * p] * h[e + 2 * p] + h[e + 2 * p + 1] * h[e + 2 * p + 1] - 1.0) * nm[p]
    e += 2 * nc
    for k in range(K):
        external[k] = (h[e + 2 * k] * h[e + 2 * k] + h[e + 2 * k + 1] * h[e + 2 * k + 1]) * external_mean[k]
    e += 2 * K
    npr = primary.size
    q = primary.reshape(npr)
    for p in range(npr):
        q[p] = h[e + 2 * p] * h[e + 2 * p] + h[e + 2 * p + 1] * h[e + 2 * p + 1]


def _fading_core_generic(ptrs, h, rho, scale, direct_mean, neighbour_mean, external_mean, direct, dev, external,
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
    _gains(h, direct_mean, neighbour_mean, external_mean, direct, dev, external, primary)


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


def _top_indices(values, n):  # pragma: no cover - compiled
    """Per row of ``values`` (R, C), the columns of its ``n`` largest entries, largest first, ties
    by column: ``np.argsort(-values, axis=1, kind="stable")[:, :n]`` (an insertion into a sorted
    top-``n`` list per row instead of a whole sort)."""
    R, C = values.shape
    n = min(n, C)
    out = np.empty((R, n), dtype=np.int64)
    if n == 0:
        return out
    best = np.empty(n)
    for r in range(R):
        count = 0
        for c in range(C):
            v = values[r, c]
            if count == n and not v > best[n - 1]:
                continue
            p = count if count < n else n - 1
            while p > 0 and best[p - 1] < v:          # strictly: an equal value stays ahead
                best[p] = best[p - 1]
                out[r, p] = out[r, p - 1]
                p -= 1
            best[p] = v
            out[r, p] = c
            if count < n:
                count += 1
    return out


def _distances(rx, tx):  # pragma: no cover - compiled
    """``channel.distances``: ``sqrt(dx * dx + dy * dy)`` per pair, the same operations in the same
    order as numpy's (each correctly rounded, no fused multiply-add), hence the same bits, in one
    pass instead of six array calls."""
    n, m = rx.shape[0], tx.shape[0]
    out = np.empty((n, m))
    for i in range(n):
        x = rx[i, 0]
        y = rx[i, 1]
        for j in range(m):
            dx = x - tx[j, 0]
            dy = y - tx[j, 1]
            out[i, j] = np.sqrt(dx * dx + dy * dy)
    return out


def _env_step(pack, a_played, t, static_next, direct, dev, external, primary, ptrs, advance):  # pragma: no cover - compiled
    """One whole step of the single env on its compiled path: slot ``t``'s outcome (``_slot_core``)
    and, if ``advance``, the channel's move into slot ``t + 1`` (``_fading_core``, drawing through
    ``ptrs``: the env's Generator, or the perturbed-future one), in one call. ``direct``, ``dev``,
    ``external``, ``primary`` are slot ``t``'s gains; the next slot's come back as fresh arrays (the
    same ones when ``advance`` is False). Checks first that every action lies in ``[0, A)``: if
    not, returns ``bad`` = True having changed nothing. Returns ``(bad, a, cols, power, flags,
    obs, direct, dev, external, primary, any_blocked, any_over, jain, p5, reward)``; ``flags``
    (2, K) bool = [suspended, blocked]; ``reward`` is the team reward of the protection rule
    (``InterferenceEnv._advance``'s formula and order)."""
    K, M = direct.shape
    A = pack.band0_of.size
    n_nb = pack.feedback_nb.shape[1]
    a = np.empty(K, dtype=np.int64)
    cols = np.zeros((7, K))
    power = np.empty(K)
    flags = np.zeros((2, K), dtype=np.bool_)          # [suspended, blocked]
    suspended = flags[0]
    obs = np.empty((K, 5 * M + 3 + n_nb * (M + 2)), dtype=np.float32)
    for k in range(K):
        if a_played[k] < 0 or a_played[k] >= A:
            return True, a, cols, power, flags, obs, direct, dev, external, primary, False, False, 0.0, 0.0, 0.0
    available = pack.available[t]
    if not pack.outage[t]:
        available = available[:0]
    ext_now = external if pack.ext_on[t] else external[:0]
    pu_fade = primary if pack.pu_fade_on else primary[:0]
    any_blocked, any_over, jain, p5 = _slot_core(
        a_played, pack.cap_of, available, pack.band0_of, pack.power_of, direct, pack.cross_mean, dev,
        pack.neighbours, pack.noise, pack.ext_band, pack.ext_mw, ext_now, pack.pu_gain, pack.pu_band,
        pack.pu_active[t], pu_fade, pack.threshold, pack.proportional, pack.energy_of, pack.budget_of,
        pack.mbit_per_rate, pack.cum_rate, t, pack.onehot_of, pack.rel_db_of, pack.min_gain, pack.snr_scale,
        pack.inv_noise, static_next, pack.feedback_nb, pack.leak_db, a, cols, power, suspended, pack.si,
        pack.fb, pack.last_power_db, obs)
    if any_blocked:
        for k in range(K):
            flags[1, k] = cols[6, k] != 0.0
    # the team reward, summed in agent order as Python's sum() over the counters' lists
    s_budget = 0.0
    s_pu = 0.0
    s_rate = 0.0
    for k in range(K):
        s_budget += cols[4, k]
        s_pu += cols[5, k]
        s_rate += cols[1 if pack.suspend else 0, k]
    if pack.suspend:
        reward = (s_rate - pack.penalty * (s_budget + s_pu)) / K
    else:
        exceed = s_budget
        if any_over:
            exceed += s_pu
        reward = (s_rate - pack.penalty * exceed) / K
    if advance:
        F = dev.shape[1]
        direct_next = np.empty((K, M))
        dev_next = np.empty((K, F, M))
        external_next = np.empty(K)
        primary_next = np.empty(primary.shape)
        if ptrs[4] != 0:
            _fading_core_flat(ptrs, pack.h, pack.rho[t + 1], pack.scale[t + 1], pack.direct_mean2,
                              pack.neighbour_mean3, pack.external_mean, direct_next, dev_next, external_next,
                              primary_next, pack.scratch)
        else:
            _fading_core(ptrs, pack.h, pack.rho[t + 1], pack.scale[t + 1], pack.direct_mean, pack.neighbour_mean,
                         pack.external_mean, direct_next, dev_next, external_next, primary_next)
        return (False, a, cols, power, flags, obs, direct_next, dev_next, external_next, primary_next,
                any_blocked, any_over, jain, p5, reward)
    return False, a, cols, power, flags, obs, direct, dev, external, primary, any_blocked, any_over, jain, p5, reward


if AVAILABLE:
    draw_normals = _njit(_draw_normals)
    gauss_markov_step = _njit(_gauss_markov_step)
    _pcg_double = _numba.njit(inline="always")(_pcg_double)
    _pcg_normal = _numba.njit(inline="always")(_pcg_normal)
    _draw_normals_pcg = draw_normals_pcg = _njit(_draw_normals_pcg)
    _gains = _njit(_gains)
    _fading_core_generic = _njit(_fading_core_generic)
    _fading_core = _njit(_fading_core)
    _fading_core_flat = _njit(_fading_core_flat)
    top_indices = _njit(_top_indices)
    distances = _njit(_distances)
    _slot_core = _njit(_slot_core)
    fading_step = _njit(_fading_step)
    fading_steps = _njit(_fading_steps)
    play_slots = _njit(_play_slots)
    env_step = _njit(_env_step)
else:                                   # pragma: no cover
    draw_normals = gauss_markov_step = fading_step = fading_steps = play_slots = env_step = draw_normals_pcg = top_indices = distances = None
