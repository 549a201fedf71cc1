"""RAO-Bench harness: versioned task specs, PettingZoo envs, evaluation protocol, metrics,
result JSON, validator and leaderboard."""

from __future__ import annotations

import os

# One BLAS thread per process, unless the caller set it: the harness runs in parallel by processes
# (workers, training jobs), and the envs' linear algebra is small (an IEEE 33 or SimBench power flow:
# ~100 x 100 products). With OpenBLAS's thread pool on a loaded 2-core machine a SimBench step took
# 18.6 ms of CPU instead of 1.7 ms (docs/performance.md, section 14). Must precede numpy's import.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
del _var

from typing import Any  # noqa: E402

from bench.registry import get_spec, make, task_ids  # noqa: E402

__version__ = "0.1.0"
__all__ = ["make", "get_spec", "task_ids", "hyperscore", "evaluate", "__version__"]


def __getattr__(name: str) -> Any:
    # metrics pulls in scipy; import it only when asked for
    if name == "hyperscore":
        from bench.metrics import hyperscore

        return hyperscore
    if name == "evaluate":  # bench.api.evaluate: tune on training seeds from Python
        from bench.api import evaluate

        return evaluate
    raise AttributeError(f"module 'bench' has no attribute {name!r}")
