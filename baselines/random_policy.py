"""Uniform random actions: the floor every task's ``zero`` anchors are usually measured from.

Speed. At 256-384 agents, sampling agent by agent (one Generator call, one dtype cast and one
dict entry each) cost as much as the env step. ``act`` therefore draws all agents' actions in one
Generator call when every agent's action space is of one kind (Box, MultiDiscrete, or Discrete of
one size) — drawing exactly the same numbers, in the same order, as the agent-by-agent loop that
defined version 1 of this baseline (kept as ``_sample``, used for Dict spaces and mixed kinds):

* Box: ``uniform(low, high)`` draws one double per element, ``low + (high - low) · U``, in C
  order, so one call on every agent's bounds concatenated (in agent order) equals the calls made
  one agent after another;
* MultiDiscrete / Discrete: ``integers(0, k)`` on an array of bounds draws each element as the
  scalar call would (Lemire's bounded method on the same 32-bit stream; ``k = 1`` draws nothing),
  and ``choice(c)`` of a 1-D array is ``c[integers(0, len(c))]``.

``tests/test_protocol.py`` checks this against the agent-by-agent loop on every released task and
scale and on awkward spaces, and replays committed random-baseline episodes of the leaderboard.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

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
        self._order = tuple(env.possible_agents)
        self._batch = _Batch.build([self._spaces[a] for a in self._order])
        self._rng = np.random.Generator(np.random.PCG64(0))

    def reset(self, seed: int) -> None:
        self._rng = np.random.Generator(np.random.PCG64(seed))

    def act(self, observations: Mapping[str, Any]) -> dict[str, Any]:
        if self._batch is not None and tuple(observations) == self._order:
            acts = self._batch.sample(self._rng, [observations[a] for a in self._order])
            if acts is not None:
                return dict(zip(self._order, acts))
        return {a: _sample(self._spaces[a], self._rng, observations[a]) for a in observations}


def _sample(space: spaces.Space, rng: np.random.Generator, obs: Any) -> Any:
    """One agent's action: the reference definition of the draws (see the module docstring)."""
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


class _Batch:
    """Every agent's draws in one Generator call (agents in ``possible_agents`` order)."""

    def __init__(self, kind: str, spaces_: Sequence[spaces.Space]) -> None:
        self.kind = kind
        self.n = len(spaces_)
        first = spaces_[0]
        if kind == "box":
            lows = [np.where(np.isfinite(s.low), s.low, -1.0).astype(np.float64).ravel() for s in spaces_]
            highs = [np.where(np.isfinite(s.high), s.high, 1.0).astype(np.float64).ravel() for s in spaces_]
            self.low, self.high = np.concatenate(lows), np.concatenate(highs)
            self.shapes = [s.shape for s in spaces_]
            self.dtypes = [s.dtype for s in spaces_]
        elif kind == "multidiscrete":
            self.nvec = np.concatenate([s.nvec.ravel() for s in spaces_])
            self.shapes = [s.nvec.shape for s in spaces_]
        else:  # discrete, one n and start for all
            self.size, self.start = int(first.n), int(first.start)
        if kind in ("box", "multidiscrete"):
            self.same = all(sh == self.shapes[0] for sh in self.shapes) and (
                kind != "box" or all(d == self.dtypes[0] for d in self.dtypes))
            sizes = [int(np.prod(sh)) for sh in self.shapes]
            self.splits = np.cumsum(sizes)[:-1]

    @classmethod
    def build(cls, spaces_: Sequence[spaces.Space]) -> "_Batch | None":
        if not spaces_:
            return None
        if all(type(s) is spaces.Box for s in spaces_):
            return cls("box", spaces_)
        if all(type(s) is spaces.MultiDiscrete for s in spaces_):
            return cls("multidiscrete", spaces_)
        if all(type(s) is spaces.Discrete for s in spaces_) and \
                len({(int(s.n), int(s.start)) for s in spaces_}) == 1:
            return cls("discrete", spaces_)
        return None  # Dict or mixed spaces: agent by agent

    def _split(self, flat: np.ndarray, dtype: Any = None) -> list[np.ndarray]:
        if self.same:
            out = flat.reshape((self.n, *self.shapes[0]))
            return list(out if dtype is None else out.astype(dtype))
        parts = np.split(flat, self.splits)
        dtypes = self.dtypes if dtype is not None else [None] * self.n
        return [p.reshape(sh) if dt is None else p.reshape(sh).astype(dt)
                for p, sh, dt in zip(parts, self.shapes, dtypes)]

    def sample(self, rng: np.random.Generator, obs: Sequence[Any]) -> list[Any] | None:
        """Actions in agent order, or None to fall back to agent-by-agent sampling."""
        if self.kind == "box":
            return self._split(rng.uniform(self.low, self.high), self.dtypes[0])
        if self.kind == "multidiscrete":
            return self._split(rng.integers(self.nvec))
        masks = [o.get("action_mask") if isinstance(o, Mapping) else None for o in obs]
        if all(m is None for m in masks):
            return (self.start + rng.integers(0, np.full(self.n, self.size))).tolist()
        if any(m is None for m in masks):
            return None
        allowed = np.stack([np.asarray(m).reshape(-1) for m in masks]) != 0
        if allowed.shape[1] != self.size:
            return None
        counts = allowed.sum(axis=1)
        if not counts.all():
            return None  # no allowed action: the reference path raises the error
        k = rng.integers(0, counts)                            # which allowed action, per agent
        pos = (np.cumsum(allowed, axis=1) > k[:, None]).argmax(axis=1)   # its index
        return (self.start + pos).tolist()
