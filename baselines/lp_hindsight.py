"""Hindsight LP oracle: the deterministic LP of the serial line solved with the *realised*
demand of the whole episode (perfect foresight).

At reset the policy reads the episode's demand path that the env drew in advance
(``env.demand_path``) and the lead time of every period (``env.lead_time_at(t)``, which the
``lead_time_surge`` shift changes) — information no real controller has, hence the ``oracle``
paradigm — and solves the LP of ``baselines/lp_static.py`` over the episode with CBC (PuLP). Because every
trajectory a non-anticipative policy can produce is feasible for that LP, the plan's cost is a
lower bound on what any policy can achieve on that demand path (up to the LP's ε tie-break on
internal backlogs); the gap between a policy and this oracle is the price of not knowing the
future. The env executes the plan exactly, so the realised cost equals the LP optimum.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from baselines.lp_static import SERIAL, as_actions, serial_lp, serial_state, solve_pulp
from bench.policy import PolicyInfo
from baselines.three_tier import ThreeTierHindsightLP  # ThreeTier-v1 variant (its own package)

THREE_TIER = "supply_chain/ThreeTier-v1"


SERIAL_V2 = "supply_chain/Serial-v2"
THREE_TIER_V2 = "supply_chain/ThreeTier-v2"


class _SerialHindsightLP:
    """Serial-v1: plan from the first observation with the episode's realised demand."""

    def __init__(self, env: Any) -> None:
        p = env.params
        self.env = env
        self.agents = list(env.possible_agents)
        self.pipeline_len = int(env.pipeline_len)
        self.holding = np.asarray(p["holding_costs"], dtype=float)
        self.p = float(p["stockout_cost"])
        self.max_order = float(p["max_order"])
        self.plan: np.ndarray | None = None
        self.planned_cost = float("nan")
        self.k = 0

    def reset(self, seed: int) -> None:
        self.plan, self.k = None, 0

    def act(self, observations: Mapping[str, Any]) -> dict[str, np.ndarray]:
        if self.plan is None:
            # plan at the first decision, once the env has been reset and drawn its path
            env = self.env
            demand = np.asarray(env.demand_path, dtype=float)[self.k:]
            # the realised lead times too (they change under the lead_time_surge shift)
            lead = np.array([env.lead_time_at(t) for t in range(self.k, self.k + len(demand))])
            oh, bo, pipe = serial_state(observations, self.agents, self.pipeline_len)
            lp = serial_lp(oh, bo, pipe, demand, lead, self.holding, self.p, self.max_order)
            z = solve_pulp(lp)
            self.plan = lp.orders(z)
            self.planned_cost = lp.true_cost(z)
        q = self.plan[self.k] if self.k < len(self.plan) else np.zeros(len(self.agents))
        self.k += 1
        return as_actions(self.agents, q)


class HindsightLPPolicy:
    """Oracle: the deterministic LP solved with the realised demand path (``env.demand_path``)
    and lead times (``env.lead_time_at``) of the episode; a lower bound on any non-anticipative
    policy's cost."""

    info = PolicyInfo(name="lp_hindsight", version="1", paradigm="oracle",
                      description="Perfect-foresight LP: reads the episode's realised demand "
                                  "path from the env at reset and executes the optimal plan "
                                  "(CBC); a lower bound, not a deployable policy.")
    tasks = (SERIAL, THREE_TIER, SERIAL_V2, THREE_TIER_V2)
    _variants: dict[str, Callable[[Any], Any]] = {SERIAL: _SerialHindsightLP, THREE_TIER: lambda env: ThreeTierHindsightLP(env),
                                 SERIAL_V2: _SerialHindsightLP, THREE_TIER_V2: lambda env: ThreeTierHindsightLP(env)}
    privileged = ("demand_path", "lead_time_at")  # the realised future (bench.policy.privileged_info)

    def __init__(self, env: Any) -> None:
        variant = self._variants.get(env.spec_id)
        if variant is None:
            raise ValueError(f"lp_hindsight has no variant for task {env.spec_id!r}; supported: "
                             f"{', '.join(self._variants)}")
        self._impl = variant(env)

    @property
    def planned_cost(self) -> float:
        """The LP optimum (total cost over the episode) of the current episode's plan."""
        return self._impl.planned_cost

    def reset(self, seed: int) -> None:
        self._impl.reset(seed)

    def act(self, observations: Mapping[str, Any]) -> dict[str, Any]:
        return self._impl.act(observations)
