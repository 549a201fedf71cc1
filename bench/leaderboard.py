"""The leaderboard: validate submitted results, rank them per task and overall, write the outputs.

Every output (``README.md``, ``index.html``, ``csv/``, ``plots/``) is a pure function of the
submission files: no dates, no absolute paths, sorted rows, fixed float formats and deterministic
PNGs. So a rebuild from the same submissions is byte-identical, and :func:`check` can tell a pull
request whose committed leaderboard does not match its submissions.

Ranking rule (also stated on the generated page and in docs/metrics.md): eligible entries (full
protocol, paradigm not ``oracle``, no "not eligible to rank" warning from the validator) of the
*current* (newest) version of each task are ordered by nominal mean V. An entry shares the rank of
the group above it only when it cannot be told apart from *every* member of that group: a paired
bootstrap on the shared evaluation seeds (and runs) gives a 95% CI of the mean difference that
contains 0, and their V CIs overlap. Groups never chain, so no shared rank joins entries whose CIs
are disjoint, and a rank never contradicts mean V. Older versions are listed in an archive.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from bench import stats
from bench.metrics import hyperscore
from bench.registry import get_spec, parse_id, task_ids
from bench.spec import TaskSpec
from bench.summary import runs_matrix

DEFAULT_SUBMISSIONS = "leaderboard/submissions"
DEFAULT_OUT = "leaderboard"
GENERATED_FILES = ("README.md", "index.html")
GENERATED_DIRS = ("csv", "plots")
AGGREGATE_SEED = 0  # Generator seed of the overall bootstrap CI, fixed so rebuilds are identical
#: The registered reference baseline that "P(better than reference)" compares with. It is found
#: by its registered file (``<task>/random.json``, written by ``rao-bench baselines``) and name,
#: never by whichever entry happens to be called ``random``.
REFERENCE = "random"
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


TIE_SEED = 0  # Generator seed of every paired tie test, fixed so rebuilds are identical


@dataclass(frozen=True)
class Scored:
    """What the tie rule needs of one entry: its mean and CI, and its values per run (rows) and
    evaluation seed (columns, labelled by ``seeds``)."""

    mean: float
    low: float
    high: float
    values: np.ndarray
    seeds: tuple[int, ...]


def inseparable(a: Scored, b: Scored) -> bool:
    """True when the evidence cannot tell ``a`` and ``b`` apart at 95%: their CIs overlap and a
    paired bootstrap on their shared seeds does not exclude a zero mean difference."""
    if not overlaps((a.low, a.high), (b.low, b.high)):
        return False
    shared = sorted(set(a.seeds) & set(b.seeds))
    if not shared:
        return True  # nothing to pair on: the overlapping CIs are all the evidence there is
    ia = [a.seeds.index(x) for x in shared]
    ib = [b.seeds.index(x) for x in shared]
    return not stats.separable(a.values[:, ia], b.values[:, ib], np.random.default_rng(TIE_SEED))


def rank_paired(items: Sequence[Scored]) -> list[Place]:
    """Rank entries best (highest mean) first; equal means keep the caller's order.

    Walking down the order, an item joins the current group only if it is :func:`inseparable`
    from every member already in it; otherwise it starts a new group. A group's rank is its first
    member's position (competition ranking: 1, =2, =2, 4). Returns places in ranked order.
    """
    order = sorted(range(len(items)), key=lambda i: (-items[i].mean, i))
    group_start: list[int] = []
    for pos, i in enumerate(order):
        joins = pos > 0 and all(inseparable(items[order[q]], items[i])
                                for q in range(group_start[-1], pos))
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
    verified: bool | None = None  # None: not checked (a local build outside the repository)
    registered_reference: bool | None = None  # by identity (leaderboard/entries.yaml), if known

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

    def nominal_matrix(self, spec: TaskSpec, quantity: str = "V") -> tuple[np.ndarray, list[int]]:
        """Nominal values by run (rows) and evaluation seed (columns, sorted), and the seeds."""
        eps = [e for e in self.result["episodes"]
               if e["scale"] == spec.nominal_scale.name and e["scenario"] == spec.nominal_scenario.name]
        return runs_matrix(eps, quantity)

    def nominal_values(self, spec: TaskSpec, quantity: str = "V") -> np.ndarray:
        """Per-seed nominal values (the mean over runs), sorted by seed: shape ``(num_seeds,)``."""
        return self.nominal_matrix(spec, quantity)[0].mean(axis=0)

    @property
    def n_runs(self) -> int:
        """Independent training runs behind the entry (1 for non-learning entries)."""
        return int(self.summary["nominal"].get("n_runs", 1))

    @property
    def unit(self) -> str:
        """The statistical unit of the entry's CI, with its count."""
        n_eps = int(self.summary["nominal"]["n_episodes"])
        if self.n_runs > 1:
            return f"{self.n_runs} runs × {n_eps // self.n_runs} seeds"
        one_run = " (1 training run)" if self.result["algorithm"].get("training") else ""
        return f"{n_eps} episodes{one_run}"

    def scored(self, spec: TaskSpec) -> Scored:
        V = self.stat("V")
        values, seeds = self.nominal_matrix(spec)
        return Scored(V.mean, V.low, V.high, values, tuple(seeds))

    def hyperscore_of_mean_V(self, spec: TaskSpec) -> float:
        """The founding paper's HyperScore applied to the mean V (the mean of per-episode
        HyperScores is not ordered like mean V, since HyperScore is non-linear)."""
        hp = spec.hyperscore
        return float(hyperscore(self.stat("V").mean, hp.beta, hp.gamma, hp.kappa))

    @property
    def is_reference(self) -> bool:
        """Whether this is the registered reference baseline's own file on its task: by its
        identity in leaderboard/entries.yaml when the submission path established it, else by
        the file the sweep writes (``<task>/random.json``) and name."""
        if self.registered_reference is not None:
            return self.registered_reference and self.source == f"{self.task}/{REFERENCE}.json"
        return (self.name == REFERENCE and self.paradigm == "random"
                and self.source == f"{self.task}/{REFERENCE}.json")


@dataclass(frozen=True)
class Rejected:
    source: str
    problems: tuple[str, ...]


@dataclass(frozen=True)
class Row:
    """A line of a task's main table: ``place`` is None for oracles; ``gap`` is the relative
    optimality gap ``1 - V / V_oracle`` to the best oracle (None without an oracle); ``poi`` is
    the paired probability of improvement over the reference baseline (None for the reference
    itself or when the task has none)."""

    entry: Entry
    place: Place | None
    gap: float | None
    poi: float | None = None
    wtl: tuple[int, int, int] | None = None  # paired wins, ties, losses behind ``poi``


@dataclass
class TaskBoard:
    spec: TaskSpec
    rows: list[Row]
    quick: list[Entry]
    ineligible: list[Entry]
    oracle_V: float | None
    reference: Entry | None = None
    current: bool = True  # False: an older version, shown in the archive

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
    poi_vs_random: float | None  # paired P(better than the reference baseline), averaged over tasks
    poi_tasks: int
    place: Place | None
    note: str

    @property
    def label(self) -> str:
        return f"{self.key[0]} v{self.key[1]}"


@dataclass(frozen=True)
class FrontierCell:
    """The best ranked entry of one paradigm on one current task."""

    task: str
    paradigm: str
    entry: Entry
    place: Place


@dataclass
class Board:
    tasks: list[TaskBoard]  # the current (newest) version of each task
    overall: list[OverallRow]
    overall_tasks: list[str]
    random_key: tuple[str, str, str] | None
    rejected: list[Rejected] = field(default_factory=list)
    archive: list[TaskBoard] = field(default_factory=list)  # older versions, still validated
    frontier: list[FrontierCell] = field(default_factory=list)


#: The floors every learner must beat (issue 19): the constant policy (the middle of every action
#: space) on every task, and each domain's naive heuristic (the zero anchor of its v2 score).
FLOOR_CONSTANT = "constant"
NAIVE_FLOORS = {"supply_chain": "lot_for_lot", "power_grid": "no_control", "spectrum": "safe_random",
                "compute": "round_robin"}
FLOOR_SEED = 0  # bootstrap seed of the floor comparisons (a rebuilt board is byte-identical)


def floor_names(task_id: str) -> tuple[str, ...]:
    """The floor entries' names on ``task_id``: the constant policy, then the domain's naive one."""
    naive = NAIVE_FLOORS.get(task_id.split("/", 1)[0])
    return (FLOOR_CONSTANT,) + ((naive,) if naive else ())


def paired_nominal(e: Entry, other: Entry, spec: TaskSpec) -> tuple[np.ndarray, np.ndarray]:
    """Both entries' nominal V as (runs, seeds) matrices on the eval seeds both ran, same column
    order (the pairing of every paired comparison on the board)."""
    a, sa = e.nominal_matrix(spec)
    b, sb = other.nominal_matrix(spec)
    shared = sorted(set(sa) & set(sb))
    return a[:, [sa.index(x) for x in shared]], b[:, [sb.index(x) for x in shared]]


def floor_checks(e: Entry, entries: Sequence[Entry], spec: TaskSpec) -> list[tuple[str, float, float, float]]:
    """For a learner entry: (floor name, mean V difference, 95% low, high) against each floor entry
    present, paired on the nominal eval seeds (runs resampled independently); the learner beats a
    floor when ``low > 0``."""
    out = []
    for name in floor_names(spec.id):
        # the reference sweep's own file (in the repository the name's owner is checked on
        # admission: leaderboard/entries.yaml), not a namesake elsewhere
        floor = next((f for f in entries if f.name == name and f.source == f"{f.task}/{name}.json"),
                     None)
        if floor is None or floor is e:
            continue
        a, b = paired_nominal(e, floor, spec)
        if a.shape[1] < 2:
            continue
        d, lo, hi = stats.paired_difference_ci(a, b, np.random.Generator(np.random.PCG64(FLOOR_SEED)))
        out.append((name, float(d), float(lo), float(hi)))
    return out


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


def _admitted(path: Path, root: Path, strict: bool) -> tuple[bool, list[str], list[str], Any, dict]:
    """The submission path's verdict on one file (``bench.submit.board.admit``): ok, errors,
    warnings, the document with the *recomputed* summary, and what the board needs besides."""
    from bench.submit.board import admit

    adm = admit(path, root, require_verified=strict)
    extra = {"verified": adm.verified if strict else None,
             "registered_reference": adm.is_random_reference if strict else None,
             "block": adm.rank_block if strict else ""}
    return adm.result is not None, adm.errors, adm.warnings, adm.result, extra


def load_submissions(submissions_dir: Path, validator: Callable[[Path], Any] | None = None,
                     *, strict: bool | None = None) -> tuple[list[Entry], list[Rejected]]:
    """Validate every ``**/*.json`` under ``submissions_dir`` (sorted by relative path).

    Without a ``validator`` each file goes through ``bench.submit.board.admit``: the board shows
    the summary the validator recomputed, never the submitted one. ``strict`` (default: when
    ``submissions_dir`` is the repository's ``leaderboard/submissions``) also requires an entry to
    be verified (``leaderboard/verified.json``) and registered (``leaderboard/entries.yaml``) to
    rank; otherwise it is listed apart with the reason.
    """
    from bench.submit.location import SUBMISSIONS

    root = Path(submissions_dir)
    if strict is None:
        strict = root.resolve() == SUBMISSIONS.resolve()
    files = sorted(root.glob("**/*.json"), key=lambda p: p.relative_to(root).as_posix()) \
        if root.is_dir() else []
    entries: list[Entry] = []
    rejected: list[Rejected] = []
    seen: dict[tuple[str, str, str, str], str] = {}
    for path in files:
        source = path.relative_to(root).as_posix()
        result: Any = None
        extra: dict[str, Any] = {"verified": None, "registered_reference": None, "block": ""}
        try:
            if validator is None:
                ok, problems, warnings, result, extra = _admitted(path, root, strict)
            else:
                report = validator(path)
                ok = bool(report.ok)
                # bench.validate's Report lists warnings among ``problems``; quote only the errors
                problems = [str(p) for p in getattr(report, "errors", report.problems)]
                warnings = [str(w) for w in getattr(report, "warnings", [])]
        except Exception as exc:  # a crashing validator must not take the whole board down
            ok, problems, warnings = False, [f"validator failed: {type(exc).__name__}: {exc}"], []
        if ok and result is None:
            try:
                result = json.loads(path.read_text(encoding="utf-8"))
            except Exception as exc:
                ok, problems = False, [f"cannot be read for the leaderboard: {type(exc).__name__}: {exc}"]
        if ok:
            try:
                get_spec(result["task"]["id"], warn_old=False)
            except Exception as exc:
                ok, problems = False, [f"cannot be read for the leaderboard: {type(exc).__name__}: {exc}"]
        if not ok:
            msgs = tuple(_scrub(p, path, source, root) for p in (problems or ["invalid"])[:MAX_PROBLEMS])
            rejected.append(Rejected(source, msgs))
            continue
        status, note = _classify(result, warnings)
        if status == RANKED and extra["block"]:
            status, note = INELIGIBLE, extra["block"]
        ident = (result["task"]["id"], result["protocol"]["name"],
                 result["algorithm"]["name"], result["algorithm"]["version"])
        if ident in seen:
            rejected.append(Rejected(source, (f"duplicate of {seen[ident]}: same task, protocol, "
                                              "name and version; bump the version",)))
            continue
        seen[ident] = source
        entries.append(Entry(source=source, result=result, status=status,
                             note=_scrub(note, path, source, root), verified=extra["verified"],
                             registered_reference=extra["registered_reference"]))
    return entries, rejected


# ---------------------------------------------------------------------------------------- boards


def _order_key(e: Entry) -> tuple[float, float, str, str, str]:
    """Best first by mean V; HyperScore, names and path only make the order total."""
    return (-e.stat("V").mean, -e.stat("hyperscore").mean, e.name, e.version, e.source)


def _poi(e: Entry, ref: Entry | None, spec: TaskSpec) -> tuple[float | None, tuple[int, int, int] | None]:
    """Paired P(V_e > V_ref) + ½ P(=) on the seeds both ran, and the wins, ties and losses
    behind it over (run, run, seed) comparisons; (None, None) for the reference itself."""
    if ref is None or e is ref:
        return None, None
    a, b = paired_nominal(e, ref, spec)
    if not a.shape[1]:
        return None, None
    a, b = a[:, None, :], b[None, :, :]
    wtl = (int((a > b).sum()), int((a == b).sum()), int((a < b).sum()))
    return stats.paired_probability_of_improvement(a[:, 0, :], b[0]), wtl


def task_board(spec: TaskSpec, entries: Sequence[Entry], current: bool = True) -> TaskBoard:
    """Rank one task's entries by mean V (tie rule: :func:`rank_paired`); oracles sit at their
    score's position without a rank."""
    main = sorted((e for e in entries if e.status in (RANKED, ORACLE)), key=_order_key)
    eligible = [e for e in main if e.status == RANKED]
    places = {eligible[p.index].source: p for p in rank_paired([e.scored(spec) for e in eligible])}
    oracle_V = max((e.stat("V").mean for e in main if e.status == ORACLE), default=None)
    reference = next((e for e in eligible if e.is_reference), None)
    rows = []
    for e in main:
        gap = None
        if e.status == RANKED and oracle_V is not None and oracle_V > 0:
            gap = 1.0 - e.stat("V").mean / oracle_V
        poi, wtl = _poi(e, reference, spec)
        rows.append(Row(entry=e, place=places.get(e.source), gap=gap, poi=poi, wtl=wtl))
    return TaskBoard(spec=spec, rows=rows,
                     quick=sorted((e for e in entries if e.status == QUICK), key=_order_key),
                     ineligible=sorted((e for e in entries if e.status == INELIGIBLE), key=_order_key),
                     oracle_V=oracle_V, reference=reference, current=current)


def overall_board(boards: Sequence[TaskBoard]) -> tuple[list[OverallRow], list[str], tuple | None]:
    """Aggregate each entry over the current tasks it has full-protocol results for.

    Per entry: mean normalised V over its tasks with a stratified bootstrap 95% CI
    (``stats.aggregate_over_tasks`` on nominal V averaged over runs, shape
    ``(num_seeds, num_tasks)``; should tasks differ in seed count, each keeps its first ``min``
    seeds), the mean of its per-task HyperScore means, and the paired probability of improvement
    over the reference baseline averaged over the tasks both have. Only eligible entries with
    results on every task that has ranked results are ranked (by mean V, same tie rule, paired on
    (task, seed)): the overall table is about coverage, so the per-task frontier sits beside it.
    Returns (rows, those tasks, the reference's key).
    """
    boards = [b for b in boards if b.current]
    cells: dict[tuple[str, str, str], dict[str, tuple[Entry, TaskSpec, Row]]] = {}
    for b in boards:
        for r in b.rows:
            cells.setdefault(r.entry.key, {})[b.task_id] = (r.entry, b.spec, r)
    covered = sorted(b.task_id for b in boards if any(r.entry.status == RANKED for r in b.rows))
    refs = [b.reference for b in boards if b.reference is not None]
    random_key = refs[0].key if refs else None

    rows: list[OverallRow] = []
    scored: dict[tuple[str, str, str], Scored] = {}
    for key, c in cells.items():
        tasks = tuple(sorted(c))
        V = {t: e.nominal_values(spec) for t, (e, spec, _) in c.items()}
        n = min(len(V[t]) for t in tasks)
        table = np.stack([V[t][:n] for t in tasks], axis=1)
        agg = stats.aggregate_over_tasks(table, np.random.default_rng(AGGREGATE_SEED))
        pois = [c[t][2].poi for t in tasks if c[t][2].poi is not None]
        status = c[tasks[0]][0].status
        note = ("oracle (bound, not ranked)" if status == ORACLE
                else f"not ranked: results on {len(tasks)} of {len(covered)} current tasks"
                if set(covered) - set(tasks) else "")
        hs = float(np.mean([c[t][0].stat("hyperscore").mean for t in tasks]))
        rows.append(OverallRow(key=key, status=status, tasks=tasks, V=agg, hyperscore_mean=hs,
                               poi_vs_random=float(np.mean(pois)) if pois else None,
                               poi_tasks=len(pois), place=None, note=note))
        cols = tuple(range(table.size))  # (seed, task) pairs, the same for every full entry
        scored[key] = Scored(agg["mean"], agg["mean_ci_low"], agg["mean_ci_high"],
                             table.reshape(1, -1), cols)

    rows.sort(key=lambda r: (-r.V["mean"], -r.hyperscore_mean, r.key))
    rankable = [i for i, r in enumerate(rows) if r.status == RANKED and not r.note]
    for p in rank_paired([scored[rows[i].key] for i in rankable]):
        rows[rankable[p.index]] = replace(rows[rankable[p.index]], place=p)
    rows.sort(key=lambda r: r.place is None)  # stable: ranked first, each part still by mean V
    return rows, covered, random_key


def frontier(boards: Sequence[TaskBoard]) -> list[FrontierCell]:
    """Per current task, the best ranked entry of each paradigm: specialists sit beside the
    generalists that the overall table can rank."""
    out = []
    for b in boards:
        if not b.current:
            continue
        best: dict[str, Row] = {}
        for r in b.rows:  # rows are best first
            if r.place is not None and r.entry.paradigm not in best:
                best[r.entry.paradigm] = r
        out += [FrontierCell(b.task_id, p, r.entry, r.place) for p, r in best.items()]
    return out


def current_version(task_id: str) -> bool:
    """Whether ``task_id`` is the newest released version of its task."""
    ns, name, version = parse_id(task_id)
    versions = [v for t in task_ids() for n2, m2, v in [parse_id(t)] if (n2, m2) == (ns, name)]
    return version == max(versions)


def make_board(entries: Sequence[Entry], rejected: Sequence[Rejected] = ()) -> Board:
    by_task: dict[str, list[Entry]] = {}
    for e in entries:
        by_task.setdefault(e.task, []).append(e)
    boards = [task_board(get_spec(t, warn_old=False), by_task[t], current=current_version(t))
              for t in sorted(by_task)]
    overall, covered, random_key = overall_board(boards)
    return Board(tasks=[b for b in boards if b.current], overall=overall, overall_tasks=covered,
                 random_key=random_key, rejected=list(rejected),
                 archive=[b for b in boards if not b.current], frontier=frontier(boards))


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
