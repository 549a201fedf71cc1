"""Training env steps per second of the reference IPPO on supply_chain/ThreeTier-v2, one env (the
SimPy task env through TrainingEnv) against the vectorised engine (VectorTrainingEnv), per scale.

    PYTHONPATH=$PWD .venv/bin/python scripts/training_throughput.py [--scales small,nominal]

Whole training loop (rollouts, resets, PPO updates), validation off, one thread; the reference
settings otherwise (one env: 256-step rollouts; vectorised: marl_common.VECTOR_ENVS). Prints a
markdown table row per scale and the machine load (docs/performance.md, "Training throughput").
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from baselines.learners import ippo  # noqa: E402
from baselines.learners.marl_common import VECTOR_ENVS  # noqa: E402

TASK = "supply_chain/ThreeTier-v2"


def steps_per_s(scale: str, num_envs: int, env_steps: int) -> float:
    args = ippo.Args(seed=1, env_steps=env_steps, num_envs=num_envs, validate=False)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        (rec,) = ippo.train(TASK, args, out_dir=Path(tmp), scales=[scale], progress=False)
        return rec["env_steps"] / (time.perf_counter() - t0)


def main() -> None:
    warnings.filterwarnings("ignore")
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scales", default="small,nominal,large,paper")
    p.add_argument("--single-steps", type=int, default=1024, help="env steps of the one-env run")
    p.add_argument("--vector-steps", type=int, default=8192, help="env steps of the vectorised run")
    a = p.parse_args()
    n, t = VECTOR_ENVS[TASK]
    steps_per_s(a.scales.split(",")[0], 1, 256)  # warm-up: imports and first-call costs untimed
    print(f"load before: {os.getloadavg()}")
    print(f"| scale | one env, env steps/s | vectorised ({n} x {t}), env steps/s | speed-up |")
    print("| --- | --- | --- | --- |")
    for scale in a.scales.split(","):
        one = steps_per_s(scale, 1, a.single_steps)
        vec = steps_per_s(scale, n, a.vector_steps)
        print(f"| {scale} | {one:,.0f} | {vec:,.0f} | {vec / one:.1f}x |", flush=True)
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
