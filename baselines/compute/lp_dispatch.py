"""Per-epoch LP dispatch for ``compute/EdgeCluster-v1`` (centralised, from observations only).

Paradigm ``centralised``: it stacks *every* agent's observation into one LP, i.e. it executes
centrally (no agent could run it on its own view); it involves no training. It sees the jobs in
the ``W`` observed slots of each agent, not all pending jobs (those beyond the slots are known
only by their count). It has no EdgeCluster-v2 form (v2 has no pending jobs to assign).

Every epoch one linear program assigns all observed pending jobs of the cluster (the ``W``
slots of every agent) to destinations, from the agents' observations and the public parameters:

* **Destinations** of job j at node i: node i, its 3 neighbours, the cloud.
* **Queueing model** (fluid): node k with ``c_k`` cores and backlog ``B_k`` (waiting work plus,
  when every core is busy, the running jobs' remaining work; core-s) delays a new job by
  ``w_k = B_k / c_k``; each further ``c_k·H`` core-seconds placed on k this epoch adds ``H``
  seconds. The LP therefore offers k's capacity in ``bands`` time bands b = 0, 1, … of
  ``c_k·H`` core-s each, with wait ``w_k + (b + ½)H`` (the band's midpoint; it beat the band's
  start on training seeds 0–9) — a piecewise-linear convex delay, so the LP fills early bands
  first and spreads work instead of herding it.
* **Cost** of job j in band b of node k (USD): the delay cost of its predicted completion
  ``transfer + wait + size``, the class's miss penalty if that passes the job's deadline (if the
  job would not even start before its deadline it is abandoned: delay to the deadline plus the
  penalty), and the active energy; in the cloud: upload + run + download time, the fee, the
  penalty if late. Variables are in [0, 1]; each job's shares sum to 1.
* **Constraints**: band capacities (work) and each node's free memory (no overcommit); failed
  nodes offer nothing; the cloud is unlimited.

Solved with HiGHS (``scipy.optimize.linprog``; sparse, a few ms for hundreds of jobs). Rounding:
each job goes to the destination holding its largest share. Jobs beyond the observed slots (only
their count is observed) go to the candidate with the most capacity left after the LP if it
fits their expected work, else to the cloud. Core reservation: level 1 (a quarter of the
cores for class 0), which the exact-state oracle found best among fixed levels. Never drops.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

from baselines.compute import TASK, ObsView, assemble
from bench.policy import PolicyInfo
from tasks.compute.edge_cluster import CLOUD


class LPDispatchPolicy:
    """Fluid time-band transportation LP over all pending jobs, every epoch (module docstring)."""

    info = PolicyInfo(name="lp_dispatch", version="1", paradigm="centralised",
                      description="Centralised: one per-epoch LP (HiGHS) over every agent's "
                                  "observation, assigning the observed pending jobs (W slots per "
                                  "agent) to nodes and the cloud under fluid queueing, capacity "
                                  "and memory constraints; no training.")
    tasks = (TASK,)

    def __init__(self, env: Any, band_s: float = 2.0, bands: int = 4, reserve_level: int = 1) -> None:
        self.view = v = ObsView(env)
        p = env.params
        self.H, self.B = float(band_s), int(bands)
        self.reserve = min(int(reserve_level), v.n_reserve - 1)
        self.delay = float(p["delay_cost_usd_per_s"])
        self.penalty = np.asarray(p["miss_penalty_usd"], np.float64)
        self.fee, self.gb_s = float(p["cloud_fee_usd"]), float(p["cloud_gb_s_usd"])
        self.cloud_speed = float(p["cloud_speed"])
        self.active_usd = (float(p["power_active_w"]) - float(p["power_idle_w"])) / 3.6e6 \
            * float(p["energy_usd_per_kwh"])
        share = np.asarray(p["class_share"], np.float64)
        self.mean_size = float(share @ np.asarray(p["size_mean_s"], np.float64) / share.sum())
        # extra wait of band b: its midpoint (b + 1/2) H
        self._band_wait = (np.arange(self.B) + 0.5) * self.H
        self.cand = np.concatenate([np.arange(v.n)[:, None], v.neighbours], axis=1)   # (n, 4)

    def reset(self, seed: int) -> None:
        """Deterministic: nothing to seed."""

    def act(self, observations: Mapping[str, Any]) -> dict[str, np.ndarray]:
        v, H, B = self.view, self.H, self.B
        o = v.stack(observations)
        n, W = v.n, v.W
        cores = v.cores
        failed = o[:, v.i_failed] > 0.5
        busy = o[:, v.i_busy]
        backlog = o[:, v.i_qwork] * cores + np.where(busy >= 1.0 - 1e-9, o[:, v.i_run] * cores, 0.0)
        wait0 = backlog / cores
        free_mem = np.where(failed, 0.0, np.maximum(v.mem_cap * (1.0 - o[:, v.i_mem]), 0.0))
        # link state seen by each agent (latency s, bandwidth Mbit/s)
        nb_lat = o[:, v.i_nb_lat]                 # same for the 3 links (first neighbour's)
        nb_bw = o[:, v.i_nb_bw] * 1000.0
        cl_lat, cl_bw = o[:, v.i_cloud], o[:, v.i_cloud + 1] * 1000.0

        # the observed pending jobs, flattened: origin, slot, class, size, mem, slack, data
        rows = []
        for k in range(W):
            s = v.slot(o, k)
            idx = np.flatnonzero(s["mask"])
            rows.append(np.stack([idx, np.full(len(idx), k), s["cls"][idx], s["size"][idx],
                                  s["mem"][idx], s["slack"][idx], s["data"][idx]], axis=1))
        jobs = np.concatenate(rows, axis=0) if rows else np.zeros((0, 7))
        choices = np.zeros((n, W), np.int64)
        used = np.zeros(n)          # core-s placed per node by the LP
        if len(jobs):
            origin = jobs[:, 0].astype(np.int64)
            slot = jobs[:, 1].astype(np.int64)
            dest = self._solve(jobs, origin, failed, cores, wait0, free_mem, nb_lat, nb_bw,
                               cl_lat, cl_bw)
            choices[origin, slot] = dest
            on_node = dest < 4
            tgt = self.cand[origin[on_node], dest[on_node]]
            np.add.at(used, tgt, jobs[on_node, 3])
        # jobs beyond the slots: the candidate with the most band capacity left, else the cloud
        over = v.overflow(o)
        spare = np.where(failed, -np.inf, cores * H * B - backlog - used)
        cand_spare = spare[self.cand]                                   # (n, 4)
        best = np.argmax(cand_spare, axis=1)
        fits = cand_spare[np.arange(n), best] >= over * self.mean_size
        rest = np.where(fits, best, CLOUD)
        return assemble(v, choices, rest, self.reserve)

    def _solve(self, jobs: np.ndarray, origin: np.ndarray, failed: np.ndarray, cores: np.ndarray,
               wait0: np.ndarray, free_mem: np.ndarray, nb_lat: np.ndarray, nb_bw: np.ndarray,
               cl_lat: np.ndarray, cl_bw: np.ndarray) -> np.ndarray:
        """Solve the LP; return each job's destination code (0-3 candidate, 4 cloud)."""
        H, B, n = self.H, self.B, self.view.n
        J = len(jobs)
        cls = jobs[:, 2].astype(np.int64)
        size, mem, slack, data = jobs[:, 3], jobs[:, 4], jobs[:, 5], jobs[:, 6]
        pen = self.penalty[cls]
        # node options: (J, 4 candidates, B bands)
        node = self.cand[origin]                                        # (J, 4)
        transfer = np.zeros((J, 4))
        transfer[:, 1:] = (nb_lat[origin] + 8.0 * data / nb_bw[origin])[:, None]
        start = transfer[:, :, None] + wait0[node][:, :, None] + self._band_wait
        finish = start + size[:, None, None]
        sl = slack[:, None, None]
        cost_node = np.where(start >= sl, self.delay * np.maximum(sl, 0.0) + pen[:, None, None],
                             self.delay * finish + np.where(finish > sl, pen[:, None, None], 0.0)
                             + self.active_usd * size[:, None, None])
        run = size / self.cloud_speed
        fin_c = 2.0 * cl_lat[origin] + 8.0 * data / cl_bw[origin] + run
        cost_cloud = (self.delay * fin_c + self.fee + self.gb_s * mem * run
                      + np.where(fin_c > slack, pen, 0.0))
        nv = 4 * B + 1                                                  # variables per job
        c_full = np.concatenate([cost_node.reshape(J, 4 * B), cost_cloud[:, None]], axis=1)
        # prune: node k needs only as many bands as all the work that could go to it fills
        # (later bands cost at least as much), failed nodes none; rows that cannot bind go too
        cap = np.where(failed, 0.0, cores * H)
        work_k = np.bincount(node.ravel(), weights=np.repeat(size, 4), minlength=n)
        mem_k = np.bincount(node.ravel(), weights=np.repeat(mem, 4), minlength=n)
        need = np.where(cap > 0, np.ceil(work_k / np.maximum(cap, 1e-12)), 0.0).clip(0, B)
        keep = np.ones((J, nv), bool)
        keep[:, :4 * B] = (np.arange(B) < need[node][:, :, None]).reshape(J, 4 * B)
        flat = keep.ravel()
        m = int(flat.sum())
        col_of = np.cumsum(flat) - 1                                    # full index -> column
        c = c_full.ravel()[flat]
        job_of = np.repeat(np.arange(J), nv)[flat]
        A_eq = sparse.csr_array((np.ones(m), (job_of, np.arange(m))), shape=(J, m))
        jj, qq, bb = np.nonzero(keep[:, :4 * B].reshape(J, 4, B))
        k_of = node[jj, qq]
        cols = col_of[(jj * nv + qq * B + bb)]
        cap_sel = work_k[k_of] > cap[k_of]                              # capacity can bind
        mem_sel = mem_k[k_of] > free_mem[k_of]                          # memory can bind
        keys = np.concatenate([k_of[cap_sel] * B + bb[cap_sel], n * B + k_of[mem_sel]])
        rows_u, row_of = np.unique(keys, return_inverse=True)
        vals = np.concatenate([size[jj[cap_sel]], mem[jj[mem_sel]]])
        A_ub = sparse.csr_array((vals, (row_of, np.concatenate([cols[cap_sel], cols[mem_sel]]))),
                                shape=(len(rows_u), m))
        b_ub = np.where(rows_u < n * B, cap[np.minimum(rows_u // B, n - 1)],
                        free_mem[np.clip(rows_u - n * B, 0, n - 1)])
        res = linprog(c, A_ub=A_ub if len(rows_u) else None, b_ub=b_ub if len(rows_u) else None,
                      A_eq=A_eq, b_eq=np.ones(J), bounds=(0.0, 1.0), method="highs",
                      options={"presolve": False})
        if res.status != 0 or res.x is None:        # infeasible cannot happen (cloud is free)
            return np.full(J, CLOUD, np.int64)
        x = np.zeros(J * nv)
        x[flat] = res.x
        x = x.reshape(J, nv)
        share = np.concatenate([x[:, :4 * B].reshape(J, 4, B).sum(axis=2), x[:, -1:]], axis=1)
        return np.argmax(share, axis=1).astype(np.int64)

