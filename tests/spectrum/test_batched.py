"""BatchedInterferenceEnv (tasks/spectrum/batched.py): B episodes stepped together are, bit for
bit, the episodes of B separate InterferenceEnvs with the same seeds and actions — at every scale
and in every scenario, over whole episodes (so every shift's onset is crossed) — and it rejects
bad input."""

from __future__ import annotations

import numpy as np
import pytest

import bench
from bench.registry import get_spec
from tasks.spectrum import kernels
from tasks.spectrum.batched import BatchedInterferenceEnv

TASK = "spectrum/Interference-v1"
SPEC = get_spec(TASK)
SMALL = [s.name for s in SPEC.scales if s.agents <= 50]
CASES = [(s, c.name) for s in SMALL for c in SPEC.scenarios]
LARGE = [(s.name, c.name) for s in SPEC.scales if s.agents > 50 for c in SPEC.scenarios]


def run_both(scale: str, scenario: str, seeds: list[int], n_steps: int | None = None,
             action_seed: int = 1, n_threads: int = 1, task: str = TASK, compiled: bool = False) -> int:
    """Step a batched env and one single env per seed with the same random actions, asserting
    equality of everything after the reset and after every step; returns the steps played.
    ``compiled``: both on the compiled kernels (tasks/spectrum/kernels.py), else both on the numpy
    path (the two paths agree within tolerance: test_compiled_step.py)."""
    B = len(seeds)
    benv = BatchedInterferenceEnv.make(B, task, scale=scale, scenario=scenario, n_threads=n_threads,
                                       compiled=compiled)
    singles = [bench.make(task, scale=scale, scenario=scenario) for _ in seeds]
    for env in singles:
        env.use_compiled(compiled)
    v2 = task != TASK
    agents = singles[0].possible_agents
    obs, mask = benv.reset(seeds)
    single_obs = [env.reset(seed=s)[0] for env, s in zip(singles, seeds)]

    def check_obs(obs, mask, with_state=True):
        state = benv.state() if with_state else None
        for b, env in enumerate(singles):
            o = single_obs[b]
            np.testing.assert_array_equal(np.stack([o[a]["observation"] for a in agents]), obs[b])
            for k, a in enumerate(agents):
                np.testing.assert_array_equal(o[a]["action_mask"], mask[b, k] if v2 else mask[b])
            if with_state:
                np.testing.assert_array_equal(env.state(), state[b])

    check_obs(obs, mask)
    rng = np.random.default_rng(action_seed)
    steps = 0
    while n_steps is None or steps < n_steps:
        A = rng.integers(0, benv.n_actions, size=(B, benv.n_links))
        obs, mask, reward, done, info = benv.step(A)
        for b, env in enumerate(singles):
            o, r, term, trunc, inf = env.step(dict(zip(agents, A[b].tolist())))
            single_obs[b] = o
            assert [r[a] for a in agents] == [reward[b]] * len(agents)
            assert not any(term.values()) and all(v == done for v in trunc.values())
            for name in ("rate", "mbits", "energy_j", "blocked") + (("safe_rate",) if v2 else ()):
                assert [inf[a]["kpi"][name] for a in agents] == info["kpi"][name][b].tolist(), name
            for name in ("jain", "rate_p5"):
                assert inf[agents[0]]["kpi"][name] == info["kpi"][name][b], name
            for name in ("pu_interference", "power_budget"):
                assert [inf[a]["violations"][name] for a in agents] == \
                    info["violations"][name][b].tolist(), name
        check_obs(obs, mask, with_state=steps % 10 == 0 or done)
        steps += 1
        if done:
            assert all(not env.agents for env in singles)
            break
    benv.close()
    return steps


COMPILED = [False, True] if kernels.AVAILABLE else [False]


@pytest.mark.parametrize("compiled", COMPILED)
@pytest.mark.parametrize("scale, scenario", CASES)
def test_batched_equals_separate_envs(scale: str, scenario: str, compiled: bool) -> None:
    # whole episodes (onsets at slot 50), two episodes with unrelated seeds
    assert run_both(scale, scenario, [5, 123456], compiled=compiled) == SPEC.horizon


@pytest.mark.parametrize("compiled", COMPILED)
@pytest.mark.parametrize("scenario", ["nominal", "faster_mobility"])
def test_threaded_fading_equals_separate_envs(scenario: str, compiled: bool) -> None:
    # the fading update split over threads (uneven row blocks: 5 episodes on 2 and 3 threads)
    for n_threads in (2, 3):
        assert run_both("k20", scenario, [5, 6, 7, 8, 123456], n_threads=n_threads,
                        compiled=compiled) == SPEC.horizon


@pytest.mark.parametrize("scale", [s for s, c in LARGE if c == "nominal"])
def test_batched_equals_separate_envs_large_scales_start(scale: str) -> None:
    assert run_both(scale, "nominal", [5, 123456], n_steps=8) == 8


@pytest.mark.slow
@pytest.mark.parametrize("scale, scenario", LARGE)
def test_batched_equals_separate_envs_large_scales(scale: str, scenario: str) -> None:
    assert run_both(scale, scenario, [5, 77, 123456]) == SPEC.horizon


V2 = "spectrum/Interference-v2"
V2_CASES = [(s, c.name) for s in ("k4", "k20") for c in get_spec(V2).scenarios]


@pytest.mark.parametrize("compiled", COMPILED)
@pytest.mark.parametrize("scale, scenario", V2_CASES)
def test_batched_equals_separate_envs_v2(scale: str, scenario: str, compiled: bool) -> None:
    """Interference-v2's rules (suspension, proportional blame, capped budget, faded links into
    incumbents) give the same bits batched as in separate envs."""
    assert run_both(scale, scenario, [5, 123456], task=V2, compiled=compiled) == SPEC.horizon


@pytest.mark.parametrize("compiled", COMPILED)
def test_batched_v2_k50_and_threads(compiled: bool) -> None:
    assert run_both("k50", "nominal", [5, 123456], n_steps=60, task=V2, compiled=compiled) == 60
    assert run_both("k20", "primary_user_on", [5, 6, 7], n_threads=2, task=V2, compiled=compiled) == SPEC.horizon


def test_episodes_really_differ_and_violations_fire() -> None:
    """The comparison above is not vacuous: the episodes differ between seeds, and both
    constraints and the outage's blocked counter fire under random actions."""
    benv = BatchedInterferenceEnv.make(2, scale="k20", scenario="subband_outage")
    obs, _ = benv.reset([1, 2])
    assert not np.array_equal(obs[0], obs[1])
    rng = np.random.default_rng(0)
    totals = dict.fromkeys(("pu_interference", "power_budget", "blocked"), 0.0)
    done = False
    while not done:
        obs, mask, reward, done, info = benv.step(rng.integers(0, benv.n_actions, size=(2, benv.n_links)))
        totals["pu_interference"] += info["violations"]["pu_interference"].sum()
        totals["power_budget"] += info["violations"]["power_budget"].sum()
        totals["blocked"] += info["kpi"]["blocked"].sum()
    assert all(v > 0 for v in totals.values()), totals
    assert (mask == 0).any()                                  # the outage masks a band


def test_reset_without_seeds_continues_each_stream() -> None:
    """``reset(None)`` continues every episode's own Generator, as ``env.reset(seed=None)`` does."""
    benv = BatchedInterferenceEnv.make(2, scale="k4")
    singles = [bench.make(TASK, scale="k4") for _ in range(2)]
    benv.reset([3, 4])
    for env, s in zip(singles, (3, 4)):
        env.reset(seed=s)
    rng = np.random.default_rng(0)
    A = rng.integers(0, benv.n_actions, size=(2, benv.n_links))
    benv.step(A)
    for b, env in enumerate(singles):
        env.step(dict(zip(env.possible_agents, A[b].tolist())))
    obs, _ = benv.reset(None)
    for b, env in enumerate(singles):
        o, _ = env.reset(seed=None)
        np.testing.assert_array_equal(np.stack([o[a]["observation"] for a in env.possible_agents]), obs[b])


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="n_envs"):
        BatchedInterferenceEnv.make(0, scale="k4")
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="n_threads must be an integer >= 1"):
            BatchedInterferenceEnv.make(2, scale="k4", n_threads=bad)
    benv = BatchedInterferenceEnv.make(2, scale="k4")
    with pytest.raises(RuntimeError, match="reset"):
        benv.step(np.zeros((2, 4), dtype=int))
    with pytest.raises(ValueError, match="one seed per episode"):
        benv.reset([1, 2, 3])
    benv.reset([1, 2])
    assert benv.state().shape == (2, bench.make(TASK, scale="k4").state_space.shape[0])
    with pytest.raises(ValueError, match="shape"):
        benv.step(np.zeros((2, 3), dtype=int))
    with pytest.raises(ValueError, match="integer array"):
        benv.step(np.zeros((2, 4)))
    for bad in (-1, benv.n_actions):
        A = np.zeros((2, 4), dtype=int)
        A[1, 2] = bad
        with pytest.raises(ValueError, match="actions must be integers in"):
            benv.step(A)
    for _ in range(SPEC.horizon):
        done = benv.step(np.zeros((2, 4), dtype=int))[3]
    assert done
    with pytest.raises(RuntimeError, match="reset"):
        benv.step(np.zeros((2, 4), dtype=int))
