"""Side-by-side peer: stockpyl (Snyder & Shen's own library) on the serial instances we test.

stockpyl needs NumPy < 2, so run this inside its own venv (``.venv-peer`` is git-ignored):

    python3 -m venv .venv-peer
    .venv-peer/bin/pip install stockpyl "numpy<2" pytest pytest-benchmark
    .venv-peer/bin/python scripts/stockpyl_peer.py speed --periods 2000 --repeats 3
    .venv-peer/bin/python scripts/stockpyl_peer.py optimum

``speed`` times stockpyl's simulator (``stockpyl.sim.simulation``) on Example 6.1 with its
installation base-stock policy (the textbook levels 6.49, 5.53, 10.69 shipped with the instance)
and prints periods per second (best of ``--repeats``) and the simulated mean cost as JSON.
``optimum`` prints stockpyl's Chen-Zheng optimum (``stockpyl.ssm_serial.optimize_base_stock_levels``,
default discretisation) for the reference instances of ``tests/supply_chain/test_chen_zheng.py``.
Lists below are stage 1 (downstream) first; stockpyl wants them upstream first, hence ``[::-1]``.
"""

from __future__ import annotations

import argparse
import json
import time

# name -> (echelon holding costs, lead times, stockout cost, demand) ; stage 1 first
INSTANCES = {
    # Snyder & Shen Example 6.1 (stockpyl instance example_6_1)
    "example_6_1": ([3, 2, 2], [1, 1, 2], 37.12, ("normal", 5, 1)),
    # Problem 6.1: 2 stages, N(100, 15^2)
    "problem_6_1": ([1, 1], [1, 1], 15, ("normal", 100, 15)),
    # Problem 6.16: 2 stages, long lead times, local h' = (7, 2)
    "problem_6_16": ([5, 2], [8, 3], 24, ("normal", 20, 4)),
    # Problem 6.2(b) adjusted for periodic review (stockpyl instance problem_6_2b_adj): Poisson(32)
    "problem_6_2b_adj": ([1, 1, 0.5, 0.5, 0.5], [1, 1, 1, 1, 1], 12, ("poisson", 32, None)),
}


def optimum() -> dict:
    from stockpyl.demand_source import DemandSource
    from stockpyl.ssm_serial import optimize_base_stock_levels

    out = {}
    for name, (h, L, p, (dist, mean, sd)) in INSTANCES.items():
        kw = dict(num_nodes=len(h), echelon_holding_cost=h[::-1], lead_time=L[::-1], stockout_cost=p)
        if dist == "normal":
            kw.update(demand_mean=mean, demand_standard_deviation=sd)
        else:
            kw.update(demand_source=DemandSource(type="P", mean=mean))
        S, C = optimize_base_stock_levels(**kw)
        out[name] = {"echelon_S_stage1_first": [float(S[j]) for j in range(1, len(h) + 1)],
                     "C_star": float(C)}
    return out


def speed(periods: int, repeats: int, seed: int) -> dict:
    from stockpyl.instances import load_instance
    from stockpyl.sim import simulation

    best, cost = float("inf"), float("nan")
    for r in range(repeats):
        network = load_instance("example_6_1")
        t0 = time.perf_counter()
        total = simulation(network, periods, rand_seed=seed + r, progress_bar=False)
        elapsed = time.perf_counter() - t0
        if elapsed < best:
            best, cost = elapsed, total / periods
    return {"instance": "example_6_1", "periods": periods, "repeats": repeats,
            "seconds": best, "periods_per_second": periods / best, "mean_cost": cost}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("speed")
    sp.add_argument("--periods", type=int, default=2000)
    sp.add_argument("--repeats", type=int, default=3)
    sp.add_argument("--seed", type=int, default=1)
    sub.add_parser("optimum")
    args = ap.parse_args()
    from importlib.metadata import version

    meta = {"stockpyl": version("stockpyl"), "numpy": version("numpy")}
    if args.cmd == "speed":
        print(json.dumps({**meta, **speed(args.periods, args.repeats, args.seed)}))
    else:
        print(json.dumps({**meta, "optimum": optimum()}, indent=2))


if __name__ == "__main__":
    main()
