"""Does a simple hyperparameter change let IPPO learn supply_chain/ThreeTier-v2? A probe, not a tuning.

    PYTHONPATH=$PWD .venv/bin/python scripts/threetier_ppo_probe.py [CONFIG ...]

Trains the reference IPPO (vectorised, 16 episodes x 64 steps per update) on the small scale for
204,800 env steps with validation off (so no plateau stop), once per named configuration, learner
seed 1, and prints the mean training episode return (the agents' mean, stochastic policy) in each
eighth of the run's 1,120 episodes. For scale: lot_for_lot's greedy validation return on the same
scale is -22.4 (docs/learners.md).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CONFIGS: dict[str, dict[str, Any]] = {
    "default": {},
    "lr1e-3": {"lr": 1e-3},
    "std-1.5": {"init_log_std": -1.5},
    "lr1e-3_std-1.5": {"lr": 1e-3, "init_log_std": -1.5},
    "g0.9_std-1.5": {"gamma": 0.9, "init_log_std": -1.5},
    "g0.95_std-1.5": {"gamma": 0.95, "init_log_std": -1.5},
    "h128_std-1.5": {"hidden": 128, "init_log_std": -1.5},
}
STEPS = 204_800


def probe(name: str) -> dict[str, Any]:
    import torch

    from baselines.learners import ippo

    t0 = time.time()
    out = Path(tempfile.mkdtemp())
    ippo.train("supply_chain/ThreeTier-v2", ippo.Args(seed=1, env_steps=STEPS, validate=False, **CONFIGS[name]),
               scales=["small"], out_dir=out, progress=False)
    meta = torch.load(next(out.rglob("small.pt")), weights_only=False)["meta"]   # marl_common.save_checkpoint
    r = np.asarray(meta["extra"]["episode_returns"], dtype=float)
    eighths = [float(r[i * len(r) // 8:(i + 1) * len(r) // 8].mean()) for i in range(8)]
    return {"config": name, "episodes": len(r), "eighth_means": [round(x, 2) for x in eighths],
            "wall_s": round(time.time() - t0)}


def main() -> None:
    warnings.simplefilter("ignore")
    names = sys.argv[1:] or list(CONFIGS)
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        raise SystemExit(f"unknown config(s) {unknown}; known: {', '.join(CONFIGS)}")
    for name in names:
        print(json.dumps(probe(name)), flush=True)


if __name__ == "__main__":
    main()
