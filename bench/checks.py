"""Conformance checks for RAO-Bench envs: PettingZoo's API and seed tests plus our stricter ones.

Run them on any task (``rao-bench check-env TASK``) or on your own env (``check_env``). Each
problem says what to fix. The determinism check compares *whole* episodes, every step, bit for bit
(PettingZoo's own seed test once compared a single step only).
"""

from __future__ import annotations

import hashlib
import pickle
from typing import Any, Callable

import numpy as np
from pettingzoo.test import parallel_api_test, parallel_seed_test


def _canon(x: Any) -> bytes:
    """A bit-exact fingerprint of nested observations/infos: pickling keeps every float's bits,
    arrays' dtype, shape and bytes, and dict order (a deterministic env reproduces all of them),
    and is far faster than walking large per-agent structures value by value."""
    return hashlib.sha256(pickle.dumps(x, protocol=pickle.HIGHEST_PROTOCOL)).digest()


def play(env: Any, seed: int, action_seed: int, max_steps: int | None = None) -> list[Any]:
    """One episode from ``seed`` with actions sampled from action spaces seeded by ``action_seed``;
    returns the canonical trace of every step (observations, rewards, flags, infos, state)."""
    obs, infos = env.reset(seed=seed)
    for i, a in enumerate(env.possible_agents):
        env.action_space(a).seed(action_seed + i)
    trace = [_canon((obs, infos))]
    steps = 0
    while env.agents and (max_steps is None or steps < max_steps):
        actions = {a: env.action_space(a).sample() for a in env.agents}
        out = env.step(actions)
        trace.append(_canon(out))
        if env.agents:
            trace.append(_canon(env.state()))
        steps += 1
    return trace


def check_determinism(make_env: Callable[[], Any], seeds: tuple[int, int] = (11, 12),
                      max_steps: int | None = None) -> list[str]:
    """Same seed and actions ⇒ bit-identical episodes (also from two separate env objects);
    different seeds ⇒ different episodes."""
    problems = []
    env_a, env_b = make_env(), make_env()
    first = play(env_a, seeds[0], 0, max_steps)
    again = play(env_a, seeds[0], 0, max_steps)
    other_obj = play(env_b, seeds[0], 0, max_steps)
    for label, trace in (("the same env reset again", again), ("a second env object", other_obj)):
        if trace != first:
            step = next((i for i, (x, y) in enumerate(zip(first, trace)) if x != y), min(len(first), len(trace)))
            problems.append(f"not deterministic: with {label}, the same seed and actions diverge at "
                            f"trace item {step}. Draw every random number from self.np_random, "
                            "seeded in reset(seed), and reset all episode state there.")
    if play(env_a, seeds[1], 0, max_steps) == first:
        problems.append("different seeds gave identical episodes: reset(seed) must seed the "
                        "env's Generator and the episode must depend on it")
    return problems


def check_contract(env: Any, n_agents: int | None, constraints: tuple[str, ...],
                   max_steps: int | None = None) -> list[str]:
    """The RAO-Bench parts of the contract: fixed agents, infos with KPI counters and every
    constraint's exceedance, a finite global state."""
    problems = []
    obs, _ = env.reset(seed=3)
    agents = list(env.possible_agents)
    if n_agents is not None and len(agents) != n_agents:
        problems.append(f"the spec's scale declares {n_agents} agents but possible_agents has {len(agents)}")
    steps = 0
    while env.agents and (max_steps is None or steps < max_steps):
        if list(env.agents) != agents:
            problems.append("agents changed mid-episode: keep possible_agents fixed and use masks")
            break
        state = np.asarray(env.state())
        if not np.all(np.isfinite(state)):
            problems.append("state() returned non-finite values")
            break
        _, rewards, _, _, infos = env.step({a: env.action_space(a).sample() for a in env.agents})
        for a in agents:
            info = infos.get(a, {})
            if not isinstance(info.get("kpi"), dict):
                problems.append(f"infos[{a!r}] lacks a 'kpi' dict of counter increments")
            missing = set(constraints) - set(info.get("violations", {}))
            if missing:
                problems.append(f"infos[{a!r}]['violations'] lacks {sorted(missing)}: report every "
                                "constraint each step (0.0 when not violated)")
            if any(v < 0 or not np.isfinite(v) for v in info.get("violations", {}).values()):
                problems.append(f"infos[{a!r}]['violations'] must be finite exceedances >= 0")
            if not np.isfinite(rewards.get(a, np.nan)):
                problems.append(f"reward of {a!r} is not finite")
        if problems:
            break
        steps += 1
    return problems


def check_env(make_env: Callable[[], Any], *, n_agents: int | None = None,
              constraints: tuple[str, ...] = (), max_steps: int | None = None) -> list[str]:
    """All checks on an env factory; returns a list of problems (empty when it conforms)."""
    problems = []
    try:
        parallel_api_test(make_env(), num_cycles=max_steps or 100_000)
    except AssertionError as exc:
        problems.append(f"pettingzoo parallel_api_test failed: {exc}")
    try:
        parallel_seed_test(make_env, num_cycles=max_steps or 500)
    except AssertionError as exc:
        problems.append(f"pettingzoo parallel_seed_test failed: {exc}")
    problems += check_contract(make_env(), n_agents, constraints, max_steps)
    problems += check_determinism(make_env, max_steps=max_steps)
    return problems


def check_task(task_id: str, scales: list[str] | None = None, max_steps: int | None = None) -> list[str]:
    """Every check on every (or the given) scale of a released task."""
    from bench.registry import get_spec, make

    spec = get_spec(task_id)
    out = []
    for scale in scales or [s.name for s in spec.scales]:
        found = check_env(lambda: make(task_id, scale=scale), n_agents=spec.scale(scale).agents,
                          constraints=tuple(c.name for c in spec.constraints), max_steps=max_steps)
        out += [f"{task_id} [{scale}]: {p}" for p in found]
    return out


def _play_prefix(env: Any, seed: int, actions: list[dict[str, Any]], perturb: int | None,
                 t0: int) -> list[bytes]:
    """Reset, optionally redraw the randomness realised after step ``t0``, then play the given
    action sequence; the canonical trace of what the policy saw (obs at reset, then each step's
    obs, rewards and infos)."""
    obs, infos = env.reset(seed=seed)
    if perturb is not None:
        env.unwrapped.perturb_future(t0, perturb)
    trace = [_canon(obs)]
    for acts in actions:
        if not env.agents:
            break
        obs, rew, term, trunc, infos = env.step({a: acts[a] for a in env.agents})
        trace.append(_canon((obs, rew, term, trunc, infos)))
    return trace


def check_no_foresight(make_env: Callable[[], Any], seed: int, t0: int, *, perturb_seed: int = 987_654,
                       action_seed: int = 0, extra_steps: int = 8) -> list[str]:
    """Nothing the policy sees up to step ``t0`` may depend on randomness realised after it.

    The env implements ``perturb_future(t0, seed)``: called right after ``reset``, it redraws every
    exogenous random quantity realised after the observation at step ``t0`` (demand, arrivals,
    fading, weather of periods t0, t0+1, …) from a Generator seeded by ``seed``, and leaves
    everything realised up to then unchanged. With the same actions, the observations, rewards and
    infos of steps 0..t0 must then be bit-identical, while some later step must differ (otherwise
    the perturbation changed nothing and the check proved nothing). A task that scales actions or
    observations by a statistic of the whole episode's realised path (e.g. its mean demand) fails.
    """
    env = make_env()
    if not hasattr(env.unwrapped, "perturb_future"):
        return [f"{type(env.unwrapped).__name__} has no perturb_future(t0, seed): implement it so "
                "the no-foresight check can redraw only the randomness realised after t0"]
    env.reset(seed=seed)
    for i, a in enumerate(env.possible_agents):
        env.action_space(a).seed(action_seed + i)
    n = t0 + 1 + extra_steps
    actions = [{a: env.action_space(a).sample() for a in env.possible_agents} for _ in range(n)]
    base = _play_prefix(env, seed, actions, None, t0)
    moved = _play_prefix(make_env(), seed, actions, perturb_seed, t0)
    problems = []
    early = next((k for k in range(min(t0 + 1, len(base), len(moved))) if base[k] != moved[k]), None)
    if early is not None:
        problems.append(f"foresight: redrawing only the randomness realised after step {t0} changed "
                        f"what the policy saw at step {early}. Observations, action scaling and "
                        "rewards up to t may use only information realised by t (history, a "
                        "forecast from history), never the episode's future path.")
    if base[t0 + 1:] == moved[t0 + 1:]:
        problems.append(f"perturb_future({t0}, …) changed nothing in the {extra_steps} steps after "
                        f"step {t0}: it must redraw the future exogenous randomness, or the "
                        "no-foresight check is vacuous")
    return problems
