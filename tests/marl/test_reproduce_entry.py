"""A researcher who retrains a committed learner entry with the command it records gets the
committed result back: V on the eval seeds within the committed 95% CI (issue 7's "done when").

Slow (a full reference budget: ~2 min on one core), so it runs with ``-m slow``.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

import bench  # noqa: E402
from bench.episode import run_episode  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
TASK = "supply_chain/Serial-v1"
SUBMISSION = REPO / "leaderboard" / "submissions" / "supply_chain" / "Serial-v1" / "ippo.json"


@pytest.mark.slow
def test_retraining_the_committed_ippo_serial_entry_reproduces_its_nominal_V(tmp_path):
    from baselines.learners import ippo

    committed = json.loads(SUBMISSION.read_text())
    command = shlex.split(committed["algorithm"]["training"]["command"])
    assert command[:4] == ["rao-bench", "train", "ippo", TASK], command
    seed = int(command[command.index("--seed") + 1])
    assert "--env-steps" not in command  # the declared budget, not an override

    ippo.train(TASK, ippo.Args(seed=seed), out_dir=tmp_path, progress=False)
    policy_cls = ippo.IPPOPolicy.with_checkpoints(tmp_path)
    spec = bench.get_spec(TASK)
    env = bench.make(TASK)
    V = [run_episode(env, policy_cls(env), s, spec)["V"] for s in spec.seeds.eval]

    stat = committed["summary"]["nominal"]["V"]
    assert stat["ci_low"] <= float(np.mean(V)) <= stat["ci_high"], (np.mean(V), stat)
    # the retrained record declares the same budget and training seeds as the committed one
    rec = json.loads((tmp_path / "ippo" / "supply_chain__Serial-v1" / "n3.json").read_text())
    assert rec["env_steps"] == committed["algorithm"]["training"]["env_steps"]
    assert sorted(set(rec["seeds"])) == committed["algorithm"]["training"]["seeds"]
