"""Optimal base-stock baseline: Chen & Zheng's optimal levels, run decentralised.

For ``supply_chain/Serial-v1`` the policy computes the optimal *echelon* base-stock levels
``S*`` of the nominal instance (``baselines/chen_zheng.py``; Snyder & Shen §6.2.3, Chen &
Zheng 1994) and runs the equivalent *installation* policy: stage j orders up to
``s_j = S*_j - S*_{j-1}`` on its own (local) inventory position (Axsäter & Rosling 1993;
Snyder & Shen §6.2.4). In a serial system with instantaneous order transmission the two are the
same policy, so its long-run cost is the theory's optimum ``C*`` (checked within 1 % in
``tests/supply_chain/test_chen_zheng.py``).

Decentralised, but with one message per period: stage j's local inventory position in the
observation predates the order its downstream neighbour places in the same period (agents act
simultaneously), so ``act`` passes each stage's order upstream within the period — stage j
orders ``max(0, s_j - (IP_j - q_{j-1}))``, exactly what a real stage does when the downstream
order reaches it before it places its own (no order lead time, as in the theory). Stage 1's
"downstream order" (the period's demand) is not yet known, so it orders ``max(0, s_1 - IP_1)``.
In steady state every stage simply passes demand upstream (bullwhip ratio 1).

The levels are computed for the spec's nominal parameters as overridden (``env.params``); the
policy does not know about held-out shifts.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from baselines.chen_zheng import echelon_to_local_base_stock, optimal_echelon_base_stock
from bench.policy import PolicyInfo
from baselines.three_tier import ThreeTierBaseStock  # ThreeTier-v1 variant (its own package)

THREE_TIER = "supply_chain/ThreeTier-v1"

SERIAL = "supply_chain/Serial-v1"


SERIAL_V2 = "supply_chain/Serial-v2"
THREE_TIER_V2 = "supply_chain/ThreeTier-v2"


class _SerialBaseStock:
    """Serial-v1: installation base-stock levels from the Chen-Zheng echelon optimum."""

    def __init__(self, env: Any) -> None:
        p = env.params
        self.agents = list(env.possible_agents)
        self.echelon_levels, self.expected_cost = optimal_echelon_base_stock(
            p["lead_times"], p["holding_costs"], p["stockout_cost"], p["demand_dist"],
            p["demand_mean"], p.get("demand_sd"))
        self.levels = echelon_to_local_base_stock(self.echelon_levels).tolist()
        self.max_order = float(p["max_order"])

    def reset(self, seed: int) -> None:
        pass

    def act(self, observations: Mapping[str, Any]) -> dict[str, np.ndarray]:
        out = {}
        downstream_order = 0.0
        cap = self.max_order
        for a, s in zip(self.agents, self.levels):
            ip = float(observations[a][2]) - downstream_order   # IP after the new order arrives
            q = s - ip
            q = 0.0 if q < 0.0 else (cap if q > cap else q)
            out[a] = np.array([q], dtype=np.float32)
            downstream_order = q
        return out


class BaseStockPolicy:
    """Chen-Zheng optimal base-stock levels, each stage ordering up to its installation level
    on its local inventory position (orders passed upstream within the period)."""

    info = PolicyInfo(name="base_stock", version="1", paradigm="optimization",
                      description="Optimal echelon base-stock levels (Chen & Zheng 1994) run as "
                                  "the equivalent installation (local) base-stock policy.")
    tasks = (SERIAL, THREE_TIER, SERIAL_V2, THREE_TIER_V2)
    _variants: dict[str, Callable[[Any], Any]] = {SERIAL: _SerialBaseStock, THREE_TIER: lambda env: ThreeTierBaseStock(env),
                                 SERIAL_V2: _SerialBaseStock, THREE_TIER_V2: lambda env: ThreeTierBaseStock(env)}

    def __init__(self, env: Any) -> None:
        variant = self._variants.get(env.spec_id)
        if variant is None:
            raise ValueError(f"base_stock has no variant for task {env.spec_id!r}; supported: "
                             f"{', '.join(self._variants)}")
        self._impl = variant(env)

    @property
    def levels(self) -> list[float]:
        """Installation base-stock levels, stage 1 first."""
        return self._impl.levels

    @property
    def expected_cost(self) -> float:
        """The theory's expected cost per period of these levels (Chen-Zheng ``C*``)."""
        return self._impl.expected_cost

    def reset(self, seed: int) -> None:
        self._impl.reset(seed)

    def act(self, observations: Mapping[str, Any]) -> dict[str, Any]:
        return self._impl.act(observations)
