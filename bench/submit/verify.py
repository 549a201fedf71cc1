"""``rao-bench verify FILE...``: show that a valid result is what the released env and its policy
produce, not just a self-consistent file.

1. **replay** every episode's action log on the released, un-overridden env, in a clean worker
   process (``bench.submit.replay``): every record must reproduce within ``bench.reproduce``'s
   tolerance. This catches edited KPIs, an easier env, and a policy that patched the harness.
2. **rerun** a random sample of episodes, at least one per (scale, scenario) cell, with the policy
   the result names (a registered reference baseline, or ``--policy module:attr``): the actions
   (their digest) and the records must reproduce. This catches logs that were not produced by the
   named policy (e.g. actions computed with hindsight and then relabelled).
3. with ``--fresh N``, run that policy on N nominal episodes from seeds drawn from the evaluation
   distribution but absent from the public list; the fresh V's 95% interval must overlap the
   submission's nominal V interval. A per-seed lookup table fails this. The policy is handed a
   seed derived from the env's with a per-run secret, so it cannot rebuild the env from it.

Exit status 0 only if every check of every file passes; otherwise a per-episode report.
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import secrets
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence, TextIO

import numpy as np

from bench.submit.actionlog import ActionLogError, read_sidecar
from bench.submit.location import SUBMISSIONS, inside
from bench.submit.replay import Check, compare, replay_job, replay_jobs

FRESH_SEED_LOW = 10**9  # fresh seeds are drawn from [FRESH_SEED_LOW, 2**31 - 1), far from any list


@dataclass
class Verdict:
    """Everything ``verify_file`` found for one result file."""

    source: str
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    refused: str = ""  # why the file was not verified at all (invalid, unreadable)

    @property
    def ok(self) -> bool:
        return not self.refused and bool(self.checks) and all(c.ok for c in self.checks)


def policy_ref(doc: dict[str, Any], explicit: str | None) -> str | None:
    """The policy to re-run: ``explicit`` if given, else the registered reference baseline the
    result is named after (entries.yaml kind reference/oracle, present in baselines.registry)."""
    if explicit:
        return explicit
    from bench.submit.identity import lookup

    name = doc["algorithm"]["name"]
    entry = lookup(name)
    if entry is None or entry.kind not in ("reference", "oracle"):
        return None
    try:
        from baselines import registry
    except ImportError:
        return None
    return entry.name if entry.name in registry.BASELINES else None


def run_refs(doc: dict[str, Any], ref: str | None, explicit: bool) -> dict[Any, str]:
    """The policy to re-run per training run of a merged learner entry (episodes labelled
    ``run``): a registered reference learner's run ``r`` was trained with the learner seed its
    training block records, and its checkpoints sit in ``run<seed>/``
    (``baselines.registry.run_checkpoint_dir``). Empty when the entry has no runs, the policy
    was given explicitly, or the name is not a registered learner."""
    if ref is None or explicit or not any("run" in ep for ep in doc["episodes"]):
        return {}
    try:
        from baselines import registry
    except ImportError:
        return {}
    if ref not in registry.LEARNERS:
        return {}
    training = doc["algorithm"].get("training") or {}
    seeds = {int(r["run"]): int(r["seed"]) for r in training.get("runs", []) if "run" in r and "seed" in r}
    return {run: f"{ref}@{registry.run_checkpoint_dir(seed)}" for run, seed in seeds.items()}


def sample_per_run_and_cell(episodes: Sequence[dict[str, Any]], rng: np.random.Generator,
                            per_cell: int = 1) -> list[int]:
    """``sample_per_cell`` within each training run, so every run's checkpoints are re-run."""
    runs: dict[Any, list[int]] = {}
    for i, ep in enumerate(episodes):
        runs.setdefault(ep.get("run"), []).append(i)
    out: list[int] = []
    for run in sorted(runs, key=lambda r: (r is not None, r if r is not None else 0)):
        idx = runs[run]
        out += [idx[j] for j in sample_per_cell([episodes[i] for i in idx], rng, per_cell)]
    return out


def hook_decisions(task_id: str, ref: str | None, explicit: bool) -> tuple[str, ...]:
    """The env hooks (``DECISION_HOOKS``) through which the registered reference oracle ``ref``
    decides inside ``step``: its declared privileged attributes that the task's env lists. Such
    decisions are not in the action log, so replay cannot reproduce them; the oracle is ours
    (registered, in this repository), so verify re-runs every episode of it in the harness
    instead. Empty for any other policy (a submission is always replayed)."""
    if ref is None or explicit:
        return ()
    from bench.policy import load_policy, privileged_info
    from bench.registry import get_spec, load_entry_point
    from bench.submit.identity import lookup

    entry = lookup(ref)
    if entry is None or entry.kind != "oracle":
        return ()
    hooks = set(getattr(load_entry_point(get_spec(task_id, warn_old=False).entry_point), "DECISION_HOOKS", ()))
    return tuple(sorted(hooks & set(privileged_info(load_policy(ref).factory))))


def inprocess_job(job: tuple[str, str, int, dict[str, Any]]) -> Check:
    """Re-run one episode of a registered oracle in the harness (worker process) and compare."""
    from bench.protocol import run_job

    task_id, ref, i, ep = job
    cell = f"{ep['scale']}/{ep['scenario']}"
    try:
        record = run_job((task_id, ref, ep["scale"], ep["scenario"], int(ep["seed"])))
    except Exception as exc:
        return Check("rerun-all", i, cell, int(ep["seed"]), False, f"{type(exc).__name__}: {exc}")
    diffs = compare(record, ep)
    return Check("rerun-all", i, cell, int(ep["seed"]), not diffs, "; ".join(diffs[:4]))


def _pool(workers: int) -> ProcessPoolExecutor:
    # spawn: a clean interpreter that imports only the harness and the released specs
    return ProcessPoolExecutor(max_workers=max(1, workers), mp_context=mp.get_context("spawn"))


def rerun_job(job: tuple[str, str, int, dict[str, Any], int | None]) -> tuple[Check, dict[str, Any] | None]:
    """Re-run one episode with the named policy (worker process): ``(task, ref, index, episode,
    policy_seed)``; index None = a fresh episode (returned record, no comparison)."""
    from bench.submit.isolation import run_isolated_job

    task_id, ref, i, ep, policy_seed = job
    cell = f"{ep['scale']}/{ep['scenario']}"
    kind = "rerun" if i is not None else "fresh"
    try:
        record = run_isolated_job((task_id, ref, ep["scale"], ep["scenario"], int(ep["seed"])),
                                  policy_seed=policy_seed)
    except Exception as exc:
        return Check(kind, i, cell, int(ep["seed"]), False, f"{type(exc).__name__}: {exc}"), None
    if i is None:
        return Check(kind, None, cell, int(ep["seed"]), True, f"V = {record['V']:.6g}"), record
    diffs = compare(record, ep)
    return Check(kind, i, cell, int(ep["seed"]), not diffs, "; ".join(diffs[:4])), record


def sample_per_cell(episodes: Sequence[dict[str, Any]], rng: np.random.Generator,
                    per_cell: int = 1) -> list[int]:
    """Indices of ``per_cell`` random episodes of every (scale, scenario) cell."""
    cells: dict[tuple[str, str], list[int]] = {}
    for i, ep in enumerate(episodes):
        cells.setdefault((ep["scale"], ep["scenario"]), []).append(i)
    out: list[int] = []
    for key in sorted(cells):
        idx = cells[key]
        out += sorted(rng.choice(idx, size=min(per_cell, len(idx)), replace=False).tolist())
    return out


def _ci(values: Sequence[float], rng: np.random.Generator, n: int = 2000) -> tuple[float, float]:
    """95% percentile bootstrap interval of the mean."""
    x = np.asarray(values, dtype=float)
    means = x[rng.integers(0, len(x), size=(n, len(x)))].mean(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def verify_file(path: str | Path, *, workers: int = 1, policy: str | None = None, fresh: int = 0,
                sample_seed: int | None = None, per_cell: int = 1, rerun: bool = True,
                replay: bool = True, ledger: Path | None = None, ledger_root: Path = SUBMISSIONS) -> Verdict:
    """Run the three checks on one result file (see the module docstring). ``replay=False`` skips
    check 1 only for bytes the ledger already records as replayed."""
    from bench.registry import get_spec
    from bench.submit.validator import load_valid

    verdict = Verdict(str(path))
    root = SUBMISSIONS if inside(Path(path), SUBMISSIONS) else None
    doc, problems = load_valid(path, submissions_root=root)
    if doc is None:
        errors = [str(p) for p in problems if p.severity == "error"]
        verdict.refused = "invalid: " + ("; ".join(errors[:3]) or "see rao-bench validate")
        return verdict
    try:
        sidecar = read_sidecar(doc, Path(path).parent) if "action_log" in doc else None
    except (ActionLogError, OSError) as exc:
        verdict.refused = f"the action log cannot be read: {exc}"
        return verdict
    spec = get_spec(doc["task"]["id"], warn_old=False)
    named = policy_ref(doc, policy)
    hooks = hook_decisions(spec.id, named, explicit=policy is not None)
    if hooks:
        ref = named
        verdict.notes.append(f"replay: not possible, the registered oracle {ref!r} decides through the "
                             f"env's {', '.join(hooks)} (not in its actions); every episode is re-run "
                             "in the harness instead")
        with _pool(workers) as pool:
            verdict.checks += list(pool.map(inprocess_job, [(spec.id, ref, i, ep)
                                                            for i, ep in enumerate(doc["episodes"])]))
        return verdict
    jobs, bad = replay_jobs(doc, sidecar)
    if not replay:
        from bench.submit.ledger import replayed

        when = replayed(path, ledger_root, ledger)
        if when:
            jobs, bad = [], []
            verdict.notes.append(f"replay: skipped, these exact bytes were replayed on {when} "
                                 "(leaderboard/verified.json)")
    verdict.checks += bad
    seed = sample_seed if sample_seed is not None else secrets.randbits(32)
    rng = np.random.default_rng(seed)
    ref = policy_ref(doc, policy) if (rerun or fresh) else None
    refs = run_refs(doc, ref, explicit=policy is not None)
    rerun_jobs: list[tuple[str, str, int, dict[str, Any], int | None]] = []
    if rerun and ref is not None:
        idx = sample_per_run_and_cell(doc["episodes"], rng, per_cell)
        verdict.notes.append(f"rerun: policy {ref!r}" + (f" from each run's checkpoints ({len(refs)} runs)"
                                                          if refs else "")
                             + f", {len(idx)} episode(s) sampled with seed {seed}")
        rerun_jobs = [(spec.id, refs.get(doc["episodes"][i].get("run"), ref), i, doc["episodes"][i], None)
                      for i in idx]
    elif rerun:
        verdict.notes.append("rerun: not possible, the result does not name a policy this machine "
                             "can load (a registered reference baseline, or pass --policy)")
    fresh_jobs: list[tuple[str, str, int, dict[str, Any], int | None]] = []
    if fresh > 0:
        if ref is None:
            verdict.checks.append(Check("fresh", None, "-", -1, False,
                                        "--fresh needs a policy to run (pass --policy)"))
        else:
            public = set(spec.seeds.eval) | set(range(spec.seeds.train_start, spec.seeds.train_stop))
            seeds: list[int] = []
            while len(seeds) < fresh:
                s = int(rng.integers(FRESH_SEED_LOW, 2**31 - 1))
                if s not in public and s not in seeds:
                    seeds.append(s)
            salt = secrets.token_bytes(16)
            nominal = {"scale": spec.nominal_scale.name, "scenario": "nominal"}
            fresh_ref = refs[min(refs)] if refs else ref   # a merged entry: its first run
            fresh_jobs = [(spec.id, fresh_ref, None, dict(nominal, seed=s),  # type: ignore[misc]
                           int.from_bytes(hashlib.sha256(salt + s.to_bytes(8, "little")).digest()[:4], "little"))
                          for s in seeds]
    with _pool(workers) as pool:
        verdict.checks += list(pool.map(replay_job, jobs))
        outs = list(pool.map(rerun_job, rerun_jobs + fresh_jobs))
    verdict.checks += [c for c, _ in outs[:len(rerun_jobs)]]
    fresh_out = outs[len(rerun_jobs):]
    if fresh_jobs:
        verdict.checks += [c for c, _ in fresh_out if not c.ok]
        values = [r["V"] for c, r in fresh_out if c.ok and r is not None]
        if len(values) == len(fresh_jobs):
            lo, hi = _ci(values, rng)
            v = doc["summary"]["nominal"]["V"]
            ok = lo <= v["ci_high"] and v["ci_low"] <= hi
            verdict.checks.append(Check("fresh", None, "nominal", -1, ok,
                                        f"V on {len(values)} unseen seeds: mean {np.mean(values):.6g}, 95% CI "
                                        f"[{lo:.6g}, {hi:.6g}]; submission's nominal V CI "
                                        f"[{v['ci_low']:.6g}, {v['ci_high']:.6g}]"
                                        + ("" if ok else " — they do not overlap")))
    return verdict


def format_verdict(v: Verdict, *, all_checks: bool = False) -> str:
    if v.refused:
        return f"FAIL {v.source}: {v.refused}"
    failed = [c for c in v.checks if not c.ok]
    counts: dict[str, list[int]] = {}
    for c in v.checks:
        counts.setdefault(c.kind, [0, 0])[0 if c.ok else 1] += 1
    tally = ", ".join(f"{k} {ok}/{ok + bad}" for k, (ok, bad) in counts.items())
    lines = [f"{'OK' if v.ok else 'FAIL'} {v.source}: {tally or 'no checks'}"]
    lines += [f"  note: {n}" for n in v.notes]
    lines += [f"  {c}" for c in (v.checks if all_checks else failed)]
    return "\n".join(lines)


def record_verified(paths: Iterable[str | Path], ledger: Path | None = None,
                    checks: Sequence[str] = ()) -> Path:
    """Add the verified files' sha256 to ``leaderboard/verified.json`` (maintainers, after CI),
    with the checks that passed (``replay``, ``rerun``, ``fresh``)."""
    from bench.submit.ledger import record

    return record(paths, ledger, checks=checks)


def main_verify(paths: list[str], *, workers: int = 1, policy: str | None = None, fresh: int = 0,
                sample_seed: int | None = None, record: bool = False, all_checks: bool = False,
                out: TextIO | None = None, rerun: bool = True, replay: bool = True) -> int:
    stream = out if out is not None else sys.stdout
    passed = []
    for p in paths:
        v = verify_file(p, workers=workers, policy=policy, fresh=fresh, sample_seed=sample_seed,
                        rerun=rerun, replay=replay)
        print(format_verdict(v, all_checks=all_checks), file=stream, flush=True)
        if v.ok:
            passed.append(p)
            if record:  # one file at a time, so an interrupted run keeps what it verified
                record_verified([p], checks=sorted({c.kind for c in v.checks}))
    print(f"{len(paths)} file(s): {len(passed)} verified, {len(paths) - len(passed)} not", file=stream)
    if record and passed:
        print(f"recorded in {record_verified([])}", file=stream)
    return 0 if len(passed) == len(paths) else 1
