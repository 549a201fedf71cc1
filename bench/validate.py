"""Check a result file before it may reach the leaderboard (``rao-bench validate FILE...``).

A submission is untrusted data. The checks run in stages (file, schema, task, coverage, numbers,
recompute, provenance) and every problem found is reported at once, each with its JSON path, so a
submitter can fix everything in one round. A stage that cannot run because an earlier one found the
document structurally broken is skipped with one note saying why; the validator itself never raises
on bad input. Scores are never trusted: V, HyperScore and the whole summary are recomputed from the
episodes with the released spec and the harness's own code (:func:`bench.summary.summarise`).
Nothing named in a submission is imported or run; only the registry's released specs are loaded.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import json
import math
import re
import sys
import warnings
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator, TextIO

import jsonschema

from bench import metrics, registry
from bench.spec import SpecError, TaskSpec
from bench.summary import PROTOCOLS, protocol_cells, protocol_seeds, summarise
from bench.validate_training import check_training

SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "result.schema.json"
MAX_BYTES = 64 * 1024 * 1024
TOL = 1e-9  # relative and absolute tolerance of every recomputed number
MAX_EXACT_INT = 2**53  # larger integers do not survive a round trip through a JSON double
_MAX_INT_BITS = 13_000  # ~4000 digits: below Python's str() limit, which json.loads also applies
STAGES = ("file", "schema", "task", "coverage", "training", "numbers", "recompute", "provenance", "eligibility")
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
        """Valid and allowed on the leaderboard (not a quick run, not an oracle)."""
        return self.ok and not any(p.stage == "eligibility" for p in self.problems)


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
            out += f"[{_show(str(p))}]"
    return out


def _show(value: Any, limit: int = 60) -> str:
    """A short JSON-like rendering of a submitted value, bounded so that a hostile file cannot
    flood the report."""
    try:
        text = json.dumps(value, allow_nan=True, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        try:
            text = repr(value)
        except (ValueError, RecursionError):  # e.g. an int beyond Python's str() digit limit
            text = f"<{_json_type(value)}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _finite(x: Any) -> bool:
    if not _is_num(x):
        return False
    try:
        return math.isfinite(x)
    except OverflowError:  # an int too large for a double
        return False


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=TOL, abs_tol=TOL)


def _json_type(x: Any) -> str:
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


def _hint(word: str, options: list[str]) -> str:
    hits = difflib.get_close_matches(word, options, n=1, cutoff=0.5)
    return f" Did you mean {hits[0]!r}?" if hits else ""


def _dget(obj: Any, *keys: Any) -> Any:
    """``obj[k1][k2]...`` or None when any level is missing or of the wrong kind."""
    for k in keys:
        if isinstance(k, int) and isinstance(obj, list) and 0 <= k < len(obj):
            obj = obj[k]
        elif isinstance(obj, dict) and k in obj:
            obj = obj[k]
        else:
            return None
    return obj


class _Run:
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

    def add(self, path: PathT | str, message: str, severity: str = ERROR) -> None:
        where = path if isinstance(path, str) else json_path(path)
        self.report.problems.append(Problem(self.stage, where, message, severity))

    def skip(self, message: str) -> None:
        self.add("$", message, SKIPPED)

    def episodes(self) -> Iterator[tuple[int, dict[str, Any]]]:
        eps = self.doc.get("episodes")
        if isinstance(eps, list):
            for i, ep in enumerate(eps):
                if isinstance(ep, dict):
                    yield i, ep


# ----------------------------------------------------------------------------------------------
# Stage 1: file
# ----------------------------------------------------------------------------------------------


class _Unparsable(ValueError):
    """The bytes are not a JSON text; the message says why and where."""


def _parse(data: bytes, run_add: Callable[[str, str], None]) -> Any:
    """Decode and parse ``data``; duplicate keys are recorded with ``run_add`` (the document is
    still usable), anything worse raises :class:`_Unparsable`."""
    if data.startswith(b"\xef\xbb\xbf"):
        raise _Unparsable("the file starts with a UTF-8 byte-order mark; expected plain UTF-8 "
                          "JSON without one (RFC 8259)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Unparsable(f"not UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start} cannot "
                          f"be decoded ({exc.reason}); expected a UTF-8 encoded JSON file") from None
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in items:
            if k in out:
                duplicates.append(k)
            out[k] = v
        return out

    try:
        doc = json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        raise _Unparsable(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno} "
                          f"(character {exc.pos}); expected a JSON document written by "
                          "`rao-bench evaluate`") from None
    except RecursionError:
        raise _Unparsable("not usable JSON: nested too deeply to parse; expected a result "
                          "document") from None
    except ValueError as exc:  # e.g. an integer literal with too many digits
        raise _Unparsable(f"not usable JSON: {exc}") from None
    for k in sorted(set(duplicates)):
        run_add("$", f"key {_show(k)} appears more than once in one object; expected unique keys "
                     "(readers disagree on which copy wins)")
    return doc


def _refuse(report: Report, where: str, message: str) -> Report:
    """Record why the file stage refused the input, and that no later stage ran."""
    report.problems.append(Problem("file", where, message))
    report.problems.append(Problem("file", "$", "no later stage was run on this input",
                                   SKIPPED))
    return report


def validate_file(path: str | Path, *, max_bytes: int = MAX_BYTES) -> Report:
    """Validate the result file at ``path``; the size is checked before anything is read."""
    report = Report(str(path))

    def file_problem(where: str, message: str) -> None:
        report.problems.append(Problem("file", where, message))

    p = Path(path)
    try:
        st = p.stat()
        if not p.is_file():
            return _refuse(report, "$", "not a regular file; expected a result JSON file")
        if st.st_size > max_bytes:
            return _refuse(report, "$", f"the file is {st.st_size} bytes; expected at most "
                                        f"{max_bytes} bytes (a result for one task is far smaller)")
        with open(p, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        return _refuse(report, "$", f"cannot read the file: {exc.strerror or exc}")
    if len(data) > max_bytes:  # it grew after stat
        return _refuse(report, "$", f"the file is larger than {max_bytes} bytes; expected at most that")
    try:
        doc = _parse(data, file_problem)
    except _Unparsable as exc:
        return _refuse(report, "$", str(exc))
    _validate(doc, report)
    return report


def validate_document(doc: Any, *, source: str = "<document>") -> Report:
    """Validate an already-parsed result document (e.g. one just built by the evaluator)."""
    report = Report(source)
    _validate(doc, report)
    return report


def _validate(doc: Any, report: Report) -> None:
    if not isinstance(doc, dict):
        _refuse(report, "$", f"the top level is {_json_type(doc)}; expected an object (a result "
                             "document)")
        return
    numbers = list(_walk_numbers(doc))
    for path, x in numbers:
        if _is_int(x) and x.bit_length() > _MAX_INT_BITS:
            # json.loads refuses such literals in a file; refuse them in a document the same way
            _refuse(report, json_path(path), "found an integer of over 4000 digits; expected JSON "
                                             "numbers of ordinary size")
            return
    run = _Run(doc, report, numbers)
    for stage, check in _STAGES:
        run.stage = stage
        try:
            check(run)
        except Exception as exc:  # a validator bug must not pass a file or crash the CLI
            run.add("$", f"the validator could not finish this stage ({type(exc).__name__}: "
                         f"{_show(str(exc), 200)}); the document is treated as invalid")


# ----------------------------------------------------------------------------------------------
# Stage 2: schema
# ----------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _schema_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _path_key(parts: PathT) -> tuple[tuple[int, Any], ...]:
    return tuple((0, p) if isinstance(p, int) else (1, str(p)) for p in parts)


def _schema_messages(err: jsonschema.ValidationError) -> Iterator[tuple[PathT, str]]:
    """Turn one schema error into (path, 'found ...; expected ...') pairs."""
    path = tuple(err.absolute_path)
    inst, kind, want = err.instance, err.validator, err.validator_value
    if kind == "required" and isinstance(inst, dict):
        for key in want:
            if key not in inst:
                yield path + (key,), "missing; this field is required"
    elif kind == "additionalProperties" and isinstance(inst, dict):
        allowed = sorted(err.schema.get("properties", {}))
        for key in inst:
            if key not in allowed:
                yield path + (key,), (f"unexpected field; expected only {', '.join(allowed)}."
                                      + _hint(str(key), allowed))
    elif kind == "type":
        kinds = " or ".join(want) if isinstance(want, list) else want
        yield path, f"found {_json_type(inst)} {_show(inst)}; expected {kinds}"
    elif kind in ("minimum", "maximum"):
        bound = "at least" if kind == "minimum" else "at most"
        yield path, f"found {_show(inst)}; expected {bound} {want}"
    elif kind == "enum":
        yield path, f"found {_show(inst)}; expected one of {', '.join(map(_show, want))}"
    elif kind == "const":
        yield path, f"found {_show(inst)}; expected {_show(want)}"
    elif kind == "pattern":
        yield path, f"found {_show(inst)}; expected a string matching {want}"
    elif kind == "minLength":
        yield path, f"found {_show(inst)}; expected at least {want} character(s)"
    elif kind == "minItems":
        yield path, f"found {len(inst) if isinstance(inst, list) else '?'} item(s); expected at least {want}"
    else:
        yield path, _show(err.message, 200)


def _stage_schema(run: _Run) -> None:
    errors = sorted(_schema_validator().iter_errors(run.doc),
                    key=lambda e: (_path_key(tuple(e.absolute_path)), str(e.validator)))
    seen: set[tuple[PathT, str]] = set()
    for err in errors:
        for path, message in _schema_messages(err):
            if (path, message) in seen:
                continue
            seen.add((path, message))
            run.add(path, message)
            run.schema_paths.add(path)
            # wrong types and missing fields stop later computations; bad values do not
            if path[:1] == ("episodes",) and err.validator in ("type", "required"):
                if len(path) >= 2 and _is_int(path[1]):
                    run.bad_episodes.add(path[1])
                else:
                    run.episodes_broken = True


# ----------------------------------------------------------------------------------------------
# Stage 3: task
# ----------------------------------------------------------------------------------------------

_LOCK_NAME = f"{registry.LOCK_PATH.parent.name}/{registry.LOCK_PATH.name}"


def _stage_task(run: _Run) -> None:
    tid = _dget(run.doc, "task", "id")
    if not isinstance(tid, str) or ("task", "id") in run.schema_paths:
        run.spec_missing_reason = "$.task.id is missing or malformed"
        run.skip(f"{run.spec_missing_reason} (see the schema problems), so no released spec can be "
                 "looked up")
        return
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            spec = registry.get_spec(tid)
    except registry.VersionNotFound as exc:
        run.spec_missing_reason = f"task {tid!r} is not a released version"
        run.add(("task", "id"), f"found {tid!r}, which is not released: {exc}")
        return
    except registry.RegistryError as exc:
        run.spec_missing_reason = f"task {tid!r} is unknown"
        run.add(("task", "id"), f"found {tid!r}: {exc}")
        return
    except (SpecError, OSError) as exc:
        run.spec_missing_reason = "the registry's released specs could not be loaded"
        run.add(("task", "id"), f"cannot check: {run.spec_missing_reason} ({exc})")
        return
    for w in caught:
        if issubclass(w.category, registry.DeprecatedTaskWarning):
            run.add(("task", "id"), str(w.message), WARNING)
    run.spec = spec

    try:
        lock = registry.read_lock()
    except (OSError, ValueError) as exc:
        lock = None
        run.add(("task", "id"), f"cannot read the spec lock {_LOCK_NAME} ({exc}); "
                                "expected a JSON object of task id -> sha256")
    locked = lock.get(tid) if isinstance(lock, dict) else None
    if isinstance(lock, dict) and locked is None:
        run.add(("task", "id"), f"task {tid!r} is not in the spec lock {_LOCK_NAME}; "
                                "expected a released task (maintainers release with `rao-bench lock`)")
    elif locked is not None and locked != spec.sha256:
        run.add(("task", "id"), f"this installation's spec file for {tid!r} hashes to {spec.sha256}, "
                                f"but the lock records {locked}; expected an unedited release")
    sha = _dget(run.doc, "task", "spec_sha256")
    if isinstance(sha, str) and (sha != spec.sha256 or (locked is not None and sha != locked)):
        run.add(("task", "spec_sha256"), f"found {_show(sha)}; expected the released spec's hash "
                                         f"{locked or spec.sha256} (the result was produced with a "
                                         "different spec)")


# ----------------------------------------------------------------------------------------------
# Stage 4: seeds and coverage
# ----------------------------------------------------------------------------------------------


def _stage_coverage(run: _Run) -> None:
    spec = run.spec
    if spec is None:
        run.skip(f"{run.spec_missing_reason or 'no released spec'}, so the required seeds and cells "
                 "are unknown")
        return
    name = _dget(run.doc, "protocol", "name")
    if name not in PROTOCOLS:
        run.skip("$.protocol.name is missing or not one of " + ", ".join(PROTOCOLS))
        return
    seeds = protocol_seeds(spec, name)
    cells = protocol_cells(spec, name)
    _check_protocol_block(run, spec, name, seeds, cells)
    if run.episodes_broken or not isinstance(run.doc.get("episodes"), list):
        run.skip("$.episodes is not a list of episodes (see the schema problems)")
        return

    required = {(c.scale, c.scenario): c for c in cells}
    scales = [s.name for s in spec.scales]
    scenarios = [s.name for s in spec.scenarios]
    kpis = [k.name for k in spec.kpis]
    constraints = [c.name for c in spec.constraints]
    found: dict[tuple[str, str], dict[int, int]] = {}
    for i, ep in run.episodes():
        seed, scale, scen = ep.get("seed"), ep.get("scale"), ep.get("scenario")
        if isinstance(scale, str) and scale not in scales:
            run.add(("episodes", i, "scale"), f"found {_show(scale)}; expected a scale of {spec.id}: "
                                              f"{', '.join(scales)}." + _hint(scale, scales))
        if isinstance(scen, str) and scen not in scenarios:
            run.add(("episodes", i, "scenario"), f"found {_show(scen)}; expected a scenario of "
                                                 f"{spec.id}: {', '.join(scenarios)}." + _hint(scen, scenarios))
        if isinstance(scale, str) and scale in scales and _is_int(ep.get("n_agents")):
            agents = spec.scale(scale).agents
            if ep["n_agents"] != agents:
                run.add(("episodes", i, "n_agents"), f"found {ep['n_agents']}; scale {scale!r} of "
                                                     f"{spec.id} has {agents} agents")
        _check_names(run, ep.get("kpis"), ("episodes", i, "kpis"), kpis, "KPI")
        _check_names(run, ep.get("safety"), ("episodes", i, "safety"), constraints, "constraint")
        if not (_is_int(seed) and scale in scales and scen in scenarios):
            continue
        cell = required.get((scale, scen))
        if cell is None:
            run.add(("episodes", i), f"episode for scale {scale!r}, scenario {scen!r} is not a cell of "
                                     f"the {name} protocol; expected only its cells: "
                                     + ", ".join(f"{c.scale}/{c.scenario}" for c in cells))
            continue
        got = found.setdefault((scale, scen), {})
        if seed not in cell.seeds:
            run.add(("episodes", i, "seed"), f"found seed {seed}, which is not an evaluation seed of "
                                             f"the {name} protocol; expected one of {list(cell.seeds)}")
        elif seed in got:
            run.add(("episodes", i), f"duplicate episode: scale {scale!r}, scenario {scen!r}, seed "
                                     f"{seed} already appears at $.episodes[{got[seed]}]; expected "
                                     "each (scale, scenario, seed) once")
        else:
            got[seed] = i
    for c in cells:
        got = found.get((c.scale, c.scenario), {})
        if not got:
            run.add("$.episodes", f"missing cell ({c.part}): no episodes for scale {c.scale!r}, "
                                  f"scenario {c.scenario!r}; expected seeds {list(c.seeds)}")
            continue
        for s in c.seeds:
            if s not in got:
                run.add("$.episodes", f"missing episode: scale {c.scale!r}, scenario {c.scenario!r}, "
                                      f"seed {s} ({c.part} cell)")


def _check_protocol_block(run: _Run, spec: TaskSpec, name: str, seeds: tuple[int, ...],
                          cells: list[Any]) -> None:
    given = _dget(run.doc, "protocol", "seeds")
    if isinstance(given, list) and all(_is_int(s) for s in given):
        counts = Counter(given)
        where = f"the {name} protocol of {spec.id} uses seeds {list(seeds)}"
        for s in seeds:
            if s not in counts:
                run.add(("protocol", "seeds"), f"seed {s} is missing; {where}")
        listed: set[int] = set()
        for j, s in enumerate(given):
            if s not in seeds:
                run.add(("protocol", "seeds", j), f"found extra seed {s}; {where}")
            elif s in listed:
                run.add(("protocol", "seeds", j), f"seed {s} is listed more than once; {where}")
            listed.add(s)
        if set(given) == set(seeds) and len(given) == len(seeds) and tuple(given) != seeds:
            run.add(("protocol", "seeds"), f"found the seeds in a different order; {where}")
    want_scales = [s.name for s in spec.scales if any(c.scale == s.name for c in cells)]
    want_scens = [s.name for s in spec.scenarios if any(c.scenario == s.name for c in cells)]
    for key, want in (("scales", want_scales), ("scenarios", want_scens)):
        got = _dget(run.doc, "protocol", key)
        if isinstance(got, list) and got != want:
            run.add(("protocol", key), f"found {_show(got, 120)}; the {name} protocol of {spec.id} "
                                       f"covers {_show(want, 120)}")


def _check_names(run: _Run, block: Any, path: PathT, declared: list[str], what: str) -> None:
    if not isinstance(block, dict):
        return
    for name in declared:
        if name not in block:
            run.add(path, f"{what} {name!r} is missing; expected every {what} of the spec: "
                          + ", ".join(declared))
    for name in block:
        if name not in declared:
            run.add(path + (name,), f"unknown {what} {_show(name)}; expected only "
                                    + ", ".join(declared) + "." + _hint(str(name), declared))


# ----------------------------------------------------------------------------------------------
# Stage 5: numbers
# ----------------------------------------------------------------------------------------------


def _walk_numbers(doc: Any) -> Iterator[tuple[PathT, Any]]:
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
        elif _is_num(obj):
            yield path, obj


def hyperscore_range(spec: TaskSpec) -> tuple[float, float]:
    """The attainable HyperScore interval for V in [0, 1] with the spec's parameters (the map is
    monotonic in V, so the ends are at V = 0 and V = 1); not the paper's nominal 100-200."""
    hp = spec.hyperscore
    ends = [float(metrics.hyperscore(v, hp.beta, hp.gamma, hp.kappa)) for v in (0.0, 1.0)]
    return min(ends), max(ends)


def _stage_numbers(run: _Run) -> None:
    for path, x in run.numbers:
        if isinstance(x, float) and not math.isfinite(x):
            run.add(path, f"found {x!r} (a NaN/Infinity literal, or a number too large for a "
                          "double); expected a finite number")
            run.nonfinite.add(path)
        elif _is_int(x) and abs(x) > MAX_EXACT_INT:
            digits = int(abs(x).bit_length() * math.log10(2)) + 1  # str() may refuse huge ints
            run.add(path, f"found an integer of about {digits} digits; expected at most 2^53 in "
                          "magnitude (larger ones are not exact in JSON readers)")
            run.nonfinite.add(path)
    for path in run.nonfinite:
        if path[:1] == ("episodes",) and len(path) > 1:
            run.bad_episodes.add(path[1])

    spec = run.spec
    if spec is None:
        run.skip(f"{run.spec_missing_reason or 'no released spec'}, so the spec-dependent ranges "
                 "(HyperScore, horizon, agents) cannot be checked")
        return
    lo, hi = hyperscore_range(spec)
    for i, ep in run.episodes():
        _episode_numbers(run, spec, i, ep, lo, hi)


def _in_range(run: _Run, path: PathT, x: Any, lo: float, hi: float, what: str) -> bool:
    """Report ``x`` outside [lo, hi] unless the schema already said the same; True if in range."""
    if not _finite(x):
        return False
    if lo <= x <= hi:
        return True
    if path not in run.schema_paths:
        run.add(path, f"found {x!r}; expected {what}")
    return False


def _episode_numbers(run: _Run, spec: TaskSpec, i: int, ep: dict[str, Any], lo: float,
                     hi: float) -> None:
    p: PathT = ("episodes", i)
    _in_range(run, p + ("V",), ep.get("V"), 0.0, 1.0, "a value score in [0, 1]")
    hp = spec.hyperscore
    if _finite(ep.get("hyperscore")) and not lo <= ep["hyperscore"] <= hi:
        run.add(p + ("hyperscore",), f"found {ep['hyperscore']!r}; expected within [{lo!r}, {hi!r}], "
                                     f"the attainable range for V in [0, 1] with beta={hp.beta}, "
                                     f"gamma={hp.gamma}, kappa={hp.kappa}")
    steps, n_agents, agent_steps = ep.get("steps"), ep.get("n_agents"), ep.get("agent_steps")
    if _is_int(steps) and steps != spec.horizon:
        run.add(p + ("steps",), f"found {steps}; expected the spec's horizon {spec.horizon}")
    total = n_agents * steps if _is_int(n_agents) and _is_int(steps) else None
    if total is not None and _is_int(agent_steps) and agent_steps != total:
        run.add(p + ("agent_steps",), f"found {agent_steps}; expected n_agents * steps = "
                                      f"{n_agents} * {steps} = {total}")
    safety = ep.get("safety")
    if isinstance(safety, dict):
        for name, s in safety.items():
            if isinstance(s, dict):
                _safety_numbers(run, p + ("safety", name), s, total)
    scen = ep.get("scenario")
    if isinstance(scen, str) and scen in [s.name for s in spec.scenarios]:
        _recovery_numbers(run, spec, p, ep, spec.scenario(scen))


def _safety_numbers(run: _Run, p: PathT, s: dict[str, Any], total: int | None) -> None:
    rate_ok = _in_range(run, p + ("rate",), s.get("rate"), 0.0, 1.0, "a violation rate in [0, 1]")
    _in_range(run, p + ("severity",), s.get("severity"), 0.0, math.inf, "a severity >= 0")
    v, sev, own = s.get("violating_steps"), s.get("severity"), s.get("agent_steps")
    if total is not None and _is_int(own) and own != total:
        # the summary pools rates over this count, so it must be the episode's own
        run.add(p + ("agent_steps",), f"found {own}; expected the episode's n_agents * steps = {total}")
    if not _is_int(v) or v < 0:
        return
    if total is not None and total > 0:
        if v > total:
            run.add(p + ("violating_steps",), f"found {v}; expected at most the episode's "
                                              f"agent-steps ({total})")
        elif rate_ok and not _close(s["rate"], v / total):
            run.add(p + ("rate",), f"found {s['rate']!r}; expected violating_steps / agent_steps = "
                                   f"{v} / {total} = {v / total!r}")
    if isinstance(s.get("any"), bool) and s["any"] != (v > 0):
        run.add(p + ("any",), f"found {s['any']}; expected {v > 0} since violating_steps is {v}")
    if v == 0 and _finite(sev) and sev != 0:
        run.add(p + ("severity",), f"found {sev!r}; expected 0 since there are no violating steps")
    elif v > 0 and _finite(sev) and sev == 0:
        run.add(p + ("severity",), f"found 0; expected > 0 since there are {v} violating steps")


def _recovery_numbers(run: _Run, spec: TaskSpec, p: PathT, ep: dict[str, Any], scenario: Any) -> None:
    steps, rec = ep.get("recovery_steps"), ep.get("recovered")
    if scenario.onset is None:
        for key, val in (("recovery_steps", steps), ("recovered", rec)):
            if val is not None:
                run.add(p + (key,), f"found {_show(val)}; expected null for the nominal scenario")
        return
    for key, val in (("recovery_steps", steps), ("recovered", rec)):
        if val is None:
            run.add(p + (key,), f"found null; expected a value for shift scenario {scenario.name!r}")
    if not (_is_int(steps) and isinstance(rec, bool)):
        return
    # recovery is measured on rolling windows from the onset; unrecovered = censored at the end
    censored = spec.horizon - spec.recovery.window + 1 - scenario.onset
    if rec and not 0 <= steps < censored:
        run.add(p + ("recovery_steps",), f"found {steps} with recovered=true; expected 0 <= "
                                         f"recovery_steps < {censored} (the censoring value)")
    elif not rec and steps != censored:
        run.add(p + ("recovery_steps",), f"found {steps} with recovered=false; expected the "
                                         f"censoring value {censored}")


# ----------------------------------------------------------------------------------------------
# Stage 6: recompute
# ----------------------------------------------------------------------------------------------


def _stage_recompute(run: _Run) -> None:
    spec = run.spec
    if spec is None:
        run.skip(f"{run.spec_missing_reason or 'no released spec'}, so scores cannot be recomputed")
        return
    hp = spec.hyperscore
    for i, ep in run.episodes():
        kpis, V, hs = ep.get("kpis"), ep.get("V"), ep.get("hyperscore")
        if isinstance(kpis, dict) and _finite(V) and all(_finite(kpis.get(k)) for k in spec.weights):
            want = metrics.value_score(kpis, spec.anchors_at(str(ep.get("scale"))), spec.weights)
            if not _close(V, want):
                run.add(("episodes", i, "V"), f"found {V!r}; recomputed {want!r} from this episode's "
                                              f"KPIs with the spec's anchors (at its scale) and weights")
        if _finite(V) and 0.0 <= V <= 1.0 and _finite(hs):
            want = float(metrics.hyperscore(V, hp.beta, hp.gamma, hp.kappa))
            if not _close(hs, want):
                run.add(("episodes", i, "hyperscore"), f"found {hs!r}; recomputed {want!r} from V = "
                                                       f"{V!r} with the spec's HyperScore parameters")
    _recompute_summary(run, spec)


def _recompute_summary(run: _Run, spec: TaskSpec) -> None:
    why = ""
    if run.episodes_broken or not isinstance(run.doc.get("episodes"), list):
        why = "$.episodes is not a list of episodes"
    elif run.bad_episodes:
        shown = ", ".join(f"$.episodes[{i}]" for i in sorted(run.bad_episodes)[:5])
        why = f"some episodes are malformed or not finite ({shown}{', ...' if len(run.bad_episodes) > 5 else ''})"
    else:
        kpis, cons = [k.name for k in spec.kpis], [c.name for c in spec.constraints]
        for i, ep in run.episodes():
            if any(k not in ep["kpis"] for k in kpis) or any(c not in ep["safety"] for c in cons):
                why = f"$.episodes[{i}] lacks a KPI or constraint of the spec"
                break
    if not why:
        try:
            expected = summarise(spec, run.doc["episodes"])
        except (ValueError, KeyError, TypeError, ZeroDivisionError, OverflowError) as exc:
            why = f"the summary cannot be computed from these episodes ({_show(str(exc), 160)})"
    if why:
        run.skip(f"{why}, so the summary is not recomputed")
        return
    _compare(run, expected, run.doc["summary"], ("summary",))


def _compare(run: _Run, want: Any, got: Any, path: PathT) -> None:
    """Report every leaf where the submitted summary differs from the recomputed one (except
    where the schema has already reported the submitted value)."""
    if path in run.schema_paths:
        return
    if isinstance(want, dict) and isinstance(got, dict):
        for k, v in want.items():
            if k in got:
                _compare(run, v, got[k], path + (k,))
            else:
                run.add(path + (k,), f"missing; the recomputed summary has {_show(v)}")
        for k in got:
            if k not in want:
                run.add(path + (k,), "unexpected entry; the summary recomputed from the episodes "
                                     "has no such field")
        return
    if _is_num(want) and _is_num(got):
        if not (_finite(got) and _close(float(got), float(want))):
            run.add(path, f"found {_show(got)}; recomputed {_show(want)} from the episodes")
        return
    if type(want) is not type(got) or want != got:
        run.add(path, f"found {_show(got)}; recomputed {_show(want)} from the episodes")


# ----------------------------------------------------------------------------------------------
# Stage 7: provenance, then eligibility
# ----------------------------------------------------------------------------------------------

_VERSION = re.compile(r"^v?\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?(\+[A-Za-z0-9.]+)?$")
PROVENANCE_FIELDS = ("package_version", "git_commit", "python", "platform", "utc_time", "command")


def _parse_utc(text: str) -> str:
    """'' if ``text`` is an ISO-8601 date-time in UTC, else why not."""
    if "T" not in text and " " not in text:
        return "expected an ISO-8601 date-time such as 2025-01-31T12:00:00Z"
    try:
        t = _dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        return "expected an ISO-8601 date-time such as 2025-01-31T12:00:00Z"
    if t.tzinfo is None or t.utcoffset() != _dt.timedelta(0):
        return "expected UTC (a 'Z' or '+00:00' suffix)"
    return ""


def _stage_provenance(run: _Run) -> None:
    prov = run.doc.get("provenance")
    if not isinstance(prov, dict):
        run.skip("$.provenance is missing or not an object (see the schema problems)")
        return
    for key in PROVENANCE_FIELDS:
        val, path = prov.get(key), ("provenance", key)
        if not isinstance(val, str) or path in run.schema_paths:
            continue
        if not val.strip():
            run.add(path, f"found {_show(val)}; expected a non-blank string")
        elif key == "utc_time" and (why := _parse_utc(val)):
            run.add(path, f"found {_show(val)}; {why}")
        elif key == "package_version" and not _VERSION.match(val):
            run.add(path, f"found {_show(val)}; expected a version such as 0.1.0")


def _stage_training(run: _Run) -> None:
    check_training(run.doc, run.spec, run.add, WARNING)


def _stage_eligibility(run: _Run) -> None:
    if _dget(run.doc, "protocol", "name") == "quick":
        run.add(("protocol", "name"), "a quick-protocol result is valid but not eligible to rank; "
                                      "run the full protocol for the leaderboard", WARNING)
    if _dget(run.doc, "algorithm", "paradigm") == "oracle":
        run.add(("algorithm", "paradigm"), "an oracle uses information a real controller lacks: "
                                           "valid, but not eligible to rank", WARNING)


_STAGES: tuple[tuple[str, Callable[[_Run], None]], ...] = (
    ("schema", _stage_schema),
    ("task", _stage_task),
    ("coverage", _stage_coverage),
    ("training", _stage_training),
    ("numbers", _stage_numbers),
    ("recompute", _stage_recompute),
    ("provenance", _stage_provenance),
    ("eligibility", _stage_eligibility),
)


# ----------------------------------------------------------------------------------------------
# CLI glue
# ----------------------------------------------------------------------------------------------


def format_report(report: Report) -> str:
    """``OK path`` or ``FAIL path`` followed by a numbered list of every problem."""
    head = "OK" if report.ok else "FAIL"
    counts = [(sum(p.severity == sev for p in report.problems), sev) for sev in (ERROR, WARNING, SKIPPED)]
    tally = ", ".join(f"{n} {sev}{'s' if n != 1 and sev != SKIPPED else ''}" for n, sev in counts if n)
    extra = f": {tally}" if tally else ""  # counts every item listed below
    if report.ok and not report.eligible:
        extra += " (valid, not eligible to rank)"
    lines = [f"{head} {report.source}{extra}"]
    lines += [f"  {k}. {p}" for k, p in enumerate(report.problems, 1)]
    return "\n".join(lines)


def main_validate(paths: list[str], *, max_bytes: int = MAX_BYTES, out: TextIO | None = None) -> int:
    """Validate every file, print each report and a tally; exit code 0 only if all are valid."""
    stream = out if out is not None else sys.stdout
    if not paths:
        print("no files given: pass one or more result JSON files", file=stream)
        return 2
    valid = 0
    for path in paths:
        report = validate_file(path, max_bytes=max_bytes)
        valid += report.ok
        print(format_report(report), file=stream)
    print(f"{len(paths)} file{'s' if len(paths) != 1 else ''}: {valid} valid, "
          f"{len(paths) - valid} invalid", file=stream)
    return 0 if valid == len(paths) else 1
