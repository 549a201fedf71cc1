"""What a learner trains on, and what its training cost: the harness side of every MARL baseline.

A learner (``baselines/learners/ippo.py`` and friends) never builds envs or picks seeds itself. It asks for
a :class:`TrainingEnv`, which

* resets only with seeds from the task's training range, drawn from a stream seeded by the
  learner's seed, so the evaluation seeds can never leak into training and a training run is
  reproducible from its seed;
* counts every constraint violation over the whole run (the survey's open question on safe
  exploration: what does a learner break while it learns?), and the steps, episodes and wall time
  spent, against a declared :class:`Budget`;
* optionally replaces the env's reward with the founding paper's HyperScore "feedback loop": each
  step, every agent receives ``(H - 100) / (H_max - 100)`` where ``H`` is the HyperScore of the
  task's value score V computed over the last ``window`` steps' KPIs (see docs/metrics.md).

:func:`merge_records` folds the records of several runs (one per scale trained, or parallel runs)
into the ``algorithm.training`` block of the result JSON, and :func:`train_function` runs any
outside learner ``train(make_env, out_dir, seed)`` through all of this (``rao-bench train
MODULE:FUNCTION TASK``; docs/learners.md).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import itertools
import json
import math
import os
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from gymnasium import spaces as gym_spaces
from pettingzoo import ParallelEnv

from bench import metrics
from bench.episode import aggregate_kpi
from bench.registry import get_spec, make
from bench.spec import TaskSpec

REWARDS = ("env", "hyperscore")
#: The last VALIDATION_SEEDS seeds of a task's training range are held out: a run's stream never
#: draws them, so a learner's greedy validation on them (:meth:`TrainingEnv.validate`, the
#: learning curve and the plateau stop) measures play on seeds it has not trained on.
VALIDATION_SEEDS = 16
#: why a run stopped: its step budget, its wall-time cap, the learner's own rule (e.g. a plateau of
#: its validation curve, :meth:`TrainingEnv.stop`), or the learner without saying why
STOP_REASONS = ("env_steps", "wall_time", "plateau", "learner")
#: fields of a run record that measure time, not training (they differ between identical runs)
TIMING_FIELDS = ("wall_time_s", "started_unix_s")


@dataclass(frozen=True)
class Budget:
    """A training run stops at whichever comes first. The step budget is the reproducible one; a
    run stopped by the wall-time cap says so in its record, because it depends on the machine."""

    env_steps: int
    wall_time_s: float

    def __post_init__(self) -> None:
        if int(self.env_steps) != self.env_steps or self.env_steps < 1:
            raise ValueError(f"budget env_steps must be a positive integer, got {self.env_steps!r}")
        if not self.wall_time_s > 0:
            raise ValueError(f"budget wall_time_s must be > 0 seconds, got {self.wall_time_s!r}")


@dataclass
class _Ledger:
    env_steps: int = 0
    agent_steps: int = 0
    episodes: int = 0
    seeds: list[int] = field(default_factory=list)
    violation_steps: dict[str, int] = field(default_factory=dict)
    exceedance: dict[str, float] = field(default_factory=dict)
    validation_env_steps: int = 0
    validation_episodes: int = 0


class BudgetExhausted(RuntimeError):
    """A strict training env (``rao-bench train MODULE:FUNCTION``) refuses to step once its budget
    is spent, so that no outside learner can overspend; check ``env.exhausted()``. (A reset, which
    spends nothing, is still allowed: vector envs reset finished episodes automatically.)"""


@dataclass(eq=False)
class _Run:
    """One training run: its seed stream, budget and ledger. Every env of the run shares it —
    copies (deepcopy, pickle in this process, SuperSuit's ``concat_vec_envs_v1``) and
    :meth:`TrainingEnv.spawn` — so that all of their steps are counted against one budget and
    their episodes draw distinct seeds from one stream."""

    key: str
    seed: int
    budget: Budget
    strict: bool
    ledger: _Ledger
    seed_rng: np.random.Generator
    t0: float = field(default_factory=time.perf_counter)
    started_unix_s: float = field(default_factory=time.time)
    stopped_by: str | None = None
    holdout: bool = True


_RUNS: "weakref.WeakValueDictionary[str, _Run]" = weakref.WeakValueDictionary()
_RUN_IDS = itertools.count()


class TrainingEnv(ParallelEnv):
    """A PettingZoo parallel env of one task cell that only ever plays training seeds.

    Same interface as the task env (``possible_agents``, ``agents``, spaces, ``state()``,
    ``step()``), with ``reset(seed=None)`` drawing the next training seed from the run's own
    stream (seeded by the learner's ``seed``); an explicit ``seed`` must lie in the task's
    training range, or it is refused. It passes ``pettingzoo.test.parallel_api_test``;
    ``unwrapped`` is the training env itself, so that wrappers (SuperSuit) stay on the ledger.
    The task env is ``.env`` (its public parameters: ``.env.params``).

    ``strict=True`` (what ``rao-bench train MODULE:FUNCTION`` uses) makes ``step`` raise
    :class:`BudgetExhausted` once the budget is spent; the reference learners check
    :meth:`exhausted` between rollouts instead. ``holdout=True`` (the default) keeps the last
    VALIDATION_SEEDS training seeds out of the stream for :meth:`validate`; ``False`` draws from the
    whole range (how the v1 reference entries were trained, so their commands still reproduce them).
    """

    metadata: dict[str, Any] = {"render_modes": [], "is_parallelizable": True}
    render_mode: str | None = None

    def __init__(self, task_id: str, *, seed: int, budget: Budget, scale: str | None = None,
                 scenario: str | None = None, reward: str = "env", window: int | None = None,
                 strict: bool = False, holdout: bool = True) -> None:
        if reward not in REWARDS:
            raise ValueError(f"reward must be one of {REWARDS}, got {reward!r}")
        spec = get_spec(task_id)
        run = _Run(key=f"{os.getpid()}-{next(_RUN_IDS)}-{id(self)}", seed=int(seed), budget=budget,
                   strict=bool(strict), ledger=_Ledger(),
                   seed_rng=np.random.Generator(np.random.PCG64(int(seed))), holdout=bool(holdout))
        _RUNS[run.key] = run
        self._attach(spec, make(task_id, scale=scale, scenario=scenario), run, reward, window)
        led = run.ledger
        led.violation_steps = dict.fromkeys(self.env.constraint_names, 0)
        led.exceedance = dict.fromkeys(self.env.constraint_names, 0.0)

    def _attach(self, spec: TaskSpec, env: Any, run: _Run, reward: str, window: int | None) -> None:
        self.spec = spec
        self.env = env
        self._run = run
        self.scale = env.config.scale.name
        self.scenario = env.config.scenario.name
        self.reward = reward
        self.window = int(window if window is not None else spec.recovery.window)
        if self.window < 1:
            raise ValueError(f"window must be >= 1 steps, got {self.window!r}")
        self.metadata = {**type(self).metadata, "name": f"training_{env.metadata.get('name', spec.id)}"}
        self.render_mode = None
        self._eval = frozenset(spec.seeds.eval)
        self._anchors = spec.anchors_at(self.scale)
        self._history: dict[str, list[float]] = {}
        hp = spec.hyperscore
        self._h_max = float(metrics.hyperscore(1.0, hp.beta, hp.gamma, hp.kappa))

    def spawn(self) -> "TrainingEnv":
        """Another env of this run (same task cell and reward), e.g. to step several episodes at
        once: its steps count against the same budget and its seeds come from the same stream."""
        other = object.__new__(type(self))
        other._attach(self.spec, make(self.spec.id, scale=self.scale, scenario=self.scenario),
                      self._run, self.reward, self.window)
        return other

    # -- copies stay on the run's ledger ----------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_run"] = state["_run"].key
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        key = state["_run"]
        run = _RUNS.get(key)
        if run is None:
            raise RuntimeError(
                "a TrainingEnv copy can only be made in the process that trains (its budget and "
                "violation ledger are counted there): vectorise in-process, e.g. SuperSuit's "
                "concat_vec_envs_v1(..., num_cpus=0), or use env.spawn()")
        self.__dict__.update(state)
        self._run = run

    # -- the env interface ---------------------------------------------------------------------
    @property
    def seed(self) -> int:
        """The learner's seed, which seeds this run's stream of training seeds."""
        return self._run.seed

    @property
    def budget(self) -> Budget:
        return self._run.budget

    @property
    def _ledger(self) -> _Ledger:
        return self._run.ledger

    @property
    def possible_agents(self) -> list[str]:  # type: ignore[override]
        return self.env.possible_agents

    @property
    def agents(self) -> list[str]:  # type: ignore[override]
        return self.env.agents

    def observation_space(self, agent: str) -> Any:
        return self.env.observation_space(agent)

    def action_space(self, agent: str) -> Any:
        return self.env.action_space(agent)

    @functools.cached_property
    def state_space(self) -> Any:
        """The task env's state space in float32, the dtype of :meth:`state`."""
        shape = self.env.state_space.shape
        return gym_spaces.Box(-np.inf, np.inf, shape=shape, dtype=np.float32)

    def state(self) -> np.ndarray:
        return np.asarray(self.env.state(), dtype=np.float32)

    @property
    def horizon(self) -> int:
        return self.env.horizon

    @property
    def unwrapped(self) -> "TrainingEnv":
        return self

    def render(self) -> None:
        """Nothing to draw (``render_mode`` is None)."""
        return None

    def close(self) -> None:
        self.env.close()

    def next_seed(self) -> int:
        s = self.spec.seeds
        held_out = s.train_stop - VALIDATION_SEEDS if self._run.holdout else s.train_stop
        while True:
            seed = int(self._run.seed_rng.integers(s.train_start, s.train_stop))
            # the ranges are disjoint (the eval check guards a bad spec); validation seeds are held out
            if seed not in self._eval and seed < held_out:
                return seed

    def validation_seeds(self, n: int) -> list[int]:
        """The first ``n`` (at most VALIDATION_SEEDS) held-out training seeds: never drawn by
        :meth:`next_seed`, disjoint from the evaluation seeds, the same for every run."""
        if not 1 <= n <= VALIDATION_SEEDS:
            raise ValueError(f"validation episodes must be in [1, {VALIDATION_SEEDS}], got {n!r}")
        if not self._run.holdout:
            raise ValueError("this run was made with holdout=False, so it may have trained on the "
                             "validation seeds; make the TrainingEnv with holdout=True to validate")
        s = self.spec.seeds
        return list(range(s.train_stop - VALIDATION_SEEDS, s.train_stop - VALIDATION_SEEDS + n))

    def validate(self, policy: Any, episodes: int) -> dict[str, Any]:
        """Play ``policy`` (``reset(seed)``/``act(obs)``, e.g. the learner's current greedy actor)
        on ``episodes`` held-out validation seeds in a separate env of this cell, scored by the
        harness exactly as the evaluation protocol scores an episode. Its steps are counted apart
        (``validation`` in the record), not against the training budget: they teach nothing."""
        from bench.episode import run_episode

        env = self.__dict__.get("_val_env")
        if env is None:
            env = self.__dict__["_val_env"] = make(self.spec.id, scale=self.scale, scenario=self.scenario)
        recs = [run_episode(env, policy, seed, self.spec) for seed in self.validation_seeds(episodes)]
        led = self._ledger
        led.validation_episodes += len(recs)
        led.validation_env_steps += sum(int(r["steps"]) for r in recs)
        v = np.array([r["V"] for r in recs], dtype=np.float64)
        return {"env_steps": self.env_steps, "V": float(v.mean()), "V_sd": float(v.std()),
                "mean_return": float(np.mean([r["mean_return"] for r in recs]))}

    def stop(self, reason: str = "plateau") -> None:
        """The learner ends the run before its budget (e.g. its validation curve plateaued);
        :meth:`exhausted` is True from now on and the record says ``stopped_by: reason``."""
        if reason not in STOP_REASONS:
            raise ValueError(f"stop reason must be one of {STOP_REASONS}, got {reason!r}")
        if self._run.stopped_by is None:
            self._run.stopped_by = reason

    def _check_training_seed(self, seed: Any) -> int:
        s = self.spec.seeds
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) \
                or not s.train_start <= int(seed) < s.train_stop or int(seed) in self._eval:
            raise ValueError(f"reset(seed={seed!r}): a training env plays only training seeds, "
                             f"integers in [{s.train_start}, {s.train_stop}) of {self.spec.id}; "
                             "pass one of them, or seed=None to draw the next from the run's stream")
        return int(seed)

    def reset(self, seed: int | None = None,
              options: dict | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        seed = self.next_seed() if seed is None else self._check_training_seed(seed)
        self._ledger.seeds.append(seed)
        self._ledger.episodes += 1
        self._history = {}
        return self.env.reset(seed=seed, options=options)

    def step(self, actions: Mapping[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        if self._run.strict and self.exhausted():
            raise BudgetExhausted(self._spent())
        obs, rewards, terms, truncs, infos = self.env.step(actions)
        led = self._ledger
        led.env_steps += 1
        led.agent_steps += len(infos)
        totals: dict[str, float] = {}
        for info in infos.values():
            for name, x in info.get("violations", {}).items():
                if x > 0:
                    led.violation_steps[name] += 1
                    led.exceedance[name] += float(x)
            for name, x in info.get("kpi", {}).items():
                totals[name] = totals.get(name, 0.0) + float(x)
        if self.reward == "hyperscore":
            r = self._hyperscore_reward(totals)
            rewards = dict.fromkeys(rewards, r)
        return obs, rewards, terms, truncs, infos

    def _spent(self) -> str:
        b = self.budget
        return (f"training budget spent ({self._run.stopped_by}: {self.env_steps} of {b.env_steps} "
                f"env steps, {self.wall_time_s:.1f} of {b.wall_time_s:g} s); stop training when "
                "env.exhausted() is True")

    def _hyperscore_reward(self, totals: Mapping[str, float]) -> float:
        """The feedback loop: HyperScore of V over the last ``window`` steps, scaled to [0, 1]."""
        return hyperscore_feedback(self.spec, self._anchors, self.window, self._h_max,
                                   self._history, totals)

    # -- the budget and the record -------------------------------------------------------------
    @property
    def env_steps(self) -> int:
        return self._ledger.env_steps

    @property
    def steps_left(self) -> int:
        """Env steps left in the run's budget (a learner can stop before an episode it cannot
        finish: a strict env refuses the step past the budget)."""
        return max(self.budget.env_steps - self._ledger.env_steps, 0)

    @property
    def wall_time_s(self) -> float:
        return time.perf_counter() - self._run.t0

    def exhausted(self) -> bool:
        """True once the budget is spent; learners check it between rollouts."""
        run = self._run
        if run.stopped_by is None:
            if run.ledger.env_steps >= run.budget.env_steps:
                run.stopped_by = "env_steps"
            elif self.wall_time_s >= run.budget.wall_time_s:
                run.stopped_by = "wall_time"
        return run.stopped_by is not None

    def record(self) -> dict[str, Any]:
        """This run's share of the ``algorithm.training`` block (see :func:`merge_records`)."""
        led = self._ledger
        if self._run.stopped_by is None and led.env_steps >= self.budget.env_steps:
            self._run.stopped_by = "env_steps"  # spent to the last step, whoever checked
        return {
            "scale": self.scale,
            "scenario": self.scenario,
            "seed": self.seed,
            "reward": self.reward,
            "env_steps": led.env_steps,
            "agent_steps": led.agent_steps,
            "episodes": led.episodes,
            "wall_time_s": round(self.wall_time_s, 3),
            "started_unix_s": round(self._run.started_unix_s, 3),
            "budget": {"env_steps": int(self.budget.env_steps),
                       "wall_time_s": float(self.budget.wall_time_s)},
            "stopped_by": self._run.stopped_by or "learner",
            "seeds": list(led.seeds),
            "violations": {c: {"agent_steps": led.violation_steps[c],
                               "exceedance": led.exceedance[c]} for c in led.violation_steps},
            **({"validation": {"episodes": led.validation_episodes,
                               "env_steps": led.validation_env_steps}}
               if led.validation_episodes else {}),
        }


def hyperscore_feedback(spec: TaskSpec, anchors: Any, window: int, h_max: float,
                        history: dict[str, list[float]], totals: Mapping[str, float]) -> float:
    """One step of the founding paper's feedback loop for one episode: append the step's team KPI
    counters ``totals`` to the episode's ``history`` (in place), then return the HyperScore of V
    over the last ``window`` steps scaled to [0, 1]. Shared by :class:`TrainingEnv` and
    :class:`VectorTrainingEnv` (one history per episode), so both reward exactly alike."""
    n = len(next(iter(history.values()))) if history else 0
    for name in totals.keys() | history.keys():
        history.setdefault(name, [0.0] * n).append(totals.get(name, 0.0))
    series = {k: np.asarray(v[-window:], dtype=np.float64) for k, v in history.items()}
    kpis = {k.name: aggregate_kpi(k, series) for k in spec.kpis if k.name in spec.weights}
    V = metrics.value_score(kpis, anchors, spec.weights)
    hp = spec.hyperscore
    H = float(metrics.hyperscore(V, hp.beta, hp.gamma, hp.kappa))
    return (H - 100.0) / (h_max - 100.0)


# ---------------------------------------------------------------------------------------------
# vectorised training: B episodes of one run stepped at once by a task's batch engine
# ---------------------------------------------------------------------------------------------
#: Tasks with a vectorised engine that reproduces the env's episodes (``module:Class``; the class
#: takes ``(batch_size, scale=, scenario=)`` and has ``reset(seeds)``, ``step(actions)`` returning
#: ``(obs, team reward (B,), kpi, violations)`` per agent as (B,) arrays, ``state()`` and
#: ``agents``). Each is tested against the env it replaces (tests/supply_chain/test_three_tier_batch.py).
VECTOR_ENGINES: dict[str, str] = {
    "supply_chain/ThreeTier-v2": "tasks.supply_chain.three_tier_batch:ThreeTierBatch",
}


def has_vector_engine(task_id: str) -> bool:
    """Whether ``task_id`` can be trained through :class:`VectorTrainingEnv`."""
    return get_spec(task_id).id in VECTOR_ENGINES


class VectorTrainingEnv:
    """``num_envs`` training episodes of one run stepped at once by the task's vectorised engine
    (``VECTOR_ENGINES``), on the same ledger rules as :class:`TrainingEnv`.

    It wraps one :class:`TrainingEnv` of the run (``.single``), which owns the seed stream, the
    budget, the violation ledger, validation and the record, so that everything a run promises
    holds unchanged: ``reset()`` draws ``num_envs`` training seeds from the run's stream (never a
    held-out validation seed nor an evaluation seed) and starts that many episodes; ``step``
    counts ``num_envs`` env steps against the one budget (a strict env refuses a step that would
    pass it) and every violating agent-step of every episode; with ``reward="hyperscore"`` each
    episode gets the feedback loop of :func:`hyperscore_feedback`, as a single env would.
    Validation (:meth:`validate`) and evaluation stay on the task's own env.

    Arrays are episode-major: ``reset`` and ``step`` return ``{agent: (num_envs, ...)}`` and take
    actions the same way; all episodes start together and end together (fixed horizon).
    """

    def __init__(self, task_id: str, *, num_envs: int, seed: int, budget: Budget,
                 scale: str | None = None, scenario: str | None = None, reward: str = "env",
                 window: int | None = None, strict: bool = False, holdout: bool = True) -> None:
        spec = get_spec(task_id)
        if spec.id not in VECTOR_ENGINES:
            raise ValueError(f"{spec.id} has no vectorised engine (VECTOR_ENGINES: "
                             f"{', '.join(VECTOR_ENGINES)}); train it through TrainingEnv")
        if int(num_envs) != num_envs or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        self.single = TrainingEnv(task_id, seed=seed, budget=budget, scale=scale, scenario=scenario,
                                  reward=reward, window=window, strict=strict, holdout=holdout)
        engine_cls = load_function(VECTOR_ENGINES[spec.id])
        self.num_envs = int(num_envs)
        self.engine = engine_cls(self.num_envs, scale=self.single.scale, scenario=self.single.scenario)
        if self.engine.possible_agents != self.single.possible_agents:
            raise RuntimeError(f"the vectorised engine of {spec.id} has agents "
                               f"{self.engine.possible_agents}, the env {self.single.possible_agents}")
        self._histories: list[dict[str, list[float]]] = []

    # -- what the run's TrainingEnv answers ------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        if name in ("spec", "scale", "scenario", "reward", "window", "seed", "budget", "horizon",
                    "possible_agents", "observation_space", "action_space", "state_space",
                    "env_steps", "steps_left", "wall_time_s", "exhausted", "stop",
                    "validation_seeds", "record", "next_seed", "_ledger", "_run", "env"):
            return getattr(self.__dict__["single"], name)
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    @property
    def agents(self) -> list[str]:
        """The agents of the running episodes ([] once they ended: call :meth:`reset`)."""
        return self.engine.agents

    def state(self) -> np.ndarray:
        """Global state of every episode, float32 (num_envs, state dim), as ``TrainingEnv.state``."""
        return np.asarray(self.engine.state(), dtype=np.float32)

    def validate(self, policy: Any, episodes: int) -> dict[str, Any]:
        """:meth:`TrainingEnv.validate` with the ``episodes`` held-out validation episodes played
        side by side in the vectorised engine, which reproduces the task env's episodes within
        ``bench.reproduce``'s tolerance (the SimPy env costs ~20x more per step: at ThreeTier-v2's
        paper scale 4 validation episodes took 18 s there). ``policy`` acts on each episode's own
        observations, as in the env; each episode is scored as ``bench.episode.run_episode``
        scores it (team KPI counters summed over agents, the spec's aggregates, V from the
        scale's anchors; tests/marl/test_vector_training.py checks the two agree)."""
        seeds = self.validation_seeds(episodes)
        engine = self.__dict__.get("_val_engine")
        if engine is None or engine.B != len(seeds):
            engine_cls = load_function(VECTOR_ENGINES[self.spec.id])
            engine = self.__dict__["_val_engine"] = engine_cls(len(seeds), scale=self.scale,
                                                               scenario=self.scenario)
        obs = engine.reset(seeds)
        for seed in seeds:
            policy.reset(seed)
        agents = list(engine.possible_agents)
        E = len(seeds)
        counters: dict[str, list[np.ndarray]] = {}
        returns = np.zeros(E)
        steps = 0
        while engine.agents:
            per = [policy.act({a: obs[a][j] for a in agents}) for j in range(E)]
            actions = {a: np.stack([np.asarray(per[j][a], dtype=np.float64).ravel() for j in range(E)])
                       for a in agents}
            obs, team, kpi, _ = engine.step(actions)
            returns += np.asarray(team, dtype=np.float64) * len(agents)  # every agent's reward
            totals: dict[str, np.ndarray] = {}
            for a in agents:
                for name, x in kpi[a].items():
                    totals[name] = totals.get(name, 0.0) + np.asarray(x, dtype=np.float64)
            for name in totals.keys() | counters.keys():
                counters.setdefault(name, [np.zeros(E)] * steps).append(totals.get(name, np.zeros(E)))
            steps += 1
        anchors = self.single._anchors
        Vs = []
        for j in range(E):
            series = {k: np.array([x[j] for x in v], dtype=np.float64) for k, v in counters.items()}
            kpis = {k.name: aggregate_kpi(k, series) for k in self.spec.kpis}
            Vs.append(metrics.value_score(kpis, anchors, self.spec.weights))
        led = self._ledger
        led.validation_episodes += E
        led.validation_env_steps += steps * E
        v = np.array(Vs, dtype=np.float64)
        return {"env_steps": self.env_steps, "V": float(v.mean()), "V_sd": float(v.std()),
                "mean_return": float(np.mean(returns / max(len(agents), 1)))}

    def reset(self, seed: None = None, options: None = None) -> tuple[dict[str, np.ndarray], dict]:
        """Start ``num_envs`` episodes on the next training seeds of the run's stream."""
        if seed is not None or options is not None:
            raise ValueError("a VectorTrainingEnv draws its seeds from the run's stream: reset()")
        seeds = [self.single.next_seed() for _ in range(self.num_envs)]
        led = self._ledger
        led.seeds.extend(seeds)
        led.episodes += self.num_envs
        self._histories = [{} for _ in seeds]
        return self.engine.reset(seeds), {}

    def step(self, actions: Mapping[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        """One step of every episode: ``(obs, rewards, terminations, truncations, infos)``, each
        ``{agent: (num_envs,) array}`` (infos: ``{agent: {"kpi": ..., "violations": ...}}``)."""
        run, led, E = self._run, self._ledger, self.num_envs
        if run.strict and (self.exhausted() or led.env_steps + E > run.budget.env_steps):
            if run.stopped_by is None:
                run.stopped_by = "env_steps"
            raise BudgetExhausted(self.single._spent())
        agents = list(self.engine.agents)
        obs, team, kpi, viol = self.engine.step(actions)
        led.env_steps += E
        led.agent_steps += E * len(agents)
        for a in agents:
            for name, x in viol[a].items():
                x = np.asarray(x, dtype=np.float64)
                hit = x > 0
                if hit.any():
                    led.violation_steps[name] += int(hit.sum())
                    led.exceedance[name] += float(x[hit].sum())
        team = np.asarray(team, dtype=np.float64)
        if self.reward == "hyperscore":
            totals: dict[str, np.ndarray] = {}
            for a in agents:
                for name, x in kpi[a].items():
                    totals[name] = totals[name] + x if name in totals else np.asarray(x, np.float64)
            s = self.single
            team = np.array([hyperscore_feedback(s.spec, s._anchors, s.window, s._h_max, h,
                                                 {k: float(v[j]) for k, v in totals.items()})
                             for j, h in enumerate(self._histories)])
        done = not self.engine.agents
        rewards = {a: team for a in agents}
        terms = {a: np.zeros(E, bool) for a in agents}
        truncs = {a: np.full(E, done) for a in agents}
        infos = {a: {"kpi": kpi[a], "violations": viol[a]} for a in agents}
        return obs, rewards, terms, truncs, infos


def sum_violations(records: Sequence[Mapping[str, Any]], agent_steps: int) -> dict[str, dict[str, float]]:
    """Violation ledgers of several training records summed per constraint, with each
    constraint's rate over ``agent_steps`` (the records' total)."""
    violations: dict[str, dict[str, float]] = {}
    for r in records:
        for c, v in r["violations"].items():
            acc = violations.setdefault(c, {"agent_steps": 0, "exceedance": 0.0})
            acc["agent_steps"] += int(v["agent_steps"])
            acc["exceedance"] += float(v["exceedance"])
    for acc in violations.values():
        acc["rate"] = acc["agent_steps"] / agent_steps if agent_steps else 0.0
    return violations


def merge_records(runs: Sequence[Mapping[str, Any]], *, command: str) -> dict[str, Any]:
    """The result JSON's ``algorithm.training`` block: totals over every run (one per trained
    scale, or several runs of one scale in parallel), the union of training seeds, violations
    summed per constraint, and the runs, each with its own scale and wall time.

    ``wall_time_s`` is the elapsed time the runs cover: runs that overlapped (in parallel) count
    once, so four parallel 73 s runs report about 73 s, not 292 s; ``summed_wall_time_s`` adds
    the runs' times up (the compute spent). Records without ``started_unix_s`` (older ones) are
    taken to have run one after another. ``scales`` summarises the runs per scale."""
    if not runs:
        raise ValueError("merge_records needs at least one training run record")
    agent_steps = sum(int(r["agent_steps"]) for r in runs)
    violations = sum_violations(runs, agent_steps)
    scales: dict[str, dict[str, Any]] = {}
    for r in runs:
        sc = scales.setdefault(str(r["scale"]), {"runs": 0, "env_steps": 0, "episodes": 0,
                                                 "wall_time_s": 0.0})
        sc["runs"] += 1
        sc["env_steps"] += int(r["env_steps"])
        sc["episodes"] += int(r["episodes"])
        sc["wall_time_s"] = round(sc["wall_time_s"] + float(r["wall_time_s"]), 3)
    return {
        "env_steps": sum(int(r["env_steps"]) for r in runs),
        "agent_steps": agent_steps,
        "episodes": sum(int(r["episodes"]) for r in runs),
        "wall_time_s": round(elapsed_wall_time(runs), 3),
        "summed_wall_time_s": round(sum(float(r["wall_time_s"]) for r in runs), 3),
        "seeds": sorted({int(s) for r in runs for s in r["seeds"]}),
        "violations": violations,
        "scales": scales,
        "command": command,
        "runs": [{k: v for k, v in r.items() if k != "seeds"} for r in runs],
    }


def elapsed_wall_time(runs: Sequence[Mapping[str, Any]]) -> float:
    """Seconds covered by the union of the runs' [start, start + wall time] intervals; runs
    without a start time are laid end to end after the others."""
    timed = sorted((float(r["started_unix_s"]), float(r["started_unix_s"]) + float(r["wall_time_s"]))
                   for r in runs if r.get("started_unix_s") is not None)
    total, end = 0.0, -math.inf
    for lo, hi in timed:
        if hi > end:
            total += hi - max(lo, end)
            end = hi
    return total + sum(float(r["wall_time_s"]) for r in runs if r.get("started_unix_s") is None)


# ---------------------------------------------------------------------------------------------
# outside learners: ``rao-bench train MODULE:FUNCTION TASK``
# ---------------------------------------------------------------------------------------------
TRAINING_FILE = "training.json"
TRAINING_FORMAT = "rao-bench-training/1"
LEARNER_SIGNATURE = "train(make_env, out_dir, seed)"


def load_function(ref: str) -> Callable[..., Any]:
    """``module:function`` (attribute paths allowed: ``module:Class.method``)."""
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"expected MODULE:FUNCTION, got {ref!r} (e.g. my_pkg.my_algo:train)")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import module {module_name!r} of {ref!r}: {exc}") from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"{ref!r}: {obj!r} has no attribute {part!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"{ref!r} is not callable; expected a function {LEARNER_SIGNATURE}")
    return obj


def train_function(ref: str, task_id: str, *, seed: int, budget: Budget, out_dir: Path,
                   scales: Sequence[str] | None = None, reward: str = "env",
                   command: str = "") -> dict[str, Any]:
    """Run an outside learner through the harness, once per scale (default: the nominal one).

    The learner is ``train(make_env, out_dir, seed)``: ``make_env()`` returns a strict
    :class:`TrainingEnv` of the run (the first call the run's env, later calls more envs of the
    same run, for vectorised rollouts); it trains until ``env.exhausted()`` and saves whatever
    its policy needs under ``out_dir``. The harness — not the learner — writes the training
    block (seeds, budget, violation ledger, wall time per run) to ``out_dir/training.json``, which
    ``rao-bench evaluate --checkpoint-dir`` puts into the result. Returns that block."""
    fn = load_function(ref)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = get_spec(task_id)
    try:
        inspect.signature(fn).bind(make_env=None, out_dir=out_dir, seed=int(seed))
    except TypeError as exc:
        raise ValueError(f"{ref} must have the signature {LEARNER_SIGNATURE} (docs/learners.md): "
                         f"{exc}") from None
    except ValueError:
        pass  # a builtin or C function without a signature: let the call say
    records = []
    for scale in scales or [spec.nominal_scale.name]:
        first = TrainingEnv(task_id, seed=seed, budget=budget, scale=scale, reward=reward, strict=True)
        handed: list[TrainingEnv] = []

        def make_env(first: TrainingEnv = first, handed: list = handed) -> TrainingEnv:
            env = first if not handed else first.spawn()
            handed.append(env)
            return env

        try:
            fn(make_env=make_env, out_dir=out_dir, seed=int(seed))
        except BudgetExhausted:
            pass  # the harness stopped it at the budget; what it saved is what it has
        if not handed:
            raise ValueError(f"{ref} never called make_env(): it did not train on {task_id}")
        records.append(first.record())
    block = merge_records(records, command=command)
    doc = {"format": TRAINING_FORMAT, "task": spec.id, "spec_sha256": spec.sha256, "learner": ref,
           "training": block}
    tmp = out_dir / f".{TRAINING_FILE}.tmp"
    tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, out_dir / TRAINING_FILE)
    return block


def read_training_file(checkpoint_dir: Path, task_id: str) -> dict[str, Any]:
    """The training block the harness wrote into ``checkpoint_dir`` for ``task_id``."""
    path = Path(checkpoint_dir) / TRAINING_FILE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing: train through the harness "
                                f"(rao-bench train MODULE:FUNCTION {task_id} --out-dir "
                                f"{checkpoint_dir}), which writes it") from None
    spec = get_spec(task_id)
    if doc.get("format") != TRAINING_FORMAT or doc.get("task") != spec.id:
        raise ValueError(f"{path} records training on {doc.get('task')!r} (format "
                         f"{doc.get('format')!r}); expected {spec.id} ({TRAINING_FORMAT})")
    if doc.get("spec_sha256") != spec.sha256:
        raise ValueError(f"{path}: trained on another version of {spec.id}'s spec "
                         f"(sha256 {doc.get('spec_sha256')}); retrain on this one")
    return doc["training"]
