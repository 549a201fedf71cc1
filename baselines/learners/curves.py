"""Learning curves, greedy validation and the plateau stop rule shared by the reference learners.

A learner calls :meth:`Curve.log` after every update (its diagnostics: PPO's approx-KL, clip
fraction, explained variance; a Q-learner's TD loss) and :meth:`Curve.due` tells it when to
validate: the current greedy actor plays the held-out training seeds
(``bench.training.TrainingEnv.validate``, scored by the harness as evaluation scores an episode).
The network with the best validation V is kept (model selection on training seeds only) and saved
at the end; the run stops at the budget's cap or on a plateau:

    after at least ``min_frac`` of the step budget, stop when none of the last ``patience``
    validations raised the best validation V by more than ``min_delta`` or, at an equal V (V is
    clipped to [0, 1], so a poor policy sits at 0 for a while), the best validation return by more
    than ``min_rel_return`` of its magnitude.

The rule, the curve and the selected step go into the run's training record
(``validation``); the per-update diagnostics into ``<scale>.curve.csv`` beside the checkpoint.
"""

from __future__ import annotations

import copy
import csv
import io
from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from baselines.learners.marl_common import save_checkpoint
from bench.training import TrainingEnv, VectorTrainingEnv


@dataclass(frozen=True)
class StopRule:
    """When to validate and when a run has plateaued (the same rule for every reference learner)."""

    validations: int = 20
    """validations over the step budget: one every max(budget // validations, episodes x horizon)
    env steps (:meth:`every`), so that validating never costs more env steps than training"""
    episodes: int = 4
    """held-out training seeds per validation"""
    patience: int = 6
    """validations without a new best (by more than min_delta) that end the run"""
    min_delta: float = 0.005
    """improvement of the best validation V that counts as progress (V is 0 at the naive anchor,
    1 at the oracle's)"""
    min_rel_return: float = 0.01
    """relative improvement of the validation return that counts as progress at an equal V"""
    min_frac: float = 0.4
    """no plateau stop before this fraction of the step budget"""

    def every(self, budget_env_steps: int, horizon: int) -> int:
        """Training env steps between validations: ``budget // validations``, but at least the
        env steps of one validation (``episodes x horizon``). Of the tasks trained with
        validation, this floor binds only on ThreeTier-v2 (182-day episodes: 728 steps)."""
        return max(1, int(budget_env_steps) // self.validations, self.episodes * int(horizon))

    def __post_init__(self) -> None:
        if self.validations < 1 or self.episodes < 1 or self.patience < 1:
            raise ValueError("validations, episodes and patience must be >= 1")
        if not 0.0 <= self.min_frac <= 1.0:
            raise ValueError(f"min_frac must be in [0, 1], got {self.min_frac!r}")


class GreedyPolicy:
    """The learner's current actor as a harness policy: group-wise encode, normalise with the
    running statistics, append the agent-id feature, act greedily (as TrainedPolicy does from a
    checkpoint)."""

    def __init__(self, groups: Sequence[Any], actor: Any, obs_rms: Sequence[Any], agent_id: bool,
                 obs_clip: float, to_env: Callable[[Any, np.ndarray], Mapping[str, Any]]) -> None:
        self.groups, self.actor, self.obs_rms = groups, actor, obs_rms
        self.agent_id, self.obs_clip, self.to_env = agent_id, obs_clip, to_env

    def reset(self, seed: int) -> None:
        """Greedy: no per-episode state."""

    def act(self, observations: Mapping[str, Any]) -> dict[str, Any]:
        actions: dict[str, Any] = {}
        with torch.no_grad():
            for i, g in enumerate(self.groups):
                x, mask = g.encode(observations)
                x = self.obs_rms[i].normalize(x, self.obs_clip)
                if self.agent_id:
                    x = np.concatenate([x, g.agent_ids()], axis=1)
                m = None if mask is None else torch.from_numpy(mask)[:, None]
                raw = self.actor.greedy(i, torch.from_numpy(x)[:, None], m)
                actions.update(self.to_env(g, raw[:, 0].numpy()))
        return actions


class Curve:
    """One run's learning curve, validation schedule, best network and plateau decision."""

    def __init__(self, env: TrainingEnv | VectorTrainingEnv, rule: StopRule, policy: GreedyPolicy) -> None:
        self.env, self.rule, self.policy = env, rule, policy
        self.every = rule.every(env.budget.env_steps, env.horizon)
        self._next = self.every
        self.rows: list[dict[str, Any]] = []
        self.points: list[tuple[int, float, float]] = []
        self.best_V = -np.inf
        self.best_return = -np.inf
        self.best_step = 0
        self.best: tuple[dict, list] | None = None
        self._since_best = 0

    def due(self) -> bool:
        """True once the run has passed its next validation point."""
        return self.env.env_steps >= self._next

    def log(self, **diagnostics: float) -> None:
        """One update's diagnostics (a row of the CSV)."""
        self.rows.append({"env_steps": self.env.env_steps, **{k: float(v) for k, v in diagnostics.items()}})

    def validate(self) -> dict[str, Any]:
        """Validate the current greedy actor, keep it if it is the best so far, and stop the run
        (``env.stop('plateau')``) when the rule says it has plateaued."""
        while self._next <= self.env.env_steps:
            self._next += self.every
        out = self.env.validate(self.policy, self.rule.episodes)
        self.points.append((out["env_steps"], out["V"], out["mean_return"]))
        if self.rows:
            self.rows[-1].update(val_V=out["V"], val_return=out["mean_return"])
        V, ret = out["V"], out["mean_return"]
        tied = V >= self.best_V - 1e-12
        progress = (self.best is None or V > self.best_V + self.rule.min_delta
                    or (tied and ret > self.best_return + self.rule.min_rel_return * abs(self.best_return)))
        self._since_best = 0 if progress else self._since_best + 1
        if V > self.best_V + 1e-12 or (tied and ret > self.best_return):  # best: V, then return
            self.best_V, self.best_return, self.best_step = V, ret, out["env_steps"]
            self.best = (copy.deepcopy(self.policy.actor.state_dict()),
                         [r.state() for r in self.policy.obs_rms])
        budget = self.env.budget.env_steps
        if self._since_best >= self.rule.patience and self.env.env_steps >= self.rule.min_frac * budget:
            self.env.stop("plateau")
        return out

    def record(self) -> dict[str, Any]:
        """The ``validation`` entry of the run's training record (rule, curve, selected step)."""
        led = self.env.record().get("validation", {"episodes": 0, "env_steps": 0})
        return {**led, "rule": {**asdict(self.rule), "every_env_steps": self.every},
                "curve": [[int(s), round(v, 6), float(f"{r:.6g}")] for s, v, r in self.points],
                "selected_env_steps": int(self.best_step)}

    def csv(self) -> str:
        """Per-update diagnostics and validation points as CSV text."""
        cols: list[str] = []
        for row in self.rows:
            cols += [k for k in row if k not in cols]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        for row in self.rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
        return buf.getvalue()


def save_run(algo: str, env: TrainingEnv, curve: Curve | None, *, meta: Mapping[str, Any],
             actor_state: Mapping[str, Any], command: str, root: Any = None) -> dict[str, Any]:
    """Save one trained scale's checkpoint with its record (and, when it validated, its
    ``validation`` entry and curve CSV); return the record."""
    record = env.record()
    if curve is not None:
        record["validation"] = curve.record()
    save_checkpoint(algo, env.spec.id, env.scale, meta=meta, actor_state=actor_state, record=record,
                    command=command, root=root, curve_csv=None if curve is None else curve.csv())
    return record
