"""Reference policies of compute/EdgeCluster-v1: valid actions, ordering sanity, the hindsight
lower bound never beaten, reproducibility, and the spec's anchors against the measuring script."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import bench
from baselines.compute.hindsight import ClairvoyantGreedyOracle, no_contention_lower_bound
from baselines.compute.jsq import JSQPolicy
from baselines.compute.lp_dispatch import LPDispatchPolicy
from baselines.compute.power_of_two import PowerOfTwoPolicy
from baselines.compute.round_robin import RoundRobinPolicy
from baselines.random_policy import RandomPolicy
from bench.episode import run_episode
from tasks.compute.edge_cluster import CLOUD

TASK = "compute/EdgeCluster-v1"
SPEC = bench.get_spec(TASK)
POLICIES = {"random": RandomPolicy, "round_robin": RoundRobinPolicy, "jsq": JSQPolicy,
            "power_of_two": PowerOfTwoPolicy, "lp_dispatch": LPDispatchPolicy,
            "clairvoyant_greedy": ClairvoyantGreedyOracle}
SEEDS = SPEC.seeds.eval[:4]


def run(policy_cls, scale: str = "n10", scenario: str | None = None, seeds=SEEDS, **overrides):
    env = bench.make(TASK, scale=scale, scenario=scenario, **overrides)
    env.reset(seed=seeds[0])
    policy = policy_cls(env)
    return env, [run_episode(env, policy, s, SPEC) for s in seeds]


@pytest.fixture(scope="module")
def nominal() -> dict[str, list[dict]]:
    return {name: run(cls)[1] for name, cls in POLICIES.items()}


def mean(records: list[dict], kpi: str) -> float:
    return float(np.mean([r["kpis"][kpi] for r in records]))


@pytest.mark.parametrize("scale", [s.name for s in SPEC.scales])
@pytest.mark.parametrize("name", list(POLICIES))
def test_actions_are_valid_at_every_scale(name: str, scale: str) -> None:
    env = bench.make(TASK, scale=scale, scenario="node_failure")
    obs, _ = env.reset(seed=1)
    policy = POLICIES[name](env)
    policy.reset(1)
    for t in range(64):
        acts = policy.act(obs)
        assert set(acts) == set(env.possible_agents)
        assert all(env.action_space(a).contains(np.asarray(x, np.int64)) for a, x in acts.items())
        obs, *_ = env.step(acts)
        if scale == "n256" and t >= 3 and name in ("lp_dispatch", "clairvoyant_greedy"):
            break


def test_policies_are_labelled_with_their_paradigm() -> None:
    paradigms = {name: cls.info.paradigm for name, cls in POLICIES.items()}
    assert paradigms == {"random": "random", "round_robin": "heuristic", "jsq": "heuristic",
                         "power_of_two": "heuristic", "lp_dispatch": "centralised",
                         "clairvoyant_greedy": "oracle"}
    for cls in POLICIES.values():
        if cls is not RandomPolicy:
            assert TASK in cls.tasks


def test_ordering_on_the_nominal_task(nominal: dict[str, list[dict]]) -> None:
    cost = {name: mean(recs, "cost_per_job") for name, recs in nominal.items()}
    # information and optimisation pay: oracle < LP < JSQ < power-of-two < round-robin < random
    assert (cost["clairvoyant_greedy"] < cost["lp_dispatch"] < cost["jsq"] < cost["power_of_two"]
            < cost["round_robin"] < cost["random"]), cost
    # JSQ beats random on mean completion time and deadline misses (the textbook ordering)
    assert mean(nominal["jsq"], "mean_completion_time") < mean(nominal["random"], "mean_completion_time")
    assert mean(nominal["jsq"], "deadline_miss_rate") < mean(nominal["random"], "deadline_miss_rate")
    # only random drops; the cloud is used only by the policies that price it
    assert mean(nominal["random"], "drop_rate") == pytest.approx(1 / 6, abs=0.02)
    for name in ("round_robin", "jsq", "power_of_two", "lp_dispatch", "clairvoyant_greedy"):
        assert mean(nominal[name], "drop_rate") == 0.0
    for name in ("jsq", "power_of_two", "round_robin"):
        assert mean(nominal[name], "cloud_cost_per_job") == 0.0
    assert mean(nominal["lp_dispatch"], "cloud_cost_per_job") > 0.0
    # the oracle keeps memory and the class-0 SLO far better than the heuristics
    for c in ("memory_overcommit", "top_class_miss_rate"):
        rate = {n: np.mean([r["safety"][c]["rate"] for r in recs]) for n, recs in nominal.items()}
        assert rate["clairvoyant_greedy"] < 0.5 * rate["jsq"], (c, rate)


@pytest.mark.parametrize("scenario", [s.name for s in SPEC.scenarios])
def test_no_policy_beats_the_hindsight_lower_bound(scenario: str, nominal) -> None:
    """The no-contention bound is a true bound: every episode of every policy costs at least it."""
    env = bench.make(TASK, scenario=scenario)
    bounds = {}
    for s in SEEDS:
        env.reset(seed=s)
        bounds[s] = no_contention_lower_bound(env)["cost_per_job"]
    names = list(POLICIES) if scenario == "nominal" else ["jsq", "clairvoyant_greedy"]
    for name in names:
        records = nominal[name] if scenario == "nominal" else run(POLICIES[name], scenario=scenario)[1]
        for r in records:
            assert r["kpis"]["cost_per_job"] >= bounds[r["seed"]] * (1 - 1e-12), (name, r["seed"])
    # and it is not vacuous: the oracle is within a small factor of it
    if scenario == "nominal":
        gap = mean(nominal["clairvoyant_greedy"], "cost_per_job") / np.mean(list(bounds.values()))
        assert 1.0 < gap < 3.0


def test_lower_bound_is_exact_when_nothing_contends() -> None:
    """At a load so light that no job ever waits, running every job locally *is* each job's
    no-contention optimum, so the env's total cost must equal the bound to rounding — a check of
    the bound's and the env's accounting against each other."""
    env = bench.make(TASK, scale="n10", load=0.1)
    env.record_jobs = True
    env.reset(seed=3)
    bound = no_contention_lower_bound(env)
    total = 0.0
    env.reset(seed=3)
    while env.agents:
        act = {a: np.zeros(env.W + 2, np.int64) for a in env.possible_agents}
        _, _, _, _, infos = env.step(act)
        total += sum(i["kpi"]["total_cost_usd"] for i in infos.values())
    jobs = env.cluster.settled_jobs
    assert len(jobs) > 10
    assert env.ledger()["expired"] == 0
    assert total == pytest.approx(bound["total_cost_usd"], rel=1e-9)
    # the all-cloud policy pays fees and transfer time on top: strictly above the bound
    env.reset(seed=3)
    total_cloud = 0.0
    while env.agents:
        act = {a: np.array([CLOUD] * (env.W + 1) + [0]) for a in env.possible_agents}
        _, _, _, _, infos = env.step(act)
        total_cloud += sum(i["kpi"]["total_cost_usd"] for i in infos.values())
    assert total_cloud > bound["total_cost_usd"] * 1.05


def test_power_of_two_is_reproducible_and_seed_dependent() -> None:
    env = bench.make(TASK, scale="n10")

    def actions(seed: int) -> list[np.ndarray]:
        obs, _ = env.reset(seed=7)
        pol = PowerOfTwoPolicy(env)
        pol.reset(seed)
        out = []
        for _ in range(30):
            a = pol.act(obs)
            out.append(np.stack([a[x] for x in env.possible_agents]))
            obs, *_ = env.step(a)
        return out

    first, again, other = actions(1), actions(1), actions(2)
    assert all(np.array_equal(x, y) for x, y in zip(first, again))
    assert not all(np.array_equal(x, y) for x, y in zip(first, other))


def test_lp_runs_light_load_locally_and_avoids_failed_nodes() -> None:
    env = bench.make(TASK, scale="n10", load=0.05)
    obs, _ = env.reset(seed=2)
    pol = LPDispatchPolicy(env)
    cloud = arrived = missed = 0.0
    while env.agents:
        obs, _, _, _, infos = env.step(pol.act(obs))
        cloud += infos["node_0"]["kpi"]["cloud_jobs"]
        arrived += infos["node_0"]["kpi"]["arrived"]
        missed += infos["node_0"]["kpi"]["missed"]
    # light load: (almost) everything runs at the edge, nothing misses
    assert missed == 0 and cloud <= 0.1 * arrived
    env = bench.make(TASK, scale="n10", scenario="node_failure")
    obs, _ = env.reset(seed=2)
    pol = LPDispatchPolicy(env)
    for t in range(env.horizon):
        obs, *_ = env.step(pol.act(obs))
    # after the crash no work reaches the failed nodes from their neighbours
    for i in env.failed_nodes:
        node = env.cluster.nodes[i]
        assert node.busy == 0
        origin = {j.origin for q in node.queues for j in q}
        assert origin <= {i}


def test_round_robin_cycles_over_candidates() -> None:
    env = bench.make(TASK, scale="n10", load=3.0)
    obs, _ = env.reset(seed=1)
    pol = RoundRobinPolicy(env)
    for _ in range(5):
        obs, *_ = env.step(pol.act(obs))
    a = pol.act(obs)
    n_pending = [len(env.pending_jobs(x)) for x in env.possible_agents]
    for x, k in zip(env.possible_agents, n_pending):
        used = a[x][:min(k, env.W)].tolist()
        # consecutive slots take consecutive candidates (mod 4)
        assert all((b - c) % 4 == 1 for c, b in zip(used, used[1:]))


@pytest.mark.slow
def test_spec_anchors_match_the_measuring_script() -> None:
    """Re-run scripts/measure_anchors_compute.py's procedure (~1-2 min); the YAML's anchors must
    agree, so a change to the env or the baselines that moves them cannot go unnoticed."""
    path = Path(__file__).resolve().parents[2] / "scripts" / "measure_anchors_compute.py"
    spec = importlib.util.spec_from_file_location("measure_anchors_compute", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    measured = module.measure()
    for kpi in SPEC.kpis:
        zero, one = kpi.anchors
        assert zero == pytest.approx(measured[kpi.name]["zero"], rel=2e-3, abs=1e-12), kpi.name
        assert one == pytest.approx(measured[kpi.name]["one"], rel=2e-3, abs=1e-12), kpi.name
        for scale, pair in measured[kpi.name].get("scales", {}).items():
            assert kpi.anchors_at(scale) == pytest.approx((pair["zero"], pair["one"]), rel=2e-3), \
                (kpi.name, scale)


@pytest.mark.parametrize("name", ["jsq", "round_robin", "lp_dispatch", "clairvoyant_greedy"])
def test_committed_v1_results_still_reproduce(name: str) -> None:
    """v1 is frozen: the v2 work (shared Cluster and Workload code, v2-only flags) must leave
    v1's committed episodes bit-for-bit reproducible (bench.reproduce), incl. a shifted one."""
    import json

    from bench.reproduce import assert_reproduces

    path = Path(__file__).resolve().parents[2] / "leaderboard" / "submissions" / "compute" \
        / "EdgeCluster-v1" / f"{name}.json"
    committed = json.loads(path.read_text())["episodes"]
    for scenario in ("nominal", "size_shift"):
        want = [e for e in committed if e["scale"] == "n10" and e["scenario"] == scenario][:2]
        env, recs = run(POLICIES[name], scenario=scenario, seeds=[e["seed"] for e in want])
        for got, exp in zip(recs, want):
            fresh = {k: got[k] for k in ("kpis", "safety", "mean_return", "V", "steps")}
            assert_reproduces(fresh, {k: exp[k] for k in fresh})
