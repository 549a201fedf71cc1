"""``leaderboard/verified.json``: which exact files passed ``rao-bench verify``.

A file is *verified* when the ledger holds the sha256 of its current bytes (and of its action-log
sidecar); editing the file afterwards drops the status by itself. The ledger is written by
maintainers with ``rao-bench verify --record`` after CI verified the pull request with the base
branch's tools, and like entries.yaml it is protected by CODEOWNERS.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from pathlib import Path
from typing import Any, Iterable

from bench.submit.location import REPO, SUBMISSIONS

LEDGER_PATH = REPO / "leaderboard" / "verified.json"


def _key(path: Path, root: Path) -> str:
    try:
        return Path(path).absolute().relative_to(Path(root).absolute()).as_posix()
    except ValueError:
        return Path(path).name


def _digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read(ledger: Path | None = None) -> dict[str, Any]:
    p = ledger or LEDGER_PATH
    try:
        data = json.loads(p.read_text(encoding="utf-8")) if p.is_file() else {}
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record(paths: Iterable[str | Path], ledger: Path | None = None, root: Path = SUBMISSIONS,
           checks: Iterable[str] = ()) -> Path:
    """Record the files' current bytes as verified, with which checks passed (``replay``: every
    episode re-played; ``rerun``: a sample re-run with the named policy; ``fresh``: unseen seeds)."""
    from bench.submit.result import _git_commit

    p = ledger or LEDGER_PATH
    data = read(p)
    kinds = sorted(set(checks))
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    for f in paths:
        doc = json.loads(Path(f).read_text(encoding="utf-8"))
        key, digest = _key(Path(f), root), _digest(Path(f))
        before = data.get(key) if isinstance(data.get(key), dict) else {}
        # the same bytes verified again keep the checks they passed before (a replay-only pass
        # after a rerun does not forget the rerun); new bytes start afresh
        done = set(kinds) | (passed_checks(before) if before.get("sha256") == digest else set())
        data[key] = {"sha256": digest, "action_log": (doc.get("action_log") or {}).get("sha256"),
                     "verified_utc": now, "tool_commit": _git_commit()}
        if done:
            data[key]["checks"] = sorted(done)
    from bench.journal import atomic_write_text

    atomic_write_text(p, json.dumps(dict(sorted(data.items())), indent=1) + "\n")
    return p


def passed_checks(row: Any) -> set[str]:
    """The checks a ledger row says passed; rows written before the ledger named them were all
    recorded by ``rao-bench verify``, which always replays, so they passed ``replay``."""
    if not isinstance(row, dict) or "sha256" not in row:
        return set()
    return set(row.get("checks") or ("replay",))


def replayed(path: str | Path, root: Path = SUBMISSIONS, ledger: Path | None = None) -> str:
    """When the ledger recorded this file's current bytes as replayed ('' if it did not)."""
    row = read(ledger).get(_key(Path(path), root))
    try:
        same = isinstance(row, dict) and row.get("sha256") == _digest(Path(path))
    except OSError:
        return ""
    return str(row.get("verified_utc", "?")) if same and "replay" in passed_checks(row) else ""


def verified(path: str | Path, root: Path = SUBMISSIONS, ledger: Path | None = None) -> tuple[bool, str]:
    """``(True, "")`` if the ledger holds this file's current bytes, else ``(False, reason)``."""
    row = read(ledger).get(_key(Path(path), root))
    if not isinstance(row, dict):
        return False, "not verified: run `rao-bench verify` (maintainers record it after CI)"
    try:
        if row.get("sha256") != _digest(Path(path)):
            return False, "not verified: the file changed after it was verified"
    except OSError as exc:
        return False, f"not verified: cannot read the file ({exc})"
    return True, ""
