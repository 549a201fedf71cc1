"""Shared plumbing for RAO-Bench simulators: the PettingZoo parallel contract, seeding, infos.

Contract every task env follows (the harness relies on it, `bench.checks` tests it):

* ``possible_agents`` is fixed for a scale; agents never appear or vanish mid-episode. At the
  horizon every agent is truncated together and ``agents`` becomes empty.
* ``reset(seed)`` seeds one ``numpy.random.Generator`` owned by the env (``self.np_random``);
  every random draw of the episode comes from it, never from the global RNG.
* ``infos[agent]`` each step carries ``{"kpi": {counter: increment}, "violations": {constraint:
  exceedance >= 0}}`` — every constraint of the spec, 0.0 when not violated — so that the harness,
  not the policy, computes KPIs and safety from what the simulator reports.
* ``state()`` returns the global state vector for centralised critics.
* Interop: ``render_mode`` is ``None`` (``metadata["render_modes"]`` is empty: the tasks draw
  nothing), and an env deep-copies and pickles mid-episode, the copy playing on exactly as the
  original would — what SuperSuit's ``concat_vec_envs_v1`` and process-based vector envs need
  (``tests/test_interop.py`` checks it on every task).
"""

from __future__ import annotations

import functools
from typing import Any, Mapping

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from bench.spec import EnvConfig


class RaoParallelEnv(ParallelEnv):
    """Base class: subclasses set ``possible_agents``, the spaces, and implement
    ``_reset_sim()``, ``_step_sim(actions)``, ``_observe()`` and ``state()``."""

    metadata: dict[str, Any] = {"render_modes": [], "is_parallelizable": True}
    render_mode: str | None = None
    #: attributes through which a privileged oracle may take decisions inside ``step`` (e.g. a
    #: per-job dispatch hook) instead of through its actions: such decisions are not in the action
    #: log, so ``rao-bench verify`` cannot replay them (``bench.submit.verify``)
    DECISION_HOOKS: tuple[str, ...] = ()

    def __init__(self, config: EnvConfig) -> None:
        self.render_mode = None
        self.config = config
        self.spec_id = config.spec.id
        self.params: Mapping[str, Any] = config.params
        self.horizon = config.horizon
        self.constraint_names = tuple(c.name for c in config.spec.constraints)
        self.metadata = {**type(self).metadata, "name": config.spec.id.replace("/", "_")}
        self.np_random: np.random.Generator | None = None
        self.agents: list[str] = []
        self.t = 0

    # -- spaces: subclasses fill these dicts once in __init__, so each call returns the same object
    _observation_spaces: dict[str, spaces.Space]
    _action_spaces: dict[str, spaces.Space]

    def observation_space(self, agent: str) -> spaces.Space:
        return self._observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self._action_spaces[agent]

    @functools.cached_property
    def state_space(self) -> spaces.Space:
        shape = np.asarray(self._state_template()).shape
        return spaces.Box(-np.inf, np.inf, shape=shape, dtype=np.float64)

    def _state_template(self) -> np.ndarray:
        """A state-shaped array; subclasses may override if ``state()`` needs a reset first."""
        return self.state()

    # -- lifecycle --------------------------------------------------------------------------------
    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self.np_random = np.random.Generator(np.random.PCG64(seed))
        elif self.np_random is None:
            self.np_random = np.random.Generator(np.random.PCG64(np.random.SeedSequence()))
        # with seed=None on a used env we continue the env's own stream (Gymnasium's convention)
        self.agents = list(self.possible_agents)
        self.t = 0
        self._reset_sim()
        obs = self._observe()
        infos = {a: {} for a in self.agents}
        return obs, infos

    def step(self, actions: Mapping[str, Any]):
        if not self.agents:
            raise RuntimeError("step() called on a finished episode: call reset() first")
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise ValueError(f"actions are missing for agents {missing[:5]}; pass one per live agent")
        rewards, kpi, violations = self._step_sim(actions)
        self.t += 1
        obs = self._observe()
        done = self.t >= self.horizon
        terminations = {a: False for a in self.agents}
        truncations = {a: done for a in self.agents}
        infos = {a: {"kpi": kpi[a], "violations": violations[a]} for a in self.agents}
        rewards = {a: float(rewards[a]) for a in self.agents}
        if done:
            self.agents = []
        return obs, rewards, terminations, truncations, infos

    def render(self) -> None:
        """Nothing to draw: the tasks have no render modes (``render_mode`` is always None)."""
        return None

    # -- copying and pickling ---------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        return state_with_views(self.__dict__)

    def __setstate__(self, state: dict[str, Any]) -> None:
        restore_views(self, state)

    # -- to implement ---------------------------------------------------------------------------------
    def _reset_sim(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _step_sim(self, actions: Mapping[str, Any]) -> tuple[dict, dict, dict]:  # pragma: no cover
        """Advance one decision period; return (rewards, kpi increments, violations) per agent."""
        raise NotImplementedError

    def _observe(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def state(self) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- helpers ----------------------------------------------------------------------------------------
    def no_violations(self) -> dict[str, float]:
        return dict.fromkeys(self.constraint_names, 0.0)


def state_with_views(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """An object's attributes for pickle/deepcopy, with each array that is a view into another
    attribute's array (a flat view of a ring buffer, a float view of a complex array) stored as
    where it lies in that array. Copied as an array, the view would become independent: writes
    through it would no longer reach the array it views, and the copy would play another episode.
    :func:`restore_views` is the inverse (call both from ``__getstate__``/``__setstate__``)."""
    state = dict(attributes)
    arrays = [(k, v) for k, v in state.items() if isinstance(v, np.ndarray) and v.size
              and v.dtype != object]
    # owners: the largest contiguous arrays not lying inside another owner (an array that is
    # itself a view of a temporary, e.g. np.zeros(n).reshape(r, c), owns for this purpose)
    owners: list[tuple[str, np.ndarray]] = []
    for k, v in sorted(arrays, key=lambda kv: -kv[1].nbytes):
        contiguous = v.flags.c_contiguous or v.flags.f_contiguous
        if contiguous and not any(_inside(v, o) for _, o in owners):
            owners.append((k, v))
    owner_names = {k for k, _ in owners}
    for k, v in arrays:
        if k in owner_names:
            continue
        for name, owner in owners:
            if _inside(v, owner):
                state[k] = _ViewOf(name, v.ctypes.data - owner.ctypes.data, v.shape,
                                   v.strides, v.dtype, v.flags.writeable)
                break
    return state


def restore_views(obj: Any, state: Mapping[str, Any]) -> None:
    """Set ``obj``'s attributes from a :func:`state_with_views` state, views rebuilt on their arrays."""
    obj.__dict__.update(state)
    for k, v in state.items():
        if isinstance(v, _ViewOf):
            setattr(obj, k, v.rebuild(state[v.owner]))


def _inside(view: np.ndarray, owner: np.ndarray) -> bool:
    """Whether every byte ``view`` can address lies in ``owner``'s (contiguous) buffer."""
    if not (owner.flags.c_contiguous or owner.flags.f_contiguous) or view.size == 0:
        return False
    lo, hi = np.lib.array_utils.byte_bounds(view) if hasattr(np.lib, "array_utils") \
        else np.byte_bounds(view)  # numpy < 2
    start = owner.ctypes.data
    return start <= lo and hi <= start + owner.nbytes


class _ViewOf:
    """Where a view lies in another attribute's array: rebuilt on that array after a copy."""

    def __init__(self, owner: str, offset: int, shape: tuple[int, ...], strides: tuple[int, ...],
                 dtype: np.dtype, writeable: bool) -> None:
        self.owner, self.offset, self.shape, self.strides = owner, offset, shape, strides
        self.dtype, self.writeable = dtype, writeable

    def rebuild(self, owner: np.ndarray) -> np.ndarray:
        view = np.ndarray(self.shape, self.dtype, buffer=owner, offset=self.offset,
                          strides=self.strides)
        view.flags.writeable = self.writeable and owner.flags.writeable
        return view
