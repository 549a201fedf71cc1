"""SimPy simulation core of ``compute/EdgeCluster-v1`` and ``-v2``: edge nodes, a cloud, jobs and their books.

**v2 differences** (flags of :class:`Cluster`, all off for v1 so v1 reproduces bit for bit):
``exact_abandon`` — an abandoned job leaves and frees its memory at its deadline, before any
later admission or start reads memory; ``delay_beyond_service`` — the delay cost prices time in
the system beyond the job's own nominal service; :meth:`Cluster.drain` — at the horizon the
system runs on without arrivals until every job has settled. In v2 arrivals are SimPy events
too (``tasks/compute/edge_cluster_v2.py``): a job is dispatched the instant it arrives. The
text below describes v1 where they differ.

Units: time in seconds (s), work in core-seconds (the time one core needs; every core runs at
speed 1), memory in GB, data in MB, link bandwidth in Mbit/s, power in W, energy in kWh, money
in USD.

**A node** has ``c`` identical cores and ``M`` GB of memory. A job needs one core for its whole
run (single-threaded, non-preemptive) and ``m`` GB of memory from admission until it leaves: an
admitted job's container is created and loaded at admission, so queued jobs hold memory too
(the node commits memory; it does not check it). The node serves its queue by strict
non-preemptive class priority (class 0 first), first-come-first-served within a class, with
*core reservation*: ``r`` of the ``c`` cores are kept for class 0, i.e. a job of class ≥ 1 may
start only while more than ``r`` cores are free (trunk reservation; Gross & Harris §2.4). With
one class and ``r = 0`` the node is exactly an FCFS multi-server queue, the setting of the
queueing-theory tests. A job that starts while the node's committed memory exceeds ``M`` runs
``overcommit_slowdown`` times slower (paging); its rate is fixed at start.

**Deadlines** are firm for waiting jobs and soft for running ones: a job that has not started by
its deadline is abandoned (it leaves at its deadline — reneging, as in the M/M/c+D queue); a
running job always finishes and is *late* if it finishes after its deadline.

**Offloading.** A job sent to a neighbour travels ``latency + 8·data/bandwidth`` seconds, then
is admitted there (it is not forwarded again). A job sent to the cloud runs at once on one of the
cloud's unlimited cores: it finishes after ``latency + 8·data/bandwidth`` (upload) ``+ size /
cloud_speed + latency`` (result back), and costs ``fee + price·m·size/cloud_speed`` (AWS
Lambda's pricing model: per request plus per GB-second). Link factors (``latency_factor``,
``bandwidth_factor``) model congestion.

**Failure.** A failed node loses its running and queued jobs (``lost``), powers off, and has no
working cores until repaired; jobs admitted while it is down wait (and are abandoned at their
deadlines).

**Events.** Only job completions and transfer arrivals are SimPy events (one ``Timeout`` each,
whose ``value`` is the job and whose callback is a method bound once per node); arrivals are
drawn in bulk per epoch (:class:`Workload`) because jobs wait for the next decision epoch
anyway, and job starts happen inside the callback that frees the core. A job therefore costs one
event (local or cloud run) or two (neighbour: transfer + run).

**Books.** Every job is *settled* exactly once — completed, dropped (by its origin's agent),
abandoned (``expired``), ``lost`` in a failure, or, at the end of the episode, counted as missed
if its deadline has passed — and the settlement is booked to the job's *origin* node:
``missed`` (late completion, drop, abandonment, loss), the delay cost ``delay_cost ×
(settlement time − arrival)`` and the class's miss penalty. Node-side quantities (busy
core-seconds, energy) are booked to the node that runs the work. Conservation: arrived =
completed + dropped + expired + lost + in system, at every instant.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import simpy

from bench.sim_engine import SimEngine

# job states
PENDING, TRANSIT, QUEUED, RUNNING, CLOUD, DONE, DROPPED, EXPIRED, LOST = range(9)

# KPI counters booked per node and epoch (docs/tasks/compute.md lists units and attribution)
COUNTERS = ("arrived", "completed", "missed", "settled", "missed_top", "settled_top",
            "completion_time_s", "dropped", "expired", "lost", "cloud_jobs", "cloud_cost_usd",
            "busy_core_s", "core_s", "energy_kwh", "total_cost_usd")
(ARRIVED, COMPLETED, MISSED, SETTLED, MISSED_TOP, SETTLED_TOP, COMPLETION_TIME, DROPPED_C,
 EXPIRED_C, LOST_C, CLOUD_JOBS, CLOUD_COST, BUSY, CORE_S, ENERGY, COST) = range(len(COUNTERS))
#: upper edges (s) of the completion-time histogram bins booked per epoch (``lat_bin_k`` counts
#: completions with completion time in [edge_{k-1}, edge_k); the last bin is open-ended)
LATENCY_EDGES = (1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0, 34.0, 55.0, 89.0)
BIN_COUNTERS = tuple(f"lat_bin_{k:02d}" for k in range(len(LATENCY_EDGES) + 1))
ALL_COUNTERS = COUNTERS + BIN_COUNTERS


class Job:
    """One job. ``size`` core-s, ``mem`` GB, ``data`` MB (input shipped when offloaded),
    ``arrival`` and ``deadline`` absolute times (s), ``cls`` priority class (0 = top).
    ``finish`` (s) is the scheduled finish while running, the landing time while in transit, the
    completion time while in the cloud, and the settlement time once settled."""

    __slots__ = ("jid", "origin", "cls", "size", "mem", "data", "arrival", "deadline", "state",
                 "host", "finish", "start")

    def __init__(self, jid: int, origin: int, cls: int, size: float, mem: float, data: float,
                 arrival: float, deadline: float) -> None:
        self.jid, self.origin, self.cls = jid, origin, cls
        self.size, self.mem, self.data = size, mem, data
        self.arrival, self.deadline = arrival, deadline
        self.state, self.host, self.finish = PENDING, -1, math.inf
        self.start = math.inf            # run start (s), set when it starts on an edge node

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return (f"Job({self.jid}, origin={self.origin}, cls={self.cls}, size={self.size:.3g}, "
                f"mem={self.mem:.3g}, state={self.state}, host={self.host})")


class Node:
    """An edge node: ``cores`` cores, ``mem_cap`` GB, priority queues with core reservation
    (module docstring). Work integrals (``area`` = busy core-seconds) are kept exactly, updated at
    every start and finish."""

    __slots__ = ("cl", "sim", "idx", "cores", "up_cores", "free", "reserve", "mem_cap", "mem_used",
                 "mem_peak", "queues", "nq", "q_work", "q_min_deadline", "busy", "area", "last", "run_end_sum",
                 "running", "failed", "_done")

    def __init__(self, cluster: "Cluster", idx: int, cores: int, mem_cap: float, n_classes: int) -> None:
        self.cl, self.sim, self.idx = cluster, cluster.sim, idx
        self.cores = self.up_cores = self.free = int(cores)
        self.reserve = 0
        self.mem_cap = float(mem_cap)
        self.mem_used = self.mem_peak = 0.0
        self.queues: list[deque] = [deque() for _ in range(n_classes)]
        self.nq = 0                      # jobs waiting in the queues
        self.q_work = 0.0                # core-s waiting in the queues
        self.q_min_deadline = math.inf   # <= earliest deadline among waiting jobs (lazy)
        self.busy = 0                    # cores running a job
        self.area = 0.0                  # busy core-seconds since the last flush
        self.last = 0.0
        self.run_end_sum = 0.0           # Σ finish times of running jobs (remaining work in O(1))
        self.running: dict[int, Job] = {}
        self.failed = False
        self._done = self._on_done       # bound once: one callback object for all this node's events

    # -- state seen by the agents ------------------------------------------------------------------
    def remaining_run_work(self, now: float) -> float:
        """Core-seconds left on running jobs (at their current speed)."""
        return max(self.run_end_sum - self.busy * now, 0.0) if self.busy else 0.0

    # -- admission and service ---------------------------------------------------------------------
    def set_reserve(self, r: int, now: float) -> None:
        """Keep ``r`` cores for class 0 (0 <= r < cores); a lower reservation may start jobs."""
        self.reserve = r
        if self.nq:
            self.pump(now)

    def admit(self, job: Job, now: float) -> None:
        """Commit the job's memory and queue it (it starts at once if a core is free for it)."""
        if job.deadline <= now:            # already too late to start: abandoned on arrival
            job.state, job.host = QUEUED, self.idx
            self.cl.expire(job, now)
            return
        job.state, job.host = QUEUED, self.idx
        if self.cl.exact_abandon and self.q_min_deadline <= now:
            self.sweep(now)              # jobs abandoned since the last event free memory first
        self.mem_used += job.mem
        if self.mem_used > self.mem_peak:
            self.mem_peak = self.mem_used
        if self.nq == 0 and (self.free > self.reserve or (job.cls == 0 and self.free > 0)):
            self._start(job, now)
            return
        self.queues[job.cls].append(job)
        self.nq += 1
        self.q_work += job.size
        if job.deadline < self.q_min_deadline:
            self.q_min_deadline = job.deadline
        if self.free:
            self.pump(now)

    def pump(self, now: float) -> None:
        """Start waiting jobs while cores allow: highest class first, FCFS within a class; class
        >= 1 only while more than ``reserve`` cores are free. Jobs past their deadline leave."""
        queues, cl = self.queues, self.cl
        if cl.exact_abandon and self.q_min_deadline <= now:
            self.sweep(now)              # before any start: its memory check sees only live jobs
        while self.free > 0 and self.nq:
            job = None
            for k, q in enumerate(queues):
                if k > 0 and self.free <= self.reserve:
                    break
                while q:
                    j = q.popleft()
                    self.nq -= 1
                    self.q_work -= j.size
                    if j.deadline <= now:
                        self.mem_used -= j.mem
                        cl.expire(j, j.deadline)
                        continue
                    job = j
                    break
                if job is not None:
                    break
            if job is None:
                break
            self._start(job, now)
        if self.nq == 0:
            self.q_work = 0.0            # clear float round-off
            self.q_min_deadline = math.inf
            if not self.busy:
                self.mem_used = 0.0

    def _start(self, job: Job, now: float) -> None:
        self.area += self.busy * (now - self.last)
        self.last = now
        self.busy += 1
        self.free -= 1
        dur = job.size
        if self.mem_used > self.mem_cap:
            dur *= self.cl.overcommit_slowdown
        job.state = RUNNING
        job.start = now
        job.finish = now + dur
        self.run_end_sum += job.finish
        self.running[job.jid] = job
        ev = self.sim.timeout(dur, job)
        ev.callbacks.append(self._done)

    def _on_done(self, event: Any) -> None:
        job: Job = event.value
        if job.state != RUNNING:          # lost in a failure while it ran
            return
        now = self.sim.now
        self.area += self.busy * (now - self.last)
        self.last = now
        self.busy -= 1
        self.free += 1
        del self.running[job.jid]
        self.run_end_sum = self.run_end_sum - job.finish if self.busy else 0.0
        self.mem_used -= job.mem
        if not self.busy and not self.nq:
            self.mem_used = 0.0           # clear float round-off: nothing holds memory
        self.cl.complete(job, now)
        if self.nq:
            self.pump(now)

    # -- housekeeping --------------------------------------------------------------------------------
    def sweep(self, now: float) -> None:
        """Remove waiting jobs whose deadline has passed (they left at their deadline)."""
        if not self.nq or self.q_min_deadline > now:
            return
        cl = self.cl
        earliest = math.inf
        for k, q in enumerate(self.queues):
            if not q:
                continue
            keep = deque()
            for j in q:
                if j.deadline > now:
                    keep.append(j)
                    if j.deadline < earliest:
                        earliest = j.deadline
                else:
                    self.nq -= 1
                    self.q_work -= j.size
                    self.mem_used -= j.mem
                    cl.expire(j, j.deadline)
            self.queues[k] = keep
        self.q_min_deadline = earliest
        if self.nq == 0:
            self.q_work = 0.0
            if not self.busy:
                self.mem_used = 0.0

    def flush(self, now: float) -> float:
        """Busy core-seconds since the last flush (and restart the integral)."""
        self.area += self.busy * (now - self.last)
        self.last = now
        out, self.area = self.area, 0.0
        return out

    def fail(self, now: float) -> None:
        """Crash: running and waiting jobs are lost, memory is cleared, no core works."""
        self.area += self.busy * (now - self.last)       # busy time up to the crash still counts
        self.last = now
        cl = self.cl
        for job in list(self.running.values()):
            cl.lose(job, now)
        for q in self.queues:
            for job in q:
                cl.lose(job, now)
            q.clear()
        self.running.clear()
        self.nq, self.q_work, self.busy, self.run_end_sum = 0, 0.0, 0, 0.0
        self.q_min_deadline = math.inf
        self.mem_used = self.mem_peak = 0.0
        self.up_cores = self.free = 0
        self.failed = True

    def repair(self, now: float) -> None:
        """Back in service with every core free."""
        self.last = now
        self.failed = False
        self.up_cores = self.free = self.cores
        self.pump(now)


@dataclass(frozen=True)
class Prices:
    """Money and power (USD, W). ``miss_penalty`` per class; ``delay_cost`` USD per job-second
    in the system; cloud ``fee`` per job and ``gb_s`` per GB-second of cloud run time."""

    miss_penalty: tuple[float, ...]
    delay_cost: float
    cloud_fee: float
    cloud_gb_s: float
    power_idle: float                    # W per powered core
    power_active: float                  # W per busy core (>= power_idle)
    energy_price: float                  # USD per kWh


@dataclass(frozen=True)
class Links:
    """One-way latencies (s) and bandwidths (Mbit/s) of the neighbour links and the cloud uplink."""

    neighbour_latency: float
    neighbour_bandwidth: float
    cloud_latency: float
    cloud_bandwidth: float
    cloud_speed: float                   # work units per second of one cloud core


class Cluster:
    """The nodes, the cloud, the event engine and the per-node books (module docstring)."""

    def __init__(self, cores: Sequence[int], mem_cap: Sequence[float], prices: Prices, links: Links,
                 *, n_classes: int, overcommit_slowdown: float = 1.0, record: bool = False,
                 exact_abandon: bool = False, delay_beyond_service: bool = False) -> None:
        if len(cores) != len(mem_cap):
            raise ValueError("cores and mem_cap must have one entry per node")
        self.sim = SimEngine()  # pickles mid-episode (bench/sim_engine.py)
        self.n = len(cores)
        self.n_classes = n_classes
        self.prices, self.links = prices, links
        self.overcommit_slowdown = float(overcommit_slowdown)
        #: v2 semantics (False keeps v1 bit for bit): an abandoned job frees its memory at its
        #: deadline, before any later admission or start looks at memory (v1: at the next sweep)
        self.exact_abandon = bool(exact_abandon)
        #: v2: the delay cost prices time in the system beyond the job's own nominal service
        #: (waiting, transfers, paging slowdown), not the run time itself (v1: the whole sojourn)
        self.delay_beyond_service = bool(delay_beyond_service)
        self.nodes = [Node(self, i, int(c), float(m), n_classes) for i, (c, m) in enumerate(zip(cores, mem_cap))]
        self.latency_factor = 1.0
        self.bandwidth_factor = 1.0
        self.acc = [[0.0] * self.n for _ in ALL_COUNTERS]
        self.live: dict[int, Job] = {}           # unsettled jobs, in arrival order
        self.totals = dict.fromkeys(("arrived", "completed", "dropped", "expired", "lost"), 0)
        self.record = record                     # keep settled jobs (tests, analysis)
        self.settled_jobs: list[Job] = []
        self._penalty = tuple(float(p) for p in prices.miss_penalty)
        self._nbin = len(LATENCY_EDGES)
        self._cloud_cb = self._cloud_done
        self._transfer_cb = self._transfer_done

    # -- jobs entering ---------------------------------------------------------------------------------
    def arrive(self, job: Job) -> None:
        """Book a new job (it waits for its origin agent's decision)."""
        self.live[job.jid] = job
        self.acc[ARRIVED][job.origin] += 1.0
        self.totals["arrived"] += 1

    # -- decisions ---------------------------------------------------------------------------------------
    def run_local(self, job: Job, node: int) -> None:
        self.nodes[node].admit(job, self.sim.now)

    def send_to_neighbour(self, job: Job, node: int) -> None:
        L = self.links
        delay = (L.neighbour_latency * self.latency_factor
                 + 8.0 * job.data / (L.neighbour_bandwidth * self.bandwidth_factor))
        job.state, job.host = TRANSIT, node
        job.finish = self.sim.now + delay          # arrival time at the neighbour
        ev = self.sim.timeout(delay, job)
        ev.callbacks.append(self._transfer_cb)

    def send_to_cloud(self, job: Job) -> None:
        L, P = self.links, self.prices
        run = job.size / L.cloud_speed
        delay = (2.0 * L.cloud_latency * self.latency_factor
                 + 8.0 * job.data / (L.cloud_bandwidth * self.bandwidth_factor) + run)
        job.state, job.host = CLOUD, -1
        job.finish = self.sim.now + delay
        fee = P.cloud_fee + P.cloud_gb_s * job.mem * run
        o = job.origin
        self.acc[CLOUD_JOBS][o] += 1.0
        self.acc[CLOUD_COST][o] += fee
        self.acc[COST][o] += fee
        ev = self.sim.timeout(delay, job)
        ev.callbacks.append(self._cloud_cb)

    def drop(self, job: Job) -> None:
        job.state = DROPPED
        self.acc[DROPPED_C][job.origin] += 1.0
        self.totals["dropped"] += 1
        self._settle(job, self.sim.now, True)

    def _transfer_done(self, event: Any) -> None:
        job: Job = event.value
        self.nodes[job.host].admit(job, self.sim.now)

    def _cloud_done(self, event: Any) -> None:
        self.complete(event.value, self.sim.now)

    # -- settlements ---------------------------------------------------------------------------------
    def _settle(self, job: Job, t: float, missed: bool, served: float = 0.0) -> None:
        """Book a job's settlement at ``t``; ``served`` (s) is the time it spent being served at
        nominal speed, excluded from the delay cost under ``delay_beyond_service``."""
        o, acc = job.origin, self.acc
        del self.live[job.jid]
        job.finish = t
        acc[SETTLED][o] += 1.0
        sojourn = t - job.arrival
        if self.delay_beyond_service:
            sojourn = max(sojourn - served, 0.0)
        cost = self.prices.delay_cost * sojourn
        if missed:
            acc[MISSED][o] += 1.0
            cost += self._penalty[job.cls]
        if job.cls == 0:
            acc[SETTLED_TOP][o] += 1.0
            if missed:
                acc[MISSED_TOP][o] += 1.0
        acc[COST][o] += cost
        if self.record:
            self.settled_jobs.append(job)

    def complete(self, job: Job, now: float) -> None:
        job.state, job.finish = DONE, now
        o, acc = job.origin, self.acc
        ct = now - job.arrival
        acc[COMPLETED][o] += 1.0
        acc[COMPLETION_TIME][o] += ct
        k = 0
        edges, nb = LATENCY_EDGES, self._nbin
        while k < nb and ct >= edges[k]:
            k += 1
        acc[len(COUNTERS) + k][o] += 1.0
        self.totals["completed"] += 1
        served = job.size / self.links.cloud_speed if job.host < 0 else job.size
        self._settle(job, now, now > job.deadline, served)

    def expire(self, job: Job, t: float) -> None:
        """A job abandoned because it could not start by its deadline; it leaves at ``t`` (its
        deadline if it was waiting then, else the moment it reached the node)."""
        job.state = EXPIRED
        self.acc[EXPIRED_C][job.origin] += 1.0
        self.totals["expired"] += 1
        self._settle(job, t, True)

    def lose(self, job: Job, now: float) -> None:
        served = min(now - job.start, job.size) if job.state == RUNNING else 0.0
        job.state = LOST
        self.acc[LOST_C][job.origin] += 1.0
        self.totals["lost"] += 1
        self._settle(job, now, True, served)

    # -- time --------------------------------------------------------------------------------------------
    def advance(self, until: float) -> None:
        """Run the event engine up to time ``until`` (s)."""
        if until > self.sim.now:
            self.sim.run(until=until)

    def close_epoch(self, epoch_s: float, final: bool = False) -> np.ndarray:
        """Abandon overdue waiting jobs, book busy time, powered core-seconds and energy of the
        epoch that ends now (and, if ``final``, :meth:`settle_at_end`); return the epoch's
        counters, shape (len(ALL_COUNTERS), n), and reset them."""
        now = self.sim.now
        P = self.prices
        acc = self.acc
        extra_w = P.power_active - P.power_idle
        for node in self.nodes:
            node.sweep(now)
            i = node.idx
            busy = node.flush(now)
            core_s = node.up_cores * epoch_s
            joules = P.power_idle * core_s + extra_w * busy
            kwh = joules / 3.6e6
            acc[BUSY][i] += busy
            acc[CORE_S][i] += core_s
            acc[ENERGY][i] += kwh
            acc[COST][i] += kwh * P.energy_price
        if final:
            self.settle_at_end()
        out = np.array(acc, dtype=np.float64)
        self.acc = [[0.0] * self.n for _ in ALL_COUNTERS]
        return out

    def settle_at_end(self) -> None:
        """End of the horizon: charge every job still in the system its delay so far, and count
        it as missed (with its penalty) if its deadline has passed. Such jobs stay in ``live``
        (they are in the system); the miss is booked once, here."""
        now = self.sim.now
        acc, P = self.acc, self.prices
        for job in self.live.values():
            o = job.origin
            cost = P.delay_cost * (now - job.arrival)
            if job.deadline < now:
                acc[MISSED][o] += 1.0
                acc[SETTLED][o] += 1.0
                cost += self._penalty[job.cls]
                if job.cls == 0:
                    acc[MISSED_TOP][o] += 1.0
                    acc[SETTLED_TOP][o] += 1.0
            acc[COST][o] += cost

    def drain(self) -> None:
        """v2 end of the horizon: run the system on with no new arrivals until every job in it
        has settled, booking each job's true cost (delay, miss penalty, active energy of the
        work run after the horizon; the idle power of the cores after the horizon is not
        booked). The terminal cost of a job in the system at the horizon is thus what finishing
        it costs, so parking work at the end saves nothing. Call after the last epoch's
        :meth:`close_epoch`; read the counters with :meth:`take_counters`."""
        self.sim.run()
        end = self.sim.now
        for node in self.nodes:                 # only failed nodes can hold waiting jobs now
            for q in node.queues:
                for j in q:
                    node.mem_used -= j.mem
                    self.expire(j, j.deadline)      # a waiting job leaves at its deadline
                q.clear()
            node.nq, node.q_work, node.q_min_deadline = 0, 0.0, math.inf
        P = self.prices
        extra = (P.power_active - P.power_idle) / 3.6e6
        for node in self.nodes:
            kwh = extra * node.flush(end)
            self.acc[ENERGY][node.idx] += kwh
            self.acc[COST][node.idx] += kwh * P.energy_price

    def take_counters(self) -> np.ndarray:
        """The counters booked since the last close, shape (len(ALL_COUNTERS), n); reset them."""
        out = np.array(self.acc, dtype=np.float64)
        self.acc = [[0.0] * self.n for _ in ALL_COUNTERS]
        return out

    def in_system(self) -> int:
        return len(self.live)


# ---------------------------------------------------------------------------------------------
# Workload
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class JobClasses:
    """Per-class job laws (index = class, 0 = top priority). Sizes, memory and data are
    lognormal with the given means and log-s.d.s (mean-preserving: ``mean·exp(σZ − σ²/2)``);
    the relative deadline is ``deadline_base + deadline_slack × size``."""

    share: tuple[float, ...]
    size_mean: tuple[float, ...]         # core-s
    size_sigma: float
    mem_mean: tuple[float, ...]          # GB
    mem_sigma: float
    data_mean: tuple[float, ...]         # MB
    data_sigma: float
    deadline_base: tuple[float, ...]     # s
    deadline_slack: tuple[float, ...]    # dimensionless

    @property
    def n(self) -> int:
        return len(self.share)

    @property
    def mean_size(self) -> float:
        """E[S] over the class mix (core-s)."""
        return float(np.dot(self.share, self.size_mean))


class Workload:
    """Per-node job arrivals: a Poisson process whose rate is piecewise constant over decision
    epochs (so counts per epoch are Poisson and arrival instants uniform within the epoch — exact
    for such a process), modulated by

    * a per-node *hotspot* factor ``h_i`` (lognormal, mean 1, log-s.d. ``hotspot_sd``) drawn per
      episode — some sites are busier than others;
    * a *diurnal* profile ``1 + A sin(2π t/P − π/2)``, lowest at t = 0 and highest at ``P/2``
      (one compressed day per ``P`` seconds);
    * *bursts*: a two-state Markov-modulated Poisson process per node, switched once per epoch
      (off → on with probability ``p_on``, on → off with ``1/mean_len``); the rate is
      ``burst_factor`` times higher while on.

    The base rate is ``λ_i = load · c_i / E[S] · h_i / (1 + π_on (burst_factor − 1))`` with ``π_on
    = p_on / (p_on + 1/mean_len)``, so ``load`` is the long-run offered load (utilisation if
    every job ran at its origin) of a node with ``h_i = 1``.
    """

    def __init__(self, cores: np.ndarray, classes: JobClasses, *, epoch_s: float, load: float,
                 hotspot_sd: float, diurnal_amplitude: float, diurnal_period_s: float,
                 burst_factor: float, burst_start_prob: float, burst_mean_epochs: float,
                 rng_rates: np.random.Generator, rng_jobs: np.random.Generator,
                 size_law: str = "lognormal") -> None:
        if size_law not in ("lognormal", "exponential"):
            raise ValueError(f"parameter 'size_law' must be 'lognormal' or 'exponential', got {size_law!r}")
        self.exponential = size_law == "exponential"
        self.n = len(cores)
        self.classes = classes
        self.epoch_s = float(epoch_s)
        self.amplitude, self.period = float(diurnal_amplitude), float(diurnal_period_s)
        self.burst_factor = float(burst_factor)
        self.p_on, self.p_off = float(burst_start_prob), 1.0 / float(burst_mean_epochs)
        pi_on = self.p_on / (self.p_on + self.p_off) if self.p_on > 0 else 0.0
        self.hot = np.exp(hotspot_sd * rng_rates.standard_normal(self.n) - 0.5 * hotspot_sd ** 2)
        self.base = load * np.asarray(cores, np.float64) / classes.mean_size * self.hot \
            / (1.0 + pi_on * (self.burst_factor - 1.0))
        self.on = np.zeros(self.n, bool)
        self.rng_rates, self.rng_jobs = rng_rates, rng_jobs
        self._cum_share = np.cumsum(classes.share) / np.sum(classes.share)
        self._size_mean = np.asarray(classes.size_mean, np.float64)
        self._mem_mean = np.asarray(classes.mem_mean, np.float64)
        self._data_mean = np.asarray(classes.data_mean, np.float64)
        self._base_dl = np.asarray(classes.deadline_base, np.float64)
        self._slack = np.asarray(classes.deadline_slack, np.float64)

    def diurnal(self, t: float) -> float:
        """Diurnal rate factor at time ``t`` (s)."""
        if self.amplitude == 0.0:
            return 1.0
        return 1.0 + self.amplitude * math.sin(2.0 * math.pi * t / self.period - 0.5 * math.pi)

    def rates(self, t0: float) -> np.ndarray:
        """Advance the burst chains one epoch and return each node's rate (1/s) over
        [t0, t0 + epoch)."""
        u = self.rng_rates.random(self.n)
        self.on = np.where(self.on, u >= self.p_off, u < self.p_on)
        mult = np.where(self.on, self.burst_factor, 1.0)
        return self.base * mult * self.diurnal(t0 + 0.5 * self.epoch_s)

    def draw(self, t0: float, rates: np.ndarray, size_factor: float = 1.0,
             size_sigma: float | None = None, *, size_alpha: float | None = None
             ) -> dict[str, np.ndarray]:
        """Jobs arriving in [t0, t0 + epoch) at rates ``rates`` (1/s, shape (n,)), sorted by node
        then arrival time. ``size_factor`` and ``size_sigma`` override the size law (shift);
        ``size_alpha`` replaces it by a Pareto law of shape α with the same class means
        (scale ``x_m = mean (α − 1)/α``; infinite variance for α ≤ 2)."""
        rng, C = self.rng_jobs, self.classes
        counts = rng.poisson(rates * self.epoch_s)
        k = int(counts.sum())
        node = np.repeat(np.arange(self.n), counts)
        at = t0 + self.epoch_s * rng.random(k)
        order = np.lexsort((at, node))
        node, at = node[order], at[order]
        cls = np.searchsorted(self._cum_share, rng.random(k), side="right")
        cls = np.minimum(cls, C.n - 1)
        z = rng.standard_normal((3, k))
        ss = C.size_sigma if size_sigma is None else float(size_sigma)
        size = self._size_mean[cls] * size_factor * np.exp(ss * z[0] - 0.5 * ss * ss)
        if self.exponential:                # M/M/c tests: exponential work with the class means
            size = self._size_mean[cls] * size_factor * rng.exponential(1.0, k)
        if size_alpha is not None:
            a = float(size_alpha)
            size = self._size_mean[cls] * size_factor * (a - 1.0) / a * (1.0 + rng.pareto(a, k))
        mem = self._mem_mean[cls] * np.exp(C.mem_sigma * z[1] - 0.5 * C.mem_sigma ** 2)
        data = self._data_mean[cls] * np.exp(C.data_sigma * z[2] - 0.5 * C.data_sigma ** 2)
        deadline = at + self._base_dl[cls] + self._slack[cls] * size
        return {"node": node, "arrival": at, "cls": cls, "size": size, "mem": mem, "data": data,
                "deadline": deadline, "counts": counts}


# ---------------------------------------------------------------------------------------------
# A single FCFS node fed in continuous time (the queueing-theory check)
# ---------------------------------------------------------------------------------------------
def simulate_single_node(cores: int, arrival_rate: float, sizes: np.ndarray,
                         rng: np.random.Generator, classes: np.ndarray | None = None,
                         reserve: int = 0) -> np.ndarray:
    """Feed ``len(sizes)`` jobs with Poisson arrivals (rate ``arrival_rate`` 1/s) into one
    :class:`Node` with ``cores`` cores — no deadline, no memory — and return each job's waiting
    time (s; start − arrival) in arrival order.

    ``classes`` (int array, default all 0) gives each job's priority class; ``reserve`` the cores
    kept for class 0. Arrivals are a SimPy process (one ``Timeout`` per inter-arrival gap) that
    admits each job the instant it arrives, so with one class the node is an exact
    M/G/c-FCFS queue whose waits must match Erlang C and Pollaczek–Khinchine, and with several
    an M/G/c non-preemptive priority queue (``tests/compute/test_queueing.py``)."""
    if cores < 1:
        raise ValueError(f"cores must be >= 1, got {cores}")
    sizes = np.asarray(sizes, np.float64)
    cls = np.zeros(len(sizes), np.int64) if classes is None else np.asarray(classes, np.int64)
    if cls.shape != sizes.shape or (len(cls) and cls.min() < 0):
        raise ValueError("classes must hold one non-negative class per job")
    k = int(cls.max()) + 1 if len(cls) else 1
    prices = Prices(miss_penalty=(0.0,) * k, delay_cost=0.0, cloud_fee=0.0, cloud_gb_s=0.0,
                    power_idle=0.0, power_active=0.0, energy_price=0.0)
    links = Links(1.0, 1.0, 1.0, 1.0, 1.0)
    cl = Cluster([cores], [math.inf], prices, links, n_classes=k)
    node = cl.nodes[0]
    node.reserve = int(reserve)
    gaps = rng.exponential(1.0 / arrival_rate, size=len(sizes)).tolist()
    jobs = [Job(i, 0, c, float(s), 0.0, 0.0, 0.0, math.inf)
            for i, (s, c) in enumerate(zip(sizes.tolist(), cls.tolist()))]
    sim = cl.sim

    def source():
        for job, gap in zip(jobs, gaps):
            yield sim.timeout(gap)
            job.arrival = sim.now
            cl.arrive(job)
            node.admit(job, sim.now)

    sim.process(source())
    sim.run()
    if cl.totals["completed"] != len(jobs):  # pragma: no cover - no deadlines: every job runs
        raise RuntimeError(f"only {cl.totals['completed']} of {len(jobs)} jobs completed")
    # a job's finish time is start + size exactly (speed 1, no memory pressure)
    finish = np.fromiter((j.finish for j in jobs), np.float64, len(jobs))
    arrival = np.fromiter((j.arrival for j in jobs), np.float64, len(jobs))
    return finish - sizes - arrival
