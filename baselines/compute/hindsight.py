"""Oracles for ``compute/EdgeCluster-v1`` and ``-v2``: a clairvoyant greedy policy and true lower bounds.

**v2** (end of this module): the greedy decides each job *at its arrival* through the env's
privileged ``dispatch_hook`` (exact state then, still no future arrivals), and
:func:`no_contention_lower_bound_v2` is the bound under v2's accounting.

The v1 text follows.

**ClairvoyantGreedyOracle** (paradigm ``oracle``; not a bound). Each epoch it reads the
simulator's hidden state and knows exactly

* every running job's finish time and every waiting job (class, work, deadline) at every node,
  not just the aggregates the agents observe;
* every job in transit to a neighbour and when it lands; every pending job, also beyond the
  ``W`` observed slots;
* committed memory, and hence whether a job would run slowed by paging.

It does *not* use the future arrivals (``env.future_arrivals``), although they are drawn at reset.

It takes the cluster's pending jobs in order of class, then deadline, and gives each the
destination — its own node, a neighbour, or the cloud — with the least *exact-state* cost: the
job's delay cost and miss penalty at its predicted finish time (list-scheduling the destination's
cores through the jobs that will start before it under the node's priority rule, including those
already placed this epoch), the cloud fee or the active energy, plus the delay its work imposes on
lower-class jobs already waiting there. A destination whose memory it would overcommit is never
chosen (the cloud always accepts), and it never drops. Jobs beyond the observed slots share one
action (the env's ``rest`` entry), chosen for the first of them with the memory of the whole
group. It reserves a quarter of every node's cores for class 0 (reservation level 1, the best
fixed level in our runs) and predicts start times under that rule. It is *greedy* and does not foresee future arrivals, so it is a strong reference, not an optimum:
any policy could in principle beat it.

**no_contention_lower_bound** (a true bound, uses hindsight). Given the episode's realised
arrival sequence (drawn at reset, independent of actions), every job's cost in any policy is at
least its cost if it met no contention at all: decided at the first epoch boundary after its
arrival, then run at once locally (no transfer, no wait, no paging), or in the cloud, or dropped
— whichever is cheapest, with the end-of-horizon accounting of the env. Waits, transfers,
slowdowns, abandonment and losses only add delay, and idle energy is the same for every policy.
So ``idle energy cost + Σ_jobs min_option cost`` is a lower bound on the episode's total cost;
divided by the arrivals it bounds ``cost_per_job`` from below for every policy, this oracle
included (``tests/compute/test_compute_baselines.py``). It is loose: contention is the whole
difficulty of the task.
"""

from __future__ import annotations

import heapq
import math
from typing import Any, Mapping

import numpy as np

from baselines.compute import TASK, TASK_V2, ObsView, is_v2
from bench.policy import PolicyInfo
from tasks.compute.cluster import TRANSIT, Job
from tasks.compute.edge_cluster import CLOUD, LOCAL


class _Virtual:
    """Exact snapshot of one node plus the jobs placed on it this epoch."""

    __slots__ = ("release", "queued", "mem", "cap", "cores", "slow", "failed", "reserve")

    def __init__(self, node: Any, now: float, slowdown: float, reserve: int) -> None:
        self.failed = node.failed
        self.reserve = reserve
        self.cores = node.cores
        self.cap = node.mem_cap
        self.mem = node.mem_used
        self.slow = slowdown
        rel = [j.finish for j in node.running.values()] + [now] * node.free
        heapq.heapify(rel)
        self.release = rel
        # (class, ready time, seq, size, deadline): waiting now (ready = now) or arriving later
        self.queued: list[tuple[int, float, int, float, float]] = []
        seq = 0
        for q in node.queues:
            for j in q:
                self.queued.append((j.cls, now, seq, j.size, j.deadline))
                seq += 1

    def add(self, cls: int, ready: float, size: float, deadline: float, mem: float) -> None:
        self.queued.append((cls, ready, len(self.queued), size, deadline))
        self.mem += mem

    def _start(self, heap: list[float], cls: int, ready: float) -> float:
        """Earliest start of a job of class ``cls`` ready at ``ready``: class 0 takes the first
        free core, a lower class needs more than ``reserve`` free cores."""
        if cls == 0 or self.reserve == 0:
            t = heap[0]
        else:
            t = heapq.nsmallest(self.reserve + 1, heap)[-1]
        return t if t > ready else ready

    def finish_time(self, cls: int, ready: float, size: float, deadline: float) -> tuple[float, int]:
        """(predicted finish, or +inf if abandoned; number of waiting lower-class jobs)."""
        rate = self.slow if self.mem > self.cap else 1.0
        ahead = sorted(e for e in self.queued if e[0] <= cls)
        lower = len(self.queued) - len(ahead)
        heap = self.release
        if ahead:
            heap = list(heap)
            for c, r, _, s, d in ahead:
                start = self._start(heap, c, r)
                if d <= start:
                    continue
                heapq.heapreplace(heap, start + s * rate)
        start = self._start(heap, cls, ready)
        if deadline <= start:
            return math.inf, lower
        return start + size * rate, lower


class ClairvoyantGreedyOracle:
    """Exact-state greedy dispatch (module docstring): knows the hidden state, not the future."""

    info = PolicyInfo(name="clairvoyant_greedy", version="1", paradigm="oracle",
                      description="Greedy least-cost destination per job from the exact hidden "
                                  "state of every node (not a bound).")
    tasks = (TASK, TASK_V2)
    privileged = ("_pending", "_batches", "dispatch_hook")  # jobs queued inside the env (bench.policy.privileged_info)

    def __init__(self, env: Any) -> None:
        self.env = getattr(env, "unwrapped", env)
        if is_v2(env):
            self.reserve_level = min(1, len(self.env.p.reserve_levels) - 1)
            self.act = lambda observations: _greedy_v2_act(self, observations)
            return
        self.view = ObsView(env)
        p = self.env.p
        self.p = p
        self.nbr = self.view.neighbours.tolist()
        self.reserve_level = min(1, len(p.reserve_levels) - 1)

    def reset(self, seed: int) -> None:
        """Deterministic: nothing to seed."""

    def act(self, observations: Mapping[str, Any]) -> dict[str, np.ndarray]:
        env, p = self.env, self.p
        cl = env.cluster
        now = cl.sim.now
        W = env.W
        P, L = p.prices, p.links
        res = env.reserve_table[:, self.reserve_level].tolist()
        virt = [_Virtual(node, now, p.overcommit_slowdown, r) for node, r in zip(cl.nodes, res)]
        for job in cl.live.values():
            if job.state == TRANSIT:
                virt[job.host].add(job.cls, job.finish, job.size, job.deadline, job.mem)
        lat_nb = L.neighbour_latency * cl.latency_factor
        bw_nb = L.neighbour_bandwidth * cl.bandwidth_factor
        lat_cl = 2.0 * L.cloud_latency * cl.latency_factor
        bw_cl = L.cloud_bandwidth * cl.bandwidth_factor
        active_usd_per_s = (P.power_active - P.power_idle) / 3.6e6 * P.energy_price
        delay, pen = P.delay_cost, P.miss_penalty

        order: list[tuple[int, float, int, int, Job]] = []
        for i in range(env.n):
            for k, job in enumerate(env._pending[i]):
                order.append((job.cls, job.deadline, i, k, job))
        order.sort(key=lambda e: (e[0], e[1], e[2], e[3]))
        act = np.zeros((env.n, W + 2), dtype=np.int64)
        act[:, W + 1] = self.reserve_level
        rest_code: dict[int, int] = {}

        group_mem = [sum(j.mem for j in env._pending[i][W:]) for i in range(env.n)]

        def cost_at(code: int, i: int, job: Job, extra_mem: float = 0.0) -> float:
            if code == CLOUD:
                run = job.size / L.cloud_speed
                fin = now + lat_cl + 8.0 * job.data / bw_cl + run
                c = delay * (fin - job.arrival) + P.cloud_fee + P.cloud_gb_s * job.mem * run
                return c + (pen[job.cls] if fin > job.deadline else 0.0)
            dest = i if code == LOCAL else self.nbr[i][code - 1]
            v = virt[dest]
            if v.failed or v.mem + job.mem + extra_mem > v.cap:
                return math.inf
            ready = now if code == LOCAL else now + lat_nb + 8.0 * job.data / bw_nb
            fin, lower = v.finish_time(job.cls, ready, job.size, job.deadline)
            if fin == math.inf:
                return delay * (max(job.deadline, ready) - job.arrival) + pen[job.cls] + 1e-9
            c = delay * (fin - job.arrival) + (pen[job.cls] if fin > job.deadline else 0.0)
            c += active_usd_per_s * (fin - ready)
            return c + delay * lower * job.size / v.cores

        def place(code: int, i: int, job: Job) -> None:
            if code == CLOUD:
                return
            dest = i if code == LOCAL else self.nbr[i][code - 1]
            ready = now if code == LOCAL else now + lat_nb + 8.0 * job.data / bw_nb
            virt[dest].add(job.cls, ready, job.size, job.deadline, job.mem)

        for _, _, i, k, job in order:
            if k >= W and i in rest_code:
                code = rest_code[i]
            else:
                extra = group_mem[i] - job.mem if k >= W else 0.0
                code = min(range(5), key=lambda c: (cost_at(c, i, job, extra), c))
                if k >= W:
                    rest_code[i] = code
                    act[i, W] = code
                else:
                    act[i, k] = code
            place(code, i, job)
        return dict(zip(env.possible_agents, act))


def no_contention_lower_bound(env: Any) -> dict[str, float]:
    """Lower bound on the episode's total cost (USD) and cost per job for the episode the env
    was last reset to (module docstring). Call right after ``reset(seed)``; reads the realised
    arrival sequence (hindsight). Returns ``{"total_cost_usd", "arrived", "cost_per_job"}``."""
    env = getattr(env, "unwrapped", env)
    p, P, L = env.p, env.p.prices, env.p.links
    dt, T = p.epoch_s, env.horizon * p.epoch_s
    sh = env.shift
    # idle energy: every powered core, every epoch (failed nodes are off from the onset)
    up = np.full(env.horizon, float(env.cores.sum()))
    if sh is not None and sh.kind == "node_failure":
        down = float(env.cores[list(env.failed_nodes)].sum())
        up[sh.onset:sh.end] -= down
    idle = float(up.sum()) * dt * P.power_idle / 3.6e6 * P.energy_price
    active_usd_per_s = (P.power_active - P.power_idle) / 3.6e6 * P.energy_price
    pen = np.asarray(P.miss_penalty)
    total, arrived = idle, 0
    for t, b in enumerate(env._batches):
        k = len(b["node"])
        if not k:
            continue
        arrived += k
        a, dl, size, mem, data = b["arrival"], b["deadline"], b["size"], b["mem"], b["data"]
        pj = pen[b["cls"]]
        if t + 1 >= env.horizon:               # never decided: in the system at the end
            total += float(np.sum(P.delay_cost * (T - a) + np.where(dl < T, pj, 0.0)))
            continue
        d = (t + 1) * dt
        lf = bf = 1.0
        if sh is not None and sh.kind == "latency_spike" and sh.active(t + 1):
            lf, bf = sh.latency_factor, sh.bandwidth_factor

        def option(fin: np.ndarray) -> np.ndarray:
            done = fin <= T
            late = np.where(done, fin > dl, dl < T)
            return P.delay_cost * (np.minimum(fin, T) - a) + np.where(late, pj, 0.0)

        local = np.where(dl <= d, P.delay_cost * (d - a) + pj,
                         option(d + size) + active_usd_per_s * np.minimum(size, T - d))
        run = size / L.cloud_speed
        fin_c = d + 2.0 * L.cloud_latency * lf + 8.0 * data / (L.cloud_bandwidth * bf) + run
        cloud = option(fin_c) + P.cloud_fee + P.cloud_gb_s * mem * run
        drop = P.delay_cost * (d - a) + pj
        total += float(np.minimum(np.minimum(local, cloud), drop).sum())
    return {"total_cost_usd": total, "arrived": float(arrived),
            "cost_per_job": total / arrived if arrived else math.nan}


# ---------------------------------------------------------------------------------------------
# EdgeCluster-v2
# ---------------------------------------------------------------------------------------------
class _GreedyAtArrival:
    """The v2 clairvoyant greedy's per-job decision (``env.dispatch_hook``): at each arrival, the
    destination — own node, a neighbour, the cloud — with the least exact-state cost under v2's
    accounting (delay beyond the job's own service, miss penalty, active energy or cloud fee,
    plus the delay its work imposes on lower-class jobs already waiting there). It knows each
    node's running jobs, queues and memory, and the jobs it has itself sent in transit; never a
    future arrival. Never drops (that would break the ``dropped_jobs`` constraint)."""

    def __init__(self, env: Any, reserve_level: int) -> None:
        self.env = env
        self.p = env.p
        self.nbr = env.neighbours.tolist()
        self.reserve = env.reserve_table[:, reserve_level].tolist()
        self.transit: list[list[Job]] = [[] for _ in range(env.n)]

    def __call__(self, job: Job, now: float) -> int:
        env, p = self.env, self.p
        cl = env.cluster
        P, L = p.prices, p.links
        delay, pen = P.delay_cost, P.miss_penalty[job.cls]
        active = (P.power_active - P.power_idle) / 3.6e6 * P.energy_price
        lat_nb = L.neighbour_latency * cl.latency_factor
        bw_nb = L.neighbour_bandwidth * cl.bandwidth_factor
        best, best_code = math.inf, CLOUD
        run = job.size / L.cloud_speed
        fin = (now + 2.0 * L.cloud_latency * cl.latency_factor
               + 8.0 * job.data / (L.cloud_bandwidth * cl.bandwidth_factor) + run)
        best = (delay * max(fin - job.arrival - run, 0.0) + P.cloud_fee + P.cloud_gb_s * job.mem * run
                + (pen if fin > job.deadline else 0.0))
        for code in range(4):
            dest = job.origin if code == LOCAL else self.nbr[job.origin][code - 1]
            node = cl.nodes[dest]
            if node.failed:
                continue
            v = _Virtual(node, now, p.overcommit_slowdown, self.reserve[dest])
            pending = [j for j in self.transit[dest] if j.state == TRANSIT]
            self.transit[dest] = pending
            for j in pending:
                v.add(j.cls, j.finish, j.size, j.deadline, j.mem)
            if v.mem + job.mem > v.cap:
                continue
            ready = now if code == LOCAL else now + lat_nb + 8.0 * job.data / bw_nb
            f, lower = v.finish_time(job.cls, ready, job.size, job.deadline)
            if f == math.inf:
                continue
            c = (delay * max(f - job.arrival - job.size, 0.0) + (pen if f > job.deadline else 0.0)
                 + active * (f - ready) + delay * lower * job.size / v.cores)
            if c < best:
                best, best_code = c, code
        if best_code not in (LOCAL, CLOUD):
            self.transit[self.nbr[job.origin][best_code - 1]].append(job)
        return best_code


def _greedy_v2_act(oracle: "ClairvoyantGreedyOracle", observations: Mapping[str, Any]
                   ) -> dict[str, np.ndarray]:
    env = oracle.env
    if env.dispatch_hook is None:
        env.dispatch_hook = _GreedyAtArrival(env, oracle.reserve_level)
    k = env.p.classes.n
    act = np.zeros((env.n, 2 * k + 1), np.int64)
    act[:, :k] = env.always                  # ignored while the hook decides
    act[:, -1] = oracle.reserve_level
    return dict(zip(env.possible_agents, act))


def no_contention_lower_bound_v2(env: Any) -> dict[str, float]:
    """Lower bound on an EdgeCluster-v2 episode's total cost (USD) and cost per job, for the
    episode the env was last reset to (reads the realised arrivals: hindsight).

    v2 decides each job at its arrival and books every job's full cost (the system is drained
    at the horizon), so each job costs at least the cheapest of: run at once on its own node
    (no wait, no paging: only the active energy of its work, and its penalty if even that
    misses the deadline), the cloud (transfer time as delay, fee, penalty if late), or a drop
    (its penalty). A neighbour costs at least the own-node option (same energy plus a
    transfer), waits, slowdowns, abandonment and losses only add, and the idle energy of the
    powered cores over the horizon is the same for every policy. The "still waiting at T"
    option is priced by the same drain accounting as the env, so no policy can beat the bound
    by leaving work at the horizon (``tests/compute/test_compute_baselines_v2.py``)."""
    env = getattr(env, "unwrapped", env)
    p, P, L = env.p, env.p.prices, env.p.links
    dt = p.epoch_s
    sh = env.shift
    up = np.full(env.horizon, float(env.cores.sum()))
    if sh is not None and sh.kind == "node_failure":
        up[sh.onset:sh.end] -= float(env.cores[list(env.failed_nodes)].sum())
    total = float(up.sum()) * dt * P.power_idle / 3.6e6 * P.energy_price
    active = (P.power_active - P.power_idle) / 3.6e6 * P.energy_price
    pen = np.asarray(P.miss_penalty)
    arrived = 0
    for t, b in enumerate(env._batches):
        k = len(b["node"])
        if not k:
            continue
        arrived += k
        a, dl, size, mem, data = b["arrival"], b["deadline"], b["size"], b["mem"], b["data"]
        pj = pen[b["cls"]]
        lf = bf = 1.0
        if sh is not None and sh.kind == "latency_spike" and sh.active(t):
            lf, bf = sh.latency_factor, sh.bandwidth_factor
        local = active * size + np.where(a + size > dl, pj, 0.0)
        run = size / L.cloud_speed
        transfer = 2.0 * L.cloud_latency * lf + 8.0 * data / (L.cloud_bandwidth * bf)
        cloud = (P.delay_cost * transfer + P.cloud_fee + P.cloud_gb_s * mem * run
                 + np.where(a + transfer + run > dl, pj, 0.0))
        total += float(np.minimum(np.minimum(local, cloud), pj).sum())
    return {"total_cost_usd": total, "arrived": float(arrived),
            "cost_per_job": total / arrived if arrived else math.nan}
