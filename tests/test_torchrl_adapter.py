"""The TorchRL/BenchMARL adapter (bench/torchrl_adapter.py, optional ``[benchmarl]`` extra): a
training env is a valid TorchRL env whose steps the harness counts, BenchMARL's MAPPO runs a
few iterations on a RAO-Bench task through ``rao-bench train``'s harness, within its budget, and
the actor it exports plays through ``rao-bench evaluate --checkpoint-dir`` exactly as BenchMARL's
own deterministic policy acts."""

from __future__ import annotations

import pytest

torchrl = pytest.importorskip("torchrl", reason="the [benchmarl] extra is not installed "
                              "(pip install -e '.[benchmarl]'; docs/learners.md)")
pytest.importorskip("benchmarl", reason="the [benchmarl] extra is not installed "
                    "(pip install -e '.[benchmarl]'; docs/learners.md)")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from tensordict import TensorDict  # noqa: E402
from torchrl.envs.utils import ExplorationType, check_env_specs, set_exploration_type  # noqa: E402

import bench  # noqa: E402
from bench import torchrl_adapter  # noqa: E402
from bench.protocol import evaluate  # noqa: E402
from bench.policy import from_checkpoints, load_policy  # noqa: E402
from bench.training import Budget, TrainingEnv, train_function  # noqa: E402

TASK = "supply_chain/Serial-v2"
HORIZON = 130


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


def test_torchrl_env_plays_the_same_episode_as_the_pettingzoo_env() -> None:
    """What BenchMARL learns from is the task itself: on the same run seed (so the same training
    episode), the TorchRL env's observations, state, rewards and done flags equal the PettingZoo
    env's, step for step, under the same varying orders, to the end of the episode. (TorchRL's
    wrapper resets once when it is built: that unplayed reset takes the run's first seed.)"""
    a = TrainingEnv(TASK, seed=3, budget=Budget(10_000, 600.0), scale="n2")
    b = TrainingEnv(TASK, seed=3, budget=Budget(10_000, 600.0), scale="n2")
    env = torchrl_adapter.torchrl_env(a)
    td = env.reset()
    b.reset()
    obs, _ = b.reset()
    assert a.record()["seeds"] == b.record()["seeds"]
    agents = list(b.possible_agents)
    for t in range(HORIZON):
        orders = np.array([[(7 * t + 5 * i) % 21] for i in range(len(agents))], np.float32)
        np.testing.assert_allclose(td["stage", "observation"].numpy(),
                                   np.stack([obs[x] for x in agents]), rtol=1e-6)
        np.testing.assert_allclose(td["state"].numpy(), b.state().astype(np.float32), rtol=1e-6)
        td["stage", "action"] = torch.from_numpy(orders)
        td = env.step(td)
        obs, rew, term, trunc, _ = b.step({x: orders[i] for i, x in enumerate(agents)})
        np.testing.assert_allclose(td["next", "stage", "reward"].numpy()[:, 0],
                                   [rew[x] for x in agents], rtol=1e-6)
        assert bool(td["next", "done"]) == (not b.agents)
        td = td["next"]
    assert bool(td["done"]) and a.env_steps == b.env_steps == HORIZON


def test_benchmarl_mappo_trains_through_the_harness(tmp_path) -> None:
    """Two MAPPO iterations (2 envs x one 130-step episode each per batch) on Serial n2: the
    harness counts exactly BenchMARL's frames, the actor's weights change, a checkpoint is saved;
    the exported actor acts as BenchMARL's deterministic policy, at the trained scale and (shared
    network) at another, and evaluates through --checkpoint-dir with the harness's record."""
    frames, tenvs, held = 2 * 2 * HORIZON, [], {}

    def learner(make_env, out_dir, seed):
        def mk():
            tenvs.append(make_env())
            return tenvs[-1]
        exp = torchrl_adapter.train_mappo(mk, out_dir, seed, frames_per_batch=2 * HORIZON,
                                          n_envs=2, overrides={"on_policy_n_minibatch_iters": 2},
                                          run=False)
        before = [p.detach().clone() for p in exp.policy.parameters()]
        exp.run()
        after = list(exp.policy.parameters())
        assert any(not torch.equal(a, b) for a, b in zip(before, after)), "MAPPO did not update"
        torchrl_adapter.export_actor(exp, out_dir / torchrl_adapter.ACTOR_FILE)
        held["exp"] = exp

    import sys
    sys.modules[__name__].learner = learner
    block = train_function(f"{__name__}:learner", TASK, seed=0, budget=Budget(frames, 900.0),
                           out_dir=tmp_path, scales=["n2"], command="test")
    assert block["env_steps"] == frames and block["runs"][0]["stopped_by"] == "env_steps"
    assert list(tmp_path.glob("*/checkpoints/*.pt")), "no BenchMARL checkpoint saved"
    assert (tmp_path / "training.json").exists()

    # the exported actor is BenchMARL's deterministic policy, action for action
    env = bench.make(TASK, scale="n2")
    policy = torchrl_adapter.BenchmarlPolicy(env, tmp_path)
    obs, _ = env.reset(seed=100001)
    for _ in range(20):
        ours = policy.act(obs)
        x = torch.as_tensor(np.stack([obs[a] for a in env.possible_agents]), dtype=torch.float32)
        td = TensorDict({"stage": TensorDict({"observation": x}, batch_size=[len(x)])}, batch_size=[])
        with set_exploration_type(ExplorationType.DETERMINISTIC), torch.no_grad():
            ref = held["exp"].policy(td)["stage", "action"].numpy()
        np.testing.assert_array_equal(np.stack([ours[a] for a in env.possible_agents]), ref)
        assert all(0.0 <= float(ours[a][0]) <= 20.0 for a in ours)
        obs, *_ = env.step(ours)
    wide = bench.make(TASK, scale="n5")
    acts = torchrl_adapter.BenchmarlPolicy(wide, tmp_path).act(wide.reset(seed=100001)[0])
    assert sorted(acts) == sorted(wide.possible_agents)

    source = from_checkpoints(load_policy("bench.torchrl_adapter:BenchmarlPolicy"), tmp_path)
    result = evaluate(TASK, source, protocol="quick", progress=False)
    assert result["algorithm"]["name"] == "benchmarl_mappo"
    assert result["algorithm"]["training"]["env_steps"] == frames
    assert all(0.0 <= e["V"] <= 1.0 for e in result["episodes"])
