"""Run one episode and turn what the simulator reported into one episode record.

The policy only chooses actions; KPIs and safety come from the env's per-step ``infos`` and are
aggregated here, as the spec declares, so no policy can report its own score.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from bench import metrics
from bench.policy import Policy
from bench.spec import KpiSpec, TaskSpec

# Fields of a record that measure the machine, not the policy: excluded from determinism checks.
TIMING_FIELDS = ("decision_time_per_agent_step_s", "sim_time_s")


def aggregate_kpi(kpi: KpiSpec, series: dict[str, np.ndarray]) -> float:
    """Aggregate team counter series of shape (T,) into one KPI value (kinds in docs/metrics.md)."""
    agg = kpi.aggregate
    kind = agg["kind"]
    T = len(next(iter(series.values()))) if series else 0

    def s(name: str) -> np.ndarray:
        if name not in series:
            raise KeyError(f"KPI {kpi.name!r} needs counter {name!r}, which the env never reported")
        return series[name]

    if kind == "sum":
        value = float(s(agg["of"]).sum())
    elif kind == "mean":
        value = float(s(agg["of"]).sum() / max(T, 1))
    elif kind == "ratio":
        den = float(s(agg["den"]).sum())
        value = float(s(agg["num"]).sum()) / den if den > 0 else float(agg.get("empty", 1.0))
    elif kind == "turnover":
        mean_den = float(s(agg["den"]).mean()) if T else 0.0
        value = float(s(agg["num"]).sum()) / mean_den if mean_den > 0 else 0.0
        if "annualise" in agg and T:
            value *= float(agg["annualise"]) / T
    elif kind == "var_ratio":
        var_den = float(np.var(s(agg["den"])))
        value = float(np.var(s(agg["num"]))) / var_den if var_den > 0 else 1.0
    elif kind == "quantile":
        value = histogram_quantile(np.array([s(b).sum() for b in agg["bins"]]), agg["edges"],
                                   float(agg["q"]), float(agg.get("empty", 0.0)))
    else:  # parse_spec rejects other kinds
        raise ValueError(f"unknown aggregate kind {kind!r}")
    return value


def histogram_quantile(counts: np.ndarray, edges: Any, q: float, empty: float = 0.0) -> float:
    """Quantile ``q`` of a quantity the env books into histogram bins: bin k holds values in
    [edges[k-1], edges[k]) (the first starts at 0, the last is open). Linear interpolation inside
    the bin holding the quantile; in the open last bin the result is its lower edge (a lower
    bound). ``empty`` when nothing was booked."""
    total = float(counts.sum())
    if total <= 0:
        return empty
    target = q * total
    cum = np.cumsum(counts)
    k = int(np.searchsorted(cum, target, side="left"))
    if k >= len(edges):
        return float(edges[-1])
    lo = 0.0 if k == 0 else float(edges[k - 1])
    before = 0.0 if k == 0 else float(cum[k - 1])
    return lo + (float(edges[k]) - lo) * (target - before) / float(counts[k])


def recovery(spec: TaskSpec, series: dict[str, np.ndarray], onset: int) -> tuple[int, bool]:
    """Steps until the spec's recovery KPI is back within its band after a shock (metrics doc)."""
    rec = spec.recovery
    agg = spec.kpi(rec.kpi).aggregate
    if agg["kind"] == "ratio":
        return metrics.recovery_time_ratio(series[agg["num"]], series[agg["den"]], onset,
                                           rec.window, rec.band)
    return metrics.recovery_time(series[agg["of"]], onset, rec.window, rec.band)


def run_episode(env: Any, policy: Policy, seed: int, spec: TaskSpec) -> dict[str, Any]:
    """Play one episode from ``seed`` and return its record (see the result schema), with the
    log of every joint action (``bench.submit.actionlog``) so that the record can be replayed."""
    from bench.submit.actionlog import ActionLogError, ActionRecorder

    t_start = time.perf_counter()
    obs, _ = env.reset(seed=seed)
    policy.reset(seed)
    agents = list(env.possible_agents)
    n_agents = len(agents)
    recorder: ActionRecorder | None = ActionRecorder(agents)
    counters: dict[str, list[float]] = {}
    exceed = {c.name: [] for c in spec.constraints}
    returns = 0.0
    decision_time = 0.0
    agent_steps = 0
    steps = 0
    while env.agents:
        t0 = time.perf_counter()
        actions = policy.act(obs)
        decision_time += time.perf_counter() - t0
        if recorder is not None:
            try:
                recorder.add(actions)
            except (ActionLogError, OverflowError, ValueError, TypeError):
                recorder = None  # not replayable: the record says so with actions = null
        agent_steps += len(env.agents)
        obs, rewards, _, _, infos = env.step(actions)
        returns += sum(rewards.values())
        step_totals: dict[str, float] = {}
        for a in agents:
            info = infos.get(a, {})
            for name, value in info.get("kpi", {}).items():
                step_totals[name] = step_totals.get(name, 0.0) + float(value)
        for name in step_totals.keys() | counters.keys():
            counters.setdefault(name, [0.0] * steps).append(step_totals.get(name, 0.0))
        for c in exceed:
            exceed[c].append([float(infos.get(a, {}).get("violations", {}).get(c, 0.0)) for a in agents])
        steps += 1
    series = {k: np.asarray(v, dtype=np.float64) for k, v in counters.items()}
    kpis = {k.name: aggregate_kpi(k, series) for k in spec.kpis}
    V = metrics.value_score(kpis, spec.anchors_at(env.config.scale.name), spec.weights)
    hp = spec.hyperscore
    safety = {}
    for c, rows in exceed.items():
        arr = np.asarray(rows, dtype=np.float64).reshape(steps, n_agents)
        safety[c] = metrics.safety_summary(arr)
    scenario = env.config.scenario
    rec_steps, recovered = (None, None)
    if scenario.onset is not None:
        rec_steps, recovered = recovery(spec, series, scenario.onset)
    return {
        "seed": int(seed),
        "scale": env.config.scale.name,
        "scenario": scenario.name,
        "n_agents": n_agents,
        "steps": steps,
        "agent_steps": agent_steps,
        "kpis": kpis,
        "V": V,
        "hyperscore": float(metrics.hyperscore(V, hp.beta, hp.gamma, hp.kappa)),
        "mean_return": returns / max(n_agents, 1),
        "safety": safety,
        "recovery_steps": rec_steps,
        "recovered": recovered,
        "decision_time_per_agent_step_s": decision_time / max(agent_steps, 1),
        "sim_time_s": time.perf_counter() - t_start - decision_time,
        "actions": recorder.pack() if recorder is not None else None,
    }


def mean_kpis(task_id: str, factory: Any, scale: str | None = None,
              scenario: str | None = None) -> dict[str, float]:
    """Mean of every KPI over the spec's eval seeds for one policy (``factory(env)``) in one cell:
    the measurement behind the KPI anchors frozen in specs (scripts/measure_anchors_*.py)."""
    from bench.registry import get_spec, make

    spec = get_spec(task_id)
    env = make(task_id, scale=scale, scenario=scenario)
    env.reset(seed=spec.seeds.eval[0])
    policy = factory(env)
    records = [run_episode(env, policy, seed, spec) for seed in spec.seeds.eval]
    return {k: float(np.mean([r["kpis"][k] for r in records])) for k in records[0]["kpis"]}

