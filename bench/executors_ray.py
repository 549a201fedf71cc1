"""Ray executor: the same episode jobs as the local pool, as Ray tasks (``--executor ray``).

Each job rebuilds its env and policy from names inside the worker, so results are bit-identical
to a local run; only the order in which episodes finish differs, and the harness sorts them.
"""

from __future__ import annotations

from typing import Any, Callable


def run_ray(jobs: list, workers: int, on_done: Callable[[dict[str, Any]], None],
            address: str | None = None) -> None:
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
        pending = [remote.remote(j) for j in jobs]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                on_done(ray.get(ref))
    finally:
        if started:
            ray.shutdown()
