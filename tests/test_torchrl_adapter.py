"""The TorchRL/BenchMARL adapter (bench/torchrl_adapter.py, optional ``[benchmarl]`` extra): a
training env is a valid TorchRL env whose steps the harness counts, and BenchMARL's MAPPO runs a
few iterations on a RAO-Bench task through ``rao-bench train``'s harness, within its budget."""

from __future__ import annotations

import pytest

torchrl = pytest.importorskip("torchrl", reason="the [benchmarl] extra is not installed "
                              "(pip install -e '.[benchmarl]'; docs/learners.md)")
pytest.importorskip("benchmarl", reason="the [benchmarl] extra is not installed "
                    "(pip install -e '.[benchmarl]'; docs/learners.md)")

import torch  # noqa: E402
from torchrl.envs.utils import check_env_specs  # noqa: E402

from bench import torchrl_adapter  # noqa: E402
from bench.training import Budget, TrainingEnv, train_function  # noqa: E402

TASK = "supply_chain/Serial-v1"


def test_training_env_is_a_torchrl_env_on_the_ledger() -> None:
    tenv = TrainingEnv(TASK, seed=0, budget=Budget(10_000, 600.0), scale="n2")
    env = torchrl_adapter.torchrl_env(tenv)
    check_env_specs(env)                 # rolls out a few steps and checks every spec
    steps = tenv.env_steps
    td = env.rollout(5)
    assert td["next", "state"].dtype == torch.float32 and td.batch_size == torch.Size([5])
    assert tenv.env_steps == steps + 5
    spec = tenv.spec
    assert all(spec.seeds.train_start <= s < spec.seeds.train_stop for s in tenv.record()["seeds"])


def test_benchmarl_mappo_trains_through_the_harness(tmp_path) -> None:
    """Two MAPPO iterations (2 envs x one 104-step episode each per batch) on Serial n2: the
    harness counts exactly BenchMARL's frames, the actor's weights change, a checkpoint is saved."""
    frames, tenvs = 2 * 208, []

    def learner(make_env, out_dir, seed):
        def mk():
            tenvs.append(make_env())
            return tenvs[-1]
        exp = torchrl_adapter.train_mappo(mk, out_dir, seed, frames_per_batch=208, n_envs=2,
                                          overrides={"on_policy_n_minibatch_iters": 2}, run=False)
        before = [p.detach().clone() for p in exp.policy.parameters()]
        exp.run()
        after = list(exp.policy.parameters())
        assert any(not torch.equal(a, b) for a, b in zip(before, after)), "MAPPO did not update"

    import sys
    sys.modules[__name__].learner = learner
    block = train_function(f"{__name__}:learner", TASK, seed=0, budget=Budget(frames, 900.0),
                           out_dir=tmp_path, scales=["n2"], command="test")
    assert block["env_steps"] == frames and block["runs"][0]["stopped_by"] == "env_steps"
    assert list(tmp_path.glob("*/checkpoints/*.pt")), "no BenchMARL checkpoint saved"
    assert (tmp_path / "training.json").exists()
