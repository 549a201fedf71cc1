"""A learner from outside the project, written against the documented API only (docs/learners.md):

    rao-bench train tests.outside_learner:train supply_chain/Serial-v1 --env-steps 4000 --out-dir D
    rao-bench evaluate supply_chain/Serial-v1 --policy tests.outside_learner:LevelPolicy --checkpoint-dir D

It learns one order-up-to level per stage (order ``max(S_j - inventory position, 0)``) by the
cross-entropy method: each generation samples candidate level vectors from a Gaussian, plays each
on one training episode (two envs of the run side by side, from ``make_env()``), and refits the
Gaussian to the best quarter, by episode return. It only reads what every agent observes (its
inventory position, observation entry 2) and the rewards; it never picks a seed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from bench.policy import PolicyInfo

POSITION = 2  # observation entry: inventory position (docs/tasks: Serial-v1 observation)


def _orders(levels: np.ndarray, obs: Mapping[str, np.ndarray], agents: list[str], cap: float) -> dict:
    return {a: np.array([min(max(levels[i] - float(obs[a][POSITION]), 0.0), cap)], dtype=np.float32)
            for i, a in enumerate(agents)}


def train(make_env: Callable[[], Any], out_dir: Path, seed: int) -> None:
    envs = [make_env(), make_env()]          # two envs of one run: one budget, one seed stream
    agents = list(envs[0].possible_agents)
    cap = float(envs[0].action_space(agents[0]).high[0])
    rng = np.random.default_rng(seed)
    mean, sd = np.full(len(agents), cap), np.full(len(agents), cap / 2)
    best: tuple[float, np.ndarray] = (-np.inf, mean.copy())
    horizon = envs[0].horizon
    while envs[0].steps_left >= horizon:     # stop before an episode the budget cannot finish
        cands = np.clip(rng.normal(mean, sd, size=(8, len(agents))), 0.0, 4 * cap)
        returns = []
        for k in range(0, len(cands), len(envs)):
            for env, levels in zip(envs, cands[k:k + len(envs)]):
                if env.steps_left < horizon:
                    returns.append(-np.inf)
                    continue
                obs, _ = env.reset()          # the harness draws the training seed
                total = 0.0
                while env.agents:
                    obs, rew, _, _, _ = env.step(_orders(levels, obs, agents, cap))
                    total += float(rew[agents[0]])   # cooperative reward: the team's
                returns.append(total)
        returns = np.asarray(returns)
        elite = cands[np.argsort(-returns)[: len(cands) // 4]]
        if returns.max() > best[0]:
            best = (float(returns.max()), cands[int(np.argmax(returns))].copy())
        mean, sd = elite.mean(axis=0), elite.std(axis=0) + 0.5
    (Path(out_dir) / "levels.json").write_text(json.dumps(
        {"agents": agents, "levels": [float(x) for x in best[1]], "best_return": best[0]}))


class LevelPolicy:
    """The learned levels; a scale with more stages gives the extra ones the last stage's level."""

    info = PolicyInfo(name="cem_levels", version="1", paradigm="DTDE",
                      description="Order-up-to levels per stage learned by the cross-entropy method "
                                  "(a test's outside learner).")

    def __init__(self, env: Any, checkpoint_dir: Path) -> None:
        doc = json.loads((Path(checkpoint_dir) / "levels.json").read_text())
        levels = doc["levels"]
        self.agents = list(env.possible_agents)
        self.levels = np.array([levels[min(i, len(levels) - 1)] for i in range(len(self.agents))])
        self.cap = float(env.action_space(self.agents[0]).high[0])

    def reset(self, seed: int) -> None:
        """The policy is stateless."""

    def act(self, observations: Mapping[str, Any]) -> dict[str, Any]:
        return _orders(self.levels, observations, self.agents, self.cap)


def no_make_env(make_env: Callable[[], Any], out_dir: Path, seed: int) -> None:
    """A broken learner: it never asks for an env."""


def wrong_signature(env: Any) -> None:
    """A broken learner: not train(make_env, out_dir, seed)."""


def greedy(make_env: Callable[[], Any], out_dir: Path, seed: int) -> None:
    """A learner that ignores the budget: the harness must stop it there."""
    env = make_env()
    cap = float(env.action_space(env.possible_agents[0]).high[0])
    while True:
        env.reset()
        while env.agents:
            env.step({a: np.array([cap / 2], dtype=np.float32) for a in env.agents})
