"""Cross-check our MAPPO against BenchMARL's at an equal env-step budget on one task
(docs/benchmarl_crosscheck.md; needs the ``[benchmarl]`` extra).

Each arm is trained once per seed through ``rao-bench train`` (the harness's TrainingEnv: training
seeds only, one budget, the violation ledger), evaluated through ``rao-bench evaluate --protocol
full --workers 1``, and its runs merged with ``rao-bench merge-runs``; the comparison (nominal V
with runs x seeds CIs, paired differences against ours) goes to ``OUT/comparison.json`` and is
printed as a markdown table. Finished steps are skipped on a rerun, so an interrupted run resumes.

    python scripts/crosscheck_benchmarl.py      # the documented comparison: Serial-v2 n3, 30k env steps,
                                                # PLAN's arms and seeds
    python scripts/crosscheck_benchmarl.py --arms ours benchmarl_defaults --seeds 1 2 3

Arms: ``ours`` (baselines/learners/mappo.py, reference settings), ``benchmarl_defaults``
(BenchMARL's YAML defaults), ``benchmarl_matched`` (BenchMARL with our settings where it has them;
bench.torchrl_adapter.MATCHED_TO_OURS), ``benchmarl_matched_scaled`` (the same on rewards x 1e-3,
standing in for the return and advantage normalisation BenchMARL lacks), ``benchmarl_matched_symlog``
(the same on symlog-squashed observations and state, standing in for our observation
normalisation), ``benchmarl_matched_normalised`` (the same with advantages standardised per
minibatch, as ours).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.stats import paired_difference_ci, runs_seeds_bootstrap_ci  # noqa: E402

ARMS = {
    "ours": ("mappo", "mappo"),
    "benchmarl_defaults": ("bench.torchrl_adapter:train_mappo_defaults",
                           "bench.torchrl_adapter:BenchmarlPolicy"),
    "benchmarl_matched": ("bench.torchrl_adapter:train_mappo_matched",
                          "bench.torchrl_adapter:BenchmarlPolicy"),
    "benchmarl_matched_scaled": ("bench.torchrl_adapter:train_mappo_matched_scaled",
                                 "bench.torchrl_adapter:BenchmarlPolicy"),
    "benchmarl_matched_symlog": ("bench.torchrl_adapter:train_mappo_matched_symlog",
                                 "bench.torchrl_adapter:BenchmarlPolicy"),
    "benchmarl_matched_normalised": ("bench.torchrl_adapter:train_mappo_matched_normalised",
                                     "bench.torchrl_adapter:BenchmarlPolicy"),
}


#: what docs/benchmarl_crosscheck.md reports: 5 runs of ours and of the closest BenchMARL arm, one
#: run of each arm that fails outright (its greedy actor orders the maximum every period)
PLAN: dict[str, list[int]] = {"ours": [1, 2, 3, 4, 5], "benchmarl_matched": [1],
                              "benchmarl_matched_scaled": [1], "benchmarl_matched_symlog": [1],
                              "benchmarl_matched_normalised": [1, 2, 3, 4, 5]}


def _rao_bench() -> str:
    exe = Path(sys.executable).with_name("rao-bench")
    return str(exe) if exe.exists() else shutil.which("rao-bench") or "rao-bench"


def _load() -> str:
    return Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"


def _run(cmd: list[str], log: Path) -> float:
    """Run ``cmd`` (output to ``log``); return its wall time in s; raise if it fails."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    t0 = time.perf_counter()
    with log.open("w") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    if proc.returncode:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}; see {log}")
    return time.perf_counter() - t0


def run_arm(arm: str, seed: int, args: argparse.Namespace, timings: dict[str, Any]) -> Path:
    """Train and evaluate one run; return its result file."""
    learner, policy = ARMS[arm]
    run_dir = args.out / arm / f"seed{seed}"
    result = args.out / arm / f"result_seed{seed}.json"
    key = f"{arm}/seed{seed}"
    if result.exists():
        return result
    run_dir.mkdir(parents=True, exist_ok=True)
    rb = _rao_bench()
    entry: dict[str, Any] = {"load_before_train": _load()}
    entry["train_wall_s"] = round(_run(
        [rb, "train", learner, args.task, "--seed", str(seed), "--env-steps", str(args.env_steps),
         "--scale", args.scale, "--out-dir", str(run_dir), "--no-progress"],
        run_dir / "train.log"), 1)
    entry["load_after_train"] = _load()
    entry["eval_wall_s"] = round(_run(
        [rb, "evaluate", args.task, "--policy", policy, "--checkpoint-dir", str(run_dir),
         "--protocol", args.protocol, "--workers", "1", "--no-progress", "--out", str(result)],
        run_dir / "evaluate.log"), 1)
    entry["load_after_eval"] = _load()
    timings[key] = entry
    print(f"{key}: train {entry['train_wall_s']} s, evaluate {entry['eval_wall_s']} s "
          f"(load {entry['load_before_train']} -> {entry['load_after_eval']})", flush=True)
    return result


def _nominal_matrix(doc: dict[str, Any], scale: str) -> np.ndarray:
    """Nominal-scenario V at the trained scale, shape (runs, eval seeds), seeds in order."""
    eps = [e for e in doc["episodes"] if e["scenario"] == "nominal" and e["scale"] == scale]
    runs = sorted({int(e.get("run", 0)) for e in eps})
    seeds = sorted({int(e["seed"]) for e in eps})
    m = np.full((len(runs), len(seeds)), np.nan)
    for e in eps:
        m[runs.index(int(e.get("run", 0))), seeds.index(int(e["seed"]))] = float(e["V"])
    return m


def compare(args: argparse.Namespace, merged: dict[str, Path], timings: dict[str, Any]) -> dict:
    rng = np.random.default_rng(0)
    docs = {arm: json.loads(p.read_text()) for arm, p in merged.items()}
    mats = {arm: _nominal_matrix(d, args.scale) for arm, d in docs.items()}
    out: dict[str, Any] = {"task": args.task, "scale": args.scale, "env_steps": args.env_steps,
                           "protocol": args.protocol, "arms": {}}
    for arm, doc in docs.items():
        m = mats[arm]
        lo, hi = runs_seeds_bootstrap_ci(m, rng)
        s = doc["summary"]
        tr = doc["algorithm"]["training"]
        out["arms"][arm] = {
            "nominal_V_mean": float(m.mean()), "nominal_V_ci": [lo, hi],
            "nominal_V_per_run": [float(r) for r in m.mean(axis=1)],
            "cost_per_period_mean": s["nominal"]["kpis"].get("cost_per_period", {}).get("mean"),
            "scales_V": {k: v["V_mean"] for k, v in s["scalability"]["scales"].items()},
            "shifts_V": {k: v["V_mean"] for k, v in s["adaptability"]["shifts"].items()},
            "safety": s.get("safety"),
            "train_env_steps_per_run": [r.get("env_steps") for r in tr.get("runs", [])],
            "learner_seeds": [r.get("seed") for r in tr.get("runs", [])],
            "train_wall_s_per_run": [timings.get(f"{arm}/seed{r.get('seed')}", {}).get("train_wall_s")
                                     for r in tr.get("runs", [])],
            "eval_wall_s_per_run": [timings.get(f"{arm}/seed{r.get('seed')}", {}).get("eval_wall_s")
                                    for r in tr.get("runs", [])],
            "load_during_train": [timings.get(f"{arm}/seed{r.get('seed')}", {}).get("load_after_train")
                                  for r in tr.get("runs", [])],
            "training_violations": tr.get("violations"),
        }
    if "ours" in mats:
        out["paired_vs_ours"] = {}
        for arm, m in mats.items():
            if arm != "ours":
                d, lo, hi = paired_difference_ci(mats["ours"], m, rng)
                out["paired_vs_ours"][arm] = {"ours_minus_arm": d, "ci": [lo, hi]}
    return out


def _table(cmp: dict[str, Any]) -> str:
    lines = ["| arm | nominal V (mean over runs x seeds) | 95% CI | per run | cost/period | "
             "train wall s per run |", "|---|---|---|---|---|---|"]
    for arm, a in cmp["arms"].items():
        lines.append(f"| {arm} | {a['nominal_V_mean']:.3f} | [{a['nominal_V_ci'][0]:.3f}, "
                     f"{a['nominal_V_ci'][1]:.3f}] | {', '.join(f'{v:.3f}' for v in a['nominal_V_per_run'])} "
                     f"| {a['cost_per_period_mean']:.1f} | {a['train_wall_s_per_run']} |")
    for arm, p in cmp.get("paired_vs_ours", {}).items():
        lines.append(f"\nours - {arm}: {p['ours_minus_arm']:+.3f} [{p['ci'][0]:+.3f}, {p['ci'][1]:+.3f}]")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="supply_chain/Serial-v2")
    ap.add_argument("--scale", default="n3", help="the trained scale (the task's nominal one)")
    ap.add_argument("--env-steps", type=int, default=30_000)
    ap.add_argument("--seeds", type=int, nargs="+", default=None,
                    help="learner seeds of every arm (default: PLAN's, per arm)")
    ap.add_argument("--arms", nargs="+", default=list(PLAN), choices=list(ARMS))
    ap.add_argument("--protocol", default="full", choices=["full", "quick"])
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "crosscheck_benchmarl")
    ap.add_argument("--compare-only", action="store_true",
                    help="train nothing: compare the runs already under OUT (any seeds per arm)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    tpath = args.out / "timings.json"
    timings = json.loads(tpath.read_text()) if tpath.exists() else {}
    merged: dict[str, Path] = {}
    for arm in args.arms:                       # one process at a time: runs in sequence
        results = []
        if args.compare_only:
            results = sorted((args.out / arm).glob("result_seed*.json"))
            if not results:
                continue
        for seed in ([] if args.compare_only else (args.seeds or PLAN.get(arm, [1, 2, 3]))):
            results.append(run_arm(arm, seed, args, timings))
            tpath.write_text(json.dumps(timings, indent=1))
        merged[arm] = args.out / f"{arm}.json"
        if len(results) > 1:
            _run([_rao_bench(), "merge-runs", *map(str, results), "--out", str(merged[arm])],
                 args.out / f"{arm}.merge.log")
        else:
            shutil.copyfile(results[0], merged[arm])
    cmp = compare(args, merged, timings)
    (args.out / "comparison.json").write_text(json.dumps(cmp, indent=1))
    print(_table(cmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
