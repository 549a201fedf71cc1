"""compute/EdgeCluster-v2: the env itself is the queue the docs name, the books close at the
horizon, abandoned jobs free memory at their deadline, no foresight, trace replay, calibration.

Every queueing check runs the *env* (``bench.make`` with spec overrides, every job local, one
class), not a side driver: jobs are decided at their arrival instant, so a node is an FCFS
M/G/c queue fed in continuous time."""

from __future__ import annotations

import csv
import math
import warnings

import numpy as np
import pytest
from scipy import stats

import bench
from bench.checks import check_no_foresight
from tasks.compute import queueing as Q
from tasks.compute.cluster import (COST, DROPPED_C, Cluster, Job, Links, Prices)
from tasks.compute.edge_cluster_v2 import TRACE_COLUMNS

TASK = "compute/EdgeCluster-v2"
V1 = "compute/EdgeCluster-v1"


def _all_local(env) -> dict[str, np.ndarray]:
    u = env.unwrapped
    k = 3
    return {a: np.array([u.always] * k + [0] * k + [0], np.int64) for a in env.possible_agents}


def _queue_env(cores: int, law: str, sigma: float, load: float, horizon: int):
    """One class, no deadlines, no memory, stationary Poisson arrivals at every node."""
    env = bench.make(TASK, scale="n4", horizon=horizon, cores_cycle=[cores],
                     class_share=[1.0, 0.0, 0.0], size_mean_s=[1.0, 1.0, 1.0], size_sigma=sigma,
                     size_law=law, load=load, hotspot_sd=0.0, diurnal_amplitude=0.0,
                     burst_start_prob=0.0, deadline_base_s=[1e9] * 3, memory_mean_gb=[0.0] * 3)
    env.unwrapped.record_jobs = True
    return env


def _waits_ci(env, seed: int, batches_per_node: int = 10) -> tuple[float, float, float]:
    """Run the env with every job local; batch-means CI (99 %) of the arrival-to-start wait,
    batches cut per node in arrival order after a 10 % warm-up (nodes are independent queues)."""
    env.reset(seed=seed)
    act = _all_local(env)
    while env.agents:
        env.step(act)
    jobs = env.unwrapped.cluster.settled_jobs
    assert len(jobs) == env.unwrapped.ledger()["arrived"]
    means = []
    for i in range(env.unwrapped.n):
        mine = sorted((j for j in jobs if j.origin == i), key=lambda j: j.arrival)
        w = np.array([j.start - j.arrival for j in mine])
        w = w[len(w) // 10:]
        m = len(w) // batches_per_node
        means += list(w[:m * batches_per_node].reshape(batches_per_node, m).mean(axis=1))
    x = np.asarray(means)
    half = stats.t.ppf(0.995, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return float(x.mean()), float(x.mean() - half), float(x.mean() + half)


def test_env_node_is_mmc_erlang_c() -> None:
    """4 nodes x 4 cores, exponential work (mean 1 s), load 0.75: the env's mean wait matches
    Erlang C (0.509 s); v1 fed the same node batches at integer times (1.057 s arrival-to-start)."""
    env = _queue_env(4, "exponential", 0.0, 0.75, 5000)
    m, lo, hi = _waits_ci(env, seed=5)
    theory = Q.mmc_mean_wait(3.0, 1.0, 4)
    print(f"\nM/M/4 env: {m:.4f} [{lo:.4f}, {hi:.4f}] vs Erlang C {theory:.4f}")
    assert lo <= theory <= hi, (m, lo, hi, theory)
    assert hi - lo < 0.5 * theory          # tight enough to see a v1-size bias (+0.5 s)


def test_env_node_is_mg1_pollaczek_khinchine() -> None:
    """4 single-core nodes, lognormal work (mean 1 s, log-s.d. 0.5), load 0.7: P-K 1.498 s."""
    env = _queue_env(1, "lognormal", 0.5, 0.7, 10000)
    m, lo, hi = _waits_ci(env, seed=7)
    mean, second = Q.lognormal_moments(1.0, 0.5)
    theory = Q.mg1_mean_wait(0.7, mean, second)
    print(f"\nM/G/1 env: {m:.4f} [{lo:.4f}, {hi:.4f}] vs P-K {theory:.4f}")
    assert lo <= theory <= hi, (m, lo, hi, theory)
    assert hi - lo < 0.5 * theory


def test_v1_env_node_is_not_that_queue() -> None:
    """The check can fail: v1, fed the same way (every job local, one class), keeps each job
    pending until the next 1-s boundary, and its arrival-to-start wait lies far above P-K."""
    env = bench.make(V1, scale="n4", horizon=10000, cores_cycle=[1], class_share=[1.0, 0.0, 0.0],
                     size_mean_s=[1.0, 1.0, 1.0], size_sigma=0.5, load=0.7, hotspot_sd=0.0,
                     diurnal_amplitude=0.0, burst_start_prob=0.0, deadline_base_s=[1e9] * 3,
                     memory_mean_gb=[0.0] * 3)
    env.unwrapped.record_jobs = True
    env.reset(seed=7)
    act = {a: np.zeros(env.unwrapped.W + 2, np.int64) for a in env.possible_agents}
    while env.agents:
        env.step(act)
    jobs = [j for j in env.unwrapped.cluster.settled_jobs if j.start < math.inf]
    w = np.array([j.start - j.arrival for j in sorted(jobs, key=lambda j: j.arrival)])
    _, lo, _ = Q.batch_means_ci(w[len(w) // 10:], n_batches=40)
    mean, second = Q.lognormal_moments(1.0, 0.5)
    assert lo > Q.mg1_mean_wait(0.7, mean, second) + 0.3


# -- accounting ------------------------------------------------------------------------------------
def _cluster(v2: bool, cores: int = 1, mem: float = 1.0) -> Cluster:
    prices = Prices(miss_penalty=(0.01, 0.005, 0.002), delay_cost=2e-5, cloud_fee=0.0, cloud_gb_s=0.0,
                    power_idle=0.0, power_active=0.0, energy_price=0.0)
    return Cluster([cores], [mem], prices, Links(0.005, 1000.0, 0.05, 100.0, 1.0), n_classes=3,
                   overcommit_slowdown=2.0, exact_abandon=v2, delay_beyond_service=v2)


@pytest.mark.parametrize("v2, finish", [(False, 4.0), (True, 3.0)])
def test_abandoned_job_frees_memory_at_its_deadline(v2: bool, finish: float) -> None:
    """1 core, 1 GB. A (class 0, 2 s, 0.5 GB) runs; B (class 1, 0.6 GB, deadline 1 s) waits and
    is abandoned at t = 1; C (class 0, 1 s, 0.5 GB) arrives at 1.5 and starts at 2. In v1 B's
    memory still counted at 2, so C started overcommitted and ran 2x slower (finish 4.0); in v2
    B leaves with its memory at its deadline and C finishes at 3.0."""
    cl = _cluster(v2)
    node = cl.nodes[0]
    a = Job(0, 0, 0, 2.0, 0.5, 0.0, 0.0, 100.0)
    b = Job(1, 0, 1, 1.0, 0.6, 0.0, 0.0, 1.0)
    c = Job(2, 0, 0, 1.0, 0.5, 0.0, 1.5, 100.0)
    for j in (a, b):
        cl.arrive(j)
        node.admit(j, 0.0)
    cl.advance(1.5)
    cl.arrive(c)
    node.admit(c, 1.5)
    cl.advance(10.0)
    assert c.finish == pytest.approx(finish)
    assert b.finish == pytest.approx(1.0)          # settled at its deadline either way
    assert node.mem_used == 0.0


def test_delay_cost_is_time_beyond_own_service() -> None:
    """v2: a job that starts at once costs no delay (only energy), so dropping it (its miss
    penalty) is never cheaper; v1 charged the run time too."""
    for v2, expected in ((True, 0.0), (False, 2e-5 * 20.0)):
        cl = _cluster(v2, cores=1, mem=10.0)
        j = Job(0, 0, 2, 20.0, 0.1, 0.0, 0.0, 1e3)
        cl.arrive(j)
        cl.nodes[0].admit(j, 0.0)
        cl.advance(30.0)
        assert cl.take_counters()[COST][0] == pytest.approx(expected)
    cl = _cluster(True)
    j = Job(1, 0, 2, 20.0, 0.1, 0.0, 0.0, 1e3)
    cl.arrive(j)
    cl.drop(j)
    got = cl.take_counters()
    assert got[DROPPED_C][0] == 1 and got[COST][0] == pytest.approx(0.002)


def test_every_job_settled_at_the_horizon() -> None:
    """Drain: after the last step nothing is in the system and every arrival was settled (so
    every miss is booked), under a policy that parks work (everything local, max reservation)."""
    env = bench.make(TASK, scale="n4")
    env.reset(seed=3)
    act = _all_local(env)
    for a in act.values():
        a[-1] = 3
    settled = arrived = 0.0
    while env.agents:
        _, _, _, _, info = env.step(act)
        arrived += info["node_0"]["kpi"]["arrived"]
        settled += info["node_0"]["kpi"]["settled"]
    led = env.unwrapped.ledger()
    assert led["in_system"] == 0
    assert settled == arrived == led["arrived"] > 0
    assert led["completed"] + led["dropped"] + led["expired"] + led["lost"] == led["arrived"]


def test_work_left_at_the_horizon_is_costed_in_full(tmp_path) -> None:
    """A 30-s job arriving 0.5 s before the end of a 5-s episode behind a busy core: the last
    step books its whole wait (beyond the horizon too), its completion and its miss."""
    path = tmp_path / "late.csv"
    _write_trace(path, [(0.1, 0, 1, 20.0, 0.1, 1.0, 100.0),      # occupies the single core
                        (4.5, 0, 2, 30.0, 0.1, 1.0, 40.0)])      # waits until 20.1, misses 44.5
    env = bench.make(TASK, scale="n4", trace_csv=str(path), horizon=5, cores_cycle=[1])
    env.reset(seed=0)
    act = _all_local(env)
    while env.agents:
        _, _, _, _, info = env.step(act)
    kpi = info["node_0"]["kpi"]
    assert kpi["completed"] == 2 and kpi["missed"] == 1
    wait = 20.1 - 4.5
    assert kpi["completion_time_s"] == pytest.approx((20.1 - 0.1) + (wait + 30.0))
    # its whole wait (delay beyond its own service) and its class-2 miss penalty, plus energy
    assert kpi["total_cost_usd"] > 2e-5 * wait + 0.002


# -- no foresight, determinism -------------------------------------------------------------------------
@pytest.mark.parametrize("task", [V1, TASK])
@pytest.mark.parametrize("scale", ["n4", "n10", "n64", "n256"])
def test_no_foresight(task: str, scale: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        problems = check_no_foresight(lambda: bench.make(task, scale=scale), seed=21, t0=6, extra_steps=6)
    assert problems == []


def test_no_foresight_under_failure_shift() -> None:
    problems = check_no_foresight(lambda: bench.make(TASK, scale="n10", scenario="node_failure"),
                                  seed=2, t0=58, extra_steps=4)
    assert problems == []


def test_pareto_sizes_shift_has_the_class_means() -> None:
    env = bench.make(TASK, scale="n256", scenario="pareto_sizes")
    env.reset(seed=1)
    u = env.unwrapped
    sizes = np.concatenate([b["size"][b["cls"] == 0] for b in u._batches[60:]])
    base = np.concatenate([b["size"][b["cls"] == 0] for b in u._batches[:60]])
    assert sizes.mean() == pytest.approx(0.43, rel=0.25)
    assert sizes.min() >= 0.43 / 3 - 1e-12          # Pareto scale x_m = mean (a-1)/a
    assert np.quantile(sizes, 0.5) < np.quantile(base, 0.5) * 2


# -- workload calibration --------------------------------------------------------------------------------
def _mixture_cdf(params, x: float) -> float:
    share = np.asarray(params["class_share"], float)
    share = share / share.sum()
    s = float(params["size_sigma"])
    mu = np.log(np.asarray(params["size_mean_s"], float)) - 0.5 * s * s
    return float(np.sum(share * stats.norm.cdf((math.log(x) - mu) / s)))


def test_size_mix_matches_azure_functions_execution_times() -> None:
    """Shahrad et al. (USENIX ATC 2020) fit the Azure Functions execution times by a lognormal
    with mu = -0.38, sigma = 2.36 (ln s): P(< 1 s) = 0.564, P(< 60 s) = 0.971. The spec's class
    mix must match at 0.1, 1, 10 and 60 s within 0.05, analytically and in generated jobs."""
    spec = bench.get_spec(TASK)
    env = bench.make(TASK, scale="n256")
    env.reset(seed=9)
    sizes = np.concatenate([b["size"] for b in env.unwrapped._batches])
    for x in (0.1, 1.0, 10.0, 60.0):
        target = stats.norm.cdf((math.log(x) + 0.38) / 2.36)
        assert abs(_mixture_cdf(spec.parameters, x) - target) < 0.05, x
        assert abs(np.mean(sizes < x) - target) < 0.05, x
    mem = np.concatenate([b["mem"] for b in env.unwrapped._batches])
    assert np.median(mem) == pytest.approx(0.17, rel=0.1)          # half of apps <= 170 MB
    assert np.quantile(mem, 0.9) == pytest.approx(0.40, rel=0.1)   # 90 % <= 400 MB


# -- trace replay ------------------------------------------------------------------------------------------
def _write_trace(path, rows) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(TRACE_COLUMNS)
        w.writerows(rows)


def test_trace_replay(tmp_path) -> None:
    """A small trace file replays exactly: every row arrives once at its site and time; a lone
    job on an idle node runs at once and completes at arrival + size."""
    rows = [(0.25, 0, 0, 0.5, 0.1, 5.0, 2.0),
            (3.5, 1, 2, 4.0, 0.2, 50.0, 40.0),
            (3.6, 1, 1, 1.0, 0.1, 10.0, 10.0),
            (10.0, 3, 0, 0.2, 0.1, 1.0, 1.0)]
    path = tmp_path / "trace.csv"
    _write_trace(path, rows)
    env = bench.make(TASK, scale="n4", trace_csv=str(path), horizon=20)
    env.unwrapped.record_jobs = True
    env.reset(seed=0)
    act = _all_local(env)
    arrived = 0.0
    while env.agents:
        _, _, _, _, info = env.step(act)
        arrived += info["node_0"]["kpi"]["arrived"]
    assert arrived == 4
    jobs = sorted(env.unwrapped.cluster.settled_jobs, key=lambda j: j.arrival)
    for j, r in zip(jobs, rows):
        assert (j.arrival, j.origin, j.cls, j.size) == (r[0], r[1], r[2], r[3])
        assert j.deadline == pytest.approx(r[0] + r[6])
    assert jobs[0].finish == pytest.approx(0.75)
    # the same trace replays bit-identically whatever the seed (it is data)
    first = [(j.jid, j.finish) for j in env.unwrapped.cluster.settled_jobs]
    env.reset(seed=123)
    while env.agents:
        env.step(act)
    assert [(j.jid, j.finish) for j in env.unwrapped.cluster.settled_jobs] == first


def test_trace_errors_name_the_field(tmp_path) -> None:
    bad = tmp_path / "bad.csv"
    _write_trace(bad, [(0.5, 9, 0, 1.0, 0.1, 1.0, 1.0)])
    with pytest.raises(ValueError, match="site"):
        bench.make(TASK, scale="n4", trace_csv=str(bad))
    hdr = tmp_path / "hdr.csv"
    hdr.write_text("time,site\n0,0\n")
    with pytest.raises(ValueError, match="header"):
        bench.make(TASK, scale="n4", trace_csv=str(hdr))
    _write_trace(bad, [(0.5, 0, 0, 1.0, 0.1, 1.0, 1.0)])
    with pytest.raises(ValueError, match="trace"):
        bench.make(TASK, scale="n4", scenario="flash_crowd", trace_csv=str(bad))
