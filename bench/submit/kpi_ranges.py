"""Physical range of every KPI, checked on every episode of a submission (off-nominal included).

A number outside its range is impossible for the simulator to report (a negative cost, a fill rate
of 11), so it can only come from an edited file. The table lives here, not in the spec YAMLs,
because released specs are hash-locked and frozen. It is keyed by task *family* (``domain/Name``,
every version) and KPI name, because a physical meaning (a rate, a cost) does not change between
versions; an entry keyed by a full id (``domain/Name-vN``) overrides the family's. A KPI without an
entry gets ``DEFAULT``: any finite number of at most ``MAX_MAGNITUDE`` in size, which still stops
the 1e308 values that would overflow the summary's statistics.
"""

from __future__ import annotations

import math

MAX_MAGNITUDE = 1e12
NONNEG = (0.0, MAX_MAGNITUDE)
UNIT = (0.0, 1.0)
DEFAULT = (-MAX_MAGNITUDE, MAX_MAGNITUDE)

#: (low, high) per task family (or full id) and KPI; bounds are inclusive.
KPI_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "supply_chain/Serial": {
        "cost_per_period": NONNEG, "fill_rate": UNIT, "bullwhip": NONNEG,
        "inventory_turnover": NONNEG,
    },
    "supply_chain/ThreeTier": {
        "total_cost": NONNEG, "delivery_rate": UNIT, "inventory_turnover": NONNEG,
        "bullwhip": NONNEG, "capacity_utilisation": UNIT,
    },
    "compute/EdgeCluster": {
        "cost_per_job": NONNEG, "mean_completion_time": NONNEG, "p95_completion_time": NONNEG,
        "deadline_miss_rate": UNIT, "top_class_miss_rate": UNIT, "utilisation": UNIT,
        "energy": NONNEG, "cloud_cost_per_job": NONNEG, "drop_rate": UNIT,
    },
    "power_grid/IEEE33": {
        "controllable_rate": UNIT, "line_loss": NONNEG, "pv_curtailment": UNIT,
        "reactive_energy": NONNEG, "pf_failures": NONNEG,
    },
    "spectrum/Interference": {
        "sum_rate": NONNEG, "jain_fairness": UNIT, "rate_p5": NONNEG, "energy_efficiency": NONNEG,
    },
}

#: ranges of the other measured numbers of an episode record
MEAN_RETURN = DEFAULT
DECISION_TIME_S = (0.0, 3600.0)  # per agent-step; an hour is beyond any protocol's time budget
SIM_TIME_S = (0.0, 30 * 86400.0)  # one episode outside the policy


def family(task_id: str) -> str:
    """``domain/Name-vN`` -> ``domain/Name``."""
    head, sep, tail = task_id.rpartition("-v")
    return head if sep and tail.isdigit() else task_id


def kpi_range(task_id: str, kpi: str) -> tuple[float, float]:
    """The inclusive range of ``kpi`` on ``task_id`` (``DEFAULT`` when none is declared)."""
    for key in (task_id, family(task_id)):
        if kpi in KPI_RANGES.get(key, {}):
            lo, hi = KPI_RANGES[key][kpi]
            return max(lo, -MAX_MAGNITUDE), min(hi, MAX_MAGNITUDE)
    return DEFAULT


def in_range(x: float, bounds: tuple[float, float]) -> bool:
    return math.isfinite(x) and bounds[0] <= x <= bounds[1]
