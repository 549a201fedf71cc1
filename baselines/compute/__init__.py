"""Reference policies for ``compute/EdgeCluster-v1`` and ``-v2`` and the observation readers they share.

Every non-oracle policy here reads only the agents' observations, the action spaces and the
public parameters (``env.params``, from which the topology and core counts follow); the
observation layout is the env's documented :meth:`observation_layout`.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from tasks.compute.edge_cluster import (CLOUD, LOCAL, N_NEIGHBOURS, NEIGHBOUR_FEATURES,
                                        SLOT_FEATURES, node_cores)

TASK = "compute/EdgeCluster-v1"


class ObsView:
    """Column indices of an EdgeCluster observation and vectorised readers over the stacked
    observations of all agents, shape (n, obs_dim)."""

    def __init__(self, env: Any) -> None:
        base = getattr(env, "unwrapped", env)
        lay = base.observation_layout()
        self.agents = list(env.possible_agents)
        self.n = len(self.agents)
        self.W = int(env.params["slots"])
        self.cores = node_cores(env.params).astype(np.float64)
        self.mem_cap = self.cores * float(env.params["memory_per_core_gb"])
        self.n_reserve = len(env.params["reserve_levels"])
        self.i_failed = lay["failed"].start
        self.i_busy = lay["busy"].start
        self.i_qwork = lay["queue_work_per_core"].start
        self.i_mem = lay["memory"].start
        self.i_run = lay["run_work_per_core"].start
        self.s0 = lay["slots"].start
        self.i_overflow = lay["overflow"].start
        self.n0 = lay["neighbours"].start
        self.i_nb_lat = lay["nb_latency"].start
        self.i_nb_bw = lay["nb_bandwidth"].start
        self.i_cloud = lay["cloud"].start
        n = self.n
        i = np.arange(n)
        self.neighbours = np.stack([(i + 1) % n, (i - 1) % n, (i + n // 2) % n], axis=1)

    def stack(self, observations: Mapping[str, Any]) -> np.ndarray:
        return np.asarray([observations[a] for a in self.agents], dtype=np.float64)

    def slot(self, o: np.ndarray, k: int) -> dict[str, np.ndarray]:
        """Features of pending slot ``k`` for every agent: mask, cls, size, mem, slack, data."""
        b = self.s0 + SLOT_FEATURES * k
        return {"mask": o[:, b] > 0.5, "cls": np.argmax(o[:, b + 1:b + 4], axis=1),
                "size": o[:, b + 4], "mem": o[:, b + 5], "slack": o[:, b + 6], "data": o[:, b + 7]}

    def candidate_loads(self, o: np.ndarray) -> np.ndarray:
        """Advertised load of each agent's candidates (own node, right, left, opposite), shape
        (n, 4): waiting work per core (s) plus the busy-core fraction (a tie-breaker worth ~1 s);
        +inf for a failed node. Only what the agent itself observes."""
        own = o[:, self.i_qwork] + o[:, self.i_busy]
        own = np.where(o[:, self.i_failed] > 0.5, np.inf, own)
        cols = [own]
        for j in range(N_NEIGHBOURS):
            b = self.n0 + NEIGHBOUR_FEATURES * j
            load = o[:, b + 3] + o[:, b + 2]
            cols.append(np.where(o[:, b + 1] > 0.5, np.inf, load))
        return np.stack(cols, axis=1)

    def candidate_cores(self) -> np.ndarray:
        """Cores of each agent's candidates (own, right, left, opposite), shape (n, 4)."""
        return np.concatenate([self.cores[:, None], self.cores[self.neighbours]], axis=1)

    def overflow(self, o: np.ndarray) -> np.ndarray:
        return o[:, self.i_overflow]


def assemble(view: ObsView, slot_choices: np.ndarray, rest: np.ndarray, reserve: np.ndarray | int = 0
             ) -> dict[str, np.ndarray]:
    """Per-agent MultiDiscrete actions from per-slot choices (n, W), the ``rest`` choice (n,)
    and the reservation level (n,) or scalar."""
    n = view.n
    act = np.empty((n, view.W + 2), dtype=np.int64)
    act[:, :view.W] = slot_choices
    act[:, view.W] = rest
    act[:, view.W + 1] = reserve
    return dict(zip(view.agents, act))


__all__ = ["TASK", "ObsView", "assemble", "LOCAL", "CLOUD"]


# ---------------------------------------------------------------------------------------------
# EdgeCluster-v2: per-node dispatch rules applied at arrival
# ---------------------------------------------------------------------------------------------
TASK_V2 = "compute/EdgeCluster-v2"


def is_v2(env: Any) -> bool:
    """Whether ``env`` is an EdgeCluster-v2 (rule actions) rather than a v1 (per-job slots)."""
    return "threshold_levels_s" in getattr(env, "params", {})


class RuleView:
    """Readers over the stacked v2 observations (n, obs_dim) and a builder of rule actions
    ``[thr_0..2, alt_0..2, reserve]`` (``tasks/compute/edge_cluster_v2.py``)."""

    def __init__(self, env: Any) -> None:
        base = getattr(env, "unwrapped", env)
        lay = base.observation_layout()
        self.agents = list(env.possible_agents)
        self.n = len(self.agents)
        self.levels = np.asarray(env.params["threshold_levels_s"], np.float64)
        self.always = len(self.levels) + 1
        self.n_reserve = len(env.params["reserve_levels"])
        self.cores = node_cores(env.params).astype(np.float64)
        self.i_failed = lay["failed"].start
        self.i_busy = lay["busy"].start
        self.i_qwork = lay["queue_work_per_core"].start
        self.n0 = lay["neighbours"].start
        i = np.arange(self.n)
        self.neighbours = np.stack([(i + 1) % self.n, (i - 1) % self.n, (i + self.n // 2) % self.n], axis=1)

    def stack(self, observations: Mapping[str, Any]) -> np.ndarray:
        return np.asarray([observations[a] for a in self.agents], dtype=np.float64)

    def own_failed(self, o: np.ndarray) -> np.ndarray:
        return o[:, self.i_failed] > 0.5

    def neighbour_loads(self, o: np.ndarray) -> np.ndarray:
        """Advertised waiting work per core (s) of each agent's 3 neighbours, shape (n, 3);
        +inf for a failed neighbour."""
        cols = []
        for j in range(N_NEIGHBOURS):
            b = self.n0 + NEIGHBOUR_FEATURES * j
            cols.append(np.where(o[:, b + 1] > 0.5, np.inf, o[:, b + 3]))
        return np.stack(cols, axis=1)

    def threshold_at(self, backlog: np.ndarray) -> np.ndarray:
        """Rule index whose bound is the largest level <= ``backlog`` (s per core): the job stays
        local while the own backlog is no larger; ``always`` where ``backlog`` is +inf."""
        idx = np.searchsorted(self.levels, np.where(np.isfinite(backlog), backlog, 0.0), side="right")
        return np.where(np.isfinite(backlog), np.maximum(idx, 1), self.always)

    def actions(self, thr: np.ndarray, alt: np.ndarray, reserve: np.ndarray | int = 0
                ) -> dict[str, np.ndarray]:
        """Per-agent actions from a threshold index and an alternative per agent (the same for
        every class; shape (n,)) and the reservation level."""
        act = np.empty((self.n, 7), dtype=np.int64)
        act[:, 0:3] = np.asarray(thr)[:, None]
        act[:, 3:6] = np.asarray(alt)[:, None]
        act[:, 6] = reserve
        return dict(zip(self.agents, act))


__all__ += ["TASK_V2", "is_v2", "RuleView"]
