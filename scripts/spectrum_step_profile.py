"""Where the time of one ``spectrum/Interference`` step goes, on the compiled and the numpy path.

Prints, per path, the CPU time (``time.process_time``, best of several repeats) of the parts of
``InterferenceEnv.step`` at one scale: the joint action to an array, the slot's outcome with the
per-agent infos (``_advance`` with the channel's move left out), the channel's move to the next
slot (normal draws, fading update, gains), the normal draws alone, the observation dictionaries,
and a whole step (a 100-slot episode with its reset, per slot). ``uptime``'s load is printed too:
on a shared machine every figure moves with it, so compare rows of one run.

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
    a = env._actions_to_array(acts[0])
    out: dict[str, float] = {"actions to array": best_us(lambda: env._actions_to_array(acts[0]))}
    move = env._advance_channel

    def outcome() -> None:
        env.t = 1
        env._advance(a)

    env._advance_channel = lambda t: None
    out["slot outcome + infos"] = best_us(outcome)
    env._advance_channel = move
    env.t = 1
    out["channel move (draws, fading, gains)"] = best_us(lambda: env._advance_channel(1))
    if kernels.AVAILABLE:
        z = np.empty(2 * env.channel.fading.size)
        g = np.random.default_rng(1)
        out["  of which normal draws"] = best_us(lambda: kernels.draw_normals(kernels.generator_pointers(g), z))

    matrix = env._obs_matrix()

    def observe() -> None:
        if compiled:
            env._obs_next = matrix                 # what the compiled step leaves for _observe
        env._observe()

    out["observation dicts (numpy: + matrix)"] = best_us(observe)

    def episode() -> None:
        env.reset(seed=0)
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
    for name in res[paths[0]]:
        row = "  ".join(f"{res[c].get(name, float('nan')):8.1f}" for c in paths)
        print(f"  {name:<38s} {row}")
    for c in paths:
        print(f"  {'compiled' if c else 'numpy'}: {1e6 / res[c]['whole step (episode / horizon)']:,.0f} steps/s per CPU-second")
    print("  (columns: " + ", ".join("compiled" if c else "numpy" for c in paths) + ")")


if __name__ == "__main__":
    main()
