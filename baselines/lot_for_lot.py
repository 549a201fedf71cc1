"""Lot-for-lot: every node orders (and produces) exactly what was asked of it last period.

The documented naive policy of the supply-chain v2 tasks and their V = 0 anchor (issue 15): a
sane controller with no intelligence — no safety stock, no forecast, no use of the pipeline —
that a learner must beat. It reads only each agent's own observation.

* ``supply_chain/Serial-v2``: stage j orders ``last_order_received`` (stage 1: last period's
  demand). From the spec's initial stock this keeps every stage's inventory position where it
  started: a base-stock policy whose levels are never tuned.
* ``supply_chain/ThreeTier-v2``: a retailer orders yesterday's demand per product; a
  manufacturer produces and orders raw material equal to the retailers' orders it received
  (scaled down to its capacity); a supplier produces the manufacturers' orders it received
  (within capacity). Road routes only, negotiation 0. Observations and actions share the unit
  mu (days of mean demand), so a quantity action is ``observed quantity / action_scale_days``.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from bench.policy import PolicyInfo
from tasks.supply_chain.network import parse_agent

SERIAL_V2 = "supply_chain/Serial-v2"
THREE_TIER_V2 = "supply_chain/ThreeTier-v2"


class LotForLotPolicy:
    """Order what was demanded (lot-for-lot); see the module docstring for each task."""

    info = PolicyInfo(name="lot_for_lot", version="1", paradigm="heuristic",
                      description="Naive lot-for-lot: each node orders/produces exactly what was "
                                  "demanded of it last period (no safety stock, no forecast).")
    tasks = (SERIAL_V2, THREE_TIER_V2)

    def __init__(self, env: Any) -> None:
        base = getattr(env, "unwrapped", env)
        self.spec_id = env.spec_id
        if self.spec_id not in self.tasks:
            raise ValueError(f"lot_for_lot has no variant for task {self.spec_id!r}; supported: "
                             f"{', '.join(self.tasks)}")
        if self.spec_id == THREE_TIER_V2:
            self.lay_o = {a: base.observation_layout(a) for a in base.possible_agents}
            self.lay_a = {a: base.action_layout(a) for a in base.possible_agents}
            self.scale = float(base.params["action_scale_days"])
        else:
            self.max_order = float(base.params["max_order"])

    def reset(self, seed: int) -> None:
        """Deterministic and stateless: nothing to do."""

    def act(self, observations: Mapping[str, Any]) -> dict[str, np.ndarray]:
        if self.spec_id == SERIAL_V2:
            # observation layout (tasks/supply_chain/serial.py): last entry = last order received
            return {a: np.array([min(max(float(o[-1]), 0.0), self.max_order)], dtype=np.float32)
                    for a, o in observations.items()}
        return {a: self._three_tier(a, np.asarray(o, dtype=np.float64)) for a, o in observations.items()}

    def _three_tier(self, a: str, o: np.ndarray) -> np.ndarray:
        tier, _ = parse_agent(a)
        x = {name: o[s] for name, s in self.lay_o[a].items()}
        al = self.lay_a[a]
        act = np.zeros(max(s.stop for s in al.values()))
        if tier == "retailer":
            act[al["order"]] = x["last_demand"] / self.scale
        else:
            make = x["incoming_orders"].copy()
            load, cap = float(make @ x["demand_share"]), float(x["capacity"][0])
            if load > cap:
                make *= cap / load
            act[al["production"]] = make / self.scale
            if tier == "manufacturer":
                act[al["raw_order"]] = x["incoming_orders"] / self.scale
        if "route" in al:
            act[al["route"].start] = 1.0
        return np.clip(act, 0.0, 1.0).astype(np.float32)
