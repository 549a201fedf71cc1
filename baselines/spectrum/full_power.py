"""Full power on a random band: the naive spectrum-sharing baseline.

Each link draws a sub-band uniformly at random at the start of the episode and keeps it,
transmitting every slot at the highest power level its budget allows (read from its own
observation). It ignores interference and incumbents; when its band goes into outage (masked), it
draws a new band among the available ones. Decentralised, observations only.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from baselines.spectrum import TASKS, band_available, constants, highest_level_within, stack, to_actions
from bench.policy import PolicyInfo


class FullPowerRandomBandPolicy:
    """Random fixed band per link, full (budget) power; see the module docstring."""

    info = PolicyInfo(name="full_power", version="1", paradigm="heuristic",
                      description="Every link transmits at its full budget power on a sub-band "
                                  "drawn at random per episode (redrawn if masked).")
    tasks = TASKS

    def __init__(self, env: Any) -> None:
        self.c = constants(env)
        self._rng = np.random.Generator(np.random.PCG64(0))
        self._band = np.zeros(self.c.n_links, dtype=np.int64)

    def reset(self, seed: int) -> None:
        self._rng = np.random.Generator(np.random.PCG64(seed))
        self._band = self._rng.integers(0, self.c.n_bands, size=self.c.n_links)

    def act(self, observations: Mapping[str, Any]) -> dict[str, int]:
        c = self.c
        obs, mask = stack(observations, c.agents)
        available = band_available(mask, c.n_bands, c.n_levels)           # (K, M)
        bad = ~available[np.arange(c.n_links), self._band]
        for k in np.flatnonzero(bad):
            self._band[k] = self._rng.choice(np.flatnonzero(available[k]))
        level = highest_level_within(c.levels_rel_db, obs[:, c.layout["budget_db"]][:, 0])
        return to_actions(c, self._band, level)
