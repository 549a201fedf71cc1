"""Rolling-horizon LP baseline (model-predictive control) for the serial line.

Every period the policy re-solves the deterministic LP of ``baselines/lp_static.py`` from the
*current observed state* (on hand, backorders, pipelines) over a window of ``lookahead``
periods beyond the line's total lead time, with demand forecast at its mean, and applies only
the first period's orders. Re-planning makes it closed-loop (unlike ``lp_static``), but the
deterministic forecast plans no safety stock, so it still stocks out whenever demand exceeds
the mean — the textbook weakness of certainty-equivalent MPC that stochastic methods address.

Why "window = lookahead + Σ_j L_j": an order of the upstream-most stage reaches customers only
after the total lead time; a shorter window would never see the benefit of ordering upstream
and the plan would starve the line. The LP is rebuilt each period (it is small: 3N·H variables)
and solved in-process by HiGHS (SciPy), because launching CBC through PuLP costs ~20-40 ms per
solve; ``solve_times`` records each solve for the timing report.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping

import numpy as np

from baselines.lp_static import SERIAL, as_actions, serial_lp, serial_state, solve_highs
from bench.policy import PolicyInfo
from baselines.three_tier import ThreeTierRollingLP  # ThreeTier-v1 variant (its own package)

THREE_TIER = "supply_chain/ThreeTier-v1"

DEFAULT_LOOKAHEAD = 8


SERIAL_V2 = "supply_chain/Serial-v2"
THREE_TIER_V2 = "supply_chain/ThreeTier-v2"


class _SerialRollingLP:
    """Serial-v1: re-plan from every observation, apply the first period's orders."""

    def __init__(self, env: Any, lookahead: int) -> None:
        if int(lookahead) < 1:
            raise ValueError(f"lookahead must be an integer >= 1 period, got {lookahead!r}")
        p = env.params
        self.agents = list(env.possible_agents)
        self.pipeline_len = int(env.pipeline_len)
        self.lead_times = np.asarray(p["lead_times"], dtype=int)
        self.holding = np.asarray(p["holding_costs"], dtype=float)
        self.p = float(p["stockout_cost"])
        self.mean = float(p["demand_mean"])
        self.max_order = float(p["max_order"])
        self.window = int(lookahead) + int(self.lead_times.sum())
        self.solve_times: list[float] = []

    def reset(self, seed: int) -> None:
        pass

    def act(self, observations: Mapping[str, Any]) -> dict[str, np.ndarray]:
        t0 = time.perf_counter()
        oh, bo, pipe = serial_state(observations, self.agents, self.pipeline_len)
        lp = serial_lp(oh, bo, pipe, np.full(self.window, self.mean), self.lead_times,
                       self.holding, self.p, self.max_order)
        q = lp.orders(solve_highs(lp))[0]
        self.solve_times.append(time.perf_counter() - t0)
        return as_actions(self.agents, q)


class RollingLPPolicy:
    """Model-predictive control: each period, a deterministic LP over ``lookahead`` periods
    beyond the total lead time from the observed state (mean-demand forecast, HiGHS); the first
    period's orders are applied."""

    info = PolicyInfo(name="lp_rolling", version="1", paradigm="optimization",
                      description="Rolling-horizon deterministic LP (MPC): re-solved every "
                                  "period from the observed state with a mean-demand forecast; "
                                  "first-period orders applied.")
    tasks = (SERIAL, THREE_TIER, SERIAL_V2, THREE_TIER_V2)
    _variants: dict[str, Callable[..., Any]] = {SERIAL: _SerialRollingLP, THREE_TIER: lambda env, lookahead: ThreeTierRollingLP(env),
                                 SERIAL_V2: _SerialRollingLP, THREE_TIER_V2: lambda env, lookahead: ThreeTierRollingLP(env)}

    def __init__(self, env: Any, lookahead: int = DEFAULT_LOOKAHEAD) -> None:
        variant = self._variants.get(env.spec_id)
        if variant is None:
            raise ValueError(f"lp_rolling has no variant for task {env.spec_id!r}; supported: "
                             f"{', '.join(self._variants)}")
        self._impl = variant(env, lookahead)

    @property
    def solve_times(self) -> list[float]:
        """Wall-clock seconds of every LP build + solve so far."""
        return self._impl.solve_times

    def reset(self, seed: int) -> None:
        self._impl.reset(seed)

    def act(self, observations: Mapping[str, Any]) -> dict[str, Any]:
        return self._impl.act(observations)
