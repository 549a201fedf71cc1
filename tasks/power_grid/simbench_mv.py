"""The SimBench rural medium-voltage grid (``1-MV-rural--2-sw``, 2034 scenario) and its real days.

Data: ``data/simbench_mv_rural.npz``, extracted once from the ``simbench`` package by
``scripts/extract_simbench_mv.py`` (ODbL 1.0 / DbCL 1.0, ``data/SIMBENCH_LICENSE.md``; the
script's docstring says what was kept and how). No ``simbench`` / ``pandapower`` at run time.

Network (``simbench_mv_rural``): SimBench's rural 20 kV grid in its scenario 2 (the 2034
expansion of wind and PV; the script's docstring says why, and that its home-storage units are
left out): 8 radial feeders (cable and overhead line) fed from a 110 kV ext grid held at 1.025
p.u. through two identical 25 MVA 110/20 kV transformers in parallel; six loop lines are
normally open. Buses: ``HV`` (slack), ``T`` (the transformers' star point), ``busbar`` and the 95
other 20 kV buses named by their SimBench number. Modelled as ``tasks/power_grid/powerflow.py`` equation (1'):

* lines: series ``r + jx`` and the pi model's charging ``jb/2`` at each end (``line_b_us``); an
  open loop line stays charged from the end whose switch is closed (``line_stub_bus``), as in
  pandapower;
* transformers (pandapower's default T model, both units as one with ``parallel = 2``):
  ``z = vk/100 · S_base/S_n / 2`` (``r`` from ``vkr``), half on each side of the star point
  ``T``, which carries the magnetising admittance ``y_m = (p_fe − j √((i0/100 · S_n)² − p_fe²))
  / S_base · 2``; the tap is at its neutral position (ratio 1: SimBench's time series do not move
  it; the on-load tap changer's 1.025 p.u. set-point is not modelled), and the 150° phase shift of
  the YNd5 group turns every 20 kV angle alike and no magnitude;
* ratings: each line's ``max_i_ka``; the transformer branches ``2 · S_n / (√3 · 20 kV)``.

Agents: every bus with PV — SimBench's ``lv_RES`` units (the aggregated PV of the LV grid behind
an MV/LV substation) and ``PV_MV`` plants; two buses with two units each are one inverter —
90 inverters, 29.3 MW installed (``p_max`` = installed power, SimBench's ``sn_mva``). Wind (16.4
MW), biomass and hydro in-feed is uncontrolled (net negative load at its bus). Zones: the 8
SimBench feeders (``busbar`` joins feeder 1; the star point ``T`` is no bus: zone -1, not
monitored).

A day (``mv_day``): SimBench's own 2016 series at 15 minutes, each element with the profile the
grid assigns it (loads ``p = p_mw · pload(t)``, ``q = q_mvar · qload(t)``; generators ``p =
p_mw · profile(t)``), summed per bus. Loads then get the v2 randomness of
``simbench_profiles.simbench_day`` (a lognormal day level and per-bus AR(1) deviations: a
SimBench profile is shared by dozens of buses); generation is SimBench's, unchanged. Days come
from the same disjoint train / eval weeks as IEEE33-v2 (``simbench_profiles.pool_days``), restricted
to the *active* days (``active_days``: no control leaves the band for at least an hour).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np

from tasks.power_grid.network import BASE_MVA, Network
from tasks.power_grid.profiles import (BUS_NOISE_RHO, BUS_NOISE_SD, LEVEL_SD, DayProfiles, ar1,
                                       clear_sky_fraction, interval_hours)
from tasks.power_grid.simbench_profiles import N_DAYS, STEPS_PER_DAY

DATA = Path(__file__).resolve().parent / "data" / "simbench_mv_rural.npz"


@functools.lru_cache(maxsize=1)
def mv_data() -> dict[str, np.ndarray]:
    """The shipped extract as read-only arrays (profiles as float64)."""
    with np.load(DATA) as z:
        out = {k: z[k] for k in z.files}
    for k in ("profile_load_p", "profile_load_q", "profile_res"):
        out[k] = out[k].astype(np.float64)
    for a in out.values():
        a.setflags(write=False)
    return out


def _transformer(d: dict[str, np.ndarray], z_base: float) -> tuple[complex, complex, float]:
    """(series impedance ohm at 20 kV of all units in parallel, magnetising admittance p.u.,
    rating kA) of the HV/MV transformers, pandapower's T model (module docstring)."""
    sn, vk, vkr, pfe_kw, i0, par = (float(x) for x in d["trafo"])
    z_pu = vk / 100.0 * BASE_MVA / sn
    r_pu = vkr / 100.0 * BASE_MVA / sn
    x_pu = math.sqrt(z_pu ** 2 - r_pu ** 2)
    pfe = pfe_kw / 1000.0
    ym = i0 / 100.0 * sn
    y_m = (pfe - 1j * math.sqrt(max(ym ** 2 - pfe ** 2, 0.0))) / BASE_MVA * par
    rating = par * sn / (math.sqrt(3.0) * float(d["base_kv"]))
    return complex(r_pu, x_pu) / par * z_base, y_m, rating


@functools.lru_cache(maxsize=1)
def simbench_mv_rural() -> Network:
    """The feeder as a ``Network`` (module docstring). Cached: the returned object is immutable."""
    d = mv_data()
    names = tuple(str(x) for x in d["bus_name"])
    n = len(names)
    base_kv = float(d["base_kv"])
    z_base = base_kv ** 2 / BASE_MVA
    z_t, y_m, rating_t = _transformer(d, z_base)
    t_bus, hv, bb = names.index("T"), names.index("HV"), names.index("busbar")
    lp = np.bincount(d["load_bus"], weights=d["load_p_mw"], minlength=n)
    lq = np.bincount(d["load_bus"], weights=d["load_q_mvar"], minlength=n)
    pv_cap = np.bincount(d["gen_bus"], weights=np.where(d["gen_is_pv"], d["gen_p_mw"], 0.0), minlength=n)
    pv_bus = np.flatnonzero(pv_cap > 0)
    zone = d["bus_zone"].astype(np.int64)
    zone[t_bus] = -1                    # the star point is no bus: not monitored, in no zone
    shunt = np.zeros(n, dtype=complex)
    shunt[t_bus] = y_m
    return Network(
        name="SimBenchMV-rural", base_kv=base_kv, bus_names=names,
        line_from=np.concatenate([[hv, t_bus], d["line_from"]]),
        line_to=np.concatenate([[t_bus, bb], d["line_to"]]),
        r_ohm=np.concatenate([[z_t.real / 2] * 2, d["line_r_ohm"]]),
        x_ohm=np.concatenate([[z_t.imag / 2] * 2, d["line_x_ohm"]]),
        rating_ka=np.concatenate([[rating_t] * 2, d["line_rating_a"] / 1000.0]),
        in_service=np.concatenate([[True, True], ~d["line_normally_open"]]),
        normally_open=np.concatenate([[False, False], d["line_normally_open"]]),
        load_p_mw=lp, load_q_mvar=lq, zone=zone,
        pv_bus=pv_bus, pv_p_max_mw=pv_cap[pv_bus], slack_bus=hv,
        slack_vm_pu=float(d["slack_vm_pu"]),
        line_b_us=np.concatenate([[0.0, 0.0], d["line_b_us"]]),
        line_stub_bus=np.concatenate([[-1, -1], d["line_stub_bus"]]).astype(np.int64),
        bus_shunt_pu=shunt)


def _rows(day: int) -> np.ndarray:
    """Rows of the 2016 series for intervals -1 .. 95 of 0-based day ``day``."""
    if not 0 <= int(day) < N_DAYS:
        raise ValueError(f"day must lie in 0..{N_DAYS - 1}, got {day!r}")
    return (int(day) * STEPS_PER_DAY - 1 + np.arange(STEPS_PER_DAY + 1)) % (N_DAYS * STEPS_PER_DAY)


def uncontrolled_mw(day: int, n_bus: int) -> np.ndarray:
    """(97, n_bus) uncontrolled in-feed (wind, biomass, hydro; MW) of day ``day`` per bus: the
    part of ``mv_day``'s net load that is generation (a load-only shift leaves it alone)."""
    d = mv_data()
    other = ~d["gen_is_pv"]
    g_el = d["profile_res"][_rows(day)][:, d["gen_profile"][other]] * d["gen_p_mw"][other][None, :]
    out = np.zeros((STEPS_PER_DAY + 1, n_bus))
    np.add.at(out.T, d["gen_bus"][other], g_el.T)
    return out


#: A day is *active* (a voltage-control problem) when, with no control and SimBench's series alone
#: (no random level or deviations), some monitored bus is above v_max in at least this many intervals.
ACTIVE_MIN_INTERVALS = 4


def year_vmax_no_control(load_scale: float = 1.0, pv_scale: float = 1.0) -> np.ndarray:
    """(35136,) highest monitored voltage of every interval of 2016 with no control, from
    SimBench's series alone (no random level or deviations), by the task's own power flow (one
    batch of 35,136 states: ~1.5 min on a busy machine). At the nominal scales it is shipped in
    the extract (``nocontrol_vmax``, written by ``scripts/extract_simbench_mv.py``)."""
    from tasks.power_grid.powerflow import solve_power_flow

    d = mv_data()
    if load_scale == 1.0 and pv_scale == 1.0 and "nocontrol_vmax" in d:
        return d["nocontrol_vmax"].astype(np.float64)
    net = simbench_mv_rural()
    n = net.n_bus
    T = N_DAYS * STEPS_PER_DAY
    p = np.zeros((T, n))
    q = np.zeros((T, n))
    np.add.at(p.T, d["load_bus"], (d["profile_load_p"][:, d["load_profile"]] * d["load_p_mw"]).T)
    np.add.at(q.T, d["load_bus"], (d["profile_load_q"][:, d["load_profile"]] * d["load_q_mvar"]).T)
    p *= load_scale
    q *= load_scale
    g = d["profile_res"][:, d["gen_profile"]] * d["gen_p_mw"]
    g[:, d["gen_is_pv"]] *= pv_scale
    np.subtract.at(p.T, d["gen_bus"], g.T)
    p[:, net.slack_bus] = q[:, net.slack_bus] = 0.0
    vm = solve_power_flow(net, p, q, on_failure="flag").vm_pu[:, net.zone >= 0]
    return np.nan_to_num(vm, nan=0.0).max(axis=1)


@functools.lru_cache(maxsize=8)
def active_days(v_max: float, load_scale: float = 1.0, pv_scale: float = 1.0) -> np.ndarray:
    """0-based days of 2016 on which the grid with no control is above ``v_max`` in at least
    ``ACTIVE_MIN_INTERVALS`` intervals (``year_vmax_no_control``). The SimBenchMV day pools keep
    only these days, so that every episode is a control problem: on a calm day every policy,
    random included, stays in band, and V (a mean over episodes of clipped per-episode scores)
    would credit doing nothing."""
    vmax = year_vmax_no_control(load_scale, pv_scale).reshape(N_DAYS, STEPS_PER_DAY)
    out = np.flatnonzero((vmax > v_max).sum(axis=1) >= ACTIVE_MIN_INTERVALS)
    out.setflags(write=False)
    return out


def mv_day(rng: np.random.Generator, day: int, net: Network, *, load_scale: float = 1.0,
           pv_scale: float = 1.0, latitude_deg: float = 51.0) -> DayProfiles:
    """Day ``day`` (0-based day of 2016) of net loads per bus (loads less uncontrolled in-feed)
    and available PV per inverter of ``net`` (``simbench_mv_rural()``, maybe with scaled PV);
    random draws (day level, bus deviations) from ``rng`` in a fixed order. Row 0 is the previous
    day's last interval."""
    d = mv_data()
    n = net.n_bus
    rows = _rows(day)
    T1 = len(rows)
    lb = d["load_bus"]
    lp_el = d["profile_load_p"][rows][:, d["load_profile"]] * d["load_p_mw"][None, :]
    lq_el = d["profile_load_q"][rows][:, d["load_profile"]] * d["load_q_mvar"][None, :]
    lp = np.zeros((T1, n))
    lq = np.zeros((T1, n))
    np.add.at(lp.T, lb, lp_el.T)
    np.add.at(lq.T, lb, lq_el.T)
    level = math.exp(LEVEL_SD * rng.standard_normal() - 0.5 * LEVEL_SD ** 2)
    eps = np.exp(BUS_NOISE_SD * ar1(rng, T1, (n,), BUS_NOISE_RHO) - 0.5 * BUS_NOISE_SD ** 2)
    mult = load_scale * level * eps
    lp *= mult
    lq *= mult
    lp -= uncontrolled_mw(day, n)
    g_el = d["profile_res"][rows][:, d["gen_profile"]] * d["gen_p_mw"][None, :]
    pv_bus_all = np.zeros((T1, n))
    np.add.at(pv_bus_all.T, d["gen_bus"][d["gen_is_pv"]], g_el[:, d["gen_is_pv"]].T)
    pv = pv_bus_all[:, net.pv_bus] * pv_scale
    # clear-sky output (PV shifts): the clear-sky path scaled to each unit's best interval of the year
    hours = interval_hours(15)
    cs = clear_sky_fraction(hours, int(day) + 1, latitude_deg)
    best = d["profile_res"].max(axis=0)[d["gen_profile"]] * d["gen_p_mw"]
    cap = np.bincount(d["gen_bus"][d["gen_is_pv"]], weights=best[d["gen_is_pv"]], minlength=n)
    clear = np.maximum(cs[:, None] * cap[None, net.pv_bus] * pv_scale, pv)
    lp[:, net.slack_bus] = 0.0
    lq[:, net.slack_bus] = 0.0
    out = DayProfiles(step_minutes=15, day_of_year=int(day) + 1, sky="simbench_mv", hours=hours,
                      load_p_mw=lp, load_q_mvar=lq, pv_mw=pv, pv_clear_sky_mw=clear)
    for a in (out.hours, out.load_p_mw, out.load_q_mvar, out.pv_mw, out.pv_clear_sky_mw):
        a.setflags(write=False)
    return out
