"""Leaderboard presentation (the numbers are tested in test_leaderboard.py): entry metadata on the
page, README and CSV; distinct plot colours for the reference kinds; compact tables whose cells
are the full table's cells; accessible table markup."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench import leaderboard as lb
from bench import leaderboard_render as render
from bench.leaderboard_plots import COLORS, REFERENCE_COLORS, colours

REPO = Path(__file__).resolve().parents[1]
TASK = "supply_chain/Serial-v1"


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """The committed Serial-v1 results, one of them given authors, a url and a hostile description."""
    sub = tmp_path_factory.mktemp("sub")
    shutil.copytree(REPO / "leaderboard" / "submissions" / TASK, sub / TASK)
    path = sub / TASK / "order_up_to.json"
    doc = json.loads(path.read_text())
    doc["algorithm"].update(authors=["Ada Lovelace", "Alan Turing"], url="https://example.org/paper",
                            description='<img src=x onerror="alert(1)"> | order-up-to')
    path.write_text(json.dumps(doc))
    entries, rejected = lb.load_submissions(sub)
    assert [r.source for r in rejected] == [], "editing metadata keeps a result valid"
    return lb.make_board(entries, rejected)


def test_entry_metadata_on_page_readme_and_csv(board):
    tb = next(t for t in board.tasks + board.archive if t.task_id == TASK)
    page = render.html_page(board)
    assert "Ada Lovelace, Alan Turing" in page
    assert '<a href="https://example.org/paper" rel="nofollow noopener">' in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page and "<img src=x" not in page
    readme = render.markdown_page(board)
    assert "### Entries" in readme and "Ada Lovelace, Alan Turing" in readme
    assert "https://example.org/paper" in readme and "<img src=x" not in readme
    rows = list(csv.DictReader(io.StringIO(render.task_csv(tb))))
    row = next(r for r in rows if r["name"] == "order_up_to")
    assert row["authors"] == "Ada Lovelace; Alan Turing" and row["url"] == "https://example.org/paper"
    assert row["description"].startswith("<img src=x")  # CSV holds the text as declared
    base = next(r for r in rows if r["name"] == "base_stock")
    assert base["description"].startswith("Optimal echelon base-stock") and base["authors"] == ""


def test_compact_table_shows_the_full_tables_cells(board):
    tb = next(t for t in board.tasks + board.archive if t.task_id == TASK)
    full = render.main_table(tb)
    small = render.compact(full)
    assert 0 < len(small.headers) < len(full.headers)
    for name in small.headers:
        i, j = full.headers.index(name), small.headers.index(name)
        assert [r[j] for r in small.rows] == [r[i] for r in full.rows]


def test_tables_have_captions_and_header_scopes(board):
    page = render.html_page(board)
    assert page.count("<table") == page.count("<caption>") > 0
    assert page.count('<th scope="row"') > 0 and "<th>" not in page


def _entry(paradigm: str, status: str = "ranked") -> SimpleNamespace:
    return SimpleNamespace(paradigm=paradigm, status=status)


def test_reference_kinds_keep_their_own_colours_with_many_entries():
    entries = [_entry("heuristic") for _ in range(len(COLORS) + 3)]
    entries.insert(4, _entry("random"))
    entries.insert(11, _entry("optimization", "oracle"))
    entries.insert(13, _entry("optimization", "oracle"))
    got = colours(entries)
    assert got[4] in REFERENCE_COLORS["random"] and got[11] in REFERENCE_COLORS["oracle"]
    assert got[13] in REFERENCE_COLORS["oracle"] and got[13] != got[11], "two oracles differ too"
    others = [c for i, c in enumerate(got) if i not in (4, 11, 13)]
    assert not set(others) & {c for cs in REFERENCE_COLORS.values() for c in cs}
    assert len(set(others[:len(COLORS)])) == len(COLORS), "the first len(COLORS) entries all differ"
