"""Run one episode and turn what the simulator reported into one episode record.

The policy only chooses actions; KPIs and safety come from the env's per-step ``infos`` and are
aggregated here, as the spec declares, so no policy can report its own score.

Actions: a continuous (``Box``) action outside its space by more than ``BOX_TOLERANCE`` (relative
to the bounds' magnitude) or NaN is rejected with an :class:`ActionRangeError`, on every task, as
the envs reject an invalid discrete action; a policy clips its own actions (``np.clip(a,
space.low, space.high)``). Within the tolerance the env's own clipping applies (float rounding).
An exception anywhere in an episode is re-raised as an :class:`EpisodeError` naming the task,
cell, seed, step and the call that raised, with the original traceback as text.
"""

from __future__ import annotations

import time
import traceback
from typing import Any, Mapping

import numpy as np

from bench import metrics
from bench.policy import Policy
from bench.spec import KpiSpec, TaskSpec

# Fields of a record that measure the machine, not the policy: excluded from determinism checks.
TIMING_FIELDS = ("decision_time_per_agent_step_s", "sim_time_s")


BOX_TOLERANCE = 1e-6


class ActionRangeError(ValueError):
    """A continuous action outside its ``Box`` (or NaN)."""


class EpisodeError(Exception):
    """An exception raised inside one evaluation episode, with where it happened (``context``:
    task, scale, scenario, seed, step, where, error, traceback; the harness adds policy), so a
    report can point at the bug and name the command that re-runs only that episode. Picklable:
    it crosses process boundaries with the original traceback as text."""

    def __init__(self, message: str, context: Mapping[str, Any]) -> None:
        super().__init__(message, dict(context))
        self.message = message
        self.context = dict(context)

    def __str__(self) -> str:
        return self.message


def episode_error(exc: BaseException, where: str, **context: Any) -> EpisodeError:
    """Wrap ``exc`` (raised by ``where``, e.g. ``policy.act``) with its episode's context."""
    if isinstance(exc, EpisodeError):
        return exc
    ctx = {"where": where, "error": f"{type(exc).__name__}: {exc}",
           "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
           **context}
    return EpisodeError(f"{ctx['error']} (in {where}, {_place(ctx)})", ctx)


def _place(ctx: Mapping[str, Any]) -> str:
    parts = [str(ctx.get("task", "?"))]
    for key in ("scale", "scenario", "seed", "step"):
        if ctx.get(key) is not None:
            parts.append(f"{key} {ctx[key]}")
    return ", ".join(parts)


BoxGroup = tuple[list[str], tuple[int, ...], np.ndarray, np.ndarray, list[Any]]


def box_groups(env: Any, agents: list[str]) -> list[BoxGroup]:
    """Agents with ``Box`` action spaces grouped by shape: (agents, shape, low - tol, high + tol,
    spaces) with the bounds stacked per agent, so each step costs one comparison per group."""
    from gymnasium import spaces

    groups: dict[tuple[int, ...], list[tuple[str, np.ndarray, np.ndarray, Any]]] = {}
    for a in agents:
        space = env.action_space(a)
        if isinstance(space, spaces.Box):
            low = np.broadcast_to(np.asarray(space.low, dtype=np.float64), space.shape)
            high = np.broadcast_to(np.asarray(space.high, dtype=np.float64), space.shape)
            span = np.where(np.isfinite(low) & np.isfinite(high), np.abs(low) + np.abs(high), 0.0)
            tol = BOX_TOLERANCE * (1.0 + span)
            groups.setdefault(tuple(space.shape), []).append((a, low - tol, high + tol, space))
    return [([g[0] for g in rows], shape, np.stack([g[1] for g in rows]), np.stack([g[2] for g in rows]),
             [g[3] for g in rows]) for shape, rows in groups.items()]


def check_box_actions(actions: Mapping[str, Any], groups: list[BoxGroup]) -> None:
    """Raise :class:`ActionRangeError` for the first out-of-range or NaN continuous action."""
    for agents, shape, low, high, boxes in groups:
        try:
            acts = [actions[a] for a in agents]
        except KeyError:
            continue  # missing agents: the env's own check reports them
        try:  # one concatenate per group: this runs every step, so it must cost little
            arr = np.concatenate(acts, axis=None).reshape(low.shape)
        except (ValueError, TypeError):
            try:  # scalars, lists: the general (slower) conversion
                arr = np.asarray(acts, dtype=np.float64).reshape(low.shape)
            except (ValueError, TypeError):
                continue  # malformed shapes: the env's own check reports them
        if (arr >= low).all() and (arr <= high).all():  # NaN fails both
            continue
        ok = (arr >= low) & (arr <= high)
        if not ok.all():
            i = int(np.argwhere(~ok.reshape(len(agents), -1).all(axis=1))[0, 0])
            raise ActionRangeError(
                f"agent {agents[i]!r}: action {arr[i].tolist()} is outside its action space "
                f"Box(low={boxes[i].low.tolist()}, high={boxes[i].high.tolist()}) (or is NaN). The "
                "harness rejects out-of-range continuous actions on every task, as the envs "
                "reject invalid discrete ones: clip in the policy, e.g. "
                "np.clip(a, env.action_space(agent).low, env.action_space(agent).high)")


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
    t_start = time.perf_counter()
    where = "env.reset"
    try:
        obs, _ = env.reset(seed=seed)
        where = "policy.reset"
        policy.reset(seed)
        where = "harness"
        return _play(env, policy, seed, spec, obs, t_start)
    except EpisodeError:
        raise
    except Exception as exc:
        raise _failed(exc, where, env, spec, seed, None) from exc


def _failed(exc: Exception, where: str, env: Any, spec: TaskSpec, seed: int,
            step: int | None) -> EpisodeError:
    return episode_error(exc, where, task=spec.id, scale=env.config.scale.name,
                         scenario=env.config.scenario.name, seed=int(seed), step=step)


def _play(env: Any, policy: Policy, seed: int, spec: TaskSpec, obs: Any, t_start: float) -> dict[str, Any]:
    from bench.submit.actionlog import ActionLogError, ActionRecorder

    agents = list(env.possible_agents)
    boxes = box_groups(env, agents)
    n_agents = len(agents)
    recorder: ActionRecorder | None = ActionRecorder(agents)
    counters: dict[str, list[float]] = {}
    exceed = {c.name: [] for c in spec.constraints}
    returns = 0.0
    decision_time = 0.0
    agent_steps = 0
    steps = 0
    while env.agents:
        where = "policy.act"
        try:
            t0 = time.perf_counter()
            actions = policy.act(obs)
            decision_time += time.perf_counter() - t0
            where = "action check"
            check_box_actions(actions, boxes)
            if recorder is not None:
                try:
                    recorder.add(actions)
                except (ActionLogError, OverflowError, ValueError, TypeError):
                    recorder = None  # not replayable: the record says so with actions = null
            agent_steps += len(env.agents)
            where = "env.step"
            obs, rewards, _, _, infos = env.step(actions)
        except Exception as exc:
            raise _failed(exc, where, env, spec, seed, steps) from exc
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

