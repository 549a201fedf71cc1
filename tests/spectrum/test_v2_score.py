"""spectrum/Interference-v2's score and rules: safety cannot be traded for score, the power
budget is masked and capped, blame is proportional, the per-agent reward is Nasir & Guo's priced
rate, the anchors' policies use only what they declare, and no observation sees the future."""

from __future__ import annotations

import math

import numpy as np
import pytest

import bench
from baselines import registry
from bench.checks import check_no_foresight
from bench.episode import run_episode
from bench.policy import load_policy
from bench.registry import get_spec
from baselines.spectrum.wmmse_policy import protect_primaries
from tasks.spectrum import channel as ch
from tasks.spectrum.interference import decode_actions, encode_actions

TASK = "spectrum/Interference-v2"
V1 = "spectrum/Interference-v1"
SPEC = get_spec(TASK)


def make(scale: str | None = None, scenario: str | None = None, task: str = TASK, **kw):
    return bench.make(task, scale=scale, scenario=scenario, **kw)


class Replay:
    """Plays a recorded joint action per slot (index = slot)."""

    def __init__(self, env, actions: list[dict[str, int]]) -> None:
        self.actions, self.t = actions, 0

    def reset(self, seed: int) -> None:
        self.t = 0

    def act(self, observations):
        a = self.actions[self.t]
        self.t += 1
        return a


def record(env, policy, seed: int):
    """Play an episode; the joint actions and, per slot, which links were suspended."""
    obs, _ = env.reset(seed=seed)
    policy.reset(seed)
    actions, suspended = [], []
    while env.agents:
        a = policy.act(obs)
        obs, *_ = env.step(a)
        actions.append(a)
        suspended.append(env.last_outcome["suspended"].copy())
    return actions, suspended


class MadeSafe:
    """``inner`` made safe with perfect knowledge of the incumbents: each slot its joint action,
    then, while an active incumbent is over its threshold, the largest contributor turns down to
    the highest level that fixes the excess alone, or silence (``protect_primaries``)."""

    def __init__(self, env, inner) -> None:
        self.env, self.inner = env, inner

    def reset(self, seed: int) -> None:
        self.inner.reset(seed)

    def act(self, observations):
        env = self.env
        a = self.inner.act(observations)
        arr = np.array([a[x] for x in env.possible_agents])
        arr = env._cap_of.take(env._action_offset + arr)                  # what the radio plays
        band, level = decode_actions(arr, env.n_levels)
        level = protect_primaries(env.oracle_view(), band, np.where(band >= 0, level, -1))
        band = np.where(level >= 0, band, -1)
        return dict(zip(env.possible_agents, encode_actions(band, np.maximum(level, 0), env.n_levels).tolist()))


@pytest.mark.parametrize("policy", ["random", "full_power"])
@pytest.mark.parametrize("scale", ["k20", "k50"])
def test_a_violating_policy_never_scores_above_the_same_policy_made_safe(policy: str, scale: str) -> None:
    """Made safe by silencing the suspended transmissions, the score is exactly equal (they
    earned nothing); made safe by turning the largest contributors down, it is at least as high
    and strictly higher on some seed; the violations bought raw rate that the score ignores."""
    env = make(scale)
    seeds = SPEC.seeds.eval[:3]
    unsafe, down = [], []
    for seed in seeds:
        env.reset(seed=seed)
        actions, suspended = record(env, load_policy(policy).build(env), seed)
        rec = run_episode(env, Replay(env, actions), seed, SPEC)
        silenced = [dict(zip(env.possible_agents, np.where(s, 0, [a[x] for x in env.possible_agents]).tolist()))
                    for a, s in zip(actions, suspended)]
        quiet = run_episode(env, Replay(env, silenced), seed, SPEC)
        turned = run_episode(env, MadeSafe(env, load_policy(policy).build(env)), seed, SPEC)
        assert rec["safety"]["pu_interference"]["rate"] > 0                 # it does violate
        for fixed in (quiet, turned):
            assert fixed["safety"]["pu_interference"]["rate"] == 0.0       # made safe indeed
            assert fixed["V"] >= rec["V"]
            assert fixed["kpis"]["safe_sum_rate"] >= rec["kpis"]["safe_sum_rate"]
        assert quiet["kpis"]["safe_sum_rate"] == rec["kpis"]["safe_sum_rate"]
        assert rec["kpis"]["sum_rate"] > quiet["kpis"]["sum_rate"]           # the rate it bought
        assert rec["safety"]["power_budget"]["rate"] == 0.0                  # masked and capped
        unsafe.append(rec["kpis"]["safe_sum_rate"])
        down.append(turned["kpis"]["safe_sum_rate"])
    # (V clips at 0 and 1, so V may tie; the scored quantity orders them strictly)
    assert sum(np.array(unsafe) < np.array(down)) >= 1


def test_suspended_transmissions_earn_nothing_and_are_exactly_the_violated_bands() -> None:
    env = make("k50")
    env.reset(seed=1)
    t_on = int(np.flatnonzero(env._pu_active[:, 0])[0])
    for _ in range(t_on):
        env.step(dict.fromkeys(env.possible_agents, 0))
    # half the links at full power on incumbent 0's band, the rest on the free band
    K, M = env.n_links, env.n_bands
    band = np.where(np.arange(K) % 2 == 0, 0, M - 1)
    acts = dict(zip(env.possible_agents, encode_actions(band, np.full(K, 2), env.n_levels).tolist()))
    view = env.oracle_view()
    _, _, _, _, infos = env.step(acts)
    out = env.last_outcome
    u0 = list(view.primary_band).index(0)
    load = float((view.primary_gain[u0] * np.where(band == 0, env.levels_mw[2], 0.0)).sum())
    assert load > env.pu_threshold_mw
    assert (out["suspended"] == (band == 0)).all()
    safe = np.array([infos[x]["kpi"]["safe_rate"] for x in env.possible_agents])
    rate = np.array([infos[x]["kpi"]["rate"] for x in env.possible_agents])
    assert (safe[band == 0] == 0).all() and (rate[band == 0] > 0).all()
    assert safe[band != 0] == pytest.approx(rate[band != 0], rel=0, abs=0)


def test_blame_is_proportional_to_the_contribution_to_the_excess() -> None:
    env = make("k50")
    env.reset(seed=2)
    t_on = int(np.flatnonzero(env._pu_active[:, 0])[0])
    for _ in range(t_on):
        env.step(dict.fromkeys(env.possible_agents, 0))
    K = env.n_links
    rng = np.random.default_rng(0)
    level = rng.integers(0, env.n_levels, size=K)
    band = np.where(rng.random(K) < 0.6, 0, env.n_bands - 1)
    acts = dict(zip(env.possible_agents, encode_actions(band, level, env.n_levels).tolist()))
    view = env.oracle_view()
    _, _, _, _, infos = env.step(acts)
    blamed = np.array([infos[x]["violations"]["pu_interference"] for x in env.possible_agents])
    executed = env.last_outcome["power_mw"]
    u0 = list(view.primary_band).index(0)
    contrib = view.primary_gain[u0] * np.where(band == 0, executed, 0.0)
    excess = 10 * math.log10(contrib.sum() / env.pu_threshold_mw)
    assert excess > 0
    assert blamed.sum() == pytest.approx(excess, rel=1e-12)                # the shares add up
    assert blamed == pytest.approx(excess * contrib / contrib.sum(), rel=1e-12, abs=1e-15)
    assert (blamed[band != 0] == 0).all()


def test_power_budget_is_masked_and_capped_by_the_radio() -> None:
    env = make("k20")
    obs, _ = env.reset(seed=3)
    low = np.flatnonzero(env.budget_dbm_k < env.p_top_dbm)
    assert len(low) > 0
    for k, x in enumerate(env.possible_agents):
        mask = obs[x]["action_mask"]
        _, lvl = decode_actions(np.arange(env.n_actions), env.n_levels)
        over = (env.levels_dbm[lvl] > env.budget_dbm_k[k] + 1e-9) & (np.arange(env.n_actions) > 0)
        assert (mask[over] == 0).all() and (mask[~over] == 1).all()
    top = dict.fromkeys(env.possible_agents, int(encode_actions(np.array([3]), np.array([0]), env.n_levels)[0]))
    _, _, _, _, infos = env.step(top)
    out = env.last_outcome
    assert (out["power_mw"] <= env.budget_mw_k * (1 + 1e-9)).all()
    assert out["power_mw"][low] == pytest.approx(env.budget_mw_k[low])
    assert all(infos[x]["violations"]["power_budget"] == 0.0 for x in env.possible_agents)
    assert [infos[x]["kpi"]["blocked"] for x in env.possible_agents] == \
        [1.0 if k in low else 0.0 for k in range(env.n_links)]
    # the capped action and the budget-level action give the same slot
    env2 = make("k20")
    env2.reset(seed=3)
    lvl = np.array([int(np.flatnonzero(env.levels_dbm <= env.budget_dbm_k[k] + 1e-9)[0]) for k in range(env.n_links)])
    exact = dict(zip(env2.possible_agents, encode_actions(np.full(env.n_links, 3), lvl, env.n_levels).tolist()))
    _, _, _, _, infos2 = env2.step(exact)
    assert [infos2[x]["kpi"]["rate"] for x in env.possible_agents] == [infos[x]["kpi"]["rate"] for x in env.possible_agents]


def test_per_agent_reward_is_own_safe_rate_minus_the_interference_price() -> None:
    env = make("k20", reward="per_agent")
    env.reset(seed=4)
    rng = np.random.default_rng(1)
    for _ in range(3):
        acts = dict(zip(env.possible_agents, rng.integers(0, env.n_actions, size=env.n_links).tolist()))
        view = env.oracle_view()
        _, rewards, _, _, infos = env.step(acts)
        out = env.last_outcome
        a = out["action"]
        band, _ = decode_actions(a, env.n_levels)
        p = out["power_mw"]
        base = ch.shannon_rate(ch.link_sinr(view.gains, band, p, view.noise_mw, view.external_mw))
        assert base == pytest.approx(out["rate"], rel=1e-9)
        price = np.zeros(env.n_links)
        for k in np.flatnonzero(band >= 0):
            p_k = p.copy()
            p_k[k] = 0.0
            r = ch.shannon_rate(ch.link_sinr(view.gains, np.where(np.arange(env.n_links) == k, -1, band), p_k,
                                             view.noise_mw, view.external_mw))
            others = (band == band[k]) & (np.arange(env.n_links) != k)
            price[k] = (r - base)[others].sum()
        blamed = np.array([infos[x]["violations"]["pu_interference"] for x in env.possible_agents])
        expected = out["safe_rate"] - price - env.penalty * blamed
        got = np.array([rewards[x] for x in env.possible_agents])
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)
    # the evaluation score is the team's: the reward mode changes no KPI
    team, per = make("k20"), make("k20", reward="per_agent")
    assert not per.compiled             # the per-agent reward runs on the numpy path ...
    team.use_compiled(False)            # ... so compare with the team reward's numpy path, bit for bit
    pol = load_policy("random")
    r1 = run_episode(team, pol.build(team), 7, SPEC)
    r2 = run_episode(per, pol.build(per), 7, SPEC)
    assert r1["kpis"] == r2["kpis"] and r1["V"] == r2["V"]


def test_safe_naive_policy_scores_above_the_unsafe_random_one() -> None:
    env = make("k50")
    seeds = SPEC.seeds.eval[:3]
    v, x = {}, {}
    for name in ("safe_random", "random"):
        env.reset(seed=seeds[0])
        pol = load_policy(name).build(env)
        recs = [run_episode(env, pol, s, SPEC) for s in seeds]
        v[name] = [r["V"] for r in recs]
        x[name] = [r["kpis"]["safe_sum_rate"] for r in recs]
    assert all(a > b for a, b in zip(x["safe_random"], x["random"]))
    assert all(a >= b for a, b in zip(v["safe_random"], v["random"]))
    zero = SPEC.kpi("safe_sum_rate").anchors[0]
    assert max(x["random"]) < zero and max(v["random"]) == 0.0   # below the safe naive anchor


def test_delayed_wmmse_reads_no_current_csi() -> None:
    """Redraw the channel from slot t0 + 1 on: the delayed controller's actions up to slot t0 + 1
    (decided on slot t0's CSI at the latest) cannot move; the perfect-CSI one's do."""
    t0 = 4
    for name, same_until in (("wmmse_delayed", t0 + 2), ("wmmse", t0 + 1)):
        runs = []
        for perturb in (None, 99):
            env = make("k20")
            obs, _ = env.reset(seed=5)
            if perturb is not None:
                env.perturb_future(t0, perturb)
            pol = load_policy(name).build(env)
            acts = []
            for _ in range(t0 + 4):
                a = pol.act(obs)
                acts.append(a)
                obs, *_ = env.step(a)
            runs.append(acts)
        assert runs[0][:same_until] == runs[1][:same_until], name
        assert runs[0][same_until:] != runs[1][same_until:], name


@pytest.mark.parametrize("task", [V1, TASK])
@pytest.mark.parametrize("scale", ["k4", "k20", "k50", "k100", "k200"])
def test_no_foresight_at_every_scale(task: str, scale: str) -> None:
    assert check_no_foresight(lambda: make(scale, task=task), seed=11, t0=5, extra_steps=4) == []


def test_learners_without_v2_checkpoints_do_not_claim_v2() -> None:
    for name in registry.learner_names():
        assert not registry.applies_to(name, TASK), name
    for name in ("random", "safe_random", "full_power", "greedy_channel", "wmmse", "joint_oracle", "wmmse_delayed"):
        assert registry.applies_to(name, TASK), name
    assert not registry.applies_to("wmmse_delayed", V1) and not registry.applies_to("safe_random", V1)


def test_batched_env_refuses_the_per_agent_reward() -> None:
    from tasks.spectrum.batched import BatchedInterferenceEnv

    with pytest.raises(ValueError, match="team reward only"):
        BatchedInterferenceEnv(make("k4", reward="per_agent").config, 2)
