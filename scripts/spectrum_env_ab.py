"""Interleaved A/B of the single spectrum env's speed between two checkouts of the repo.

Starts one warm worker process per checkout (``PYTHONPATH`` = that checkout, its own numba cache
under ``--cache-dir``, no ``.pyc`` written into it) and asks them in turn, never both at once,
for the best of ``--episodes`` episodes (reset + every step of pre-drawn random actions, CPU time
``time.process_time``), alternating which side goes first; prints each side's best env steps per
CPU-second at k50 for Interference-v1 and -v2 and the 1-minute load seen during the run. On a
shared machine both sides see the same load, so their ratio is the figure to read.

    PYTHONPATH=$PWD .venv/bin/python scripts/spectrum_env_ab.py --before /path/to/other/checkout [--rounds 8]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings

TASKS = ("spectrum/Interference-v1", "spectrum/Interference-v2")


def worker(scale: str) -> None:
    """Answer ``TASK N`` lines on stdin with the best steps/s of N episodes."""
    warnings.simplefilter("ignore")
    import numpy as np

    import bench

    envs = {}
    for task in TASKS:
        env = bench.make(task, scale=scale)
        env.reset(seed=0)
        rng = np.random.default_rng(0)
        acts = [dict(zip(env.possible_agents, row))
                for row in rng.integers(0, env.n_actions, size=(env.horizon, env.n_links)).tolist()]
        envs[task] = (env, acts)
    seeds = iter(range(10**7))

    def episode(env, acts) -> None:
        env.reset(seed=next(seeds))
        for a in acts:
            env.step(a)

    for env, acts in envs.values():
        episode(env, acts)                       # warm-up: compiled kernels loaded
    print("ready", flush=True)
    for line in sys.stdin:
        task, n = line.split()
        env, acts = envs[task]
        best = float("inf")
        for _ in range(int(n)):
            t0 = time.process_time()
            episode(env, acts)
            best = min(best, time.process_time() - t0)
        print(json.dumps({"sps": env.horizon / best}), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--before", required=True, help="the other checkout (the 'before' side)")
    p.add_argument("--after", default=os.getcwd(), help="this checkout (default: the current directory)")
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--episodes", type=int, default=5, help="episodes per side per round (best is kept)")
    p.add_argument("--scale", default="k50")
    p.add_argument("--cache-dir", default="/tmp/spectrum_env_ab", help="numba caches of the two sides")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args.scale)
        return
    sides = {"before": os.path.abspath(args.before), "after": os.path.abspath(args.after)}
    procs = {}
    for name, root in sides.items():
        env = dict(os.environ, PYTHONPATH=root, PYTHONDONTWRITEBYTECODE="1",
                   NUMBA_CACHE_DIR=os.path.join(args.cache_dir, name))
        procs[name] = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", "--before", root,
                                        "--scale", args.scale], cwd=root, env=env, stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True)
        if procs[name].stdout.readline().strip() != "ready":
            raise SystemExit(f"the {name} worker ({root}) did not start")
    best: dict[tuple[str, str], float] = {}
    loads = []
    for r in range(args.rounds):
        for task in TASKS:
            for name in (("before", "after") if r % 2 == 0 else ("after", "before")):
                proc = procs[name]
                proc.stdin.write(f"{task} {args.episodes}\n")
                proc.stdin.flush()
                sps = json.loads(proc.stdout.readline())["sps"]
                best[(name, task)] = max(best.get((name, task), 0.0), sps)
                loads.append(os.getloadavg()[0])
    for proc in procs.values():
        proc.stdin.close()
        proc.wait()
    for task in TASKS:
        b, a = best[("before", task)], best[("after", task)]
        print(f"{task} {args.scale}: before {b:,.0f} env steps/s per CPU-second, after {a:,.0f} -> {a / b:.2f}x "
              f"({1e6 / b:.1f} -> {1e6 / a:.1f} µs per step, reset included)")
    print(f"load (1-minute average) during the run: {min(loads):.1f}-{max(loads):.1f}")


if __name__ == "__main__":
    main()
