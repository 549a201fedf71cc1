"""Measure the KPI anchors of ``compute/EdgeCluster-v1`` or ``-v2`` (reproducible; re-run at release).

    .venv/bin/python scripts/measure_anchors_compute.py            # v1, prints JSON (~1 min)
    .venv/bin/python scripts/measure_anchors_compute.py compute/EdgeCluster-v2

**v2**: the same rules; the references are round robin, JSQ, power of two and the clairvoyant
greedy oracle (no LP), and the best of them at each scale is the one-anchor — the oracle at every
scale. (A first cut anchored one on the best non-oracle reference, JSQ; since V is clipped to
[0, 1] per episode, every policy better than JSQ would then tie at 1, hiding exactly the range a
learner should climb. JSQ scores ~0.5 against the oracle.) The v1 text follows.

How each anchor is obtained (the spec's ``anchors.source`` says the same); "mean" is over the
spec's 10 eval seeds, nominal scenario, episodes run by the harness's own
``bench.episode.run_episode`` so KPIs are aggregated exactly as in evaluation:

* ``cost_per_job`` (the objective, the only KPI in V), per scale: zero = the random baseline's
  mean; one = the best reference's mean at that scale — the lower of the exact-state
  clairvoyant greedy oracle (``baselines/compute/hindsight.py``) and the per-epoch LP
  (``baselines/compute/lp_dispatch.py``).
* ``mean_completion_time``: zero = random's mean, one = the oracle's mean (nominal scale).
* ``deadline_miss_rate``, ``top_class_miss_rate``: zero = random's mean, one = 0 (no miss).
* ``utilisation``: 0 and 1, the bounds of a fraction.
* ``energy``, per scale, analytic: zero = every core busy for the whole horizon (all active
  power), one = every core idle (idle power only) — the range any policy's energy lies in when no
  node fails.
* ``cloud_cost_per_job``, analytic: zero = the expected cloud fee per job if every job ran in the
  cloud, ``fee + price_GB_s · Σ_k share_k E[mem_k] E[size_k] / cloud_speed`` (sizes and memory are
  independent lognormals); one = 0 (no cloud use).
* ``drop_rate``: zero = 1 (everything dropped), one = 0.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench  # noqa: E402
from baselines.compute.hindsight import ClairvoyantGreedyOracle  # noqa: E402
from baselines.compute.jsq import JSQPolicy  # noqa: E402
from baselines.compute.lp_dispatch import LPDispatchPolicy  # noqa: E402
from baselines.compute.power_of_two import PowerOfTwoPolicy  # noqa: E402
from baselines.compute.round_robin import RoundRobinPolicy  # noqa: E402
from baselines.random_policy import RandomPolicy  # noqa: E402
from bench.episode import mean_kpis as episode_mean_kpis  # noqa: E402
from bench.registry import env_config  # noqa: E402
from tasks.compute.edge_cluster import node_cores  # noqa: E402

TASK = "compute/EdgeCluster-v1"
V2_REFERENCES = {"round_robin": RoundRobinPolicy, "jsq": JSQPolicy, "power_of_two": PowerOfTwoPolicy}


def energy_range(scale: str | None = None, task: str = TASK) -> tuple[float, float]:
    """(all busy, all idle) energy in kWh of the scale's nodes over the horizon."""
    cfg = env_config(task, scale=scale)
    p = cfg.params
    core_s = float(node_cores(p).sum()) * float(p["epoch_s"]) * cfg.horizon
    return (core_s * float(p["power_active_w"]) / 3.6e6, core_s * float(p["power_idle_w"]) / 3.6e6)


def all_cloud_cost_per_job(task: str = TASK) -> float:
    p = env_config(task).params
    share = np.asarray(p["class_share"], np.float64)
    share = share / share.sum()
    mem_size = np.asarray(p["memory_mean_gb"]) * np.asarray(p["size_mean_s"]) / float(p["cloud_speed"])
    return float(p["cloud_fee_usd"]) + float(p["cloud_gb_s_usd"]) * float(share @ mem_size)


def measure(task: str = TASK) -> dict[str, dict]:
    spec = bench.get_spec(task)
    mean_kpis = functools.partial(episode_mean_kpis, task)
    v2 = task != TASK
    nominal = spec.nominal_scale.name
    measured: dict[str, dict[str, dict[str, float]]] = {}
    cost: dict[str, dict[str, float | str]] = {}
    for s in spec.scales:
        rnd = mean_kpis(RandomPolicy, s.name)
        orc = mean_kpis(ClairvoyantGreedyOracle, s.name)
        measured[s.name] = {"random": rnd, "clairvoyant_greedy": orc}
        if v2:
            for name, cls in V2_REFERENCES.items():
                measured[s.name][name] = mean_kpis(cls, s.name)
            best = min(measured[s.name], key=lambda k: measured[s.name][k]["cost_per_job"])
        else:
            lp = mean_kpis(LPDispatchPolicy, s.name)
            measured[s.name]["lp_dispatch"] = lp
            best = "clairvoyant_greedy" if orc["cost_per_job"] <= lp["cost_per_job"] else "lp_dispatch"
        cost[s.name] = {"zero": rnd["cost_per_job"], "one": measured[s.name][best]["cost_per_job"],
                        "best": best}
    rnd = measured[nominal]["random"]
    orc = measured[nominal]["clairvoyant_greedy"]
    e_zero, e_one = energy_range(nominal, task)
    return {
        "cost_per_job": {"zero": cost[nominal]["zero"], "one": cost[nominal]["one"],
                         "scales": {k: {"zero": v["zero"], "one": v["one"]} for k, v in cost.items()
                                    if k != nominal},
                         "best": {k: v["best"] for k, v in cost.items()}},
        "mean_completion_time": {"zero": rnd["mean_completion_time"], "one": orc["mean_completion_time"]},
        "p95_completion_time": {"zero": rnd["p95_completion_time"], "one": orc["p95_completion_time"]},
        "deadline_miss_rate": {"zero": rnd["deadline_miss_rate"], "one": 0.0},
        "top_class_miss_rate": {"zero": rnd["top_class_miss_rate"], "one": 0.0},
        "utilisation": {"zero": 0.0, "one": 1.0},
        "energy": {"zero": e_zero, "one": e_one,
                   "scales": {s.name: dict(zip(("zero", "one"), energy_range(s.name, task)))
                              for s in spec.scales if s.name != nominal}},
        "cloud_cost_per_job": {"zero": all_cloud_cost_per_job(task), "one": 0.0},
        "drop_rate": {"zero": 1.0, "one": 0.0},
        "_measured": measured,
    }


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1] if len(sys.argv) > 1 else TASK), indent=2))
