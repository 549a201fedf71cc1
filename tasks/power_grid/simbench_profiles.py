"""Real load and PV days from the SimBench dataset (2016, 15-minute resolution) for the v2 tasks.

Data: ``data/simbench_profiles.npz``, extracted from the ``simbench`` package by
``scripts/extract_simbench_profiles.py`` (ODbL 1.0 / DbCL 1.0, ``data/SIMBENCH_LICENSE.md``):
15 standard load profile types (households H0-*, commercial G*) and 8 PV profiles, each divided
by its annual maximum; 366 days × 96 intervals. Loaded once per process; no network needed.

Day pools. Days are split into disjoint parts of the year so that a policy is evaluated on days
it was never trained on: the **eval** pool is every fourth week (days 21-27, 49-55, ... of the
year, 0-based: ``(d // 7) % 4 == 3``, 13 weeks = 91 days, every season), the **train** pool the
other 275 days. ``pool_days(kind)`` lists them.

A feeder's day (``simbench_day``). Every load bus follows one standard profile, fixed by its bus
number (households H0-A..H0-L cycled over the residential buses, commercial types cycled over
``COMMERCIAL_BUSES``), times its spot load; all of them are divided by the feeder's coincident
peak factor (``coincident_peak``: the largest interval of the year of Σ_b P_b·profile_b(t), as a
share of Σ_b P_b; 0.519 for the IEEE 33-bus feeder), so that the feeder's annual peak is Baran &
Wu's total load (their case is the feeder's peak; each bus peaks at its own time, so a single bus
can exceed its spot load), times ``load_scale``; each feeder draws a lognormal day level and each bus an AR(1)
deviation (the v1 parameters ``LEVEL_SD``, ``BUS_NOISE_SD``, ``BUS_NOISE_RHO``), because a
standard profile is an average over many customers and a 33-bus feeder's buses do not move in
lockstep. Reactive load keeps each bus's published power factor. PV: one of the eight SimBench PV
series (drawn per episode; one weather for the whole substation area), times each inverter's
``p_max``. Row 0 is the previous day's last interval (the first observation reports it).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from tasks.power_grid.profiles import (BUS_NOISE_RHO, BUS_NOISE_SD, LEVEL_SD, DayProfiles, ar1,
                                       clear_sky_fraction, interval_hours)

DATA = Path(__file__).resolve().parent / "data" / "simbench_profiles.npz"
STEPS_PER_DAY = 96
N_DAYS = 366
RESIDENTIAL_TYPES = ("H0-A", "H0-B", "H0-C", "H0-G", "H0-H", "H0-L")
COMMERCIAL_TYPES = ("G0-A", "G1-A", "G1-B", "G1-C", "G2-A", "G3-A", "G4-A", "G5-A", "G6-A")


@functools.lru_cache(maxsize=1)
def load_profiles() -> dict[str, np.ndarray]:
    """The shipped series as read-only float64 arrays: ``load`` (35136, 15), ``pv`` (35136, 8)
    and their type names."""
    with np.load(DATA) as z:
        out = {"load": z["load"].astype(np.float64), "pv": z["pv"].astype(np.float64),
               "load_types": tuple(str(x) for x in z["load_types"]),
               "pv_types": tuple(str(x) for x in z["pv_types"])}
    for k in ("load", "pv"):
        out[k].setflags(write=False)
    return out


def pool_days(kind: str) -> np.ndarray:
    """0-based days of 2016 in the ``train`` or ``eval`` pool (disjoint, see the module docstring)."""
    d = np.arange(N_DAYS)
    is_eval = (d // 7) % 4 == 3
    if kind == "eval":
        return d[is_eval]
    if kind == "train":
        return d[~is_eval]
    raise ValueError(f"day pool must be 'train' or 'eval', got {kind!r}")


def bus_load_types(local_bus: list[int], commercial: np.ndarray) -> np.ndarray:
    """Column index (into ``load_profiles()['load']``) of every bus's standard profile."""
    names = load_profiles()["load_types"]
    out = np.zeros(len(local_bus), dtype=np.int64)
    for i, (b, com) in enumerate(zip(local_bus, commercial.tolist())):
        types = COMMERCIAL_TYPES if com else RESIDENTIAL_TYPES
        out[i] = names.index(types[b % len(types)])
    return out


def coincident_peak(base_p_mw: np.ndarray, bus_type: np.ndarray) -> float:
    """The feeder's largest interval of the year, Σ_b P_b·profile_b(t), as a share of Σ_b P_b
    (the standard profiles alone, without the random level and deviations)."""
    total = float(base_p_mw.sum())
    if total <= 0:
        return 1.0
    return float((load_profiles()["load"][:, bus_type] @ base_p_mw).max() / total)


def simbench_day(rng: np.random.Generator, day: int, *, base_p_mw: np.ndarray,
                 base_q_mvar: np.ndarray, bus_type: np.ndarray, feeder_of_bus: np.ndarray,
                 n_feeders: int, pv_p_max_mw: np.ndarray, load_scale: float = 1.0,
                 latitude_deg: float = 51.0, peak_factor: float = 1.0) -> DayProfiles:
    """Day ``day`` (0-based day of 2016) of loads (every bus) and available PV (every inverter);
    the random draws (PV series, levels, bus deviations) come from ``rng`` in a fixed order.
    ``peak_factor``: the loads are divided by it (``coincident_peak`` of one feeder)."""
    if not 0 <= int(day) < N_DAYS:
        raise ValueError(f"day must lie in 0..{N_DAYS - 1}, got {day!r}")
    data = load_profiles()
    rows = (int(day) * STEPS_PER_DAY - 1 + np.arange(STEPS_PER_DAY + 1)) % (N_DAYS * STEPS_PER_DAY)
    n_bus, n_pv = len(base_p_mw), len(pv_p_max_mw)
    pv_col = int(rng.integers(data["pv"].shape[1]))
    level = np.exp(LEVEL_SD * rng.standard_normal(max(n_feeders, 1)) - 0.5 * LEVEL_SD ** 2)
    bus_level = np.where(feeder_of_bus >= 0, level[np.maximum(feeder_of_bus, 0)], 0.0)
    eps = np.exp(BUS_NOISE_SD * ar1(rng, STEPS_PER_DAY + 1, (n_bus,), BUS_NOISE_RHO)
                 - 0.5 * BUS_NOISE_SD ** 2)
    mult = (load_scale / peak_factor) * data["load"][rows][:, bus_type] * bus_level[None, :] * eps
    hours = interval_hours(15)
    doy = int(day) + 1
    pv_frac = data["pv"][rows, pv_col]
    cs = clear_sky_fraction(hours, doy, latitude_deg)
    out = DayProfiles(step_minutes=15, day_of_year=doy, sky=f"simbench:{data['pv_types'][pv_col]}",
                      hours=hours, load_p_mw=base_p_mw[None, :] * mult,
                      load_q_mvar=base_q_mvar[None, :] * mult,
                      pv_mw=pv_frac[:, None] * pv_p_max_mw[None, :],
                      pv_clear_sky_mw=np.maximum(cs, pv_frac)[:, None] * pv_p_max_mw[None, :])
    for a in (out.hours, out.load_p_mw, out.load_q_mvar, out.pv_mw, out.pv_clear_sky_mw):
        a.setflags(write=False)
    return out
