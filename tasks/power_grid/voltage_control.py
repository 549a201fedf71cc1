"""``power_grid/IEEE33-v1``: multi-agent active voltage control on radial distribution feeders.

Setting (after MAPDN, Wang et al., NeurIPS 2021). PV inverters on the IEEE 33-bus feeder
(``network.py``: Baran & Wu's data, six 1.5 MW PV inverters) are the agents. Each interval of
``step_minutes`` (15) they set their reactive power, and may curtail active power, to keep every
bus voltage in the band ``[v_min, v_max]`` = [0.95, 1.05] p.u. while losing as little energy as
possible. One episode is one day (96 intervals, from midnight); the day's load and sunshine are
drawn from the seed (``profiles.py``). The network state of every interval is solved by the exact
batched AC power flow (``powerflow.py``, tolerance ``pf_tol``). The scale ladder connects
``n_feeders`` copies of the feeder, each with its own loads, to one substation (6 agents per
feeder); copies share the weather.

Timing (one ``step`` = one interval ``t``). The observation at ``t`` reports the measurements of
interval ``t − 1`` (interval averages, as a meter reports them): voltages, loads and PV output.
The agents then choose the set-points of interval ``t``, whose load and sunshine they have not
seen yet, and the interval is solved.

Action of inverter ``i`` (``Box`` of shape (2,), or (1,) with ``curtailment: false``):

* ``a_q ∈ [−1, 1]``: reactive power set-point as a fraction of the reactive headroom the inverter
  had in the last interval, ``q_cmd = a_q · √(s_max² − p_ref²)``, ``s_max = s_max_ratio · p_max``
  (1.2 p_max, as MAPDN), ``p_ref`` = its active output in interval ``t − 1``. Positive = injection
  (raises voltage).
* ``a_c ∈ [0, 1]``: curtailment, the fraction of the available PV power withheld:
  ``p = (1 − a_c) · min(p_avail, s_max)`` (PV beyond the inverter's rating, possible only under
  the ``pv_surge`` shift, is clipped by the inverter and not counted as curtailment).

The inverter delivers ``p`` and ``q = clip(q_cmd, ±√(s_max² − p²))`` (active-power priority):
when the sun comes out within the interval, a command set on the last interval's headroom may not
fit, the inverter clips it, and the excess ``√(p² + q_cmd²) − s_max`` is reported as a violation
of its apparent-power limit. Failed inverters deliver nothing.

Observation of inverter ``i`` (float32, identical layout for every agent and scenario; ``Z`` = the
largest zone's bus count, 17):

    [0:2]  sin, cos of the time of day (midpoint of the interval to control)
    [2]    inverter status (1 working, 0 failed)
    [3]    p_max (MW), its rating; s_max = s_max_ratio · p_max
    [4:8]  own bus in interval t−1: available PV power (MW), delivered p (MW), delivered q (Mvar),
           voltage (p.u.)
    [8:]   its zone's buses (ascending bus index, zero-padded to Z): per bus (v p.u., load p MW,
           load q Mvar, PV p MW, PV q Mvar, 1 = slot used), bus-major

Zones: the trunk (buses 2-18) and the three laterals (19-22, 23-25, 26-33) of each feeder
(``network.IEEE33_ZONES``); ``agent_layout`` gives every agent's zone buses. ``state()`` is the
global, true state of interval t−1: per bus v, load p, load q, PV p, PV q; per inverter available
p, status; per line current / rating; time of day (sin, cos) and t / horizon.

Reward (each agent receives its feeder's; feeders are independent under the stiff substation):

    r_f = − Σ_{b ∈ f} (exceedance_b / 0.01 p.u.) − w_band · 1[any bus of f out of band]
          − w_energy · (line loss_f + curtailed PV_f) [MW] − w_q · Σ_{i ∈ f} |q_i| [Mvar]
          − w_fail · 1[power flow of f failed]

``exceedance_b = max(0, v_min − v_b, v_b − v_max)``. Why: the voltage barrier is MAPDN's L1
barrier restricted to the outside of the band (any voltage in the band is acceptable, so nothing
pulls voltages to 1.0 at the price of reactive power and loss), plus a unit cost per interval out of
band, which is what the controllable rate counts. The energy term prices line loss and curtailed PV
alike, both being energy the feeder loses; ``w_q`` is the small reactive-power cost the task
statement asks for (inverter losses and wear, and MAPDN's proxy for loss). Defaults (``reward_*``
parameters): 1, 1, 0.1 per Mvar, 10.

``infos[agent]["kpi"]`` counters (the harness sums them over agents): own — ``q_mvarh``
(|q|·Δt), ``curtailed_mwh``, ``pv_available_mwh`` (working inverters); per feeder, reported by its
first agent only (the other agents' dicts omit these keys, which keeps the per-step infos of
384 agents small) — ``in_band`` (1 if every bus of the feeder is in band and its power flow
converged), ``feeder_steps`` (1), ``loss_mwh``, ``pf_failures``. Violations (exceedances ≥ 0, every
step): ``bus_voltage`` (p.u. beyond the band, worst bus of the agent's zone), ``line_current``
(current / rating − 1, worst line of the zone), ``inverter_apparent_power`` ((√(p² + q_cmd²) −
s_max) / s_max of its own command).

Power-flow failure is handled, never fatal: a feeder whose flow does not converge (a load beyond
its loadability) counts a ``pf_failures`` and, deterministically, its inverters trip for the
interval (p = q = 0, anti-islanding/ride-through protection) and the flow is solved again; if it
still fails, the feeder's breaker opens: its buses are dead (v = 0, counted as out of band, with
exceedance ``v_min``) and carry no current.

Held-out shifts (``config.scenario.shift``; ``onset`` = first interval affected):
``pv_surge`` (clouds clear with edge enhancement: available PV = ``factor`` × clear-sky output for
``duration`` intervals), ``cloud_transients`` (from onset the clear-sky index jumps between clear
and ``shade`` as a two-state Markov chain switching with probability ``switch_prob`` per
interval), ``heat_wave`` (every load × ``factor`` from onset), ``line_outage`` (line ``trip`` of
feeder 0 opens at onset and tie line ``close`` closes: the network is reconfigured),
``inverter_failure`` (a ``fraction`` of the inverters, drawn from the seed, fail at onset for the
rest of the day), ``noisy_measurements`` (from onset, measured voltages carry Gaussian noise of
``v_sd`` p.u. and telemetered loads and PV outputs a relative noise of ``power_sd``),
``delayed_measurements`` (from onset the zone telemetry arrives ``delay`` intervals late). An
inverter's own values (fields 2-6: status, rating, available power, p, q) are local and always
exact; its own bus voltage (field 7) is a local measurement: noisy under ``noisy_measurements``,
never delayed. Shift draws are made after the day's profiles, so a seed gives the same day in
every scenario up to the onset.

Version 2 (``power_grid/IEEE33-v2``; each switch is a parameter whose default is v1's behaviour,
so v1 runs bit-identically):

* ``failure_scoring: collapse`` — a feeder whose power flow has no operable solution collapses:
  the interval is scored on a dead feeder (every bus at 0 p.u., exceedance ``v_min`` each, so
  ``n_bus · v_min / 0.01``), out of band, ``reward_failure``, and all its available PV curtailed.
  Any converged state has every voltage above 0, so its barrier is smaller; ``reward_failure``
  (100) exceeds the line loss plus reactive cost of any converged state of the feeder: the reward
  never rises as a policy pushes past collapse (``tests/power_grid/test_v2.py``). PV lost to a
  trip or a collapse counts as curtailment (``curtailed = available − delivered``). The feeder
  recloses at the next interval (flat start).
* ``pf_fallback: newton`` — states the sweep does not converge within ``pf_max_iter`` (or that
  run below 0.3 p.u.) are solved by Newton–Raphson (``powerflow.newton_feeder``); only states
  beyond the nose fail (the IEEE 33-bus nose under uniform load scaling: λ ≈ 3.622).
* ``inverter_protection: ieee1547_cat2`` — IEEE 1547-2018 Category II default trip settings
  (OV2 1.20 p.u./0.16 s, OV1 1.10 p.u./2 s, UV1 0.70 p.u./10 s, UV2 0.45 p.u./0.16 s): every
  clearing time is shorter than an interval, so an inverter whose bus voltage in the commanded
  state is above 1.10 or below 0.70 p.u. trips (delivers nothing), and the flow is solved again
  until no more trip (cascades included); inside those limits it rides through. A tripped
  inverter re-enters at the next interval if its bus voltage after the trip lies in the
  enter-service window 0.917–1.05 p.u. (the 300 s delay is shorter than an interval), otherwise it
  stays out another interval. The interval is *scored on the commanded state* (the excursion did
  occur, for up to the clearing time) and the PV the trip lost is curtailment, so a policy never
  gains by provoking a trip; measurements (observations) report the state after the trip; the
  KPI ``inverter_trips`` counts trips.
* ``q_at_night: false`` — an inverter with no available PV delivers no reactive power (v2 keeps
  ``true``: Q at night, as MAPDN).
* ``profiles: simbench`` — the day is a real SimBench day (``simbench_profiles.py``): training
  seeds draw from the training weeks, every other seed from the held-out eval weeks.

``power_grid/SimBenchMV-v1`` runs this env with the version-2 switches on SimBench's rural MV grid
(``network: simbench_mv_rural``, ``simbench_mv.py``: line charging and the HV/MV transformer in
the power flow, 90 PV inverters, uncontrolled wind in-feed netted into the bus loads) and its own
series (``profiles: simbench_mv``); ``days: active`` keeps only the days of the seed's pool on
which no control leaves the band for an hour or more. The transformer's star point has zone -1:
it is neither observed nor held to the band. ``heat_wave`` there scales the loads, not the in-feed.

``perturb_future(t0, seed)`` (v1 and v2) redraws the future of the day for the no-foresight check.

Public to every policy: ``env.params`` (the network follows from them: ``network.build_network``
and ``agent_layout``), the spaces, the observations, and ``env.last_output`` (each inverter's own
p and q of the last interval, also in its observation). Oracles only: ``env.day`` (the day's true
loads, PV and inverter availability after the shift) and ``env.network_at(t)`` (the topology in
service, which reveals a line outage).

Speed: every interval is one call of the batched sweep on (1, F, 32) arrays, warm-started from
the last interval's voltages (saves ~3 of ~13 sweeps); ~0.2 ms per step at one feeder, ~2.5 ms at
64 (``tests/benchmarks/test_power_grid_speed.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Mapping

import numpy as np
from gymnasium import spaces

from bench.env_base import RaoParallelEnv
from bench.spec import EnvConfig
from tasks.power_grid.network import Network, build_network
from tasks.power_grid.powerflow import solve_blocks
from tasks.power_grid.profiles import COMMERCIAL_BUSES, DayProfiles, day_length, generate_day
from tasks.power_grid.simbench_mv import active_days, mv_day, uncontrolled_mw
from tasks.power_grid.simbench_profiles import bus_load_types, coincident_peak, pool_days, simbench_day

#: IEEE 1547-2018 Category II default trip settings (Table 11): OV2 1.20 p.u. / 0.16 s, OV1 1.10
#: p.u. / 2 s, UV1 0.70 p.u. / 10 s, UV2 0.45 p.u. / 0.16 s. Every clearing time is far shorter than
#: an interval, so an interval-long voltage beyond OV1 or UV1 trips the inverter; inside them it rides
#: through (keeps operating).
TRIP_OV_PU = 1.10
TRIP_UV_PU = 0.70
#: Enter-service window (IEEE 1547-2018 clause 4.10, default 0.917-1.05 p.u., 300 s delay): a
#: tripped inverter returns at the next interval if its bus voltage after the trip was inside it.
ENTER_MIN_PU = 0.917
ENTER_MAX_PU = 1.05
SHIFT_KINDS = ("pv_surge", "cloud_transients", "heat_wave", "line_outage", "inverter_failure",
               "noisy_measurements", "delayed_measurements")
OBS_HEAD = 8
OBS_PER_BUS = 6
STATE_PER_BUS = 5


@dataclass(frozen=True, eq=False)
class AgentLayout:
    """Who is who: agent names, inverter buses, feeders and zones (a pure function of the network)."""

    agents: tuple[str, ...]
    pv_bus: np.ndarray           # (n,) bus index of each agent's inverter
    feeder: np.ndarray           # (n,) feeder index
    zone_bus: np.ndarray         # (n, Z) zone buses, padded with n_bus
    zone_line: np.ndarray        # (n, L) lines of the zone (by their 'to' bus), padded with n_lines
    feeder_first: np.ndarray     # (F,) index of each feeder's first agent
    zone_size: int


def agent_layout(net: Network) -> AgentLayout:
    """Agents ``f{feeder}_pv{bus}`` (bus = its name in one feeder), in inverter order."""
    topo = net.topology
    names = []
    for b in net.pv_bus.tolist():
        f = int(topo.feeder_of_bus[b])
        local = net.bus_names[b].split("/")[-1]
        names.append(f"f{f}_pv{local}")
    feeder = topo.feeder_of_bus[net.pv_bus]
    zones = [np.flatnonzero(net.zone == z) for z in range(int(net.zone.max()) + 1)]
    zsize = max(len(z) for z in zones)
    line_zone = net.zone[net.line_to]
    zlines = [np.flatnonzero(line_zone == z) for z in range(len(zones))]
    lsize = max(len(z) for z in zlines)
    zone_bus = np.full((len(names), zsize), net.n_bus, dtype=np.int64)
    zone_line = np.full((len(names), lsize), net.n_lines, dtype=np.int64)
    for i, b in enumerate(net.pv_bus.tolist()):
        z = int(net.zone[b])
        zone_bus[i, :len(zones[z])] = zones[z]
        zone_line[i, :len(zlines[z])] = zlines[z]
    first = np.array([int(np.flatnonzero(feeder == f)[0]) for f in range(topo.n_feeders)])
    return AgentLayout(agents=tuple(names), pv_bus=net.pv_bus.copy(), feeder=feeder,
                       zone_bus=zone_bus, zone_line=zone_line, feeder_first=first, zone_size=zsize)


def _num(params: Mapping[str, Any], name: str, lo: float, hi: float = math.inf,
         lo_open: bool = False) -> float:
    try:
        v = float(params[name])
    except (TypeError, ValueError, KeyError):
        raise ValueError(f"parameter {name} must be a number, got {params.get(name)!r}") from None
    if not math.isfinite(v) or v < lo or v > hi or (lo_open and v == lo):
        raise ValueError(f"parameter {name} must lie in {'(' if lo_open else '['}{lo}, {hi}], got {v!r}")
    return v


@dataclass(frozen=True, eq=False)
class Day:
    """The true exogenous inputs of the episode (after the shift): rows = intervals −1 .. T−1.
    ORACLES ONLY."""

    profiles: DayProfiles
    load_p_mw: np.ndarray        # (T+1, n_bus)
    load_q_mvar: np.ndarray      # (T+1, n_bus)
    pv_mw: np.ndarray            # (T+1, n_pv) available PV power
    inverter_ok: np.ndarray      # (T+1, n_pv) bool


def inverter_setpoints(aq: np.ndarray, ac: np.ndarray, ok: np.ndarray, pv: np.ndarray,
                       s_max: np.ndarray, p_ref: np.ndarray) -> tuple[np.ndarray, ...]:
    """Inverter active/reactive set-points from the agents' actions (module docstring: reactive
    command ``aq`` scaled by the headroom at the last *measured* output ``p_ref``, curtailment
    fraction ``ac``; the realised q is clipped to the headroom at the new output). Element-wise,
    so the single env and the batched env (tasks/power_grid/batched.py) share it exactly.
    Returns (available p, p, q, curtailed, inverter apparent-power exceedance / s_max)."""
    p_av = np.where(ok, np.minimum(pv, s_max), 0.0)
    p = (1.0 - ac) * p_av
    curtailed = p_av - p
    q_cmd = np.where(ok, aq * np.sqrt(np.maximum(s_max * s_max - p_ref * p_ref, 0.0)), 0.0)
    h_now = np.sqrt(np.maximum(s_max * s_max - p * p, 0.0))
    q = np.clip(q_cmd, -h_now, h_now)
    inv_excess = np.maximum(np.hypot(p, q_cmd) - s_max, 0.0) / s_max
    return p_av, p, q, curtailed, inv_excess


class VoltageControlEnv(RaoParallelEnv):
    """Active voltage control with PV inverters (``power_grid/IEEE33-v1``); see the module docstring."""

    def __init__(self, config: EnvConfig) -> None:
        super().__init__(config)
        p = self.params
        n_feeders = p.get("n_feeders", 1)
        if isinstance(n_feeders, bool) or not isinstance(n_feeders, (int, np.integer)) or n_feeders < 1:
            raise ValueError(f"parameter n_feeders must be an integer >= 1, got {n_feeders!r}")
        self.step_minutes = int(p.get("step_minutes", 15))
        self.day_steps = day_length(self.step_minutes)
        if not 1 <= self.horizon <= self.day_steps:
            raise ValueError(f"horizon must lie in 1..{self.day_steps} (one day of "
                             f"{self.step_minutes}-minute intervals), got {self.horizon}")
        self.dt_h = self.step_minutes / 60.0
        self.v_min = _num(p, "v_min", 0.5, 1.0)
        self.v_max = _num(p, "v_max", 1.0, 1.5)
        self.s_max_ratio = _num(p, "s_max_ratio", 1.0, 10.0)
        self.load_scale = _num(p, "load_scale", 0.0, 100.0)
        self.pv_scale = _num(p, "pv_scale", 0.0, 100.0, lo_open=True)
        self.latitude = _num(p, "latitude_deg", -66.0, 66.0)
        self.curtailment = p.get("curtailment", True)
        if not isinstance(self.curtailment, bool):
            raise ValueError(f"parameter curtailment must be true or false, got {self.curtailment!r}")
        doy = p.get("day_of_year", "random")
        if doy != "random" and (isinstance(doy, bool) or not isinstance(doy, int) or not 1 <= doy <= 365):
            raise ValueError(f"parameter day_of_year must be 'random' or an integer 1..365, got {doy!r}")
        self.day_of_year = None if doy == "random" else int(doy)
        self.w_energy = _num(p, "reward_energy", 0.0)
        self.w_q = _num(p, "reward_q", 0.0)
        self.w_band = _num(p, "reward_band", 0.0)
        self.w_fail = _num(p, "reward_failure", 0.0)
        self.pf_tol = _num(p, "pf_tol", 1e-14, 1e-3, lo_open=True)
        self.pf_max_iter = int(_num(p, "pf_max_iter", 1, 10_000))
        # v2 switches (their defaults are v1's behaviour; see "Version 2" in the module docstring)
        self.profiles = self._choice(p, "profiles", ("synthetic", "simbench", "simbench_mv"))
        self.failure_scoring = self._choice(p, "failure_scoring", ("trip", "collapse"))
        self.pf_newton = self._choice(p, "pf_fallback", ("none", "newton")) == "newton"
        self.protection = self._choice(p, "inverter_protection", ("none", "ieee1547_cat2"))
        self.q_at_night = p.get("q_at_night", True)
        if not isinstance(self.q_at_night, bool):
            raise ValueError(f"parameter q_at_night must be true or false, got {self.q_at_night!r}")
        if self.protection != "none" and self.failure_scoring != "collapse":
            raise ValueError("parameter inverter_protection needs failure_scoring: collapse (a "
                             "tripped interval is scored on the commanded state)")
        if self.profiles != "synthetic" and self.step_minutes != 15:
            raise ValueError(f"profiles: {self.profiles} are 15-minute series; set step_minutes: 15")
        self.days = self._choice(p, "days", ("all", "active"))
        if self.days == "active" and self.profiles != "simbench_mv":
            raise ValueError("parameter days: active is defined for profiles: simbench_mv only")
        if (self.profiles == "simbench_mv") != (p.get("network") == "simbench_mv_rural"):
            raise ValueError("profiles: simbench_mv are the days of network: simbench_mv_rural (its "
                             "own elements' series); use them together")

        net = build_network(str(p.get("network", "ieee33")), int(n_feeders),
                            _num(p, "slack_vm_pu", 0.9, 1.1))
        if self.pv_scale != 1.0:
            net = replace(net, pv_p_max_mw=net.pv_p_max_mw * self.pv_scale)
        self.network = net
        self.topology = net.topology
        self.layout = agent_layout(net)
        self.n_feeders = self.topology.n_feeders
        self.n_pv = len(net.pv_bus)
        self.p_max = net.pv_p_max_mw.copy()
        self.s_max = self.s_max_ratio * self.p_max
        local = [name.split("/")[-1] for name in net.bus_names]
        self._commercial = np.array([b in {str(c) for c in COMMERCIAL_BUSES} for b in local]) \
            & (np.arange(net.n_bus) != net.slack_bus)
        self._bus_type = (bus_load_types([int(b) if b.isdigit() else 0 for b in local], self._commercial)
                          if self.profiles == "simbench" else None)
        self._bus_feeder = np.append(self.topology.feeder_of_bus, -1)
        self._bus_feeder = np.where(self._bus_feeder < 0, self.topology.n_feeders, self._bus_feeder)
        self._peak_factor = 1.0
        if self.profiles == "simbench":          # of one feeder (every copy is the same feeder)
            one = self.topology.feeder_of_bus == 0
            self._peak_factor = coincident_peak(net.load_p_mw[one], self._bus_type[one])
        self._feeder_bus = [np.flatnonzero(self.topology.feeder_of_bus == f) for f in range(self.n_feeders)]
        self._pv_feeder = self.layout.feeder
        self.shift = self._read_shift(config)
        self._outage_net = self._outage_network() if self.shift and self.shift["kind"] == "line_outage" else None
        # monitored buses: every bus of a feeder but a transformer's star point (zone -1)
        self._live_bus = np.flatnonzero((self.topology.feeder_of_bus >= 0) & (net.zone >= 0))
        self._live_feeder = self.topology.feeder_of_bus[self._live_bus]
        # 1 / line rating of the intact and (line-outage shift) reconfigured network, with a 0 for
        # the padding line; picked by identity in inv_rating(), which survives deepcopy/pickle
        # (a dict keyed on id(net) did not: the copy's networks have other ids)
        self._inv_rating = np.append(1.0 / net.rating_ka, 0.0)
        self._inv_rating_outage = (np.append(1.0 / self._outage_net.rating_ka, 0.0)
                                   if self._outage_net is not None else None)
        # the feeder of each line (padding line: n_feeders), likewise per network
        self._line_feeder = np.append(self._bus_feeder[net.line_to], self.n_feeders)
        self._line_feeder_outage = (np.append(self._bus_feeder[self._outage_net.line_to], self.n_feeders)
                                    if self._outage_net is not None else None)

        self.possible_agents = list(self.layout.agents)
        Z = self.layout.zone_size
        self.obs_dim = OBS_HEAD + OBS_PER_BUS * Z
        obs_box = spaces.Box(-np.inf, np.inf, shape=(self.obs_dim,), dtype=np.float32)
        if self.curtailment:
            act_box = spaces.Box(np.array([-1.0, 0.0], dtype=np.float32),
                                 np.array([1.0, 1.0], dtype=np.float32), dtype=np.float32)
        else:
            act_box = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self._observation_spaces = {a: obs_box for a in self.possible_agents}
        self._action_spaces = {a: act_box for a in self.possible_agents}
        self.day: Day | None = None
        self._meas: list[dict[str, np.ndarray]] = []
        self._v_last: tuple[Network, np.ndarray] | None = None

    # -- configuration -------------------------------------------------------------------------
    _DEFAULTS = {"profiles": "synthetic", "failure_scoring": "trip", "pf_fallback": "none",
                 "inverter_protection": "none", "days": "all"}

    @classmethod
    def _choice(cls, params: Mapping[str, Any], name: str, options: tuple[str, ...]) -> str:
        v = params.get(name, cls._DEFAULTS[name])
        if v not in options:
            raise ValueError(f"parameter {name} must be one of {options}, got {v!r}")
        return str(v)

    @property
    def v2_features(self) -> tuple[str, ...]:
        """The version-2 switches this env has on (the batched env supports none of them)."""
        on = []
        if self.profiles != "synthetic":
            on.append("profiles")
        if self.failure_scoring != "trip":
            on.append("failure_scoring")
        if self.pf_newton:
            on.append("pf_fallback")
        if self.protection != "none":
            on.append("inverter_protection")
        if not self.q_at_night:
            on.append("q_at_night")
        return tuple(on)

    _SHIFT_DEFAULTS: dict[str, dict[str, Any]] = {
        "pv_surge": {"factor": 1.3, "duration": 8},
        "cloud_transients": {"switch_prob": 0.5, "shade": 0.2},
        "heat_wave": {"factor": 1.5},
        "line_outage": {"trip": ["28", "29"], "close": ["25", "29"]},
        "inverter_failure": {"fraction": 1 / 3},
        "noisy_measurements": {"v_sd": 0.01, "power_sd": 0.1},
        "delayed_measurements": {"delay": 2},
    }

    def _read_shift(self, config: EnvConfig) -> dict[str, Any] | None:
        shift = config.scenario.shift
        if shift is None:
            return None
        kind = str(shift.get("kind"))
        if kind not in SHIFT_KINDS:
            raise ValueError(f"scenario {config.scenario.name!r}: shift.kind {kind!r} is not "
                             f"supported by {self.spec_id}; use one of {SHIFT_KINDS}")
        out = {**self._SHIFT_DEFAULTS[kind], **dict(shift), "kind": kind}
        out["onset"] = int(out["onset"])
        if not 0 < out["onset"] < self.day_steps:
            raise ValueError(f"shift.onset must lie in (0, {self.day_steps}), got {out['onset']}")
        checks = {"factor": (0.0, 10.0), "duration": (1, self.day_steps), "switch_prob": (0.0, 1.0),
                  "shade": (0.0, 1.0), "fraction": (0.0, 1.0), "v_sd": (0.0, 1.0),
                  "power_sd": (0.0, 1.0), "delay": (1, self.day_steps)}
        for key, (lo, hi) in checks.items():
            if key in out and not (lo <= float(out[key]) <= hi):
                raise ValueError(f"scenario {config.scenario.name!r}: shift.{key} must lie in "
                                 f"[{lo}, {hi}], got {out[key]!r}")
        return out

    def _outage_network(self) -> Network:
        net, s = self.network, self.shift
        prefix = "f0/" if self.n_feeders > 1 else ""
        try:
            trip = net.line(*(prefix + str(b) for b in s["trip"]))
            close = net.line(*(prefix + str(b) for b in s["close"]))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"shift line_outage: trip/close must name two buses of a line each, "
                             f"e.g. trip: ['28', '29'], close: ['25', '29'] ({exc})") from None
        return net.reconfigure(open_lines=[trip], close_lines=[close])

    def inv_rating(self, net: Network) -> np.ndarray:
        """1 / rating (kA) of each line of ``net`` (one of this env's networks), 0 for padding."""
        return self._inv_rating_outage if net is self._outage_net else self._inv_rating

    def line_feeder(self, net: Network) -> np.ndarray:
        """Feeder index of each line of ``net`` (one of this env's networks), n_feeders for padding."""
        return self._line_feeder_outage if net is self._outage_net else self._line_feeder

    def network_at(self, t: int) -> Network:
        """The network in service during interval ``t`` (changes under ``line_outage``)."""
        if self._outage_net is not None and t >= self.shift["onset"]:
            return self._outage_net
        return self.network

    # -- episode -----------------------------------------------------------------------------------------
    def reset(self, seed: int | None = None, options: dict | None = None):
        # the day pool (profiles: simbench) follows the seed: training seeds draw training days
        self._episode_seed = seed
        return super().reset(seed=seed, options=options)

    def _day_pool(self) -> np.ndarray:
        seeds = self.config.spec.seeds
        seed = getattr(self, "_episode_seed", None)
        train = seed is None or seeds.train_start <= int(seed) < seeds.train_stop
        pool = pool_days("train" if train else "eval")
        if self.days == "active":       # SimBenchMV: only days with a voltage problem
            pool = np.intersect1d(pool, active_days(self.v_max, self.load_scale, self.pv_scale))
        return pool

    def _draw_day(self, rng: np.random.Generator | None = None, keep_day: Day | None = None) -> Day:
        """Draw the episode's day from ``rng`` (the env's Generator). ``keep_day``: redraw the
        randomness of another day of the same pool / day of year (``perturb_future``)."""
        rng = self.np_random if rng is None else rng
        net = self.network
        if self.profiles == "simbench_mv":
            day = int(rng.choice(self._day_pool()) if self.day_of_year is None else self.day_of_year - 1)
            prof = mv_day(rng, day, net, load_scale=self.load_scale, pv_scale=self.pv_scale,
                          latitude_deg=self.latitude)
        elif self.profiles == "simbench":
            day = int(rng.choice(self._day_pool()) if self.day_of_year is None else self.day_of_year - 1)
            prof = simbench_day(rng, day, base_p_mw=net.load_p_mw, base_q_mvar=net.load_q_mvar,
                                bus_type=self._bus_type, feeder_of_bus=self.topology.feeder_of_bus,
                                n_feeders=self.n_feeders, pv_p_max_mw=self.p_max,
                                load_scale=self.load_scale, latitude_deg=self.latitude,
                                peak_factor=self._peak_factor)
        else:
            doy = self.day_of_year if keep_day is None else keep_day.profiles.day_of_year
            prof = generate_day(rng, base_p_mw=net.load_p_mw, base_q_mvar=net.load_q_mvar,
                                commercial=self._commercial, feeder_of_bus=self.topology.feeder_of_bus,
                                n_feeders=self.n_feeders, pv_p_max_mw=self.p_max,
                                step_minutes=self.step_minutes, load_scale=self.load_scale,
                                latitude_deg=self.latitude, day_of_year=doy)
        lp, lq = prof.load_p_mw.copy(), prof.load_q_mvar.copy()
        pv = prof.pv_mw.copy()
        ok = np.ones((self.day_steps + 1, self.n_pv), dtype=bool)
        s = self.shift
        self._noise = None
        if s is not None:
            r0 = s["onset"] + 1            # first affected row
            kind = s["kind"]
            if kind == "pv_surge":
                r1 = min(r0 + int(s["duration"]), self.day_steps + 1)
                pv[r0:r1] = float(s["factor"]) * prof.pv_clear_sky_mw[r0:r1]
            elif kind == "cloud_transients":
                n = self.day_steps + 1 - r0
                flips = rng.random(n) < float(s["switch_prob"])
                state = (np.cumsum(flips) + int(rng.integers(2))) % 2     # 1 = shaded
                k = np.where(state == 1, float(s["shade"]), 1.0)[:, None]
                k = np.clip(k + 0.05 * rng.standard_normal((n, self.n_pv)), 0.05, 1.0)
                pv[r0:] = prof.pv_clear_sky_mw[r0:] * k
            elif kind == "heat_wave":
                if self.profiles == "simbench_mv":   # scale the loads, not the in-feed netted in
                    gen = uncontrolled_mw(prof.day_of_year - 1, net.n_bus)[r0:]
                    lp[r0:] = (lp[r0:] + gen) * float(s["factor"]) - gen
                else:
                    lp[r0:] *= float(s["factor"])
                lq[r0:] *= float(s["factor"])
            elif kind == "inverter_failure":
                n_fail = int(round(float(s["fraction"]) * self.n_pv))
                failed = rng.choice(self.n_pv, size=n_fail, replace=False)
                ok[r0:, failed] = False
            elif kind == "noisy_measurements":
                T1 = self.day_steps + 1
                self._noise = {"v": float(s["v_sd"]) * rng.standard_normal((T1, net.n_bus)),
                               "p": float(s["power_sd"]) * rng.standard_normal((T1, net.n_bus, 4))}
        for a in (lp, lq, pv, ok):
            a.setflags(write=False)
        return Day(profiles=prof, load_p_mw=lp, load_q_mvar=lq, pv_mw=pv, inverter_ok=ok)

    def perturb_future(self, t0: int, seed: int) -> None:
        """Redraw every exogenous quantity realised after the observation at step ``t0`` (rows
        ``t0 + 1 ..``: intervals ``t0 ..``; loads, PV, clouds, inverter failures, measurement
        noise) from a Generator seeded by ``seed``; rows up to ``t0`` stay (and inverter status
        of row ``t0 + 1``, which the observation at step ``t0`` reports). Called right after
        ``reset`` (``bench.checks.check_no_foresight``). The redrawn future is that of another
        day drawn the same way (synthetic: same day of year; simbench: a day of the same pool)."""
        if self.day is None or self.t != 0:
            raise RuntimeError("perturb_future must be called right after reset")
        alt = self._draw_day(np.random.Generator(np.random.PCG64(seed)), keep_day=self.day)
        alt_noise = self._noise
        self._noise = self._keep_noise
        r = int(t0) + 1
        arrays = {}
        for name in ("load_p_mw", "load_q_mvar", "pv_mw", "inverter_ok"):
            # an inverter's status of interval t0 is known when it is observed (step t0)
            k = r + 1 if name == "inverter_ok" else r
            a = getattr(self.day, name).copy()
            a[k:] = getattr(alt, name)[k:]
            a.setflags(write=False)
            arrays[name] = a
        self.day = replace(self.day, **arrays)
        if self._noise is not None and alt_noise is not None:
            self._noise = {k: np.concatenate([v[:r], alt_noise[k][r:]]) for k, v in self._noise.items()}

    def _reset_sim(self) -> None:
        self.day = self._draw_day()
        self._keep_noise = self._noise
        self._held = np.zeros(self.n_pv, dtype=bool)
        self._meas = []
        self._v_last = None
        row = 0
        ok = self.day.inverter_ok[row]
        p = np.where(ok, np.minimum(self.day.pv_mw[row], self.s_max), 0.0)
        q = np.zeros(self.n_pv)
        flow = self._flow(self.network, row, p, q)
        self._record(row, p, q, flow)

    # -- physics ---------------------------------------------------------------------------------------
    def _solve(self, net: Network, pl: np.ndarray, ql: np.ndarray):
        """Exact flow of one state: voltages (n_bus+1, last = dummy 0), line currents (n_lines+1,
        kA), loss per feeder (MW), converged per feeder. Starts from the last interval's solution
        on the same network (a warm start saves a few sweeps; the result is the same to within
        the tolerance)."""
        topo = net.topology
        n = net.n_bus
        s = np.zeros(n + 1, dtype=complex)
        s.real[:n] = pl
        s.imag[:n] = ql
        s[net.slack_bus] = 0.0
        warm = self._v_last if self._v_last is not None and self._v_last[0] is net else None
        sol = solve_blocks(topo, s[topo.block_bus][None], net.slack_vm_pu, self.pf_tol,
                           self.pf_max_iter, None if warm is None else warm[1],
                           newton_fallback=self.pf_newton)
        conv = sol.converged[0]
        self._v_last = (net, sol.v) if conv.all() else None
        v = np.zeros(n + 1)
        v[net.slack_bus] = net.slack_vm_pu
        v[topo.block_bus] = np.abs(sol.v[0])
        v[n] = 0.0
        cur = np.zeros(net.n_lines + 1)
        cur[topo.block_line] = np.abs(sol.j[0]) * net.i_base_ka
        cur[net.n_lines] = 0.0
        return v, cur, sol.loss_pu[0].copy(), conv.copy()

    def _flow(self, net: Network, row: int, p: np.ndarray, q: np.ndarray) -> dict[str, Any]:
        """Solve interval ``row`` with inverter outputs ``p``, ``q``; handles non-convergence."""
        lp, lq = self.day.load_p_mw[row], self.day.load_q_mvar[row]
        pl, ql = lp.copy(), lq.copy()
        pl[net.pv_bus] -= p
        ql[net.pv_bus] -= q
        v, cur, loss, conv = self._solve(net, pl, ql)
        failed = ~conv
        tripped = np.zeros(self.n_pv, dtype=bool)
        if failed.any():
            # deterministic fallback 1: the failed feeders' inverters trip for the interval
            tripped = failed[self._pv_feeder]
            p, q = np.where(tripped, 0.0, p), np.where(tripped, 0.0, q)
            pl, ql = lp.copy(), lq.copy()
            pl[net.pv_bus] -= p
            ql[net.pv_bus] -= q
            v, cur, loss, conv = self._solve(net, pl, ql)
            for f in np.flatnonzero(~conv):     # fallback 2: the feeder's breaker opens
                v[self._feeder_bus[f]] = 0.0
                cur[net.topology.block_line[f][net.topology.block_line[f] >= 0]] = 0.0
                loss[f] = 0.0
        return {"v": v, "cur": cur, "loss": loss, "failed": failed, "dead": ~conv,
                "p": p, "q": q, "tripped": tripped}

    def _flow_v2(self, net: Network, row: int, p: np.ndarray, q: np.ndarray) -> dict[str, Any]:
        """Version 2: solve the commanded state; a feeder with no operable solution collapses
        (scored dead); with protection, inverters whose bus voltage is beyond the IEEE 1547
        trip settings trip and the flow is solved again until no more trip. Returns the measured
        (post-protection) state and the *scored* state (the commanded one, before protection)."""
        lp, lq = self.day.load_p_mw[row], self.day.load_q_mvar[row]

        def solve(p_: np.ndarray, q_: np.ndarray):
            pl, ql = lp.copy(), lq.copy()
            pl[net.pv_bus] -= p_
            ql[net.pv_bus] -= q_
            return self._solve(net, pl, ql)

        v, cur, loss, conv = solve(p, q)
        failed = ~conv
        score_v, score_loss, score_q = v.copy(), loss.copy(), q.copy()
        tripped = np.zeros(self.n_pv, dtype=bool)
        if self.protection != "none":
            for _ in range(self.n_pv):
                vb = v[net.pv_bus]
                live = ~failed[self._pv_feeder] & ~tripped & ((p != 0) | (q != 0))
                new = live & ((vb < TRIP_UV_PU) | (vb > TRIP_OV_PU))
                if not new.any():
                    break
                tripped |= new
                p, q = np.where(tripped, 0.0, p), np.where(tripped, 0.0, q)
                v2, cur2, loss2, conv2 = solve(p, q)
                keep = failed | ~self._feeder_mask(new)     # feeders without a new trip keep their state
                kx = np.append(keep, True)          # the extra slot: slack and dummy entries
                v = np.where(kx[self._bus_feeder], v, v2)
                cur = np.where(kx[self.line_feeder(net)], cur, cur2)
                loss = np.where(keep, loss, loss2)
                failed = failed | (~keep & ~conv2)
        dead = failed
        if dead.any():                   # collapse: the feeder's buses are dead, its PV is lost
            lost_pv = dead[self._pv_feeder]
            p, q = np.where(lost_pv, 0.0, p), np.where(lost_pv, 0.0, q)
            for f in np.flatnonzero(dead):
                v[self._feeder_bus[f]] = 0.0
                cur[net.topology.block_line[f][net.topology.block_line[f] >= 0]] = 0.0
                loss[f] = 0.0
                score_v[self._feeder_bus[f]] = 0.0
                score_loss[f] = 0.0
            score_q = np.where(lost_pv, 0.0, score_q)
            self._v_last = None
        return {"v": v, "cur": cur, "loss": loss, "failed": dead, "dead": dead, "p": p, "q": q,
                "tripped": tripped, "score_v": score_v, "score_loss": score_loss, "score_q": score_q}

    def _feeder_mask(self, inverters: np.ndarray) -> np.ndarray:
        return np.bincount(self._pv_feeder, weights=inverters, minlength=self.n_feeders) > 0

    def _record(self, row: int, p: np.ndarray, q: np.ndarray, flow: dict[str, Any]) -> None:
        """Store interval ``row``'s measurements (what observation ``row`` reports)."""
        n = self.network.n_bus
        ppv = np.zeros(n + 1)
        qpv = np.zeros(n + 1)
        ppv[self.network.pv_bus] = flow["p"]
        qpv[self.network.pv_bus] = flow["q"]
        lp = np.append(self.day.load_p_mw[row], 0.0)
        lq = np.append(self.day.load_q_mvar[row], 0.0)
        avail = np.where(self.day.inverter_ok[row], self.day.pv_mw[row], 0.0)
        self._meas.append({"v": flow["v"], "lp": lp, "lq": lq, "ppv": ppv, "qpv": qpv,
                           "avail": avail, "p": flow["p"], "q": flow["q"], "cur": flow["cur"]})

    def _actions(self, actions: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        width = 2 if self.curtailment else 1
        try:
            a = np.array([actions[x] for x in self.possible_agents], dtype=np.float64).reshape(self.n_pv, width)
        except (ValueError, TypeError):
            raise ValueError(f"each action must be an array of {width} numbers "
                             f"({'[a_q, a_c]' if width == 2 else '[a_q]'})") from None
        if not np.all(np.isfinite(a)):
            bad = [x for x, row in zip(self.possible_agents, a) if not np.all(np.isfinite(row))]
            raise ValueError(f"actions must be finite; got non-finite actions for {bad[:5]}")
        aq = np.clip(a[:, 0], -1.0, 1.0)
        ac = np.clip(a[:, 1], 0.0, 1.0) if width == 2 else np.zeros(self.n_pv)
        return aq, ac

    def _step_sim(self, actions: Mapping[str, Any]):
        t = self.t
        row = t + 1
        day = self.day
        aq, ac = self._actions(actions)
        ok = day.inverter_ok[row]
        s_max = self.s_max
        if self.failure_scoring == "trip":
            p_av, p, q, curtailed, inv_excess = inverter_setpoints(aq, ac, ok, day.pv_mw[row], s_max,
                                                                   self._meas[-1]["p"])
            net = self.network_at(t)
            flow = self._flow(net, row, p, q)
            p, q = flow["p"], flow["q"]
            curtailed = np.where(flow["tripped"], 0.0, curtailed)
            score_v, score_loss, score_q = flow["v"], flow["loss"], q
        else:
            # version 2: inverters held out by protection deliver nothing; without Q at night an
            # inverter with no PV power is asleep; PV lost to protection or collapse is curtailed
            on = ok & ~self._held
            p_av, p, q, curtailed, inv_excess = inverter_setpoints(aq, ac, on, day.pv_mw[row], s_max,
                                                                   self._meas[-1]["p"])
            p_av = np.where(ok, np.minimum(day.pv_mw[row], s_max), 0.0)
            if not self.q_at_night:
                awake = day.pv_mw[row] > 0
                q = np.where(awake, q, 0.0)
                inv_excess = np.where(awake, inv_excess, 0.0)
            net = self.network_at(t)
            flow = self._flow_v2(net, row, p, q)
            p, q = flow["p"], flow["q"]
            curtailed = p_av - p
            score_v, score_loss, score_q = flow["score_v"], flow["score_loss"], flow["score_q"]
            vb = flow["v"][net.pv_bus]
            self._held = flow["tripped"] & ~((vb >= ENTER_MIN_PU) & (vb <= ENTER_MAX_PU))
        self._record(row, p, q, flow)

        # voltage and current exceedances (scored on the commanded state; a bus is out of band
        # if it is in either the commanded or the measured state)
        v = flow["v"]
        e_bus = np.maximum(np.maximum(self.v_min - score_v, score_v - self.v_max), 0.0)
        if score_v is not v:
            e_bus = np.maximum(e_bus, np.maximum(np.maximum(self.v_min - v, v - self.v_max), 0.0))
        e_bus[-1] = 0.0
        e_line = np.maximum(flow["cur"] * self.inv_rating(net) - 1.0, 0.0)
        lay = self.layout
        e_zone_v = e_bus[lay.zone_bus].max(axis=1)
        e_zone_i = e_line[lay.zone_line].max(axis=1)

        # per feeder
        F = self.n_feeders
        eb = e_bus[self._live_bus]
        barrier = np.bincount(self._live_feeder, weights=eb, minlength=F) / 0.01
        out = np.bincount(self._live_feeder, weights=eb > 0, minlength=F)
        feeder_bus_ok = out == 0
        in_band = feeder_bus_ok & ~flow["failed"]
        curt_f = np.bincount(self._pv_feeder, weights=curtailed, minlength=F)
        absq_f = np.bincount(self._pv_feeder, weights=np.abs(score_q), minlength=F)
        loss = flow["loss"]
        reward_f = (-barrier - self.w_band * ~feeder_bus_ok - self.w_energy * (score_loss + curt_f)
                    - self.w_q * absq_f - self.w_fail * flow["failed"])

        dt = self.dt_h
        q_l = (np.abs(q) * dt).tolist()
        c_l = (curtailed * dt).tolist()
        a_l = (p_av * dt).tolist()
        ev = e_zone_v.tolist()
        ei = e_zone_i.tolist()
        ea = np.where(ok, inv_excess, 0.0).tolist()
        r_l = reward_f[self._pv_feeder].tolist()
        trips = None if self.protection == "none" else np.where(flow["tripped"], 1.0, 0.0).tolist()
        kpi, viol, rew = {}, {}, {}
        for i, a in enumerate(self.possible_agents):
            kpi[a] = {"q_mvarh": q_l[i], "curtailed_mwh": c_l[i], "pv_available_mwh": a_l[i]}
            if trips is not None:
                kpi[a]["inverter_trips"] = trips[i]
            viol[a] = {"bus_voltage": ev[i], "line_current": ei[i], "inverter_apparent_power": ea[i]}
            rew[a] = r_l[i]
        ib = in_band.tolist()
        lo = (loss * dt).tolist()
        fl = flow["failed"].tolist()
        for f, i in enumerate(lay.feeder_first.tolist()):
            kpi[self.possible_agents[i]].update(
                in_band=1.0 if ib[f] else 0.0, feeder_steps=1.0, loss_mwh=lo[f],
                pf_failures=1.0 if fl[f] else 0.0)
        return rew, kpi, viol

    # -- observations -------------------------------------------------------------------------------
    def _measurement(self) -> dict[str, np.ndarray]:
        """The grid telemetry observation ``self.t`` reports: zone buses' voltages, loads and PV
        output (delayed and noisy under those shifts). Own inverter values are local, see
        ``_obs_matrix``."""
        t = self.t
        s = self.shift
        idx = t
        if s is not None and s["kind"] == "delayed_measurements" and t >= s["onset"]:
            idx = max(t - int(s["delay"]), 0)
        m = self._meas[idx]
        if self._noise is not None and t >= s["onset"]:
            nz = self._noise
            m = dict(m)
            m["v"] = m["v"] + np.append(nz["v"][t], 0.0) * (m["v"] > 0)
            for j, key in enumerate(("lp", "lq", "ppv", "qpv")):
                m[key] = m[key] * np.append(1.0 + nz["p"][t, :, j], 0.0)
        return m

    def _obs_matrix(self) -> np.ndarray:
        tele = self._measurement()
        own = self._meas[self.t]               # the inverter's own, local, undelayed values
        lay = self.layout
        pv = self.network.pv_bus
        t = self.t
        h = (t + 0.5) * self.step_minutes / 60.0
        row = min(t + 1, self.day_steps)
        out = np.empty((self.n_pv, self.obs_dim), dtype=np.float32)
        out[:, 0] = math.sin(2 * math.pi * h / 24.0)
        out[:, 1] = math.cos(2 * math.pi * h / 24.0)
        out[:, 2] = self.day.inverter_ok[row]
        out[:, 3] = self.p_max
        out[:, 4] = own["avail"]
        out[:, 5] = own["p"]
        out[:, 6] = own["q"]
        v_own = own["v"][pv]
        if self._noise is not None and t >= self.shift["onset"]:
            v_own = v_own + self._noise["v"][t][pv] * (v_own > 0)
        out[:, 7] = v_own
        stack = np.stack([tele["v"], tele["lp"], tele["lq"], tele["ppv"], tele["qpv"],
                          np.append(np.ones(self.network.n_bus), 0.0)], axis=1)  # (n_bus+1, 6)
        out[:, OBS_HEAD:] = stack[lay.zone_bus].reshape(self.n_pv, -1)
        return out

    @property
    def last_output(self) -> tuple[np.ndarray, np.ndarray]:
        """Active (MW) and reactive (Mvar) output of every inverter in the last interval (what
        each inverter knows of itself; also in its observation)."""
        m = self._meas[-1]
        return m["p"].copy(), m["q"].copy()

    def _observe(self) -> dict[str, np.ndarray]:
        return dict(zip(self.possible_agents, self._obs_matrix()))

    def state(self) -> np.ndarray:
        """True global state of interval t−1 (see the module docstring for the layout)."""
        if not self._meas:
            return self._state_template()
        m = self._meas[min(self.t, len(self._meas) - 1)]
        n = self.network.n_bus
        h = (self.t + 0.5) * self.step_minutes / 60.0
        row = min(self.t + 1, self.day_steps)
        rating = self.network_at(self.t).rating_ka
        return np.concatenate([
            m["v"][:n], m["lp"][:n], m["lq"][:n], m["ppv"][:n], m["qpv"][:n],
            m["avail"], self.day.inverter_ok[row].astype(np.float64), m["cur"][:-1] / rating,
            [math.sin(2 * math.pi * h / 24.0), math.cos(2 * math.pi * h / 24.0), self.t / self.horizon]])

    def _state_template(self) -> np.ndarray:
        n = self.network.n_bus
        return np.zeros(STATE_PER_BUS * n + 2 * self.n_pv + self.network.n_lines + 3)
