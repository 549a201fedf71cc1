"""The evaluation protocol: run every cell's episodes (journaled, optionally in parallel) and
assemble the result document.

Episodes are independent jobs keyed by (scale, scenario, seed); each builds its own env and policy
from names, so the result is the same whichever executor or worker count runs it.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Callable

from bench.episode import run_episode
from bench.journal import Journal, episode_key
from bench.policy import PolicySource, load_policy
from bench.registry import get_spec, make
from bench.results import build_result
from bench.summary import protocol_cells

Job = tuple[str, str, str, str, int]  # (task_id, policy_ref, scale, scenario, seed)

_ENVS: dict[tuple[str, str, str], Any] = {}


def run_job(job: Job) -> dict[str, Any]:
    """Run one episode. Envs are cached per worker process (reset(seed) restores them fully, as
    the conformance checks prove); the policy is built afresh for every episode, so no state a
    policy forgets to reset can make results depend on which worker ran which seeds first."""
    task_id, ref, scale, scenario, seed = job
    key = (task_id, scale, scenario)
    if key not in _ENVS:
        _ENVS.clear()  # keep one env alive per worker: large scales are memory-hungry
        _ENVS[key] = make(task_id, scale=scale, scenario=scenario)
    env = _ENVS[key]
    env.reset(seed=seed)
    policy = load_policy(ref).build(env)
    return run_episode(env, policy, seed, get_spec(task_id))


def jobs_for(task_id: str, ref: str, protocol: str) -> list[Job]:
    spec = get_spec(task_id)
    return [(task_id, ref, c.scale, c.scenario, s)
            for c in protocol_cells(spec, protocol) for s in c.seeds]


def _run_local(jobs: list[Job], workers: int, on_done: Callable[[dict], None]) -> None:
    if workers <= 1:
        for job in jobs:
            on_done(run_job(job))
        return
    import multiprocessing as mp

    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        futures = [pool.submit(run_job, j) for j in jobs]
        for fut in as_completed(futures):
            on_done(fut.result())


def evaluate(task_id: str, policy: str | PolicySource, protocol: str = "full", *,
             workers: int = 1, executor: str = "local", journal: Path | None = None,
             progress: bool = True, command: str = "", address: str | None = None) -> dict[str, Any]:
    """Run the protocol for one policy on one task and return the result document."""
    spec = get_spec(task_id)
    source = policy if isinstance(policy, PolicySource) else load_policy(policy)
    jobs = jobs_for(spec.id, source.ref, protocol)
    header = {"task": spec.id, "spec_sha256": spec.sha256, "policy": source.ref,
              "policy_version": source.info.version, "protocol": protocol}
    store = Journal(journal, header) if journal is not None else None
    done: dict[tuple[str, str, int], dict[str, Any]] = dict(store.records) if store else {}
    todo = [j for j in jobs if (j[2], j[3], j[4]) not in done]

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), unit="ep",
                   desc=f"{spec.id} {source.info.name}", leave=False, dynamic_ncols=True)

    def on_done(record: dict[str, Any]) -> None:
        if store is not None:
            store.append(record)
        done[episode_key(record)] = record
        if bar is not None:
            bar.update(1)

    try:
        if executor == "local":
            _run_local(todo, workers, on_done)
        elif executor == "ray":
            from bench.executors_ray import run_ray

            run_ray(todo, workers, on_done, address=address)
        else:
            raise ValueError(f"executor must be 'local' or 'ray', got {executor!r}")
    finally:
        if bar is not None:
            bar.close()
    order = {(j[2], j[3], j[4]): i for i, j in enumerate(jobs)}
    episodes = sorted((r for k, r in done.items() if k in order), key=lambda r: order[episode_key(r)])
    return build_result(spec, source.info, protocol, episodes, command=command,
                        training=training_block(source, spec.id))


def training_block(source: PolicySource, task_id: str) -> dict[str, Any] | None:
    """A learner's ``algorithm.training`` block (budget, seeds, training-time violations), read
    from what its training runs recorded beside the checkpoints; None for non-learning policies."""
    record = getattr(source.factory, "training_record", None)
    return record(task_id) if callable(record) else None

