"""Where the time of one ``spectrum/Interference`` step goes, on the compiled and the numpy path.

Prints, per path, the CPU time (``time.process_time``, best of several repeats) of the parts of
``InterferenceEnv.step`` at one scale: the joint action to an array; on the compiled path the
step's one kernel call (``kernels.env_step``: slot outcome, team reward, next observation matrix
and the channel's move), the same call without the move, the normal draws alone, the call with
its output arrays and nothing computed (an out-of-range action returns at once), and the Python
rest of ``_advance_compiled`` (counter lists, per-agent infos, ``last_outcome``); on the numpy
path the slot's outcome with the infos and the channel's move; then the observation
dictionaries, the floors (``floor:`` rows: the PettingZoo output dictionaries alone, built from
ready values and freed — the per-agent infos with Interference-v2's keys, the observation row
views, the reward/termination/truncation dictionaries — what no change to the simulator removes
while the dictionaries keep their contract), the reset spread over the horizon, and a whole step
(a 100-slot episode with its reset, per slot). ``uptime``'s load is printed too: on a shared
machine every figure moves with it, so compare rows of one run.

    PYTHONPATH=$PWD .venv/bin/python scripts/spectrum_step_profile.py [--task spectrum/Interference-v2] [--scale k50]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np


def best_us(f, n: int = 1000, repeats: int = 7) -> float:
    """Best mean CPU time of ``f`` over ``repeats`` runs of ``n`` calls, µs."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        for _ in range(n):
            f()
        best = min(best, (time.process_time() - t0) / n)
    return best * 1e6


def profile(task: str, scale: str, compiled: bool) -> dict[str, float]:
    import bench
    from tasks.spectrum import kernels

    env = bench.make(task, scale=scale)
    env.use_compiled(compiled)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    acts = [dict(zip(env.possible_agents, row))
            for row in rng.integers(0, env.n_actions, size=(env.horizon, env.n_links)).tolist()]
    env.step(acts[0])
    a = env._actions_to_array(acts[1])
    out: dict[str, float] = {"actions to array": best_us(lambda: env._actions_to_array(acts[1]))}
    if compiled:
        # the step's one compiled call (slot t's outcome, the team reward, the next observation
        # matrix and the channel's move with its draws), then the same call without the move
        chan, pack, t = env.channel, env._pack, env.t
        ptrs = env._pointers(env.np_random)
        static = env._slots[t + 1].static

        def call(advance: bool):
            return lambda: kernels.env_step(pack, a, t, static, chan.direct, chan._cross_dev, chan.external,
                                            chan.primary_fade, ptrs, advance)

        out["kernel call: slot + channel move"] = best_us(call(True))
        out["  of which slot outcome alone"] = best_us(call(False))
        z = np.empty(2 * chan.fading.size)
        g = np.random.default_rng(1)
        gp = kernels.generator_pointers(g)
        out["  of which normal draws"] = best_us(lambda: kernels.draw_normals(gp, z))
        bad = a.copy()
        bad[0] = -1                             # the kernel checks the actions, then returns at once
        out["  of which call, outputs, boxing"] = best_us(
            lambda: kernels.env_step(pack, bad, t, static, chan.direct, chan._cross_dev, chan.external,
                                     chan.primary_fade, ptrs, False))
        kernel = kernels.env_step

        def python_part() -> None:              # _advance_compiled with the kernel's result replayed
            env.t = t
            env._advance_compiled(a)

        result = call(True)()
        kernels.env_step = lambda *args: result
        try:
            out["counters, infos, last_outcome (Python)"] = best_us(python_part)
        finally:
            kernels.env_step = kernel
    else:
        move = env._advance_channel

        def outcome() -> None:
            env.t = 1
            env._advance(a)

        env._advance_channel = lambda t: None
        out["slot outcome + infos"] = best_us(outcome)
        env._advance_channel = move
        env.t = 1
        out["channel move (draws, fading, gains)"] = best_us(lambda: env._advance_channel(1))
    matrix = env._obs_matrix()

    def observe() -> None:
        if compiled:
            env._obs_next = matrix                 # what the compiled step leaves for _observe
        env._observe()

    out["observation dicts (numpy: + matrix)"] = best_us(observe)
    # floors: the PettingZoo outputs alone, built from ready values and freed (what no change to
    # the simulator can remove while the dictionaries keep their contract)
    agents, K = env.possible_agents, env.n_links
    cols = np.random.default_rng(1).random((7, K))

    def infos_alone():
        r, s_, b, e, v, u, bl = cols.tolist()
        return dict(zip(agents, [{"kpi": {"rate": x1, "safe_rate": x2, "mbits": x3, "energy_j": x4, "blocked": x5},
                                  "violations": {"pu_interference": x6, "power_budget": x7}}
                                 for x1, x2, x3, x4, x5, x6, x7 in zip(r, s_, b, e, bl, u, v)]))

    out["floor: per-agent infos (v2 keys)"] = best_us(infos_alone)
    out["floor:   of which 3K constant dicts"] = best_us(
        lambda: [{"kpi": {"rate": 0.5, "safe_rate": 0.5, "mbits": 0.5, "energy_j": 0.5, "blocked": 0.0},
                  "violations": {"pu_interference": 0.0, "power_budget": 0.0}} for _ in agents])
    out["floor: K observation row views"] = best_us(lambda: list(matrix))
    out["floor: reward/termination/trunc. dicts"] = best_us(
        lambda: (dict.fromkeys(env._agent_keys, 0.5), env._all_false.copy(), env._all_false.copy()))
    seeds = iter(range(10**6))
    out["reset (per step: / horizon)"] = best_us(lambda: env.reset(seed=next(seeds)), n=20) / env.horizon

    def episode() -> None:
        env.reset(seed=next(seeds))
        for x in acts:
            env.step(x)

    out["whole step (episode / horizon)"] = best_us(episode, n=5) / env.horizon
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", default="spectrum/Interference-v1")
    p.add_argument("--scale", default="k50")
    args = p.parse_args()
    warnings.simplefilter("ignore")
    from tasks.spectrum import kernels

    paths = [False, True] if kernels.AVAILABLE else [False]
    res = {c: profile(args.task, args.scale, c) for c in paths}
    print(f"{args.task} {args.scale}, CPU µs per call, load {os.getloadavg()[0]:.1f}")
    names = list(dict.fromkeys(n for c in paths for n in res[c]))
    for name in names:
        row = "  ".join(f"{res[c].get(name, float('nan')):8.1f}" for c in paths)
        print(f"  {name:<38s} {row}")
    for c in paths:
        print(f"  {'compiled' if c else 'numpy'}: {1e6 / res[c]['whole step (episode / horizon)']:,.0f} steps/s per CPU-second")
    print("  (columns: " + ", ".join("compiled" if c else "numpy" for c in paths) + ")")


if __name__ == "__main__":
    main()
