"""Who may publish under which name: ``leaderboard/entries.yaml`` (changed only by maintainers).

Each entry name has an owner and a kind: ``reference`` (a baseline the project maintains; its
paradigm and tasks are recorded), ``oracle`` (a reference baseline that reads privileged
information, as the harness derives from its ``privileged`` declaration, never from its label) or
``community`` (a researcher's entry; its owner is a GitHub login). A result under an unregistered
name is valid but does not rank; a result that contradicts its registered entry (an oracle
relabelled ``heuristic``, a reference name on a task it is not meant for) is refused or unranked.
The leaderboard's random reference is the entry registered as kind ``reference`` with paradigm
``random``, not whatever file is called "random". CI checks that the author of a pull request owns
every name it publishes under (``rao-bench check-owner``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bench.submit.kpi_ranges import family
from bench.submit.location import REPO
from bench.submit.text import name_key

ENTRIES_PATH = REPO / "leaderboard" / "entries.yaml"
KINDS = ("reference", "oracle", "community")
MAINTAINERS = "maintainers"


@dataclass(frozen=True)
class EntryId:
    """One registered name: ``tasks`` are task families (``domain/Name``) or ``("*",)``."""

    name: str
    owner: str
    kind: str
    paradigm: str | None = None
    tasks: tuple[str, ...] = ("*",)

    def applies_to(self, task_id: str) -> bool:
        return "*" in self.tasks or family(task_id) in self.tasks or task_id in self.tasks


class EntriesError(ValueError):
    """leaderboard/entries.yaml is malformed; the message names the entry and the field."""


def parse_entries(data: Any, source: str = "entries.yaml") -> tuple[dict[str, EntryId], tuple[str, ...]]:
    """``({name_key: EntryId}, maintainers)`` from the YAML's ``{maintainers: [...], entries: {...}}``."""
    if not isinstance(data, dict) or not isinstance(data.get("entries"), dict):
        raise EntriesError(f"{source}: expected a mapping with an 'entries' mapping")
    maintainers = tuple(str(m) for m in data.get("maintainers") or ())
    out: dict[str, EntryId] = {}
    for name, row in data["entries"].items():
        if not isinstance(row, dict) or row.get("kind") not in KINDS or not row.get("owner"):
            raise EntriesError(f"{source}: entry {name!r} needs an owner and a kind in {KINDS}")
        tasks = row.get("tasks", "*")
        tasks = ("*",) if tasks == "*" else tuple(str(t) for t in tasks)
        key = name_key(str(name))
        if key in out:
            raise EntriesError(f"{source}: entry {name!r} is a second spelling of {out[key].name!r}")
        out[key] = EntryId(str(name), str(row["owner"]), row["kind"], row.get("paradigm"), tasks)
    return out, maintainers


@lru_cache(maxsize=4)
def load_entries(path: Path = ENTRIES_PATH) -> tuple[dict[str, EntryId], tuple[str, ...]]:
    """The registry (cached); an absent file is an empty registry (every name unregistered)."""
    if not Path(path).is_file():
        return {}, ()
    return parse_entries(yaml.safe_load(Path(path).read_text(encoding="utf-8")), str(path))


def lookup(name: str, path: Path = ENTRIES_PATH) -> EntryId | None:
    return load_entries(path)[0].get(name_key(name))


def random_reference(path: Path = ENTRIES_PATH) -> str | None:
    """The name of the reference entry with paradigm ``random`` registered on every task
    (P(better than reference)'s anchor); a task-specific random reference such as spectrum's
    ``safe_random`` (a zero anchor) is not it."""
    hits = [e for e in load_entries(path)[0].values() if e.kind == "reference" and e.paradigm == "random"]
    everywhere = [e.name for e in hits if "*" in e.tasks]
    if len(everywhere) == 1:
        return everywhere[0]
    return hits[0].name if len(hits) == 1 else None


def identity_problems(doc: dict[str, Any], path: Path = ENTRIES_PATH) -> list[tuple[tuple[str, ...], str, bool]]:
    """``(json path, message, is_error)`` for every way ``doc`` contradicts the registry; a
    non-error means valid but not eligible to rank."""
    alg = doc.get("algorithm") if isinstance(doc.get("algorithm"), dict) else {}
    name, paradigm = alg.get("name"), alg.get("paradigm")
    task = doc.get("task") if isinstance(doc.get("task"), dict) else {}
    task_id = task.get("id")
    if not isinstance(name, str) or not isinstance(task_id, str):
        return []
    try:
        entry = lookup(name, path)
    except (EntriesError, OSError, yaml.YAMLError) as exc:
        return [(("algorithm", "name"), f"the entry registry cannot be read ({exc}); the name's "
                                        "owner is unknown: unranked", False)]
    where = ("algorithm", "name")
    if entry is None:
        return [(where, f"{name!r} is not registered in leaderboard/entries.yaml: valid; unranked "
                        "until a maintainer registers the name with its owner", False)]
    out: list[tuple[tuple[str, ...], str, bool]] = []
    if entry.name != name:
        out.append((where, f"found {name!r}; the registered spelling is {entry.name!r} (names are "
                           "compared NFKC case-folded, so one name cannot have two entries)", True))
    if entry.kind == "oracle" and paradigm != "oracle":
        out.append((("algorithm", "paradigm"), f"found {paradigm!r}; {entry.name!r} is registered as "
                    "an oracle (it reads privileged information), so its results are labelled oracle", True))
    elif entry.kind == "reference" and entry.paradigm is not None and paradigm != entry.paradigm:
        out.append((("algorithm", "paradigm"), f"found {paradigm!r}; reference baseline "
                    f"{entry.name!r} is registered with paradigm {entry.paradigm!r}", True))
    if entry.kind in ("reference", "oracle") and not entry.applies_to(task_id):
        out.append((("task", "id"), f"{entry.name!r} is a reference baseline of {', '.join(entry.tasks)}, "
                    f"not of {task_id!r}: a result under its name here stays unranked", False))
    return out


def owner_problem(doc: dict[str, Any], author: str, path: Path = ENTRIES_PATH) -> str:
    """'' if ``author`` (a GitHub login) may publish ``doc`` under its name, else why not."""
    name = (doc.get("algorithm") or {}).get("name") if isinstance(doc, dict) else None
    if not isinstance(name, str):
        return "the result has no entry name"
    entries, maintainers = load_entries(path)
    entry = entries.get(name_key(name))
    if entry is None:
        return f"{name!r} is not registered in leaderboard/entries.yaml; ask a maintainer to add it with its owner"
    allowed = set(maintainers) if entry.owner == MAINTAINERS else {entry.owner}
    if author not in allowed:
        return f"{name!r} is owned by {entry.owner}; {author!r} may not publish under it"
    return ""


def generate_reference_entries() -> dict[str, dict[str, Any]]:
    """Rows for every registered baseline (``baselines.registry``): kind ``oracle`` when its class
    declares privileged information (``bench.policy.privileged_info``), else ``reference``."""
    from baselines import registry
    from bench.policy import privileged_info

    rows: dict[str, dict[str, Any]] = {}
    for name in registry.names():
        src = registry.get(name)
        tasks = getattr(src.factory, "tasks", "*")
        if name in registry.LEARNERS:  # the tasks it is trained on now, and its archived ones
            trained = registry.LEARNERS[name][2]
            tasks = "*" if "*" in (trained, tasks) else tuple(trained) + tuple(tasks)
        fams = "*" if tasks == "*" else sorted({family(t) for t in tasks})
        oracle = bool(privileged_info(src.factory))
        rows[name] = {"owner": MAINTAINERS, "kind": "oracle" if oracle else "reference",
                      "paradigm": "oracle" if oracle else src.info.paradigm, "tasks": fams}
    return rows


_HEADER = """\
# Who may publish under which leaderboard name (bench/submit/identity.py). Changed only by
# maintainers (.github/CODEOWNERS). The reference rows are generated from baselines/registry.py by
# `rao-bench entries --write` (kind oracle = the class declares privileged information); add a
# community row by hand:  NAME: {owner: github-login, kind: community}
"""


def render_entries(path: Path = ENTRIES_PATH) -> str:
    """The registry's text with the reference rows regenerated and community rows kept."""
    try:
        old = yaml.safe_load(Path(path).read_text(encoding="utf-8")) if Path(path).is_file() else {}
    except (OSError, yaml.YAMLError):
        old = {}
    old = old if isinstance(old, dict) else {}
    rows = generate_reference_entries()
    for name, row in (old.get("entries") or {}).items():
        if isinstance(row, dict) and row.get("kind") == "community" and name not in rows:
            rows[name] = row
    maintainers = old.get("maintainers") or ["rao-bench-maintainers"]
    lines = [_HEADER + f"maintainers: {yaml.safe_dump(list(maintainers), default_flow_style=True).strip()}",
             "entries:"]
    for name, row in rows.items():
        body = yaml.safe_dump(row, default_flow_style=True, sort_keys=False, width=1000).strip()
        lines.append(f"  {name}: {body}")
    return "\n".join(lines) + "\n"
