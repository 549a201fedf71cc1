"""Periodic-review order-up-to baseline (the founding paper's "PRP"): a practitioner heuristic.

Every ``review_period`` (R) periods each stage orders up to

    U_j = μ (L_j + R) + z σ √(L_j + R),     z = Φ⁻¹(service_level),

on its local inventory position, and orders nothing in between. ``μ, σ`` are the nominal
per-period demand mean and sd (Poisson: σ = √μ), ``L_j`` the stage's lead time; ``L_j + R`` is
the usual "protection interval" of a periodic-review policy (Silver, Pyke & Peterson, ch. 7).
Defaults: R = 4, service level 0.95 (z ≈ 1.645). It is reasonable but not optimal: it ignores
the echelon structure (each stage buffers for itself), and batching orders every R periods
amplifies order variance upstream (a bullwhip ratio well above 1).
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Any, Callable, Mapping

import numpy as np

from bench.policy import PolicyInfo
from baselines.three_tier import ThreeTierOrderUpTo  # ThreeTier-v1 variant (its own package)

THREE_TIER = "supply_chain/ThreeTier-v1"

SERIAL = "supply_chain/Serial-v1"
DEFAULT_REVIEW_PERIOD = 4
DEFAULT_SERVICE_LEVEL = 0.95


SERIAL_V2 = "supply_chain/Serial-v2"
THREE_TIER_V2 = "supply_chain/ThreeTier-v2"


class _SerialOrderUpTo:
    """Serial-v1: every stage reviews every R periods and orders up to its level."""

    def __init__(self, env: Any, review_period: int, service_level: float) -> None:
        if int(review_period) < 1:
            raise ValueError(f"review_period must be an integer >= 1, got {review_period!r}")
        if not 0.0 < service_level < 1.0:
            raise ValueError(f"service_level must lie in (0, 1), got {service_level!r}")
        p = env.params
        self.agents = list(env.possible_agents)
        self.R = int(review_period)
        mu = float(p["demand_mean"])
        sd = float(p["demand_sd"]) if p["demand_dist"] == "normal" else float(np.sqrt(mu))
        z = NormalDist().inv_cdf(service_level)
        span = np.asarray(p["lead_times"], dtype=float) + self.R
        self.levels = (mu * span + z * sd * np.sqrt(span)).tolist()
        self.max_order = float(p["max_order"])
        self.t = 0

    def reset(self, seed: int) -> None:
        self.t = 0

    def act(self, observations: Mapping[str, Any]) -> dict[str, np.ndarray]:
        review = self.t % self.R == 0
        self.t += 1
        out = {}
        for a, level in zip(self.agents, self.levels):
            q = max(0.0, min(self.max_order, level - float(observations[a][2]))) if review else 0.0
            out[a] = np.array([q], dtype=np.float32)
        return out


class OrderUpToPolicy:
    """Periodic review (every R periods) order-up-to policy with a normal-approximation level
    per stage: μ(L+R) + zσ√(L+R)."""

    info = PolicyInfo(name="order_up_to", version="1", paradigm="heuristic",
                      description="Periodic-review order-up-to heuristic (PRP): every R=4 "
                                  "periods order up to mu(L+R) + z sigma sqrt(L+R), z for 95% "
                                  "service.")
    tasks = (SERIAL, THREE_TIER, SERIAL_V2, THREE_TIER_V2)
    _variants: dict[str, Callable[..., Any]] = {SERIAL: _SerialOrderUpTo, THREE_TIER: ThreeTierOrderUpTo,
                                 SERIAL_V2: _SerialOrderUpTo, THREE_TIER_V2: ThreeTierOrderUpTo}

    def __init__(self, env: Any, review_period: int = DEFAULT_REVIEW_PERIOD,
                 service_level: float = DEFAULT_SERVICE_LEVEL) -> None:
        variant = self._variants.get(env.spec_id)
        if variant is None:
            raise ValueError(f"order_up_to has no variant for task {env.spec_id!r}; supported: "
                             f"{', '.join(self._variants)}")
        self._impl = variant(env, review_period, service_level)

    def reset(self, seed: int) -> None:
        self._impl.reset(seed)

    def act(self, observations: Mapping[str, Any]) -> dict[str, Any]:
        return self._impl.act(observations)
