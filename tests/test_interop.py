"""Interop of every released task with the tools MARL researchers plug envs into.

* ``render_mode`` exists (None; ``metadata["render_modes"]`` is empty: nothing is drawn);
* an env deep-copies and pickles mid-episode, and the copy plays on bit for bit as the original
  does (on every scenario, across the shift's onset, where state changes hands);
* SuperSuit's ``pettingzoo_env_to_vec_env_v1`` + ``concat_vec_envs_v1`` play exactly the episodes
  of separate envs seeded as SuperSuit seeds them (``seed + i``), through the automatic reset at
  the end of an episode; with heterogeneous agents (ThreeTier) after SuperSuit's padding wrappers;
* the batched IEEE33 and spectrum envs copy and pickle too.

Parametrised over ``task_ids()``, so every newly released version is covered.
"""

from __future__ import annotations

import copy
import pickle
from typing import Any, Callable

import numpy as np
import pytest

from baselines.random_policy import RandomPolicy
from bench.env_base import restore_views, state_with_views
from bench.registry import get_spec, make, task_ids

supersuit = pytest.importorskip("supersuit", reason="SuperSuit is in the [dev] extra")

TASKS = task_ids()
CELLS = [(t, s.name, s.onset) for t in TASKS for s in get_spec(t).scenarios]


def same(a: Any, b: Any, where: str = "") -> None:
    """Assert bit-identical nested outputs (dicts in the same order, arrays of the same dtype,
    shape and bytes, floats equal or both NaN)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), f"{where}: keys {list(a)[:5]} vs {list(b)[:5]}"
        for k in a:
            same(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), f"{where}: {a!r} vs {b!r}"
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{where}[{i}]")
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape \
            and a.tobytes() == b.tobytes(), f"{where}: arrays differ"
    elif isinstance(a, float):
        assert type(b) is float and (a == b or (a != a and b != b)), f"{where}: {a!r} vs {b!r}"
    else:
        assert type(a) is type(b) and a == b, f"{where}: {a!r} vs {b!r}"


def by_pickle(env: Any) -> Any:
    return pickle.loads(pickle.dumps(env, protocol=pickle.HIGHEST_PROTOCOL))


@pytest.mark.parametrize("task", TASKS)
def test_render_mode_is_declared(task: str) -> None:
    env = make(task)
    assert env.render_mode is None
    assert env.metadata["render_modes"] == []
    assert env.unwrapped is env
    assert env.render() is None


@pytest.mark.parametrize("task,scenario,onset", CELLS, ids=[f"{t}-{s}" for t, s, _ in CELLS])
def test_copies_play_the_same_episode(task: str, scenario: str, onset: int | None) -> None:
    """Copy by deepcopy and by pickle one step before the shift's onset (step 3 when nominal),
    then step the original and both copies in turn with the same actions: every output and the
    state must match bit for bit. Interleaving also shows that the copies share no state (a
    shared Generator or buffer would make the second env's step differ)."""
    env = make(task, scenario=scenario)
    policy = RandomPolicy(env)
    policy.reset(5)
    obs, _ = env.reset(seed=get_spec(task).seeds.train_start + 3)
    t_copy = (onset - 1) if onset is not None else 3
    for _ in range(t_copy):
        obs = env.step(policy.act(obs))[0]
    twins = [copy.deepcopy(env), by_pickle(env)]
    for k in range(4):
        actions = policy.act(obs)
        out = env.step(copy.deepcopy(actions))
        for label, twin in zip(("deepcopy", "pickle"), twins):
            same(out, twin.step(copy.deepcopy(actions)), f"{label} step {t_copy + k}")
            same(env.state(), twin.state(), f"{label} state {t_copy + k}")
        obs = out[0]


@pytest.mark.parametrize("task", TASKS)
def test_a_pickled_fresh_env_resets_and_plays_alike(task: str) -> None:
    env = make(task)
    twin = by_pickle(env)
    seed = get_spec(task).seeds.train_start
    same(env.reset(seed=seed), twin.reset(seed=seed), "reset")
    policy = RandomPolicy(env)
    policy.reset(1)
    obs = env.reset(seed=seed)[0]
    twin.reset(seed=seed)
    for k in range(3):
        actions = policy.act(obs)
        out = env.step(actions)
        same(out, twin.step(actions), f"step {k}")
        obs = out[0]


# -- SuperSuit --------------------------------------------------------------------------------------
def _homogeneous(env: Any) -> bool:
    obs = [env.observation_space(a) for a in env.possible_agents]
    act = [env.action_space(a) for a in env.possible_agents]
    return all(s == obs[0] for s in obs) and all(s == act[0] for s in act)


def _padded_action(a: Any, space: Any) -> np.ndarray:
    """An agent's action laid into SuperSuit's padded (common) action space: zeros after it."""
    a = np.asarray(a, dtype=space.dtype)
    out = np.zeros(space.shape, dtype=space.dtype)
    out[tuple(slice(0, n) for n in a.shape)] = a
    return out


def _rows(obs: Any, i: int) -> Any:
    return {k: v[i] for k, v in obs.items()} if isinstance(obs, dict) else obs[i]


def _same_obs(vec_row: Any, ref: Any, where: str) -> None:
    """A vector env row equals the reference agent's observation (its prefix, then zero padding)."""
    if isinstance(ref, dict):
        for k in ref:
            _same_obs(vec_row[k], ref[k], f"{where}/{k}")
        return
    ref = np.asarray(ref)
    head = vec_row[tuple(slice(0, n) for n in ref.shape)]
    assert head.dtype == ref.dtype and head.tobytes() == ref.tobytes(), f"{where}: observation differs"
    assert np.count_nonzero(vec_row) == np.count_nonzero(head), f"{where}: padding is not zero"


def vector_env(task: str, n_envs: int, num_cpus: int = 0, **overrides: Any) -> Any:
    """SuperSuit's route: agents as vector entries, then ``n_envs`` copies of the env side by side."""
    env = make(task, **overrides)
    if not _homogeneous(env):
        env = supersuit.pad_action_space_v0(supersuit.pad_observations_v0(env))
    vec = supersuit.pettingzoo_env_to_vec_env_v1(env)
    return supersuit.concat_vec_envs_v1(vec, n_envs, num_cpus=num_cpus, base_class="gymnasium")


def _check_vector_env(task: str, make_vec: Callable[..., Any], n_envs: int, horizon: int, steps: int) -> None:
    short = {"horizon": horizon}
    if "burn_in" in get_spec(task).parameters:  # Serial-v2 plays an unscored burn-in first
        short["burn_in"] = 0
    venv = make_vec(task, n_envs, **short)
    seed = get_spec(task).seeds.train_start + 11
    refs = [make(task, **short) for _ in range(n_envs)]
    pols = [RandomPolicy(r) for r in refs]
    ref_obs = []
    for i, (r, p) in enumerate(zip(refs, pols)):
        ref_obs.append(r.reset(seed=seed + i)[0])   # concat_vec_envs seeds copy i with seed + i
        p.reset(100 + i)
    obs, _ = venv.reset(seed=seed)
    agents = refs[0].possible_agents
    n = len(agents)
    ended = False
    for k in range(steps):
        for i in range(n_envs):
            for j, a in enumerate(agents):
                _same_obs(_rows(obs, i * n + j), ref_obs[i][a], f"step {k} env {i} {a}")
        acts = [p.act(o) for p, o in zip(pols, ref_obs)]
        space = venv.action_space
        batch = np.stack([_padded_action(acts[i][a], space) for i in range(n_envs) for a in agents])
        obs, rew, term, trunc, _ = venv.step(batch)
        expect_rew, expect_done = [], []
        for i, r in enumerate(refs):
            o, rw, te, tr, _ = r.step(acts[i])
            expect_rew += [rw[a] for a in agents]
            expect_done += [te[a] or tr[a] for a in agents]
            ref_obs[i] = o if r.agents else r.reset()[0]   # SuperSuit resets with seed=None
        np.testing.assert_array_equal(rew, np.asarray(expect_rew, dtype=rew.dtype))
        np.testing.assert_array_equal(term | trunc, expect_done)
        ended |= any(expect_done)
    assert ended or steps <= horizon, "the episode never ended: the automatic reset went untested"
    venv.close()


@pytest.mark.parametrize("task", TASKS)
def test_supersuit_vector_env_plays_the_task(task: str) -> None:
    """Two copies of a 3-step episode, played for 5 steps: through the automatic reset."""
    _check_vector_env(task, vector_env, n_envs=2, horizon=3, steps=5)


def test_supersuit_vector_env_in_worker_processes() -> None:
    """``num_cpus`` > 0 pickles the env into worker processes (cloudpickle)."""
    task = "supply_chain/Serial-v1" if "supply_chain/Serial-v1" in TASKS else TASKS[0]
    _check_vector_env(task, lambda t, n, **kw: vector_env(t, n, num_cpus=2, **kw),
                      n_envs=2, horizon=3, steps=4)


# -- batched envs -----------------------------------------------------------------------------------
def _batched_envs() -> list[tuple[str, Callable[[], Any], Callable[[Any, int], Any]]]:
    from tasks.power_grid.batched import BatchedVoltageControl
    from tasks.spectrum.batched import BatchedInterferenceEnv

    def grid_act(env: Any, k: int) -> np.ndarray:
        return np.random.default_rng(k).uniform(0, 1, (env.batch_size, env.n_agents, env.action_width))

    def spectrum_act(env: Any, k: int) -> np.ndarray:
        return np.random.default_rng(k).integers(0, env.n_actions, (env.n_envs, env.n_links))

    return [("power_grid", lambda: BatchedVoltageControl(2), grid_act),
            ("spectrum", lambda: BatchedInterferenceEnv.make(2, scale="k4", n_threads=2), spectrum_act)]


@pytest.mark.parametrize("name,build,act", _batched_envs(), ids=["power_grid", "spectrum"])
def test_batched_envs_copy_and_pickle(name: str, build: Callable[[], Any], act: Callable[[Any, int], Any]) -> None:
    env = build()
    assert env.render_mode is None and env.metadata["render_modes"] == []
    env.reset([3, 4])
    env.step(act(env, 0))
    twins = [copy.deepcopy(env), by_pickle(env)]
    for k in range(1, 4):
        a = act(env, k)
        out = env.step(a.copy())
        for twin in twins:
            same(out, twin.step(a.copy()), f"{name} step {k}")
    for e in [env, *twins]:
        if hasattr(e, "close"):
            e.close()


class _Holder:
    """Arrays and views of them, copied through bench.env_base's view-keeping state."""

    def __init__(self) -> None:
        self.ring = np.arange(12.0).reshape(3, 4)
        self.flat = self.ring.reshape(-1)
        self.col = self.ring[:, 1]
        self.h = np.array([1 + 2j, 3 + 4j])
        self.h_real = self.h.view(np.float64)
        self.other = np.zeros(3)

    def __getstate__(self) -> dict:
        return state_with_views(self.__dict__)

    def __setstate__(self, state: dict) -> None:
        restore_views(self, state)


def test_views_stay_views_of_their_arrays_in_a_copy() -> None:
    """``bench.env_base.state_with_views``: a flat view, a strided view and a float view of a
    complex array still write into their own array after deepcopy and pickle; unrelated arrays
    and the original are untouched."""
    orig = _Holder()
    for twin in (copy.deepcopy(orig), by_pickle(orig)):
        twin.flat[5] = -1.0
        twin.col[2] = -2.0
        twin.h_real[3] = 9.0
        assert twin.ring[1, 1] == -1.0 and twin.ring[2, 1] == -2.0 and twin.h[1] == 3 + 9j
        assert twin.flat.base is not None and np.shares_memory(twin.col, twin.ring)
    assert orig.ring[1, 1] == 5.0 and orig.ring[2, 1] == 9.0 and orig.h[1] == 3 + 4j
