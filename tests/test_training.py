"""The harness side of training (bench/training.py) and the validator's training stage."""

from __future__ import annotations

import numpy as np
import pytest

import bench
from baselines.base_stock import BaseStockPolicy
from baselines.random_policy import RandomPolicy
from bench import metrics
from bench.episode import run_episode
from bench.registry import task_ids
from bench.training import Budget, TrainingEnv, merge_records
from bench.validate import validate_document

SERIAL = "supply_chain/Serial-v1"
COMPUTE = "compute/EdgeCluster-v1"


def _play(tenv: TrainingEnv, policy, episodes: int) -> list[list[dict]]:
    """Play ``episodes`` episodes; return each step's (actions, infos, rewards) per episode."""
    out = []
    for _ in range(episodes):
        obs, _ = tenv.reset()
        policy.reset(tenv._ledger.seeds[-1])
        steps = []
        while tenv.agents:
            actions = policy.act(obs)
            obs, rewards, _, _, infos = tenv.step(actions)
            steps.append({"actions": actions, "infos": infos, "rewards": rewards})
        out.append(steps)
    return out


def test_seeds_come_from_the_training_range_only_and_reproduce():
    spec = bench.get_spec(SERIAL)
    a = TrainingEnv(SERIAL, seed=3, budget=Budget(10, 60.0), scale="n2")
    b = TrainingEnv(SERIAL, seed=3, budget=Budget(10, 60.0), scale="n2")
    c = TrainingEnv(SERIAL, seed=4, budget=Budget(10, 60.0), scale="n2")
    sa = [a.next_seed() for _ in range(500)]
    assert sa == [b.next_seed() for _ in range(500)]
    assert sa != [c.next_seed() for _ in range(500)]
    assert all(spec.seeds.train_start <= s < spec.seeds.train_stop for s in sa)
    assert not set(sa) & set(spec.seeds.eval)


def test_violations_and_steps_are_counted_exactly():
    """Random dispatch overcommits node memory; the ledger must equal a direct recount."""
    tenv = TrainingEnv(COMPUTE, seed=0, budget=Budget(10_000, 600.0), scale="n4")
    policy = RandomPolicy(tenv.env)
    played = _play(tenv, policy, episodes=2)
    rec = tenv.record()
    recount = {c: [0, 0.0] for c in tenv.env.constraint_names}
    agent_steps = 0
    for steps in played:
        for s in steps:
            agent_steps += len(s["infos"])
            for info in s["infos"].values():
                for c, x in info["violations"].items():
                    if x > 0:
                        recount[c][0] += 1
                        recount[c][1] += x
    assert rec["env_steps"] == sum(len(s) for s in played) == 2 * tenv.horizon
    assert rec["agent_steps"] == agent_steps and rec["episodes"] == 2
    assert sum(v[0] for v in recount.values()) > 0, "random dispatch should violate something"
    for c, (n, x) in recount.items():
        assert rec["violations"][c]["agent_steps"] == n
        assert rec["violations"][c]["exceedance"] == pytest.approx(x, rel=1e-12)


def test_budget_stops_on_env_steps_and_rejects_bad_values():
    tenv = TrainingEnv(SERIAL, seed=0, budget=Budget(150, 600.0), scale="n2")
    policy = RandomPolicy(tenv.env)
    assert not tenv.exhausted()
    _play(tenv, policy, episodes=1)
    assert not tenv.exhausted()  # 104 steps < 150
    _play(tenv, policy, episodes=1)
    assert tenv.exhausted() and tenv.record()["stopped_by"] == "env_steps"
    with pytest.raises(ValueError, match="env_steps"):
        Budget(0, 1.0)
    with pytest.raises(ValueError, match="wall_time_s"):
        Budget(10, 0.0)
    with pytest.raises(ValueError, match="reward"):
        TrainingEnv(SERIAL, seed=0, budget=Budget(1, 1.0), reward="shaped")


def test_hyperscore_reward_over_a_whole_episode_window_equals_the_episode_hyperscore():
    """With a window as long as the episode, the last step's feedback is the episode's HyperScore
    rescaled to [0, 1] — the same number run_episode records for that seed."""
    spec = bench.get_spec(SERIAL)
    tenv = TrainingEnv(SERIAL, seed=5, budget=Budget(1000, 600.0), reward="hyperscore",
                       window=spec.horizon)
    policy = BaseStockPolicy(tenv.env)
    steps = _play(tenv, policy, episodes=1)[0]
    seed = tenv.record()["seeds"][0]
    rewards = [next(iter(s["rewards"].values())) for s in steps]
    assert all(0.0 <= r <= 1.0 for r in rewards)
    record = run_episode(bench.make(SERIAL), BaseStockPolicy(bench.make(SERIAL)), seed, spec)
    hp = spec.hyperscore
    h_max = metrics.hyperscore(1.0, hp.beta, hp.gamma, hp.kappa)
    assert rewards[-1] == pytest.approx((record["hyperscore"] - 100.0) / (h_max - 100.0), rel=1e-9)
    assert record["V"] > 0.9 and rewards[-1] > 0.5  # the optimal policy earns a strong signal


def test_hyperscore_reward_uses_a_rolling_window():
    """A short window forgets: the feedback moves step to step, unlike the cumulative one."""
    tenv = TrainingEnv(SERIAL, seed=5, budget=Budget(1000, 600.0), reward="hyperscore", window=4)
    steps = _play(tenv, RandomPolicy(tenv.env), episodes=1)[0]
    rewards = np.array([next(iter(s["rewards"].values())) for s in steps])
    assert len(set(np.round(rewards, 12))) > 1 and np.all((rewards >= 0) & (rewards <= 1))


def test_merge_records_sums_runs_and_rates():
    r1 = {"scale": "n2", "env_steps": 10, "agent_steps": 20, "episodes": 1, "wall_time_s": 1.0,
          "seeds": [5, 7], "violations": {"c": {"agent_steps": 2, "exceedance": 1.5}}}
    r2 = {"scale": "n5", "env_steps": 30, "agent_steps": 60, "episodes": 2, "wall_time_s": 2.0,
          "seeds": [7, 9], "violations": {"c": {"agent_steps": 6, "exceedance": 0.5}}}
    block = merge_records([r1, r2], command="rao-bench train x y")
    assert block["env_steps"] == 40 and block["agent_steps"] == 80 and block["episodes"] == 3
    assert block["seeds"] == [5, 7, 9]
    assert block["violations"]["c"] == {"agent_steps": 8, "exceedance": 2.0, "rate": 0.1}
    assert [r["scale"] for r in block["runs"]] == ["n2", "n5"] and "seeds" not in block["runs"][0]
    with pytest.raises(ValueError):
        merge_records([], command="")


def _training_block(seeds: list[int]) -> dict:
    run = {"scale": "n3", "env_steps": 208, "agent_steps": 624, "episodes": 2, "wall_time_s": 0.5,
           "violations": {"storage_overflow": {"agent_steps": 0, "exceedance": 0.0}}}
    return merge_records([{**run, "seeds": seeds}], command="rao-bench train ippo " + SERIAL)


def _training_problems(doc: dict) -> list:
    return [p for p in validate_document(doc).problems if p.stage == "training"]


def test_validator_accepts_a_consistent_training_block(genuine_doc):
    genuine_doc["algorithm"]["paradigm"] = "DTDE"
    genuine_doc["algorithm"]["training"] = _training_block([11, 12])
    assert _training_problems(genuine_doc) == []


def test_validator_rejects_training_on_eval_seeds_and_inconsistent_counts(genuine_doc):
    spec = bench.get_spec(SERIAL)
    genuine_doc["algorithm"]["paradigm"] = "DTDE"
    block = _training_block([11, spec.seeds.eval[0]])
    block["violations"] = {"storage_overflow": {"agent_steps": 10**6, "exceedance": 1.0},
                           "made_up": {"agent_steps": 0, "exceedance": 0.0}}
    block["env_steps"] = 1
    genuine_doc["algorithm"]["training"] = block
    report = validate_document(genuine_doc)
    msgs = "\n".join(str(p) for p in report.problems if p.stage == "training")
    assert not report.ok
    assert "evaluation seed" in msgs and str(spec.seeds.eval[0]) in msgs
    assert "made_up" in msgs and "more than the 624 agent-steps" in msgs
    assert "$.algorithm.training.env_steps" in msgs and "add up to 208" in msgs


def test_validator_warns_when_a_learner_omits_its_training_block(genuine_doc):
    genuine_doc["algorithm"]["paradigm"] = "CTDE"
    problems = _training_problems(genuine_doc)
    assert len(problems) == 1 and problems[0].severity == "warning"
    assert "training" in problems[0].message


# -- TrainingEnv as a PettingZoo ParallelEnv (issue 19) -------------------------------------------
def _smallest(task: str) -> str:
    return bench.get_spec(task).scales[0].name


@pytest.mark.parametrize("task", task_ids())
def test_training_env_passes_pettingzoo_parallel_api_test(task):
    from pettingzoo.test import parallel_api_test

    tenv = TrainingEnv(task, seed=0, budget=Budget(10_000, 600.0), scale=_smallest(task))
    assert tenv.unwrapped is tenv and tenv.render_mode is None and tenv.metadata["render_modes"] == []
    parallel_api_test(tenv, num_cycles=12)
    spec = bench.get_spec(task)
    seeds = tenv.record()["seeds"]
    assert seeds[0] == 0 and len(seeds) == 3  # the test's reset(seed=0), then two drawn seeds
    assert all(spec.seeds.train_start <= s < spec.seeds.train_stop for s in seeds)


def test_reset_draws_training_seeds_and_refuses_others():
    spec = bench.get_spec(SERIAL)
    tenv = TrainingEnv(SERIAL, seed=3, budget=Budget(1000, 600.0), scale="n2")
    twin = TrainingEnv(SERIAL, seed=3, budget=Budget(1000, 600.0), scale="n2")
    tenv.reset()
    tenv.reset(seed=None)
    drawn = tenv.record()["seeds"]
    assert drawn == [twin.next_seed(), twin.next_seed()]  # the run's own stream
    obs, _ = tenv.reset(seed=42)
    ref, _ = bench.make(SERIAL, scale="n2").reset(seed=42)
    assert all(np.array_equal(obs[a], ref[a]) for a in ref)
    for bad in (spec.seeds.eval[0], spec.seeds.train_stop, -1, 1.5, True):
        with pytest.raises(ValueError, match="training seeds"):
            tenv.reset(seed=bad)
    assert tenv.record()["seeds"] == drawn + [42]  # refused resets leave no trace


def test_copies_and_spawned_envs_share_the_run_ledger():
    """deepcopy/pickle in-process and spawn() stay on one budget, one seed stream, one ledger;
    a copy cannot leave the process (its steps would escape the ledger)."""
    import copy
    import pickle

    from bench import training

    tenv = TrainingEnv(COMPUTE, seed=1, budget=Budget(10_000, 600.0), scale="n4")
    others = [copy.deepcopy(tenv), pickle.loads(pickle.dumps(tenv)), tenv.spawn()]
    envs = [tenv] + others
    pols = [RandomPolicy(e.env) for e in envs]
    for e, p in zip(envs, pols):
        obs, _ = e.reset()
        for _ in range(5):
            obs = e.step(p.act(obs))[0]
    rec = tenv.record()
    assert rec["env_steps"] == 20 and rec["episodes"] == 4
    assert len(set(rec["seeds"])) == 4, "copies must draw distinct seeds from the shared stream"
    assert all(e.record()["env_steps"] == 20 for e in others)
    blob = pickle.dumps(tenv)
    training._RUNS.pop(tenv._run.key)  # as in another process: the run is not there
    with pytest.raises(RuntimeError, match="process that trains"):
        pickle.loads(blob)


def test_strict_env_refuses_to_overspend():
    from bench.training import BudgetExhausted

    tenv = TrainingEnv(SERIAL, seed=0, budget=Budget(7, 600.0), scale="n2", strict=True)
    policy = RandomPolicy(tenv.env)
    obs, _ = tenv.reset()
    for _ in range(7):
        obs = tenv.step(policy.act(obs))[0]
    assert tenv.exhausted()
    with pytest.raises(BudgetExhausted, match="7 of 7 env steps"):
        tenv.step(policy.act(obs))
    obs, _ = tenv.reset()  # a reset spends nothing (vector envs reset finished episodes)
    with pytest.raises(BudgetExhausted):
        tenv.step(policy.act(obs))
    assert tenv.record()["env_steps"] == 7 and tenv.record()["stopped_by"] == "env_steps"


def test_supersuit_vector_env_over_a_training_env_counts_every_step():
    ss = pytest.importorskip("supersuit")
    tenv = TrainingEnv(SERIAL, seed=2, budget=Budget(10_000, 600.0), scale="n2")
    venv = ss.concat_vec_envs_v1(ss.pettingzoo_env_to_vec_env_v1(tenv), 3, num_cpus=0,
                                 base_class="gymnasium")
    venv.reset()
    for _ in range(10):
        venv.step(np.stack([venv.action_space.sample() for _ in range(venv.num_envs)]))
    rec = tenv.record()
    assert rec["env_steps"] == 30 and rec["agent_steps"] == 60 and rec["episodes"] == 3
    assert len(set(rec["seeds"])) == 3


def test_merge_records_reports_parallel_runs_by_elapsed_time_and_scale():
    """Four runs of one scale in parallel (73 s each, overlapping) report ~73 s elapsed, the
    summed time separately, and one scale with four runs."""
    base = {"scale": "f1", "env_steps": 100, "agent_steps": 600, "episodes": 1, "wall_time_s": 73.0,
            "seeds": [1], "violations": {"c": {"agent_steps": 0, "exceedance": 0.0}}}
    runs = [{**base, "started_unix_s": 1000.0 + i} for i in range(4)]
    block = merge_records(runs, command="x")
    assert block["wall_time_s"] == 76.0 and block["summed_wall_time_s"] == 292.0
    assert block["scales"] == {"f1": {"runs": 4, "env_steps": 400, "episodes": 4, "wall_time_s": 292.0}}
    assert [r["wall_time_s"] for r in block["runs"]] == [73.0] * 4
    seq = [{**base, "started_unix_s": 0.0}, {**base, "scale": "f4", "started_unix_s": 100.0}]
    assert merge_records(seq, command="x")["wall_time_s"] == 146.0  # disjoint: added up
    assert merge_records([base, base], command="x")["wall_time_s"] == 146.0  # no start times
