"""Check a result file before it may reach the leaderboard (``rao-bench validate FILE...``).

A submission is untrusted data. The checks run in stages (file, schema, task, coverage, numbers,
recompute, provenance) and every problem found is reported at once, each with its JSON path, so a
submitter can fix everything in one round. A stage that cannot run because an earlier one found the
document structurally broken is skipped with one note saying why; the validator itself never raises
on bad input. Scores are never trusted: V, HyperScore and the whole summary are recomputed from the
episodes with the released spec and the harness's own code (:func:`bench.summary.summarise`).
Nothing named in a submission is imported or run; only the registry's released specs are loaded.

The stages live in :mod:`bench.submit.stages`, one module each, run in the order of ``STAGE_RUNNERS``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable, TextIO

from bench.submit.common import (ERROR, MAX_BYTES, MAX_INT_BITS, SKIPPED, WARNING, Problem, Report, Run, is_int,
                                 json_path, json_type, show, walk_numbers)
from bench.submit.location import SUBMISSIONS, inside, location_problem, symlink_problem
from bench.submit.stages import (actions, coverage, eligibility, identity, numbers, provenance, recompute, schema,
                                 task, text, training)

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
        run_add("$", f"key {show(k)} appears more than once in one object; expected unique keys "
                     "(readers disagree on which copy wins)")
    return doc


def _refuse(report: Report, where: str, message: str) -> Report:
    """Record why the file stage refused the input (no later stage runs on it)."""
    report.problems.append(Problem("file", where, f"{message}; no later check was run on this input"))
    return report


def validate_file(path: str | Path, *, max_bytes: int = MAX_BYTES,
                  submissions_root: str | Path | None = None) -> Report:
    """Validate the result file at ``path``; the size is checked before anything is read. A
    symlink is refused. With ``submissions_root``, the file must also sit in its own task's
    folder under it (``<root>/<domain>/<Name-vN>/<entry>.json``)."""
    report = Report(str(path))

    def file_problem(where: str, message: str) -> None:
        report.problems.append(Problem("file", where, message))

    p = Path(path)
    root = Path(submissions_root) if submissions_root is not None else None
    if why := symlink_problem(p, root):
        return _refuse(report, "$", why)
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
    if root is not None:
        task = doc.get("task") if isinstance(doc, dict) else None
        task_id = task.get("id") if isinstance(task, dict) else None
        if why := location_problem(p, root, task_id):
            return _refuse(report, "$", why)
    _validate(doc, report, folder=p.parent)
    return report


def validate_document(doc: Any, *, source: str = "<document>") -> Report:
    """Validate an already-parsed result document (e.g. one just built by the evaluator)."""
    report = Report(source)
    _validate(doc, report)
    return report


def _validate(doc: Any, report: Report, folder: Path | None = None) -> None:
    if not isinstance(doc, dict):
        _refuse(report, "$", f"the top level is {json_type(doc)}; expected an object (a result "
                             "document)")
        return
    numbers = list(walk_numbers(doc))
    for path, x in numbers:
        if is_int(x) and x.bit_length() > MAX_INT_BITS:
            # json.loads refuses such literals in a file; refuse them in a document the same way
            _refuse(report, json_path(path), "found an integer of over 4000 digits; expected JSON "
                                             "numbers of ordinary size")
            return
    run = Run(doc, report, numbers)
    run.folder = folder
    for stage, check in STAGE_RUNNERS:
        run.stage = stage
        try:
            check(run)
        except Exception as exc:  # a validator bug must not pass a file or crash the CLI
            run.add("$", f"the validator could not finish this stage ({type(exc).__name__}: "
                         f"{show(str(exc), 200)}); the document is treated as invalid")
    report.summary = run.summary if report.ok else None
    report.document = doc if report.ok else None


STAGE_RUNNERS: tuple[tuple[str, Callable[[Run], None]], ...] = (
    ("schema", schema.stage_schema),
    ("text", text.stage_text),
    ("task", task.stage_task),
    ("coverage", coverage.stage_coverage),
    ("training", training.stage_training),
    ("numbers", numbers.stage_numbers),
    ("recompute", recompute.stage_recompute),
    ("actions", actions.stage_actions),
    ("provenance", provenance.stage_provenance),
    ("eligibility", eligibility.stage_eligibility),
    ("identity", identity.stage_identity),
)


def load_valid(path: str | Path, submissions_root: str | Path | None = SUBMISSIONS
               ) -> tuple[dict[str, Any] | None, list[Problem]]:
    """The leaderboard's one way to read a submission: ``(result, problems)`` where ``result`` is
    the parsed document with its ``summary`` replaced by the one recomputed from its episodes
    (None if the file is invalid), and ``problems`` lists every finding (errors and warnings).
    Never raises on a bad file; ``submissions_root=None`` skips the folder check."""
    try:
        report = validate_file(path, submissions_root=submissions_root)
    except Exception as exc:  # a validator bug must not take the board down
        return None, [Problem("file", "$", f"the validator failed ({type(exc).__name__}: "
                                           f"{show(str(exc), 200)}); the file is treated as invalid")]
    if not report.ok or report.summary is None or not isinstance(report.document, dict):
        return None, report.problems
    result = dict(report.document)
    result["summary"] = report.summary
    return result, report.problems


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
        # a file in the repository's submissions tree must also sit in its own task's folder
        root = SUBMISSIONS if inside(Path(path), SUBMISSIONS) else None
        report = validate_file(path, max_bytes=max_bytes, submissions_root=root)
        valid += report.ok
        print(format_report(report), file=stream)
    print(f"{len(paths)} file{'s' if len(paths) != 1 else ''}: {valid} valid, "
          f"{len(paths) - valid} invalid", file=stream)
    return 0 if valid == len(paths) else 1
