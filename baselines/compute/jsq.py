"""Join-the-shortest-queue dispatch for ``compute/EdgeCluster-v1`` (decentralised).

Each agent sends each pending job to the candidate — its own node or one of its 3 neighbours —
with the least advertised load, measured as waiting work per core (s) plus the busy-core
fraction (so that among empty queues the node with free cores wins). After each assignment the
agent adds the job's work per core to its own estimate of the chosen node, so one agent does not
pile an epoch's jobs onto one node; it does not know what its neighbours send (they decide at
the same time). Failed nodes are never chosen; if every candidate has failed the job goes to the
cloud. Jobs beyond the ``W`` observed slots follow the least-loaded candidate after the slots.
No core reservation, no cloud otherwise, never drops.

**EdgeCluster-v2** (rules applied at arrival): each epoch an agent points its overflow at the
neighbour with the least advertised waiting work per core and keeps a job local while its own
node's waiting work per core, exact at the job's arrival, is at most that neighbour's (the
largest threshold level not above it). All classes share the rule; a failed own node sends
everything to that neighbour, and with every neighbour failed too, to the cloud.

JSQ is optimal for identical servers with exponential jobs in the sense of stochastic
ordering (Winston 1977, Weber 1978); with work-based load on heterogeneous nodes it is the
"least work left per core" rule.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from baselines.compute import TASK, TASK_V2, ObsView, RuleView, assemble, is_v2
from bench.policy import PolicyInfo
from tasks.compute.edge_cluster import CLOUD


class JSQPolicy:
    """Least advertised work per core among own node and neighbours, updated within the epoch."""

    info = PolicyInfo(name="jsq", version="1", paradigm="heuristic",
                      description="Join the shortest queue (least work per core) among own node "
                                  "and the 3 neighbours; failure-aware.")
    tasks = (TASK, TASK_V2)

    def __init__(self, env: Any) -> None:
        if is_v2(env):
            self.rules = RuleView(env)
            self.act = self._act_v2
            return
        self.view = ObsView(env)
        self.cand_cores = self.view.candidate_cores()

    def reset(self, seed: int) -> None:
        """Deterministic policy: nothing to seed."""

    def act(self, observations: Mapping[str, Any]) -> dict[str, np.ndarray]:
        v = self.view
        o = v.stack(observations)
        load = v.candidate_loads(o)
        rows = np.arange(v.n)
        choices = np.zeros((v.n, v.W), np.int64)
        for k in range(v.W):
            s = v.slot(o, k)
            best = np.argmin(load, axis=1)
            dead = ~np.isfinite(load[rows, best])
            choices[:, k] = np.where(dead, CLOUD, best)
            upd = s["mask"] & ~dead
            load[rows[upd], best[upd]] += s["size"][upd] / self.cand_cores[rows[upd], best[upd]]
        best = np.argmin(load, axis=1)
        rest = np.where(np.isfinite(load[rows, best]), best, CLOUD)
        return assemble(v, choices, rest)

    def _act_v2(self, observations: Mapping[str, Any]) -> dict[str, np.ndarray]:
        r = self.rules
        o = r.stack(observations)
        nb = r.neighbour_loads(o)
        best = np.argmin(nb, axis=1)
        best_load = nb[np.arange(r.n), best]
        alt = np.where(np.isfinite(best_load), best, 3)
        thr = r.threshold_at(best_load)
        thr = np.where(r.own_failed(o), 0, thr)
        return r.actions(thr, alt)
