"""Leaderboard build time as submissions pile up: the genuine Serial-v1 random-baseline result
submitted under many entry names, each validated (recompute included), ranked and drawn."""

from __future__ import annotations

import copy

import pytest

from bench import leaderboard as lb
from bench.leaderboard_render import csv_files, html_page, markdown_page
from bench.results import dumps

pytestmark = pytest.mark.benchmark_suite

ENTRIES = 20


@pytest.fixture
def many_submissions(genuine_doc, tmp_path):
    sub = tmp_path / "submissions"
    sub.mkdir()
    for i in range(ENTRIES):
        doc = copy.deepcopy(genuine_doc)
        doc["algorithm"]["name"] = f"entry-{i:02d}"
        (sub / f"entry-{i:02d}.json").write_text(dumps(doc), encoding="utf-8")
    return sub


def test_build_many_entries(benchmark, many_submissions, tmp_path):
    out = tmp_path / "out"
    written = benchmark.pedantic(lb.build, args=(many_submissions, out), rounds=3, iterations=1)
    assert {p.name for p in written} >= {"README.md", "index.html", "overall.csv"}
    assert lb.check(many_submissions, out) == []


def test_rank_and_tables_many_entries(benchmark, many_submissions):
    """Everything but validation and plots: ranking, overall aggregate (bootstrap) and text."""
    entries, rejected = lb.load_submissions(many_submissions)
    assert len(entries) == ENTRIES and not rejected

    def tables() -> int:
        board = lb.make_board(entries, rejected)
        return len(markdown_page(board)) + len(html_page(board)) + len(csv_files(board))

    assert benchmark(tables) > 0
