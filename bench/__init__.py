"""RAO-Bench harness: versioned task specs, PettingZoo envs, evaluation protocol, metrics,
result JSON, validator and leaderboard."""

from __future__ import annotations

from typing import Any

from bench.registry import get_spec, make, task_ids

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
