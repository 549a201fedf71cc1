"""What every validation stage shares: the findings (Problem, Report), the state of one run
(Run) and small helpers for untrusted JSON values (bounded rendering, JSON paths, number kinds)."""

from __future__ import annotations

import difflib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterator

from bench.spec import TaskSpec

MAX_BYTES = 64 * 1024 * 1024
TOL = 1e-9  # relative and absolute tolerance of every recomputed number
MAX_EXACT_INT = 2**53  # larger integers do not survive a round trip through a JSON double
MAX_INT_BITS = 13_000  # ~4000 digits: below Python's str() limit, which json.loads also applies
STAGES = ("file", "schema", "text", "task", "coverage", "training", "numbers", "recompute",
          "actions", "provenance", "eligibility", "identity")
ERROR, WARNING, SKIPPED = "error", "warning", "skipped"

PathT = tuple[Any, ...]


@dataclass(frozen=True)
class Problem:
    """One finding: which stage found it, where (a JSON path such as ``$.episodes[3].V``) and what
    was found versus expected. ``severity`` is ``error`` (invalid), ``warning`` (valid but worth
    knowing, e.g. not eligible to rank) or ``skipped`` (a stage that could not run)."""

    stage: str
    path: str
    message: str
    severity: str = ERROR

    def __str__(self) -> str:
        tag = "" if self.severity == ERROR else f"{self.severity}: "
        return f"[{self.stage}] {self.path}: {tag}{self.message}"


@dataclass
class Report:
    """Everything the validator found in one document; ``ok`` is True iff there is no error."""

    source: str
    problems: list[Problem] = field(default_factory=list)
    #: the summary the harness recomputed from the episodes (None if it could not be); the
    #: leaderboard shows this one, never the submitted one
    summary: dict[str, Any] | None = None
    #: the parsed document when it is valid (None otherwise)
    document: Any = field(default=None, repr=False, compare=False)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def eligible(self) -> bool:
        """Valid and allowed on the leaderboard (not a quick run, not an oracle, a registered name
        that agrees with its entry)."""
        return self.ok and not any(p.stage in ("eligibility", "identity") for p in self.problems)


# ----------------------------------------------------------------------------------------------
# Small helpers
# ----------------------------------------------------------------------------------------------

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def json_path(parts: PathT) -> str:
    """``("episodes", 3, "V")`` -> ``$.episodes[3].V`` (odd keys in brackets, JSON-quoted)."""
    out = "$"
    for p in parts:
        if isinstance(p, int) and not isinstance(p, bool):
            out += f"[{p}]"
        elif isinstance(p, str) and _IDENT.match(p):
            out += f".{p}"
        else:
            out += f"[{show(str(p))}]"
    return out


def show(value: Any, limit: int = 60) -> str:
    """A short JSON-like rendering of a submitted value, bounded so that a hostile file cannot
    flood the report."""
    try:
        text = json.dumps(value, allow_nan=True, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        try:
            text = repr(value)
        except (ValueError, RecursionError):  # e.g. an int beyond Python's str() digit limit
            text = f"<{json_type(value)}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def finite(x: Any) -> bool:
    if not is_num(x):
        return False
    try:
        return math.isfinite(x)
    except OverflowError:  # an int too large for a double
        return False


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=TOL, abs_tol=TOL)


def json_type(x: Any) -> str:
    if x is None:
        return "null"
    if isinstance(x, bool):
        return "boolean"
    if isinstance(x, int):
        return "integer"
    if isinstance(x, float):
        return "number"
    if isinstance(x, str):
        return "string"
    if isinstance(x, (list, tuple)):
        return "array"
    if isinstance(x, dict):
        return "object"
    return type(x).__name__


def hint(word: str, options: list[str]) -> str:
    hits = difflib.get_close_matches(word, options, n=1, cutoff=0.5)
    return f" Did you mean {hits[0]!r}?" if hits else ""


def dget(obj: Any, *keys: Any) -> Any:
    """``obj[k1][k2]...`` or None when any level is missing or of the wrong kind."""
    for k in keys:
        if isinstance(k, int) and isinstance(obj, list) and 0 <= k < len(obj):
            obj = obj[k]
        elif isinstance(obj, dict) and k in obj:
            obj = obj[k]
        else:
            return None
    return obj


class Run:
    """State shared by the stages of one validation."""

    def __init__(self, doc: dict[str, Any], report: Report,
                 numbers: list[tuple[PathT, int | float]]) -> None:
        self.doc = doc
        self.numbers = numbers  # every number in doc, with its path
        self.report = report
        self.schema_paths: set[PathT] = set()  # paths the schema already complained about
        self.bad_episodes: set[int] = set()  # episodes with schema or non-finite problems
        self.episodes_broken = False  # $.episodes itself is unusable
        self.nonfinite: set[PathT] = set()
        self.spec: TaskSpec | None = None
        self.spec_missing_reason = ""
        self.stage = "file"
        self.summary: dict[str, Any] | None = None  # the summary recomputed from the episodes
        self.folder: Any = None  # the result file's folder (for its sidecar), None for a document

    def add(self, path: PathT | str, message: str, severity: str = ERROR) -> None:
        where = path if isinstance(path, str) else json_path(path)
        self.report.problems.append(Problem(self.stage, where, message, severity))

    def blocked(self, path: PathT | str, message: str) -> None:
        """A check that cannot run is an error at the field that stops it (never a silent skip:
        whatever it would have checked must not be trusted unchecked)."""
        self.add(path, f"cannot be checked: {message}")

    def episodes(self) -> Iterator[tuple[int, dict[str, Any]]]:
        eps = self.doc.get("episodes")
        if isinstance(eps, list):
            for i, ep in enumerate(eps):
                if isinstance(ep, dict):
                    yield i, ep




def walk_numbers(doc: Any) -> Iterator[tuple[PathT, Any]]:
    """Every number in ``doc`` with its path; iterative (no recursion limit) and cycle-safe."""
    stack: list[tuple[PathT, Any]] = [((), doc)]
    seen: set[int] = set()
    while stack:
        path, obj = stack.pop()
        if isinstance(obj, (dict, list)):
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            items = obj.items() if isinstance(obj, dict) else enumerate(obj)
            stack.extend((path + (k,), v) for k, v in reversed(list(items)))
        elif is_num(obj):
            yield path, obj

