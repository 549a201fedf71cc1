"""Replay a result's episodes from their action logs on the released, un-overridden env.

Why: a result file can be fabricated consistently (KPIs, V and summary recomputed by the
project's own code) or produced by a real run on a modified env (an override, a policy that
patched ``env.step`` in-process). Neither survives a replay: the logged actions are fed to a fresh
env built from the released spec alone, and every record the harness computes must reproduce the
submitted one within ``bench.reproduce``'s cross-machine tolerance (timings aside). The policy is
not needed and nothing named in the submission is imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from bench.episode import TIMING_FIELDS
from bench.reproduce import differences
from bench.submit.actionlog import ActionLogError, LogPolicy, decode, episode_raw

#: record fields a replay does not compare: machine timings, the log itself (its digest is
#: compared separately, because the replay re-logs the actions it played), and the training-run
#: label merge-runs puts on a learner's episodes (a label, not an outcome of the episode)
IGNORED = TIMING_FIELDS + ("actions", "run")


@dataclass(frozen=True)
class Check:
    """The outcome of one check on one episode (``kind``: replay, rerun or fresh)."""

    kind: str
    index: int | None
    cell: str
    seed: int
    ok: bool
    detail: str = ""

    def __str__(self) -> str:
        where = f"$.episodes[{self.index}]" if self.index is not None else "fresh"
        return f"{'ok  ' if self.ok else 'FAIL'} {self.kind:<6} {where} {self.cell} seed {self.seed}" + \
            (f": {self.detail}" if self.detail else "")


def replay_episode(task_id: str, ep: Mapping[str, Any], raw: bytes) -> dict[str, Any]:
    """Play the logged actions ``raw`` on a fresh released env; return the harness's new record."""
    from bench.episode import run_episode
    from bench.registry import get_spec, make

    spec = get_spec(task_id, warn_old=False)
    env = make(task_id, scale=str(ep["scale"]), scenario=str(ep["scenario"]))  # no overrides
    policy = LogPolicy(decode(raw))
    record = run_episode(env, policy, int(ep["seed"]), spec)
    if policy.t != len(policy.steps):
        raise ActionLogError(f"the episode ended after {policy.t} steps; the log has {len(policy.steps)}")
    return record


def compare(fresh: Mapping[str, Any], ep: Mapping[str, Any]) -> list[str]:
    """Where ``fresh`` does not reproduce ``ep`` (empty: it does), the action digest included."""
    diffs = differences(fresh, ep, ignore=IGNORED, limit=8)
    mine = (fresh.get("actions") or {}).get("sha256")
    theirs = (ep.get("actions") or {}).get("sha256") if isinstance(ep.get("actions"), dict) else None
    if theirs is not None and mine != theirs:
        diffs.append(f"$.actions.sha256: {mine} vs {theirs}")
    return diffs


def replay_job(job: tuple[str, int, dict[str, Any], bytes]) -> Check:
    """One replay (run in a worker process): ``(task_id, index, episode record, raw log)``."""
    task_id, i, ep, raw = job
    cell = f"{ep.get('scale')}/{ep.get('scenario')}"
    try:
        fresh = replay_episode(task_id, ep, raw)
    except Exception as exc:  # an env that rejects the logged actions is a failed replay
        return Check("replay", i, cell, int(ep.get("seed", -1)), False,
                     f"the replay stopped: {type(exc).__name__}: {exc}")
    diffs = compare(fresh, ep)
    return Check("replay", i, cell, int(ep["seed"]), not diffs,
                 "; ".join(diffs[:4]) + (" ..." if len(diffs) > 4 else ""))


def replay_jobs(doc: Mapping[str, Any], sidecar: bytes | None
                ) -> tuple[list[tuple[str, int, dict[str, Any], bytes]], list[Check]]:
    """The replay jobs of every episode, and a failed check for each episode without a usable log."""
    jobs, bad = [], []
    task_id = doc["task"]["id"]
    for i, ep in enumerate(doc["episodes"]):
        cell = f"{ep.get('scale')}/{ep.get('scenario')}"
        if ep.get("actions") is None:
            bad.append(Check("replay", i, cell, int(ep.get("seed", -1)), False,
                             "no action log: the episode cannot be replayed"))
            continue
        try:
            raw = episode_raw(ep["actions"], sidecar)
        except ActionLogError as exc:
            bad.append(Check("replay", i, cell, int(ep.get("seed", -1)), False, str(exc)))
            continue
        jobs.append((task_id, i, dict(ep), raw))
    return jobs, bad
