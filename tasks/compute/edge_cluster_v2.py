"""``compute/EdgeCluster-v2``: edge-cluster dispatch with decisions applied at each job's arrival.

What changed from v1 (docs/tasks/compute.md, "From v1 to v2", has the why of each):

**Decisions at arrival.** In v1 a job waited at its origin (*pending*) until the next 1-s
decision boundary, so every node was fed Poisson-sized batches at integer times and was not the
M/G/c queue the docs named. In v2 each agent sets, once per epoch, its node's *dispatch rule*,
and the node applies it to every job **the instant the job arrives** (one SimPy event per
arrival). Nothing is pending: with every job local and one class a node is exactly an FCFS
M/G/c queue fed in continuous time (``tests/compute/test_edge_cluster_v2.py`` runs the env
itself against Erlang C and Pollaczek–Khinchine).

**Action** (``MultiDiscrete``, int64), per agent: ``[thr_0, thr_1, thr_2, alt_0, alt_1, alt_2,
reserve]``. For a class-``k`` job arriving at node ``i`` at time ``t``, with ``Q_i(t)`` the work
waiting in ``i``'s queues per working core (s; the observation's ``queue_work_per_core``, but
exact at ``t``):

* ``thr_k`` ∈ {0, …, L+1}: 0 = never local; ``1..L`` = run locally iff ``Q_i(t) ≤
  threshold_levels_s[thr_k − 1]`` (and the node is up); ``L+1`` = always local (also on a
  failed node, where the job can only wait);
* ``alt_k`` ∈ {0 right (i+1), 1 left (i−1), 2 opposite (i+n/2), 3 cloud, 4 drop}: where the job
  goes when it does not run locally (a neighbour admits it on landing; it is not forwarded);
* ``reserve`` as in v1: ``floor(reserve_levels[reserve] · cores)`` cores kept for class 0.

A threshold on the backlog is the classic form of a dispatch rule (threshold / "join below
threshold" policies, e.g. Eager, Lazowska & Zahorjan 1986 for sender-initiated load sharing);
JSQ, power-of-d and round robin are expressible epoch by epoch (``baselines/compute``).

**Observation** (``Box`` float32; :meth:`observation_layout`): the own-node block of v1; the
jobs that arrived at the node in the last epoch, per class, as count per core and work per core
(s); each neighbour's advertised block and link; the cloud link; time (sin, cos of the diurnal
phase, t/horizon). No individual job is visible (they are decided on arrival by the rule).

**Accounting** (:class:`tasks.compute.cluster.Cluster` with ``exact_abandon``,
``delay_beyond_service`` and :meth:`~tasks.compute.cluster.Cluster.drain`):

* the delay cost is ``delay_cost × (time in system − own nominal service)`` — waiting,
  transfers and paging slowdown; running a job with no wait costs only its energy, so dropping
  is never cheaper than running it at once, and V agrees with the ``dropped_jobs`` constraint;
* an abandoned job leaves, and frees its memory, at its deadline;
* at the horizon the system is *drained*: it runs on with no new arrivals until every job has
  settled, and each job's real cost is booked in the last step (delay, miss penalty, the active
  energy of the work run after T). Every job of the episode is settled, so every miss is booked
  and ``mean_completion_time`` covers every completed job.

**Workload**: as v1 (diurnal, hotspots, bursts) with class laws calibrated to published trace
statistics (docs/tasks/compute.md, "Workload calibration"), a Pareto-size held-out shift
(``size_pareto``), or a replayed trace (``trace_csv``, :func:`load_trace`).

Everything else (topology, cloud, prices, links, failures, KPIs, constraints) is v1's.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from gymnasium import spaces

from bench.spec import EnvConfig
from tasks.compute.cluster import (ALL_COUNTERS, COST, DROPPED_C, MISSED_TOP, SETTLED_TOP, Job)
from tasks.compute.cluster import Cluster
from tasks.compute.edge_cluster import (CORE_SCALE, N_NEIGHBOURS, NEIGHBOUR_FEATURES, OWN_FEATURES,
                                        EdgeClusterEnv)

N_ALT = 5                     # right, left, opposite, cloud, drop
ALT_CLOUD, ALT_DROP = 3, 4
ARRIVAL_FEATURES = 6          # per class: arrivals per core, arrived work per core (s)
#: columns of a trace CSV, in this order (docs/tasks/compute.md, "Trace replay")
TRACE_COLUMNS = ("arrival_s", "site", "cls", "size_core_s", "memory_gb", "input_mb", "deadline_s")
ARRIVAL_SHIFTS = ("flash_crowd", "size_shift", "size_pareto")


def load_trace(path: str | Path, n_nodes: int, n_classes: int, horizon_s: float
               ) -> dict[str, np.ndarray]:
    """Read a job trace (CSV with header :data:`TRACE_COLUMNS`): ``arrival_s`` absolute arrival
    time (s, in [0, horizon)), ``site`` origin node (0 … n−1), ``cls`` class (0 = top),
    ``size_core_s`` work (core-s, > 0), ``memory_gb`` (≥ 0), ``input_mb`` (≥ 0), ``deadline_s``
    the *relative* deadline (s after arrival, > 0). Rows may come in any order. Returns arrays
    sorted by (site, arrival) with the absolute ``deadline``."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"parameter 'trace_csv': no such file {str(path)!r}")
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != TRACE_COLUMNS:
            raise ValueError(f"trace {path.name}: header must be {','.join(TRACE_COLUMNS)}, got "
                             f"{','.join(reader.fieldnames or [])}")
        rows = list(reader)
    try:
        a = np.array([float(r["arrival_s"]) for r in rows])
        site = np.array([int(r["site"]) for r in rows], np.int64)
        cls = np.array([int(r["cls"]) for r in rows], np.int64)
        size, mem, data, rel = (np.array([float(r[c]) for r in rows]) for c in TRACE_COLUMNS[3:])
    except ValueError as exc:
        raise ValueError(f"trace {path.name}: a value does not parse ({exc})") from None
    checks = [("arrival_s", (a >= 0) & (a < horizon_s), f"in [0, {horizon_s})"),
              ("site", (site >= 0) & (site < n_nodes), f"in 0..{n_nodes - 1}"),
              ("cls", (cls >= 0) & (cls < n_classes), f"in 0..{n_classes - 1}"),
              ("size_core_s", size > 0, "> 0"), ("memory_gb", mem >= 0, ">= 0"),
              ("input_mb", data >= 0, ">= 0"), ("deadline_s", rel > 0, "> 0")]
    for name, ok, want in checks:
        if not np.all(ok & np.isfinite(a if name == "arrival_s" else 1.0)):
            bad = int(np.argmin(ok))
            raise ValueError(f"trace {path.name}, data row {bad + 1}: {name} must be {want}")
    order = np.lexsort((a, site))
    out = {"node": site[order], "arrival": a[order], "cls": cls[order], "size": size[order],
           "mem": mem[order], "data": data[order]}
    out["deadline"] = out["arrival"] + rel[order]
    return out


class EdgeClusterV2Env(EdgeClusterEnv):
    """EdgeCluster with per-node dispatch rules applied at each arrival (module docstring)."""

    DECISION_HOOKS = ("dispatch_hook",)   # the v2 clairvoyant oracle decides per job through it

    def __init__(self, config: EnvConfig) -> None:
        super().__init__(config)
        p = self.p
        raw = self.params.get("threshold_levels_s")
        if (not isinstance(raw, (list, tuple)) or not raw
                or any(isinstance(x, bool) or not isinstance(x, (int, float)) or x < 0 for x in raw)
                or list(raw) != sorted(raw)):
            raise ValueError(f"parameter 'threshold_levels_s' must be a non-empty increasing list "
                             f"of backlogs >= 0 (s of waiting work per core), got {raw!r}")
        self.levels = tuple(float(x) for x in raw)
        self.size_law = str(self.params.get("size_law", "lognormal"))
        if self.size_law not in ("lognormal", "exponential"):
            raise ValueError(f"parameter 'size_law' must be 'lognormal' or 'exponential', got {self.size_law!r}")
        L = len(self.levels)
        # thr index -> backlog bound: 0 never (-inf), 1..L the levels, L+1 always (+inf)
        self.theta = (-math.inf,) + self.levels + (math.inf,)
        self.always = L + 1
        self.trace_path = self.params.get("trace_csv")
        if self.trace_path is not None and self.shift is not None and self.shift.kind in ARRIVAL_SHIFTS:
            raise ValueError(f"scenario shift {self.shift.kind!r} changes the generated arrivals; "
                             "it cannot apply to a replayed trace (set trace_csv: null or use a "
                             "nominal, node_failure or latency_spike scenario)")
        self._trace = (None if self.trace_path is None else
                       load_trace(self.trace_path, self.n, p.classes.n, self.horizon * p.epoch_s))
        self._layout = self._make_layout_v2()
        self.obs_dim = max(s.stop for s in self._layout.values())
        k = p.classes.n
        self._nvec = np.array([L + 2] * k + [N_ALT] * k + [len(p.reserve_levels)], dtype=np.int64)
        low = np.zeros(self.obs_dim, np.float32)
        high = np.full(self.obs_dim, np.inf, np.float32)
        lay = self._layout
        for name in ("failed", "busy", "reserve", "nb_failed", "nb_busy"):
            high[lay[name]] = 1.0
        low[lay["time"].start:lay["time"].start + 2] = -1.0
        high[lay["time"]] = 1.0
        self._action_spaces = {a: spaces.MultiDiscrete(self._nvec.copy()) for a in self.possible_agents}
        self._observation_spaces = {a: spaces.Box(low, high, dtype=np.float32) for a in self.possible_agents}
        self._state_dim = self.n * (OWN_FEATURES + 2) + 4 + 3
        #: privileged hook for oracles (``baselines/compute/hindsight.py``): if set, called as
        #: ``hook(job, now)`` at each arrival and returns a v1 destination code (0 local, 1–3
        #: neighbour, 4 cloud, 5 drop) instead of the agent's rule. Policies that read only
        #: observations never touch it.
        self.dispatch_hook = None

    # -- layout ----------------------------------------------------------------------------------
    def _make_layout_v2(self) -> dict[str, slice]:
        d = N_NEIGHBOURS
        blocks = [("cores", 1), ("failed", 1), ("busy", 1), ("queue_per_core", 3),
                  ("queue_work_per_core", 1), ("memory", 1), ("run_work_per_core", 1),
                  ("reserve", 1), ("arrivals_per_core", 3), ("arrived_work_per_core", 3)]
        out, i = {}, 0
        for name, size in blocks:
            out[name] = slice(i, i + size)
            i += size
        n0 = i
        out["neighbours"] = slice(n0, n0 + NEIGHBOUR_FEATURES * d)
        for f, name in enumerate(("nb_cores", "nb_failed", "nb_busy", "nb_queue_work_per_core",
                                  "nb_memory", "nb_latency", "nb_bandwidth")):
            out[name] = slice(n0 + f, n0 + NEIGHBOUR_FEATURES * d, NEIGHBOUR_FEATURES)
        i = n0 + NEIGHBOUR_FEATURES * d
        out["cloud"] = slice(i, i + 2)
        i += 2
        out["time"] = slice(i, i + 3)
        return out

    def observation_layout(self) -> dict[str, slice]:
        """Named slices of an observation (same for every agent); ``neighbours`` reshaped to
        (3, 7) gives per-neighbour records, ``nb_busy`` (strided) every neighbour's busy fraction."""
        return dict(self._layout)

    # -- reset -----------------------------------------------------------------------------------
    def _make_cluster(self) -> Cluster:
        p = self.p
        return Cluster(self.cores.tolist(), self.mem_cap.tolist(), p.prices, p.links,
                       n_classes=p.classes.n, overcommit_slowdown=p.overcommit_slowdown,
                       record=self.record_jobs, exact_abandon=True, delay_beyond_service=True)

    def _reset_sim(self) -> None:
        super()._reset_sim()
        p = self.p
        if self._trace is not None:
            self._batches = self._trace_batches()
        k = p.classes.n
        self._thr = [[self.always] * k for _ in range(self.n)]
        self._alt = [[0] * k for _ in range(self.n)]
        self._arr_feat = np.zeros((self.n, ARRIVAL_FEATURES))
        self._arr_count = np.zeros(self.n)
        self._arr_work = np.zeros(self.n)
        self._on_arrival_cb = self._on_arrival
        self.dispatch_hook = None            # an oracle installs its own after each reset

    def _trace_batches(self) -> list[dict[str, np.ndarray]]:
        """Split the replayed trace into per-epoch batches (same arrays as the generator's)."""
        tr, dt = self._trace, self.p.epoch_s
        ep = np.minimum((tr["arrival"] // dt).astype(np.int64), self.horizon - 1)
        out = []
        for t in range(self.horizon):
            sel = ep == t
            b = {key: v[sel] for key, v in tr.items()}
            b["counts"] = np.bincount(b["node"], minlength=self.n)
            out.append(b)
        return out

    def perturb_future(self, t0: int, seed: int) -> None:
        """As v1 (:meth:`EdgeClusterEnv.perturb_future`); a replayed trace has no randomness to
        redraw (it is fixed data), so the call is refused."""
        if self._trace is not None:
            raise RuntimeError("a replayed trace (trace_csv) is fixed data: nothing to perturb")
        super().perturb_future(t0, seed)

    # -- step -------------------------------------------------------------------------------------
    def _on_arrival(self, event: Any) -> None:
        """A job arrives at its origin: the hook (oracles) or the node's rule decides at once."""
        job: Job = event.value
        cl = self.cluster
        now = cl.sim.now
        i = job.origin
        cl.arrive(job)
        hook = self.dispatch_hook
        if hook is not None:
            code = int(hook(job, now))
            if code == 0:
                cl.nodes[i].admit(job, now)
            elif code == 4:
                cl.send_to_cloud(job)
            elif code == 5:
                cl.drop(job)
            else:
                cl.send_to_neighbour(job, self._nbr[i][code - 1])
            return
        c = job.cls
        thr = self._thr[i][c]
        node = cl.nodes[i]
        if thr != self.always:
            if node.q_min_deadline <= now:
                node.sweep(now)
            up = node.up_cores
            local = thr > 0 and up > 0 and node.q_work <= self.theta[thr] * up
        else:
            local = True
        if local:
            node.admit(job, now)
            return
        alt = self._alt[i][c]
        if alt == ALT_CLOUD:
            cl.send_to_cloud(job)
        elif alt == ALT_DROP:
            cl.drop(job)
        else:
            cl.send_to_neighbour(job, self._nbr[i][alt])

    def _schedule_arrivals(self, t0: float) -> None:
        """One SimPy event per job of this epoch's batch, at its arrival instant."""
        cl = self.cluster
        b = self._batches[self.t]
        node, cls = b["node"], b["cls"]
        k = len(node)
        jid0 = self._next_jid
        self._next_jid += k
        timeout, cb = cl.sim.timeout, self._on_arrival_cb
        for j, (o, c, s, m, d, at, dl) in enumerate(zip(node.tolist(), cls.tolist(), b["size"].tolist(),
                                                        b["mem"].tolist(), b["data"].tolist(),
                                                        b["arrival"].tolist(), b["deadline"].tolist())):
            ev = timeout(max(at - t0, 0.0), Job(jid0 + j, o, c, s, m, d, at, dl))
            ev.callbacks.append(cb)
        # arrival features for the next observation (what each node saw during this epoch)
        n, kc = self.n, self.p.classes.n
        cores = self.cores.astype(np.float64)[:, None]
        idx = node * kc + cls
        cnt = np.bincount(idx, minlength=n * kc).reshape(n, kc)
        work = np.bincount(idx, b["size"], minlength=n * kc).reshape(n, kc)
        self._arr_feat = np.concatenate([cnt / cores, work / cores], axis=1)
        self._arr_count = cnt.sum(axis=1).astype(np.float64)
        self._arr_work = work.sum(axis=1)

    def _step_sim(self, actions: Mapping[str, Any]) -> tuple[dict, dict, dict]:
        p, cl = self.p, self.cluster
        acts = self._parse_actions(actions)
        now = cl.sim.now
        nodes = cl.nodes
        self._nbr = self.neighbours.tolist()
        k = p.classes.n
        reserve_table = self.reserve_table
        for i, a in enumerate(acts):
            self._thr[i] = a[:k]
            self._alt[i] = a[k:2 * k]
            r = a[-1]
            self._reserve_idx[i] = r
            nodes[i].set_reserve(int(reserve_table[i, r]), now)
        self._schedule_arrivals(now)
        cl.advance(now + p.epoch_s)
        final = self.t + 1 >= self.horizon
        counters = cl.close_epoch(p.epoch_s, False)
        if final:
            cl.drain()
            counters = counters + cl.take_counters()
        self.last_counters = counters
        w = self.t % p.top_miss_window
        self._top_missed[w] = counters[MISSED_TOP]
        self._top_settled[w] = counters[SETTLED_TOP]
        settled = self._top_settled.sum(axis=0)
        rate = np.divide(self._top_missed.sum(axis=0), settled, out=np.zeros(self.n), where=settled > 0)
        top_ex = np.maximum(rate - self.top_miss_bound, 0.0).tolist()
        mem_ex = []
        for node in nodes:
            mem_ex.append(max(node.mem_peak - node.mem_cap - self.mem_bound, 0.0))
            node.mem_peak = node.mem_used
        drop_ex = np.maximum(counters[DROPPED_C] - self.drop_bound, 0.0).tolist()
        cost = counters[COST].tolist()
        reward = -1000.0 * math.fsum(cost) / self.n
        team = dict(zip(ALL_COUNTERS, counters.sum(axis=1).tolist()))
        del team["total_cost_usd"]
        kpi, viol, rewards = {}, {}, {}
        for i, a in enumerate(self.possible_agents):
            kpi[a] = {"total_cost_usd": cost[i]}
            viol[a] = {"memory_overcommit": mem_ex[i], "top_class_miss_rate": top_ex[i],
                       "dropped_jobs": drop_ex[i]}
            rewards[a] = reward
        kpi[self.possible_agents[0]].update(team)
        if not final:
            self._apply_shift(self.t + 1)
        return rewards, kpi, viol

    # -- observations -----------------------------------------------------------------------------
    def _node_features(self) -> np.ndarray:
        """Own-node features (n, OWN_FEATURES + 2): the own block plus the last epoch's arrivals
        (count, work; global state only)."""
        cl = self.cluster
        now = cl.sim.now
        rows = []
        levels = self.p.reserve_levels
        for node, r in zip(cl.nodes, self._reserve_idx.tolist()):
            q = node.queues
            busy = node.busy
            rows.append((node.cores, node.failed, busy, len(q[0]), len(q[1]), len(q[2]), node.q_work,
                         node.mem_used / node.mem_cap,
                         max(node.run_end_sum - busy * now, 0.0) if busy else 0.0,
                         levels[r] if node.up_cores else 0.0))
        f = np.array(rows, dtype=np.float64)
        f[:, 2:7] /= f[:, :1]
        f[:, 8] /= f[:, 0]
        f[:, 0] /= CORE_SCALE
        return np.concatenate([f, self._arr_count[:, None], self._arr_work[:, None]], axis=1)

    def _observe(self) -> dict[str, np.ndarray]:
        feats = self._node_features()
        own = feats[:, :OWN_FEATURES]
        cl, L = self.cluster, self.p.links
        nb_lat = L.neighbour_latency * cl.latency_factor
        nb_bw = L.neighbour_bandwidth * cl.bandwidth_factor / 1000.0
        adv = own[:, [0, 1, 2, 6, 7]]
        nb = adv[self.neighbours]
        link = np.broadcast_to(np.array([nb_lat, nb_bw]), (self.n, N_NEIGHBOURS, 2))
        nb = np.concatenate([nb, link], axis=2).reshape(self.n, -1)
        glob = np.array([L.cloud_latency * cl.latency_factor,
                         L.cloud_bandwidth * cl.bandwidth_factor / 1000.0] + self._time_features())
        obs = np.concatenate([own, self._arr_feat, nb, np.broadcast_to(glob, (self.n, 5))], axis=1)
        obs = obs.astype(np.float32)
        return dict(zip(self.possible_agents, obs))

    def pending_jobs(self, agent: str) -> list[Job]:
        """v2 has no pending jobs: every job is decided the instant it arrives."""
        return []
