"""Measure the KPI anchors of ``supply_chain/Serial-v1`` (reproducible; re-run at release).

    .venv/bin/python scripts/measure_anchors_serial.py            # prints JSON

How each anchor is obtained (the spec's ``anchors.source`` says the same):

* ``cost_per_period`` (the only KPI weighted in V, so V ranks policies exactly by the task's
  objective): zero = the random baseline's mean over the eval seeds; one = the Chen-Zheng optimal
  expected cost per period ``C*`` (``baselines/chen_zheng.py``), the theoretical optimum of any
  non-anticipative policy — both measured at every scale (per-scale anchors).
* ``fill_rate``: zero = 0, one = 1 (the bounds of a fraction; the random baseline over-orders
  and fills ~100 %, so it cannot serve as the floor here).
* ``bullwhip``: zero = the random baseline's mean; one = 1 (no amplification: the optimal
  base-stock policy passes demand upstream unchanged in steady state).
* ``inventory_turnover``: zero = the random baseline's mean; one = the optimal base-stock
  policy's mean over the eval seeds (the turnover of the cost-optimal operation).

Episodes run through the harness's own ``bench.episode.run_episode``, so KPIs are aggregated
exactly as in evaluation.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench  # noqa: E402
from baselines.base_stock import BaseStockPolicy  # noqa: E402
from baselines.chen_zheng import optimal_echelon_base_stock  # noqa: E402
from baselines.random_policy import RandomPolicy  # noqa: E402
from bench.episode import mean_kpis as episode_mean_kpis  # noqa: E402
from bench.registry import env_config  # noqa: E402

TASK = "supply_chain/Serial-v1"


mean_kpis = functools.partial(episode_mean_kpis, TASK)


def c_star(scale: str | None = None) -> float:
    """Chen-Zheng optimal expected cost per period of the instance at ``scale``."""
    p = env_config(TASK, scale=scale).params
    _, cost = optimal_echelon_base_stock(p["lead_times"], p["holding_costs"], p["stockout_cost"],
                                         p["demand_dist"], p["demand_mean"], p["demand_sd"])
    return float(cost)


def measure() -> dict[str, dict]:
    """The KPIs' (zero, one) anchors as described in the module docstring; the cost KPI gets
    per-scale anchors (random at that scale, C* of that scale's instance)."""
    spec = bench.get_spec(TASK)
    rnd = mean_kpis(RandomPolicy)
    bs = mean_kpis(BaseStockPolicy)
    per_scale = {}
    for s in spec.scales:
        if not s.nominal:
            per_scale[s.name] = {"zero": mean_kpis(RandomPolicy, scale=s.name)["cost_per_period"],
                                 "one": c_star(s.name)}
    return {
        "cost_per_period": {"zero": rnd["cost_per_period"], "one": c_star(), "scales": per_scale},
        "fill_rate": {"zero": 0.0, "one": 1.0},
        "bullwhip": {"zero": rnd["bullwhip"], "one": 1.0},
        "inventory_turnover": {"zero": rnd["inventory_turnover"], "one": bs["inventory_turnover"]},
        "_measured": {"random": rnd, "base_stock": bs},
    }


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
