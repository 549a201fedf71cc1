"""One power-grid episode with random actions, stepped with one BLAS thread and with OpenBLAS's
default pool (one thread per core), each in its own process; prints CPU and wall ms per step and
the load. Why: ``bench`` pins BLAS to one thread per process (``bench/__init__.py``), because the
harness parallelises by processes and on a loaded machine the pool's threads fight the workers.

    .venv/bin/python scripts/blas_threads_ab.py [--task power_grid/SimBenchMV-v1] [--steps 96]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
import numpy as np
import bench
env = bench.make(sys.argv[1])
rng = np.random.default_rng(0)
space = {a: env.action_space(a) for a in env.possible_agents}
env.reset(seed=1)
steps = int(sys.argv[2])
c0, w0 = time.process_time(), time.perf_counter()
for _ in range(steps):
    env.step({a: rng.uniform(space[a].low, space[a].high).astype(np.float32) for a in env.agents})
    if not env.agents:
        env.reset(seed=2)
print(json.dumps({"cpu_ms": 1e3 * (time.process_time() - c0) / steps,
                  "wall_ms": 1e3 * (time.perf_counter() - w0) / steps}))
"""


def run(task: str, steps: int, threads: str) -> dict[str, float]:
    env = dict(os.environ, OPENBLAS_NUM_THREADS=threads, OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    out = subprocess.run([sys.executable, "-c", CHILD, task, str(steps)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", default="power_grid/SimBenchMV-v1")
    ap.add_argument("--steps", type=int, default=96)
    args = ap.parse_args()
    pool = str(os.cpu_count() or 1)
    print(f"{args.task}, {args.steps} random-action steps; load {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores")
    for threads in ("1", pool):
        r = run(args.task, args.steps, threads)
        print(f"  BLAS threads {threads}: {r['cpu_ms']:.2f} ms CPU, {r['wall_ms']:.2f} ms wall per step")


if __name__ == "__main__":
    main()
