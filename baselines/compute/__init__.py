"""Reference policies for ``compute/EdgeCluster-v1`` and the observation reader they share.

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
