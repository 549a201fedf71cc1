"""Greedy validation during training, the plateau stop rule and the held-out validation seeds
(baselines/learners/curves.py, bench.training.TrainingEnv.validate/stop)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")

from baselines.learners.curves import Curve, StopRule  # noqa: E402
from bench.training import VALIDATION_SEEDS, Budget, TrainingEnv  # noqa: E402

TASK = "supply_chain/Serial-v2"


class _ScriptedEnv:
    """A training env whose validations return scripted (V, return) pairs, one per call."""

    def __init__(self, budget: int, script: list[tuple[float, float]]) -> None:
        self.budget = Budget(budget, 600.0)
        self.horizon = 1  # one-step episodes: the schedule's floor (episodes x horizon) never binds
        self.env_steps = 0
        self.script = list(script)
        self.stopped_by: str | None = None

    def validate(self, policy, episodes):
        V, ret = self.script.pop(0)
        return {"env_steps": self.env_steps, "V": V, "V_sd": 0.0, "mean_return": ret}

    def stop(self, reason="plateau"):
        self.stopped_by = self.stopped_by or reason

    def record(self):
        return {"validation": {"episodes": 1, "env_steps": 1}}


class _Actor:
    def state_dict(self):
        return {"w": np.zeros(1)}


class _Policy:
    actor = _Actor()
    obs_rms: list = []


def _run(script, budget=1000, **rule):
    env = _ScriptedEnv(budget, script)
    curve = Curve(env, StopRule(validations=10, **rule), _Policy())  # validate every 100 steps
    while env.stopped_by is None and env.script:
        env.env_steps += 100
        if curve.due():
            curve.validate()
    return env, curve


def test_plateau_stops_after_patience_validations_without_progress_and_keeps_the_best():
    # V rises to 0.50 at step 300, then moves by less than min_delta (0.005) for 3 validations
    script = [(0.2, -9.0), (0.4, -8.0), (0.50, -7.0), (0.503, -7.5), (0.49, -6.99), (0.504, -8.0),
              (0.9, 0.0)]
    env, curve = _run(script, patience=3, min_frac=0.0)
    assert env.stopped_by == "plateau" and env.env_steps == 600
    # the best is the highest V (0.504 at step 600), though it was not "progress"
    assert curve.best_V == pytest.approx(0.504) and curve.best_step == 600
    assert [p[0] for p in curve.points] == [100, 200, 300, 400, 500, 600]


def test_no_plateau_stop_before_min_frac_of_the_budget():
    script = [(0.5, 1.0)] * 10
    env, curve = _run(script, patience=2, min_frac=0.6)
    assert env.stopped_by == "plateau" and env.env_steps == 600   # not at 300, where patience ran out


def test_at_an_equal_V_a_better_return_is_progress():
    """V is clipped at 0: a poor policy's progress shows only in its return."""
    script = [(0.0, -100.0), (0.0, -90.0), (0.0, -80.0), (0.0, -79.9), (0.0, -79.8)]
    env, curve = _run(script, patience=2, min_frac=0.0, min_rel_return=0.01)
    # -90 and -80 improve by > 1%; -79.9 and -79.8 do not: stop at the 5th validation
    assert env.stopped_by == "plateau" and env.env_steps == 500
    assert curve.best_return == -79.8 and curve.best_step == 500


def test_record_and_csv_carry_the_rule_the_curve_and_the_selected_step():
    env, curve = _run([(0.1, 1.0), (0.3, 2.0), (0.2, 3.0)], patience=5)
    curve.log(loss=1.5)
    rec = curve.record()
    assert rec["rule"]["patience"] == 5 and rec["rule"]["every_env_steps"] == 100
    assert rec["curve"] == [[100, 0.1, 1.0], [200, 0.3, 2.0], [300, 0.2, 3.0]]
    assert rec["selected_env_steps"] == 200
    assert curve.csv().splitlines()[0] == "env_steps,loss"
    json.dumps(rec)


def test_training_env_holds_validation_seeds_out_of_its_stream():
    env = TrainingEnv(TASK, seed=3, budget=Budget(10_000, 600.0), scale="n2")
    held = env.validation_seeds(VALIDATION_SEEDS)
    s = env.spec.seeds
    assert held == list(range(s.train_stop - VALIDATION_SEEDS, s.train_stop))
    assert not set(held) & set(s.eval)
    drawn = {env.next_seed() for _ in range(20_000)}
    assert not drawn & set(held)
    with pytest.raises(ValueError, match="validation episodes"):
        env.validation_seeds(VALIDATION_SEEDS + 1)


def test_validate_scores_like_evaluation_and_is_counted_apart_from_the_budget():
    from bench.registry import make

    env = TrainingEnv(TASK, seed=0, budget=Budget(10_000, 600.0), scale="n2")

    class Zero:
        def __init__(self, e):
            self.e = e

        def reset(self, seed):
            pass

        def act(self, obs):
            return {a: np.zeros(self.e.action_space(a).shape, dtype=np.float32) for a in obs}

    out = env.validate(Zero(env), 2)
    assert env.env_steps == 0                     # nothing spent from the training budget
    rec = env.record()
    assert rec["validation"]["episodes"] == 2 and rec["validation"]["env_steps"] > 0
    # the same episodes played through the harness's episode runner give the same V
    from bench.episode import run_episode

    plain = make(TASK, scale="n2")
    vs = [run_episode(plain, Zero(plain), seed, env.spec)["V"] for seed in env.validation_seeds(2)]
    assert out["V"] == pytest.approx(float(np.mean(vs)), rel=1e-12, abs=1e-12)
    env.stop("plateau")
    assert env.exhausted() and env.record()["stopped_by"] == "plateau"
    with pytest.raises(ValueError, match="stop reason"):
        env.stop("bored")


def test_trained_policies_act_in_float64():
    """Evaluation runs the actor in float64 so that continuous actions agree across CPUs within
    the reproduce tolerance (float32 matmuls round differently on different SIMD paths); the
    float64 actions stay within float32 noise of the float32 ones."""
    import torch

    from baselines.learners.ippo import IPPOPolicy
    from bench.registry import make

    if "supply_chain/Serial-v1" not in IPPOPolicy.tasks:
        pytest.skip("no committed IPPO checkpoint for Serial-v1")
    env = make("supply_chain/Serial-v1")
    obs, _ = env.reset(seed=env.spec.seeds.eval[0]) if hasattr(env, "spec") else env.reset(seed=600001)
    policy = IPPOPolicy(env)
    actor = policy._loaded.actor
    assert all(p.dtype == torch.float64 for p in actor.parameters())
    a64 = policy.act(obs)
    g = policy.groups[0]
    x, _ = g.encode(obs)
    x = policy._loaded.obs_norm[0].normalize(x)
    x = np.concatenate([x, g.agent_ids()], axis=1) if policy._agent_id else x
    with torch.no_grad():
        raw32 = actor.float().greedy(0, torch.from_numpy(x)[:, None], None)
    actor.double()
    a32 = g.to_env(raw32[:, 0].numpy().astype(np.float64), policy._squash)
    for agent in a64:
        np.testing.assert_allclose(np.asarray(a64[agent], float), np.asarray(a32[agent], float),
                                   rtol=1e-5, atol=1e-6)


def test_ippo_on_a_v2_task_validates_saves_the_best_network_and_records_its_curve(tmp_path):
    """End to end on a tiny budget: the record carries the rule and curve, the saved network is
    the best-validation one (re-validated from the checkpoint, in float64, it scores the curve's
    best V up to float32 noise), and the CSV has PPO's diagnostics."""
    from baselines.learners import ippo
    from baselines.learners.marl_common import validates

    assert validates("supply_chain/Serial-v2", None) and not validates("supply_chain/Serial-v1", None)
    (record,) = ippo.train("supply_chain/Serial-v2", ippo.Args(seed=1, env_steps=2048, rollout_steps=128),
                           out_dir=tmp_path, progress=False, scales=["n2"])
    val = record["validation"]
    assert record["stopped_by"] in ("env_steps", "plateau")
    steps = [c[0] for c in val["curve"]]
    assert val["selected_env_steps"] in steps and val["episodes"] == 4 * len(steps)
    best = max(c[1] for c in val["curve"])
    env = TrainingEnv("supply_chain/Serial-v2", seed=99, budget=Budget(10, 60.0), scale="n2")
    policy_cls = ippo.IPPOPolicy.with_checkpoints(tmp_path)
    again = env.validate(policy_cls(env.env), 4)["V"]
    assert again == pytest.approx(best, abs=1e-4)
    header = (tmp_path / "ippo" / "supply_chain__Serial-v2" / "n2.curve.csv").read_text().splitlines()[0]
    for col in ("approx_kl", "clipfrac", "explained_variance", "entropy", "val_V"):
        assert col in header
