"""QMIX (baselines/learners/qmix.py): the mixer's monotonicity and the IGM property checked by autograd and
brute force, the TD target with a mixer worked by hand, the replay buffer's global state, then a
tiny fixed-seed training run that beats random on the eval seeds and reproduces bit for bit."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from baselines.learners import qmix, vdn  # noqa: E402
from baselines.learners.marl_common import agent_groups, checkpoint_paths  # noqa: E402
from baselines.random_policy import RandomPolicy  # noqa: E402
from bench.episode import run_episode  # noqa: E402
from bench.registry import get_spec, make  # noqa: E402

COMPUTE = "compute/EdgeCluster-v1"
SPECTRUM = "spectrum/Interference-v1"


def test_mixer_is_monotone_in_every_agent_utility() -> None:
    """dQ_tot/dQ_i >= 0 for every agent, state and utility vector (QMIX's constraint), and the
    mixer really depends on the state (it is not a fixed weighting)."""
    torch.manual_seed(0)
    mixer = qmix.QMixer(n_agents=5, state_dim=7, embed=8, hidden=16)
    q = torch.randn(64, 5, requires_grad=True)
    s = torch.randn(64, 7)
    (grad,) = torch.autograd.grad(mixer(q, s).sum(), q)
    assert bool((grad >= 0).all()) and float(grad.max()) > 0
    assert not torch.allclose(mixer(q, s), mixer(q, torch.randn(64, 7)))


def test_decentralised_greedy_maximises_the_mixed_q_tot() -> None:
    """IGM: per-agent argmax of the utilities gives the joint action maximising Q_tot(s, .) over
    all 4^3 joint actions (masked Discrete(4)), for several states."""
    torch.manual_seed(1)
    mixer = qmix.QMixer(n_agents=3, state_dim=4, embed=8, hidden=16)
    gen = torch.Generator().manual_seed(2)
    for _ in range(5):
        util = torch.randn(3, 4, generator=gen)
        mask = torch.rand(3, 4, generator=gen) > 0.3
        mask[:, 1] = True
        s = torch.randn(1, 4, generator=gen)
        dec = tuple(vdn.greedy_of(util, (4,), mask)[:, 0].tolist())
        joint = [a for a in itertools.product(range(4), repeat=3) if all(mask[i, a[i]] for i in range(3))]
        with torch.no_grad():
            values = {a: float(mixer(util[torch.arange(3), torch.tensor(a)][None], s)) for a in joint}
        assert values[dec] == pytest.approx(max(values.values()), abs=1e-6)


def test_td_loss_with_a_mixer_worked_by_hand() -> None:
    torch.manual_seed(3)
    net = vdn.UtilityNet([4], [(3, 2)], hidden=8)
    tgt = vdn.UtilityNet([4], [(3, 2)], hidden=8)
    mixer = qmix.QMixer(2, 5, embed=4, hidden=8)
    tmix = qmix.QMixer(2, 5, embed=4, hidden=8)
    gen = torch.Generator().manual_seed(4)
    B = 5
    batch = {"x": [torch.randn(2, B, 4, generator=gen)], "x_next": [torch.randn(2, B, 4, generator=gen)],
             "a": [torch.stack([torch.randint(0, 3, (2, B), generator=gen),
                                torch.randint(0, 2, (2, B), generator=gen)], -1)],
             "mask_next": [None], "r": torch.randn(B, generator=gen),
             "term": torch.tensor([0., 0., 1., 0., 0.]),
             "s": torch.randn(B, 5, generator=gen), "s_next": torch.randn(B, 5, generator=gen)}
    got = float(vdn.td_loss(net, tgt, batch, 0.7, True, mixer, tmix).detach())
    with torch.no_grad():
        q = net.q(0, batch["x"][0])                  # [2, B, 5]
        chosen = q[..., :3].gather(-1, batch["a"][0][..., :1]).squeeze(-1) + \
            q[..., 3:].gather(-1, batch["a"][0][..., 1:]).squeeze(-1)
        qn_on, qn_t = net.q(0, batch["x_next"][0]), tgt.q(0, batch["x_next"][0])
        a0, a1 = qn_on[..., :3].argmax(-1, keepdim=True), qn_on[..., 3:].argmax(-1, keepdim=True)
        best = qn_t[..., :3].gather(-1, a0).squeeze(-1) + qn_t[..., 3:].gather(-1, a1).squeeze(-1)
        y = batch["r"] + 0.7 * (1 - batch["term"]) * tmix(best.T, batch["s_next"])
        want = float(torch.mean((mixer(chosen.T, batch["s"]) - y) ** 2))
    assert got == pytest.approx(want, rel=1e-5)
    with pytest.raises(ValueError, match="target_mixer"):
        vdn.td_loss(net, tgt, batch, 0.7, True, mixer, None)


def test_replay_keeps_the_global_state_beside_the_observations() -> None:
    env = make(SPECTRUM, scale="k4")
    groups = agent_groups(env)
    buf = vdn.EpisodeReplay(8, 4, groups, [(13,)], np.random.Generator(np.random.PCG64(0)), state_dim=3)
    obs = [np.zeros((4, groups[0].obs_dim), np.float32)]
    masks = [np.ones((4, 13), bool)]
    buf.start(obs, masks, np.array([0.0, 0, 0], np.float32))
    for t in range(4):
        buf.add([np.zeros((4, 1))], 0.0, False, obs, masks, np.full(3, t + 1.0, np.float32))
    e, t = buf.sample(50)
    assert np.all(buf.state[e, t + 1, 0] - buf.state[e, t, 0] == 1.0)


def tiny(**kw: object) -> qmix.Args:
    base = dict(seed=3, gamma=0.5, lr=1e-3, hidden=64, batch_size=32, learning_starts=100,
                buffer_size=2_000, target_update_interval=50, wall_time_s=600.0)
    base.update(kw)
    return qmix.Args(**base)  # type: ignore[arg-type]


# Measured with tiny(env_steps=3_000), seed 3, over the ten eval seeds of compute n4: V_trained
# 0.437 vs V_random 0.117 on the machine that wrote this test, but 0.254 vs 0.117 on another
# Intel Xeon host (session 4): the cause was not isolated (the CPU's kernels or torch's thread count
# change the rounding, and a 3,000-step training run amplifies it into a different policy). The margin is under 3/4 of the smaller gap,
# and random-level play (V 0.12) still fails it.
V_MARGIN = 0.10


def test_trained_qmix_beats_random_on_eval_seeds(tmp_path: Path) -> None:
    spec = get_spec(COMPUTE)
    rec = qmix.train(COMPUTE, tiny(env_steps=3_000), out_dir=tmp_path, scales=["n4"], progress=False)[0]
    seeds = list(spec.seeds.eval)
    assert not set(rec["seeds"]) & set(seeds)
    env = make(COMPUTE, scale="n4")
    env.reset(seed=seeds[0])
    v = {}
    for name, cls in (("qmix", qmix.QMIXPolicy.with_checkpoints(tmp_path)), ("random", RandomPolicy)):
        v[name] = float(np.mean([run_episode(env, cls(env), s, spec)["V"] for s in seeds]))
    assert v["qmix"] > v["random"] + V_MARGIN, v
    # only the agents' utilities are saved (the mixer is a training device), so the network is
    # the same size as VDN's and runs at any agent count
    blob = torch.load(checkpoint_paths("qmix", COMPUTE, "n4", tmp_path)[0], weights_only=True)
    assert all(k.startswith("mlps.") for k in blob["actor"])
    assert blob["meta"]["args"]["mixing_embed"] == 32


def test_same_seed_same_qmix_checkpoint(tmp_path: Path) -> None:
    blobs = []
    for run in ("a", "b"):
        qmix.train(SPECTRUM, tiny(env_steps=300), out_dir=tmp_path / run, scales=["k4"], progress=False)
        blobs.append(torch.load(checkpoint_paths("qmix", SPECTRUM, "k4", tmp_path / run)[0],
                                weights_only=True))
    a, b = blobs
    assert a["meta"] == b["meta"]
    assert all(torch.equal(a["actor"][k], b["actor"][k]) for k in a["actor"])
    js = checkpoint_paths("qmix", SPECTRUM, "k4", tmp_path / "a")[1].read_text()
    assert f"rao-bench train qmix {SPECTRUM} --seed 3 --env-steps 300" in js
    assert qmix.QMIXPolicy.with_checkpoints(tmp_path / "a").tasks == (SPECTRUM,)


def test_qmix_args_are_checked() -> None:
    with pytest.raises(ValueError, match="mixing_embed"):
        qmix.Args(mixing_embed=0)
    with pytest.raises(ValueError, match="qmix.Args"):
        qmix.train(COMPUTE, vdn.Args(), progress=False)
