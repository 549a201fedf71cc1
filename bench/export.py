"""Result files as data for other tools: a tidy pandas frame, and marl-eval's raw-data layout.

``to_frame`` gives one row per episode (entry, run, task, scale, scenario, seed, KPIs, V,
HyperScore), for a researcher's own analysis. ``marl_eval`` writes the layout that marl-eval
(Gorsane et al. 2022) and through it rliable read:
``environment → task → algorithm → run_k → {step_0: {step_count, metric: [...]}, absolute_metrics}``,
with environment = the task's domain, task = ``Name-vN``, one list element per nominal evaluation
episode in seed order, and ``step_count`` the training env steps per run (0 for non-learners).
Our results are final evaluations, so each run has one step, and ``absolute_metrics`` holds the
same episodes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping

#: Per-episode metrics exported to marl-eval (KPIs are added as ``kpi_<name>``).
MARL_EVAL_METRICS = ("V", "hyperscore", "mean_return")


def _load(paths: Iterable[str | Path]) -> list[tuple[str, Mapping[str, Any]]]:
    out = []
    for p in sorted({str(Path(x)) for x in paths}):
        doc = json.loads(Path(p).read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or "episodes" not in doc:
            raise ValueError(f"{p}: not a RAO-Bench result file (no 'episodes')")
        out.append((p, doc))
    return out


def to_frame(paths: Iterable[str | Path]) -> "Any":
    """A tidy ``pandas.DataFrame``: one row per evaluation episode of every result file."""
    import pandas as pd

    rows = []
    for path, doc in _load(paths):
        alg, task = doc["algorithm"], doc["task"]["id"]
        for e in doc["episodes"]:
            row = {"entry": alg["name"], "version": alg["version"], "paradigm": alg["paradigm"],
                   "run": int(e.get("run", 0)), "task": task, "protocol": doc["protocol"]["name"],
                   "scale": e["scale"], "scenario": e["scenario"], "seed": int(e["seed"]),
                   "n_agents": e["n_agents"], "V": e["V"], "hyperscore": e["hyperscore"],
                   "mean_return": e["mean_return"], "source": path}
            row.update({f"kpi_{k}": v for k, v in e["kpis"].items()})
            row.update({f"violation_rate_{c}": s["rate"] for c, s in e["safety"].items()})
            rows.append(row)
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame = frame.sort_values(["task", "entry", "version", "run", "scale", "scenario", "seed"],
                                  kind="stable").reset_index(drop=True)
    return frame


def marl_eval(paths: Iterable[str | Path]) -> dict[str, Any]:
    """marl-eval's raw-data dictionary built from the nominal episodes of full-protocol results."""
    from bench.registry import get_spec

    out: dict[str, Any] = {}
    for path, doc in _load(paths):
        if doc["protocol"]["name"] != "full":
            continue
        spec = get_spec(doc["task"]["id"], warn_old=False)
        env_name, task_name = spec.id.split("/", 1)
        nominal = [e for e in doc["episodes"] if e["scale"] == spec.nominal_scale.name
                   and e["scenario"] == spec.nominal_scenario.name]
        training = doc["algorithm"].get("training") or {}
        runs: dict[int, list[Mapping[str, Any]]] = {}
        for e in sorted(nominal, key=lambda e: (int(e.get("run", 0)), e["seed"])):
            runs.setdefault(int(e.get("run", 0)), []).append(e)
        algo = out.setdefault(env_name, {}).setdefault(task_name, {})
        name = doc["algorithm"]["name"]
        if name in algo:
            raise ValueError(f"{path}: a second result for {name!r} on {spec.id}; export one per entry")
        steps = int(training.get("env_steps", 0)) // max(1, len(runs))
        algo[name] = {}
        for r, eps in runs.items():
            metrics = {m: [float(e[m]) for e in eps] for m in MARL_EVAL_METRICS}
            metrics.update({f"kpi_{k}": [float(e["kpis"][k]) for e in eps] for k in eps[0]["kpis"]})
            algo[name][f"run_{r}"] = {"step_0": {"step_count": steps, **metrics},
                                      "absolute_metrics": {k: list(v) for k, v in metrics.items()}}
    return out


def write_marl_eval(paths: Iterable[str | Path], out: str | Path) -> Path:
    """Write :func:`marl_eval` as JSON, atomically."""
    from bench.journal import atomic_write_text

    out = Path(out)
    atomic_write_text(out, json.dumps(marl_eval(paths), indent=1, sort_keys=True) + "\n")
    return out
