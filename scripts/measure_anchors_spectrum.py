"""Measure the KPI anchors of ``spectrum/Interference-v1`` and ``-v2`` (reproducible; re-run at release).

    .venv/bin/python scripts/measure_anchors_spectrum.py [--task spectrum/Interference-v2] [--workers 2]

On v2 (its score is the safe sum rate): ``safe_sum_rate`` and ``sum_rate``: zero = the
``safe_random`` baseline's mean (random incumbent-free band at budget power), one = the
``wmmse_delayed`` baseline's mean (WMMSE on one-slot-old CSI, off active incumbents' bands);
``energy_efficiency``: zero = ``safe_random``'s mean, one = the best reference mean; ``rate_p5`` and
``jain_fairness`` as on v1. The perfect-CSI ``wmmse`` and ``joint_oracle`` are measured as
reported bounds. On v1:

Every reference baseline is run on the spec's eval seeds, nominal scenario, at every scale,
through the harness's own ``bench.protocol.run_job`` (so KPIs are aggregated exactly as in
evaluation). Anchors, per scale (the nominal scale's are the spec's top-level pair):

* ``sum_rate`` (the only KPI in V): zero = the random baseline's mean; one = the joint oracle's
  mean — at ``k4`` the exact per-slot optimum with perfect CSI, an upper bound on any policy's
  safe sum rate; at larger scales its perfect-CSI local optimum (coordinate ascent from WMMSE).
* ``jain_fairness``: zero = 0, one = 1 (the bounds of the index as the env defines it).
* ``rate_p5``: zero = 0 (a starved link); one = the highest mean among the reference baselines.
* ``energy_efficiency``: zero = the random baseline's mean; one = the highest mean among the
  reference baselines.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench  # noqa: E402
from bench.protocol import run_job  # noqa: E402

TASK = "spectrum/Interference-v1"
BASELINES = {
    "random": "baselines.random_policy:RandomPolicy",
    "full_power": "baselines.spectrum.full_power:FullPowerRandomBandPolicy",
    "greedy_channel": "baselines.spectrum.greedy:GreedyChannelPolicy",
    "wmmse": "baselines.spectrum.wmmse_policy:WmmsePolicy",
    "joint_oracle": "baselines.spectrum.milp_oracle:JointOptimumOracle",
}


BASELINES_V2 = {**BASELINES, "safe_random": "baselines.spectrum.safe_random:SafeRandomBandPolicy",
                "wmmse_delayed": "baselines.spectrum.wmmse_delayed:DelayedWmmsePolicy"}


def run_all(workers: int = 1, task: str = TASK) -> dict[str, dict[str, dict[str, float]]]:
    """Mean KPIs ``[baseline][scale][kpi]`` over the eval seeds (nominal scenario)."""
    spec = bench.get_spec(task)
    refs = BASELINES if task == TASK else BASELINES_V2
    jobs = [(task, ref, s.name, "nominal", seed) for ref in refs.values()
            for s in spec.scales for seed in spec.seeds.eval]
    if workers > 1:
        import multiprocessing as mp

        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
            records = list(pool.map(run_job, jobs, chunksize=5))
    else:
        records = [run_job(j) for j in jobs]
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name, ref in refs.items():
        out[name] = {}
        for s in spec.scales:
            recs = [r for j, r in zip(jobs, records) if j[1] == ref and j[2] == s.name]
            out[name][s.name] = {k: float(np.mean([r["kpis"][k] for r in recs])) for k in recs[0]["kpis"]}
    return out


def measure(workers: int = 1, task: str = TASK) -> dict[str, dict]:
    """The KPIs' (zero, one) anchors, per scale, as described in the module docstring."""
    spec = bench.get_spec(task)
    means = run_all(workers, task)
    nominal = spec.nominal_scale.name

    def best(kpi: str, scale: str) -> float:
        return max(means[b][scale][kpi] for b in means)

    pairs = {
        "sum_rate": lambda s: (means["random"][s]["sum_rate"], means["joint_oracle"][s]["sum_rate"]),
        "jain_fairness": lambda s: (0.0, 1.0),
        "rate_p5": lambda s: (0.0, best("rate_p5", s)),
        "energy_efficiency": lambda s: (means["random"][s]["energy_efficiency"], best("energy_efficiency", s)),
    }
    if task != TASK:
        pairs = {
            "safe_sum_rate": lambda s: (means["safe_random"][s]["safe_sum_rate"],
                                        means["wmmse_delayed"][s]["safe_sum_rate"]),
            "sum_rate": lambda s: (means["safe_random"][s]["sum_rate"], means["wmmse_delayed"][s]["sum_rate"]),
            "jain_fairness": lambda s: (0.0, 1.0),
            "rate_p5": lambda s: (0.0, best("rate_p5", s)),
            "energy_efficiency": lambda s: (means["safe_random"][s]["energy_efficiency"],
                                            best("energy_efficiency", s)),
        }
    result: dict[str, dict] = {}
    for kpi, pair in pairs.items():
        zero, one = pair(nominal)
        entry: dict = {"zero": zero, "one": one}
        if kpi != "jain_fairness":
            entry["scales"] = {s.name: dict(zip(("zero", "one"), pair(s.name)))
                               for s in spec.scales if not s.nominal}
        result[kpi] = entry
    result["_measured"] = means
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--task", default=TASK, choices=(TASK, "spectrum/Interference-v2"))
    args = parser.parse_args()
    print(json.dumps(measure(args.workers, args.task), indent=2))
