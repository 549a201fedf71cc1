"""The compiled step of spectrum/Interference-v1 and -v2 (``tasks/spectrum/kernels.py``, numba) against
the env's numpy reference path, on the env itself: whole episodes at every scale and in every
scenario, with the same seeds and actions. Agreement is the project's cross-machine rule
(``bench.reproduce``: floats rel 1e-9 / abs 1e-12, ints and flags exact) on rewards, termination
flags, every KPI counter and violation, and the masks exactly; the float32 observations and
``state()`` within one float32 rounding (the float64 values they are cast from agree within the
rule). The fading state and the Generator's stream stay bit-identical."""

from __future__ import annotations

import numpy as np
import pytest

import bench
from bench.registry import get_spec
from bench.reproduce import differences
from tasks.spectrum import kernels

pytestmark = pytest.mark.skipif(not kernels.AVAILABLE, reason="numba is not installed")

CASES = [(task, s.name, c.name) for task in ("spectrum/Interference-v1", "spectrum/Interference-v2")
         for s in get_spec(task).scales for c in get_spec(task).scenarios]
F32_REL = 2.0 ** -23                     # one float32 rounding, relative


def _obs(o, agents):
    return (np.stack([o[a]["observation"] for a in agents]).astype(np.float64),
            np.stack([o[a]["action_mask"] for a in agents]))


def _close_f32(x: np.ndarray, y: np.ndarray) -> bool:
    return bool(np.all(np.abs(x - y) <= F32_REL * np.maximum(np.abs(x), np.abs(y)) + 1e-12))


def run_pair(task: str, scale: str, scenario: str, seed: int, setup=None, **overrides) -> dict[str, float]:
    """One episode on both paths; asserts agreement after the reset and every step and returns
    how many float32 observation entries differed (at most one rounding each). ``setup(env)`` is
    applied to both envs right after the reset (e.g. ``perturb_future``)."""
    fast = bench.make(task, scale=scale, scenario=scenario, **overrides)
    ref = bench.make(task, scale=scale, scenario=scenario, **overrides)
    ref.use_compiled(False)
    assert fast.compiled and not ref.compiled
    agents = fast.possible_agents
    o1, _ = fast.reset(seed=seed)
    o2, _ = ref.reset(seed=seed)
    if setup is not None:
        setup(fast)
        setup(ref)
    rng = np.random.default_rng(seed + 1)
    n_obs_diff = n_entries = steps = 0
    while True:
        (x1, m1), (x2, m2) = _obs(o1, agents), _obs(o2, agents)
        np.testing.assert_array_equal(m1, m2)
        assert _close_f32(x1, x2), (steps, np.abs(x1 - x2).max())
        assert _close_f32(fast.state(), ref.state())
        n_obs_diff += int((x1 != x2).sum())
        n_entries += x1.size
        if not fast.agents:
            break
        acts = dict(zip(agents, rng.integers(0, fast.n_actions, size=len(agents)).tolist()))
        o1, r1, term1, trunc1, info1 = fast.step(acts)
        o2, r2, term2, trunc2, info2 = ref.step(acts)
        assert differences([r1, term1, trunc1, info1], [r2, term2, trunc2, info2]) == [], steps
        assert fast.last_outcome.keys() == ref.last_outcome.keys()
        for key, v in fast.last_outcome.items():
            assert differences(v.tolist(), ref.last_outcome[key].tolist()) == [], key
        np.testing.assert_array_equal(fast.channel.fading.h, ref.channel.fading.h)   # same draws, same bits
        steps += 1
    assert steps == fast.horizon and not ref.agents
    assert fast.np_random.bit_generator.state == ref.np_random.bit_generator.state
    return {"obs_entries_differing": n_obs_diff / n_entries}


@pytest.mark.parametrize("task, scale, scenario", CASES)
def test_compiled_step_agrees_with_numpy_path(task: str, scale: str, scenario: str) -> None:
    out = run_pair(task, scale, scenario, seed=11)
    assert out["obs_entries_differing"] < 1e-3        # float32 ties are rare, not systematic


@pytest.mark.parametrize("overrides", [
    {"blame": "full"},                                   # v1's blame with v2's faded incumbents
    {"protection_rule": "penalty"},                      # proportional blame without suspension
    {"power_budget_rule": "violation", "pu_fading": False},
    {"faded_interferers": 0},                            # no faded cross links
    {"neighbours": 0}])                                  # no neighbour feedback in the observation
def test_compiled_step_agrees_under_other_rule_combinations(overrides: dict) -> None:
    run_pair("spectrum/Interference-v2", "k20", "primary_user_on", seed=3, **overrides)


def test_compiled_is_the_default_and_switchable() -> None:
    env = bench.make("spectrum/Interference-v2", scale="k4")
    assert env.compiled and env.channel.compiled
    env.use_compiled(False)
    assert not env.compiled and not env.channel.compiled
    per = bench.make("spectrum/Interference-v2", scale="k4", reward="per_agent")
    assert not per.compiled                          # the per-agent reward has no compiled path


def test_switching_mid_episode_keeps_the_episode() -> None:
    """Switching paths between steps continues the same episode (the state the two paths keep is
    the same: fading, counters, measurements)."""
    task, scale = "spectrum/Interference-v2", "k20"
    a, b = bench.make(task, scale=scale), bench.make(task, scale=scale)
    b.use_compiled(False)
    a.reset(seed=5)
    b.reset(seed=5)
    rng = np.random.default_rng(0)
    for t in range(a.horizon):
        if t == 30:
            a.use_compiled(False)
        if t == 60:
            a.use_compiled(True)
        acts = dict(zip(a.possible_agents, rng.integers(0, a.n_actions, size=a.n_links).tolist()))
        assert differences(list(a.step(acts)[1:]), list(b.step(acts)[1:])) == [], t


def test_generator_pointers_draw_the_generators_own_stream() -> None:
    """The kernels draw through the Generator's addresses: the stream numpy gives, bit for bit,
    and the Generator's state advances as numpy's would."""
    r1, r2 = np.random.default_rng(123), np.random.default_rng(123)
    out = np.empty(10_007)
    kernels.draw_normals(kernels.generator_pointers(r1), out)
    np.testing.assert_array_equal(out, r2.standard_normal(10_007))
    assert r1.bit_generator.state == r2.bit_generator.state
    r3 = np.random.default_rng(123)                   # a new Generator: new address, same stream
    kernels.draw_normals(kernels.generator_pointers(r3), out)
    np.testing.assert_array_equal(out, np.random.default_rng(123).standard_normal(10_007))


def test_one_call_step_draws_the_perturbed_future_stream() -> None:
    """``kernels.env_step`` moves the channel inside the step's call: after ``perturb_future``'s
    ``t0`` it draws from the perturbed Generator, as the numpy path does (whole episode, v1 and
    v2), and the slots up to ``t0`` are those of the unperturbed episode."""
    for task in ("spectrum/Interference-v1", "spectrum/Interference-v2"):
        run_pair(task, "k20", "nominal", seed=4, setup=lambda env: env.perturb_future(30, 99))
    plain, perturbed = bench.make("spectrum/Interference-v2", scale="k20"), bench.make("spectrum/Interference-v2", scale="k20")
    plain.reset(seed=4)
    perturbed.reset(seed=4)
    perturbed.perturb_future(30, 99)
    rng = np.random.default_rng(0)
    for t in range(40):
        acts = dict(zip(plain.possible_agents, rng.integers(0, plain.n_actions, size=plain.n_links).tolist()))
        same = differences(list(plain.step(acts)[1:]), list(perturbed.step(acts)[1:])) == []
        assert same == (t <= 30), t       # slot t's outcome depends on the draws into slot t


def test_out_of_range_action_raises_and_changes_nothing() -> None:
    """The compiled step checks the actions' range inside its one call, before touching any state:
    the ValueError names the agents and the episode then continues as if the call never happened."""
    a, b = bench.make("spectrum/Interference-v2", scale="k4"), bench.make("spectrum/Interference-v2", scale="k4")
    b.use_compiled(False)
    a.reset(seed=2)
    b.reset(seed=2)
    bad = {x: 0 for x in a.possible_agents}
    for value in (a.n_actions, -1):
        bad["link_2"] = value
        for env in (a, b):
            with pytest.raises(ValueError, match="link_2"):
                env.step(bad)
    rng = np.random.default_rng(1)
    for t in range(a.horizon):
        acts = dict(zip(a.possible_agents, rng.integers(0, a.n_actions, size=a.n_links).tolist()))
        assert differences(list(a.step(acts)[1:]), list(b.step(acts)[1:])) == [], t
    np.testing.assert_array_equal(a.channel.fading.h, b.channel.fading.h)


def test_another_bit_generator_falls_back_to_the_generic_draws() -> None:
    """With a bit generator other than PCG64 the compiled step plays the slot in its call and moves
    the channel through ``channel.advance`` (numpy's draws): the same episode as the numpy path."""
    a, b = bench.make("spectrum/Interference-v2", scale="k4"), bench.make("spectrum/Interference-v2", scale="k4")
    b.use_compiled(False)
    for env in (a, b):
        env.reset(seed=6)
        env.np_random = np.random.Generator(np.random.Philox(6))
    rng = np.random.default_rng(2)
    for t in range(a.horizon):
        acts = dict(zip(a.possible_agents, rng.integers(0, a.n_actions, size=a.n_links).tolist()))
        assert differences(list(a.step(acts)[1:]), list(b.step(acts)[1:])) == [], t
    np.testing.assert_array_equal(a.channel.fading.h, b.channel.fading.h)
    assert a.np_random.random(4).tolist() == b.np_random.random(4).tolist()      # same stream position


def test_inline_pcg64_draws_are_numpys_stream() -> None:
    """The PCG64 draws with the state in registers (``draw_normals_pcg``, the fading kernel's and
    the reset's path): numpy's stream bit for bit, including the ziggurat's rare tail and wedge
    branches over a million draws, and the Generator's state afterwards; a bit generator other
    than PCG64 gets no state-word address (its draws go through its function pointers)."""
    r1, r2 = np.random.default_rng(77), np.random.default_rng(77)
    r1.random(3)                                      # any position in the stream
    r2.random(3)
    ptrs = kernels.generator_pointers(r1)
    assert ptrs.size == 5 and ptrs[4] != 0
    out = np.empty(1_000_003)
    kernels.draw_normals_pcg(ptrs, out)
    np.testing.assert_array_equal(out, r2.standard_normal(out.size))
    assert r1.bit_generator.state == r2.bit_generator.state
    assert kernels.generator_pointers(np.random.Generator(np.random.Philox(1)))[4] == 0
    p1, p2 = np.random.Generator(np.random.Philox(1)), np.random.Generator(np.random.Philox(1))
    kernels.draw_normals(kernels.generator_pointers(p1), out[:1001])
    np.testing.assert_array_equal(out[:1001], p2.standard_normal(1001))


def test_reset_helpers_match_numpy() -> None:
    """The reset's compiled helpers give numpy's bits: ``channel.standard_normal``/``normal``
    (``rng.standard_normal``/``rng.normal(0, s)``, same stream) and ``top_indices`` (the prefix of
    a stable descending argsort, ties by column, any ``n``)."""
    from tasks.spectrum import channel as ch
    r1, r2 = np.random.default_rng(5), np.random.default_rng(5)
    np.testing.assert_array_equal(ch.normal(r1, 8.0, (50, 50)), r2.normal(0.0, 8.0, size=(50, 50)))
    np.testing.assert_array_equal(ch.standard_normal(r1, 7), r2.standard_normal(7))
    assert r1.bit_generator.state == r2.bit_generator.state
    rng = np.random.default_rng(0)
    for R, C, n in [(50, 50, 12), (4, 4, 3), (4, 4, 5), (20, 20, 0), (7, 9, 9)]:
        v = rng.exponential(size=(R, C))
        v[rng.random((R, C)) < 0.2] = 0.0            # ties at zero
        v[:, 2] = v[:, 3]                             # ties between columns
        got = ch.top_indices(v, n)
        np.testing.assert_array_equal(got, np.argsort(-v, axis=1, kind="stable")[:, :n])
        assert got.dtype == np.int64 and got.flags.c_contiguous
