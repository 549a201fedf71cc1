"""Stage ``text``: every string (keys included) free of invisible, control and bidi characters;
the entry's name, version and authors in NFKC normal form (see :mod:`bench.submit.text`)."""

from __future__ import annotations

from typing import Any

from bench.submit.common import PathT, Run, dget
from bench.submit.text import bad_character, normal_form_problem

MAX_NON_ASCII = 100_000
_NORMAL_FORM = (("algorithm", "name"), ("algorithm", "version"))


def _strings(doc: Any) -> list[tuple[PathT, str, bool]]:
    """(path, text, is_key) of every string in ``doc``; iterative and cycle-safe."""
    out: list[tuple[PathT, str, bool]] = []
    stack: list[tuple[PathT, Any]] = [((), doc)]
    seen: set[int] = set()
    while stack:
        path, obj = stack.pop()
        if isinstance(obj, str):
            out.append((path, obj, False))
        elif isinstance(obj, (dict, list)) and id(obj) not in seen:
            seen.add(id(obj))
            if isinstance(obj, dict):
                for k, v in obj.items():
                    if isinstance(k, str):
                        out.append((path + (k,), k, True))
                    stack.append((path + (k,), v))
            else:
                stack.extend((path + (i,), v) for i, v in enumerate(obj))
    return out


def stage_text(run: Run) -> None:
    for path, text, is_key in _strings(run.doc):
        if len(text) > MAX_NON_ASCII and not text.isascii():  # only base64 logs are long, and ASCII
            run.add(path, f"a non-ASCII string of {len(text)} characters; expected at most "
                          f"{MAX_NON_ASCII}")
            continue
        why = bad_character(text)
        if why:
            what = "key" if is_key else "string"
            run.add(path, f"this {what} contains an {why}; expected visible characters only")
    targets = list(_NORMAL_FORM)
    authors = dget(run.doc, "algorithm", "authors")
    if isinstance(authors, list):
        targets += [("algorithm", "authors", i) for i in range(len(authors))]
    for path in targets:
        val = dget(run.doc, *path)
        if isinstance(val, str) and path not in run.schema_paths and not bad_character(val):
            why = normal_form_problem(val)
            if why:
                run.add(path, f"found {val[:60]!r}: {why}; expected a name as it displays")
