"""Stage ``recompute``: V and HyperScore of every episode, and the whole summary, recomputed from
the episodes with the released spec; any difference is an error."""

from __future__ import annotations

from typing import Any

import numpy as np

from bench import metrics
from bench.spec import TaskSpec
from bench.submit.common import PathT, Run, close, finite, is_num, json_path, show, walk_numbers
from bench.summary import summarise


def stage_recompute(run: Run) -> None:
    spec = run.spec
    if spec is None:
        run.blocked(("task", "id"), f"{run.spec_missing_reason or 'no released spec'}, so no "
                    "score or summary can be recomputed")
        return
    hp = spec.hyperscore
    for i, ep in run.episodes():
        kpis, V, hs = ep.get("kpis"), ep.get("V"), ep.get("hyperscore")
        if isinstance(kpis, dict) and finite(V) and all(finite(kpis.get(k)) for k in spec.weights):
            want = metrics.value_score(kpis, spec.anchors_at(str(ep.get("scale"))), spec.weights)
            if not close(V, want):
                run.add(("episodes", i, "V"), f"found {V!r}; recomputed {want!r} from this episode's "
                                              f"KPIs with the spec's anchors (at its scale) and weights")
        if finite(V) and 0.0 <= V <= 1.0 and finite(hs):
            want = float(metrics.hyperscore(V, hp.beta, hp.gamma, hp.kappa))
            if not close(hs, want):
                run.add(("episodes", i, "hyperscore"), f"found {hs!r}; recomputed {want!r} from V = "
                                                       f"{V!r} with the spec's HyperScore parameters")
    _recompute_summary(run, spec)


def _recompute_summary(run: Run, spec: TaskSpec) -> None:
    """Recompute the summary (kept in ``run.summary`` for the leaderboard) and compare it with the
    submitted one; when it cannot be recomputed, that is an error at the field that stops it."""
    where: PathT = ("episodes",)
    why = ""
    if run.episodes_broken or not isinstance(run.doc.get("episodes"), list):
        why = "not a list of episodes"
    elif run.bad_episodes:
        where = ("episodes", min(run.bad_episodes))
        more = len(run.bad_episodes) - 1
        why = "this episode is malformed or not finite" + (f" (and {more} more)" if more else "")
    else:
        kpis, cons = [k.name for k in spec.kpis], [c.name for c in spec.constraints]
        for i, ep in run.episodes():
            if any(k not in ep["kpis"] for k in kpis):
                where, why = ("episodes", i, "kpis"), "lacks a KPI of the spec"
                break
            if any(c not in ep["safety"] for c in cons):
                where, why = ("episodes", i, "safety"), "lacks a constraint of the spec"
                break
    expected: dict[str, Any] = {}
    if not why:
        try:
            with np.errstate(all="ignore"):
                expected = summarise(spec, run.doc["episodes"])
        except (ValueError, KeyError, TypeError, ZeroDivisionError, OverflowError, IndexError) as exc:
            why = f"the summary cannot be computed from these episodes ({show(str(exc), 160)})"
        else:
            bad = next((p for p, x in walk_numbers(expected) if not finite(x)), None)
            if bad is not None:
                why = (f"the summary recomputed from these episodes is not finite at "
                       f"{json_path(('summary',) + bad)}; expected episode numbers within their ranges")
    if why:
        run.blocked(where, f"{why}, so the summary cannot be recomputed (and a submitted summary is "
                           "never trusted)")
        return
    run.summary = expected
    if isinstance(run.doc.get("summary"), dict):
        _compare(run, expected, run.doc["summary"], ("summary",))


def _compare(run: Run, want: Any, got: Any, path: PathT) -> None:
    """Report every leaf where the submitted summary differs from the recomputed one (except
    where the schema has already reported the submitted value)."""
    if path in run.schema_paths:
        return
    if isinstance(want, dict) and isinstance(got, dict):
        for k, v in want.items():
            if k in got:
                _compare(run, v, got[k], path + (k,))
            else:
                run.add(path + (k,), f"missing; the recomputed summary has {show(v)}")
        for k in got:
            if k not in want:
                run.add(path + (k,), "unexpected entry; the summary recomputed from the episodes "
                                     "has no such field")
        return
    if is_num(want) and is_num(got):
        if not (finite(got) and close(float(got), float(want))):
            run.add(path, f"found {show(got)}; recomputed {show(want)} from the episodes")
        return
    if type(want) is not type(got) or want != got:
        run.add(path, f"found {show(got)}; recomputed {show(want)} from the episodes")

