"""The leaderboard: validate submitted results, rank them per task and overall, write the outputs.

Every output (``README.md``, ``index.html``, ``csv/``, ``plots/``) is a pure function of the
submission files: no dates, no absolute paths, sorted rows, fixed float formats and deterministic
PNGs. So a rebuild from the same submissions is byte-identical, and :func:`check` can tell a pull
request whose committed leaderboard does not match its submissions.

Ranking rule (also stated on the generated page): eligible entries (full protocol, paradigm not
``oracle``, no "not eligible to rank" warning from the validator) are ordered by nominal HyperScore
mean. An entry whose 95% CI overlaps the CI of the entry ranked directly above joins that entry's
tie group; a group's rank is 1 + the number of entries above it (``1, =2, =2, 4``).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from bench import stats
from bench.registry import get_spec
from bench.spec import TaskSpec

DEFAULT_SUBMISSIONS = "leaderboard/submissions"
DEFAULT_OUT = "leaderboard"
GENERATED_FILES = ("README.md", "index.html")
GENERATED_DIRS = ("csv", "plots")
AGGREGATE_SEED = 0  # Generator seed of the overall bootstrap CI, fixed so rebuilds are identical
MAX_PROBLEMS = 3  # problems quoted per rejected submission

# Entry status: where an entry appears and why.
RANKED, ORACLE, QUICK, INELIGIBLE = "ranked", "oracle", "quick", "ineligible"


# ---------------------------------------------------------------------------------------- ranking


@dataclass(frozen=True)
class Place:
    """Where one scored item landed: ``index`` into the caller's list, 1-based ``position`` in the
    sorted order, ``rank`` of its tie group, and whether that group has more than one member."""

    index: int
    position: int
    rank: int
    tied: bool

    @property
    def label(self) -> str:
        return f"={self.rank}" if self.tied else str(self.rank)


def overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether closed intervals ``a = (low, high)`` and ``b`` share a point."""
    return a[0] <= b[1] and b[0] <= a[1]


def rank_with_ties(scores: Sequence[tuple[float, float, float]]) -> list[Place]:
    """Rank ``(mean, ci_low, ci_high)`` triples, best (highest mean) first.

    Equal means keep the caller's order, so the caller decides tie-breaks. An item whose CI
    overlaps the CI of the item directly above joins that item's group (so groups chain); a group's
    rank is its first member's position (competition ranking). Returns places in ranked order.
    """
    order = sorted(range(len(scores)), key=lambda i: (-scores[i][0], i))
    group_start: list[int] = []  # per position: position where its group starts
    for pos, i in enumerate(order):
        joins = pos > 0 and overlaps(scores[order[pos - 1]][1:], scores[i][1:])
        group_start.append(group_start[-1] if joins else pos)
    sizes: dict[int, int] = {}
    for g in group_start:
        sizes[g] = sizes.get(g, 0) + 1
    return [Place(index=i, position=pos + 1, rank=group_start[pos] + 1, tied=sizes[group_start[pos]] > 1)
            for pos, i in enumerate(order)]


# ---------------------------------------------------------------------------------------- entries


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float


@dataclass(frozen=True)
class Entry:
    """One valid submission: ``source`` is its path relative to the submissions directory."""

    source: str
    result: Mapping[str, Any]
    status: str
    note: str = ""

    @property
    def task(self) -> str:
        return str(self.result["task"]["id"])

    @property
    def name(self) -> str:
        return str(self.result["algorithm"]["name"])

    @property
    def version(self) -> str:
        return str(self.result["algorithm"]["version"])

    @property
    def paradigm(self) -> str:
        return str(self.result["algorithm"]["paradigm"])

    @property
    def protocol(self) -> str:
        return str(self.result["protocol"]["name"])

    @property
    def key(self) -> tuple[str, str, str]:
        """Identity across tasks."""
        return (self.name, self.version, self.paradigm)

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def summary(self) -> Mapping[str, Any]:
        return self.result["summary"]

    def stat(self, quantity: str) -> Interval:
        s = self.summary["nominal"][quantity]
        return Interval(float(s["mean"]), float(s["ci_low"]), float(s["ci_high"]))

    def nominal_values(self, spec: TaskSpec, quantity: str = "V") -> np.ndarray:
        """Per-seed nominal values, sorted by seed: shape ``(num_seeds,)``."""
        eps = [e for e in self.result["episodes"]
               if e["scale"] == spec.nominal_scale.name and e["scenario"] == spec.nominal_scenario.name]
        eps.sort(key=lambda e: e["seed"])
        return np.asarray([float(e[quantity]) for e in eps], dtype=np.float64)


@dataclass(frozen=True)
class Rejected:
    source: str
    problems: tuple[str, ...]


@dataclass(frozen=True)
class Row:
    """A line of a task's main table: ``place`` is None for oracles; ``gap`` is the relative
    optimality gap ``1 - V / V_oracle`` to the best oracle (None without an oracle)."""

    entry: Entry
    place: Place | None
    gap: float | None


@dataclass
class TaskBoard:
    spec: TaskSpec
    rows: list[Row]
    quick: list[Entry]
    ineligible: list[Entry]
    oracle_V: float | None

    @property
    def task_id(self) -> str:
        return self.spec.id

    @property
    def slug(self) -> str:
        return task_slug(self.spec.id)


@dataclass(frozen=True)
class OverallRow:
    """An entry's aggregate over the tasks it has full-protocol results for."""

    key: tuple[str, str, str]
    status: str
    tasks: tuple[str, ...]
    V: Mapping[str, float]  # bench.stats.aggregate_over_tasks output
    hyperscore_mean: float
    poi_vs_random: float | None
    poi_tasks: int
    place: Place | None
    note: str

    @property
    def label(self) -> str:
        return f"{self.key[0]} v{self.key[1]}"


@dataclass
class Board:
    tasks: list[TaskBoard]
    overall: list[OverallRow]
    overall_tasks: list[str]
    random_key: tuple[str, str, str] | None
    rejected: list[Rejected] = field(default_factory=list)


def task_slug(task_id: str) -> str:
    """File-name form of a task id: ``domain/Name-vN`` -> ``domain__Name-vN``."""
    return task_id.replace("/", "__")


# ------------------------------------------------------------------------------------- validation


def _validate(path: Path) -> Any:
    """The validator's report for one file (``ok``, ``problems``, ``warnings``)."""
    from bench.validate import validate_file

    return validate_file(path)


def _scrub(text: str, path: Path, source: str, root: Path) -> str:
    """Replace the submission's absolute or working-directory path in a message by its relative
    path, so that the page does not depend on where the repository is checked out."""
    subs = {str(path.resolve()): source, str(path): source,
            str(root.resolve()): "<submissions>", str(root): "<submissions>"}
    for old in sorted(subs, key=len, reverse=True):
        if old not in ("", "."):
            text = text.replace(old, subs[old])
    return " ".join(text.split())


def _classify(result: Mapping[str, Any], warnings: Sequence[str]) -> tuple[str, str]:
    if result["protocol"]["name"] != "full":
        return QUICK, "quick protocol"
    if result["algorithm"]["paradigm"] == "oracle":
        return ORACLE, "oracle (bound, not ranked)"
    why = [w for w in warnings if "not eligible to rank" in w]
    if why:
        return INELIGIBLE, why[0]
    return RANKED, ""


def load_submissions(submissions_dir: Path,
                     validator: Callable[[Path], Any] | None = None) -> tuple[list[Entry], list[Rejected]]:
    """Validate every ``**/*.json`` under ``submissions_dir`` (sorted by relative path)."""
    validator = validator or _validate
    root = Path(submissions_dir)
    files = sorted(root.glob("**/*.json"), key=lambda p: p.relative_to(root).as_posix()) \
        if root.is_dir() else []
    entries: list[Entry] = []
    rejected: list[Rejected] = []
    seen: dict[tuple[str, str, str, str], str] = {}
    for path in files:
        source = path.relative_to(root).as_posix()
        try:
            report = validator(path)
            ok = bool(report.ok)
            # bench.validate's Report lists warnings among ``problems``; quote only the errors
            problems = [str(p) for p in getattr(report, "errors", report.problems)]
            warnings = [str(w) for w in getattr(report, "warnings", [])]
        except Exception as exc:  # a crashing validator must not take the whole board down
            ok, problems, warnings = False, [f"validator failed: {type(exc).__name__}: {exc}"], []
        result: Any = None
        if ok:
            try:
                result = json.loads(path.read_text(encoding="utf-8"))
                get_spec(result["task"]["id"], warn_old=False)
            except Exception as exc:
                ok, problems = False, [f"cannot be read for the leaderboard: {type(exc).__name__}: {exc}"]
        if not ok:
            msgs = tuple(_scrub(p, path, source, root) for p in (problems or ["invalid"])[:MAX_PROBLEMS])
            rejected.append(Rejected(source, msgs))
            continue
        status, note = _classify(result, warnings)
        ident = (result["task"]["id"], result["protocol"]["name"],
                 result["algorithm"]["name"], result["algorithm"]["version"])
        if ident in seen:
            rejected.append(Rejected(source, (f"duplicate of {seen[ident]}: same task, protocol, "
                                              "name and version; bump the version",)))
            continue
        seen[ident] = source
        entries.append(Entry(source=source, result=result, status=status,
                             note=_scrub(note, path, source, root)))
    return entries, rejected


# ---------------------------------------------------------------------------------------- boards


def _order_key(e: Entry) -> tuple[float, float, str, str, str]:
    """Best first by HyperScore mean, then V mean; names and path make the order total."""
    return (-e.stat("hyperscore").mean, -e.stat("V").mean, e.name, e.version, e.source)


def task_board(spec: TaskSpec, entries: Sequence[Entry]) -> TaskBoard:
    """Rank one task's entries; oracles sit at their score's position without a rank."""
    main = sorted((e for e in entries if e.status in (RANKED, ORACLE)), key=_order_key)
    eligible = [e for e in main if e.status == RANKED]
    places = {eligible[p.index].source: p for p in rank_with_ties(
        [(e.stat("hyperscore").mean, e.stat("hyperscore").low, e.stat("hyperscore").high)
         for e in eligible])}
    oracle_V = max((e.stat("V").mean for e in main if e.status == ORACLE), default=None)
    rows = []
    for e in main:
        gap = None
        if e.status == RANKED and oracle_V is not None and oracle_V > 0:
            gap = 1.0 - e.stat("V").mean / oracle_V
        rows.append(Row(entry=e, place=places.get(e.source), gap=gap))
    return TaskBoard(spec=spec, rows=rows,
                     quick=sorted((e for e in entries if e.status == QUICK), key=_order_key),
                     ineligible=sorted((e for e in entries if e.status == INELIGIBLE), key=_order_key),
                     oracle_V=oracle_V)


def _pick_random(entries: Sequence[Entry]) -> tuple[str, str, str] | None:
    keys = sorted({e.key for e in entries if e.status == RANKED and e.paradigm == "random"},
                  key=lambda k: (k[0] != "random", k))
    return keys[0] if keys else None


def overall_board(boards: Sequence[TaskBoard]) -> tuple[list[OverallRow], list[str], tuple | None]:
    """Aggregate each entry over the tasks it has full-protocol results for.

    Per entry: mean normalised V over its tasks with a stratified bootstrap 95% CI
    (``stats.aggregate_over_tasks`` on nominal V, shape ``(num_seeds, num_tasks)``; should tasks
    differ in seed count, each keeps its first ``min`` seeds), the mean of its per-task HyperScore
    means, and the probability of improvement over the random baseline (per-task P(V > V_random)
    averaged over the tasks both have). Only eligible entries with results on every task that has
    ranked results are ranked, by mean V with the per-task tie rule. Returns (rows, those tasks,
    the random baseline's key).
    """
    cells: dict[tuple[str, str, str], dict[str, tuple[Entry, TaskSpec]]] = {}
    for b in boards:
        for r in b.rows:
            cells.setdefault(r.entry.key, {})[b.task_id] = (r.entry, b.spec)
    covered = sorted(b.task_id for b in boards if any(r.entry.status == RANKED for r in b.rows))
    random_key = _pick_random([r.entry for b in boards for r in b.rows])
    nominal = {k: {t: e.nominal_values(spec) for t, (e, spec) in c.items()} for k, c in cells.items()}

    rows: list[OverallRow] = []
    for key, c in cells.items():
        tasks = tuple(sorted(c))
        V = nominal[key]
        n = min(len(V[t]) for t in tasks)
        agg = stats.aggregate_over_tasks(np.stack([V[t][:n] for t in tasks], axis=1),
                                         np.random.default_rng(AGGREGATE_SEED))
        common = [t for t in tasks if random_key not in (None, key) and t in nominal[random_key]]
        poi = float(np.mean([stats.probability_of_improvement(V[t], nominal[random_key][t])
                             for t in common])) if common else None
        status = c[tasks[0]][0].status
        note = ("oracle (bound, not ranked)" if status == ORACLE
                else f"not ranked: results on {len(tasks)} of {len(covered)} tasks"
                if set(covered) - set(tasks) else "")
        hs = float(np.mean([c[t][0].stat("hyperscore").mean for t in tasks]))
        rows.append(OverallRow(key=key, status=status, tasks=tasks, V=agg, hyperscore_mean=hs,
                               poi_vs_random=poi, poi_tasks=len(common), place=None, note=note))

    rows.sort(key=lambda r: (-r.V["mean"], -r.hyperscore_mean, r.key))
    rankable = [i for i, r in enumerate(rows) if r.status == RANKED and not r.note]
    for p in rank_with_ties([(rows[i].V["mean"], rows[i].V["mean_ci_low"], rows[i].V["mean_ci_high"])
                             for i in rankable]):
        rows[rankable[p.index]] = replace(rows[rankable[p.index]], place=p)
    rows.sort(key=lambda r: r.place is None)  # stable: ranked first, each part still by mean V
    return rows, covered, random_key


def make_board(entries: Sequence[Entry], rejected: Sequence[Rejected] = ()) -> Board:
    by_task: dict[str, list[Entry]] = {}
    for e in entries:
        by_task.setdefault(e.task, []).append(e)
    boards = [task_board(get_spec(t, warn_old=False), by_task[t]) for t in sorted(by_task)]
    overall, covered, random_key = overall_board(boards)
    return Board(tasks=boards, overall=overall, overall_tasks=covered, random_key=random_key,
                 rejected=list(rejected))


# ------------------------------------------------------------------------------- build and check


def render(board: Board) -> dict[str, bytes]:
    """Every generated file, keyed by its path relative to the output directory."""
    from bench.leaderboard_plots import plot_files
    from bench.leaderboard_render import csv_files, html_page, markdown_page

    files = {"README.md": markdown_page(board).encode("utf-8"),
             "index.html": html_page(board).encode("utf-8")}
    files.update({k: v.encode("utf-8") for k, v in csv_files(board).items()})
    files.update(plot_files(board))
    return dict(sorted(files.items()))


def _existing(out_dir: Path) -> set[str]:
    out_dir = Path(out_dir)
    found = {n for n in GENERATED_FILES if (out_dir / n).is_file()}
    for d in GENERATED_DIRS:
        if (out_dir / d).is_dir():
            found |= {p.relative_to(out_dir).as_posix() for p in (out_dir / d).rglob("*") if p.is_file()}
    return found


def render_dir(submissions_dir: Path,
               validator: Callable[[Path], Any] | None = None) -> tuple[dict[str, bytes], list[Rejected]]:
    entries, rejected = load_submissions(Path(submissions_dir), validator)
    return render(make_board(entries, rejected)), rejected


def write(files: Mapping[str, bytes], out_dir: Path) -> list[Path]:
    """Write ``files`` under ``out_dir`` and delete generated files no longer produced."""
    out_dir = Path(out_dir)
    for name in sorted(_existing(out_dir) - set(files)):
        (out_dir / name).unlink()
    written = []
    for name, data in files.items():
        path = out_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_bytes() != data:
            path.write_bytes(data)
        written.append(path)
    return written


def build(submissions_dir: Path, out_dir: Path) -> list[Path]:
    """Rebuild the leaderboard; returns the generated files and prints rejected submissions."""
    files, rejected = render_dir(submissions_dir)
    for r in rejected:
        print(f"rejected {r.source}: {'; '.join(r.problems)}", file=sys.stderr)
    return write(files, out_dir)


def compare(files: Mapping[str, bytes], out_dir: Path) -> list[tuple[str, str]]:
    """``(name, why)`` for each generated file that is stale, missing or unexpected."""
    out_dir = Path(out_dir)
    out: list[tuple[str, str]] = []
    for name in sorted(set(files) | _existing(out_dir)):
        path = out_dir / name
        if name not in files:
            out.append((name, "unexpected"))
        elif not path.is_file():
            out.append((name, "missing"))
        elif path.read_bytes() != files[name]:
            out.append((name, "stale"))
    return out


def check(submissions_dir: Path, out_dir: Path) -> list[str]:
    """Names of generated files that differ from a fresh rebuild (empty if up to date).

    The rebuild is rendered in memory and compared byte for byte; nothing is written."""
    files, _ = render_dir(submissions_dir)
    return [name for name, _ in compare(files, out_dir)]


def main_leaderboard(submissions: str = DEFAULT_SUBMISSIONS, out: str = DEFAULT_OUT,
                     check: bool = False) -> int:
    """``rao-bench leaderboard [--check]``: 0 if all submissions are valid (and, with ``check``,
    the committed outputs are up to date); 1 otherwise."""
    sub_dir, out_dir = Path(submissions), Path(out)
    files, rejected = render_dir(sub_dir)
    status = 0
    for r in rejected:
        print(f"INVALID {r.source}: {'; '.join(r.problems)}", file=sys.stderr)
        status = 1
    if check:
        diffs = compare(files, out_dir)
        for name, why in diffs:
            print(f"{why}: {out_dir / name}", file=sys.stderr)
        if diffs:
            print(f"leaderboard is out of date: run `rao-bench leaderboard` and commit {out_dir}/",
                  file=sys.stderr)
            return 1
        print(f"leaderboard in {out_dir}/ is up to date ({len(files)} files)")
        if rejected:
            print(f"{len(rejected)} invalid submission(s): fix or remove them", file=sys.stderr)
        return status
    write(files, out_dir)
    n_plots = sum(n.startswith("plots/") for n in files)
    print(f"table:  {out_dir / 'README.md'}\npage:   {out_dir / 'index.html'}\n"
          f"csv:    {out_dir / 'csv'}/ ({sum(n.startswith('csv/') for n in files)} files)\n"
          f"plots:  {out_dir / 'plots'}/ ({n_plots} files)")
    if rejected:
        print(f"{len(rejected)} submission(s) rejected; see 'Rejected submissions' in "
              f"{out_dir / 'README.md'}", file=sys.stderr)
    return status
