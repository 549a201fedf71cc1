"""What a learner trains on, and what its training cost: the harness side of every MARL baseline.

A learner (``baselines/ippo.py`` and friends) never builds envs or picks seeds itself. It asks for
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

:func:`merge_records` folds the records of several runs (one per scale trained) into the
``algorithm.training`` block of the result JSON.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from bench import metrics
from bench.episode import aggregate_kpi
from bench.registry import get_spec, make
from bench.spec import TaskSpec

REWARDS = ("env", "hyperscore")


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


class TrainingEnv:
    """A PettingZoo parallel env of one task cell that only ever plays training seeds.

    Same interface as the task env (``possible_agents``, ``agents``, spaces, ``state()``,
    ``reset()``, ``step()``), except that ``reset`` takes no seed: the next training seed comes
    from the run's own stream.
    """

    def __init__(self, task_id: str, *, seed: int, budget: Budget, scale: str | None = None,
                 scenario: str | None = None, reward: str = "env", window: int | None = None) -> None:
        if reward not in REWARDS:
            raise ValueError(f"reward must be one of {REWARDS}, got {reward!r}")
        self.spec: TaskSpec = get_spec(task_id)
        self.env = make(task_id, scale=scale, scenario=scenario)
        self.scale = self.env.config.scale.name
        self.scenario = self.env.config.scenario.name
        self.budget = budget
        self.reward = reward
        self.window = int(window if window is not None else self.spec.recovery.window)
        if self.window < 1:
            raise ValueError(f"window must be >= 1 steps, got {self.window!r}")
        self.seed = int(seed)
        self._seed_rng = np.random.Generator(np.random.PCG64(self.seed))
        self._eval = frozenset(self.spec.seeds.eval)
        self._ledger = _Ledger(violation_steps=dict.fromkeys(self.env.constraint_names, 0),
                               exceedance=dict.fromkeys(self.env.constraint_names, 0.0))
        self._t0 = time.perf_counter()
        self._stopped_by: str | None = None
        self._anchors = self.spec.anchors_at(self.scale)
        self._history: dict[str, list[float]] = {}
        hp = self.spec.hyperscore
        self._h_max = float(metrics.hyperscore(1.0, hp.beta, hp.gamma, hp.kappa))

    # -- the env interface ---------------------------------------------------------------------
    @property
    def possible_agents(self) -> list[str]:
        return self.env.possible_agents

    @property
    def agents(self) -> list[str]:
        return self.env.agents

    def observation_space(self, agent: str) -> Any:
        return self.env.observation_space(agent)

    def action_space(self, agent: str) -> Any:
        return self.env.action_space(agent)

    def state(self) -> np.ndarray:
        return np.asarray(self.env.state(), dtype=np.float32)

    @property
    def horizon(self) -> int:
        return self.env.horizon

    def next_seed(self) -> int:
        s = self.spec.seeds
        while True:
            seed = int(self._seed_rng.integers(s.train_start, s.train_stop))
            if seed not in self._eval:  # the ranges are disjoint; this guards a bad spec too
                return seed

    def reset(self) -> tuple[dict[str, Any], dict[str, Any]]:
        seed = self.next_seed()
        self._ledger.seeds.append(seed)
        self._ledger.episodes += 1
        self._history = {}
        return self.env.reset(seed=seed)

    def step(self, actions: Mapping[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
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

    def _hyperscore_reward(self, totals: Mapping[str, float]) -> float:
        """The feedback loop: HyperScore of V over the last ``window`` steps, scaled to [0, 1]."""
        n = len(next(iter(self._history.values()))) if self._history else 0
        for name in totals.keys() | self._history.keys():
            self._history.setdefault(name, [0.0] * n).append(totals.get(name, 0.0))
        series = {k: np.asarray(v[-self.window:], dtype=np.float64) for k, v in self._history.items()}
        kpis = {k.name: aggregate_kpi(k, series) for k in self.spec.kpis if k.name in self.spec.weights}
        V = metrics.value_score(kpis, self._anchors, self.spec.weights)
        hp = self.spec.hyperscore
        H = float(metrics.hyperscore(V, hp.beta, hp.gamma, hp.kappa))
        return (H - 100.0) / (self._h_max - 100.0)

    # -- the budget and the record -------------------------------------------------------------
    @property
    def env_steps(self) -> int:
        return self._ledger.env_steps

    @property
    def wall_time_s(self) -> float:
        return time.perf_counter() - self._t0

    def exhausted(self) -> bool:
        """True once the budget is spent; learners check it between rollouts."""
        if self._stopped_by is None:
            if self._ledger.env_steps >= self.budget.env_steps:
                self._stopped_by = "env_steps"
            elif self.wall_time_s >= self.budget.wall_time_s:
                self._stopped_by = "wall_time"
        return self._stopped_by is not None

    def record(self) -> dict[str, Any]:
        """This run's share of the ``algorithm.training`` block (see :func:`merge_records`)."""
        led = self._ledger
        return {
            "scale": self.scale,
            "scenario": self.scenario,
            "seed": self.seed,
            "reward": self.reward,
            "env_steps": led.env_steps,
            "agent_steps": led.agent_steps,
            "episodes": led.episodes,
            "wall_time_s": round(self.wall_time_s, 3),
            "budget": {"env_steps": int(self.budget.env_steps),
                       "wall_time_s": float(self.budget.wall_time_s)},
            "stopped_by": self._stopped_by or "learner",
            "seeds": list(led.seeds),
            "violations": {c: {"agent_steps": led.violation_steps[c],
                               "exceedance": led.exceedance[c]} for c in led.violation_steps},
        }


def merge_records(runs: Sequence[Mapping[str, Any]], *, command: str) -> dict[str, Any]:
    """The result JSON's ``algorithm.training`` block: totals over every run (one per trained
    scale), the union of training seeds, violations summed per constraint, and the runs."""
    if not runs:
        raise ValueError("merge_records needs at least one training run record")
    agent_steps = sum(int(r["agent_steps"]) for r in runs)
    violations: dict[str, dict[str, float]] = {}
    for r in runs:
        for c, v in r["violations"].items():
            acc = violations.setdefault(c, {"agent_steps": 0, "exceedance": 0.0})
            acc["agent_steps"] += int(v["agent_steps"])
            acc["exceedance"] += float(v["exceedance"])
    for acc in violations.values():
        acc["rate"] = acc["agent_steps"] / agent_steps if agent_steps else 0.0
    return {
        "env_steps": sum(int(r["env_steps"]) for r in runs),
        "agent_steps": agent_steps,
        "episodes": sum(int(r["episodes"]) for r in runs),
        "wall_time_s": round(sum(float(r["wall_time_s"]) for r in runs), 3),
        "seeds": sorted({int(s) for r in runs for s in r["seeds"]}),
        "violations": violations,
        "command": command,
        "runs": [{k: v for k, v in r.items() if k != "seeds"} for r in runs],
    }
