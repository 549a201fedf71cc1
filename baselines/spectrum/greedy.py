"""Greedy channel selection from each link's own measurements (decentralised, observations only).

Every slot, each link estimates the SINR it would get on every available sub-band from last
slot's measurements — ``snr_db[m] + p_rel − inr_db[m]`` (own direct gain on band m at power
``p_rel`` relative to ``p_top``, over the interference plus noise measured there) — and picks the
best band at the highest power that is both within its budget and, on a band with an active
incumbent, keeps its *predicted* interference at the incumbent ``safety_db`` below the threshold
(``pu_margin_db + p_rel <= −safety_db``, ``safety_db = 12 + 10 log10(K / M)``: the database
prediction leaves out the 8 dB shadowing, and the threshold bounds the aggregate of the ``K/M``
links that share a band on average). Bands where no
level satisfies this are excluded; a link with no usable band stays silent.

Simultaneous greedy moves make every link jump to the same quiet band and oscillate. Two
standard remedies damp that: hysteresis (a link leaves its band only for an estimated gain of at
least ``hysteresis_db``) and random activation (each link reconsiders its band with probability
``p_reconsider`` per slot; otherwise it keeps its band and only re-checks the power).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from baselines.spectrum import TASKS, band_available, constants, highest_level_within, stack, to_actions
from bench.policy import PolicyInfo


class GreedyChannelPolicy:
    """Greedy best-SINR sub-band with incumbent margin, hysteresis and random activation."""

    info = PolicyInfo(name="greedy_channel", version="1", paradigm="heuristic",
                      description="Each link moves to the sub-band with the best SINR estimated "
                                  "from its last measurements, at the highest power within its "
                                  "budget and an incumbent-protection margin (hysteresis 3 dB, "
                                  "random activation 1/2).")
    tasks = TASKS
    shadow_margin_db = 12.0          # ~1.5 sigma of the 8 dB shadowing the prediction leaves out
    hysteresis_db = 3.0
    p_reconsider = 0.5

    def __init__(self, env: Any) -> None:
        self.c = constants(env)
        # the threshold bounds the aggregate of the ~K/M links sharing the band: each keeps its
        # predicted share 10 log10(K/M) dB lower, plus the shadowing margin
        self.safety_db = self.shadow_margin_db + 10.0 * np.log10(max(self.c.n_links / self.c.n_bands, 1.0))
        self._rng = np.random.Generator(np.random.PCG64(0))
        self._band = np.full(self.c.n_links, -1, dtype=np.int64)

    def reset(self, seed: int) -> None:
        self._rng = np.random.Generator(np.random.PCG64(seed))
        self._band = np.full(self.c.n_links, -1, dtype=np.int64)

    def plan(self, obs: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per link and band: the power level to use (−1 = band unusable) and the estimated SINR
        (dB) at that level; and the available-band matrix. Shapes (K, M)."""
        c, lay = self.c, self.c.layout
        K, M = c.n_links, c.n_bands
        available = band_available(mask, c.n_bands, c.n_levels)
        budget = obs[:, lay["budget_db"]]                                   # (K, 1)
        cap = np.broadcast_to(budget, (K, M)).copy()
        pu_on = obs[:, lay["pu_active"]] > 0.5
        pu_cap = -obs[:, lay["pu_margin_db"]] - self.safety_db
        cap = np.where(pu_on, np.minimum(cap, pu_cap), cap)
        level = highest_level_within(c.levels_rel_db, cap)                    # (K, M)
        level = np.where(available, level, -1)
        p_rel = np.where(level >= 0, c.levels_rel_db[np.maximum(level, 0)], -np.inf)
        est = obs[:, lay["snr_db"]] + p_rel - obs[:, lay["inr_db"]]
        return level, est, available

    def act(self, observations: Mapping[str, Any]) -> dict[str, int]:
        c = self.c
        obs, mask = stack(observations, c.agents)
        level, est, _ = self.plan(obs, mask)
        K = c.n_links
        rows = np.arange(K)
        best = est.argmax(axis=1)
        usable = level[rows, best] >= 0
        cur = self._band
        cur_ok = (cur >= 0) & (level[rows, np.maximum(cur, 0)] >= 0)
        cur_est = np.where(cur_ok, est[rows, np.maximum(cur, 0)], -np.inf)
        reconsider = self._rng.random(K) < self.p_reconsider
        move = ~cur_ok | (reconsider & (est[rows, best] >= cur_est + self.hysteresis_db))
        band = np.where(move, np.where(usable, best, -1), cur)
        self._band = band
        lvl = np.where(band >= 0, level[rows, np.maximum(band, 0)], -1)
        return to_actions(c, band, lvl)
