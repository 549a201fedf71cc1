"""The safe naive policy of ``spectrum/Interference-v2``: its score's zero anchor.

Every slot, each link draws a sub-band uniformly at random among those that are available (its
action mask) and have no active incumbent (``pu_active``, from the geolocation database), and
transmits on it at the highest power level within its budget. It never puts power on an
incumbent's band while the incumbent is on, so it can never break incumbent protection, and it
never exceeds its budget; it ignores interference among the links entirely. A link with no such
band stays silent. Decentralised, observations only; randomness from ``reset(seed)``.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from baselines.spectrum import TASK_V2, band_available, constants, highest_level_within, stack, to_actions
from bench.policy import PolicyInfo


class SafeRandomBandPolicy:
    """Uniform random incumbent-free band every slot, budget power; see the module docstring."""

    info = PolicyInfo(name="safe_random", version="1", paradigm="random",
                      description="Every slot each link picks a random available sub-band without "
                                  "an active incumbent and transmits at its budget power (the v2 "
                                  "score's zero anchor).")
    tasks = (TASK_V2,)

    def __init__(self, env: Any) -> None:
        self.c = constants(env)
        self._rng = np.random.Generator(np.random.PCG64(0))

    def reset(self, seed: int) -> None:
        self._rng = np.random.Generator(np.random.PCG64(seed))

    def act(self, observations: Mapping[str, Any]) -> dict[str, int]:
        c = self.c
        obs, mask = stack(observations, c.agents)
        free = band_available(mask, c.n_bands, c.n_levels) & (obs[:, c.layout["pu_active"]] < 0.5)
        # a uniform choice among each row's free bands: the argmax of uniform keys on them
        keys = np.where(free, self._rng.random(free.shape), -1.0)
        band = np.where(free.any(axis=1), keys.argmax(axis=1), -1)
        level = highest_level_within(c.levels_rel_db, obs[:, c.layout["budget_db"]][:, 0])
        return to_actions(c, band, level)
