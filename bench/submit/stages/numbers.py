"""Stage ``numbers``: every number finite and exact, and each episode's numbers within the ranges
the spec implies (V, HyperScore, horizon, agent-steps, safety counts, recovery)."""

from __future__ import annotations

import math
from typing import Any

from bench import metrics
from bench.spec import TaskSpec
from bench.submit import kpi_ranges
from bench.submit.common import MAX_EXACT_INT, PathT, Run, close, finite, is_int, show


def hyperscore_range(spec: TaskSpec) -> tuple[float, float]:
    """The attainable HyperScore interval for V in [0, 1] with the spec's parameters (the map is
    monotonic in V, so the ends are at V = 0 and V = 1); not the paper's nominal 100-200."""
    hp = spec.hyperscore
    ends = [float(metrics.hyperscore(v, hp.beta, hp.gamma, hp.kappa)) for v in (0.0, 1.0)]
    return min(ends), max(ends)


def stage_numbers(run: Run) -> None:
    for path, x in run.numbers:
        if isinstance(x, float) and not math.isfinite(x):
            run.add(path, f"found {x!r} (a NaN/Infinity literal, or a number too large for a "
                          "double); expected a finite number")
            run.nonfinite.add(path)
        elif is_int(x) and abs(x) > MAX_EXACT_INT:
            digits = int(abs(x).bit_length() * math.log10(2)) + 1  # str() may refuse huge ints
            run.add(path, f"found an integer of about {digits} digits; expected at most 2^53 in "
                          "magnitude (larger ones are not exact in JSON readers)")
            run.nonfinite.add(path)
    for path in run.nonfinite:
        if path[:1] == ("episodes",) and len(path) > 1:
            run.bad_episodes.add(path[1])

    spec = run.spec
    if spec is None:
        run.blocked(("task", "id"), f"{run.spec_missing_reason or 'no released spec'}, so the "
                    "spec-dependent ranges (KPIs, HyperScore, horizon, agents) are unknown")
        return
    lo, hi = hyperscore_range(spec)
    for i, ep in run.episodes():
        _episode_numbers(run, spec, i, ep, lo, hi)


def _in_range(run: Run, path: PathT, x: Any, lo: float, hi: float, what: str) -> bool:
    """Report ``x`` outside [lo, hi] unless the schema already said the same; True if in range."""
    if not finite(x):
        return False
    if lo <= x <= hi:
        return True
    if path not in run.schema_paths:
        run.add(path, f"found {x!r}; expected {what}")
    return False


def _episode_numbers(run: Run, spec: TaskSpec, i: int, ep: dict[str, Any], lo: float,
                     hi: float) -> None:
    p: PathT = ("episodes", i)
    _in_range(run, p + ("V",), ep.get("V"), 0.0, 1.0, "a value score in [0, 1]")
    _physical_ranges(run, spec, p, ep)
    hp = spec.hyperscore
    if finite(ep.get("hyperscore")) and not lo <= ep["hyperscore"] <= hi:
        run.add(p + ("hyperscore",), f"found {ep['hyperscore']!r}; expected within [{lo!r}, {hi!r}], "
                                     f"the attainable range for V in [0, 1] with beta={hp.beta}, "
                                     f"gamma={hp.gamma}, kappa={hp.kappa}")
    steps, n_agents, agent_steps = ep.get("steps"), ep.get("n_agents"), ep.get("agent_steps")
    if is_int(steps) and steps != spec.horizon:
        run.add(p + ("steps",), f"found {steps}; expected the spec's horizon {spec.horizon}")
    total = n_agents * steps if is_int(n_agents) and is_int(steps) else None
    if total is not None and is_int(agent_steps) and agent_steps != total:
        run.add(p + ("agent_steps",), f"found {agent_steps}; expected n_agents * steps = "
                                      f"{n_agents} * {steps} = {total}")
    safety = ep.get("safety")
    if isinstance(safety, dict):
        for name, s in safety.items():
            if isinstance(s, dict):
                _safety_numbers(run, p + ("safety", name), s, total)
    scen = ep.get("scenario")
    if isinstance(scen, str) and scen in [s.name for s in spec.scenarios]:
        _recovery_numbers(run, spec, p, ep, spec.scenario(scen))


def _physical_ranges(run: Run, spec: TaskSpec, p: PathT, ep: dict[str, Any]) -> None:
    """Every KPI (weighted or not, any scenario), the return and the timings within what the
    simulator can report (:mod:`bench.submit.kpi_ranges`); an episode outside is not summarised."""
    checks: list[tuple[PathT, Any, tuple[float, float], str]] = []
    kpis = ep.get("kpis")
    if isinstance(kpis, dict):
        for name, x in kpis.items():
            bounds = kpi_ranges.kpi_range(spec.id, str(name))
            checks.append((p + ("kpis", name), x, bounds, f"KPI {name!r} of {spec.id}"))
    checks += [
        (p + ("mean_return",), ep.get("mean_return"), kpi_ranges.MEAN_RETURN, "the mean return"),
        (p + ("decision_time_per_agent_step_s",), ep.get("decision_time_per_agent_step_s"),
         kpi_ranges.DECISION_TIME_S, "a decision time per agent-step in seconds"),
        (p + ("sim_time_s",), ep.get("sim_time_s"), kpi_ranges.SIM_TIME_S,
         "an episode's simulation time in seconds"),
    ]
    for path, x, (lo, hi), what in checks:
        if finite(x) and not lo <= x <= hi:
            run.add(path, f"found {x!r}; expected {what} within [{lo!r}, {hi!r}] (the range the "
                          "simulator can report)")
            run.bad_episodes.add(p[1])


def _safety_numbers(run: Run, p: PathT, s: dict[str, Any], total: int | None) -> None:
    rate_ok = _in_range(run, p + ("rate",), s.get("rate"), 0.0, 1.0, "a violation rate in [0, 1]")
    _in_range(run, p + ("severity",), s.get("severity"), 0.0, math.inf, "a severity >= 0")
    v, sev, own = s.get("violating_steps"), s.get("severity"), s.get("agent_steps")
    if total is not None and is_int(own) and own != total:
        # the summary pools rates over this count, so it must be the episode's own
        run.add(p + ("agent_steps",), f"found {own}; expected the episode's n_agents * steps = {total}")
    if not is_int(v) or v < 0:
        return
    if total is not None and total > 0:
        if v > total:
            run.add(p + ("violating_steps",), f"found {v}; expected at most the episode's "
                                              f"agent-steps ({total})")
        elif rate_ok and not close(s["rate"], v / total):
            run.add(p + ("rate",), f"found {s['rate']!r}; expected violating_steps / agent_steps = "
                                   f"{v} / {total} = {v / total!r}")
    if isinstance(s.get("any"), bool) and s["any"] != (v > 0):
        run.add(p + ("any",), f"found {s['any']}; expected {v > 0} since violating_steps is {v}")
    if v == 0 and finite(sev) and sev != 0:
        run.add(p + ("severity",), f"found {sev!r}; expected 0 since there are no violating steps")
    elif v > 0 and finite(sev) and sev == 0:
        run.add(p + ("severity",), f"found 0; expected > 0 since there are {v} violating steps")


def _recovery_numbers(run: Run, spec: TaskSpec, p: PathT, ep: dict[str, Any], scenario: Any) -> None:
    steps, rec = ep.get("recovery_steps"), ep.get("recovered")
    if scenario.onset is None:
        for key, val in (("recovery_steps", steps), ("recovered", rec)):
            if val is not None:
                run.add(p + (key,), f"found {show(val)}; expected null for the nominal scenario")
        return
    for key, val in (("recovery_steps", steps), ("recovered", rec)):
        if val is None:
            run.add(p + (key,), f"found null; expected a value for shift scenario {scenario.name!r}")
    if not (is_int(steps) and isinstance(rec, bool)):
        return
    # recovery is measured on rolling windows from the onset; unrecovered = censored at the end
    censored = spec.horizon - spec.recovery.window + 1 - scenario.onset
    if rec and not 0 <= steps < censored:
        run.add(p + ("recovery_steps",), f"found {steps} with recovered=true; expected 0 <= "
                                         f"recovery_steps < {censored} (the censoring value)")
    elif not rec and steps != censored:
        run.add(p + ("recovery_steps",), f"found {steps} with recovered=false; expected the "
                                         f"censoring value {censored}")

