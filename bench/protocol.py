"""The evaluation protocol: run every cell's episodes (journaled, optionally in parallel) and
assemble the result document.

Episodes are independent jobs keyed by (scale, scenario, seed); each builds its own env and policy
from names, so the result is the same whichever executor or worker count runs it, and in
whichever order. ``evaluate`` runs one policy on one task; ``sweep`` runs many (task, policy)
evaluations as ONE job list on one pool (``rao-bench baselines``): starting a pool per evaluation
costs each worker its start-up and imports every time, and its last jobs leave the other workers
idle, which on two cores wasted most of the second one on the small evaluations.
"""

from __future__ import annotations

import warnings
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from bench.episode import EpisodeError, episode_error, run_episode
from bench.journal import Journal, episode_key
from bench.policy import PolicyError, PolicyInfoWarning, PolicySource, harness_paradigm, load_policy
from bench.progress import Progress
from bench.registry import get_spec, make
from bench.results import build_result
from bench.spec import TaskSpec
from bench.summary import protocol_cells

Job = tuple[str, str, str, str, int]  # (task_id, policy_ref, scale, scenario, seed)
OnDone = Callable[[Job, dict[str, Any]], None]
OnError = Callable[[Job, Exception], Callable[[Job], bool]]

_ENVS: dict[tuple[str, str, str], Any] = {}


def run_job(job: Job) -> dict[str, Any]:
    """Run one episode. Envs are cached per worker process (reset(seed) restores them fully, as
    the conformance checks prove); the policy is built afresh for every episode, so no state a
    policy forgets to reset can make results depend on which worker ran which seeds first."""
    task_id, ref, scale, scenario, seed = job
    key = (task_id, scale, scenario)
    where = "make (building the env)"
    try:
        if key not in _ENVS:
            _ENVS.clear()  # keep one env alive per worker: large scales are memory-hungry
            _ENVS[key] = make(task_id, scale=scale, scenario=scenario)
        env = _ENVS[key]
        where = "env.reset"
        env.reset(seed=seed)
        where = "the policy factory"
        with warnings.catch_warnings():  # the main process has shown it once already
            warnings.simplefilter("ignore", PolicyInfoWarning)
            source = load_policy(ref)
        policy = source.build(env)
        where = "harness"
        return run_episode(env, policy, seed, get_spec(task_id))
    except Exception as exc:
        err = episode_error(exc, where, task=task_id, scale=scale, scenario=scenario, seed=seed,
                            step=None)
        err.context["policy"] = ref
        err.context["short"] = isinstance(exc, PolicyError)  # the message says it all
        if err is exc:
            raise  # run_episode wrapped it already, chained to the original
        raise err from exc


def rerun_command(context: Mapping[str, Any]) -> str:
    """The command that re-runs exactly the episode an :class:`EpisodeError` describes, in the
    foreground with the full traceback (``rao-bench episode``)."""
    import shlex

    args = ["rao-bench", "episode", str(context.get("task"))]
    for key in ("policy", "scale", "scenario", "seed"):
        if context.get(key) is not None:
            args += [f"--{key}", str(context[key])]
    return " ".join(shlex.quote(a) for a in args)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped a run: ``done`` of ``total`` episodes finished, ``journaled`` of them are
    in journals (a re-run of the same command resumes from those)."""

    def __init__(self, done: int, total: int, journaled: int) -> None:
        super().__init__(done, total, journaled)
        self.done, self.total, self.journaled = done, total, journaled


def _interrupted(runs: Sequence["Run"]) -> Interrupted:
    """Counts what is on disk (re-read: Ctrl-C may land between a journal write and its
    bookkeeping), which is exactly what a re-run resumes from."""
    journaled = sum(len(Journal(r.store.path, r.store.header).records) for r in runs if r.store is not None)
    return Interrupted(max(journaled, sum(len(r.done) for r in runs)), sum(len(r.jobs) for r in runs),
                       journaled)


def _ignore_sigint() -> None:
    """Pool workers ignore Ctrl-C: the parent stops them, so no worker prints a traceback."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def jobs_for(task_id: str, ref: str, protocol: str) -> list[Job]:
    spec = get_spec(task_id)
    return [(task_id, ref, c.scale, c.scenario, s)
            for c in protocol_cells(spec, protocol) for s in c.seeds]


def job_cost(job: Job) -> int:
    """Scheduling estimate of a job's run time: its agent-steps (agents of the scale x the
    horizon), the quantity env and decision time both grow with (docs/performance.md)."""
    spec = get_spec(job[0])
    return spec.scale(job[2]).agents * spec.horizon


def longest_first(jobs: Sequence[Job], cost: Callable[[Job], float] = job_cost) -> list[Job]:
    """``jobs`` in decreasing estimated cost (longest-processing-time-first, which bounds the
    idle tail at the end of a pool by the last jobs, i.e. the shortest). Jobs of equal cost keep
    a fixed order that groups each (task, scale, scenario) cell, so a worker reuses its cached env.
    The order changes only when results arrive, never what they are."""
    return sorted(jobs, key=lambda j: (-cost(j), j[0], j[2], j[3], j[1], j[4]))


def run_isolated(job: Job) -> dict[str, Any]:
    """``run_job`` with the policy in its own process (``bench.submit.isolation``): slower, and
    the same record for an honest policy."""
    from bench.submit.isolation import run_isolated_job

    return run_isolated_job(job)


def _run_local(jobs: Sequence[Job], workers: int, on_done: OnDone,
               on_error: OnError | None = None, runner: Callable[[Job], dict[str, Any]] = run_job) -> None:
    if workers <= 1:
        dropped: Callable[[Job], bool] = lambda job: False  # noqa: E731
        for job in jobs:
            if dropped(job):
                continue
            try:
                record = runner(job)
            except Exception as exc:
                if on_error is None:
                    raise
                dropped = on_error(job, exc)
                continue
            on_done(job, record)
        return
    import multiprocessing as mp

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                               initializer=_ignore_sigint)
    try:
        # submitted in order: the pool hands jobs to idle workers first-in first-out
        pending = {pool.submit(runner, j): j for j in jobs}
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                job = pending.pop(fut)
                exc = fut.exception()
                if exc is None:
                    on_done(job, fut.result())
                elif on_error is None or not isinstance(exc, Exception):
                    raise exc
                else:
                    dropped = on_error(job, exc)
                    for f, j in list(pending.items()):   # skip what the error makes pointless
                        if dropped(j) and f.cancel():
                            del pending[f]
    except BaseException as exc:
        # a failed episode or Ctrl-C: stop now, not after every queued job has run (the journal
        # keeps what finished); on Ctrl-C the running episodes are abandoned too
        if isinstance(exc, KeyboardInterrupt):
            for proc in list(getattr(pool, "_processes", {}).values()):
                proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def run_jobs(jobs: Sequence[Job], on_done: OnDone, *, workers: int = 1, executor: str = "local",
             address: str | None = None, on_error: OnError | None = None,
             isolate: bool = False) -> None:
    """Run ``jobs`` on the chosen executor, calling ``on_done(job, record)`` in the calling
    process as each finishes (in completion order). Jobs start in the order given. A job that
    raises stops the whole run, unless ``on_error(job, exception)`` is given: it is called instead
    and returns a predicate naming the jobs not yet started that need not run any more."""
    if executor == "local":
        _run_local(jobs, workers, on_done, on_error, run_isolated if isolate else run_job)
    elif executor == "ray":
        from bench.executors_ray import run_ray

        if isolate:
            raise ValueError("isolate=True runs on the local executor only")
        run_ray(list(jobs), workers, on_done, address=address, on_error=on_error)
    else:
        raise ValueError(f"executor must be 'local' or 'ray', got {executor!r}")


@dataclass
class Run:
    """One (task, policy) evaluation: its jobs, its journal and the episodes finished so far."""

    task_id: str
    policy: str | PolicySource
    protocol: str = "full"
    journal: Path | None = None
    command: str = ""
    spec: TaskSpec = field(init=False)
    source: PolicySource = field(init=False)
    jobs: list[Job] = field(init=False)
    done: dict[tuple[str, str, int], dict[str, Any]] = field(init=False)
    store: Journal | None = field(init=False)

    def __post_init__(self) -> None:
        self.spec = get_spec(self.task_id)
        self.source = self.policy if isinstance(self.policy, PolicySource) else load_policy(self.policy)
        self.jobs = jobs_for(self.spec.id, self.source.ref, self.protocol)
        header = {"task": self.spec.id, "spec_sha256": self.spec.sha256, "policy": self.source.ref,
                  "policy_version": self.source.info.version, "protocol": self.protocol}
        self.store = Journal(self.journal, header) if self.journal is not None else None
        self.done = dict(self.store.records) if self.store else {}

    @property
    def key(self) -> tuple[str, str]:
        return (self.spec.id, self.source.ref)

    def todo(self) -> list[Job]:
        return [j for j in self.jobs if (j[2], j[3], j[4]) not in self.done]

    def record(self, record: dict[str, Any]) -> None:
        if self.store is not None:
            self.store.append(record)
        self.done[episode_key(record)] = record

    def episodes(self) -> list[dict[str, Any]]:
        """Finished episodes of this run's jobs, in protocol order (cell by cell, seed by seed)."""
        order = {(j[2], j[3], j[4]): i for i, j in enumerate(self.jobs)}
        return sorted((r for k, r in self.done.items() if k in order),
                      key=lambda r: order[episode_key(r)])

    def result(self) -> dict[str, Any]:
        return build_result(self.spec, self.source.info, self.protocol, self.episodes(),
                            command=self.command, training=training_block(self.source, self.spec.id),
                            paradigm=harness_paradigm(self.source))


def evaluate(task_id: str, policy: str | PolicySource, protocol: str = "full", *,
             workers: int = 1, executor: str = "local", journal: Path | None = None,
             progress: bool = True, command: str = "", address: str | None = None,
             isolate: bool = False) -> dict[str, Any]:
    """Run the protocol for one policy on one task and return the result document; with
    ``isolate`` the policy runs in its own process (bench.submit.isolation)."""
    run = Run(task_id, policy, protocol, journal)
    spec, source = run.spec, run.source
    todo = run.todo()
    bar = Progress(todo, len(run.jobs), f"{spec.id} {source.info.name}", cost=job_cost,
                   workers=workers, cost_in_seconds=False, enabled=progress)

    def on_done(job: Job, record: dict[str, Any]) -> None:
        run.record(record)
        bar.update(job, record)

    try:
        run_jobs(longest_first(todo), on_done, workers=workers, executor=executor, address=address,
                 isolate=isolate)
    except KeyboardInterrupt:
        raise _interrupted([run]) from None
    finally:
        bar.close()
    return build_result(spec, source.info, protocol, run.episodes(), command=command,
                        training=training_block(source, spec.id), paradigm=harness_paradigm(source))


def training_block(source: PolicySource, task_id: str) -> dict[str, Any] | None:
    """A learner's ``algorithm.training`` block (budget, seeds, training-time violations), read
    from what its training runs recorded beside the checkpoints; None for non-learning policies."""
    record = getattr(source.factory, "training_record", None)
    return record(task_id) if callable(record) else None


def sweep(runs: Sequence[Run], on_result: Callable[[Run, dict[str, Any]], None], *,
          workers: int = 1, executor: str = "local", address: str | None = None,
          progress: bool = True, cost: Callable[[Job], float] = job_cost) -> dict[tuple[str, str], str]:
    """Run many evaluations as one job list on one pool, longest jobs first; as soon as the last
    episode of a run finishes (or at once, if its journal already holds them all), its result
    document is assembled and passed to ``on_result(run, result)``. Each run keeps its own
    journal, so an interrupted sweep resumes every unfinished run where it stopped. ``cost``
    estimates a job's run time for the ordering and, in seconds (as ``cost_from_previous``
    gives), the progress bar's ETA from its first update (``bench.progress``).

    An episode that raises fails its run only: the run's remaining jobs are skipped, the other
    runs go on. Returns ``{run.key: error message}`` of the failed runs (empty if none)."""
    by_key: dict[tuple[str, str], Run] = {}
    for run in runs:
        if run.key in by_key:
            raise ValueError(f"sweep: {run.key[1]} on {run.key[0]} is listed twice")
        by_key[run.key] = run
    left = {run.key: len(run.todo()) for run in runs}
    for run in runs:
        if left[run.key] == 0:
            on_result(run, run.result())
    todo = [j for run in runs for j in run.todo()]
    total = sum(len(run.jobs) for run in runs)
    bar = Progress(todo, total, f"{len(runs)} evaluations", cost=cost, workers=workers,
                   cost_in_seconds=cost is not job_cost, enabled=progress)
    failed: dict[tuple[str, str], str] = {}

    def on_done(job: Job, record: dict[str, Any]) -> None:
        run = by_key[(job[0], job[1])]
        run.record(record)
        left[run.key] -= 1
        bar.update(job, record)
        if left[run.key] == 0 and run.key not in failed:
            on_result(run, run.result())

    def on_error(job: Job, exc: Exception) -> Callable[[Job], bool]:
        key = (job[0], job[1])
        if isinstance(exc, EpisodeError):
            message = f"{exc}; re-run that episode alone: {rerun_command(exc.context)}"
        else:
            message = f"{type(exc).__name__}: {exc} (episode {job[2]}/{job[3]}/seed {job[4]})"
        failed.setdefault(key, message)
        bar.drop(lambda j: (j[0], j[1]) in failed)
        return lambda j: (j[0], j[1]) in failed

    try:
        run_jobs(longest_first(todo, cost), on_done, workers=workers, executor=executor,
                 address=address, on_error=on_error)
    except KeyboardInterrupt:
        raise _interrupted(runs) from None
    finally:
        bar.close()
    return failed


def cost_from_previous(previous: Mapping[tuple[str, str], Mapping[str, Any]]
                       ) -> Callable[[Job], float]:
    """A job-cost estimate (seconds) for ``longest_first`` from earlier results of the same
    evaluations, ``{(task_id, policy_ref): result document}`` (e.g. the committed leaderboard):
    the mean measured time (simulation + decisions) of the job's cell in its evaluation's earlier
    result; for a job without one, its agent-steps times the median seconds per agent-step over
    all earlier episodes. Only the order of the jobs depends on it, never their results."""
    cell_time: dict[tuple[str, str, str, str], list[float]] = {}
    rates: list[float] = []
    for (task_id, ref), doc in previous.items():
        for ep in doc.get("episodes", []):
            try:
                sec = float(ep["sim_time_s"]) + float(ep["decision_time_per_agent_step_s"]) * int(ep["agent_steps"])
                cell_time.setdefault((task_id, ref, str(ep["scale"]), str(ep["scenario"])), []).append(sec)
                rates.append(sec / max(int(ep["agent_steps"]), 1))
            except (KeyError, TypeError, ValueError):
                continue  # an old or hand-edited file: no hint from this episode
    means = {k: sum(v) / len(v) for k, v in cell_time.items()}
    rate = sorted(rates)[len(rates) // 2] if rates else 1e-4

    def cost(job: Job) -> float:
        known = means.get((job[0], job[1], job[2], job[3]))
        return known if known is not None else job_cost(job) * rate

    return cost
