"""``compute/EdgeCluster-v1``: multi-agent job dispatch and CPU sharing on an edge cluster.

``n`` edge nodes (the agents) sit on a metro ring; node ``i`` links to its two ring neighbours
and to the node opposite, ``i + n/2`` (the circulant graph C_n(1, n/2): 3 neighbours at every
scale, so observation and action spaces are the same at every scale). Node ``i`` has
``cores_cycle[i mod len]`` cores and ``memory_per_core_gb`` GB per core. Behind the cluster is a
cloud with unlimited cores, a slower link and a price per job. The event-level simulation (SimPy)
lives in :mod:`tasks.compute.cluster`; this module is the PettingZoo layer.

**Epochs.** One ``step`` is one decision epoch of ``epoch_s`` seconds. Jobs arriving at node
``i`` during epoch ``t`` wait at ``i`` (*pending*) until the decision at the start of epoch
``t + 1``, when agent ``i`` decides for each of them: run locally (admit to ``i``'s queue),
send to neighbour ``k`` (admitted there after the transfer), send to the cloud, or drop. It also
sets its core reservation for the coming epoch. Then the simulation runs the epoch: jobs start
and finish, transfers land, new jobs arrive (they are pending at the next decision).

**Action** (``MultiDiscrete``, int64): ``[slot_0, …, slot_{W-1}, rest, reserve]`` with
``W = slots``. ``slot_k`` ∈ {0 local, 1 right neighbour (i+1), 2 left neighbour (i−1),
3 opposite neighbour (i+n/2), 4 cloud, 5 drop} is the decision for the k-th oldest pending job;
``rest`` (same codes) applies to every pending job beyond the first ``W``; entries for empty
slots are ignored (the observation's ``slot_mask`` says which slots hold a job). ``reserve`` ∈
{0, …, len(reserve_levels)−1} keeps ``floor(reserve_levels[reserve] · cores)`` cores for class-0
jobs (a class ≥ 1 job starts only while more cores than that are free).

**Observation** (``Box`` float32, local view; names and slices in :meth:`observation_layout`):
own node — cores/16, failed flag, busy-core fraction, waiting jobs per class per core, waiting
work per core (s), committed-memory fraction, remaining running work per core (s), reservation
fraction in force; the first ``W`` pending jobs — slot mask, class one-hot, size (core-s),
memory (GB), slack to deadline (s), input data (MB); the number of pending jobs beyond ``W``;
each neighbour's *advertised* load — cores/16, failed flag, busy fraction, waiting work per core
(s), committed-memory fraction — and the current latency (s) and bandwidth (Gbit/s) of the link
to it; the cloud link's latency and bandwidth; time (sin, cos of the diurnal phase; t/horizon).
Neighbours' queues by class, their pending jobs and other nodes are not visible (limited
visibility). ``state()`` is the global state: every node's own block plus its pending count and
pending work, the link factors and time.

**Reward** (cooperative): every agent receives ``−1000 · C_t / n``, with ``C_t`` the cluster's
total cost (USD) booked in epoch ``t`` — i.e. minus the mean cost per node in milli-USD. The
cost is the task's objective: energy, cloud fees, the delay cost of every job's time in the
system and a penalty for every missed deadline (see :mod:`tasks.compute.cluster`).

**KPI counters** (:data:`tasks.compute.cluster.ALL_COUNTERS`; units in docs/tasks/compute.md).
Every agent reports ``total_cost_usd``, the cost booked to its node this epoch (its jobs'
penalties, delay cost and cloud fees — booked to the job's origin — plus its node's energy).
Every other counter is reported once per step as a team total, in ``node_0``'s info: the harness
sums counters over agents, so where a counter is reported changes no KPI, and reporting ~27
counters for each of 256 agents would multiply the cost of every consumer of ``infos`` (the
conformance checks canonicalise every float). The per-node breakdown of every counter is
``env.last_counters`` (shape (len(ALL_COUNTERS), n)). ``lat_bin_k`` histogram completion times
(upper edges ``LATENCY_EDGES``) for the p95 estimate :func:`completion_time_quantile`.

**Safety** (per agent, each step): ``memory_overcommit`` — peak committed memory above the
node's memory during the epoch (GB); ``top_class_miss_rate`` — share of the agent's class-0 jobs
settled in the last ``top_miss_window`` epochs that missed their deadline, minus the bound;
``dropped_jobs`` — jobs the agent dropped this epoch (bound 0).

**Shifts** (``scenario.shift``, from its ``onset`` epoch): ``flash_crowd`` (arrival rate ×
``factor`` at a contiguous block of ``fraction`` of the nodes for ``duration`` epochs),
``node_failure`` (``fraction`` of the nodes, drawn per episode, crash; repaired after
``duration`` epochs if given), ``latency_spike`` (latency × ``latency_factor``, bandwidth ×
``bandwidth_factor`` on every link for ``duration`` epochs), ``size_shift`` (job sizes ×
``factor``, log-s.d. ``sigma``). A shift changes the world at the boundary that opens epoch
``onset``, before the agents observe it (a crashed node or a slow link shows in the observation
for decision ``onset``; extra or larger jobs arrive during epoch ``onset`` and are pending at
decision ``onset + 1``). The whole arrival sequence is drawn at reset from its own random
streams, so a shifted episode equals the nominal one up to the onset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from gymnasium import spaces

from bench.env_base import RaoParallelEnv
from bench.params import check_integer, check_number, require
from bench.spec import EnvConfig
from tasks.compute.cluster import (ALL_COUNTERS, COST, DROPPED_C, LATENCY_EDGES, MISSED_TOP,
                                   SETTLED_TOP, Cluster, Job, JobClasses, Links, Prices, Workload)

LOCAL, RIGHT, LEFT, OPPOSITE, CLOUD, DROP = range(6)
N_CHOICES = 6
N_NEIGHBOURS = 3
SLOT_FEATURES = 8      # mask, class one-hot (3), size, mem, slack, data
OWN_FEATURES = 10
NEIGHBOUR_FEATURES = 7
SHIFT_KINDS = ("flash_crowd", "node_failure", "latency_spike", "size_shift", "size_pareto")
CORE_SCALE = 16.0      # cores are observed as cores / 16


# ---------------------------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------------------------
def _get(p: Mapping[str, Any], key: str) -> Any:
    return require(p, key, "EdgeCluster-v1", "tasks/compute/specs/EdgeCluster-v1.yaml")


def _num(p: Mapping[str, Any], key: str, lo: float = 0.0, hi: float = math.inf, *,
         strict: bool = False) -> float:
    return check_number(key, _get(p, key), lo, hi, strict_lo=strict)


def _int(p: Mapping[str, Any], key: str, lo: int) -> int:
    return check_integer(key, _get(p, key), lo)


def _vec(p: Mapping[str, Any], key: str, n: int | None, lo: float = 0.0, *, strict: bool = False
         ) -> tuple[float, ...]:
    raw = _get(p, key)
    if not isinstance(raw, (list, tuple)) or (n is not None and len(raw) != n) or not raw:
        want = f"{n} numbers (one per job class)" if n is not None else "a non-empty list of numbers"
        raise ValueError(f"parameter {key!r} must be {want}, got {raw!r}")
    return tuple(_num({f"{key}[{i}]": x}, f"{key}[{i}]", lo, strict=strict) for i, x in enumerate(raw))


@dataclass(frozen=True)
class Params:
    """Validated view of the spec's ``parameters`` (units in docs/tasks/compute.md)."""

    n_nodes: int
    epoch_s: float
    slots: int
    cores_cycle: tuple[int, ...]
    memory_per_core_gb: float
    reserve_levels: tuple[float, ...]
    overcommit_slowdown: float
    load: float
    hotspot_sd: float
    diurnal_amplitude: float
    diurnal_period_s: float
    burst_factor: float
    burst_start_prob: float
    burst_mean_epochs: float
    classes: JobClasses
    prices: Prices
    links: Links
    top_miss_window: int

    @classmethod
    def from_mapping(cls, p: Mapping[str, Any]) -> "Params":
        n = _int(p, "n_nodes", 4)
        if n % 2:
            raise ValueError(f"parameter 'n_nodes' must be even (the opposite-node link needs "
                             f"i + n/2), got {n}")
        share = _vec(p, "class_share", None, 0.0)
        if not sum(share) > 0:
            raise ValueError(f"parameter 'class_share' needs at least one share > 0, got {list(share)}")
        k = len(share)
        if k != 3:
            raise ValueError(f"parameter 'class_share' must list 3 job classes (the observation "
                             f"one-hot has 3 entries), got {k}")
        cycle = _get(p, "cores_cycle")
        if (not isinstance(cycle, (list, tuple)) or not cycle
                or any(isinstance(c, bool) or not isinstance(c, (int, np.integer)) or c < 1 for c in cycle)):
            raise ValueError(f"parameter 'cores_cycle' must be a non-empty list of integers >= 1, got {cycle!r}")
        levels = _vec(p, "reserve_levels", None, 0.0)
        if levels[0] != 0.0 or any(x >= 1.0 for x in levels):
            raise ValueError(f"parameter 'reserve_levels' must start at 0 and stay below 1 (a "
                             f"fraction of the cores kept for class 0), got {list(levels)}")
        classes = JobClasses(
            share=share, size_mean=_vec(p, "size_mean_s", k, 0.0, strict=True),
            size_sigma=_num(p, "size_sigma", 0.0, 3.0),
            mem_mean=_vec(p, "memory_mean_gb", k, 0.0), mem_sigma=_num(p, "memory_sigma", 0.0, 3.0),
            data_mean=_vec(p, "data_mean_mb", k, 0.0), data_sigma=_num(p, "data_sigma", 0.0, 3.0),
            deadline_base=_vec(p, "deadline_base_s", k, 0.0),
            deadline_slack=_vec(p, "deadline_slack", k, 0.0))
        idle, active = _num(p, "power_idle_w"), _num(p, "power_active_w")
        if active < idle:
            raise ValueError(f"power_active_w ({active}) must be >= power_idle_w ({idle})")
        prices = Prices(miss_penalty=_vec(p, "miss_penalty_usd", k, 0.0),
                        delay_cost=_num(p, "delay_cost_usd_per_s"),
                        cloud_fee=_num(p, "cloud_fee_usd"), cloud_gb_s=_num(p, "cloud_gb_s_usd"),
                        power_idle=idle, power_active=active,
                        energy_price=_num(p, "energy_usd_per_kwh"))
        links = Links(neighbour_latency=_num(p, "neighbour_latency_s"),
                      neighbour_bandwidth=_num(p, "neighbour_bandwidth_mbps", 0.0, strict=True),
                      cloud_latency=_num(p, "cloud_latency_s"),
                      cloud_bandwidth=_num(p, "cloud_bandwidth_mbps", 0.0, strict=True),
                      cloud_speed=_num(p, "cloud_speed", 0.0, strict=True))
        return cls(
            n_nodes=n, epoch_s=_num(p, "epoch_s", 0.0, strict=True),
            slots=_int(p, "slots", 1) if "slots" in p else 0,      # v2 has no pending slots
            cores_cycle=tuple(int(c) for c in cycle),
            memory_per_core_gb=_num(p, "memory_per_core_gb", 0.0, strict=True),
            reserve_levels=levels, overcommit_slowdown=_num(p, "overcommit_slowdown", 1.0),
            load=_num(p, "load", 0.0, 5.0, strict=True), hotspot_sd=_num(p, "hotspot_sd", 0.0, 3.0),
            diurnal_amplitude=_num(p, "diurnal_amplitude", 0.0, 0.99),
            diurnal_period_s=_num(p, "diurnal_period_s", 0.0, strict=True),
            burst_factor=_num(p, "burst_factor", 1.0),
            burst_start_prob=_num(p, "burst_start_prob", 0.0, 1.0),
            burst_mean_epochs=_num(p, "burst_mean_epochs", 1.0),
            classes=classes, prices=prices, links=links,
            top_miss_window=_int(p, "top_miss_window", 1))


def neighbour_table(n: int) -> np.ndarray:
    """Neighbours of every node, shape (n, 3): right (i+1), left (i−1), opposite (i+n/2)."""
    i = np.arange(n)
    return np.stack([(i + 1) % n, (i - 1) % n, (i + n // 2) % n], axis=1)


def node_cores(params: Mapping[str, Any]) -> np.ndarray:
    """Cores of every node (int64, shape (n,)) from the public parameters."""
    cycle = list(params["cores_cycle"])
    return np.array([cycle[i % len(cycle)] for i in range(int(params["n_nodes"]))], dtype=np.int64)


@dataclass(frozen=True)
class Shift:
    """A held-out shift resolved to the epoch window [onset, end)."""

    kind: str
    onset: int
    end: int
    factor: float = 1.0
    fraction: float = 0.0
    latency_factor: float = 1.0
    bandwidth_factor: float = 1.0
    sigma: float | None = None
    alpha: float | None = None

    @classmethod
    def from_spec(cls, raw: Mapping[str, Any] | None, horizon: int) -> "Shift | None":
        if raw is None:
            return None
        kind = str(raw.get("kind"))
        if kind not in SHIFT_KINDS:
            raise ValueError(f"scenario shift.kind {kind!r} is unknown; use one of {SHIFT_KINDS}")
        onset = int(raw["onset"])
        duration = raw.get("duration")
        if duration is not None and int(duration) < 1:
            raise ValueError(f"shift.duration must be >= 1 epoch, got {duration!r}")
        end = horizon if duration is None else min(horizon, onset + int(duration))
        fraction = float(raw.get("fraction", 0.0))
        if kind in ("flash_crowd", "node_failure") and not 0.0 < fraction <= 1.0:
            raise ValueError(f"shift.fraction (share of nodes hit) must lie in (0, 1], got {fraction}")
        factor = float(raw.get("factor", 1.0))
        if factor <= 0:
            raise ValueError(f"shift.factor must be > 0, got {factor}")
        lat, bw = float(raw.get("latency_factor", 1.0)), float(raw.get("bandwidth_factor", 1.0))
        if lat <= 0 or bw <= 0:
            raise ValueError("shift.latency_factor and shift.bandwidth_factor must be > 0")
        sigma = raw.get("sigma")
        if sigma is not None and not 0.0 <= float(sigma) <= 3.0:
            raise ValueError(f"shift.sigma (log-s.d. of sizes) must lie in [0, 3], got {sigma}")
        alpha = raw.get("alpha")
        if kind == "size_pareto" and (alpha is None or not float(alpha) > 1.0):
            raise ValueError(f"shift.alpha (Pareto shape of job sizes) must be > 1 so the mean "
                             f"is finite, got {alpha!r}")
        return cls(kind, onset, end, factor=factor, fraction=fraction, latency_factor=lat,
                   bandwidth_factor=bw, sigma=None if sigma is None else float(sigma),
                   alpha=None if alpha is None else float(alpha))

    def active(self, t: int) -> bool:
        return self.onset <= t < self.end


# ---------------------------------------------------------------------------------------------
# The environment
# ---------------------------------------------------------------------------------------------
class EdgeClusterEnv(RaoParallelEnv):
    """Edge-cluster job dispatch and core reservation; one agent per node (module docstring)."""

    def __init__(self, config: EnvConfig) -> None:
        super().__init__(config)
        self.p = p = Params.from_mapping(self.params)
        n, W = p.n_nodes, p.slots
        if config.scale.agents != n:
            raise ValueError(f"scale {config.scale.name!r} declares {config.scale.agents} agents "
                             f"but n_nodes is {n}; make them equal")
        self.n, self.W = n, W
        self.possible_agents = [f"node_{i}" for i in range(n)]
        self.neighbours = neighbour_table(n)
        self.cores = node_cores({"cores_cycle": p.cores_cycle, "n_nodes": n})
        self.mem_cap = self.cores * p.memory_per_core_gb
        self.reserve_table = np.floor(np.outer(self.cores, p.reserve_levels) + 1e-9).astype(np.int64)
        self.shift = Shift.from_spec(config.scenario.shift, self.horizon)
        bounds = {c.name: c.bound for c in config.spec.constraints}
        self.top_miss_bound = float(bounds.get("top_class_miss_rate", 0.0))
        self.mem_bound = float(bounds.get("memory_overcommit", 0.0))
        self.drop_bound = float(bounds.get("dropped_jobs", 0.0))
        self._layout = self._make_layout()
        self.obs_dim = max(s.stop for s in self._layout.values())
        self._nvec = np.array([N_CHOICES] * (W + 1) + [len(p.reserve_levels)], dtype=np.int64)
        low = np.zeros(self.obs_dim, np.float32)
        high = np.full(self.obs_dim, np.inf, np.float32)
        lay = self._layout
        for name in ("failed", "busy", "reserve", "slot_mask", "slot_class0", "slot_class1",
                     "slot_class2", "nb_failed", "nb_busy"):
            high[lay[name]] = 1.0
        low[lay["slot_slack"]] = -np.inf
        low[lay["time"].start:lay["time"].start + 2] = -1.0
        high[lay["time"]] = 1.0
        self._action_spaces = {a: spaces.MultiDiscrete(self._nvec.copy()) for a in self.possible_agents}
        self._observation_spaces = {a: spaces.Box(low, high, dtype=np.float32) for a in self.possible_agents}
        self._state_dim = n * (OWN_FEATURES + 2) + 4 + 3
        self.cluster: Cluster | None = None
        #: set True before reset() to keep every settled job in ``cluster.settled_jobs`` (tests,
        #: analysis); off by default because it keeps every job of the episode in memory
        self.record_jobs = False

    # -- layout ----------------------------------------------------------------------------------
    def _make_layout(self) -> dict[str, slice]:
        W, d = self.W, N_NEIGHBOURS
        blocks = [("cores", 1), ("failed", 1), ("busy", 1), ("queue_per_core", 3),
                  ("queue_work_per_core", 1), ("memory", 1), ("run_work_per_core", 1),
                  ("reserve", 1)]
        # per-slot features are interleaved (slot k occupies [k*8, k*8+8) of the slot block);
        # the named slices below select one feature across slots with a stride
        out, i = {}, 0
        for name, size in blocks:
            out[name] = slice(i, i + size)
            i += size
        s0 = i
        out["slots"] = slice(s0, s0 + SLOT_FEATURES * W)
        out["slot_mask"] = slice(s0, s0 + SLOT_FEATURES * W, SLOT_FEATURES)
        for c in range(3):
            out[f"slot_class{c}"] = slice(s0 + 1 + c, s0 + SLOT_FEATURES * W, SLOT_FEATURES)
        out["slot_size"] = slice(s0 + 4, s0 + SLOT_FEATURES * W, SLOT_FEATURES)
        out["slot_mem"] = slice(s0 + 5, s0 + SLOT_FEATURES * W, SLOT_FEATURES)
        out["slot_slack"] = slice(s0 + 6, s0 + SLOT_FEATURES * W, SLOT_FEATURES)
        out["slot_data"] = slice(s0 + 7, s0 + SLOT_FEATURES * W, SLOT_FEATURES)
        i = s0 + SLOT_FEATURES * W
        out["overflow"] = slice(i, i + 1)
        i += 1
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
        """Named slices of an observation (same for every agent). Per-slot and per-neighbour
        features are interleaved, so ``slot_size`` (a strided slice) selects the size of every
        slot, ``nb_busy`` every neighbour's busy fraction, etc.; ``slots`` reshaped to (W, 8) and
        ``neighbours`` reshaped to (3, 7) give per-slot and per-neighbour records."""
        return dict(self._layout)

    # -- reset -----------------------------------------------------------------------------------
    #: size law of the generator (v2 may set "exponential" for the queueing-theory tests)
    size_law = "lognormal"

    def _make_cluster(self) -> Cluster:
        p = self.p
        return Cluster(self.cores.tolist(), self.mem_cap.tolist(), p.prices, p.links,
                       n_classes=p.classes.n, overcommit_slowdown=p.overcommit_slowdown,
                       record=self.record_jobs)

    def _reset_sim(self) -> None:
        p = self.p
        seeds = self.np_random.integers(0, 2**63 - 1, size=3)
        rng_rates, rng_jobs, rng_shift = (np.random.Generator(np.random.PCG64(int(s))) for s in seeds)
        self.cluster = self._make_cluster()
        self.workload = Workload(self.cores, p.classes, epoch_s=p.epoch_s, load=p.load,
                                 hotspot_sd=p.hotspot_sd, diurnal_amplitude=p.diurnal_amplitude,
                                 diurnal_period_s=p.diurnal_period_s, burst_factor=p.burst_factor,
                                 burst_start_prob=p.burst_start_prob,
                                 burst_mean_epochs=p.burst_mean_epochs,
                                 rng_rates=rng_rates, rng_jobs=rng_jobs, size_law=self.size_law)
        self.failed_nodes: tuple[int, ...] = ()
        if self.shift is not None and self.shift.kind == "node_failure":
            m = max(1, int(round(self.shift.fraction * self.n)))
            self.failed_nodes = tuple(sorted(int(x) for x in rng_shift.choice(self.n, m, replace=False)))
        self.crowd_mult = np.ones(self.n)
        if self.shift is not None and self.shift.kind == "flash_crowd":
            m = max(1, int(round(self.shift.fraction * self.n)))
            self.crowd_mult[:m] = self.shift.factor
        self._batches = self._draw_arrivals()
        self._pending: list[list[Job]] = [[] for _ in range(self.n)]
        self._pend_block = np.zeros((self.n, SLOT_FEATURES * self.W + 1), np.float32)
        self._pend_count = np.zeros(self.n)
        self._pend_work = np.zeros(self.n)
        self._next_jid = 0
        w = p.top_miss_window
        self._top_missed = np.zeros((w, self.n))
        self._top_settled = np.zeros((w, self.n))
        self._reserve_idx = np.zeros(self.n, np.int64)
        self.last_counters = np.zeros((len(ALL_COUNTERS), self.n))

    # -- step -------------------------------------------------------------------------------------
    def _parse_actions(self, actions: Mapping[str, Any]) -> list[list[int]]:
        try:
            arr = np.asarray([actions[a] for a in self.possible_agents])
        except (ValueError, TypeError) as exc:
            raise ValueError(f"actions must be integer vectors of length {len(self._nvec)} "
                             f"(MultiDiscrete {self._nvec.tolist()}): {exc}") from None
        if arr.shape != (self.n, len(self._nvec)) or arr.dtype.kind not in "iu":
            if arr.shape == (self.n, len(self._nvec)) and arr.dtype.kind == "f" \
                    and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
                arr = arr.astype(np.int64)
            else:
                raise ValueError(f"each action must be an integer vector of length {len(self._nvec)} "
                                 f"(MultiDiscrete {self._nvec.tolist()}); got an array of shape "
                                 f"{arr.shape[1:]} and dtype {arr.dtype}")
        if (arr < 0).any() or (arr >= self._nvec).any():
            bad = int(np.argwhere((arr < 0) | (arr >= self._nvec))[0, 0])
            raise ValueError(f"action of {self.possible_agents[bad]} is out of range: "
                             f"{arr[bad].tolist()} (each entry k must lie in [0, {self._nvec.tolist()}[k]))")
        return arr.tolist()

    def _apply_shift(self, t: int) -> None:
        """Put the world in the state of epoch ``t`` (called at the boundary that opens it, before
        the agents observe it): a failure or spike that starts at epoch ``t`` is visible in the
        observation for decision ``t``."""
        sh, cl = self.shift, self.cluster
        if sh is None:
            return
        now = cl.sim.now
        if sh.kind == "node_failure":
            if t == sh.onset:
                for i in self.failed_nodes:
                    cl.nodes[i].fail(now)
            elif t == sh.end and sh.end < self.horizon:
                for i in self.failed_nodes:
                    cl.nodes[i].repair(now)
        elif sh.kind == "latency_spike":
            on = sh.active(t)
            cl.latency_factor = sh.latency_factor if on else 1.0
            cl.bandwidth_factor = sh.bandwidth_factor if on else 1.0

    def _step_sim(self, actions: Mapping[str, Any]) -> tuple[dict, dict, dict]:
        p, cl, W = self.p, self.cluster, self.W
        acts = self._parse_actions(actions)
        now = cl.sim.now
        nodes, nbr = cl.nodes, self.neighbours.tolist()
        reserve_table = self.reserve_table
        for i, a in enumerate(acts):
            r = a[-1]
            self._reserve_idx[i] = r
            nodes[i].set_reserve(int(reserve_table[i, r]), now)
            pend = self._pending[i]
            if not pend:
                continue
            rest = a[W]
            for k, job in enumerate(pend):
                c = a[k] if k < W else rest
                if c == LOCAL:
                    nodes[i].admit(job, now)
                elif c == CLOUD:
                    cl.send_to_cloud(job)
                elif c == DROP:
                    cl.drop(job)
                else:
                    cl.send_to_neighbour(job, nbr[i][c - 1])
            self._pending[i] = []
        self._arrivals(now)
        end = now + p.epoch_s
        cl.advance(end)
        final = self.t + 1 >= self.horizon
        counters = cl.close_epoch(p.epoch_s, final)
        self.last_counters = counters
        # violations
        w = self.t % p.top_miss_window
        self._top_missed[w] = counters[MISSED_TOP]
        self._top_settled[w] = counters[SETTLED_TOP]
        settled = self._top_settled.sum(axis=0)
        rate = np.divide(self._top_missed.sum(axis=0), settled, out=np.zeros(self.n), where=settled > 0)
        top_ex = np.maximum(rate - self.top_miss_bound, 0.0).tolist()
        mem_ex, drops = [], counters[DROPPED_C]
        for node in nodes:
            mem_ex.append(max(node.mem_peak - node.mem_cap - self.mem_bound, 0.0))
            node.mem_peak = node.mem_used
        drop_ex = np.maximum(drops - self.drop_bound, 0.0).tolist()
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
            self._apply_shift(self.t + 1)     # after reading this epoch's memory peaks
        return rewards, kpi, viol

    def _draw_arrivals(self, start: int = 0) -> list[dict[str, np.ndarray]]:
        """The episode's arrival sequence from epoch ``start`` on, one batch per epoch (drawn at
        reset: arrivals do not depend on actions; shifts enter as known multipliers from their
        onset). Records the burst state before each epoch (``perturb_future``)."""
        sh, wl, dt = self.shift, self.workload, self.p.epoch_s
        out = []
        if start == 0:
            self._burst_hist = []
        for t in range(start, self.horizon):
            if start == 0:
                self._burst_hist.append(wl.on.copy())
            rates = wl.rates(t * dt)
            size_factor, size_sigma, size_alpha = 1.0, None, None
            if sh is not None and sh.active(t):
                if sh.kind == "flash_crowd":
                    rates = rates * self.crowd_mult
                elif sh.kind == "size_shift":
                    size_factor, size_sigma = sh.factor, sh.sigma
                elif sh.kind == "size_pareto":
                    size_factor, size_alpha = sh.factor, sh.alpha
            if size_alpha is None:
                out.append(wl.draw(t * dt, rates, size_factor, size_sigma))
            else:
                out.append(wl.draw(t * dt, rates, size_factor, size_alpha=size_alpha))
        return out

    def perturb_future(self, t0: int, seed: int) -> None:
        """Redraw every exogenous random quantity realised after the observation at step ``t0``
        — the burst chains, arrivals and job attributes of epochs ``t0, t0+1, …`` and, if the
        failure shift's onset lies after ``t0``, which nodes fail — from a Generator seeded by
        ``seed`` (``bench.checks.check_no_foresight``). Call right after ``reset``. The jobs
        arriving in epoch ``t0`` are first seen in the observation after step ``t0``."""
        if self.t != 0:
            raise RuntimeError("perturb_future must be called right after reset()")
        t0 = max(0, min(int(t0), self.horizon))
        rng = np.random.Generator(np.random.PCG64(int(seed)))
        wl = self.workload
        if t0 < len(self._burst_hist):
            wl.on = self._burst_hist[t0].copy()
        wl.rng_rates, wl.rng_jobs = rng, rng
        sh = self.shift
        if sh is not None and sh.kind == "node_failure" and sh.onset > t0:
            m = len(self.failed_nodes)
            self.failed_nodes = tuple(sorted(int(x) for x in rng.choice(self.n, m, replace=False)))
        keep = self._batches[:t0]
        self._batches = keep + self._draw_arrivals(start=t0)

    def future_arrivals(self, epochs: int | None = None) -> list[dict[str, np.ndarray]]:
        """Arrival batches of the coming ``epochs`` epochs (all remaining if None): per epoch the
        arrays ``node, arrival, cls, size, mem, data, deadline, counts``. Hindsight information:
        only ``oracle`` policies may read it."""
        stop = self.horizon if epochs is None else min(self.horizon, self.t + epochs)
        return self._batches[self.t:stop]

    def _arrivals(self, t0: float) -> None:
        """Release the jobs arriving in [t0, t0 + epoch); they are pending until the next decision."""
        cl = self.cluster
        b = self._batches[self.t]
        node, cls = b["node"], b["cls"]
        k = len(node)
        jid0 = self._next_jid
        self._next_jid += k
        pend = self._pending
        arrive = cl.arrive
        for j, (o, c, s, m, d, at, dl) in enumerate(zip(node.tolist(), cls.tolist(), b["size"].tolist(),
                                                        b["mem"].tolist(), b["data"].tolist(),
                                                        b["arrival"].tolist(), b["deadline"].tolist())):
            job = Job(jid0 + j, o, c, s, m, d, at, dl)
            arrive(job)
            pend[o].append(job)
        # pending-slot features (vectorised): rank of each job within its node's arrivals
        W, block = self.W, self._pend_block
        block.fill(0.0)
        counts = b["counts"]
        if k:
            starts = np.cumsum(counts) - counts
            rank = np.arange(k) - np.repeat(starts, counts)
            sel = rank < W
            rows, base = node[sel], rank[sel] * SLOT_FEATURES
            end = t0 + self.p.epoch_s
            block[rows, base] = 1.0
            block[rows, base + 1 + cls[sel]] = 1.0
            block[rows, base + 4] = b["size"][sel]
            block[rows, base + 5] = b["mem"][sel]
            block[rows, base + 6] = b["deadline"][sel] - end
            block[rows, base + 7] = b["data"][sel]
        block[:, -1] = np.maximum(counts - W, 0)
        self._pend_count = counts.astype(np.float64)
        self._pend_work = np.bincount(node, b["size"], minlength=self.n)

    # -- observations -----------------------------------------------------------------------------
    def _node_features(self) -> np.ndarray:
        """Own-node features (n, OWN_FEATURES + 2): the observation's own block plus pending count
        and pending work (the latter two for the global state only)."""
        cl = self.cluster
        now = cl.sim.now
        rows = []
        levels = self.p.reserve_levels
        for node, r in zip(cl.nodes, self._reserve_idx.tolist()):
            c = node.cores
            q = node.queues
            busy = node.busy
            rows.append((c, node.failed, busy, len(q[0]), len(q[1]), len(q[2]), node.q_work,
                         node.mem_used / node.mem_cap,
                         max(node.run_end_sum - busy * now, 0.0) if busy else 0.0,
                         levels[r] if node.up_cores else 0.0))
        f = np.array(rows, dtype=np.float64)
        f[:, 2:7] /= f[:, :1]
        f[:, 8] /= f[:, 0]
        f[:, 0] /= CORE_SCALE
        return np.concatenate([f, self._pend_count[:, None], self._pend_work[:, None]], axis=1)

    def _time_features(self) -> list[float]:
        p = self.p
        t = self.cluster.sim.now if self.cluster is not None else 0.0
        ph = 2.0 * math.pi * t / p.diurnal_period_s
        return [math.sin(ph), math.cos(ph), self.t / self.horizon]

    def _observe(self) -> dict[str, np.ndarray]:
        feats = self._node_features()
        own = feats[:, :OWN_FEATURES]
        cl, L = self.cluster, self.p.links
        nb_lat = L.neighbour_latency * cl.latency_factor
        nb_bw = L.neighbour_bandwidth * cl.bandwidth_factor / 1000.0
        adv = own[:, [0, 1, 2, 6, 7]]                    # advertised: cores, failed, busy, work, mem
        nb = adv[self.neighbours]                         # (n, 3, 5)
        link = np.broadcast_to(np.array([nb_lat, nb_bw]), (self.n, N_NEIGHBOURS, 2))
        nb = np.concatenate([nb, link], axis=2).reshape(self.n, -1)
        glob = np.array([L.cloud_latency * cl.latency_factor,
                         L.cloud_bandwidth * cl.bandwidth_factor / 1000.0] + self._time_features())
        obs = np.concatenate([own, self._pend_block, nb, np.broadcast_to(glob, (self.n, 5))], axis=1)
        obs = obs.astype(np.float32)
        return dict(zip(self.possible_agents, obs))

    def state(self) -> np.ndarray:
        """Global state (float64): per node the own block, pending count and pending work
        (n × 12, node-major), then cloud latency (s), cloud bandwidth (Gbit/s), latency and
        bandwidth factors, and the time features (sin, cos, t/horizon)."""
        if self.cluster is None:
            return np.zeros(self._state_dim)
        cl, L = self.cluster, self.p.links
        tail = [L.cloud_latency * cl.latency_factor, L.cloud_bandwidth * cl.bandwidth_factor / 1000.0,
                cl.latency_factor, cl.bandwidth_factor] + self._time_features()
        return np.concatenate([self._node_features().ravel(), np.asarray(tail)])

    def _state_template(self) -> np.ndarray:
        return np.zeros(self._state_dim)

    # -- analysis helpers ----------------------------------------------------------------------------
    def pending_jobs(self, agent: str) -> list[Job]:
        """The jobs now awaiting ``agent``'s decision, oldest first (hidden state: oracle only)."""
        return list(self._pending[self.possible_agents.index(agent)])

    def ledger(self) -> dict[str, int]:
        """Cumulative job flow: arrived, completed, dropped, expired, lost, in_system (the jobs
        pending, in transit, waiting, running or in the cloud). Always arrived = completed +
        dropped + expired + lost + in_system."""
        out = dict(self.cluster.totals)
        out["in_system"] = self.cluster.in_system()
        return out


def completion_time_quantile(bin_counts: np.ndarray, q: float = 0.95) -> float:
    """Quantile ``q`` of the completion time (s) from histogram counts over the bins of
    :data:`LATENCY_EDGES` (counters ``lat_bin_00`` …, summed over agents and steps).

    Linear interpolation inside the bin that holds the quantile (the first bin starts at 0 s);
    if it falls in the open last bin the result is that bin's lower edge (a lower bound). This is
    the ``quantile`` aggregate kind proposed for the harness (docs/tasks/compute.md)."""
    counts = np.asarray(bin_counts, np.float64)
    if counts.shape != (len(LATENCY_EDGES) + 1,):
        raise ValueError(f"bin_counts must have {len(LATENCY_EDGES) + 1} entries, got {counts.shape}")
    if not 0 < q < 1:
        raise ValueError(f"q must lie in (0, 1), got {q}")
    total = counts.sum()
    if total <= 0:
        return float("nan")
    target = q * total
    cum = np.cumsum(counts)
    k = int(np.searchsorted(cum, target, side="left"))
    if k >= len(LATENCY_EDGES):
        return float(LATENCY_EDGES[-1])
    lo = 0.0 if k == 0 else LATENCY_EDGES[k - 1]
    hi = LATENCY_EDGES[k]
    before = 0.0 if k == 0 else cum[k - 1]
    return float(lo + (hi - lo) * (target - before) / counts[k])
