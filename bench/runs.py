"""Several independent training runs of one learner as one leaderboard entry.

Each run is trained with its own learner seed (same algorithm, budget and protocol) and evaluated
on the same evaluation seeds into its own result file. :func:`merge_runs` joins them: every
episode gets ``"run": k``, the training blocks are summed with each per-scale record tagged by its
run, and the summary is recomputed with the run as the statistical unit (``bench.summary``).
"""

from __future__ import annotations

import copy
from typing import Any, Mapping, Sequence

from bench.registry import get_spec
from bench.training import sum_violations
from bench.summary import summarise

_SAME = (("task", "id"), ("task", "spec_sha256"), ("protocol", "name"), ("protocol", "seeds"),
         ("algorithm", "name"), ("algorithm", "version"), ("algorithm", "paradigm"))


class MergeError(ValueError):
    """The files are not independent runs of one entry; the message says which field differs."""


def _get(doc: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    for k in path:
        doc = doc[k]
    return doc


def _learner_seeds(doc: Mapping[str, Any]) -> tuple[int, ...]:
    training = doc["algorithm"].get("training") or {}
    return tuple(sorted({int(r["seed"]) for r in training.get("runs", []) if "seed" in r}))


def merge_runs(results: Sequence[Mapping[str, Any]], *, command: str = "") -> dict[str, Any]:
    """One result with ``len(results)`` runs, in the given order (run 0 first).

    Refuses files of different tasks, spec hashes, protocols, seeds or entries, files that
    already hold several runs, and runs that share a learner seed (they would not be
    independent). Non-learning results (no training block) cannot be merged: their unit is the
    episode.
    """
    if len(results) < 2:
        raise MergeError("merge-runs needs at least two result files (one per training run)")
    first = results[0]
    for i, doc in enumerate(results):
        for path in _SAME:
            if _get(doc, path) != _get(first, path):
                raise MergeError(f"file {i}: $.{'.'.join(path)} is {_get(doc, path)!r} but file 0 "
                                 f"has {_get(first, path)!r}; runs of one entry share it")
        if not doc["algorithm"].get("training"):
            raise MergeError(f"file {i}: $.algorithm.training is empty; only learners have "
                             "independent training runs to merge")
        if any("run" in e for e in doc["episodes"]):
            raise MergeError(f"file {i} already holds runs ($.episodes[*].run); merge single-run files")
    seeds = [_learner_seeds(doc) for doc in results]
    for i in range(len(seeds)):
        for j in range(i):
            shared = set(seeds[i]) & set(seeds[j])
            if shared:
                raise MergeError(f"files {j} and {i} were trained with the same learner seed(s) "
                                 f"{sorted(shared)}; independent runs need distinct seeds")
    out = copy.deepcopy(dict(first))
    out["episodes"] = [{**e, "run": k} for k, doc in enumerate(results) for e in doc["episodes"]]
    blocks = [doc["algorithm"]["training"] for doc in results]
    records = [{**r, "run": k} for k, b in enumerate(blocks) for r in b.get("runs", [])]
    agent_steps = sum(int(b["agent_steps"]) for b in blocks)
    violations = sum_violations(blocks, agent_steps)
    commands = [b.get("command", "") for b in blocks]
    out["algorithm"]["training"] = {
        "env_steps": sum(int(b["env_steps"]) for b in blocks),
        "agent_steps": agent_steps,
        "episodes": sum(int(b["episodes"]) for b in blocks),
        "wall_time_s": round(sum(float(b["wall_time_s"]) for b in blocks), 3),
        "seeds": sorted({int(s) for b in blocks for s in b["seeds"]}),
        "violations": violations,
        "command": " ; ".join(c for c in commands if c),
        "runs": records,
    }
    out["summary"] = summarise(get_spec(out["task"]["id"], warn_old=False), out["episodes"])
    if command:
        out["provenance"] = {**out["provenance"], "command": command}
    return out
