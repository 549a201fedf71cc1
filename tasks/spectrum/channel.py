"""Radio channel model of ``spectrum/Interference-v1``: geometry, path loss, shadowing, fading,
noise, SINR and Shannon rates. Everything is vectorised in numpy; every random draw takes the
caller's ``numpy.random.Generator``.

Model (all powers in mW, gains linear unless a name ends in ``_db``):

* **Geometry.** ``K`` transmitter→receiver links (device-to-device pairs) in a square of side
  ``side_m``: transmitters uniform in the square, each receiver at a distance
  ``d ~ U[d_min, d_max]`` from its transmitter in a uniform direction (the layout of the
  interference-channel literature, e.g. Shen et al. 2019's D2D links, Nasir & Guo 2019's links).
  Receivers may lie slightly outside the square; nothing wraps around.
* **Path loss** (log-distance, ``PL(d) = FSPL(d0) + 10 n log10(d/d0)`` dB for ``d >= d0``, free
  space up to the reference distance ``d0 = 1 m``; Rappaport, *Wireless Communications*, eq.
  4.68): the median loss falls by ``10 n`` dB per decade of distance — the slope tested in
  ``tests/spectrum/test_interference.py``. ``FSPL(d) = 20 log10(4 π d f_c / c)`` (Friis).
* **Shadowing:** log-normal, ``X ~ N(0, σ²)`` dB, independent per transmitter–receiver pair and
  fixed for the episode (the geometry is static within an episode of a few seconds).
* **Small-scale fading:** Rayleigh, ``h ~ CN(0, 1)`` (so ``|h|² ~ Exp(1)``, unit mean),
  time-correlated by the first-order Gauss–Markov process
  ``h_{t+1} = ρ h_t + sqrt(1 − ρ²) w_t``, ``w_t ~ CN(0, 1)`` i.i.d., with
  ``ρ = J0(2π f_d T)``: the lag-one correlation of Clarke/Jakes' isotropic-scattering model at
  Doppler ``f_d = v f_c / c`` and slot length ``T`` (Jakes 1974; the AR(1) approximation used by
  Nasir & Guo 2019). The process is stationary (``E|h|² = 1`` at every step) and its lag-k
  correlation is ``ρ^k`` — exact at lag 1, an approximation of ``J0(2π f_d k T)`` beyond.
  Fading is independent per sub-band (sub-bands wider apart than the coherence bandwidth).
* **Received power** of transmitter ``j`` at receiver ``i`` on band ``m``:
  ``p_j · L[i, j] · |h_m[i, j]|²`` with ``L`` the large-scale gain (path loss and shadowing).
* **Noise:** thermal ``N = k T0 B F`` (Boltzmann constant, ``T0 = 290 K``, bandwidth ``B``,
  noise figure ``F``): −174 dBm/Hz + 10 log10 B + NF.
* **SINR and rate:** ``γ_i = p_i G_m[i,i] / (N + E_m[i] + Σ_{j≠i, b_j = m} p_j G_m[i,j])`` on the
  band ``m = b_i`` that link ``i`` uses (``E`` = external interference), and the Shannon rate
  ``log2(1 + γ_i)`` bit/s/Hz (per Hz of the sub-band).

Fading of weak interference links (``InterferenceChannel``, ``faded_interferers``): the
direct links, the external transmitter's links and the ``F`` strongest interferers of each
receiver (by large-scale gain, i.e. the ones that dominate its interference) fade as above; the
remaining, weaker cross links enter with their mean gain ``L[i, j]`` (``E|h|² = 1``). The mean
of every received power is exact; what is dropped is the fluctuation of the weak terms about
their mean, a share of the variance of the aggregate interference ``Σ_j (L[i, j] p_j)²`` (Exp(1)
has unit variance) on the receiver's band. With the nominal geometry and ``F = 12`` the faded
interferers hold > 99.9 % of that variance under a band assignment that ignores the
interferers, and 98–99.7 % under coordinated ones (the WMMSE baseline's; a colouring that keeps
strong interferers apart), which put a receiver's strongest interferers on other bands — hence
``F`` of about ``3 M``: with ``F = 4`` only ~75 % would remain there.
Drawing fresh fading for all ``M K²`` pairs would cost ``2 M K²`` Gaussian draws per slot and
dominate the step time from ``K ≈ 50`` on; with ``F`` fixed the cost grows as ``M K F``.
``faded_interferers >= K − 1`` is the full model, exactly; ``tests/spectrum/test_interference.py``
measures the retained variance.

Links into primary receivers carry path loss and shadowing but no fast fading, as in the
database-driven protection calculations of spectrum sharing (TV white space, the CBRS SAS), which
assess aggregate interference from propagation-model path loss (Interference-v1).

Interference-v2 changes three parts of the model (each selected by a spec parameter; v1's
defaults keep its episodes bit for bit):

* **Spatially correlated shadowing** (``shadowing_corr_m`` = ``d_c`` > 0,
  :func:`correlated_shadowing_db`): Gudmundson's exponential model (Gudmundson 1991,
  *Electronics Letters* 27(23)), ``E[X(x) X(x')] = σ² exp(−|x − x'| / d_c)``: for each receiver,
  the shadowing of the paths from transmitters ``j`` and ``j'`` is correlated by the distance
  between the transmitters. Two devices standing close together are shadowed alike towards an
  incumbent, so their interference there adds up instead of averaging out — the aggregate's tail
  is heavier than with i.i.d. shadowing. ``d_c`` = 13 m is 3GPP TR 38.901 Table 7.5-6's
  shadow-fading decorrelation distance for UMi street canyon, NLOS.
* **Fading into incumbents** (``pu_fading: true``): the links from every transmitter to every
  incumbent fade like the others (Rayleigh, same Doppler), and the protection criterion is
  checked on the slot's actual aggregate power; the database's prediction the agents observe
  stays path loss only. The interference an incumbent receiver suffers within a 20 ms slot is
  the faded power — shorter than the coherence time at pedestrian speed, so no averaging
  happens inside a slot.
* **CSI ageing monotone in speed** (``fading_correlation: ar1_clarke_half``,
  :func:`ar1_clarke_correlation`): v1's lag-one correlation ``J0(2π f_d T)`` oscillates with
  ``f_d T`` (0.65 at 3 km/h, −0.39 at 10 km/h, 0.13 at 30 km/h), so a faster device is not
  always a staler one. v2 uses the AR(1) process's own exponential correlation
  ``ρ(τ) = exp(−τ / τ_c)`` with ``τ_c`` set so that it falls to 1/2 where Clarke's ``J0(2π f_d τ)``
  does (``2π f_d τ_½ = 1.52114``, the 50 % coherence time, cf. Rappaport eq. 5.40.a):
  ``ρ = 2^(−2π f_d T / 1.5212)``, strictly decreasing in speed (0.57 at 3 km/h, 0.15 at
  10 km/h, 0.0035 at 30 km/h). Baddour & Beaulieu (2005, IEEE Trans. Wireless Commun. 4(4))
  discuss why a first-order AR cannot follow J0's oscillations; we keep the first order (the
  state must stay small) and match its decay.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy.special import j0

from tasks.spectrum import kernels as _kernels

BOLTZMANN_J_PER_K = 1.380649e-23
REFERENCE_TEMPERATURE_K = 290.0
SPEED_OF_LIGHT_M_PER_S = 299_792_458.0


_SQRT_HALF = math.sqrt(0.5)


def _gauss_markov_step(rng, h, rho, scale):  # pragma: no cover - compiled below
    """In place on the real and imaginary parts ``h`` of every fading process: draw one standard
    normal per entry from ``rng`` (the stream ``rng.standard_normal(out=z)`` gives) and set
    ``h = h ρ + (z sqrt(1/2)) sqrt(1 − ρ²)`` — the numpy path's operations in its order, one
    element at a time (no fused multiply-add), so the state is the same bits."""
    for i in range(h.size):
        z = rng.standard_normal()
        z = z * _SQRT_HALF
        z = z * scale
        h[i] = h[i] * rho + z


def _draw_normals(rng, out):  # pragma: no cover - compiled below
    """``rng.standard_normal(out=out)`` (same stream), for 1-D ``out``."""
    for i in range(out.size):
        out[i] = rng.standard_normal()


try:        # numba draws numpy's Generator streams bit for bit, faster than its bulk C path here
    import numba as _numba

    gauss_markov_step = _numba.njit(cache=True, nogil=True)(_gauss_markov_step)
    draw_normals = _numba.njit(cache=True, nogil=True)(_draw_normals)
except ImportError:                    # pragma: no cover - numba is a declared dependency
    gauss_markov_step = draw_normals = None


# -- unit conversions -----------------------------------------------------------------------------
def db_to_linear(x_db: np.ndarray | float) -> np.ndarray | float:
    """``10^(x/10)``: a power ratio in dB to linear (dBm to mW likewise)."""
    return np.power(10.0, np.asarray(x_db, dtype=float) / 10.0)


def linear_to_db(x: np.ndarray | float, floor: float = 1e-300) -> np.ndarray | float:
    """``10 log10(x)`` with ``x`` floored at ``floor`` (so 0 maps to a finite, very low level)."""
    return 10.0 * np.log10(np.maximum(np.asarray(x, dtype=float), floor))


# -- propagation ----------------------------------------------------------------------------------
def thermal_noise_dbm(bandwidth_hz: float, noise_figure_db: float,
                      temperature_k: float = REFERENCE_TEMPERATURE_K) -> float:
    """Receiver noise power ``10 log10(k T B / 1 mW) + NF`` in dBm (−174 dBm/Hz at 290 K)."""
    if not bandwidth_hz > 0:
        raise ValueError(f"bandwidth must be > 0 Hz, got {bandwidth_hz!r}")
    return 10.0 * math.log10(BOLTZMANN_J_PER_K * temperature_k * bandwidth_hz / 1e-3) + noise_figure_db


def free_space_path_loss_db(distance_m: np.ndarray | float, carrier_hz: float) -> np.ndarray:
    """Friis free-space loss ``20 log10(4 π d f_c / c)`` dB."""
    d = np.asarray(distance_m, dtype=float)
    return 20.0 * np.log10(4.0 * math.pi * d * carrier_hz / SPEED_OF_LIGHT_M_PER_S)


def log_distance_path_loss_db(distance_m: np.ndarray | float, carrier_hz: float, exponent: float,
                              ref_distance_m: float = 1.0) -> np.ndarray:
    """Log-distance loss ``FSPL(d0) + 10 n log10(d / d0)`` dB; distances below ``d0`` are taken
    as ``d0`` (the model is not meant for the near field)."""
    d = np.maximum(np.asarray(distance_m, dtype=float), ref_distance_m)
    return _reference_loss_db(ref_distance_m, carrier_hz) + 10.0 * exponent * np.log10(d / ref_distance_m)


@functools.lru_cache(maxsize=64)
def _reference_loss_db(ref_distance_m: float, carrier_hz: float) -> np.float64:
    """``free_space_path_loss_db(d0, f_c)``, computed once per (d0, f_c) (the same value)."""
    return free_space_path_loss_db(ref_distance_m, carrier_hz)


def doppler_hz(speed_mps: float, carrier_hz: float) -> float:
    """Maximum Doppler shift ``f_d = v f_c / c`` in Hz."""
    return speed_mps * carrier_hz / SPEED_OF_LIGHT_M_PER_S


def jakes_correlation(doppler: float, slot_s: float) -> float:
    """Lag-one correlation ``J0(2 π f_d T)`` of Clarke/Jakes fading sampled every ``T`` s."""
    return float(j0(2.0 * math.pi * doppler * slot_s))


#: ``x`` with ``J0(x) = 1/2`` (first crossing): Clarke's autocorrelation falls to one half at
#: ``τ_½ = x / (2π f_d)``. Pinned by ``tests/spectrum/test_v2_model.py`` against scipy's ``j0``.
J0_HALF_ARG = 1.5211440576687654

def ar1_clarke_correlation(doppler: float, slot_s: float) -> float:
    """Lag-one correlation ``2^(−2π f_d T / x_½)`` of an AR(1) fading process whose exponential
    autocorrelation crosses 1/2 where Clarke's ``J0(2π f_d τ)`` does (module docstring);
    decreasing in ``f_d T``, 1 at standstill."""
    if doppler < 0 or slot_s < 0:
        raise ValueError(f"doppler and slot length must be >= 0, got {doppler}, {slot_s}")
    return float(2.0 ** (-2.0 * math.pi * doppler * slot_s / J0_HALF_ARG))


def standard_normal(rng: np.random.Generator, shape: int | tuple[int, ...]) -> np.ndarray:
    """``rng.standard_normal(shape)``: the same stream and bits, drawn by the compiled kernel for a
    PCG64 (numpy's bulk path is several times slower at these sizes)."""
    if _kernels.AVAILABLE and type(rng.bit_generator) is np.random.PCG64:
        out = np.empty(shape)
        _kernels.draw_normals(_kernels.generator_pointers(rng), out.reshape(-1))
        return out
    return rng.standard_normal(shape)


def normal(rng: np.random.Generator, scale: float, shape: int | tuple[int, ...]) -> np.ndarray:
    """``rng.normal(0.0, scale, shape)`` (numpy computes ``0.0 + scale * z`` per draw): the same
    stream and bits."""
    z = standard_normal(rng, shape)
    z *= scale
    z += 0.0
    return z


def shadowing_factor(tx: np.ndarray, corr_m: float) -> np.ndarray:
    """Cholesky factor of Gudmundson's correlation ``exp(−|tx_j − tx_j'| / d_c)`` over the points
    ``tx`` (K, 2) (a tiny diagonal jitter keeps coincident points factorable); depends on the
    positions only, so one factor serves every draw over the same points."""
    if not corr_m > 0:
        raise ValueError(f"shadowing_corr_m must be > 0 m for correlated shadowing, got {corr_m!r}")
    K = len(tx)
    corr = distances(tx, tx)                 # exp(-D / d_c) + 1e-10 I, in place (the same bits)
    np.negative(corr, out=corr)
    corr /= corr_m
    np.exp(corr, out=corr)
    corr.reshape(-1)[:: K + 1] += 1e-10
    return np.linalg.cholesky(corr)


def correlated_shadowing_db(rng: np.random.Generator, sigma_db: float, tx: np.ndarray, n_receivers: int,
                            corr_m: float, factor: np.ndarray | None = None) -> np.ndarray:
    """Shadowing ``X[r, j]`` dB (``n_receivers`` × len(tx)) of the paths from transmitters at ``tx``
    (K, 2) to each receiver: per receiver a zero-mean Gaussian vector with Gudmundson's covariance
    ``σ² exp(−|tx_j − tx_j'| / d_c)`` (module docstring), independent across receivers. Drawn as
    ``Z Lᵀ`` with ``L`` the Cholesky factor of the correlation matrix (a tiny diagonal jitter keeps
    coincident transmitters factorable; ``factor``: ``shadowing_factor(tx, corr_m)`` if already
    computed)."""
    if not corr_m > 0:
        raise ValueError(f"shadowing_corr_m must be > 0 m for correlated shadowing, got {corr_m!r}")
    K = len(tx)
    z = standard_normal(rng, (n_receivers, K))
    chol = shadowing_factor(tx, corr_m) if factor is None else factor
    return sigma_db * (z @ chol.T)


def complex_normal(rng: np.random.Generator, size: int) -> np.ndarray:
    """``size`` i.i.d. ``CN(0, 1)`` samples (real and imaginary parts ``N(0, 1/2)``), from one
    draw of ``2 size`` standard normals viewed as complex pairs."""
    z = standard_normal(rng, 2 * size).view(np.complex128)
    z *= _SQRT_HALF
    return z


def top_indices(values: np.ndarray, n: int) -> np.ndarray:
    """Per row, the columns of the ``n`` largest entries, largest first, ties by column (the
    prefix of a stable descending argsort), (R, min(n, C)) int64."""
    if _kernels.AVAILABLE:
        return _kernels.top_indices(np.ascontiguousarray(values, dtype=float), int(n))
    return np.ascontiguousarray(np.argsort(-values, axis=1, kind="stable")[:, :n])


# -- geometry -------------------------------------------------------------------------------------
def place_links(rng: np.random.Generator, n_links: int, side_m: float, d_min_m: float,
                d_max_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Transmitters uniform in ``[0, side]²``; receiver ``i`` at distance ``U[d_min, d_max]`` from
    transmitter ``i`` in a uniform direction. Returns ``(tx, rx)``, each of shape (K, 2), metres."""
    tx = rng.uniform(0.0, side_m, size=(n_links, 2))
    d = rng.uniform(d_min_m, d_max_m, size=n_links)
    theta = rng.uniform(0.0, 2.0 * math.pi, size=n_links)
    offset = np.empty((n_links, 2))
    np.multiply(d, np.cos(theta), out=offset[:, 0])
    np.multiply(d, np.sin(theta), out=offset[:, 1])
    return tx, tx + offset


def points_on_perimeter(rng: np.random.Generator, n: int, side_m: float, offset_m: float = 0.0) -> np.ndarray:
    """``n`` points uniform on the perimeter of the square ``[-o, side+o]²`` (shape (n, 2))."""
    a, b = -offset_m, side_m + offset_m
    length = b - a
    s = rng.uniform(0.0, 4.0 * length, size=n)
    # per point in Python floats (a handful of incumbents): the same divmod and sums as numpy's
    points = np.empty((n, 2))
    for i, v in enumerate(s.tolist()):
        edge, pos = divmod(v, length)
        points[i] = (a + pos, a) if edge == 0 else (b, a + pos) if edge == 1 else \
            (b - pos, b) if edge == 2 else (a, b - pos)
    return points


def distances(rx: np.ndarray, tx: np.ndarray) -> np.ndarray:
    """``D[i, j] = |rx_i − tx_j|`` in metres, shape (len(rx), len(tx)) (the compiled kernel when
    numba is installed: the same operations, the same bits, one call instead of six)."""
    if _kernels.AVAILABLE and type(rx) is np.ndarray and type(tx) is np.ndarray \
            and rx.dtype == tx.dtype == np.float64 and rx.ndim == tx.ndim == 2:
        return _kernels.distances(rx, tx)
    dx = rx[:, 0, None] - tx[None, :, 0]
    dy = rx[:, 1, None] - tx[None, :, 1]
    return np.sqrt(dx * dx + dy * dy)


# -- link quality ---------------------------------------------------------------------------------
def shannon_rate(sinr: np.ndarray) -> np.ndarray:
    """``log2(1 + γ)`` bit/s/Hz."""
    return np.log2(1.0 + sinr)


def link_sinr(gains: np.ndarray, band: np.ndarray, power_mw: np.ndarray, noise_mw: float,
              external_mw: np.ndarray | None = None) -> np.ndarray:
    """SINR of every link for one or many joint allocations (the reference computation).

    ``gains``: (M, K, K) effective power gains, ``gains[m, i, j]`` from transmitter j to receiver i
    on band m. ``band``: (..., K) integer band per link, −1 = silent. ``power_mw``: (..., K).
    ``external_mw``: (M, K) interference from non-agent transmitters, or None. Returns (..., K);
    a silent link has SINR 0.
    """
    M, K, _ = gains.shape
    band = np.asarray(band)
    power = np.where(band >= 0, np.asarray(power_mw, dtype=float), 0.0)
    onehot = band[..., None, :] == np.arange(M)[:, None]                     # (..., M, K)
    p_band = onehot * power[..., None, :]                                     # (..., M, K)
    cross = gains * (1.0 - np.eye(K))                                         # zero diagonal
    received = np.einsum("mij,...mj->...mi", cross, p_band)                   # (..., M, K)
    b = np.maximum(band, 0)
    idx = np.arange(K)
    interference = np.take_along_axis(received, b[..., None, :], axis=-2)[..., 0, :]
    if external_mw is not None:
        interference = interference + external_mw[b, idx]
    direct = gains[b, idx, idx]
    return np.where(band >= 0, direct * power / (noise_mw + interference), 0.0)


# -- the channel state of an episode --------------------------------------------------------------
@dataclass
class ChannelGeometry:
    """Static large-scale part of an episode: positions and large-scale gains (linear)."""

    tx: np.ndarray            # (K, 2) transmitter positions, m
    rx: np.ndarray            # (K, 2) receiver positions, m
    large_scale: np.ndarray   # (K, K) L[i, j]: path gain incl. shadowing, transmitter j -> receiver i
    path_gain: np.ndarray     # (K, K) path gain without shadowing (what a propagation model predicts)


class GaussMarkovFading:
    """Complex Gauss–Markov (AR(1)) Rayleigh fading ``h_{t+1} = ρ h_t + sqrt(1 − ρ²) w_t`` for an
    array of independent channels of a fixed shape; stationary ``CN(0, 1)`` marginals."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = tuple(int(s) for s in shape)
        self.size = int(np.prod(self.shape)) if self.shape else 1
        self.h = np.zeros(self.shape, dtype=np.complex128)

    def reset(self, rng: np.random.Generator) -> None:
        """Draw from the stationary distribution."""
        self.h = complex_normal(rng, self.size).reshape(self.shape)

    def advance(self, innovation: np.ndarray, rho: float) -> None:
        """One step with the given ``CN(0, 1)`` innovations (flat, ``self.size`` long)."""
        if not -1.0 <= rho <= 1.0:
            raise ValueError(f"fading correlation rho must lie in [-1, 1], got {rho}")
        h = self.h
        h *= rho
        h += math.sqrt(max(1.0 - rho * rho, 0.0)) * innovation.reshape(self.shape)

    def power(self) -> np.ndarray:
        """``|h|²`` (Exp(1) marginals)."""
        h = self.h
        return (h * h.conj()).real


class InterferenceChannel:
    """Time-varying gains among ``K`` links on ``M`` sub-bands, and from one external
    transmitter to every receiver.

    ``faded_interferers`` = F: how many of each receiver's strongest interferers fade (see the
    module docstring); the others enter with their mean gain. Call ``reset(rng, ...)`` at the start
    of an episode and ``advance(rng, rho)`` once per slot. All fading processes share one state
    array — direct links (K, M), the F strongest cross links of each receiver (K, F, M), external
    transmitter -> receivers (K,) — advanced by one draw of innovations in a fixed order, whatever
    is active, so that two scenarios with the same seed see the same channels.

    Current-slot attributes (link-major, the layout of the observations): ``direct`` (K, M)
    direct-link gains, ``external`` (K,) gains from the external transmitter;
    ``interference(p)`` gives the cross part, ``gains()`` the full tensor.
    """

    def __init__(self, n_links: int, n_bands: int, faded_interferers: int, n_primary_faded: int = 0) -> None:
        if n_links < 1 or n_bands < 1:
            raise ValueError(f"need n_links >= 1 and n_bands >= 1, got {n_links}, {n_bands}")
        if n_primary_faded < 0:
            raise ValueError(f"n_primary_faded must be >= 0, got {n_primary_faded}")
        self.K, self.M = int(n_links), int(n_bands)
        self.F = max(0, min(int(faded_interferers), self.K - 1))
        self.U = int(n_primary_faded)
        K, M, F = self.K, self.M, self.F
        self._n_direct, self._n_cross = K * M, K * F * M
        # the links into primary receivers (Interference-v2) come last, so v1's layout is unchanged
        self.fading = GaussMarkovFading((self._n_direct + self._n_cross + K + self.U * K,))
        self.primary_fade = np.ones((self.U, K))                 # |h|² of the links into incumbents
        # True: ``advance`` refreshes the gains in the compiled kernel (``tasks/spectrum/kernels.py``;
        # within bench.reproduce's tolerance of the numpy refresh, not bit-identical)
        self.compiled = False
        self._innovation = np.empty(2 * self.fading.size)       # real and imaginary parts, reused
        self._rows = np.arange(K)[:, None]                       # row index of (K, F) gathers

    def reset(self, rng: np.random.Generator, large_scale: np.ndarray, external_gain: np.ndarray) -> None:
        """Install an episode's large-scale gains — ``large_scale`` (K, K) among links (receiver
        i <- transmitter j), ``external_gain`` (K,) from the external transmitter to each receiver —
        and draw every fading process from its stationary law."""
        K, F = self.K, self.F
        L = np.asarray(large_scale, dtype=float)
        if L.shape != (K, K):
            raise ValueError(f"large_scale must have shape ({K}, {K}), got {L.shape}")
        self.large_scale = L
        self.direct_mean = np.diagonal(L).copy()                       # (K,)
        cross = L.copy()
        np.fill_diagonal(cross, 0.0)
        self.cross_mean = cross                                        # (K, K), zero diagonal
        # each receiver's F strongest interferers (largest mean gain), ties by index
        self.neighbours = top_indices(cross, F)                                      # (K, F)
        self.neighbour_mean = cross[self._rows, self.neighbours]                    # (K, F)
        # the means laid out like the gains they scale (flat, contiguous multiplies in _refresh)
        self._neighbour_mean3 = np.empty((K, F, self.M))
        self._neighbour_mean3[...] = self.neighbour_mean[:, :, None]
        self._direct_mean2 = np.empty((K, self.M))
        self._direct_mean2[...] = self.direct_mean[:, None]
        self.external_mean = np.asarray(external_gain, dtype=float).reshape(K)
        self.fading.reset(rng)
        self._refresh()

    def advance(self, rng: np.random.Generator, rho: float) -> None:
        """Move every fading process one slot on (correlation ``rho``): the same draws and the
        same arithmetic as ``fading.advance(complex_normal(rng, size), rho)``, done in place on the
        real and imaginary parts (multiplying a complex number by a real one scales both parts,
        exactly), without temporaries."""
        if not -1.0 <= rho <= 1.0:
            raise ValueError(f"fading correlation rho must lie in [-1, 1], got {rho}")
        scale = math.sqrt(max(1.0 - rho * rho, 0.0))
        h = self.fading.h.view(np.float64)
        if _kernels.AVAILABLE and type(rng.bit_generator) is np.random.PCG64:
            ptrs = _kernels.generator_pointers(rng)
            if self.compiled:                            # draws, update and refresh in one call
                self.direct, self._cross_dev, self.external, primary = _kernels.fading_step(
                    ptrs, h, rho, scale, self.direct_mean, self.neighbour_mean, self.external_mean,
                    self.M, self.U)
                if self.U:
                    self.primary_fade = primary
                return
            _kernels.gauss_markov_step(ptrs, h, rho, scale)   # compiled: the same draws and bits
        elif gauss_markov_step is not None and type(rng.bit_generator) is np.random.PCG64:
            gauss_markov_step(rng, h, rho, scale)        # compiled: the same draws and bits
        else:
            z = self._innovation
            rng.standard_normal(out=z)                   # = complex_normal's draw, 2 * size
            z *= _SQRT_HALF
            z *= scale
            h *= rho
            h += z
        self._refresh()

    def _refresh(self) -> None:
        K, M, F = self.K, self.M, self.F
        power = self.fading.power()
        nd, nc = self._n_direct, self._n_cross
        self.direct = power[:nd].reshape(K, M) * self._direct_mean2                # (K, M)
        # deviation of the faded cross gains from their mean, for the F strongest interferers
        # (a fresh contiguous array: the einsum in ``interference`` is several times faster on it)
        dev = np.subtract(power[nd:nd + nc].reshape(K, F, M), 1.0)
        dev *= self._neighbour_mean3
        self._cross_dev = dev                                                      # (K, F, M)
        self.external = power[nd + nc:nd + nc + K] * self.external_mean             # (K,)
        if self.U:
            self.primary_fade = power[nd + nc + K:].reshape(self.U, K)

    def interference(self, p: np.ndarray) -> np.ndarray:
        """Received power from the other links, ``R[i, m] = Σ_{j≠i} G_m[i, j] p[j, m]`` (mW), for
        per-band transmit powers ``p`` (K, M) (zero where a link is not on that band)."""
        out = self.cross_mean @ p                                             # (K, M)
        if self.F:
            out += np.einsum("kfm,kfm->km", self._cross_dev, p.take(self.neighbours, axis=0))
        return out

    def snapshot(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The current slot's gains as ``(direct, cross deviation, external)`` (references: every
        slot's refresh makes fresh arrays, so a snapshot stays valid after ``advance``)."""
        return self.direct, self._cross_dev, self.external

    def gains(self, snapshot: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """The effective gain tensor ``G[m, i, j]`` (M, K, K) of the current slot (or of an earlier
        ``snapshot()``), direct gains on the diagonal (what an oracle with perfect CSI sees)."""
        M, K = self.M, self.K
        direct, dev, _ = snapshot if snapshot is not None else self.snapshot()
        G = np.broadcast_to(self.cross_mean, (M, K, K)).copy()
        if self.F:
            rows = np.arange(K)[:, None]
            G[:, rows, self.neighbours] += np.moveaxis(dev, 2, 0)
        idx = np.arange(K)
        G[:, idx, idx] = direct.T
        return G
