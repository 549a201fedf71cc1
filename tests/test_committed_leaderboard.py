"""The committed leaderboard: every released task has every applicable reference baseline's
full-protocol result, each result validates, and the generated outputs are up to date."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from baselines import registry
from bench.cli import submission_path
from bench.registry import task_ids
from bench.validate import validate_file

ROOT = Path(__file__).resolve().parents[1] / "leaderboard"
CASES = [(t, b) for t in task_ids() for b in registry.names() if registry.applies_to(b, t)]


@pytest.mark.parametrize("task_id, baseline", CASES, ids=[f"{t}:{b}" for t, b in CASES])
def test_reference_result_is_committed_and_valid(task_id, baseline):
    path = submission_path(ROOT / "submissions", task_id, baseline)
    assert path.exists(), f"missing {path}: run `make leaderboard` and commit leaderboard/"
    doc = json.loads(path.read_text())
    assert doc["protocol"]["name"] == "full"
    report = validate_file(path)
    assert report.ok, [f"[{p.stage}] {p.path}: {p.message}" for p in report.problems][:5]


def test_committed_leaderboard_is_not_stale():
    """Run as users and CI do, in a fresh interpreter: a process that has imported other
    plotting libraries (pandapower does, in the power-grid tests) can anti-alias a few pixels
    differently, which says nothing about the committed files."""
    out = subprocess.run([sys.executable, "-m", "bench.cli", "leaderboard", "--check"],
                         cwd=ROOT.parent, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, (f"stale leaderboard outputs: run `rao-bench leaderboard` and "
                                 f"commit\n{out.stdout}\n{out.stderr}")


@pytest.fixture(scope="module")
def committed_board():
    from bench import leaderboard as lb

    entries, rejected = lb.load_submissions(ROOT / "submissions")
    assert not rejected, rejected
    return lb.make_board(entries, rejected)


def test_ranks_follow_mean_V_and_never_join_disjoint_cis(committed_board):
    """Issue 13's "done when": on every per-task table (current and archived), no entry ranked
    above another has a lower mean V, and no shared rank joins entries whose V CIs are disjoint."""
    from bench.leaderboard import overlaps

    for tb in committed_board.tasks + committed_board.archive:
        ranked = sorted((r for r in tb.rows if r.place), key=lambda r: r.place.position)
        for hi, lo in zip(ranked, ranked[1:]):
            assert hi.entry.stat("V").mean >= lo.entry.stat("V").mean, (tb.task_id, hi.entry.name)
        for a in ranked:
            for b in ranked:
                if a is not b and a.place.rank == b.place.rank:
                    A, B = a.entry.stat("V"), b.entry.stat("V")
                    assert overlaps((A.low, A.high), (B.low, B.high)), (tb.task_id, a.entry.name, b.entry.name)


def test_only_the_newest_versions_are_current(committed_board):
    from bench.leaderboard import current_version

    assert all(current_version(tb.task_id) for tb in committed_board.tasks)
    assert all(not current_version(tb.task_id) for tb in committed_board.archive)
    assert set(committed_board.overall_tasks) <= {tb.task_id for tb in committed_board.tasks}
