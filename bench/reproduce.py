"""What "reproduces" means across machines: one definition used by every test and tool that
compares a fresh run with a committed record.

On one machine an episode is bit-identical (``bench.checks`` tests that). Across machines it is
not: numpy's SIMD kernels and the BLAS build pick different summation orders on different CPUs,
so a float can differ in its last few bits (observed: 5.4245614657722784e-05 vs
5.424561465772277e-05 between an Intel and an AMD host). The tolerance below is about a
million ulps, far above that noise and far below any difference a policy or a task change makes.

Rules:
- ``bool``, ``int``, ``str``, ``None``: exact (counts, seeds, discrete actions, names).
- floats: ``|a - b| <= max(REL_TOL * max(|a|, |b|), ABS_TOL)``. The absolute floor covers values
  that are zero up to rounding (a cost of 1e-17 on one CPU and 0.0 on another).
- an int on one side and a float on the other is a difference (JSON integers stay integers).
- dicts: same keys; lists: same length; compared element by element.
- ``TIMING_FIELDS`` (wall-clock measurements) are ignored.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

from bench.episode import TIMING_FIELDS

REL_TOL = 1e-9
ABS_TOL = 1e-12


def floats_close(a: float, b: float, rel: float = REL_TOL, abs_: float = ABS_TOL) -> bool:
    """The float rule above; NaN equals NaN and infinities must match exactly."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= max(rel * max(abs(a), abs(b)), abs_)


def differences(fresh: Any, committed: Any, path: str = "", *,
                ignore: Iterable[str] = TIMING_FIELDS, limit: int = 20) -> list[str]:
    """Every place where ``fresh`` does not reproduce ``committed`` (empty list: it reproduces).

    ``ignore`` names dict keys skipped at any depth. At most ``limit`` differences are listed.
    """
    out: list[str] = []
    _diff(fresh, committed, path or "$", frozenset(ignore), out, limit)
    return out


def reproduces(fresh: Any, committed: Any, *, ignore: Iterable[str] = TIMING_FIELDS) -> bool:
    """True when ``fresh`` reproduces ``committed`` under the rules of this module."""
    return not differences(fresh, committed, ignore=ignore, limit=1)


def assert_reproduces(fresh: Any, committed: Any, *, ignore: Iterable[str] = TIMING_FIELDS) -> None:
    """``assert`` form for tests: the message lists where the two differ."""
    diffs = differences(fresh, committed, ignore=ignore)
    assert not diffs, "does not reproduce (floats rel %g, abs %g):\n  " % (REL_TOL, ABS_TOL) + \
        "\n  ".join(diffs)


#: What a re-run of a result may change without changing the result: wall-clock timings, the
#: provenance block (time, commit, platform), the summary statistics computed from timings, and
#: the action logs' digests (a continuous action can differ in its last bits on another CPU; the
#: committed log still replays to the committed records within the tolerance above).
RESULT_VOLATILE = frozenset(TIMING_FIELDS) | {"provenance", "decision_time_slope", "actions",
                                              "action_log"}


def result_reproduces(fresh: Any, committed: Any) -> bool:
    """Whether a freshly evaluated result document reproduces a committed one (everything but
    :data:`RESULT_VOLATILE` within the tolerance above, and the committed file has action logs
    if the fresh one does). ``rao-bench evaluate/baselines`` then leave the committed file (and
    its action-log sidecar) untouched, so re-running the reference sweep on a clean clone on any
    machine leaves ``git status`` clean."""
    if isinstance(fresh, dict) and isinstance(committed, dict) \
            and "action_log" in fresh and "action_log" not in committed:
        return False  # the committed file predates action logs: write the new one
    return not differences(fresh, committed, ignore=RESULT_VOLATILE, limit=1)


def _plain(x: Any) -> Any:
    """numpy scalars and arrays as the Python values JSON would hold."""
    return x.tolist() if hasattr(x, "tolist") and not isinstance(x, (list, tuple, dict)) else x


def _kind(x: Any) -> str:
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return "exact"
    if isinstance(x, int):
        return "int"
    if isinstance(x, float):
        return "float"
    if isinstance(x, dict):
        return "dict"
    if isinstance(x, (list, tuple)):
        return "list"
    return type(x).__name__


def _diff(a: Any, b: Any, path: str, ignore: frozenset[str], out: list[str], limit: int) -> None:
    if len(out) >= limit:
        return
    a, b = _plain(a), _plain(b)
    ka, kb = _kind(a), _kind(b)
    if ka != kb:
        out.append(f"{path}: {a!r} ({type(a).__name__}) vs {b!r} ({type(b).__name__})")
    elif ka == "float":
        if not floats_close(a, b):
            out.append(f"{path}: {a!r} vs {b!r}")
    elif ka == "dict":
        keys_a, keys_b = set(a) - ignore, set(b) - ignore
        for k in sorted(keys_a ^ keys_b, key=str):
            out.append(f"{path}.{k}: only in {'fresh' if k in keys_a else 'committed'}")
        for k in sorted(keys_a & keys_b, key=str):
            _diff(a[k], b[k], f"{path}.{k}", ignore, out, limit)
    elif ka == "list":
        if len(a) != len(b):
            out.append(f"{path}: length {len(a)} vs {len(b)}")
            return
        for i, (x, y) in enumerate(zip(a, b)):
            _diff(x, y, f"{path}[{i}]", ignore, out, limit)
    elif a != b:
        out.append(f"{path}: {a!r} vs {b!r}")
