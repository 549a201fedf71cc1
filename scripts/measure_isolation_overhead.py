"""Per-step cost of running the policy in its own process (bench/submit/isolation.py) against the
in-process harness (bench/protocol.run_job), on the nominal cell of each task.

Usage: PYTHONPATH=$PWD python scripts/measure_isolation_overhead.py [POLICY] [EPISODES]
Prints, per task, the wall time per env step of both modes (best of the episodes after a warm-up
episode, which absorbs the policy process's start-up) and their difference.
"""

from __future__ import annotations

import sys
import time

from bench.protocol import run_job
from bench.registry import all_specs
from bench.submit.isolation import run_isolated_job


def best_per_step(fn, job, n: int) -> float:
    fn(job)  # warm-up: imports, env cache, policy process start
    times = []
    for k in range(n):
        t0 = time.perf_counter()
        rec = fn((*job[:4], job[4] + k))
        times.append((time.perf_counter() - t0) / rec["steps"])
    return min(times)


def main() -> None:
    policy = sys.argv[1] if len(sys.argv) > 1 else "random"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    print(f"policy {policy}, best of {n} episodes per mode, nominal cell")
    print(f"{'task':28s} {'in-process ms/step':>18s} {'isolated ms/step':>17s} {'overhead ms/step':>17s}")
    for spec in all_specs():
        job = (spec.id, policy, spec.nominal_scale.name, "nominal", spec.seeds.eval[0])
        a = best_per_step(run_job, job, n)
        b = best_per_step(run_isolated_job, job, n)
        print(f"{spec.id:28s} {a * 1e3:18.3f} {b * 1e3:17.3f} {(b - a) * 1e3:17.3f}", flush=True)


if __name__ == "__main__":
    main()
