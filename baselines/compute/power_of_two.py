"""Power-of-two-choices dispatch for ``compute/EdgeCluster-v1`` (decentralised, randomised).

For each pending job an agent samples two distinct candidates uniformly from its own node and
its 3 neighbours and sends the job to the one with the smaller advertised load (waiting work per
core plus busy fraction; failed nodes count as infinitely loaded, and if both samples have
failed the job goes to the cloud). After each assignment it adds the job's work per core to its
estimate of the chosen node. Jobs beyond the ``W`` observed slots go where a fresh pair of
samples points. No reservation, no drops. The samples come from the policy's own
``numpy.random.Generator``, seeded by ``reset(seed)``, so runs are reproducible.

Sampling two queues instead of one cuts the maximum load from Θ(log n / log log n) to
Θ(log log n) (Azar, Broder, Karlin & Upfal 1999; Mitzenmacher 2001) with far less information
than JSQ.

**EdgeCluster-v2**: the same idea per epoch and rule (``_act_v2``): one sampled neighbour
against the own node, whose backlog the rule reads exactly at each arrival.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from baselines.compute import TASK, TASK_V2, ObsView, RuleView, assemble, is_v2
from bench.policy import PolicyInfo
from tasks.compute.edge_cluster import CLOUD

# the 12 ordered pairs of distinct candidates among 4
_PAIRS = np.array([(a, b) for a in range(4) for b in range(4) if a != b], dtype=np.int64)


class PowerOfTwoPolicy:
    """Two uniformly sampled candidates per job; the less loaded wins."""

    info = PolicyInfo(name="power_of_two", version="1", paradigm="heuristic",
                      description="Power-of-two-choices among own node and the 3 neighbours, "
                                  "seeded by reset(seed).")
    tasks = (TASK, TASK_V2)

    def __init__(self, env: Any) -> None:
        self.rng = np.random.Generator(np.random.PCG64(0))
        if is_v2(env):
            self.rules = RuleView(env)
            self.act = self._act_v2
            return
        self.view = ObsView(env)
        self.cand_cores = self.view.candidate_cores()
        self.rng = np.random.Generator(np.random.PCG64(0))

    def reset(self, seed: int) -> None:
        self.rng = np.random.Generator(np.random.PCG64(seed))

    def _pick(self, load: np.ndarray) -> np.ndarray:
        rows = np.arange(self.view.n)
        pair = _PAIRS[self.rng.integers(0, len(_PAIRS), self.view.n)]
        a, b = pair[:, 0], pair[:, 1]
        la, lb = load[rows, a], load[rows, b]
        best = np.where(lb < la, b, a)
        return np.where(np.isfinite(load[rows, best]), best, CLOUD)

    def act(self, observations: Mapping[str, Any]) -> dict[str, np.ndarray]:
        v = self.view
        o = v.stack(observations)
        load = v.candidate_loads(o)
        rows = np.arange(v.n)
        choices = np.zeros((v.n, v.W), np.int64)
        for k in range(v.W):
            s = v.slot(o, k)
            c = self._pick(load)
            choices[:, k] = c
            upd = s["mask"] & (c != CLOUD)
            load[rows[upd], c[upd]] += s["size"][upd] / self.cand_cores[rows[upd], c[upd]]
        return assemble(v, choices, self._pick(load))

    def _act_v2(self, observations: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """v2: each epoch one neighbour sampled uniformly is compared with the own node (two
        choices: own and sampled); the rule keeps jobs local while the own waiting work per core
        is at most the sample's, else sends them there (cloud if the sample has failed)."""
        r = self.rules
        o = r.stack(observations)
        nb = r.neighbour_loads(o)
        pick = self.rng.integers(0, 3, r.n)
        load = nb[np.arange(r.n), pick]
        alt = np.where(np.isfinite(load), pick, 3)
        thr = np.where(r.own_failed(o), 0, r.threshold_at(load))
        return r.actions(thr, alt)
