"""The constant policy: every agent plays the middle of its action space at every step.

A floor with no intelligence at all (it ignores its observation), beside the random policy and
each task's naive heuristic: a learner that does not beat it by its confidence interval has
learned nothing the task rewards (issue 19's floors; docs/learners.md). The middle of a Box is
``(low + high) / 2`` (a side that is unbounded counts as 0, i.e. ``low`` or ``high`` alone when
the other is infinite); of a Discrete(n) it is action ``n // 2`` (the nearest allowed one, lower
first, under an action mask); of a MultiDiscrete each dimension's ``n_i // 2``.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from gymnasium import spaces

from bench.policy import PolicyInfo
from bench.registry import newest_task_ids


def middle(space: spaces.Space, mask: Any = None) -> Any:
    """The middle action of ``space`` (see the module docstring)."""
    if isinstance(space, spaces.Box):
        low = np.where(np.isfinite(space.low), space.low, 0.0)
        high = np.where(np.isfinite(space.high), space.high, 0.0)
        return ((low + high) / 2.0).astype(space.dtype)
    if isinstance(space, spaces.Discrete):
        n, mid = int(space.n), int(space.n) // 2
        if mask is None:
            return np.int64(space.start + mid)
        allowed = np.flatnonzero(np.asarray(mask).ravel()[:n])
        if allowed.size == 0:
            return np.int64(space.start + mid)
        return np.int64(space.start + allowed[np.argmin(np.abs(allowed - mid))])
    if isinstance(space, spaces.MultiDiscrete):
        return (np.asarray(space.nvec) // 2).astype(space.dtype)
    raise TypeError(f"constant policy: no middle action for a {type(space).__name__} action space")


class ConstantPolicy:
    """Plays the middle of every agent's action space, whatever it observes."""

    info = PolicyInfo(name="constant", version="1", paradigm="heuristic",
                      description="Every agent plays the middle of its action space at every step "
                                  "(ignores observations): the no-intelligence floor learners must beat.")
    tasks = tuple(newest_task_ids())  # the floor is measured where the learners are trained

    def __init__(self, env: Any) -> None:
        self._spaces = {a: env.action_space(a) for a in env.possible_agents}

    def reset(self, seed: int) -> None:
        """No state."""

    def act(self, observations: Mapping[str, Any]) -> dict[str, Any]:
        out = {}
        for a, obs in observations.items():
            mask = obs.get("action_mask") if isinstance(obs, Mapping) else None
            out[a] = middle(self._spaces[a], mask)
        return out
