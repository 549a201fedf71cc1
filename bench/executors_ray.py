"""Ray executor: the same episode jobs as the local pool, as Ray tasks (``--executor ray``).

Each job rebuilds its env and policy from names inside the worker, so results are bit-identical
to a local run; only the order in which episodes finish differs, and the harness sorts them.
Jobs are submitted in the order given (``bench.protocol.longest_first``), which Ray's scheduler
follows as workers free up.
"""

from __future__ import annotations

from typing import Any, Callable


def run_ray(jobs: list, workers: int, on_done: Callable[[Any, dict[str, Any]], None],
            address: str | None = None,
            on_error: Callable[[Any, Exception], Callable[[Any], bool]] | None = None) -> None:
    """Run ``jobs`` as Ray tasks; see ``bench.protocol.run_jobs`` for ``on_done``/``on_error``."""
    try:
        import ray
    except ImportError as exc:  # the [ray] extra is optional
        raise ValueError("--executor ray needs Ray: pip install 'rao-bench[ray]'") from exc
    from bench.protocol import run_job

    started = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=max(1, workers), include_dashboard=False, log_to_driver=False)
        started = True
    try:
        remote = ray.remote(num_cpus=1)(run_job)
        job_of = {}
        for j in jobs:
            job_of[remote.remote(j)] = j
        pending = list(job_of)
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                if pending:  # collect everything else already finished in the same pass
                    more, pending = ray.wait(pending, num_returns=len(pending), timeout=0)
                    ready += more
                for ref in ready:
                    job = job_of.pop(ref)
                    try:
                        record = ray.get(ref)
                    except ray.exceptions.RayTaskError as err:
                        cause = err.as_instanceof_cause()
                        if on_error is None or not isinstance(cause, Exception):
                            raise
                        dropped = on_error(job, cause)
                        skip = [r for r in pending if dropped(job_of[r])]
                        for r in skip:
                            ray.cancel(r)
                            job_of.pop(r)
                        pending = [r for r in pending if r in job_of]
                        continue
                    on_done(job, record)
        except BaseException:
            for ref in pending:  # on a cluster we did not start, do not leave the rest running
                ray.cancel(ref)
            raise
    finally:
        if started:
            ray.shutdown()
