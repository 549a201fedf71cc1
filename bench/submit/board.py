"""The leaderboard's one call into the submission path: ``admit(path, root)``.

It returns what the board may show of a file and whether it may rank, so that the board never
reads a submission any other way: the document with the summary the validator *recomputed* (never
the submitted one), every problem found, whether the exact bytes are verified
(``leaderboard/verified.json``), the registered identity (``leaderboard/entries.yaml``), and the
reason, if any, that keeps it off the ranking. It never raises on a bad file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.submit.common import ERROR, WARNING, Problem
from bench.submit.location import SUBMISSIONS

#: validator stages whose warnings keep a valid entry off the ranking
RANK_BLOCKING_STAGES = ("eligibility", "identity")


@dataclass(frozen=True)
class Admission:
    """What the leaderboard may do with one file."""

    source: str
    result: dict[str, Any] | None  # None: refused (see ``problems``)
    problems: list[Problem] = field(default_factory=list)
    verified: bool = False
    verified_reason: str = ""  # why not verified ('' when verified)
    kind: str | None = None  # entries.yaml kind: reference, oracle, community (None: unregistered)
    rank_block: str = ""  # '' if the entry may rank; else the first reason it may not

    @property
    def errors(self) -> list[str]:
        return [str(p) for p in self.problems if p.severity == ERROR]

    @property
    def warnings(self) -> list[str]:
        return [str(p) for p in self.problems if p.severity == WARNING]

    @property
    def is_random_reference(self) -> bool:
        """The P(better than random) anchor: the registered random reference, by identity."""
        from bench.submit.identity import random_reference

        name = (self.result or {}).get("algorithm", {}).get("name")
        return self.result is not None and self.kind == "reference" and name == random_reference()


def admit(path: str | Path, root: str | Path = SUBMISSIONS, *, require_verified: bool = True,
          ledger: Path | None = None) -> Admission:
    """Validate ``path`` (which must sit in its task's folder under ``root``) and decide whether it
    may rank; with ``require_verified`` an unverified file is listed apart with the reason."""
    from bench.submit import ledger as ledger_mod
    from bench.submit.identity import lookup
    from bench.submit.validator import load_valid

    result, problems = load_valid(path, submissions_root=root)
    if result is None:
        return Admission(str(path), None, problems)
    ok, why = ledger_mod.verified(path, Path(root), ledger)
    entry = lookup(result["algorithm"]["name"])
    block = next((p.message for p in problems
                  if p.severity == WARNING and p.stage in RANK_BLOCKING_STAGES), "")
    if not block and require_verified and not ok:
        block = why
    return Admission(str(path), result, problems, ok, why, entry.kind if entry else None, block)
