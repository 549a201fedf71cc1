"""compute/EdgeCluster-v1: construction, spaces, job conservation, KPI counters, each safety
constraint and each shift scenario firing in a scenario built to trigger it."""

from __future__ import annotations

import math

import numpy as np
import pytest

import bench
from tasks.compute.cluster import (ALL_COUNTERS, DONE, LATENCY_EDGES, TRANSIT, Cluster, Job, Links,
                                   Prices)
from tasks.compute.edge_cluster import (CLOUD, DROP, LOCAL, RIGHT, EdgeClusterEnv,
                                        completion_time_quantile, neighbour_table)

TASK = "compute/EdgeCluster-v1"
SPEC = bench.get_spec(TASK)
SCALES = [s.name for s in SPEC.scales]
SCENARIOS = [s.name for s in SPEC.scenarios]
ONSET = 60


def make(**kw) -> EdgeClusterEnv:
    return bench.make(TASK, **kw)


def const(env: EdgeClusterEnv, code: int, reserve: int = 0) -> dict[str, np.ndarray]:
    a = np.full(env.W + 2, code, np.int64)
    a[-1] = reserve
    return {ag: a.copy() for ag in env.possible_agents}


def episode(env: EdgeClusterEnv, policy, seed: int = 1, on_step=None) -> dict[str, np.ndarray]:
    """Run one episode; return team counter series (T,) and per-agent violations (T, n)."""
    obs, _ = env.reset(seed=seed)
    series: dict[str, list[float]] = {}
    viol: dict[str, list[list[float]]] = {c: [] for c in env.constraint_names}
    while env.agents:
        obs, rew, _, _, infos = env.step(policy(env, obs))
        tot: dict[str, float] = {}
        for a in env.possible_agents:
            for k, v in infos[a]["kpi"].items():
                tot[k] = tot.get(k, 0.0) + v
        for k, v in tot.items():
            series.setdefault(k, []).append(v)
        for c in viol:
            viol[c].append([infos[a]["violations"][c] for a in env.possible_agents])
        if on_step is not None:
            on_step(env, obs, rew, infos)
    out = {k: np.asarray(v) for k, v in series.items()}
    out.update({f"viol:{c}": np.asarray(v) for c, v in viol.items()})
    return out


def random_policy(seed: int = 0):
    rng = np.random.default_rng(seed)

    def act(env, obs):
        return {a: rng.integers(0, env._nvec) for a in env.possible_agents}
    return act


# ---------------------------------------------------------------------------------------------
# construction and spaces
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("scale", SCALES)
def test_every_scale_and_scenario_builds(scale: str, scenario: str) -> None:
    env = make(scale=scale, scenario=scenario)
    obs, _ = env.reset(seed=0)
    n = SPEC.scale(scale).agents
    assert env.possible_agents == [f"node_{i}" for i in range(n)]
    assert all(env.observation_space(a).contains(o) for a, o in obs.items())
    assert env.state().shape == env.state_space.shape == (n * 12 + 7,)
    # identical spaces at every scale and scenario (zero-shot transfer across sizes and shifts)
    ref = make()
    assert env.observation_space("node_0") == ref.observation_space("node_0")
    assert env.action_space("node_0") == ref.action_space("node_0")


def test_observations_stay_in_space_and_describe_the_pending_jobs() -> None:
    env = make(scale="n10", scenario="node_failure")
    rng = np.random.default_rng(3)
    obs, _ = env.reset(seed=5)
    lay = env.observation_layout()
    cores = np.array([4, 8, 16, 4, 8, 16, 4, 8, 16, 4])
    for t in range(env.horizon):
        for a, o in obs.items():
            assert env.observation_space(a).contains(o), (t, a)
        i = 3
        o = obs[f"node_{i}"]
        assert o[lay["cores"]][0] == pytest.approx(cores[i] / 16)
        pend = env.pending_jobs(f"node_{i}")
        slots = o[lay["slots"]].reshape(env.W, 8)
        now = env.cluster.sim.now
        for k in range(env.W):
            if k < len(pend):
                j = pend[k]
                assert slots[k, 0] == 1 and slots[k, 1 + j.cls] == 1
                assert slots[k, 4:] == pytest.approx([j.size, j.mem, j.deadline - now, j.data], rel=1e-5)
            else:
                assert not slots[k].any()
        assert o[lay["overflow"]][0] == max(len(pend) - env.W, 0)
        # neighbours' advertised blocks are their own-node features
        nb = o[lay["neighbours"]].reshape(3, 7)
        for j, m in enumerate(neighbour_table(10)[i]):
            other = obs[f"node_{m}"]
            assert nb[j, [0, 1, 2, 3, 4]] == pytest.approx(
                other[[lay["cores"].start, lay["failed"].start, lay["busy"].start,
                       lay["queue_work_per_core"].start, lay["memory"].start]])
        obs, *_ = env.step({a: rng.integers(0, env._nvec) for a in env.possible_agents})


def test_topology_is_the_circulant_ring_with_opposite_links() -> None:
    nb = neighbour_table(10)
    assert nb[0].tolist() == [1, 9, 5] and nb[7].tolist() == [8, 6, 2]
    # symmetric: j is a neighbour of i iff i is a neighbour of j
    for n in (4, 10, 64):
        t = neighbour_table(n)
        adj = np.zeros((n, n), bool)
        adj[np.repeat(np.arange(n), 3), t.ravel()] = True
        assert (adj == adj.T).all() and not adj.diagonal().any() and (adj.sum(1) == 3).all()


@pytest.mark.parametrize("override, word", [
    ({"n_nodes": 9}, "n_nodes"), ({"load": -1.0}, "load"), ({"size_mean_s": [1.0, 2.0]}, "size_mean_s"),
    ({"cores_cycle": [4, 0]}, "cores_cycle"), ({"reserve_levels": [0.5, 0.9]}, "reserve_levels"),
    ({"power_active_w": 1.0}, "power_active_w"), ({"class_share": [1.0, 1.0]}, "class_share"),
    ({"epoch_s": 0.0}, "epoch_s"),
])
def test_bad_parameters_raise_naming_the_parameter(override: dict, word: str) -> None:
    with pytest.raises(ValueError, match=word):
        make(scale="n4", **override)


def test_bad_actions_raise() -> None:
    env = make(scale="n4")
    env.reset(seed=0)
    good = const(env, LOCAL)
    with pytest.raises(ValueError, match="out of range"):
        env.step({**good, "node_1": np.array([6, 0, 0, 0, 0, 0])})
    with pytest.raises(ValueError, match="integer vector"):
        env.step({**good, "node_1": np.array([0, 0, 0])})
    with pytest.raises(ValueError, match="integer vector"):
        env.step({**good, "node_1": np.array([0.5, 0, 0, 0, 0, 0])})
    with pytest.raises(ValueError, match="missing"):
        env.step({"node_0": good["node_0"]})
    env.step({a: v.astype(np.float64) for a, v in good.items()})     # integral floats are fine


# ---------------------------------------------------------------------------------------------
# conservation and counters
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("scenario", ["nominal", "node_failure", "latency_spike"])
def test_jobs_are_conserved_at_every_step(scenario: str) -> None:
    env = make(scale="n10", scenario=scenario)
    seen = []

    def check(env, obs, rew, infos):
        L = env.ledger()
        assert L["arrived"] == L["completed"] + L["dropped"] + L["expired"] + L["lost"] + L["in_system"]
        seen.append(L)

    s = episode(env, random_policy(1), seed=2, on_step=check)
    L = seen[-1]
    for name in ("arrived", "completed", "dropped", "expired", "lost"):
        assert s[name].sum() == L[name]
    if scenario == "node_failure":
        assert L["lost"] > 0
    assert L["dropped"] > 0 and L["expired"] > 0 and L["in_system"] > 0


def test_counters_add_up_and_total_cost_is_its_parts() -> None:
    env = make(scale="n10", scenario="node_failure")
    env.record_jobs = True
    s = episode(env, random_policy(4), seed=9)
    p = env.p
    P = p.prices
    end = env.cluster.sim.now
    # settled = completed + dropped + expired + lost + (jobs still in the system past their deadline)
    overdue = [j for j in env.cluster.live.values() if j.deadline < end]
    assert s["settled"].sum() == (s["completed"] + s["dropped"] + s["expired"] + s["lost"]).sum() + len(overdue)
    late = sum(1 for j in env.cluster.settled_jobs if j.state == DONE and j.finish > j.deadline)
    assert s["missed"].sum() == late + (s["dropped"] + s["expired"] + s["lost"]).sum() + len(overdue)
    bins = np.array([s[c] for c in ALL_COUNTERS if c.startswith("lat_bin")])
    assert bins.sum() == s["completed"].sum()
    assert (s["busy_core_s"] <= s["core_s"] + 1e-9).all()
    energy = (P.power_idle * s["core_s"].sum()
              + (P.power_active - P.power_idle) * s["busy_core_s"].sum()) / 3.6e6
    assert s["energy_kwh"].sum() == pytest.approx(energy, rel=1e-12)
    # total cost from first principles, job by job
    pen = P.miss_penalty
    cost = s["energy_kwh"].sum() * P.energy_price + s["cloud_cost_usd"].sum()
    for j in env.cluster.settled_jobs:
        missed = j.state != DONE or j.finish > j.deadline
        cost += P.delay_cost * (j.finish - j.arrival) + (pen[j.cls] if missed else 0.0)
    for j in env.cluster.live.values():
        cost += P.delay_cost * (end - j.arrival) + (pen[j.cls] if j.deadline < end else 0.0)
    assert s["total_cost_usd"].sum() == pytest.approx(cost, rel=1e-9)
    # completion times: every completed job's arrival-to-finish, summed
    ct = sum(j.finish - j.arrival for j in env.cluster.settled_jobs if j.state == DONE)
    assert s["completion_time_s"].sum() == pytest.approx(ct, rel=1e-9)


def test_reward_is_minus_the_mean_cost_per_node_in_milli_usd() -> None:
    env = make(scale="n10")
    env.reset(seed=1)
    for _ in range(20):
        _, rew, _, _, infos = env.step(const(env, LOCAL))
        cost = sum(infos[a]["kpi"]["total_cost_usd"] for a in env.possible_agents)
        assert all(r == pytest.approx(-1000.0 * cost / 10) for r in rew.values())


def test_completion_time_quantile_interpolates_in_bins() -> None:
    counts = np.zeros(len(LATENCY_EDGES) + 1)
    counts[0] = 50          # [0, 1) s
    counts[1] = 50          # [1, 2) s
    assert completion_time_quantile(counts, 0.5) == pytest.approx(1.0)
    assert completion_time_quantile(counts, 0.95) == pytest.approx(1.9)
    counts[-1] = 1e6
    assert completion_time_quantile(counts, 0.95) == LATENCY_EDGES[-1]   # open bin: lower edge
    with pytest.raises(ValueError):
        completion_time_quantile(counts[:-1])


def test_cloud_jobs_cost_the_lambda_price_and_take_the_transfer_time() -> None:
    prices = Prices((0.0,), 0.0, cloud_fee=2e-7, cloud_gb_s=1.66667e-5, power_idle=0, power_active=0,
                    energy_price=0)
    links = Links(0.005, 1000.0, 0.05, 100.0, 1.0)
    cl = Cluster([4], [16.0], prices, links, n_classes=1)
    job = Job(0, 0, 0, size=3.0, mem=2.0, data=50.0, arrival=0.0, deadline=100.0)
    cl.arrive(job)
    cl.send_to_cloud(job)
    cl.advance(50.0)
    assert job.state == DONE
    assert job.finish == pytest.approx(2 * 0.05 + 8 * 50.0 / 100.0 + 3.0)
    assert cl.acc[ALL_COUNTERS.index("cloud_cost_usd")][0] == pytest.approx(2e-7 + 1.66667e-5 * 2.0 * 3.0)


# ---------------------------------------------------------------------------------------------
# safety constraints, each in a scenario built to trigger it (and quiet in one built not to)
# ---------------------------------------------------------------------------------------------

def test_memory_overcommit_fires_when_nodes_admit_beyond_memory() -> None:
    # tiny memory and everything run locally: committed memory must exceed it
    env = make(scale="n4", memory_per_core_gb=0.5)
    s = episode(env, lambda e, o: const(e, LOCAL), seed=3)
    v = s["viol:memory_overcommit"]
    assert (v > 0).any()
    # exceedance = peak committed memory above capacity, never more than all memory of the jobs
    assert v.max() <= 4 * 0.5 * 16 + 1e3
    # everything to the cloud: no node ever commits memory
    s = episode(env, lambda e, o: const(e, CLOUD), seed=3)
    assert not s["viol:memory_overcommit"].any()


def test_memory_overcommit_exceedance_is_peak_minus_capacity() -> None:
    prices = Prices((0.0,), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    cl = Cluster([2], [10.0], prices, Links(0.0, 1.0, 0.0, 1.0, 1.0), n_classes=1,
                 overcommit_slowdown=2.0)
    node = cl.nodes[0]
    a = Job(0, 0, 0, 1.0, 6.0, 0.0, 0.0, math.inf)
    b = Job(1, 0, 0, 1.0, 6.5, 0.0, 0.0, math.inf)
    for j in (a, b):
        cl.arrive(j)
        node.admit(j, 0.0)
    assert node.mem_peak - node.mem_cap == pytest.approx(2.5)
    cl.advance(10.0)
    # a started within memory; b started while 12.5 GB were committed to a 10 GB node: 2x slower
    assert a.finish == pytest.approx(1.0) and b.finish == pytest.approx(2.0)
    assert node.mem_used == 0.0


def test_top_class_miss_rate_fires_under_overload_and_not_under_light_load() -> None:
    env = make(scale="n4", load=3.0)
    s = episode(env, lambda e, o: const(e, LOCAL), seed=4)
    v = s["viol:top_class_miss_rate"]
    assert (v > 0).any()
    assert v.max() <= 1.0 - 0.1 + 1e-12
    # light load, class 0 protected by a 75 % core reservation: no class-0 job can miss
    s = episode(make(scale="n4", load=0.05), lambda e, o: const(e, LOCAL, reserve=3), seed=4)
    assert not s["viol:top_class_miss_rate"].any()
    assert s["missed_top"].sum() == 0 and s["settled_top"].sum() > 0


def test_top_class_miss_rate_is_the_rolling_rate_minus_the_bound() -> None:
    env = make(scale="n4", load=2.0)
    env.reset(seed=8)
    w, bound = env.p.top_miss_window, 0.1
    hist_m, hist_s = [], []
    for _ in range(env.horizon):
        _, _, _, _, infos = env.step(const(env, LOCAL))
        hist_m.append(env.last_counters[ALL_COUNTERS.index("missed_top")].copy())
        hist_s.append(env.last_counters[ALL_COUNTERS.index("settled_top")].copy())
        m, s = np.sum(hist_m[-w:], axis=0), np.sum(hist_s[-w:], axis=0)
        rate = np.divide(m, s, out=np.zeros(4), where=s > 0)
        got = [infos[a]["violations"]["top_class_miss_rate"] for a in env.possible_agents]
        assert got == pytest.approx(np.maximum(rate - bound, 0.0))


def test_dropped_jobs_fires_exactly_for_drops() -> None:
    env = make(scale="n4")
    env.reset(seed=6)
    pending = [len(env.pending_jobs(a)) for a in env.possible_agents]
    for _ in range(30):
        _, _, _, _, infos = env.step(const(env, DROP))
        got = [infos[a]["violations"]["dropped_jobs"] for a in env.possible_agents]
        assert got == pending                        # every pending job was dropped by its agent
        pending = [len(env.pending_jobs(a)) for a in env.possible_agents]
    s = episode(env, lambda e, o: const(e, LOCAL), seed=6)
    assert not s["viol:dropped_jobs"].any()


# ---------------------------------------------------------------------------------------------
# shift scenarios, each firing (and identical to nominal before its onset)
# ---------------------------------------------------------------------------------------------

def _trace(scenario: str, scale: str = "n10", seed: int = 11, code: int = RIGHT):
    env = make(scale=scale, scenario=scenario)
    obs, _ = env.reset(seed=seed)
    out = [obs]
    arrivals = []
    while env.agents:
        obs, *_ = env.step(const(env, code))
        out.append(obs)
        arrivals.append(env.last_counters[ALL_COUNTERS.index("arrived")].copy())
    return env, out, np.asarray(arrivals)


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s != "nominal"])
def test_shift_scenarios_match_nominal_before_their_onset(scenario: str) -> None:
    _, nominal, _ = _trace("nominal")
    _, shifted, _ = _trace(scenario)
    for t in range(ONSET):                # observation t is seen before decision t
        for a in nominal[t]:
            np.testing.assert_array_equal(nominal[t][a], shifted[t][a], err_msg=f"{scenario} t={t}")
    assert any(not np.array_equal(nominal[t][a], shifted[t][a])
               for t in range(ONSET, len(nominal)) for a in nominal[t])


def test_flash_crowd_triples_arrivals_at_the_hit_block() -> None:
    env, _, shifted = _trace("flash_crowd", scale="n64", seed=3)
    _, _, nominal = _trace("nominal", scale="n64", seed=3)
    sh = env.shift
    hit = slice(0, round(sh.fraction * 64))
    win = slice(sh.onset, sh.end)
    ratio_hit = shifted[win, hit].sum() / nominal[win, hit].sum()
    ratio_rest = shifted[win, hit.stop:].sum() / nominal[win, hit.stop:].sum()
    assert 2.5 < ratio_hit < 3.5
    assert 0.85 < ratio_rest < 1.15
    after = slice(sh.end, None)
    assert 0.8 < shifted[after, hit].sum() / nominal[after, hit].sum() < 1.25


def test_node_failure_takes_nodes_down_and_loses_their_jobs() -> None:
    env = make(scale="n10", scenario="node_failure")
    obs, _ = env.reset(seed=4)
    lay = env.observation_layout()
    failed = env.failed_nodes
    assert len(failed) == 2
    lost = []
    for t in range(env.horizon):
        # the crash happens at the boundary that opens epoch ONSET: observation ONSET shows it
        down = [obs[f"node_{i}"][lay["failed"]][0] for i in range(10)]
        assert [i for i in range(10) if down[i]] == (list(failed) if t >= ONSET else [])
        obs, *_ = env.step(const(env, LOCAL))
        core_s = env.last_counters[ALL_COUNTERS.index("core_s")]
        assert (core_s[list(failed)].sum() == 0) == (t >= ONSET)
        lost.append(env.ledger()["lost"])
    assert lost[ONSET - 2] == 0 and lost[ONSET - 1] > 0 and lost[-1] == lost[ONSET - 1]
    # jobs admitted to a failed node can only wait and be abandoned
    for i in failed:
        node = env.cluster.nodes[i]
        assert node.busy == 0 and node.up_cores == 0


def test_latency_spike_slows_every_link_during_its_window() -> None:
    env = make(scale="n10", scenario="latency_spike")
    obs, _ = env.reset(seed=2)
    lay = env.observation_layout()
    sh = env.shift
    L = env.p.links
    for t in range(env.horizon):
        obs, *_ = env.step(const(env, RIGHT))
        o = obs["node_0"]
        on = sh.onset <= t + 1 < sh.end          # observation t + 1 shows epoch t + 1's links
        f_lat = sh.latency_factor if on else 1.0
        f_bw = sh.bandwidth_factor if on else 1.0
        assert o[lay["nb_latency"]] == pytest.approx([L.neighbour_latency * f_lat] * 3, rel=1e-6)
        assert o[lay["cloud"]] == pytest.approx([L.cloud_latency * f_lat,
                                                 L.cloud_bandwidth * f_bw / 1000], rel=1e-6)
    # a job sent during the spike takes latency x20 + data / (bandwidth x 0.1)
    env.reset(seed=2)
    for _ in range(sh.onset):                      # decisions 0 .. onset-1
        env.step(const(env, LOCAL))
    jobs = [j for a in env.possible_agents for j in env.pending_jobs(a)]
    now = env.cluster.sim.now
    env.step(const(env, RIGHT))
    in_transit = [j for j in jobs if j.state == TRANSIT]
    assert in_transit                              # slowed transfers outlast the epoch
    for j in in_transit:
        expect = (L.neighbour_latency * sh.latency_factor
                  + 8 * j.data / (L.neighbour_bandwidth * sh.bandwidth_factor))
        assert j.finish == pytest.approx(now + expect)


def test_size_shift_scales_the_work_of_new_jobs() -> None:
    ratios = []
    for seed in (1, 2, 3):
        env = make(scale="n64", scenario="size_shift")
        env.reset(seed=seed)
        shifted = [b["size"].sum() for b in env._batches]
        before = [b["size"].copy() for b in env._batches[:env.shift.onset]]
        nom = make(scale="n64")
        nom.reset(seed=seed)
        for x, y in zip(before, nom._batches[:env.shift.onset]):
            np.testing.assert_array_equal(x, y["size"])
        nominal = [b["size"].sum() for b in nom._batches]
        ratios.append(sum(shifted[ONSET:]) / sum(nominal[ONSET:]))
    assert 1.3 < np.mean(ratios) < 1.7


def test_node_failure_and_repair_at_the_node_level() -> None:
    """A crash loses running and waiting jobs but keeps the busy time worked so far; a repaired
    node serves the jobs that queued while it was down."""
    prices = Prices((0.0,), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    cl = Cluster([2], [100.0], prices, Links(0.0, 1.0, 0.0, 1.0, 1.0), n_classes=1)
    node = cl.nodes[0]
    jobs = [Job(i, 0, 0, 10.0, 1.0, 0.0, 0.0, math.inf) for i in range(3)]
    for j in jobs:
        cl.arrive(j)
        node.admit(j, 0.0)
    cl.advance(4.0)
    node.fail(4.0)
    assert cl.totals["lost"] == 3 and node.mem_used == 0.0 and node.up_cores == 0
    late = Job(3, 0, 0, 1.0, 1.0, 0.0, 5.0, math.inf)
    cl.arrive(late)
    cl.advance(5.0)
    node.admit(late, 5.0)
    cl.advance(8.0)
    assert late.state != DONE                      # no core while down
    node.repair(8.0)
    cl.advance(20.0)
    assert late.state == DONE and late.finish == pytest.approx(9.0)
    assert node.flush(20.0) == pytest.approx(2 * 4.0 + 1.0)   # 2 cores x 4 s before the crash + 1 s
    L = cl.totals
    assert L["arrived"] == L["completed"] + L["lost"] + cl.in_system()
