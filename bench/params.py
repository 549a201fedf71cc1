"""Reading a simulator's merged parameters with errors that name the parameter and the fix.

Simulators validate ``EnvConfig.params`` (spec defaults < scale < caller's overrides) once, at
construction, so a bad override fails at ``bench.make`` rather than mid-episode.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np


def require(params: Mapping[str, Any], key: str, task: str, spec_file: str) -> Any:
    """``params[key]``, or a ValueError saying which spec file should declare it."""
    if key not in params:
        raise ValueError(f"{task} parameter {key!r} is missing; add it to the spec's parameters "
                         f"({spec_file})")
    return params[key]


def check_number(key: str, raw: Any, lo: float = 0.0, hi: float = math.inf, *,
                 strict_lo: bool = False) -> float:
    """``raw`` as a finite float in [lo, hi] (or (lo, hi] when ``strict_lo``)."""
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"parameter {key!r} must be a number, got {raw!r}") from None
    bad_lo = value <= lo if strict_lo else value < lo
    if not math.isfinite(value) or bad_lo or value > hi:
        rng = f"{'(' if strict_lo else '['}{lo}, {hi}]"
        raise ValueError(f"parameter {key!r} must lie in {rng}, got {raw!r}; set it inside that range")
    return value


def check_integer(key: str, raw: Any, lo: int = 0) -> int:
    """``raw`` as an int >= lo (booleans refused)."""
    if isinstance(raw, bool) or not isinstance(raw, (int, np.integer)) or raw < lo:
        raise ValueError(f"parameter {key!r} must be an integer >= {lo}, got {raw!r}")
    return int(raw)
