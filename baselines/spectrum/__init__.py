"""Reference baselines for ``spectrum/Interference-v1`` and ``-v2`` and the helpers they share.

=====================  ==========================================  =============  ===============
name (proposed)        class                                       paradigm       information
=====================  ==========================================  =============  ===============
``full_power``         ``full_power:FullPowerRandomBandPolicy``    heuristic      observations
``greedy_channel``     ``greedy:GreedyChannelPolicy``              heuristic      observations
``wmmse``              ``wmmse_policy:WmmsePolicy``                oracle         true CSI
``joint_oracle``       ``milp_oracle:JointOptimumOracle``          oracle         true CSI
``safe_random`` (v2)   ``safe_random:SafeRandomBandPolicy``        random         observations
``wmmse_delayed`` (v2) ``wmmse_delayed:DelayedWmmsePolicy``        centralised          1-slot-old CSI
=====================  ==========================================  =============  ===============

On v2, ``safe_random`` is the zero anchor of the score and ``wmmse_delayed`` its one anchor (what a
central controller reaches with the CSI the agents have, one slot old); ``wmmse`` and
``joint_oracle`` stay reported perfect-CSI bounds.

Only ``env.params``, the spaces and the observations are read by the heuristics; the two
``oracle`` policies read the current slot's true channel through ``env.oracle_view()`` (WMMSE is
classically evaluated with perfect, current CSI — Shi et al. 2011, Sun et al. 2018, Nasir & Guo
2019 — which no agent of the task has).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from tasks.spectrum.interference import encode_actions, observation_layout

TASK = "spectrum/Interference-v1"
TASK_V2 = "spectrum/Interference-v2"
TASKS = (TASK, TASK_V2)


@dataclass(frozen=True)
class Constants:
    """Public constants of an instance, read from ``env.params`` (no hidden state)."""

    agents: tuple[str, ...]
    n_links: int
    n_bands: int
    levels_dbm: np.ndarray        # (L,), decreasing
    layout: dict[str, slice]

    @property
    def n_levels(self) -> int:
        return len(self.levels_dbm)

    @property
    def levels_rel_db(self) -> np.ndarray:
        """Levels relative to the top level ``p_top``, dB (0, −3, ...)."""
        return self.levels_dbm - self.levels_dbm[0]


def constants(env: Any) -> Constants:
    p = env.params
    K, M = int(p["n_links"]), int(p["n_bands"])
    n_nb = min(int(p["neighbours"]), K - 1)
    return Constants(agents=tuple(env.possible_agents), n_links=K, n_bands=M,
                     levels_dbm=np.array([float(x) for x in p["power_levels_dbm"]]),
                     layout=observation_layout(M, n_nb))


def stack(observations: Mapping[str, Any], agents: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(K, D) observation matrix (float64) and (K, A) action masks, in agent order."""
    obs = np.stack([observations[a]["observation"] for a in agents]).astype(np.float64)
    mask = np.stack([observations[a]["action_mask"] for a in agents]).astype(bool)
    return obs, mask


def band_available(mask: np.ndarray, n_bands: int, n_levels: int) -> np.ndarray:
    """(K, M) bool: bands on which some level is allowed by each agent's mask (on v2 the levels
    above a device's budget are masked, so the top level alone does not tell)."""
    return mask[:, 1:].reshape(len(mask), n_bands, n_levels).any(axis=2)


def highest_level_within(levels_rel_db: np.ndarray, cap_rel_db: np.ndarray) -> np.ndarray:
    """Index of the highest level whose power (relative to ``p_top``, dB) is ``<= cap`` (small
    tolerance), −1 where none is; ``cap`` of any shape."""
    ok = levels_rel_db[None, :] <= np.asarray(cap_rel_db, dtype=float).reshape(-1, 1) + 1e-9
    first = ok.argmax(axis=1)              # levels are decreasing: the first allowed is the highest
    return np.where(ok.any(axis=1), first, -1).reshape(np.shape(cap_rel_db))


def quantize_powers(power_mw: np.ndarray, levels_mw: np.ndarray, budget_mw: np.ndarray,
                    silence_below_db: float = 3.0) -> np.ndarray:
    """Nearest level in dB to each continuous power among the levels within the device's budget;
    −1 (silent) where the power is more than ``silence_below_db`` under the lowest level or no
    level fits the budget."""
    p_db = 10.0 * np.log10(np.maximum(power_mw, 1e-300))
    lv_db = 10.0 * np.log10(levels_mw)
    allowed = levels_mw[None, :] <= budget_mw[:, None] * (1 + 1e-9)            # (K, L)
    dist = np.abs(p_db[:, None] - lv_db[None, :])
    dist = np.where(allowed, dist, np.inf)
    lvl = dist.argmin(axis=1)
    silent = (p_db < lv_db.min() - silence_below_db) | ~allowed.any(axis=1)
    return np.where(silent, -1, lvl)


def to_actions(c: Constants, band: np.ndarray, level: np.ndarray) -> dict[str, int]:
    """Per-agent action dict from bands (−1 = silent) and level indices."""
    band = np.where(np.asarray(level) < 0, -1, band)
    a = encode_actions(band, np.maximum(level, 0), c.n_levels)
    return dict(zip(c.agents, a.tolist()))
