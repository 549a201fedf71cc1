"""baselines/learners/marl_common.py: groups, encoding, normalisers, action heads, checkpoints, scales."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import bench  # noqa: E402
from baselines.learners import marl_common as mc  # noqa: E402
from bench.training import Budget  # noqa: E402


def test_every_released_task_has_a_budget() -> None:
    assert set(mc.BUDGETS) == set(bench.task_ids())
    assert all(isinstance(b, Budget) for b in mc.BUDGETS.values())
    assert mc.budget_for("supply_chain/Serial-v1", env_steps=7).env_steps == 7
    with pytest.raises(ValueError, match="no declared training budget"):
        mc.budget_for("nope/Nope-v1")


def test_task_slug_and_command() -> None:
    assert mc.task_slug("supply_chain/Serial-v1") == "supply_chain__Serial-v1"
    default = mc.BUDGETS["supply_chain/Serial-v1"].env_steps
    assert (mc.training_command("ippo", "supply_chain/Serial-v1", 3, "hyperscore", default)
            == "rao-bench train ippo supply_chain/Serial-v1 --seed 3 --reward hyperscore")
    assert mc.training_command("mappo", "supply_chain/Serial-v1", 1, "env", 500).endswith(
        "--seed 1 --env-steps 500")


def test_groups_three_tier_large_splits_by_space() -> None:
    env = bench.make("supply_chain/ThreeTier-v1", scale="large")
    groups = mc.agent_groups(env)
    # two supplier and two manufacturer groups of different observation dims, one retailer group
    assert [(g.name, g.n_agents) for g in groups] == [
        ("supplier", 2), ("supplier2", 2), ("manufacturer", 2), ("manufacturer2", 2), ("retailer", 8)]
    assert sorted(a for g in groups for a in g.agents) == sorted(env.possible_agents)
    assert len({g.signature for g in groups}) == len(groups)
    np.testing.assert_allclose(groups[-1].agent_ids().ravel(), np.arange(8) / 7)
    # a group of one gets id 0
    small = mc.agent_groups(bench.make("supply_chain/ThreeTier-v1", scale="small"))
    assert small[0].n_agents == 1 and small[0].agent_ids().tolist() == [[0.0]]


def test_encode_masked_dict_and_sanitise() -> None:
    env = bench.make("spectrum/Interference-v1", scale="k4")
    obs, _ = env.reset(seed=5)
    (g,) = mc.agent_groups(env)
    assert (g.obs_dim, g.mask_dim) == (25, 13)
    obs = {a: dict(o) for a, o in obs.items()}
    bad = obs["link_1"]["observation"].copy()
    bad[0], bad[1], bad[2] = np.nan, np.inf, -np.inf
    obs["link_1"]["observation"] = bad
    obs["link_2"]["action_mask"] = np.zeros(13, np.int8)  # nothing allowed -> all allowed, no NaN
    x, mask = g.encode(obs)
    assert x.dtype == np.float32 and x.shape == (4, 25) and np.isfinite(x).all()
    assert x[1, 0] == 0.0 and x[1, 1] == mc.OBS_LIMIT and x[1, 2] == -mc.OBS_LIMIT
    assert mask.dtype == bool and mask[2].all()


def test_running_mean_std_matches_numpy_over_batches() -> None:
    rng = np.random.default_rng(0)
    data = rng.normal(3.0, 2.0, size=(1000, 4)) * [1, 10, 0.1, 1000]
    r = mc.RunningMeanStd(4)
    for chunk in np.array_split(data, [1, 7, 300, 301, 650]):
        r.update(chunk)
    np.testing.assert_allclose(r.mean, data.mean(0), rtol=1e-12)
    np.testing.assert_allclose(r.var, data.var(0), rtol=1e-10)
    assert r.count == 1000
    back = mc.RunningMeanStd.from_state(json.loads(json.dumps(r.state())))
    np.testing.assert_array_equal(back.normalize(data[:5]), r.normalize(data[:5]))
    z = r.normalize(data)
    assert abs(z.mean()) < 1e-5 and np.allclose(z.std(0), 1.0, atol=1e-4)


def test_gaussian_head_matches_torch_distributions() -> None:
    head = mc.make_action_head({"kind": "box", "dim": 3}, n_models=2, init_log_std=-0.3)
    out = torch.randn(2, 5, 3)
    d = head.dist(out)
    raw = d.sample(torch.Generator().manual_seed(1))
    ref = torch.distributions.Normal(out, torch.full_like(out, math.exp(-0.3)))
    torch.testing.assert_close(d.log_prob(raw), ref.log_prob(raw).sum(-1))
    torch.testing.assert_close(d.entropy(), ref.entropy().mean(-1))
    assert torch.equal(d.mode(), out)


def test_categorical_head_multidiscrete_and_masks() -> None:
    head = mc.make_action_head({"kind": "categorical", "nvec": [3, 2]}, n_models=1)
    out = torch.randn(4, 6, head.n_outputs)
    d = head.dist(out)
    gen = torch.Generator().manual_seed(0)
    raw = torch.stack([d.sample(gen) for _ in range(200)])
    assert raw[..., 1].max() <= 1  # the padded third choice of the 2-way dimension is never drawn
    logits = out.reshape(4, 6, 2, 3)
    ref0 = torch.distributions.Categorical(logits=logits[..., 0, :])
    ref1 = torch.distributions.Categorical(logits=logits[..., 1, :2])
    a = raw[0]
    torch.testing.assert_close(d.log_prob(a), ref0.log_prob(a[..., 0]) + ref1.log_prob(a[..., 1]))
    torch.testing.assert_close(d.entropy(), (ref0.entropy() + ref1.entropy()) / 2)
    # Discrete with an action mask: sampling and the mode respect it, no NaN from masked entries
    dh = mc.make_action_head({"kind": "categorical", "nvec": [5]}, n_models=1)
    mask = torch.tensor([[True, False, False, True, False]] * 3)[:, None]
    dd = dh.dist(torch.randn(3, 1, 5) * 5, mask)
    draws = torch.stack([dd.sample(gen) for _ in range(300)])
    assert set(draws.unique().tolist()) <= {0, 3}
    assert set(dd.mode().unique().tolist()) <= {0, 3}
    assert torch.isfinite(dd.entropy()).all() and torch.isfinite(dd.log_prob(dd.mode())).all()
    assert torch.equal(mc.masked_argmax(torch.tensor([[1.0, 9.0, 2.0]]), torch.tensor([[1, 0, 1]])),
                       torch.tensor([2]))


def test_box_to_env_maps_middle_and_clips() -> None:
    env = bench.make("power_grid/IEEE33-v1")
    g = mc.agent_groups(env)[0]
    space = g.action_space  # Box([-1, 0], [1, 1])
    u = np.array([[0.0, 0.0], [5.0, -5.0], [-1.0, 1.0]] * 2)
    acts = g.to_env(u)
    a = np.stack([acts[x] for x in g.agents[:3]])
    np.testing.assert_allclose(a, [[0.0, 0.5], [1.0, 0.0], [-1.0, 1.0]])
    assert a.dtype == space.dtype and all(space.contains(v) for v in acts.values())
    t = mc.box_to_env(space, np.array([[0.0, 100.0]]), "tanh")
    np.testing.assert_allclose(t, [[0.0, 1.0]])
    with pytest.raises(ValueError, match="box_squash"):
        mc.box_to_env(space, u, "sigmoid")
    with pytest.raises(ValueError, match="expected 6"):
        g.to_env(u[:3])


def test_discrete_and_multidiscrete_to_env_formats() -> None:
    env = bench.make("compute/EdgeCluster-v1", scale="n4")
    (g,) = mc.agent_groups(env)
    acts = g.to_env(np.array([[0, 1, 2, 3, 4, 3]] * 4))
    assert all(env.action_space(a).contains(v) for a, v in acts.items())
    env = bench.make("spectrum/Interference-v1", scale="k4")
    (g,) = mc.agent_groups(env)
    acts = g.to_env(np.array([[12], [0], [3], [4]]))
    assert acts["link_0"] == 12 and type(acts["link_0"]) is int


def test_agent_mlp_shared_and_per_agent() -> None:
    torch.manual_seed(0)
    shared = mc.AgentMLP(1, 4, [8, 8], 2)
    x = torch.randn(5, 3, 4)
    y = shared(x)
    assert y.shape == (5, 3, 2)
    torch.testing.assert_close(y[2], shared(x[2:3])[0])  # the same weights for every agent
    per = mc.AgentMLP(5, 4, [8], 2)
    y = per(x)
    lone = per.out(torch.tanh(per.hidden[0](x)))
    torch.testing.assert_close(y, lone)
    w0, b0 = per.hidden[0].weight[1], per.hidden[0].bias[1]
    h1 = torch.tanh(x[1] @ w0 + b0) @ per.out.weight[1] + per.out.bias[1]
    torch.testing.assert_close(y[1], h1)
    with pytest.raises(ValueError, match="per-agent"):
        per(torch.randn(4, 3, 4))


def test_scales_to_train() -> None:
    assert mc.scales_to_train("supply_chain/Serial-v1", True, True) == ["n3"]
    assert mc.scales_to_train("compute/EdgeCluster-v1", False, True) == ["n10"]
    assert mc.scales_to_train("power_grid/IEEE33-v1", True, True) == ["f1"]
    assert mc.scales_to_train("spectrum/Interference-v1", True, True) == ["k50", "k4"]
    assert mc.scales_to_train("supply_chain/ThreeTier-v1", True, True) == [
        "nominal", "small", "large", "paper"]
    assert mc.scales_to_train("supply_chain/Serial-v1", True, False) == ["n3", "n2", "n5", "n10", "n20"]


def test_seed_everything_is_reproducible() -> None:
    g1, r1 = mc.seed_everything(7)
    a = (torch.rand(3), torch.rand(3, generator=g1), r1.permutation(10))
    g2, r2 = mc.seed_everything(7)
    b = (torch.rand(3), torch.rand(3, generator=g2), r2.permutation(10))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and (a[2] == b[2]).all()
    assert torch.get_num_threads() == 1


def test_checkpoint_roundtrip_and_record(tmp_path) -> None:
    env = bench.make("supply_chain/Serial-v1", scale="n2")
    (g,) = mc.agent_groups(env)
    meta = {"args": {"hidden": 4}, "agent_id": True, "box_squash": "clip",
            "groups": [mc.group_meta(g, 1, mc.RunningMeanStd(g.obs_dim))]}
    state = {"w": torch.arange(6.0).reshape(2, 3)}
    record = {"scale": "n2", "env_steps": 3, "agent_steps": 6, "episodes": 1, "wall_time_s": 0.1,
              "seeds": [5], "violations": {"c": {"agent_steps": 1, "exceedance": 2.0}}}
    pt, js = mc.save_checkpoint("algo_x", "supply_chain/Serial-v1", "n2", meta=meta, actor_state=state,
                                record=record, command="rao-bench train algo_x ...", root=tmp_path)
    assert pt == tmp_path / "algo_x" / "supply_chain__Serial-v1" / "n2.pt"
    assert sorted(p.name for p in pt.parent.iterdir()) == ["n2.json", "n2.pt"]  # no temp files left
    umask = os.umask(0)
    os.umask(umask)
    assert pt.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    blob = mc.load_checkpoint(pt)
    assert blob["meta"]["algo"] == "algo_x" and blob["meta"]["scale"] == "n2"
    assert torch.equal(blob["actor"]["w"], state["w"])
    assert json.loads(js.read_text())["command"] == "rao-bench train algo_x ..."
    assert mc.trained_tasks("algo_x", tmp_path) == ("supply_chain/Serial-v1",)
    with pytest.raises(TypeError):
        mc.save_checkpoint("algo_x", "supply_chain/Serial-v1", "n3", meta={"bad": object()},
                           actor_state=state, record=record, command="c", root=tmp_path)
