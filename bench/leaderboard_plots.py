"""Leaderboard plots, one set per task, as deterministic PNG bytes.

Figures are drawn on the Agg canvas without pyplot (no global figure state), under matplotlib's
default style (a user's matplotlibrc cannot change the bytes), at fixed sizes and dpi, with the
"Software" metadata removed. Entries are drawn in table order with fixed colours.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Sequence

from matplotlib import rc_context, style
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bench.metrics import hyperscore

if TYPE_CHECKING:
    from bench.leaderboard import Board, Entry, TaskBoard

DPI = 100
# Entries cycle through these (tab10 without its grey, then tab20's light shades); the reference
# kinds have colours of their own that no entry shares, however many entries there are.
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22",
          "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2",
          "#dbdb8d", "#9edae5")
REFERENCE_COLORS = {"random": ("#999999",), "oracle": ("#000000", "#474747", "#2f4f4f")}
MAX_LABEL = 40
LEGEND_FONT = 9


def colours(entries: Sequence["Entry"]) -> list[str]:
    """One colour per entry, in order: random (paradigm) grey, oracles black and dark greys in
    turn, the others from :data:`COLORS` in turn, so adding entries never gives an entry a
    reference kind's colour."""
    out, seen = [], {"random": 0, "oracle": 0, None: 0}
    for e in entries:
        kind = "oracle" if e.status == "oracle" else e.paradigm if e.paradigm == "random" else None
        palette = COLORS if kind is None else REFERENCE_COLORS[kind]
        out.append(palette[seen[kind] % len(palette)])
        seen[kind] += 1
    return out


def plot_names(tb: "TaskBoard") -> list[tuple[str, str]]:
    """``(relative path, caption)`` of the plots drawn for a task (none without full entries)."""
    if not tb.rows:
        return []
    out = [(f"plots/{tb.slug}__hyperscore.png", f"{tb.task_id}: nominal HyperScore with 95% CI")]
    if len(tb.spec.scales) > 1:
        out.append((f"plots/{tb.slug}__scale.png", f"{tb.task_id}: V against agent count"))
    if tb.spec.shift_scenarios:
        out.append((f"plots/{tb.slug}__shift.png", f"{tb.task_id}: V retention under each shift"))
    if tb.spec.constraints:
        out.append((f"plots/{tb.slug}__safety.png", f"{tb.task_id}: violation rate per constraint"))
    return out


def _label(e: "Entry") -> str:
    """Entry label safe for matplotlib text: ``$`` would start mathtext, so it is escaped."""
    text = e.label if len(e.label) <= MAX_LABEL else e.label[: MAX_LABEL - 1] + "…"
    if e.status == "oracle":
        text += " (oracle)"
    return text.replace("$", r"\$")


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _hyperscore(tb: "TaskBoard", entries: Sequence["Entry"]) -> Figure:
    hp = tb.spec.hyperscore
    low, top = sorted(float(hyperscore(v, hp.beta, hp.gamma, hp.kappa)) for v in (0.0, 1.0))
    fig = Figure(figsize=(8.0, 1.4 + 0.4 * len(entries)))
    ax = fig.add_subplot()
    colour = colours(entries)
    for i, e in enumerate(entries):
        s = e.stat("hyperscore")
        err = [[max(0.0, s.mean - s.low)], [max(0.0, s.high - s.mean)]]  # never negative
        ax.errorbar([s.mean], [i], xerr=err,
                    fmt="D" if e.status == "oracle" else "o", color=colour[i], capsize=3)
    ax.set_yticks(range(len(entries)), [_label(e) for e in entries])
    ax.invert_yaxis()
    pad = 0.02 * (top - low)
    ax.set_xlim(low - pad, top + pad)
    ax.set_xlabel(f"nominal HyperScore; axis = attainable range {low:.0f} to {top:.3f}")
    ax.set_title(f"{tb.task_id}: HyperScore, mean and 95% CI", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def _scale(tb: "TaskBoard", entries: Sequence["Entry"]) -> Figure:
    fig = Figure(figsize=(8.0, 4.5))
    ax = fig.add_subplot()
    colour = colours(entries)
    for i, e in enumerate(entries):
        sc = e.summary["scalability"]["scales"]
        pts = [(s.agents, sc[s.name]["V_mean"]) for s in tb.spec.scales if s.name in sc]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", color=colour[i],
                ls="--" if e.status == "oracle" else "-", label=_label(e))
    ax.set_xscale("log")
    ax.set_xticks([s.agents for s in tb.spec.scales], [f"{s.agents}\n{s.name}" for s in tb.spec.scales])
    ax.minorticks_off()
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel("agents (log scale)")
    ax.set_ylabel("mean V, nominal scenario")
    ax.set_title(f"{tb.task_id}: V against scale", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=LEGEND_FONT, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def _bars(tb: "TaskBoard", entries: Sequence["Entry"], groups: Sequence[str],
          values: Sequence[Sequence[float]], ylabel: str, title: str) -> Figure:
    # at most 1400 px wide: the page shows plots at full width, never scaled down much
    fig = Figure(figsize=(min(14.0, max(8.0, 4.0 + 0.3 * len(groups) * max(1, len(entries)))), 4.5))
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(entries))
    colour = colours(entries)
    for i, e in enumerate(entries):
        xs = [g - 0.4 + width * (i + 0.5) for g in range(len(groups))]
        oracle = e.status == "oracle"
        ax.bar(xs, values[i], width=width, color=colour[i], label=_label(e), hatch="//" if oracle else None,
               edgecolor="white" if oracle else colour[i], linewidth=0)  # white hatch: visible on black
    ax.set_xticks(range(len(groups)), list(groups))
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=LEGEND_FONT, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def _shift(tb: "TaskBoard", entries: Sequence["Entry"]) -> Figure:
    names = [s.name for s in tb.spec.shift_scenarios]
    vals = []
    for e in entries:
        shifts = e.summary["adaptability"]["shifts"]
        vals.append([float(shifts.get(n, {}).get("retention") or 0.0) for n in names])
    fig = _bars(tb, entries, names, vals, "V retention (shifted / nominal)",
                f"{tb.task_id}: V retention under each shift")
    fig.axes[0].axhline(1.0, color="grey", lw=0.8, ls=":")
    return fig


def _safety(tb: "TaskBoard", entries: Sequence["Entry"]) -> Figure:
    names = [c.name for c in tb.spec.constraints]
    vals = [[100.0 * float(e.summary["safety"].get(n, {}).get("rate", 0.0)) for n in names] for e in entries]
    return _bars(tb, entries, names, vals, "violating agent-steps (%)",
                 f"{tb.task_id}: violation rate per constraint")


def plot_files(board: "Board") -> dict[str, bytes]:
    """PNG bytes of every task's plots, keyed by relative path (see :func:`plot_names`)."""
    draw = {"hyperscore": _hyperscore, "scale": _scale, "shift": _shift, "safety": _safety}
    out: dict[str, bytes] = {}
    with style.context("default"), rc_context({"figure.max_open_warning": 0}):
        for tb in board.tasks:
            entries = [r.entry for r in tb.rows]
            for name, _ in plot_names(tb):
                kind = name.rsplit("__", 1)[1].removesuffix(".png")
                out[name] = _png(draw[kind](tb, entries))
    return out
