"""Paired comparisons of leaderboard entries on one task's nominal evaluation seeds, as the board
makes them (bench.leaderboard.paired_nominal + bench.stats.paired_difference_ci, runs resampled
independently, bootstrap seed FLOOR_SEED), on V and on any per-episode KPI.

    PYTHONPATH=$PWD .venv/bin/python scripts/compare_entries.py supply_chain/ThreeTier-v2 \\
        ippo_hyperscore ippo constant lot_for_lot --kpi cost_per_demand

The first entry is compared with each of the others: mean difference (first - other) with its
95% CI. V is clipped to [0, 1]; a KPI (here ThreeTier-v2's weighted one, cost per unit demanded)
still separates policies that all sit at V = 0. Used for the HyperScore ablation in
docs/learners.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import stats  # noqa: E402
from bench.cli import SUBMISSIONS  # noqa: E402
from bench.leaderboard import FLOOR_SEED, Entry, paired_nominal  # noqa: E402
from bench.registry import get_spec  # noqa: E402
from bench.summary import runs_matrix  # noqa: E402


def entry(task: str, name: str) -> Entry:
    path = SUBMISSIONS / f"{task}/{name}.json"
    return Entry(source=f"{task}/{name}.json", result=json.loads(path.read_text()), status="valid")


def paired(e: Entry, other: Entry, spec, quantity) -> tuple[np.ndarray, np.ndarray]:
    if quantity == "V":
        return paired_nominal(e, other, spec)
    mats = []
    for x in (e, other):
        eps = [p for p in x.result["episodes"] if p["scale"] == spec.nominal_scale.name
               and p["scenario"] == spec.nominal_scenario.name]
        mats.append(runs_matrix(eps, quantity))
    (a, sa), (b, sb) = mats
    shared = sorted(set(sa) & set(sb))
    return a[:, [sa.index(s) for s in shared]], b[:, [sb.index(s) for s in shared]]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("task")
    p.add_argument("entries", nargs="+", help="the entry compared, then the entries it is compared with")
    p.add_argument("--kpi", action="append", default=[], help="also compare this KPI (repeatable)")
    a = p.parse_args()
    spec = get_spec(a.task)
    first, *others = [entry(spec.id, n) for n in a.entries]
    quantities = [("V", "V")] + [(k, (lambda ep, k=k: ep["kpis"][k])) for k in a.kpi]
    for label, q in quantities:
        m = paired(first, first, spec, q)[0]
        print(f"{first.name} {label}: mean {m.mean():.4f} over {m.shape[0]} runs x {m.shape[1]} seeds")
        for o in others:
            x, y = paired(first, o, spec, q)
            d, lo, hi = stats.paired_difference_ci(x, y, np.random.Generator(np.random.PCG64(FLOOR_SEED)))
            print(f"  - {o.name} ({y.mean():.4f}): {d:+.4f} [{lo:+.4f}, {hi:+.4f}]")


if __name__ == "__main__":
    main()
