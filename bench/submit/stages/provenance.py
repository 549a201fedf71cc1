"""Stage ``provenance``: who ran what, where and when, in well-formed fields."""

from __future__ import annotations

import datetime as _dt
import re

from bench.submit.common import Run, show


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


def stage_provenance(run: Run) -> None:
    prov = run.doc.get("provenance")
    if not isinstance(prov, dict):
        run.blocked(("provenance",), "missing or not an object (see the schema problems)")
        return
    for key in PROVENANCE_FIELDS:
        val, path = prov.get(key), ("provenance", key)
        if not isinstance(val, str) or path in run.schema_paths:
            continue
        if not val.strip():
            run.add(path, f"found {show(val)}; expected a non-blank string")
        elif key == "utc_time" and (why := _parse_utc(val)):
            run.add(path, f"found {show(val)}; {why}")
        elif key == "package_version" and not _VERSION.match(val):
            run.add(path, f"found {show(val)}; expected a version such as 0.1.0")
