"""Tiny envs for testing the harness's own checks: one that conforms, and ones that break the
determinism contract in the ways real envs do (global RNG, state not reset, late divergence)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from gymnasium import spaces

from bench.env_base import RaoParallelEnv
from bench.spec import EnvConfig, parse_spec

RAW = {
    "id": "toy/Coin-v1", "description": "toy", "entry_point": "tests.toy_envs:CoinEnv",
    "horizon": 20, "parameters": {"noise": 1.0},
    "scales": [{"name": "two", "agents": 2, "nominal": True}],
    "scenarios": [{"name": "nominal", "nominal": True}],
    "constraints": [{"name": "too_high", "quantity": "level", "bound": 3.0}],
    "kpis": [{"name": "total", "direction": "max", "aggregate": {"kind": "sum", "of": "gain"},
              "anchors": {"zero": 0.0, "one": 10.0}}],
    "weights": {"total": 1.0},
    "seeds": {"eval": list(range(100, 110)), "train": {"start": 0, "stop": 100}},
    "recovery": {"kpi": "total", "window": 2, "band": 0.1},
    "capabilities": {"action_type": "discrete", "global_state": True},
}
SPEC = parse_spec(RAW, Path("toy.yaml"))


def config() -> EnvConfig:
    return EnvConfig(spec=SPEC, scale=SPEC.nominal_scale, scenario=SPEC.nominal_scenario,
                     params=SPEC.parameters, horizon=SPEC.horizon)


class CoinEnv(RaoParallelEnv):
    """Each agent bets 0/1 on a noisy coin; the level is a random walk."""

    def __init__(self, cfg: EnvConfig | None = None) -> None:
        super().__init__(cfg or config())
        self.possible_agents = ["a0", "a1"]
        self._observation_spaces = {a: spaces.Box(-np.inf, np.inf, (1,), np.float64) for a in self.possible_agents}
        self._action_spaces = {a: spaces.Discrete(2) for a in self.possible_agents}
        self.level = 0.0

    def _draw(self) -> float:
        return float(self.np_random.normal())

    def _reset_sim(self) -> None:
        self.level = 0.0

    def _step_sim(self, actions):
        self.level += self._draw()
        gain = {a: float(actions[a] == (self.level > 0)) for a in self.agents}
        viol = {a: {"too_high": max(0.0, self.level - 3.0)} for a in self.agents}
        return gain, {a: {"gain": gain[a]} for a in self.agents}, viol

    def _observe(self):
        return {a: np.array([self.level]) for a in self.possible_agents}

    def state(self):
        return np.array([self.level, self.t], dtype=np.float64)


class GlobalRngEnv(CoinEnv):
    def _draw(self) -> float:
        return float(np.random.normal())  # the bug: the global RNG


class StaleStateEnv(CoinEnv):
    def _reset_sim(self) -> None:
        pass  # the bug: level carries over from the previous episode


class LateDivergenceEnv(CoinEnv):
    """Identical for the first steps, then depends on how many episodes this object has run."""

    episodes = 0

    def _reset_sim(self) -> None:
        super()._reset_sim()
        self.episodes += 1

    def _draw(self) -> float:
        x = super()._draw()
        return x + (self.episodes if self.t > 5 else 0)


class PathEnv(CoinEnv):
    """The level is a pre-drawn random walk; ``perturb_future`` redraws its increments after t0.
    With ``leak=True`` the observation is scaled by the mean of the whole path (foresight)."""

    leak = False

    def _reset_sim(self) -> None:
        super()._reset_sim()
        self.path = self.np_random.normal(size=self.horizon)

    def perturb_future(self, t0: int, seed: int) -> None:
        self.path[t0:] = np.random.Generator(np.random.PCG64(seed)).normal(size=self.horizon - t0)

    def _draw(self) -> float:
        return float(self.path[self.t])

    def _observe(self):
        scale = 1.0 + abs(float(np.mean(self.path))) if self.leak else 1.0
        return {a: np.array([self.level / scale]) for a in self.possible_agents}


class LeakyPathEnv(PathEnv):
    leak = True


class InertPerturbEnv(PathEnv):
    """perturb_future that does nothing: the check must say it is vacuous."""

    def perturb_future(self, t0: int, seed: int) -> None:
        pass
