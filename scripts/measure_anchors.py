"""Measure a task's KPI anchors at every scale and print them as a spec YAML snippet.

    .venv/bin/python scripts/measure_anchors.py supply_chain/ThreeTier-v1 \\
        --zero random --one baselines.three_tier.lp:ThreeTierHindsightLP --workers 2

Why: V normalises each KPI between a ``zero`` (a floor, usually the random baseline) and a
``one`` (the best achievable, here the perfect-foresight LP oracle). A KPI such as total cost
grows with the network, so every scale gets its own pair (``anchors.scales`` in the spec,
``KpiSpec.scale_anchors``); the top-level pair is the nominal scale's.

How: every policy is run on the spec's eval seeds (or the first ``--seeds``) at every scale of
the nominal scenario through the harness's own episode runner (``bench.protocol.run_job`` ->
``bench.episode.run_episode``), so KPIs are aggregated exactly as in evaluation. Policies are
given as registered baseline names or ``module:Class`` refs (``bench.policy.load_policy``).

Fallback: the spec parser needs ``one > zero`` for a ``max`` KPI and ``one < zero`` for a
``min`` KPI. Where the ``--one`` policy is not strictly better than ``--zero`` on a KPI at a
scale, the best mean of the ``--candidates`` (non-oracle baselines, run only when needed) is
used instead, and the source text says so; if no candidate is strictly better either, the KPI
is printed commented out for a human decision.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.policy import load_policy  # noqa: E402
from bench.protocol import run_job  # noqa: E402
from bench.registry import get_spec  # noqa: E402

DEFAULT_CANDIDATES = "order_up_to,base_stock,lp_static,lp_rolling"


def run_all(task: str, refs: list[str], scales: list[str], scenario: str, seeds: list[int],
            workers: int) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Episode records per (policy ref, scale), seeds in order."""
    jobs = [(task, ref, sc, scenario, s) for ref in refs for sc in scales for s in seeds]
    if workers <= 1:
        recs = [run_job(j) for j in jobs]
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
            recs = list(pool.map(run_job, jobs, chunksize=1))
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for job, rec in zip(jobs, recs):
        out.setdefault((job[1], job[2]), []).append(rec)
    return out


def stats(recs: list[dict[str, Any]], kpi: str) -> tuple[float, float]:
    x = np.array([r["kpis"][kpi] for r in recs], dtype=float)
    return float(x.mean()), float(x.std(ddof=1)) if len(x) > 1 else 0.0


def better(a: float, b: float, direction: str) -> bool:
    """Whether ``a`` is strictly better than ``b`` in the KPI's direction."""
    return a > b if direction == "max" else a < b


def _num(x: float) -> str:
    return f"{x:.4g}" if abs(x) >= 1e4 or abs(x) < 1e-3 else f"{x:.6g}"


def name_of(ref: str) -> str:
    try:
        return load_policy(ref).info.name
    except Exception:  # noqa: BLE001 - a label only
        return ref


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("task")
    ap.add_argument("--zero", default="random", help="floor policy (name or module:Class)")
    ap.add_argument("--one", default="lp_hindsight", help="bound policy, normally the oracle")
    ap.add_argument("--candidates", default=DEFAULT_CANDIDATES,
                    help="comma-separated non-oracle baselines used where the oracle is not better")
    ap.add_argument("--seeds", type=int, default=None, help="first N eval seeds (default: all)")
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args(argv)

    spec = get_spec(args.task)
    seeds = list(spec.seeds.eval[:args.seeds] if args.seeds else spec.seeds.eval)
    scales = [s.name for s in spec.scales]
    nominal_scale, scenario = spec.nominal_scale.name, spec.nominal_scenario.name
    for ref in (args.zero, args.one):
        load_policy(ref)                              # fail early on a bad name
    recs = run_all(spec.id, [args.zero, args.one], scales, scenario, seeds, args.workers)
    cands = [c for c in args.candidates.split(",") if c]

    need_fallback = any(
        not better(stats(recs[(args.one, sc)], k.name)[0], stats(recs[(args.zero, sc)], k.name)[0],
                   k.direction)
        for k in spec.kpis for sc in scales)
    if need_fallback and cands:
        usable = []
        for c in cands:
            try:
                load_policy(c)
                usable.append(c)
            except Exception as exc:  # noqa: BLE001 - report and carry on
                print(f"# candidate {c!r} skipped: {exc}", file=sys.stderr)
        recs.update(run_all(spec.id, usable, scales, scenario, seeds, args.workers))
        cands = usable

    zname, oname = name_of(args.zero), name_of(args.one)
    n = len(seeds)
    print(f"# anchors for {spec.id}: {n} eval seeds, scenario {scenario}; "
          f"zero = {zname} ({args.zero}), one = {oname} ({args.one})")
    print("kpis:")
    for k in spec.kpis:
        pairs: dict[str, tuple[float, float]] = {}
        notes: list[str] = []
        sds: dict[str, tuple[float, float]] = {}
        ok = True
        for sc in scales:
            z, zsd = stats(recs[(args.zero, sc)], k.name)
            o, osd = stats(recs[(args.one, sc)], k.name)
            if not better(o, z, k.direction):
                best = None
                for c in cands:
                    v, vsd = stats(recs[(c, sc)], k.name)
                    if better(v, z, k.direction) and (best is None or better(v, best[1], k.direction)):
                        best = (c, v, vsd)
                if best is None:
                    ok = False
                    notes.append(f"{sc}: neither {oname} ({_num(o)}) nor any candidate beats "
                                 f"{zname} ({_num(z)})")
                else:
                    notes.append(f"{sc}: {oname} ({_num(o)}) is not better than {zname} "
                                 f"({_num(z)}), so one = best non-oracle baseline "
                                 f"{name_of(best[0])} ({best[0]})")
                    o, osd = best[1], best[2]
            pairs[sc], sds[sc] = (z, o), (zsd, osd)
        zn, on = pairs[nominal_scale]
        sdn = sds[nominal_scale]
        source = (f"zero: mean over the {n} eval seeds, nominal scenario, of {zname} ({args.zero}) "
                  f"via bench.episode.run_episode (nominal-scale s.d. {_num(sdn[0])}); one: mean over "
                  f"the same episodes of {oname} ({args.one}) (s.d. {_num(sdn[1])}); each scale has "
                  f"its own pair under 'scales', measured the same way by "
                  f"scripts/measure_anchors.py.")
        if notes:
            source += " Fallbacks: " + "; ".join(notes) + "."
        pre = "" if ok else "# "
        if not ok:
            print(f"  # {k.name}: no valid (zero, one) pair at every scale; decide by hand.")
        print(f"{pre}  - name: {k.name}")
        print(f"{pre}    anchors:")
        print(f"{pre}      zero: {_num(zn)}")
        print(f"{pre}      one: {_num(on)}")
        print(f"{pre}      source: >-")
        print(f"{pre}        {source}")
        print(f"{pre}      scales:")
        for sc in scales:
            z, o = pairs[sc]
            print(f"{pre}        {sc}: {{zero: {_num(z)}, one: {_num(o)}}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
