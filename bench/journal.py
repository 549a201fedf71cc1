"""Crash-safe episode journal: finished episodes are appended (flushed and fsynced) one JSON line
each, so a killed sweep restarts where it stopped, without re-running or duplicating episodes.

The first line identifies the run (task, spec hash, policy, protocol); a journal from a different
run is refused rather than mixed in. A torn last line (the process died mid-write) is dropped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping


class JournalMismatch(ValueError):
    pass


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def episode_key(record: Mapping[str, Any]) -> tuple[str, str, int]:
    return (str(record["scale"]), str(record["scenario"]), int(record["seed"]))


class Journal:
    def __init__(self, path: Path, header: Mapping[str, Any]) -> None:
        self.path = Path(path)
        self.header = dict(header)
        self.records: dict[tuple[str, str, int], dict[str, Any]] = {}
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "w", encoding="utf-8") as fh:
                fh.write(json.dumps({"journal": self.header}, sort_keys=True) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            return
        raw = self.path.read_bytes()
        lines = raw.split(b"\n")
        complete = lines[:-1]  # anything after the last newline is a torn write
        if not complete:
            raise JournalMismatch(f"{self.path} has no header line; delete it to start afresh")
        head = json.loads(complete[0]).get("journal")
        if head != self.header:
            diffs = sorted(k for k in set(head or {}) | set(self.header)
                           if (head or {}).get(k) != self.header.get(k))
            raise JournalMismatch(
                f"{self.path} belongs to a different run (differs in: {', '.join(diffs)}). "
                "Delete this file to start afresh, or write to another --out path (the "
                "journal is the --out path + '.journal.jsonl'), or pass --no-journal.")
        for line in complete[1:]:
            if line.strip():
                rec = json.loads(line)
                self.records[episode_key(rec)] = rec
        if lines[-1]:
            with open(self.path, "r+b") as fh:  # drop the torn tail so appends stay line-aligned
                fh.truncate(len(raw) - len(lines[-1]))

    def __contains__(self, key: tuple[str, str, int]) -> bool:
        return key in self.records

    def append(self, record: Mapping[str, Any]) -> None:
        key = episode_key(record)
        if key in self.records:
            return
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        self.records[key] = dict(record)
