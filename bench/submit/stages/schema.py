"""Stage ``schema``: the document against bench/submit/schema/result.schema.json, each error
turned into 'found ...; expected ...' at its JSON path."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import jsonschema

from bench.submit.common import PathT, Run, hint, is_int, json_type, show

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema" / "result.schema.json"

# JSON Schema calls 3.0 an integer; the harness writes integers as integers, and the consistency
# checks skip what is not an int, so a whole-number float where the schema says integer is refused.
_STRICT_TYPES = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda _checker, x: isinstance(x, int) and not isinstance(x, bool))
StrictValidator = jsonschema.validators.extend(jsonschema.Draft202012Validator,
                                               type_checker=_STRICT_TYPES)


@lru_cache(maxsize=1)
def _schema_validator() -> Any:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return StrictValidator(schema)


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
                                      + hint(str(key), allowed))
    elif kind == "type":
        kinds = " or ".join(want) if isinstance(want, list) else want
        yield path, f"found {json_type(inst)} {show(inst)}; expected {kinds}"
    elif kind in ("minimum", "maximum"):
        bound = "at least" if kind == "minimum" else "at most"
        yield path, f"found {show(inst)}; expected {bound} {want}"
    elif kind == "enum":
        yield path, f"found {show(inst)}; expected one of {', '.join(map(show, want))}"
    elif kind == "const":
        yield path, f"found {show(inst)}; expected {show(want)}"
    elif kind == "pattern":
        yield path, f"found {show(inst)}; expected a string matching {want}"
    elif kind == "minLength":
        yield path, f"found {show(inst)}; expected at least {want} character(s)"
    elif kind == "maxLength":
        n = len(inst) if isinstance(inst, str) else "?"
        yield path, f"found a string of {n} characters; expected at most {want}"
    elif kind == "maxItems":
        yield path, f"found {len(inst) if isinstance(inst, list) else '?'} items; expected at most {want}"
    elif kind == "maxProperties":
        yield path, f"found {len(inst) if isinstance(inst, dict) else '?'} entries; expected at most {want}"
    elif kind == "minItems":
        yield path, f"found {len(inst) if isinstance(inst, list) else '?'} item(s); expected at least {want}"
    else:
        yield path, show(err.message, 200)


def stage_schema(run: Run) -> None:
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
                if len(path) >= 2 and is_int(path[1]):
                    run.bad_episodes.add(path[1])
                else:
                    run.episodes_broken = True


