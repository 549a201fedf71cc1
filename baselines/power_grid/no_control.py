"""No control: every inverter at unity power factor, no curtailment (the do-nothing reference)."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from bench.policy import PolicyInfo

TASKS = ("power_grid/IEEE33-v1", "power_grid/IEEE33-v2", "power_grid/SimBenchMV-v1")


class NoControlPolicy:
    """Action 0 for every inverter: q = 0 and no curtailment (PV passes its available power)."""

    info = PolicyInfo(name="no_control", version="1", paradigm="heuristic",
                      description="Inverters at unity power factor, no curtailment.")
    tasks = TASKS

    def __init__(self, env: Any) -> None:
        self._zero = {a: np.zeros(env.action_space(a).shape, dtype=np.float32)
                      for a in env.possible_agents}

    def reset(self, seed: int) -> None:
        pass

    def act(self, observations: Mapping[str, Any]) -> dict[str, np.ndarray]:
        return {a: self._zero[a].copy() for a in observations}
