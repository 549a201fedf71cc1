"""The evaluation protocol's cells, and the summary computed from episode records.

Both the evaluator and the validator call :func:`summarise`, so a submitted summary is checked
by recomputing it from the submitted episodes with the very same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np

from bench import metrics, stats
from bench.stats import SUMMARY_SEED  # fixed, so that a validator can recompute every summary
from bench.spec import TaskSpec

PROTOCOLS = ("quick", "full")
QUICK_SEEDS = 2


@dataclass(frozen=True)
class Cell:
    """One (scale, scenario) pair of the protocol, run on ``seeds``; ``part`` says why it is run."""

    part: str
    scale: str
    scenario: str
    seeds: tuple[int, ...]


def protocol_seeds(spec: TaskSpec, protocol: str) -> tuple[int, ...]:
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    return spec.seeds.eval if protocol == "full" else spec.seeds.eval[:QUICK_SEEDS]


def protocol_cells(spec: TaskSpec, protocol: str) -> list[Cell]:
    """nominal (nominal scale & scenario); scalability (every other scale, nominal scenario);
    adaptability (nominal scale, every shift scenario). Every cell runs the same seeds."""
    seeds = protocol_seeds(spec, protocol)
    nom_scale, nom_scen = spec.nominal_scale.name, spec.nominal_scenario.name
    cells = [Cell("nominal", nom_scale, nom_scen, seeds)]
    cells += [Cell("scalability", s.name, nom_scen, seeds) for s in spec.scales if not s.nominal]
    cells += [Cell("adaptability", nom_scale, s.name, seeds) for s in spec.shift_scenarios]
    return cells


def _by_cell(episodes: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], list[Mapping[str, Any]]]:
    out: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for ep in episodes:
        out.setdefault((ep["scale"], ep["scenario"]), []).append(ep)
    for eps in out.values():
        eps.sort(key=lambda e: (e["seed"], run_of(e)))
    return out


def _stat(values: list[float]) -> dict[str, float]:
    rng = np.random.Generator(np.random.PCG64(SUMMARY_SEED))
    return stats.summarise(np.asarray(values, dtype=np.float64), rng)


def run_of(episode: Mapping[str, Any]) -> int:
    """Index of the independent training run an episode belongs to (0 when the entry has one)."""
    return int(episode.get("run", 0))


def runs_matrix(episodes: list[Mapping[str, Any]], quantity: Any) -> tuple[np.ndarray, list[int]]:
    """Values of ``quantity`` (a key, or a function of an episode) as a matrix of shape
    ``(num_runs, num_seeds)``, rows by run index and columns by seed; also the seeds. Every run
    must cover the same seeds (the validator checks it; here a mismatch raises)."""
    get = quantity if callable(quantity) else (lambda e: e[quantity])
    by_run: dict[int, dict[int, float]] = {}
    for e in episodes:
        by_run.setdefault(run_of(e), {})[int(e["seed"])] = float(get(e))
    seeds = sorted(next(iter(by_run.values()))) if by_run else []
    for r, vals in by_run.items():
        if sorted(vals) != seeds:
            raise ValueError(f"run {r} covers seeds {sorted(vals)} but run {min(by_run)} covers "
                             f"{seeds}: every run must be evaluated on the same seeds")
    return np.array([[by_run[r][s] for s in seeds] for r in sorted(by_run)]), seeds


def _stat_runs(episodes: list[Mapping[str, Any]], quantity: Any) -> dict[str, Any]:
    """Summary statistic of one quantity: with one run, over its episodes (``stats.summarise``);
    with several, the run is the unit: the mean over runs, the IQM of the runs' means, and a
    bootstrap CI resampling runs and seeds (``stats.runs_seeds_bootstrap_ci``); ``n`` counts runs."""
    m, _ = runs_matrix(episodes, quantity)
    if m.shape[0] == 1:
        return _stat(list(m[0]))
    rng = np.random.Generator(np.random.PCG64(SUMMARY_SEED))
    lo, hi = stats.runs_seeds_bootstrap_ci(m, rng)
    run_means = m.mean(axis=1)
    return {"mean": float(m.mean()), "iqm": float(stats.iqm(run_means)), "ci_low": lo,
            "ci_high": hi, "n": int(m.shape[0])}


def summarise(spec: TaskSpec, episodes: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Summary of a run: nominal scores with CIs, scalability, adaptability and safety."""
    cells = _by_cell(episodes)
    nom_scale, nom_scen = spec.nominal_scale.name, spec.nominal_scenario.name
    nominal = cells.get((nom_scale, nom_scen), [])
    if not nominal:
        raise ValueError("no nominal episodes: the summary needs the nominal scale and scenario")
    out: dict[str, Any] = {
        "nominal": {
            "n_episodes": len(nominal),
            "V": _stat_runs(nominal, "V"),
            "hyperscore": _stat_runs(nominal, "hyperscore"),
            "kpis": {k.name: _stat_runs(nominal, lambda e, k=k.name: e["kpis"][k]) for k in spec.kpis},
        }
    }
    n_runs = len({run_of(e) for e in nominal})
    if n_runs > 1:
        out["nominal"]["n_runs"] = n_runs

    scales: dict[str, Any] = {}
    for s in spec.scales:
        eps = cells.get((s.name, nom_scen))
        if not eps:
            continue
        scales[s.name] = {
            "n_agents": int(eps[0]["n_agents"]),
            "V_mean": float(np.mean([e["V"] for e in eps])),
            "hyperscore_mean": float(np.mean([e["hyperscore"] for e in eps])),
            "decision_time_per_agent_step_s": float(np.mean([e["decision_time_per_agent_step_s"]
                                                             for e in eps])),
        }
    present = [s for s in spec.scales if s.name in scales]
    scal: dict[str, Any] = {"scales": scales, "v_retention": None, "decision_time_slope": None}
    if len(present) >= 2:
        small = [e["V"] for e in cells[(present[0].name, nom_scen)]]
        large = [e["V"] for e in cells[(present[-1].name, nom_scen)]]
        scal["v_retention"] = metrics.retention(large, small) if len(small) == len(large) else None
        counts = [scales[s.name]["n_agents"] for s in present]
        times = [scales[s.name]["decision_time_per_agent_step_s"] for s in present]
        if len(set(counts)) >= 2 and min(times) > 0:
            scal["decision_time_slope"] = metrics.log_log_slope(counts, times)
    out["scalability"] = scal

    shifts: dict[str, Any] = {}
    nominal_by_seed = {(run_of(e), e["seed"]): e["V"] for e in nominal}
    for sc in spec.shift_scenarios:
        eps = cells.get((nom_scale, sc.name))
        if not eps:
            continue
        paired = [e for e in eps if (run_of(e), e["seed"]) in nominal_by_seed]
        rec = [e["recovery_steps"] for e in eps if e["recovery_steps"] is not None]
        shifts[sc.name] = {
            "V_mean": float(np.mean([e["V"] for e in eps])),
            "retention": metrics.retention([e["V"] for e in paired],
                                           [nominal_by_seed[(run_of(e), e["seed"])] for e in paired])
            if paired else None,
            "recovery_steps_mean": float(np.mean(rec)) if rec else None,
            "recovered_share": float(np.mean([bool(e["recovered"]) for e in eps])),
        }
    rets = {k: v["retention"] for k, v in shifts.items() if v["retention"] is not None}
    worst = min(rets, key=lambda k: (rets[k], k)) if rets else None
    out["adaptability"] = {"shifts": shifts, "worst_shift": worst,
                           "worst_retention": rets[worst] if worst else None}

    safety = {}
    for c in spec.constraints:
        per_ep = [e["safety"][c.name] for e in episodes]
        safety[c.name] = metrics.safety_aggregate(per_ep)
    out["safety"] = safety
    return out
