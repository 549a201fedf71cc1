"""Uniform random actions: the floor every task's ``zero`` anchors are usually measured from."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from gymnasium import spaces

from bench.policy import PolicyInfo


class RandomPolicy:
    """Samples each agent's action uniformly from its action space (respecting action masks),
    with a Generator seeded by ``reset(seed)`` so that runs are reproducible."""

    info = PolicyInfo(name="random", version="1", paradigm="random",
                      description="Uniform random action per agent (respects action masks).")
    tasks = "*"

    def __init__(self, env: Any) -> None:
        self._spaces = {a: env.action_space(a) for a in env.possible_agents}
        self._rng = np.random.Generator(np.random.PCG64(0))

    def reset(self, seed: int) -> None:
        self._rng = np.random.Generator(np.random.PCG64(seed))

    def act(self, observations: Mapping[str, Any]) -> dict[str, Any]:
        return {a: _sample(self._spaces[a], self._rng, observations[a]) for a in observations}


def _sample(space: spaces.Space, rng: np.random.Generator, obs: Any) -> Any:
    mask = obs.get("action_mask") if isinstance(obs, Mapping) else None
    if isinstance(space, spaces.Box):
        low = np.where(np.isfinite(space.low), space.low, -1.0)
        high = np.where(np.isfinite(space.high), space.high, 1.0)
        return rng.uniform(low, high).astype(space.dtype)
    if isinstance(space, spaces.Discrete):
        choices = np.arange(space.n) if mask is None else np.flatnonzero(mask)
        return int(space.start + rng.choice(choices))
    if isinstance(space, spaces.MultiDiscrete):
        return np.array([rng.integers(n) for n in space.nvec.ravel()]).reshape(space.nvec.shape)
    if isinstance(space, spaces.Dict):
        return {k: _sample(s, rng, None) for k, s in space.spaces.items()}
    raise TypeError(f"RandomPolicy cannot sample a {type(space).__name__} action space")
