"""Seeded daily load and PV profiles for distribution-feeder tasks (generated, nothing to download).

One episode is one day at ``step_minutes`` resolution (``T = 1440 / step_minutes`` intervals);
every profile carries one extra leading interval (index 0 = the last interval of the previous
day, what the first observation reports), so arrays have ``T + 1`` rows and row ``k + 1`` is
interval ``k`` (its values are interval averages, evaluated at the interval's midpoint).

Day of year ``d``. Drawn uniformly from 1..365 per episode (or fixed by the caller), it sets the
season of both load and sun.

Load (per bus, MW and Mvar). ``p_b(t) = P_b · shape_{type(b)}(h) · season(d) · level · ε_b(t)``:

* ``P_b`` — Baran & Wu's spot load (the published case is the feeder's peak), times ``load_scale``;
* ``shape`` — hourly daily shapes (ours: a residential one with morning and evening peaks, peak
  1.0 at 19:00, and a commercial one with a 10:00-15:00 plateau), interpolated linearly;
  ``COMMERCIAL_BUSES`` (the large loads) follow the commercial shape, the rest the residential one;
* ``season(d) = 0.85 + 0.15 cos(4π(d − 15)/365)`` — two peaks a year (heating in mid-January,
  cooling in mid-July), 0.70 in the April/October shoulders;
* ``level`` — lognormal day-to-day level per feeder (σ = ``LEVEL_SD``);
* ``ε_b(t)`` — per-bus multiplicative noise, AR(1) over intervals (σ = ``BUS_NOISE_SD``,
  correlation ``BUS_NOISE_RHO`` per 15 min, rescaled to other resolutions);
* reactive load keeps each bus's published power factor: ``q_b = p_b · Q_b / P_b``.

PV (per inverter, MW available). ``p_i(t) = p_max,i · min(1, GHI_cs(t)/1000 W m⁻²) · k_i(t)``:

* clear-sky GHI from the solar elevation ``α`` at latitude ``φ`` (declination
  ``δ = 23.44° sin(2π(284 + d)/365)``, Cooper 1969; hour angle ``15°(h − 12)``, solar time), with
  Haurwitz's (1945) model ``GHI_cs = 1098 sin α exp(−0.057 / sin α)`` W/m²;
* clear-sky index ``k_i(t) ∈ [0.05, 1]``: the day's sky type (clear / partly cloudy / overcast,
  probabilities by season: clear days are likelier in summer) sets a mean, spread and memory; an
  AR(1) cloud process common to the substation's area plus an independent one per inverter
  (weights 0.85 and 0.53, so the spread is the type's) moves it from interval to interval.

Every draw comes from the caller's ``numpy.random.Generator`` in a fixed order, so a seed fixes
the day. ``DayProfiles`` also keeps the clear-sky PV output (for shift scenarios).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Hourly residential load shape (fraction of peak) at 00:00, 01:00, ..., 23:00 (ours).
RESIDENTIAL = (0.55, 0.50, 0.47, 0.45, 0.45, 0.48, 0.58, 0.72, 0.78, 0.74, 0.68, 0.65,
               0.64, 0.62, 0.60, 0.62, 0.68, 0.80, 0.92, 1.00, 0.98, 0.90, 0.78, 0.65)
#: Hourly commercial load shape (fraction of peak) at 00:00 ... 23:00 (ours).
COMMERCIAL = (0.40, 0.38, 0.37, 0.37, 0.38, 0.42, 0.52, 0.68, 0.85, 0.95, 1.00, 1.00,
              0.97, 0.98, 1.00, 0.98, 0.94, 0.85, 0.72, 0.62, 0.55, 0.50, 0.46, 0.42)
#: Buses (1-based, within a 33-bus feeder) with commercial load: the large spot loads.
COMMERCIAL_BUSES = (7, 8, 14, 24, 25, 30, 31, 32)
LEVEL_SD = 0.05
BUS_NOISE_SD = 0.05
BUS_NOISE_RHO = 0.9           # per 15 minutes
#: Sky types: (mean clear-sky index, spread, AR(1) correlation per 15 minutes).
SKY_TYPES = {"clear": (0.98, 0.02, 0.9), "partly_cloudy": (0.60, 0.25, 0.6),
             "overcast": (0.25, 0.08, 0.8)}
CLOUD_COMMON_WEIGHT = 0.85
K_MIN, K_MAX = 0.05, 1.0


@dataclass(frozen=True, eq=False)
class DayProfiles:
    """One day's exogenous inputs; rows = intervals −1, 0, ..., T−1 (see the module docstring)."""

    step_minutes: int
    day_of_year: int
    sky: str
    hours: np.ndarray            # (T+1,) interval midpoints, hours after midnight (row 0 < 0)
    load_p_mw: np.ndarray        # (T+1, n_bus)
    load_q_mvar: np.ndarray      # (T+1, n_bus)
    pv_mw: np.ndarray            # (T+1, n_pv) available PV power
    pv_clear_sky_mw: np.ndarray  # (T+1, n_pv) available PV power under a clear sky

    @property
    def horizon(self) -> int:
        return len(self.hours) - 1


def interval_hours(step_minutes: int) -> np.ndarray:
    """Midpoints (hours after midnight) of intervals −1 .. T−1 of a day."""
    T = day_length(step_minutes)
    return (np.arange(-1, T) + 0.5) * step_minutes / 60.0


def day_length(step_minutes: int) -> int:
    if isinstance(step_minutes, bool) or not isinstance(step_minutes, (int, np.integer)) \
            or step_minutes < 1 or 1440 % step_minutes:
        raise ValueError(f"step_minutes must be a whole divisor of 1440 (e.g. 15), got {step_minutes!r}")
    return 1440 // int(step_minutes)


def daily_shape(table: tuple[float, ...], hours: np.ndarray) -> np.ndarray:
    """Periodic linear interpolation of an hourly table (value at each full hour)."""
    h = np.mod(hours, 24.0)
    lo = np.floor(h).astype(int) % 24
    w = h - np.floor(h)
    tab = np.asarray(table)
    return (1 - w) * tab[lo] + w * tab[(lo + 1) % 24]


def season_factor(day_of_year: int) -> float:
    """Load seasonality: 1.0 in mid-January and mid-July, 0.70 in April and October."""
    return 0.85 + 0.15 * math.cos(4 * math.pi * (day_of_year - 15) / 365.0)


def clear_sky_fraction(hours: np.ndarray, day_of_year: int, latitude_deg: float) -> np.ndarray:
    """Clear-sky PV output as a fraction of rating: min(1, GHI_cs / 1000 W m⁻²) (Haurwitz)."""
    phi = math.radians(latitude_deg)
    delta = math.radians(23.44) * math.sin(2 * math.pi * (284 + day_of_year) / 365.0)
    omega = np.radians(15.0 * (np.mod(hours, 24.0) - 12.0))
    sin_a = math.sin(phi) * math.sin(delta) + math.cos(phi) * math.cos(delta) * np.cos(omega)
    ghi = np.zeros_like(sin_a)
    up = sin_a > 1e-3
    ghi[up] = 1098.0 * sin_a[up] * np.exp(-0.057 / sin_a[up])
    return np.minimum(ghi / 1000.0, 1.0)


def sky_probabilities(day_of_year: int) -> dict[str, float]:
    """Probability of each sky type: clear 0.70 at midsummer, 0.20 at midwinter."""
    c = math.cos(2 * math.pi * (day_of_year - 172) / 365.0)
    clear, overcast = 0.45 + 0.25 * c, 0.20 - 0.10 * c
    return {"clear": clear, "partly_cloudy": 1.0 - clear - overcast, "overcast": overcast}


def ar1(rng: np.random.Generator, n: int, shape: tuple[int, ...], rho: float) -> np.ndarray:
    """Stationary AR(1) paths with unit variance along axis 0: x_t = ρ x_{t−1} + √(1−ρ²) e_t."""
    e = rng.standard_normal((n, *shape))
    x = np.empty_like(e)
    x[0] = e[0]
    c = math.sqrt(1.0 - rho * rho)
    for t in range(1, n):
        x[t] = rho * x[t - 1] + c * e[t]
    return x


def rho_at(rho_15min: float, step_minutes: int) -> float:
    """A per-15-minute AR(1) correlation expressed at another resolution."""
    return rho_15min ** (step_minutes / 15.0)


def generate_day(rng: np.random.Generator, *, base_p_mw: np.ndarray, base_q_mvar: np.ndarray,
                 commercial: np.ndarray, feeder_of_bus: np.ndarray, n_feeders: int,
                 pv_p_max_mw: np.ndarray, step_minutes: int = 15, load_scale: float = 1.0,
                 latitude_deg: float = 38.0, day_of_year: int | None = None) -> DayProfiles:
    """Draw one day of loads (every bus) and available PV power (every inverter).

    ``base_p_mw``/``base_q_mvar``: the network's spot loads (n_bus,); ``commercial``: bool mask
    of commercial buses; ``feeder_of_bus``: feeder index per bus (−1 at the slack), each feeder
    draws its own load level; ``pv_p_max_mw``: rating of every inverter (n_pv,).
    """
    T = day_length(step_minutes)
    if not (load_scale >= 0 and math.isfinite(load_scale)):
        raise ValueError(f"load_scale must be a finite factor >= 0, got {load_scale!r}")
    if not -66.0 <= latitude_deg <= 66.0:
        raise ValueError(f"latitude_deg must lie in [-66, 66] (sun rises every day), got {latitude_deg!r}")
    hours = interval_hours(step_minutes)
    n_bus, n_pv = len(base_p_mw), len(pv_p_max_mw)
    # 1. the day and its sky (common to the substation's area)
    if day_of_year is None:
        day_of_year = int(rng.integers(1, 366))
    elif not 1 <= int(day_of_year) <= 366:
        raise ValueError(f"day_of_year must lie in 1..366, got {day_of_year!r}")
    day_of_year = int(day_of_year)
    probs = sky_probabilities(day_of_year)
    names = list(SKY_TYPES)
    sky = names[int(rng.choice(len(names), p=[probs[k] for k in names]))]
    # 2. load
    res = daily_shape(RESIDENTIAL, hours)
    com = daily_shape(COMMERCIAL, hours)
    shape = np.where(commercial[None, :], com[:, None], res[:, None])      # (T+1, n_bus)
    level = np.exp(LEVEL_SD * rng.standard_normal(max(n_feeders, 1)) - 0.5 * LEVEL_SD ** 2)
    bus_level = np.where(feeder_of_bus >= 0, level[np.maximum(feeder_of_bus, 0)], 0.0)
    eps = np.exp(BUS_NOISE_SD * ar1(rng, T + 1, (n_bus,), rho_at(BUS_NOISE_RHO, step_minutes))
                 - 0.5 * BUS_NOISE_SD ** 2)
    mult = load_scale * season_factor(day_of_year) * shape * bus_level[None, :] * eps
    load_p = base_p_mw[None, :] * mult
    load_q = base_q_mvar[None, :] * mult
    # 3. PV
    mu, sd, rho = SKY_TYPES[sky]
    r = rho_at(rho, step_minutes)
    common = ar1(rng, T + 1, (1,), r)
    own = ar1(rng, T + 1, (n_pv,), r)
    w_own = math.sqrt(1.0 - CLOUD_COMMON_WEIGHT ** 2)
    k = np.clip(mu + sd * (CLOUD_COMMON_WEIGHT * common + w_own * own), K_MIN, K_MAX)
    cs = clear_sky_fraction(hours, day_of_year, latitude_deg)
    pv_cs = cs[:, None] * pv_p_max_mw[None, :]
    out = DayProfiles(step_minutes=int(step_minutes), day_of_year=day_of_year, sky=sky,
                      hours=hours, load_p_mw=load_p, load_q_mvar=load_q, pv_mw=pv_cs * k,
                      pv_clear_sky_mw=pv_cs)
    for a in (out.hours, out.load_p_mw, out.load_q_mvar, out.pv_mw, out.pv_clear_sky_mw):
        a.setflags(write=False)
    return out
