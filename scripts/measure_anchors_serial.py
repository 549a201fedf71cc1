"""Measure the KPI anchors of ``supply_chain/Serial-v1`` or ``-v2`` (reproducible; re-run at release).

    .venv/bin/python scripts/measure_anchors_serial.py            # Serial-v1, prints JSON
    .venv/bin/python scripts/measure_anchors_serial.py --task supply_chain/Serial-v2 --zero lot_for_lot

Serial-v2 differs in one anchor only: the cost zero is the better (cheaper) of two floors at each
scale, the naive lot-for-lot policy (``baselines/lot_for_lot.py``) and random. Random alone had
squeezed every sensible policy into V 0.95-1.0 (issue 15); lot-for-lot alone would let random
score V 0.45 at n20, where lot-for-lot's one-period order lag at each of 20 stages costs more
than random ordering. Bullwhip and turnover (no weight in V) keep the random-based anchors.

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

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench  # noqa: E402
from baselines.base_stock import BaseStockPolicy  # noqa: E402
from baselines.chen_zheng import optimal_echelon_base_stock  # noqa: E402
from baselines.random_policy import RandomPolicy  # noqa: E402
from bench.episode import mean_kpis as episode_mean_kpis  # noqa: E402
from bench.policy import load_policy  # noqa: E402
from bench.registry import env_config  # noqa: E402

TASK = "supply_chain/Serial-v1"


def mean_kpis(policy, scale: str | None = None) -> dict:
    return episode_mean_kpis(TASK, policy, scale=scale)


def c_star(scale: str | None = None) -> float:
    """Chen-Zheng optimal expected cost per period of the instance at ``scale``."""
    p = env_config(TASK, scale=scale).params
    _, cost = optimal_echelon_base_stock(p["lead_times"], p["holding_costs"], p["stockout_cost"],
                                         p["demand_dist"], p["demand_mean"], p["demand_sd"])
    return float(cost)


def measure(zero_policy: str = "random") -> dict[str, dict]:
    """The KPIs' (zero, one) anchors as described in the module docstring; the cost KPI gets
    per-scale anchors (``zero_policy`` at that scale, C* of that scale's instance)."""
    spec = bench.get_spec(TASK)
    zero = RandomPolicy if zero_policy == "random" else load_policy(zero_policy).factory
    rnd = mean_kpis(RandomPolicy)
    bs = mean_kpis(BaseStockPolicy)
    z = rnd if zero is RandomPolicy else mean_kpis(zero)

    def floor(scale: str | None, z_cost: float, r_cost: float) -> float:
        return min(z_cost, r_cost)       # the better of the naive policy and random

    per_scale = {}
    measured_scales = {}
    for s in spec.scales:
        if not s.nominal:
            zc = mean_kpis(zero, scale=s.name)["cost_per_period"]
            rc = zc if zero is RandomPolicy else mean_kpis(RandomPolicy, scale=s.name)["cost_per_period"]
            measured_scales[s.name] = {zero_policy: zc, "random": rc}
            per_scale[s.name] = {"zero": floor(s.name, zc, rc), "one": c_star(s.name)}
    return {
        "cost_per_period": {"zero": floor(None, z["cost_per_period"], rnd["cost_per_period"]),
                            "one": c_star(), "scales": per_scale},
        "fill_rate": {"zero": 0.0, "one": 1.0},
        "bullwhip": {"zero": rnd["bullwhip"], "one": 1.0},
        "inventory_turnover": {"zero": rnd["inventory_turnover"], "one": bs["inventory_turnover"]},
        "_measured": {"random": rnd, "base_stock": bs, zero_policy: z, "cost_per_scale": measured_scales},
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default=TASK, choices=["supply_chain/Serial-v1", "supply_chain/Serial-v2"])
    ap.add_argument("--zero", default="random", help="cost floor policy (baseline name or module:Class)")
    args = ap.parse_args()
    TASK = args.task
    print(json.dumps(measure(args.zero), indent=2))
