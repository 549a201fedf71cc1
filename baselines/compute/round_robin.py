"""Round-robin dispatch for ``compute/EdgeCluster-v1``: load-oblivious, failure-aware.

Each agent sends its pending jobs, one after another, to its own node, then its right, left and
opposite neighbours, then its own node again, and so on (one cursor per agent, kept across
epochs); a candidate that advertises itself as failed is skipped (if every candidate has failed,
the job goes to the cloud). Jobs beyond the ``W`` observed slots follow the candidate the cursor
points to next. No core reservation. This is the classic static (oblivious) load-balancing rule:
it evens out the *number* of jobs over the candidates, not their work.

**EdgeCluster-v2** (rules at arrival): the cursor moves once per epoch, and during the epoch all
of the agent's jobs go to the candidate it points to (own node: the rule keeps every job local;
a neighbour: no job stays local). Over four epochs each candidate gets one epoch's arrivals.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from baselines.compute import TASK, TASK_V2, ObsView, RuleView, assemble, is_v2
from bench.policy import PolicyInfo
from tasks.compute.edge_cluster import CLOUD


class RoundRobinPolicy:
    """Cycle each agent's jobs over (own node, right, left, opposite), skipping failed nodes."""

    info = PolicyInfo(name="round_robin", version="1", paradigm="heuristic",
                      description="Round-robin over own node and the 3 neighbours; skips failed nodes.")
    tasks = (TASK, TASK_V2)

    def __init__(self, env: Any) -> None:
        if is_v2(env):
            self.rules = RuleView(env)
            self.cursor = np.zeros(self.rules.n, np.int64)
            self.act = self._act_v2
            return
        self.view = ObsView(env)
        self.cursor = np.zeros(self.view.n, np.int64)

    def reset(self, seed: int) -> None:
        """Deterministic: only the cursors restart."""
        self.cursor[:] = 0

    def _next(self, alive: np.ndarray, active: np.ndarray) -> np.ndarray:
        """Advance the cursor of agents in ``active`` to their next live candidate; return it."""
        choice = np.full(self.view.n, CLOUD, np.int64)
        rows = np.arange(self.view.n)
        for step in range(4):
            cand = (self.cursor + step) % 4
            ok = active & alive[rows, cand] & (choice == CLOUD)
            choice[ok] = cand[ok]
            self.cursor[ok] = (cand[ok] + 1) % 4
        return choice

    def act(self, observations: Mapping[str, Any]) -> dict[str, np.ndarray]:
        v = self.view
        o = v.stack(observations)
        alive = np.isfinite(v.candidate_loads(o))
        choices = np.zeros((v.n, v.W), np.int64)
        for k in range(v.W):
            choices[:, k] = self._next(alive, v.slot(o, k)["mask"])
        rest = self._next(alive, v.overflow(o) > 0)
        rest[v.overflow(o) <= 0] = 0
        return assemble(v, choices, rest)

    def _act_v2(self, observations: Mapping[str, Any]) -> dict[str, np.ndarray]:
        r = self.rules
        o = r.stack(observations)
        alive = np.concatenate([~r.own_failed(o)[:, None], np.isfinite(r.neighbour_loads(o))], axis=1)
        rows = np.arange(r.n)
        choice = np.full(r.n, -1, np.int64)
        for step in range(4):
            cand = (self.cursor + step) % 4
            ok = alive[rows, cand] & (choice < 0)
            choice[ok] = cand[ok]
        self.cursor = np.where(choice >= 0, (choice + 1) % 4, self.cursor)
        thr = np.where(choice == 0, r.always, 0)
        alt = np.where(choice > 0, choice - 1, 3)        # every candidate failed: the cloud
        return r.actions(thr, alt)
