"""Text renderings of a :class:`bench.leaderboard.Board`: Markdown page, static HTML page, CSVs.

Tables are built once as plain strings (:class:`Table`) and each renderer escapes them for its
format, so a submission's name can never inject markup. Numbers use fixed formats so that the
output is byte-stable across rebuilds.
"""

from __future__ import annotations

import csv
import html
import io
import math
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

from bench.leaderboard import ORACLE, Board, Entry, Row, TaskBoard, floor_checks
from bench.leaderboard_plots import plot_names
from bench.metrics import hyperscore

ARROW = {"max": "↑", "min": "↓"}
DASH = "—"


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)


# ------------------------------------------------------------------------------------ formatting


def _num(x: Any, fmt: str) -> str:
    if x is None:
        return DASH
    return format(float(x) + 0.0, fmt)  # + 0.0 turns -0.0 into 0.0


def sig(x: Any) -> str:
    """About four significant digits without exponent for everyday magnitudes (KPIs vary)."""
    if x is None:
        return DASH
    v = float(x) + 0.0
    if v == 0 or not 1e-3 <= abs(v) < 1e6:
        return "0" if v == 0 else f"{v:.3e}"
    return f"{v:.{max(0, 3 - math.floor(math.log10(abs(v))))}f}"


def _ci(s: Any, fmt: str) -> str:
    return f"{_num(s.mean, fmt)} [{_num(s.low, fmt)}, {_num(s.high, fmt)}]"


def _pct(x: Any) -> str:
    return DASH if x is None else f"{_num(100.0 * float(x), '.2f')}%"


def _verified(e: Entry) -> str:
    """'yes' when `rao-bench verify --record` passed on these exact bytes; '—' when not checked
    (a local build outside the repository)."""
    return DASH if e.verified is None else ("yes" if e.verified else "no")


def _worst_rate(e: Entry) -> float | None:
    rates = [float(v["rate"]) for v in e.summary["safety"].values()]
    return max(rates) if rates else None


def _recovery(e: Entry) -> str:
    shifts = e.summary["adaptability"]["shifts"]
    steps = [s["recovery_steps_mean"] for s in shifts.values() if s.get("recovery_steps_mean") is not None]
    if not steps:
        return DASH
    share = sum(float(s["recovered_share"]) for s in shifts.values()) / len(shifts)
    return f"{_num(sum(steps) / len(steps), '.1f')} ({_num(100 * share, '.0f')}% rec.)"


def _worst_shift(e: Entry) -> str:
    a = e.summary["adaptability"]
    if a["worst_retention"] is None:
        return DASH
    return f"{_num(a['worst_retention'], '.3f')} ({a['worst_shift']})"


# --------------------------------------------------------------------------------------- tables


def main_table(tb: TaskBoard) -> Table:
    """Ranked and oracle entries of one task, best first."""
    kpis = tb.spec.kpis
    headers = ["rank", "entry", "paradigm", "verified", "V ↑ [95% CI]", "HyperScore of mean V ↑",
               "mean HyperScore ↑ [95% CI]", "P(better than reference) ↑"]
    if tb.oracle_V is not None:
        headers.append("gap to oracle ↓")
    headers += [f"{k.name} ({k.unit}) {ARROW[k.direction]}" if k.unit else f"{k.name} {ARROW[k.direction]}"
                for k in kpis]
    headers += ["violation rate ↓ (worst constraint)", "V retention smallest→largest ↑",
                "decision-time slope ↓", "worst-shift retention ↑", "recovery steps ↓",
                "statistical unit (n)"]
    t = Table(headers)
    for r in tb.rows:
        e = r.entry
        rank = r.place.label if r.place else "oracle (bound, not ranked)"
        poi = "reference" if e is tb.reference else _num(r.poi, ".2f") + (
            f" ({r.wtl[0]}W {r.wtl[1]}T {r.wtl[2]}L)" if r.wtl else "")
        row = [rank, e.label, e.paradigm, _verified(e), _ci(e.stat("V"), ".3f"),
               _num(e.hyperscore_of_mean_V(tb.spec), ".4f"), _ci(e.stat("hyperscore"), ".4f"), poi]
        if tb.oracle_V is not None:
            row.append(_pct(r.gap))
        row += [sig(e.summary["nominal"]["kpis"][k.name]["mean"]) for k in kpis]
        sc = e.summary["scalability"]
        row += [_pct(_worst_rate(e)), _num(sc["v_retention"], ".3f"),
                _num(sc["decision_time_slope"], ".2f"), _worst_shift(e), _recovery(e), e.unit]
        t.rows.append(row)
    return t


def safety_table(tb: TaskBoard) -> Table:
    """Per-constraint violation rate, severity and share of episodes with any violation."""
    headers = ["entry"]
    for c in tb.spec.constraints:
        unit = f", {c.unit}" if c.unit else ""
        headers += [f"{c.name} rate ↓", f"{c.name} severity ({'exceedance' + unit}) ↓",
                    f"{c.name} episodes ↓"]
    t = Table(headers)
    for e in [r.entry for r in tb.rows]:
        row = [e.label]
        for c in tb.spec.constraints:
            s = e.summary["safety"].get(c.name, {})
            row += [_pct(s.get("rate")), sig(s.get("severity")), _pct(s.get("episode_share"))]
        t.rows.append(row)
    return t


def _training(e: Entry) -> Any:
    return e.result["algorithm"].get("training")


def training_table(tb: TaskBoard) -> Table | None:
    """What each learner spent and broke while learning (None when no entry declares training):
    the survey's safe-exploration question as a column, next to the evaluation's safety."""
    entries = [r.entry for r in tb.rows if _training(r.entry)]
    entries += [e for e in tb.quick + tb.ineligible if _training(e)]
    if not entries:
        return None
    headers = ["entry", "env steps", "episodes", "wall time (s)", "scales trained"]
    headers += [f"{c.name} training rate ↓" for c in tb.spec.constraints]
    headers += ["runs", "stopped by", "beats the floors? (paired V difference [95% CI])", "retrain with"]
    t = Table(headers)
    pool = [r.entry for r in tb.rows] + list(tb.quick) + list(tb.ineligible)
    for e in entries:
        tr = _training(e)
        scales = ", ".join(str(r.get("scale")) for r in tr.get("runs", [])) or "—"
        row = [e.label, f"{tr['env_steps']:,}", f"{tr['episodes']:,}", _num(tr["wall_time_s"], ".0f"),
               scales]
        row += [_pct(tr["violations"].get(c.name, {}).get("rate")) for c in tb.spec.constraints]
        stops: dict[str, int] = {}
        for r in tr.get("runs", []):
            stops[str(r.get("stopped_by", "?"))] = stops.get(str(r.get("stopped_by", "?")), 0) + 1
        floors = floor_checks(e, pool, tb.spec)
        row += [str(e.n_runs), ", ".join(f"{k} ×{n}" for k, n in sorted(stops.items())) or DASH,
                "; ".join(f"{'yes' if lo > 0 else 'NO'} vs {name}: {d:+.3f} [{lo:+.3f}, {hi:+.3f}]"
                          for name, d, lo, hi in floors) or DASH]
        row.append(str(tr.get("command", "")))
        t.rows.append(row)
    return t


def side_table(entries: Sequence[Entry], with_note: bool) -> Table:
    t = Table(["entry", "paradigm", "V [95% CI]", "mean HyperScore [95% CI]", "statistical unit (n)"]
              + (["why not ranked"] if with_note else []))
    for e in entries:
        t.rows.append([e.label, e.paradigm, _ci(e.stat("V"), ".3f"), _ci(e.stat("hyperscore"), ".4f"),
                       e.unit] + ([e.note] if with_note else []))
    return t


def overall_table(board: Board) -> Table:
    t = Table(["rank among entries on every current task", "entry", "paradigm", "mean V ↑ [95% CI]",
               "mean HyperScore ↑", "tasks", "P(better than reference) ↑", "note"])
    for r in board.overall:
        rank = r.place.label if r.place else DASH
        poi = DASH if r.poi_vs_random is None else \
            f"{_num(r.poi_vs_random, '.3f')} ({r.poi_tasks} task{'s' if r.poi_tasks != 1 else ''})"
        V = f"{_num(r.V['mean'], '.3f')} [{_num(r.V['mean_ci_low'], '.3f')}, " \
            f"{_num(r.V['mean_ci_high'], '.3f')}]"
        t.rows.append([rank, r.label, r.key[2], V, _num(r.hyperscore_mean, ".4f"),
                       str(len(r.tasks)), poi, r.note])
    return t


def frontier_table(board: Board) -> Table:
    """Best ranked entry of each paradigm per current task, with its rank there."""
    t = Table(["task", "paradigm", "best entry", "rank on the task", "V ↑ [95% CI]"])
    for c in board.frontier:
        t.rows.append([c.task, c.paradigm, c.entry.label, c.place.label, _ci(c.entry.stat("V"), ".3f")])
    return t


def _all_entries(tb: TaskBoard) -> list[Entry]:
    return [r.entry for r in tb.rows] + tb.quick + tb.ineligible


def entries_table(tb: TaskBoard) -> Table:
    """Who each entry is: its own description, authors and url, as its result file declares."""
    t = Table(["entry", "paradigm", "description", "authors", "url"])
    for e in _all_entries(tb):
        alg = e.result["algorithm"]
        t.rows.append([e.label, e.paradigm, str(alg.get("description") or DASH),
                       ", ".join(str(a) for a in alg.get("authors") or []) or DASH,
                       str(alg.get("url") or DASH)])
    return t


def _hs_max(tb: TaskBoard) -> float:
    hp = tb.spec.hyperscore
    return float(hyperscore(1.0, hp.beta, hp.gamma, hp.kappa))


def explainer(board: Board) -> list[str]:
    """Paragraphs (plain text) explaining how to read the tables."""
    return [
        "Each entry is one policy evaluated with `rao-bench evaluate` under the full protocol, "
        "checked by `rao-bench validate` and scored against fixed anchors in the task spec, so adding "
        "an entry never changes anyone else's score.",
        "Ranking: eligible entries (full protocol, paradigm not oracle, the released spec without "
        "overrides) are ordered by nominal mean V, so a rank never contradicts mean V. An entry shares "
        "the rank of the group above it ('=k') only if it cannot be told apart from every member of "
        "that group: their 95% CIs overlap and a paired bootstrap of the mean V difference on the "
        "evaluation seeds both ran (and their training runs) has a 95% CI containing 0. Groups do "
        "not chain; the next group's rank counts every entry above it (1, =2, =2, 4).",
        "Statistical unit: for a learner with several independent training runs the unit is the run "
        "(CIs resample runs and seeds); otherwise it is the evaluation episode. The last column says "
        "which, with n. A learner with one training run has CIs over evaluation episodes only, which "
        "understate the spread between training seeds.",
        "P(better than reference) is paired: on each evaluation seed the entry's V is compared with "
        "the registered reference baseline's (`random`, run by `rao-bench baselines`) on the same "
        "seed; ties count one half.",
        "HyperScore = 100·(1 + σ(β ln V + γ)^κ) lies in [100, about 106.4] for V in [0, 1] with the "
        "default parameters (not 100–200) and compresses differences below V ≈ 0.8; read V for the "
        "size of a difference.",
        "Oracle entries use information a real controller lacks; they are shown as a bound, not "
        "ranked. 'gap to oracle' = 1 − V / V_oracle against the best oracle's V mean on that task.",
        "Overall: only the current (newest) version of each task counts. Mean normalised V over the "
        "tasks an entry has results for (95% CI by bootstrap stratified over tasks), the mean of its "
        "per-task HyperScore means, and the paired P(better than reference) averaged over tasks. "
        "Only entries evaluated on every current task with ranked results are ranked there: that "
        "rank is about coverage, not about being the best method. The frontier table beside it "
        "gives the best entry of each paradigm on each task, where the specialists are.",
        "HyperScore is shown as the founding paper defines it, two ways: HyperScore of the mean V "
        "(ordered like mean V) and the mean of per-episode HyperScores (not ordered like mean V, "
        "since HyperScore is non-linear).",
        "Archive: results on older task versions stay validated and listed, but not ranked against "
        "current versions and not in the overall table.",
        "Safety rates are violating agent-steps / agent-steps pooled over all evaluated episodes; "
        "'episodes' is the share of episodes with any violation. Decision-time slope is the log–log "
        "slope of policy time per agent-step against agent count (machine-dependent).",
    ]


# ------------------------------------------------------------------------------------- markdown

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md(text: str) -> str:
    """Escape untrusted text for a Markdown table cell (no markup, no raw HTML, one line)."""
    text = html.escape(" ".join(str(text).split()), quote=False)
    return _MD_SPECIAL.sub(r"\\\1", text)


def md_table(t: Table) -> str:
    lines = ["| " + " | ".join(md(h) for h in t.headers) + " |",
             "|" + "|".join("---" for _ in t.headers) + "|"]
    lines += ["| " + " | ".join(md(c) for c in row) + " |" for row in t.rows]
    return "\n".join(lines) + "\n"


def _md_task(tb: TaskBoard) -> list[str]:
    out = [f"## {md(tb.task_id)}\n", md(tb.spec.description) + "\n",
           f"HyperScore range on this task: 100 to {_hs_max(tb):.3f}. "
           f"CSV: [`csv/{tb.slug}.csv`](csv/{tb.slug}.csv)\n"]
    if tb.rows:
        out += [md_table(main_table(tb))]
        if tb.spec.constraints:
            out += ["### Safety per constraint\n", md_table(safety_table(tb))]
    training = training_table(tb)
    if training is not None:
        out += ["### Training budget and training-time violations\n", md_table(training)]
    if not tb.rows:
        out += ["No ranked full-protocol entries yet.\n"]
    if tb.quick:
        out += ["### Not ranked (quick protocol)\n", md_table(side_table(tb.quick, False))]
    if tb.ineligible:
        out += ["### Not ranked (not eligible)\n", md_table(side_table(tb.ineligible, True))]
    if _all_entries(tb):
        out += ["### Entries\n", md_table(entries_table(tb))]
    for name, caption in plot_names(tb):
        out.append(f"![{md(caption)}]({name})\n")
    return out


def markdown_page(board: Board) -> str:
    out = ["# RAO-Bench leaderboard\n",
           "Generated by `rao-bench leaderboard` from `leaderboard/submissions/`; do not edit by hand. "
           "See `docs/submitting.md` to add an entry.\n",
           "## How to read it\n"] + [p + "\n" for p in explainer(board)]  # trusted text
    out += ["## Overall (entries evaluated on every current task)\n"]
    if board.overall:
        out += [f"Current tasks with ranked results: {md(', '.join(board.overall_tasks) or DASH)}.\n",
                md_table(overall_table(board)),
                "### Best entry per paradigm on each current task\n", md_table(frontier_table(board))]
    else:
        out += ["No valid submissions yet.\n"]
    for tb in board.tasks:
        out += _md_task(tb)
    if board.archive:
        out += ["# Archive: older task versions\n",
                "Superseded versions stay loadable (with a warning naming the newest) and their "
                "results stay validated here; they are not in the overall table.\n"]
        for tb in board.archive:
            out += _md_task(tb)
    out += ["## Rejected submissions\n"]
    if board.rejected:
        out += [f"- {md(r.source)}: " + "; ".join(md(p) for p in r.problems) + "\n"
                for r in board.rejected]
    else:
        out += ["None.\n"]
    return "\n".join(out)


# ----------------------------------------------------------------------------------------- html

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1400px;
padding:0 1rem;color:#1b1f23;line-height:1.45}
.scroll{overflow:auto;max-height:80vh;margin:0.6rem 0 1.2rem;border:1px solid #d0d7de}
table{border-collapse:separate;border-spacing:0;font-size:0.85rem}
caption{caption-side:top;text-align:left;font-weight:600;padding:0.4rem 0.5rem}
th,td{border-right:1px solid #d0d7de;border-bottom:1px solid #d0d7de;padding:0.3rem 0.5rem;
text-align:right;vertical-align:top}
thead th{position:sticky;top:0;z-index:2;background:#f6f8fa;vertical-align:bottom}
tbody th{font-weight:normal;background:#fff;text-align:left}
.wide tbody th{position:sticky;left:0;z-index:1}
td.text,th.text{text-align:left}
td:not(.text){white-space:nowrap}
tr.oracle td,tr.oracle th{color:#57606a;font-style:italic}
thead th button{all:unset;cursor:pointer;display:block;width:100%;text-align:inherit}
thead th button:focus-visible{outline:2px solid #0969da}
thead th[aria-sort=ascending] button::after{content:" \\25B2"}
thead th[aria-sort=descending] button::after{content:" \\25BC"}
details{margin:0.4rem 0}
summary{cursor:pointer;color:#0969da}
figure{margin:0.8rem 0}
figure img{max-width:100%;height:auto;border:1px solid #d0d7de}
figcaption{color:#57606a;font-size:0.85rem}
p.note{color:#57606a;font-size:0.9rem}
"""

# Sorts every table.sortable by the clicked column (numbers by their leading value, with '—' and
# other text last; text columns alphabetically). No dependencies, no network.
SORT_JS = """
(function () {
  function num(cell) {
    var m = cell.textContent.replace(/,/g, "").trim().match(/^[=]?\\s*(-?\\d+(?:\\.\\d+)?(?:e[-+]?\\d+)?)/i);
    return m ? parseFloat(m[1]) : null;
  }
  function sortBy(table, col, th) {
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    var numeric = 0, text = 0;
    rows.forEach(function (r) {
      var c = r.cells[col], t = c ? c.textContent.trim() : "";
      if (c && num(c) !== null) numeric++; else if (t && t !== "\\u2014") text++;
    });
    var asc = th.getAttribute("aria-sort") !== "ascending";
    var keyed = rows.map(function (r, i) {
      var c = r.cells[col];
      return {row: r, i: i, n: numeric >= text && c ? num(c) : null, t: c ? c.textContent.trim() : ""};
    });
    keyed.sort(function (a, b) {
      if (numeric >= text) {
        if (a.n === null || b.n === null) return (a.n === null) - (b.n === null) || a.i - b.i;
        return (asc ? a.n - b.n : b.n - a.n) || a.i - b.i;
      }
      return (asc ? 1 : -1) * a.t.localeCompare(b.t) || a.i - b.i;
    });
    keyed.forEach(function (k) { body.appendChild(k.row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      var b = document.createElement("button");
      b.type = "button";
      b.title = "sort by this column";
      while (th.firstChild) b.appendChild(th.firstChild);
      th.appendChild(b);
      b.addEventListener("click", function () { sortBy(table, col, th); });
    });
  });
})();
"""

# Columns of the compact per-task view (the full table is one click away, unchanged)
COMPACT = ("rank", "entry", "paradigm", "verified", "V ↑ [95% CI]", "HyperScore of mean V ↑",
           "mean HyperScore ↑ [95% CI]", "P(better than reference) ↑", "gap to oracle ↓", "violation rate ↓ (worst constraint)")
_ROW_HEADERS = ("entry", "best entry")


def h(text: str) -> str:
    return html.escape(str(text), quote=True)


def _code(escaped: str) -> str:
    """`x` -> <code>x</code> in already escaped (trusted) text."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


def _is_text(cell: str) -> bool:
    return cell != DASH and not re.match(r"^=?-?\d", cell)


def html_table(t: Table, row_classes: Sequence[str] = (), caption: str = "",
               row_titles: Sequence[str] = ()) -> str:
    """A sortable table with a caption, column headers (``scope="col"``) and each row's entry
    cell as its header (``scope="row"``, with the entry's description as a tooltip)."""
    rh = next((i for i, c in enumerate(t.headers) if c in _ROW_HEADERS), 0)
    text_cols = {i for i in range(len(t.headers))
                 if t.rows and sum(_is_text(r[i]) for r in t.rows) * 2 > len(t.rows)}
    cls = lambda i: ' class="text"' if i in text_cols else ""  # noqa: E731
    head = "".join(f'<th scope="col"{cls(i)}>{h(c)}</th>' for i, c in enumerate(t.headers))
    body = []
    for k, row in enumerate(t.rows):
        rcls = f' class="{h(row_classes[k])}"' if k < len(row_classes) and row_classes[k] else ""
        cells = []
        for i, c in enumerate(row):
            if i == rh:
                title = f' title="{h(row_titles[k])}"' if k < len(row_titles) and row_titles[k] else ""
                cells.append(f'<th scope="row"{title}>{h(c)}</th>')
            else:
                cells.append(f"<td{cls(i)}>{h(c)}</td>")
        body.append(f"<tr{rcls}>" + "".join(cells) + "</tr>")
    wide = " wide" if len(t.headers) > len(COMPACT) else ""
    cap = f"<caption>{h(caption)}</caption>" if caption else ""
    return (f'<div class="scroll"><table class="sortable{wide}">{cap}\n<thead><tr>{head}</tr></thead>\n'
            "<tbody>\n" + "\n".join(body) + "\n</tbody>\n</table></div>\n")


def compact(t: Table) -> Table:
    """The same table restricted to the :data:`COMPACT` columns (same cells, same order)."""
    keep = [i for i, c in enumerate(t.headers) if c in COMPACT]
    return Table([t.headers[i] for i in keep], [[row[i] for i in keep] for row in t.rows])


def _details(summary: str, body: str, open_: bool = False) -> str:
    return f"<details{' open' if open_ else ''}><summary>{h(summary)}</summary>\n{body}</details>"


def _descriptions(entries: Sequence[Entry]) -> list[str]:
    return [str(e.result["algorithm"].get("description") or "") for e in entries]


def _url(url: str) -> str:
    """A link for an http(s) url (escaped), plain text otherwise (no javascript: or data: links)."""
    if re.match(r"^https?://[^\s\"'<>]+$", url):
        return f'<a href="{h(url)}" rel="nofollow noopener">{h(url)}</a>'
    return h(url or DASH)


def _entries_html(tb: TaskBoard) -> str:
    rows = []
    for e in _all_entries(tb):
        alg = e.result["algorithm"]
        authors = ", ".join(str(a) for a in alg.get("authors") or []) or DASH
        rows.append(f'<tr><th scope="row">{h(e.label)}</th><td class="text">{h(e.paradigm)}</td>'
                    f'<td class="text">{h(alg.get("description") or DASH)}</td>'
                    f'<td class="text">{h(authors)}</td><td class="text">{_url(str(alg.get("url") or ""))}</td></tr>')
    head = "".join(f'<th scope="col" class="text">{c}</th>' for c in ("entry", "paradigm", "description",
                                                                        "authors", "url"))
    return (f'<div class="scroll"><table class="sortable"><caption>Entries on {h(tb.task_id)}: '
            f"what each result file declares</caption>\n<thead><tr>{head}</tr></thead>\n<tbody>\n"
            + "\n".join(rows) + "\n</tbody>\n</table></div>\n")


def _figure(name: str, caption: str) -> str:
    return (f'<figure><a href="{h(name)}" title="open full size"><img src="{h(name)}" alt="{h(caption)}" '
            f'loading="lazy"></a><figcaption>{h(caption)} (click to enlarge)</figcaption></figure>')


def _html_task(tb: TaskBoard) -> str:
    out = [f'<section id="{h(tb.slug)}">', f"<h2>{h(tb.task_id)}</h2>", f"<p>{h(tb.spec.description)}</p>",
           f'<p class="note">HyperScore range on this task: 100 to {_hs_max(tb):.3f}. '
           f'CSV: <a href="csv/{h(tb.slug)}.csv">csv/{h(tb.slug)}.csv</a></p>']
    if tb.rows:
        entries = [r.entry for r in tb.rows]
        classes = ["oracle" if e.status == ORACLE else "" for e in entries]
        full = main_table(tb)
        out.append(html_table(compact(full), classes, f"Ranking on {tb.task_id} (main columns; "
                              "click a header to sort)", _descriptions(entries)))
        out.append(_details(f"All {len(full.headers)} columns: every KPI, scalability, adaptability",
                            html_table(full, classes, f"Ranking on {tb.task_id}, every column",
                                       _descriptions(entries))))
        if tb.spec.constraints:
            out.append(_details("Safety per constraint",
                                html_table(safety_table(tb), caption=f"Safety per constraint on {tb.task_id}")))
    training = training_table(tb)
    if training is not None:
        out.append(_details("Training budget and training-time violations",
                            html_table(training, caption=f"Training of the learners on {tb.task_id}")))
    if not tb.rows:
        out.append("<p>No ranked full-protocol entries yet.</p>")
    if tb.quick:
        out.append(_details(f"Not ranked: quick protocol ({len(tb.quick)})",
                            html_table(side_table(tb.quick, False), caption="Quick-protocol entries",
                                       row_titles=_descriptions(tb.quick))))
    if tb.ineligible:
        out.append(_details(f"Not ranked: not eligible ({len(tb.ineligible)})",
                            html_table(side_table(tb.ineligible, True), caption="Ineligible entries",
                                       row_titles=_descriptions(tb.ineligible))))
    if _all_entries(tb):
        out.append(_details(f"Entries: description, authors, url ({len(_all_entries(tb))})", _entries_html(tb)))
    plots = plot_names(tb)
    if plots:
        out.append(_figure(*plots[0]))
        if len(plots) > 1:
            out.append(_details(f"More plots: {', '.join(n.rsplit('__', 1)[1][:-4] for n, _ in plots[1:])}",
                                "".join(_figure(n, c) for n, c in plots[1:])))
    out.append("</section>")
    return "\n".join(out) + "\n"


def html_page(board: Board) -> str:
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           '<link rel="icon" href="data:,">',  # no favicon request: the page loads nothing else
           "<title>RAO-Bench leaderboard</title>", f"<style>{CSS}</style>", "</head>", "<body>",
           "<h1>RAO-Bench leaderboard</h1>",
           '<p class="note">Generated by <code>rao-bench leaderboard</code> from '
           "<code>leaderboard/submissions/</code>; do not edit by hand. Click a column header to sort; "
           "hover an entry for its description.</p>",
           _details("How to read it: ranking rule, statistical unit, HyperScore, safety",
                    "".join(f"<p>{_code(h(p))}</p>" for p in explainer(board)))]
    if board.tasks:
        out.append("<p>Tasks: " + ", ".join(f'<a href="#{h(tb.slug)}">{h(tb.task_id)}</a>'
                                             for tb in board.tasks) + "</p>")
    out.append("<h2>Overall (entries evaluated on every current task)</h2>")
    if board.overall:
        out += [f"<p>Current tasks with ranked results: {h(', '.join(board.overall_tasks) or DASH)}. "
                'CSV: <a href="csv/overall.csv">csv/overall.csv</a></p>',
                html_table(overall_table(board),
                           ["oracle" if r.status == ORACLE else "" for r in board.overall],
                           "Overall: mean normalised V over the current tasks"),
                _details("Best entry per paradigm on each current task",
                         html_table(frontier_table(board), caption="Best entry per paradigm on each current task"))]
    else:
        out.append("<p>No valid submissions yet.</p>")
    out += [_html_task(tb) for tb in board.tasks]
    if board.archive:
        out += ['<h1 id="archive">Archive: older task versions</h1>',
                "<p>Superseded versions stay loadable (with a warning naming the newest) and their "
                "results stay validated here; they are not in the overall table.</p>"]
        out += [_html_task(tb) for tb in board.archive]
    out.append("<h2>Rejected submissions</h2>")
    if board.rejected:
        out.append("<ul>" + "".join(f"<li><code>{h(r.source)}</code>: {h('; '.join(r.problems))}</li>"
                                    for r in board.rejected) + "</ul>")
    else:
        out.append("<p>None.</p>")
    out += [f"<script>{SORT_JS}</script>", "</body>", "</html>", ""]
    return "\n".join(out)


# ------------------------------------------------------------------------------------------ csv


def g(x: Any) -> str:
    """Fixed CSV float format: ``%.6g``; empty for missing values."""
    if x is None:
        return ""
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, (int, float)):
        return "%.6g" % (float(x) + 0.0)
    return str(x)


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows([[g(c) for c in row] for row in rows])
    return buf.getvalue()


def task_csv(tb: TaskBoard) -> str:
    kpis, cons = tb.spec.kpis, tb.spec.constraints
    header = ["rank", "tied", "status", "name", "version", "paradigm", "protocol",
              "V_mean", "V_ci_low", "V_ci_high", "hyperscore_of_mean_V",
              "hyperscore_mean", "hyperscore_ci_low", "hyperscore_ci_high", "poi_vs_reference",
              "oracle_gap", "n_runs"]
    header += [f"kpi_{k.name}_mean" for k in kpis]
    header += [f"safety_{c.name}_{q}" for c in cons for q in ("rate", "severity", "episode_share")]
    header += ["v_retention", "decision_time_slope", "worst_shift", "worst_retention",
               "recovery_steps_mean", "n_episodes", "training_env_steps", "training_wall_time_s"]
    header += [f"training_{c.name}_rate" for c in cons]
    header += ["source", "description", "authors", "url"]
    rows = []
    lines: list[tuple[Entry, Row | None]] = [(r.entry, r) for r in tb.rows]
    lines += [(e, None) for e in tb.quick + tb.ineligible]
    for e, r in lines:
        hs, V, s = e.stat("hyperscore"), e.stat("V"), e.summary
        place = r.place if r else None
        recs = [x["recovery_steps_mean"] for x in s["adaptability"]["shifts"].values()
                if x.get("recovery_steps_mean") is not None]
        row: list[Any] = [place.rank if place else None, place.tied if place else None, e.status,
                          e.name, e.version, e.paradigm, e.protocol, V.mean, V.low, V.high,
                          e.hyperscore_of_mean_V(tb.spec), hs.mean, hs.low, hs.high,
                          r.poi if r else None, r.gap if r else None, e.n_runs]
        row += [s["nominal"]["kpis"][k.name]["mean"] for k in kpis]
        row += [s["safety"].get(c.name, {}).get(q) for c in cons
                for q in ("rate", "severity", "episode_share")]
        row += [s["scalability"]["v_retention"], s["scalability"]["decision_time_slope"],
                s["adaptability"]["worst_shift"], s["adaptability"]["worst_retention"],
                sum(recs) / len(recs) if recs else None, s["nominal"]["n_episodes"]]
        tr = _training(e) or {}
        row += [tr.get("env_steps"), tr.get("wall_time_s")]
        row += [tr.get("violations", {}).get(c.name, {}).get("rate") if tr else None for c in cons]
        alg = e.result["algorithm"]
        row += [e.source, str(alg.get("description") or ""),
                "; ".join(str(a) for a in alg.get("authors") or []), str(alg.get("url") or "")]
        rows.append(row)
    return _csv(header, rows)


def overall_csv(board: Board) -> str:
    header = ["rank", "tied", "status", "name", "version", "paradigm", "n_tasks", "tasks",
              "V_mean", "V_ci_low", "V_ci_high", "V_iqm", "hyperscore_mean", "poi_vs_reference",
              "poi_tasks", "note"]
    rows = []
    for r in board.overall:
        rows.append([r.place.rank if r.place else None, r.place.tied if r.place else None, r.status,
                     *r.key, len(r.tasks), " ".join(r.tasks), r.V["mean"], r.V["mean_ci_low"],
                     r.V["mean_ci_high"], r.V["iqm"], r.hyperscore_mean, r.poi_vs_random,
                     r.poi_tasks, r.note])
    return _csv(header, rows)


def csv_files(board: Board) -> dict[str, str]:
    out = {f"csv/{tb.slug}.csv": task_csv(tb) for tb in board.tasks + board.archive}
    out["csv/overall.csv"] = overall_csv(board)
    return out

