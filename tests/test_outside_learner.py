"""An outside learner (tests/outside_learner.py, documented API only) trains and is evaluated
through ``rao-bench train MODULE:FUNCTION`` and ``rao-bench evaluate --checkpoint-dir``: training
seeds only, a budget it cannot overspend, the harness's training block in the result, and a
policy that has learned (it beats the random baseline on the evaluation seeds by far)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli import main
from bench.registry import get_spec
from bench.validate import validate_document

TASK = "supply_chain/Serial-v1"
LEARNER = "tests.outside_learner"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cem")
    assert main(["train", f"{LEARNER}:train", TASK, "--env-steps", "4000", "--seed", "1",
                 "--out-dir", str(out)]) == 0
    return out


def test_harness_writes_the_training_record(trained: Path) -> None:
    spec = get_spec(TASK)
    doc = json.loads((trained / "training.json").read_text())
    assert doc["task"] == TASK and doc["spec_sha256"] == spec.sha256 and doc["learner"] == f"{LEARNER}:train"
    block = doc["training"]
    (run,) = block["runs"]
    assert run["scale"] == spec.nominal_scale.name and run["seed"] == 1
    assert run["budget"]["env_steps"] == 4000 and block["env_steps"] <= 4000
    assert block["episodes"] == len(block["seeds"]) >= 30  # 38 episodes of 104 steps fit in 4000
    assert all(spec.seeds.train_start <= s < spec.seeds.train_stop for s in block["seeds"])
    assert not set(block["seeds"]) & set(spec.seeds.eval)
    assert set(block["violations"]) == {c.name for c in spec.constraints}
    assert block["command"].startswith(f"rao-bench train {LEARNER}:train {TASK}")
    assert (trained / "levels.json").exists()


def test_evaluate_from_the_checkpoint_dir_learned_and_carries_the_block(trained: Path, tmp_path: Path) -> None:
    out, rnd = tmp_path / "cem.json", tmp_path / "random.json"
    assert main(["evaluate", TASK, "--policy", f"{LEARNER}:LevelPolicy", "--checkpoint-dir",
                 str(trained), "--protocol", "quick", "--out", str(out), "--no-progress"]) == 0
    assert main(["evaluate", TASK, "--policy", "random", "--protocol", "quick", "--out", str(rnd),
                 "--no-progress"]) == 0
    doc = json.loads(out.read_text())
    report = validate_document(doc)
    assert report.ok and not [p for p in report.problems if p.stage == "training"]
    assert doc["algorithm"]["name"] == "cem_levels"
    assert doc["algorithm"]["training"] == json.loads((trained / "training.json").read_text())["training"]
    v = doc["summary"]["nominal"]["V"]
    v_random = json.loads(rnd.read_text())["summary"]["nominal"]["V"]
    assert v["ci_low"] > v_random["ci_high"] + 0.5, (v, v_random)  # learned, not just ran


def test_a_learner_that_ignores_the_budget_is_stopped_at_it(tmp_path: Path) -> None:
    assert main(["train", f"{LEARNER}:greedy", TASK, "--env-steps", "250", "--out-dir", str(tmp_path)]) == 0
    block = json.loads((tmp_path / "training.json").read_text())["training"]
    assert block["env_steps"] == 250 and block["runs"][0]["stopped_by"] == "env_steps"


@pytest.mark.parametrize("fn,args,message", [
    ("wrong_signature", ["--env-steps", "10"], "train(make_env, out_dir, seed)"),
    ("no_make_env", ["--env-steps", "10"], "never called make_env"),
    ("train", [], "--env-steps"),
    ("missing", ["--env-steps", "10"], "has no attribute 'missing'"),
])
def test_train_errors_say_what_to_fix(fn: str, args: list[str], message: str, tmp_path: Path, capsys) -> None:
    assert main(["train", f"{LEARNER}:{fn}", TASK, *args, "--out-dir", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_evaluate_refuses_a_policy_that_cannot_load_a_checkpoint(trained: Path, capsys) -> None:
    assert main(["evaluate", TASK, "--policy", "baselines.base_stock:BaseStockPolicy", "--checkpoint-dir",
                 str(trained), "--protocol", "quick", "--no-progress"]) == 2
    assert "factory(env, checkpoint_dir)" in capsys.readouterr().err
