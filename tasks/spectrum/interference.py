"""``spectrum/Interference-v1`` and ``-v2``: interference-limited sub-band and power allocation among
device-to-device links that share spectrum with protected primary users.

System (radio model and equations: ``tasks/spectrum/channel.py``). ``K`` links (a transmitter and
its receiver) in a square whose side grows as ``sqrt(K)`` (constant link density, so the
interference each receiver sees has the same statistics at every scale); ``M`` sub-bands of
bandwidth ``B``; log-distance path loss, log-normal shadowing, Gauss–Markov Rayleigh fading with
the Jakes lag-one correlation ``J0(2π f_d T)``; thermal noise; Shannon rates from each receiver's
SINR. One step is one slot of ``T`` = ``slot_ms``.

Agents ``link_0 .. link_{K-1}``, one per link. Each chooses, every slot, a sub-band and a
transmit power level, or silence: ``Discrete(1 + M L)`` with action 0 = silent and
``1 + m L + l`` = band ``m`` at level ``power_levels_dbm[l]`` (levels in decreasing order, the
first one is ``p_top``). Devices have a power budget: ``power_budget_dbm`` (standard class) or
``low_power_budget_dbm`` (a ``low_power_share`` of the devices, drawn per episode). The levels
are the same for every device; a level above a device's budget is *not* masked — it is a safety
violation (``power_budget``), because the radio can do it and the rule forbids it. Action masks
express what is physically impossible: a sub-band in outage. A masked action is not executed (the
radio cannot tune to the band): the link stays silent that slot and the ``blocked`` counter
records it.

Primary users (incumbents, as in TV white space or CBRS sharing): ``n_primary`` protected
receivers uniform on a square ``pu_offset_m`` outside the deployment area, each on one band (bands ``0 .. M-2`` in turn; band
``M-1`` is kept free of incumbents in the nominal scenario), active on a periodic schedule
(``pu_period_steps``, ``pu_duty_cycle``, a random phase each). While active, the aggregate
interference from the links on its band must stay below ``I_th`` = noise + ``pu_inr_threshold_db``
(I/N = −6 dB, the usual protection criterion). The schedule and the incumbents' positions are in
a geolocation database, so each link observes which bands have an active incumbent and its own
*predicted* exposure (path loss only — the true exposure adds the 8 dB shadowing; links into
incumbents have no fast fading, see ``channel.py``).

Timing of a step ``t``: the channel of slot ``t`` is already drawn when the agents act (an
oracle may read it; agents only see the previous slot's measurements — one slot of CSI delay,
as in Nasir & Guo 2019); the actions are applied, rates, interference at the incumbents and
violations are computed from the slot-``t`` channel; then the channel moves on to slot ``t+1``.
Nothing random depends on the actions, so every policy faces the same channel realisations for a
given seed (and the shift scenarios the same as nominal until their onset).

Observation (``Dict``: ``observation`` float32 vector, ``action_mask`` int8 of length
``1 + M L``), per link ``k``, ``D = 5M + 3 + n_nb (M + 2)`` entries, in this order:

====================  =========================================================================
``snr_db[M]``         own direct gain per band as SNR at ``p_top``, dB (last slot's measurement)
``inr_db[M]``         interference-plus-noise measured on each band at own receiver, over N, dB
``last_band[M]``      one-hot of own band last slot (all zero if silent)
``last_rate``         own rate last slot, bit/s/Hz
``last_power_db``     own transmit power last slot relative to ``p_top``, dB (−30 if silent)
``pu_active[M]``      1 where an incumbent on that band is active this slot (database)
``pu_margin_db[M]``   predicted interference own transmitter would cause at the most exposed
                      registered incumbent of the band at ``p_top``, relative to ``I_th``, dB
                      (path loss only; clipped to [−60, 60]; −60 when the band has none)
``budget_db``         own power budget relative to ``p_top``, dB (0 or negative)
neighbour feedback    for each of the ``n_nb`` receivers most exposed to own transmitter
                      (largest large-scale gain): one-hot of its band last slot [M], its rate
                      last slot, and own large-scale leakage into it at ``p_top`` over N, dB
====================  =========================================================================

``state()`` = every link's observation vector, then the incumbent activity per band (M), the
available-band mask (M) and ``t / horizon``.

Reward: cooperative — every agent receives the mean link rate of the slot minus
``violation_penalty`` times the mean over links of their exceedances (dB) of both constraints.

``infos[agent]["kpi"]`` counters (the harness sums them over agents): ``rate`` (own bit/s/Hz),
``mbits`` (own delivered Mbit, rate × B × T), ``energy_j`` (own consumption, ``p / η + P_c``
while transmitting), ``blocked`` (1 if its action was masked); from ``link_0`` only,
``jain`` and ``rate_p5``: increments of Jain's index and of the 5th percentile of the links'
*running average* rates, so that their sum over the episode is the index / percentile of the
episode-average link rates (long-term fairness and cell-edge rate, as in ITU-R M.2410's 5th
percentile user spectral efficiency). ``infos[agent]["violations"]``: ``pu_interference`` = by
how many dB the aggregate interference at an active incumbent on the agent's band exceeded
``I_th`` (every transmitting contributor to that incumbent carries the excess), and
``power_budget`` = transmit power above the device's budget, dB.

Held-out shifts (``config.scenario.shift``, from slot ``onset`` on): ``faster_mobility``
(speed → ``speed_kmh``, default 30 km/h: the fading correlation drops from J0(2π·9.9 Hz·20 ms) =
0.65 to 0.13, so last slot's CSI goes stale), ``new_interferer`` (a non-cooperative transmitter
of ``power_dbm``, default 30 dBm, appears near the centre on a random band), ``primary_user_on``
(a new incumbent on band ``M-1``, until then free of incumbents, switches on and stays on),
``subband_outage`` (``bands`` random sub-bands, default 1, become unavailable: masked).

ORACLES ONLY: ``oracle_view()`` returns the current slot's true channel and incumbent state.
``delayed_csi()`` returns the previous slot's link gains (what a central controller holds with
the agents' one-slot feedback delay; nothing realised later): a ``CTCE`` policy may read it.

Interference-v2's rules (spec parameters, ``RULES``; absent = v1's behaviour, bit for bit):
``protection_rule: suspend`` — a transmission on a band whose active incumbent is above ``I_th``
is suspended for the slot: its rate is not counted in the ``safe_rate`` counter (the v2
objective), the team reward is the mean safe rate minus the penalty on the mean blamed excess;
``blame: proportional`` — incumbent ``u``'s excess ``10 log10(I_u / I_th)`` dB is split among the
transmitters on its band in proportion to their share of ``I_u`` (``pu_interference`` counter);
``power_budget_rule: mask`` — levels above a device's budget are masked (per-agent masks) and,
if played anyway, executed at the highest level within budget (``blocked`` = 1);
``reward: per_agent`` — every agent gets its own safe rate minus the rate its interference costs
the co-band links (Nasir & Guo 2019's interference price) minus the penalty on its own blamed
excess (training only; KPIs and V do not change); ``pu_fading``, ``shadowing_corr_m`` and
``fading_correlation`` change the radio model (``channel.py``). ``perturb_future(t0, seed)``
redraws the fading innovations after slot ``t0`` (the no-foresight check).
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from gymnasium import spaces

from bench.env_base import RaoParallelEnv
from bench.spec import EnvConfig
from tasks.spectrum import channel as ch
from tasks.spectrum import kernels

SHIFT_KINDS = ("faster_mobility", "new_interferer", "primary_user_on", "subband_outage")
# The rule parameters Interference-v2 introduced, with the value that reproduces v1 first.
RULES = {"protection_rule": ("penalty", "suspend"), "blame": ("full", "proportional"),
         "power_budget_rule": ("violation", "mask"), "fading_correlation": ("jakes_lag1", "ar1_clarke_half"),
         "reward": ("team", "per_agent")}
SILENT_POWER_DB = -30.0        # last_power_db of a silent link (below the lowest level)
MARGIN_CLIP_DB = 60.0          # pu_margin_db is clipped to [-60, 60]
MIN_GAIN = 1e-30                # floor under gains before taking dB (keeps the state finite)
DB_CLIP = 200.0                # leakage features are clipped to [-200, 200] dB


def decode_actions(actions: np.ndarray, n_levels: int) -> tuple[np.ndarray, np.ndarray]:
    """Action indices → (band, level); band −1 and level 0 for the silent action 0."""
    a = np.asarray(actions, dtype=np.int64)
    band = np.where(a > 0, (a - 1) // n_levels, -1)
    level = np.where(a > 0, (a - 1) % n_levels, 0)
    return band, level


def encode_actions(band: np.ndarray, level: np.ndarray, n_levels: int) -> np.ndarray:
    """(band, level) → action indices; band −1 encodes silence."""
    band = np.asarray(band, dtype=np.int64)
    return np.where(band >= 0, 1 + band * n_levels + np.asarray(level, dtype=np.int64), 0)


def measurements_db(direct: np.ndarray, received: np.ndarray, floor: np.ndarray, scale: np.ndarray,
                    offset: np.ndarray) -> np.ndarray:
    """``[direct | received]`` (..., K, 2M) in dB: ``10 log10(max(x, floor) * scale + offset)``
    with the per-column constants of ``InterferenceEnv._measure`` (shared by the batched env, so
    both compute the same bits)."""
    si = np.concatenate((direct, received), axis=-1)
    np.maximum(si, floor, out=si)
    si *= scale
    si += offset
    np.log10(si, out=si)
    si *= 10.0
    return si


def observation_layout(n_bands: int, n_neighbours: int) -> dict[str, slice]:
    """Where each field sits in the ``observation`` vector (see the module docstring); the
    neighbour block is ``neighbours`` reshaped to (n_neighbours, n_bands + 2)."""
    M = n_bands
    return {"snr_db": slice(0, M), "inr_db": slice(M, 2 * M), "last_band": slice(2 * M, 3 * M),
            "last_rate": slice(3 * M, 3 * M + 1), "last_power_db": slice(3 * M + 1, 3 * M + 2),
            "pu_active": slice(3 * M + 2, 4 * M + 2), "pu_margin_db": slice(4 * M + 2, 5 * M + 2),
            "budget_db": slice(5 * M + 2, 5 * M + 3),
            "neighbours": slice(5 * M + 3, 5 * M + 3 + n_neighbours * (M + 2))}


@dataclass(frozen=True, slots=True)
class _Slot:
    """What stepping and observing slot ``t`` need from the episode's schedules."""

    pu: tuple[np.ndarray, np.ndarray, np.ndarray] | None   # (gains (U', K), bands (U',), indices (U',)) of the active incumbents
    outage: bool                                # some band is unavailable
    external: bool                              # the external transmitter is on
    static: np.ndarray                          # (K, 2M + 1) float32 [pu_active | pu_margin_db | budget_db]
    mask: np.ndarray                            # the action mask (read-only), (A,) or per agent (K, A)
    mask_rows: list[np.ndarray] | None          # per-agent masks: the K row views of ``mask``, made once


@dataclass(frozen=True)
class OracleView:
    """The true state of one slot, for policies that declare the ``oracle`` paradigm."""

    gains: np.ndarray            # (M, K, K) G[m, i, j], transmitter j -> receiver i
    noise_mw: float
    external_mw: np.ndarray      # (M, K) interference from the external transmitter (0 if none)
    primary_gain: np.ndarray     # (U', K) gains link transmitter -> active primary receiver
    primary_band: np.ndarray     # (U',) band of each active primary receiver
    threshold_mw: float          # I_th
    levels_mw: np.ndarray        # (L,) power levels, decreasing
    budget_mw: np.ndarray        # (K,) per-device power budget
    available: np.ndarray        # (M,) bool, False for a band in outage


def allocation_outcome(view: OracleView, band: np.ndarray, power_mw: np.ndarray) -> dict[str, np.ndarray]:
    """Rates and constraint status of one or many joint allocations (shape (..., K)) in the slot
    described by ``view``: ``rate`` (..., K), ``sum_rate`` (...), ``primary_mw`` (..., U'),
    ``feasible`` (...) — no incumbent above threshold, no power above budget, no masked band."""
    band = np.asarray(band)
    power = np.where(band >= 0, np.asarray(power_mw, dtype=float), 0.0)
    sinr = ch.link_sinr(view.gains, band, power, view.noise_mw, view.external_mw)
    rate = ch.shannon_rate(sinr)
    if len(view.primary_band):
        on_pu_band = band[..., None, :] == view.primary_band[:, None]              # (..., U', K)
        primary = (on_pu_band * power[..., None, :] * view.primary_gain).sum(-1)   # (..., U')
    else:
        primary = np.zeros(band.shape[:-1] + (0,))
    feasible = (primary <= view.threshold_mw).all(-1)
    feasible &= (power <= view.budget_mw * (1 + 1e-9)).all(-1)
    feasible &= np.where(band >= 0, view.available[np.maximum(band, 0)], True).all(-1)
    return {"rate": rate, "sum_rate": rate.sum(-1), "primary_mw": primary, "feasible": feasible}


def _number(p: Mapping[str, Any], name: str, *, low: float | None = None, high: float | None = None,
            strict_low: bool = False) -> float:
    try:
        v = float(p[name])
    except KeyError:
        raise ValueError(f"parameter {name!r} is missing; set it in the spec or as an override") from None
    except (TypeError, ValueError):
        raise ValueError(f"parameter {name} must be a number, got {p[name]!r}") from None
    if not math.isfinite(v) or (low is not None and (v <= low if strict_low else v < low)) \
            or (high is not None and v > high):
        rng = f"{'(' if strict_low else '['}{low if low is not None else '-inf'}, " \
              f"{high if high is not None else 'inf'}]"
        raise ValueError(f"parameter {name} must be a finite number in {rng}, got {p[name]!r}")
    return v


def _integer(p: Mapping[str, Any], name: str, low: int) -> int:
    v = p.get(name)
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
        raise ValueError(f"parameter {name} must be an integer >= {low}, got {v!r}")
    return int(v)


class InterferenceEnv(RaoParallelEnv):
    """Spectrum sharing with primary-user protection (``spectrum/Interference-v1``); the module
    docstring describes the model, spaces, reward, counters and shifts."""

    def __init__(self, config: EnvConfig) -> None:
        super().__init__(config)
        p = self.params
        K = self.n_links = _integer(p, "n_links", 1)
        M = self.n_bands = _integer(p, "n_bands", 1)
        self.n_primary = _integer(p, "n_primary", 0)
        self.n_faded = _integer(p, "faded_interferers", 0)
        self.n_nb = min(_integer(p, "neighbours", 0), K - 1)
        if self.horizon < 2:
            raise ValueError(f"horizon must be >= 2 slots, got {self.horizon}")

        levels = p.get("power_levels_dbm")
        try:
            levels = [float(x) for x in levels]
        except (TypeError, ValueError):
            raise ValueError(f"power_levels_dbm must be a list of numbers (dBm), got {levels!r}") from None
        if not levels or any(b >= a for a, b in zip(levels, levels[1:])) or \
                not all(math.isfinite(x) for x in levels):
            raise ValueError(f"power_levels_dbm must be a non-empty, strictly decreasing list of "
                             f"finite dBm values (highest first), got {levels}")
        self.levels_dbm = np.array(levels)
        self.levels_mw = ch.db_to_linear(self.levels_dbm)
        self.n_levels = L = len(levels)
        self.n_actions = 1 + M * L
        self.p_top_dbm = levels[0]
        self.p_top_mw = float(self.levels_mw[0])

        self.budget_dbm = _number(p, "power_budget_dbm")
        self.low_budget_dbm = _number(p, "low_power_budget_dbm")
        self.low_share = _number(p, "low_power_share", low=0.0, high=1.0)

        self.area_per_link = _number(p, "area_per_link_m2", low=0.0, strict_low=True)
        self.side_m = math.sqrt(K * self.area_per_link)
        dist = p.get("link_distance_m")
        try:
            self.d_min, self.d_max = (float(x) for x in dist)
        except (TypeError, ValueError):
            raise ValueError(f"link_distance_m must be [min, max] in metres, got {dist!r}") from None
        if not 0 < self.d_min <= self.d_max:
            raise ValueError(f"link_distance_m must satisfy 0 < min <= max, got {dist!r}")
        self.carrier_hz = _number(p, "carrier_ghz", low=0.0, strict_low=True) * 1e9
        self.bandwidth_hz = _number(p, "bandwidth_mhz", low=0.0, strict_low=True) * 1e6
        self.noise_dbm = ch.thermal_noise_dbm(self.bandwidth_hz, _number(p, "noise_figure_db", low=0.0))
        self.noise_mw = float(ch.db_to_linear(self.noise_dbm))
        self.exponent = _number(p, "path_loss_exponent", low=1.0)
        self.shadow_db = _number(p, "shadowing_db", low=0.0)
        self.slot_s = _number(p, "slot_ms", low=0.0, strict_low=True) * 1e-3
        self.speed_kmh = _number(p, "speed_kmh", low=0.0)
        self.pu_threshold_dbm = self.noise_dbm + _number(p, "pu_inr_threshold_db")
        self.pu_threshold_mw = float(ch.db_to_linear(self.pu_threshold_dbm))
        self.pu_period = _integer(p, "pu_period_steps", 1)
        self.pu_on_steps = int(round(_number(p, "pu_duty_cycle", low=0.0, high=1.0) * self.pu_period))
        self.pu_offset_m = _number(p, "pu_offset_m", low=0.0)
        self.pa_efficiency = _number(p, "pa_efficiency", low=0.0, strict_low=True, high=1.0)
        self.circuit_mw = _number(p, "circuit_power_mw", low=0.0)
        self.penalty = _number(p, "violation_penalty", low=0.0)
        self._read_rules(p)

        self.rho_nominal = self._correlation(self.speed_kmh)
        self._read_shift(config)
        self._ext_mw_of_spec = float(ch.db_to_linear(self.interferer_dbm))   # the external transmitter, mW
        self.channel = ch.InterferenceChannel(K, M, self.n_faded,
                                              self.n_primary + 1 if self.pu_fading else 0)
        # the incumbents' bands: 0 .. M-2 in turn; the last entry is the primary_user_on shift's
        # incumbent on band M-1 (always simulated, active only in that scenario)
        self.pu_band = np.array([u % (M - 1) if M > 1 else 0 for u in range(self.n_primary)]
                                + [M - 1], dtype=np.int64)

        # per-action lookup tables (index = action)
        A = self.n_actions
        self._action_index = np.arange(A)
        band, level = self._band_level_of = decode_actions(self._action_index, L)
        self._band0_of = np.maximum(band, 0)
        self._power_of = np.where(band >= 0, self.levels_mw[level], 0.0)
        self._dbm_of = np.where(band >= 0, self.levels_dbm[level], -np.inf)
        self._rel_db_of = np.where(band >= 0, self.levels_dbm[level] - self.p_top_dbm, SILENT_POWER_DB)
        self._energy_of = np.where(band >= 0, (self._power_of / self.pa_efficiency + self.circuit_mw)
                                   * 1e-3 * self.slot_s, 0.0)
        self._onehot_of = np.zeros((A, M + 1))
        self._onehot_of[np.flatnonzero(band >= 0), band[band >= 0]] = 1.0
        self._pband_of = self._onehot_of[:, :M] * self._power_of[:, None]    # (A, M) power per band
        # per device class (row 0 standard, row 1 low-power): the per-device tables reset picks
        # rows from (the same values as computing them device by device)
        budgets = np.array([self.budget_dbm, self.low_budget_dbm])
        self._budget_excess_rows = np.maximum(self._dbm_of[None, :] - budgets[:, None], 0.0)   # (2, A)
        # v2's mask rule: a level above the budget is masked; if played anyway the radio caps it
        # (hardware limit): executed as the highest level within budget on the same band
        ok = self._dbm_of[None, :] <= budgets[:, None] + 1e-9                               # (2, A)
        top_ok = ok[:, 1:1 + L].argmax(axis=1)                                             # (2,)
        capped = encode_actions(np.broadcast_to(band, ok.shape), np.maximum(level[None, :], top_ok[:, None]), L)
        self._level_ok_rows = ok
        self._cap_rows = np.where(ok, self._action_index[None, :], capped)                 # (2, A)
        self._class_masks: dict[bytes, np.ndarray] = {}     # (2, A) int8 per shared mask (availability)
        self._rho_scale: tuple[np.ndarray, np.ndarray] | None = None    # _step_pack's, made once
        self._schedule_cache: tuple[np.ndarray, ...] | None = None         # _schedules(), made once

        self.possible_agents = [f"link_{k}" for k in range(K)]
        self.obs_dim = 5 * M + 3 + self.n_nb * (M + 2)
        obs_box = spaces.Box(-np.inf, np.inf, shape=(self.obs_dim,), dtype=np.float32)
        mask_box = spaces.Box(0, 1, shape=(self.n_actions,), dtype=np.int8)
        obs_space = spaces.Dict({"observation": obs_box, "action_mask": mask_box})
        act_space = spaces.Discrete(self.n_actions)
        self._observation_spaces = {a: obs_space for a in self.possible_agents}
        self._action_spaces = {a: act_space for a in self.possible_agents}
        self._mbit_per_rate = self.bandwidth_hz * self.slot_s / 1e6     # Mbit per (bit/s/Hz) per slot
        self._snr_scale = self.p_top_mw / self.noise_mw
        self._inv_noise = 1.0 / self.noise_mw
        self._idx = np.arange(K)
        self._row_offset = self._idx * M                    # flat index of (k, 0) in a (K, M) array
        self._action_offset = self._idx * self.n_actions    # flat index of (k, 0) in a (K, A) array
        self._zeros_k = [0.0] * K
        self._agent_keys = dict.fromkeys(self.possible_agents)     # dict.fromkeys(dict) is faster
        self._pick_actions = operator.itemgetter(*self.possible_agents)
        self._all_false = dict.fromkeys(self.possible_agents, False)    # copied per step (fast)
        self._all_true = dict.fromkeys(self.possible_agents, True)
        self._no_block = np.zeros(K, dtype=bool)
        # _measure's constants per column of [direct gains | received power]
        self._meas_floor = np.repeat([[MIN_GAIN, -np.inf]], [M, M], axis=1).repeat(K, axis=0)
        self._meas_scale = np.repeat([[self._snr_scale, self._inv_noise]], [M, M], axis=1).repeat(K, axis=0)
        self._meas_offset = np.repeat([[0.0, 1.0]], [M, M], axis=1).repeat(K, axis=0)
        self._no_block.setflags(write=False)
        self._masks: dict[bytes, np.ndarray] = {}                 # action mask per availability
        self._no_pu = (np.zeros((0, K)), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
        self._no_actions = np.zeros(0, dtype=np.int64)
        self._no_pointers = np.zeros(5, dtype=np.uint64)          # env_step's ptrs when it does not draw
        self._obs_next: np.ndarray | None = None
        self._pack: Any = None                          # kernels.StepPack of the episode (compiled step)
        self._rng_pointers: tuple[np.random.Generator, np.ndarray | None] | None = None
        self.use_compiled(kernels.AVAILABLE)
        self._ready = False

    def use_compiled(self, on: bool = True) -> None:
        """Step with the compiled kernels (``tasks/spectrum/kernels.py``, numba; the default when
        numba is installed) or with the numpy reference path (``on=False``). Both draw the same
        random numbers from the env's Generator and agree within ``bench.reproduce``'s tolerance
        (``tests/spectrum/test_compiled_step.py``); the numpy path is the one the pinned episode
        digests and the batched env reproduce bit for bit. The per-agent reward (``reward:
        per_agent``, training only) always runs on the numpy path. May be switched between steps."""
        if on and not kernels.AVAILABLE:
            raise RuntimeError("the compiled spectrum step needs numba; install it or use_compiled(False)")
        self.compiled = bool(on) and self.reward != "per_agent"
        self.channel.compiled = self.compiled
        self._obs_next = None
        self._pack = None

    # -- scenario ---------------------------------------------------------------------------------
    def _read_shift(self, config: EnvConfig) -> None:
        shift = config.scenario.shift
        self.shift_kind: str | None = None
        self.onset = self.horizon + 1
        self.rho_shift = self.rho_nominal
        self.interferer_dbm = 30.0
        self.n_outage = 1
        if shift is None:
            return
        kind = str(shift.get("kind"))
        if kind not in SHIFT_KINDS:
            raise ValueError(f"scenario {config.scenario.name!r}: shift.kind {kind!r} is not "
                             f"supported by Interference-v1; use one of {SHIFT_KINDS}")
        self.shift_kind = kind
        self.onset = int(shift["onset"])
        if kind == "faster_mobility":
            speed = _number(shift, "speed_kmh", low=0.0) if "speed_kmh" in shift else 30.0
            self.rho_shift = self._correlation(speed)
        elif kind == "new_interferer":
            self.interferer_dbm = _number(shift, "power_dbm") if "power_dbm" in shift else 30.0
        elif kind == "subband_outage":
            n = shift.get("bands", 1)
            if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n < self.n_bands:
                raise ValueError(f"scenario {config.scenario.name!r}: shift.bands must be an "
                                 f"integer in [1, n_bands - 1] = [1, {self.n_bands - 1}], got {n!r}")
            self.n_outage = n

    def _read_rules(self, p: Mapping[str, Any]) -> None:
        """The model and scoring rules Interference-v2 made selectable (``RULES``; absent = v1)."""
        for name, choices in RULES.items():
            v = p.get(name, choices[0])
            if v not in choices:
                raise ValueError(f"parameter {name} must be one of {choices}, got {v!r}")
            setattr(self, name, v)
        pf = p.get("pu_fading", False)
        if not isinstance(pf, bool):
            raise ValueError(f"parameter pu_fading must be true or false, got {pf!r}")
        self.pu_fading = pf
        self.shadow_corr_m = _number(p, "shadowing_corr_m", low=0.0) if "shadowing_corr_m" in p else 0.0

    def _correlation(self, speed_kmh: float) -> float:
        """Lag-one fading correlation at ``speed_kmh`` under the spec's ``fading_correlation``."""
        fd = ch.doppler_hz(speed_kmh / 3.6, self.carrier_hz)
        if self.fading_correlation == "ar1_clarke_half":
            return ch.ar1_clarke_correlation(fd, self.slot_s)
        return ch.jakes_correlation(fd, self.slot_s)

    def perturb_future(self, t0: int, seed: int) -> None:
        """Redraw the randomness realised after step ``t0`` (the no-foresight check,
        ``bench.checks.check_no_foresight``): the fading innovations of the transitions into slots
        ``t0 + 1, t0 + 2, …`` come from ``Generator(PCG64(seed))`` instead of the episode's stream.
        Everything else random (geometry, shadowing, device classes, incumbent schedules, the
        scenario's draws) is drawn at reset: known from the database or fixed for the episode.
        Call right after ``reset``."""
        if not self._ready or self.t != 0:
            raise RuntimeError("perturb_future(t0, seed) must be called right after reset()")
        self._future = (int(t0), np.random.Generator(np.random.PCG64(int(seed))))

    def shift_active(self, t: int) -> bool:
        """Whether the scenario's shift is in force in slot ``t``."""
        return self.shift_kind is not None and t >= self.onset

    # -- episode setup ----------------------------------------------------------------------------
    def _reset_sim(self) -> None:
        rng = self.np_random
        K, M, U, T = self.n_links, self.n_bands, self.n_primary, self.horizon
        # Every draw below happens in this order in every scenario (paired episodes).
        tx, rx = ch.place_links(rng, K, self.side_m, self.d_min, self.d_max)
        low_power = rng.random(K) < self.low_share
        corr = self.shadow_corr_m
        if corr > 0:     # Gudmundson: correlated over the transmitters' positions, per receiver
            tx_factor = ch.shadowing_factor(tx, corr)
            shadow = ch.correlated_shadowing_db(rng, self.shadow_db, tx, K, corr, tx_factor)
        else:
            shadow = ch.normal(rng, self.shadow_db, (K, K))
        pu_pos = ch.points_on_perimeter(rng, U + 1, self.side_m, self.pu_offset_m)
        if corr > 0:
            pu_shadow = ch.correlated_shadowing_db(rng, self.shadow_db, tx, U + 1, corr, tx_factor)
        else:
            pu_shadow = ch.normal(rng, self.shadow_db, (U + 1, K))
        pu_phase = rng.integers(0, self.pu_period, size=U)
        ext_pos = rng.uniform(0.25 * self.side_m, 0.75 * self.side_m, size=2)
        ext_band = int(rng.integers(0, M))
        if corr > 0:     # one transmitter, correlated over the receivers' positions
            ext_shadow = ch.correlated_shadowing_db(rng, self.shadow_db, rx, 1, corr)[0]
        else:
            ext_shadow = ch.normal(rng, self.shadow_db, K)
        outage_order = rng.permutation(M)

        def path_gain_db(rx_pos: np.ndarray, tx_pos: np.ndarray) -> np.ndarray:
            d = ch.distances(rx_pos, tx_pos)
            return -ch.log_distance_path_loss_db(d, self.carrier_hz, self.exponent)

        self.tx, self.rx, self.pu_pos, self.ext_pos = tx, rx, pu_pos, ext_pos
        pg_db = path_gain_db(rx, tx)                                  # (K, K) rx i <- tx j
        self._path_gain_db = pg_db                                    # path_gain: on demand
        self.large_scale = ch.db_to_linear(pg_db + shadow)
        pu_pg_db = path_gain_db(pu_pos, tx)                           # (U+1, K)
        self.pu_gain = ch.db_to_linear(pu_pg_db + pu_shadow)          # true: path loss + shadowing
        ext_gain = ch.db_to_linear(path_gain_db(rx, ext_pos[None, :])[:, 0] + ext_shadow)
        self.channel.reset(rng, self.large_scale, ext_gain)

        self.budget_dbm_k = np.where(low_power, self.low_budget_dbm, self.budget_dbm)
        self.budget_mw_k = ch.db_to_linear(self.budget_dbm_k)
        device_class = low_power.view(np.uint8)                       # 0 standard, 1 low-power
        self._device_class = device_class
        # [k, action]: power above device k's budget, dB (flat; index k * n_actions + action)
        self._budget_excess_of = self._budget_excess_rows.take(device_class, axis=0).ravel()
        self._future = None
        self._cap_of = None
        if self.power_budget_rule == "mask":          # the (K, A) tables of the class rows (__init__)
            self._level_ok = self._level_ok_rows.take(device_class, axis=0)
            self._cap_of = self._cap_rows.take(device_class, axis=0).ravel()
        self.pu_phase = pu_phase
        self.ext_band = ext_band
        self.ext_mw = self._ext_mw_of_spec
        self.outage_bands = np.sort(outage_order[: self.n_outage])

        # schedules of the whole episode (slot T is the observation after the last step)
        tt, shifted, avail, ext_on, registered = self._schedules()
        active = np.zeros((T + 1, U + 1), dtype=bool)
        active[:, :U] = ((tt[:, None] + pu_phase[None, :]) % self.pu_period) < self.pu_on_steps
        if self.shift_kind == "primary_user_on":
            active[:, U] = shifted
        self._pu_active = active
        band_active = np.zeros((T + 1, M), dtype=np.float32)
        for u in range(U + 1):
            band_active[active[:, u], self.pu_band[u]] = 1.0
        self._band_active = band_active
        if self.shift_kind == "subband_outage":
            avail = np.ones((T + 1, M), dtype=bool)
            avail[np.ix_(shifted, self.outage_bands)] = False
        self._available = avail
        self._ext_on = ext_on
        self._outage_now = (~avail).any(axis=1)

        # static observation columns [pu_margin_db | budget_db], for the nominal incumbent registry
        # and the one with the primary_user_on incumbent (database predictions: path loss only, no
        # shadowing)
        margin = pu_pg_db + self.p_top_dbm - self.pu_threshold_dbm                        # (U+1, K)
        budget_col = (self.budget_dbm_k - self.p_top_dbm)[:, None]

        def registry_cols(with_new: bool) -> np.ndarray:
            m = np.full((K, M), -MARGIN_CLIP_DB)
            for u in range(U + (1 if with_new else 0)):
                b = self.pu_band[u]
                m[:, b] = np.maximum(m[:, b], margin[u])
            return np.concatenate((np.clip(m, -MARGIN_CLIP_DB, MARGIN_CLIP_DB), budget_col), axis=1)

        cross = self.channel.cross_mean                   # large_scale with a zero diagonal
        nb = ch.top_indices(cross.T, self.n_nb)                                           # (K, n_nb)
        self.feedback_nb = nb
        leak_db = np.clip(ch.linear_to_db(cross[nb, self.channel._rows]
                                          * self.p_top_mw / self.noise_mw), -DB_CLIP, DB_CLIP)
        self._leak_db = leak_db                                                           # (K, n_nb)
        self._leak_db3 = leak_db[:, :, None]                                              # (K, n_nb, 1)

        # what a slot's step and observation need from the schedules, per distinct slot state
        flags = np.concatenate([active, ~avail, registered[:, None], self._ext_on[:, None]], axis=1)
        if flags.shape[1] <= 62:
            codes = (flags @ (1 << np.arange(flags.shape[1], dtype=np.int64))).tolist()
        else:                                             # very many incumbents or bands
            codes = [row.tobytes() for row in flags]
        first = dict(zip(reversed(codes), range(T, -1, -1)))     # code -> the first slot with it
        ts = sorted(first.values())
        # the static observation columns of every distinct state, in one float32 block
        statics = np.empty((len(ts), K, 2 * M + 1), dtype=np.float32)
        statics[:, :, :M] = band_active[ts][:, None, :]
        reg_of = registered[ts]
        for reg in (False, True):
            if (reg_of == reg).any():
                statics[reg_of == reg, :, M:] = registry_cols(reg)
        states: dict[int | bytes, _Slot] = {}
        agent_masks: dict[int, tuple[np.ndarray, list[np.ndarray]]] = {}   # per shared mask (availability)
        any_active = active.any(axis=1).tolist()
        for static, t in zip(statics, ts):
            act = active[t]
            mask = self.action_mask(t)
            rows = None
            if self._cap_of is not None:
                if id(mask) not in agent_masks:
                    per_agent = self._class_mask(mask).take(self._device_class, axis=0)
                    per_agent.setflags(write=False)
                    agent_masks[id(mask)] = (per_agent, list(per_agent))
                mask, rows = agent_masks[id(mask)]
            states[codes[t]] = _Slot(
                pu=(self.pu_gain[act], self.pu_band[act], np.flatnonzero(act)) if any_active[t] else None,
                outage=bool(self._outage_now[t]), external=bool(self._ext_on[t]),
                static=static, mask=mask, mask_rows=rows)
        self._slots = [states[c] for c in codes]

        # running statistics
        self._cum_rate = np.zeros(K)
        self._jain_prev = 0.0
        self._p5_prev = 0.0
        # measurements of the slot before the episode: nobody transmitted
        self._feedback = np.zeros((K, M + 1))            # [band one-hot, rate] of the last slot
        self.last_power_db = np.full(K, SILENT_POWER_DB)
        self.last_outcome = None
        self._measure(np.zeros((K, M)))
        self._obs_next = None
        self._pack = None
        self._prev_csi = self.channel.snapshot()
        self.channel.advance(rng, self._rho(0))
        self._ready = True

    def _schedules(self) -> tuple[np.ndarray, ...]:
        """The episode schedules that depend on the spec and scenario only, made once (read, never
        written): slot indices ``0..T``, whether the shift is in force, the available bands (every
        band; ``subband_outage`` redraws its own per episode), when the external transmitter is on
        and the slots where the ``primary_user_on`` incumbent is in the database (registry)."""
        if self._schedule_cache is None:
            T = self.horizon
            tt = np.arange(T + 1)
            shifted = tt >= self.onset
            off = np.zeros(T + 1, dtype=bool)
            self._schedule_cache = (
                tt, shifted, np.ones((T + 1, self.n_bands), dtype=bool),
                shifted if self.shift_kind == "new_interferer" else off,
                shifted if self.shift_kind == "primary_user_on" else off)
        return self._schedule_cache

    # -- time-dependent scenario state ---------------------------------------------------------------
    def _rho(self, t: int) -> float:
        """Correlation of the fading transition into slot ``t``."""
        if self.shift_kind == "faster_mobility" and t >= self.onset:
            return self.rho_shift
        return self.rho_nominal

    def primary_active(self, t: int) -> np.ndarray:
        """(U+1,) bool: which primary receivers are active in slot ``t`` (the last is the shift's)."""
        return self._pu_active[t]

    def available_bands(self, t: int) -> np.ndarray:
        """(M,) bool: bands usable in slot ``t``."""
        return self._available[t]

    def _external(self, t: int) -> np.ndarray:
        """(M, K) interference from the external transmitter in slot ``t``, mW."""
        ext = np.zeros((self.n_bands, self.n_links))
        if self._ext_on[t]:
            ext[self.ext_band] = self.ext_mw * self.channel.external
        return ext

    def _class_mask(self, mask: np.ndarray) -> np.ndarray:
        """(2, A) int8: the shared ``mask`` with the levels above each device class's budget
        masked (row 0 standard, row 1 low-power), made once per mask."""
        key = mask.tobytes()
        rows = self._class_masks.get(key)
        if rows is None:
            rows = self._class_masks[key] = (mask[None, :] & self._level_ok_rows).astype(np.int8)
        return rows

    @property
    def path_gain(self) -> np.ndarray:
        """(K, K) path gain without shadowing, receiver i <- transmitter j (what a propagation
        model predicts; computed when asked, it is not needed to play)."""
        return ch.db_to_linear(self._path_gain_db)

    def action_mask(self, t: int) -> np.ndarray:
        """(1 + M L,) int8 mask of slot ``t`` (shared by all agents, read-only)."""
        ok = self._available[t]
        key = ok.tobytes()
        mask = self._masks.get(key)
        if mask is None:
            mask = np.concatenate([[1], np.repeat(ok, self.n_levels)]).astype(np.int8)
            mask.setflags(write=False)
            self._masks[key] = mask
        return mask

    # -- oracle access ----------------------------------------------------------------------------
    def oracle_view(self) -> OracleView:
        """The true channel and incumbent state of the slot about to be played. ORACLES ONLY: a
        policy that calls this must declare paradigm ``oracle``."""
        t = self.t
        active = self._pu_active[t]
        primary = self.pu_gain[active]
        if self.pu_fading:
            primary = primary * self.channel.primary_fade[active]
        return OracleView(gains=self.channel.gains(), noise_mw=self.noise_mw,
                          external_mw=self._external(t),
                          primary_gain=primary.copy(),
                          primary_band=self.pu_band[active].copy(),
                          threshold_mw=self.pu_threshold_mw, levels_mw=self.levels_mw.copy(),
                          budget_mw=self.budget_mw_k.copy(), available=self._available[t].copy())

    def delayed_csi(self) -> OracleView:
        """The channel state information a central controller holds with one slot of feedback
        delay (the agents' own delay): the previous slot's link gains and external interference,
        this slot's public data (levels, budgets, available bands); no incumbent gains (the
        incumbents do not report CSI: ``primary_*`` are empty). Nothing here is realised after the
        previous slot, so a policy reading it needs no ``oracle`` paradigm (a centralised one:
        ``CTCE``)."""
        t = self.t
        prev = self._prev_csi
        ext = np.zeros((self.n_bands, self.n_links))
        if t >= 1 and self._ext_on[t - 1]:
            ext[self.ext_band] = self.ext_mw * prev[2]
        return OracleView(gains=self.channel.gains(prev), noise_mw=self.noise_mw, external_mw=ext,
                          primary_gain=np.zeros((0, self.n_links)), primary_band=np.zeros(0, dtype=np.int64),
                          threshold_mw=self.pu_threshold_mw, levels_mw=self.levels_mw.copy(),
                          budget_mw=self.budget_mw_k.copy(), available=self._available[t].copy())

    # -- dynamics ---------------------------------------------------------------------------------
    def _actions_to_array(self, actions: Mapping[str, Any]) -> np.ndarray:
        """The joint action as an int64 array in agent order; ValueError for a missing agent or an
        action outside ``[0, n_actions)``."""
        agents = self.possible_agents
        try:                                 # one C call picks the K actions in agent order
            picked = self._pick_actions(actions) if self.n_links > 1 else (actions[agents[0]],)
            a = np.fromiter(picked, dtype=np.int64, count=self.n_links)
        except KeyError:
            missing = [x for x in agents if x not in actions]
            raise ValueError(f"actions are missing for agents {missing[:5]}; pass one per live agent") from None
        except (TypeError, ValueError):
            a = np.array([int(np.asarray(actions[x]).reshape(-1)[0]) for x in agents], dtype=np.int64)
        if not self.compiled:                # the compiled step checks the range itself
            self._check_actions(a)
        return a

    def _check_actions(self, a: np.ndarray) -> None:
        """ValueError naming the agents whose action lies outside ``[0, n_actions)``."""
        # one reduction checks both ends: a negative int64 viewed as uint64 is >= 2**63
        if a.view(np.uint64).max() >= self.n_actions:
            bad = [x for x, v in zip(self.possible_agents, a.tolist()) if not 0 <= v < self.n_actions]
            raise ValueError(f"actions must be integers in [0, {self.n_actions - 1}] (0 = silent, "
                             f"1 + band * {self.n_levels} + level); got out-of-range actions for {bad[:5]}")

    def step(self, actions: Mapping[str, Any]):
        """PettingZoo ``step``: the base class's contract (``bench/env_base.py``) and outputs, built
        in one pass per dictionary (the per-agent dictionaries are most of a step's cost at K = 50;
        ``docs/tasks/spectrum.md``, *Speed*)."""
        if not self.agents:
            raise RuntimeError("step() called on a finished episode: call reset() first")
        a = self._actions_to_array(actions)
        reward, infos = self._advance(a)
        self.t += 1
        obs = self._observe()
        rewards = dict(zip(self.possible_agents, reward)) if type(reward) is list \
            else dict.fromkeys(self._agent_keys, reward)
        terminations = self._all_false.copy()
        if self.t >= self.horizon:
            self.agents = []
            return obs, rewards, terminations, self._all_true.copy(), infos
        return obs, rewards, terminations, self._all_false.copy(), infos

    def _step_sim(self, actions: Mapping[str, Any]):
        """The base class's hook, for callers that use it directly: (rewards, kpi, violations)."""
        reward, infos = self._advance(self._actions_to_array(actions))
        agents = self.possible_agents
        rewards = dict(zip(agents, reward)) if isinstance(reward, list) else dict.fromkeys(agents, reward)
        return (rewards, {x: infos[x]["kpi"] for x in agents},
                {x: infos[x]["violations"] for x in agents})

    def _advance(self, a: np.ndarray) -> tuple[float | list[float], dict[str, dict[str, dict[str, float]]]]:
        """Play slot ``t`` with the joint action ``a`` (K,) and move the channel on; returns the
        team reward and every agent's infos (see the module docstring)."""
        if self.compiled:
            return self._advance_compiled(a)
        t = self.t
        K, M = self.n_links, self.n_bands
        slot = self._slots[t]
        blocked = None
        if self._cap_of is not None:
            executed = self._cap_of.take(self._action_offset + a)
            if (executed != a).any():
                blocked = executed != a
                a = executed
        if slot.outage:
            avail = self._available[t]
            off = (a > 0) & ~avail[self._band0_of[a]]
            if off.any():
                a = np.where(off, 0, a)              # a masked action is not executed: silent
                blocked = off if blocked is None else blocked | off
        b0 = self._band0_of.take(a)
        power = self._power_of.take(a)
        p = self._pband_of.take(a, axis=0)                                   # (K, M)
        chan = self.channel
        received = chan.interference(p)                                       # (K, M)
        if slot.external:
            received[:, self.ext_band] += self.ext_mw * chan.external
        own = self._row_offset + b0                                           # flat (k, b0[k])
        sinr = chan.direct.take(own) * power / (self.noise_mw + received.take(own))
        rate = np.log2(1.0 + sinr)                                            # 0 when silent

        # incumbents: interference from path loss and shadowing (no fast fading)
        pu_excess = None
        suspended = None
        pu = slot.pu
        if pu is not None and self.blame == "proportional":
            pu_excess, suspended = self._blame(pu, p)
        elif pu is not None:
            gain, pb, _ = pu
            # p[:, pb] laid out as numpy's fancy indexing does (F order): the einsum's summation
            # order, hence its rounding, depends on it
            at_pu = np.einsum("uk,ku->u", gain, p.T.take(pb, axis=0).T).tolist()   # (U',) mW
            if max(at_pu) > self.pu_threshold_mw:
                per_band = np.zeros(M)
                for b, x in zip(pb.tolist(), at_pu):
                    if x > self.pu_threshold_mw:
                        per_band[b] = max(per_band[b], 10.0 * math.log10(x / self.pu_threshold_mw))
                pu_excess = np.where(power > 0, per_band[b0], 0.0)
        budget_excess = self._budget_excess_of.take(self._action_offset + a)     # (K,) dB
        if self.protection_rule == "suspend":
            return self._finish_v2(t, a, power, rate, received, b0, pu_excess, suspended, budget_excess, blocked)

        # KPI counters and long-run statistics
        self._cum_rate += rate
        avg = self._cum_rate * (1.0 / (t + 1))
        jain, p5 = _jain(avg), _percentile5(avg)
        d_jain, d_p5 = jain - self._jain_prev, p5 - self._p5_prev
        self._jain_prev, self._p5_prev = jain, p5

        rate_l = rate.tolist()
        budget_l = budget_excess.tolist()
        exceed = sum(budget_l)
        if pu_excess is not None:
            pu_l = pu_excess.tolist()
            exceed += sum(pu_l)
        else:
            pu_l = self._zeros_k
        reward = (sum(rate_l) - self.penalty * exceed) / K
        blocked_l = blocked.astype(float).tolist() if blocked is not None else self._zeros_k
        infos = {x: {"kpi": {"rate": r, "mbits": b, "energy_j": e, "blocked": bl},
                     "violations": {"pu_interference": u, "power_budget": v}}
                 for x, r, b, e, bl, u, v in zip(self.possible_agents, rate_l,
                                                 (rate * self._mbit_per_rate).tolist(),
                                                 self._energy_of.take(a).tolist(), blocked_l, pu_l,
                                                 budget_l)}
        k0 = infos[self.possible_agents[0]]["kpi"]
        k0["jain"] = d_jain
        k0["rate_p5"] = d_p5

        # what the links measured in this slot, for the next observation
        fb = self._onehot_of.take(a, axis=0)
        fb[:, M] = rate
        self._feedback = fb
        self.last_power_db = self._rel_db_of.take(a)
        self._measure(received)
        self.last_outcome = {"action": a, "power_mw": power, "rate": rate,
                             "blocked": blocked if blocked is not None else self._no_block}
        self._advance_channel(t)
        return reward, infos

    def _advance_compiled(self, a: np.ndarray) -> tuple[float, dict[str, dict[str, dict[str, float]]]]:
        """``_advance`` through the compiled kernels (``tasks/spectrum/kernels.py``): the same
        model, rules and outputs (both protection rules, team reward), with the slot's arithmetic,
        the next observation matrix, the team reward and the channel's move into slot ``t + 1`` in
        one call (``kernels.env_step``) on the episode's constants packed once (``_step_pack``)."""
        t = self.t
        pack = self._pack
        if pack is None:
            pack = self._pack = self._step_pack()
        chan = self.channel
        rng = self.np_random
        if self._future is not None and t + 1 > self._future[0]:
            rng = self._future[1]            # the perturbed stream (perturb_future)
        ptrs = self._pointers(rng)
        (bad, a_exec, cols, power, flags, self._obs_next, direct, dev, external, primary, any_blocked,
         any_over, jain, p5, reward) = kernels.env_step(
            pack, a, t, self._slots[t + 1].static, chan.direct, chan._cross_dev, chan.external, chan.primary_fade,
            self._no_pointers if ptrs is None else ptrs, ptrs is not None)
        if bad:
            self._check_actions(a)           # raises the ValueError that names the agents
        self._prev_csi = (chan.direct, chan._cross_dev, chan.external)     # = chan.snapshot()
        if ptrs is None:                     # a bit generator the kernels do not draw from
            chan.advance(rng, self._rho(t + 1))
        else:
            chan.direct, chan._cross_dev, chan.external = direct, dev, external
            if chan.U:
                chan.primary_fade = primary
        d_jain, d_p5 = jain - self._jain_prev, p5 - self._p5_prev
        self._jain_prev, self._p5_prev = jain, p5
        # [rate, safe rate, Mbit, energy, budget excess, blamed excess, blocked]: the last two rows
        # are all zero unless an incumbent is above I_th / an action was not executed as played
        if any_blocked:
            rate_l, safe_l, mbit_l, energy_l, budget_l, pu_l, blocked_l = cols.tolist()
        elif any_over:
            rate_l, safe_l, mbit_l, energy_l, budget_l, pu_l = cols[:6].tolist()
            blocked_l = self._zeros_k
        else:
            rate_l, safe_l, mbit_l, energy_l, budget_l = cols[:5].tolist()
            pu_l = blocked_l = self._zeros_k
        rate = cols[0]
        blocked = flags[1] if any_blocked else self._no_block
        agents = self.possible_agents
        if self.protection_rule == "suspend":
            infos = dict(zip(agents, [{"kpi": {"rate": r, "safe_rate": s_, "mbits": b, "energy_j": e,
                                               "blocked": bl},
                                       "violations": {"pu_interference": u, "power_budget": v}}
                                      for r, s_, b, e, bl, u, v in zip(rate_l, safe_l, mbit_l, energy_l,
                                                                       blocked_l, pu_l, budget_l)]))
            self.last_outcome = {"action": a_exec, "power_mw": power, "rate": rate, "safe_rate": cols[1],
                                 "suspended": flags[0] if any_over else self._no_block, "blocked": blocked}
        else:
            infos = dict(zip(agents, [{"kpi": {"rate": r, "mbits": b, "energy_j": e, "blocked": bl},
                                       "violations": {"pu_interference": u, "power_budget": v}}
                                      for r, b, e, bl, u, v in zip(rate_l, mbit_l, energy_l, blocked_l, pu_l,
                                                                   budget_l)]))
            self.last_outcome = {"action": a_exec, "power_mw": power, "rate": rate, "blocked": blocked}
        k0 = infos[agents[0]]["kpi"]
        k0["jain"] = d_jain
        k0["rate_p5"] = d_p5
        return reward, infos

    def _step_pack(self) -> Any:
        """``kernels.StepPack`` of the episode (``kernels.STEP_PACK_FIELDS``): built on the first
        compiled step after a reset, a switch of path or a copy. Its state arrays are the env's own
        (``_cum_rate``, the measurements, the fading state), which the step then updates in place."""
        chan = self.channel
        if self._rho_scale is None:          # the schedule of the spec and scenario: made once
            rho = np.array([self._rho(t) for t in range(self.horizon + 2)])
            if not np.all(np.abs(rho) <= 1.0):
                raise ValueError(f"fading correlation rho must lie in [-1, 1], got {rho.min()}..{rho.max()}")
            self._rho_scale = (rho, np.array([math.sqrt(max(1.0 - r * r, 0.0)) for r in rho.tolist()]))
        rho, scale = self._rho_scale
        fields = dict(
            cap_of=self._cap_of if self._cap_of is not None else self._no_actions,
            available=self._available, outage=self._outage_now, band0_of=self._band0_of, power_of=self._power_of,
            cross_mean=chan.cross_mean, neighbours=chan.neighbours, noise=self.noise_mw, ext_band=self.ext_band,
            ext_mw=self.ext_mw, ext_on=self._ext_on, pu_gain=self.pu_gain, pu_band=self.pu_band,
            pu_active=self._pu_active, pu_fade_on=bool(self.pu_fading and self.blame == "proportional"),
            threshold=self.pu_threshold_mw, proportional=self.blame == "proportional",
            suspend=self.protection_rule == "suspend", penalty=self.penalty, energy_of=self._energy_of,
            budget_of=self._budget_excess_of, mbit_per_rate=self._mbit_per_rate, onehot_of=self._onehot_of,
            rel_db_of=self._rel_db_of, min_gain=MIN_GAIN, snr_scale=self._snr_scale, inv_noise=self._inv_noise,
            feedback_nb=self.feedback_nb, leak_db=self._leak_db, direct_mean=chan.direct_mean,
            neighbour_mean=chan.neighbour_mean, external_mean=chan.external_mean,
            direct_mean2=np.ascontiguousarray(chan._direct_mean2),
            neighbour_mean3=np.ascontiguousarray(chan._neighbour_mean3), rho=rho, scale=scale,
            h=chan.fading.h.view(np.float64), cum_rate=self._cum_rate, si=self._si_db, fb=self._feedback,
            last_power_db=self.last_power_db, scratch=np.empty(2 * chan.fading.size))
        return kernels.new_step_pack(*(fields[name] for name in kernels.STEP_PACK_FIELDS))

    def _pointers(self, rng: np.random.Generator) -> np.ndarray | None:
        """``kernels.generator_pointers(rng)``, read once per Generator object (a bit generator's
        state lives at a fixed address for its lifetime; the cache keeps the object alive and is
        dropped when the env is copied); None for a bit generator other than PCG64."""
        cached = self._rng_pointers
        if cached is not None and cached[0] is rng:
            return cached[1]
        ptrs = kernels.generator_pointers(rng) if type(rng.bit_generator) is np.random.PCG64 else None
        self._rng_pointers = (rng, ptrs)
        return ptrs

    def __getstate__(self) -> dict[str, Any]:
        # the compiled step's pack and the Generator's addresses belong to this object's arrays
        state = super().__getstate__()
        state["_pack"] = None
        state["_rng_pointers"] = None
        return state

    def _blame(self, pu: tuple[np.ndarray, np.ndarray, np.ndarray], p: np.ndarray
               ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Proportional blame (Interference-v2): each active incumbent ``u`` above ``I_th`` has an
        excess ``E_u = 10 log10(I_u / I_th)`` dB, split among the transmitters on its band in
        proportion to their share ``p_k g_uk / I_u`` of the aggregate ``I_u``; returns every link's
        blamed excess (K,) (the shares of one incumbent sum to ``E_u``) and which links transmit
        on a band whose incumbent is above threshold (their transmissions are suspended), or
        ``(None, None)`` when every incumbent is protected."""
        gain, pb, idx = pu
        if self.pu_fading:
            gain = gain * self.channel.primary_fade[idx]
        on_band = p.T.take(pb, axis=0)                                       # (U', K) mW
        contrib = gain * on_band
        at_pu = contrib.sum(axis=1)                                          # (U',) mW
        over = at_pu > self.pu_threshold_mw
        if not over.any():
            return None, None
        excess = 10.0 * np.log10(at_pu[over] / self.pu_threshold_mw)
        blamed = (excess / at_pu[over]) @ contrib[over]                      # (K,)
        suspended = (on_band[over] > 0).any(axis=0)
        return blamed, suspended

    def _finish_v2(self, t: int, a: np.ndarray, power: np.ndarray, rate: np.ndarray, received: np.ndarray,
                   b0: np.ndarray, pu_excess: np.ndarray | None, suspended: np.ndarray | None,
                   budget_excess: np.ndarray, blocked: np.ndarray | None):
        """The rest of ``_advance`` under ``protection_rule: suspend`` (Interference-v2): a link
        transmitting on a band whose active incumbent is above threshold has its transmission
        suspended (its rate is not counted: counter ``safe_rate``); rewards are the team's mean
        safe rate minus the penalty on the mean blamed excess, or per agent (``reward:
        per_agent``, Nasir & Guo 2019): own safe rate minus the rate its interference costs the
        other links minus the penalty on its own blamed excess."""
        K, M = self.n_links, self.n_bands
        safe = rate if suspended is None else np.where(suspended, 0.0, rate)
        exceed_k = budget_excess if pu_excess is None else budget_excess + pu_excess
        self._cum_rate += rate
        avg = self._cum_rate * (1.0 / (t + 1))
        jain, p5 = _jain(avg), _percentile5(avg)
        d_jain, d_p5 = jain - self._jain_prev, p5 - self._p5_prev
        self._jain_prev, self._p5_prev = jain, p5
        if self.reward == "per_agent":
            reward = (safe - self._interference_price(power, rate, received, b0)
                      - self.penalty * exceed_k).tolist()
        else:
            reward = (float(safe.sum()) - self.penalty * float(exceed_k.sum())) / K
        zeros = self._zeros_k
        pu_l = pu_excess.tolist() if pu_excess is not None else zeros
        blocked_l = blocked.astype(float).tolist() if blocked is not None else zeros
        infos = {x: {"kpi": {"rate": r, "safe_rate": s_, "mbits": b, "energy_j": e, "blocked": bl},
                     "violations": {"pu_interference": u, "power_budget": v}}
                 for x, r, s_, b, e, bl, u, v in zip(self.possible_agents, rate.tolist(), safe.tolist(),
                                                     (rate * self._mbit_per_rate).tolist(),
                                                     self._energy_of.take(a).tolist(), blocked_l, pu_l,
                                                     budget_excess.tolist())}
        k0 = infos[self.possible_agents[0]]["kpi"]
        k0["jain"] = d_jain
        k0["rate_p5"] = d_p5
        fb = self._onehot_of.take(a, axis=0)
        fb[:, M] = rate
        self._feedback = fb
        self.last_power_db = self._rel_db_of.take(a)
        self._measure(received)
        self.last_outcome = {"action": a, "power_mw": power, "rate": rate, "safe_rate": safe,
                             "suspended": suspended if suspended is not None else self._no_block,
                             "blocked": blocked if blocked is not None else self._no_block}
        self._advance_channel(t)
        return reward, infos

    def _interference_price(self, power: np.ndarray, rate: np.ndarray, received: np.ndarray,
                            b0: np.ndarray) -> np.ndarray:
        """(K,) the rate each link's interference costs the others this slot, ``Σ_j π_jk`` with
        ``π_jk = log2(1 + S_j / (N + I_j − p_k G_jk)) − C_j`` over the links ``j`` on ``k``'s band
        (Nasir & Guo 2019's interference price, with every co-band receiver)."""
        K = self.n_links
        on = power > 0
        own = self._row_offset + b0
        G = self.channel.gains()[b0, self._idx, :]                           # (K, K): into receiver j on its band
        co = (b0[:, None] == b0[None, :]) & on[:, None] & on[None, :]
        np.fill_diagonal(co, False)
        if not co.any():
            return np.zeros(K)
        interference = self.noise_mw + received.take(own)                    # (K,) N + I_j
        signal = self.channel.direct.take(own) * power                      # (K,) S_j
        without = np.maximum(interference[:, None] - G * power[None, :], self.noise_mw)
        gain = np.log2(1.0 + signal[:, None] / without) - rate[:, None]
        return np.where(co, gain, 0.0).sum(axis=0)

    def _advance_channel(self, t: int) -> None:
        """Move the channel on to slot ``t + 1`` (from the perturbed stream after ``perturb_future``'s
        ``t0``)."""
        rng = self.np_random
        if self._future is not None and t + 1 > self._future[0]:
            rng = self._future[1]
        self._prev_csi = self.channel.snapshot()
        self.channel.advance(rng, self._rho(t + 1))

    def _measure(self, received: np.ndarray) -> None:
        """Store the slot's per-band measurements at every receiver, as the first ``2M`` columns
        of the next observation: direct gain (as SNR at ``p_top``, dB) and interference plus noise
        over noise (dB); ``received`` (K, M) includes any external power. Both halves in one
        array: ``10 log10(max(g, floor) * p_top / N + 0)`` and ``10 log10(max(r, -inf) / N + 1)``."""
        self._si_db = measurements_db(self.channel.direct, received, self._meas_floor,
                                      self._meas_scale, self._meas_offset)

    @property
    def last_rate(self) -> np.ndarray:
        """Each link's rate in the last slot (bit/s/Hz)."""
        return self._feedback[:, self.n_bands].copy()

    @property
    def last_band(self) -> np.ndarray:
        """Each link's band in the last slot (−1 if silent)."""
        oh = self._feedback[:, : self.n_bands]
        return np.where(oh.any(axis=1), oh.argmax(axis=1), -1)

    # -- observations -----------------------------------------------------------------------------
    def _obs_matrix(self) -> np.ndarray:
        """(K, D) float32: every link's observation vector (a fresh array every call)."""
        fb = self._feedback
        parts = [self._si_db, fb, self.last_power_db[:, None], self._slots[self.t].static]
        if self.n_nb:
            nb = np.concatenate((fb.take(self.feedback_nb, axis=0), self._leak_db3), axis=2)
            parts.append(nb.reshape(self.n_links, -1))
        return np.concatenate(parts, axis=1, dtype=np.float32)

    def _observe(self) -> dict[str, dict[str, np.ndarray]]:
        slot = self._slots[self.t]
        obs = self._obs_next                 # built by the compiled step (the same entries)
        if obs is None:
            obs = self._obs_matrix()
        self._obs_next = None
        # dict(zip(keys, list)) builds the same dict as a comprehension, about 15% faster; the
        # observation rows are fresh views every step, the read-only mask rows are made at reset
        if slot.mask_rows is not None:       # per-agent masks (power budget masked, v2)
            return dict(zip(self.possible_agents, [{"observation": row, "action_mask": m}
                                                   for row, m in zip(list(obs), slot.mask_rows)]))
        mask = slot.mask
        return dict(zip(self.possible_agents, [{"observation": row, "action_mask": mask} for row in list(obs)]))

    def state(self) -> np.ndarray:
        """Every link's observation (link_0 first), the incumbent activity per band, the
        available-band mask and ``t / horizon``."""
        if not self._ready:
            return self._state_template()
        t = self.t
        return np.concatenate([self._obs_matrix().astype(np.float64).reshape(-1),
                               self._band_active[t].astype(np.float64),
                               self._available[t].astype(np.float64), [t / self.horizon]])

    def _state_template(self) -> np.ndarray:
        return np.zeros(self.n_links * self.obs_dim + 2 * self.n_bands + 1)


def _jain(x: np.ndarray) -> float:
    """Jain's fairness index ``(Σx)² / (n Σx²)`` in [1/n, 1]; 0 when every entry is 0 (nobody
    served — so that silence never looks fair)."""
    s2 = float(np.dot(x, x))
    if s2 <= 0.0:
        return 0.0
    s = float(x.sum())
    return s * s / (len(x) * s2)


def _percentile5(x: np.ndarray) -> float:
    """5th percentile with linear interpolation between order statistics (numpy's default
    ``np.percentile(x, 5)``), computed from one sort."""
    s = np.sort(x)
    pos = 0.05 * (len(s) - 1)
    lo = int(pos)
    frac = pos - lo
    if lo + 1 < len(s):
        a, b = s[lo:lo + 2].tolist()
        return a + frac * (b - a)
    return float(s[lo])
