"""Assemble the result document (schema: ``bench/schema/result.schema.json``)."""

from __future__ import annotations

import datetime as _dt
import json
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping

from bench.policy import PolicyInfo
from bench.spec import TaskSpec
from bench.summary import protocol_cells, protocol_seeds, summarise

SCHEMA_VERSION = "1.0"
SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "result.schema.json"


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance(command: str = "") -> dict[str, str]:
    from bench import __version__

    return {
        "package_version": __version__,
        "git_commit": _git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "utc_time": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": command or " ".join(sys.argv),
    }


def build_result(spec: TaskSpec, info: PolicyInfo, protocol: str, episodes: list[dict[str, Any]],
                 *, command: str = "", training: Mapping[str, Any] | None = None,
                 paradigm: str | None = None) -> dict[str, Any]:
    """The result document; ``paradigm`` is the harness's (``bench.policy.harness_paradigm``),
    which overrides the policy's own label."""
    cells = protocol_cells(spec, protocol)
    return {
        "schema_version": SCHEMA_VERSION,
        "task": {"id": spec.id, "spec_sha256": spec.sha256},
        "algorithm": {
            "name": info.name,
            "version": info.version,
            "paradigm": paradigm or info.paradigm,
            "description": info.description,
            "url": info.url,
            "authors": list(info.authors),
            "training": dict(training) if training is not None else None,
        },
        "protocol": {
            "name": protocol,
            "seeds": list(protocol_seeds(spec, protocol)),
            "scales": sorted({c.scale for c in cells}, key=[s.name for s in spec.scales].index),
            "scenarios": sorted({c.scenario for c in cells},
                                key=[s.name for s in spec.scenarios].index),
        },
        "episodes": episodes,
        "summary": summarise(spec, episodes),
        "provenance": provenance(command),
    }


def dumps(result: Mapping[str, Any]) -> str:
    """Canonical text of a result file (stable key order, so diffs stay readable)."""
    return json.dumps(result, indent=1, sort_keys=True, allow_nan=False) + "\n"
