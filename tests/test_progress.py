"""The progress bar's ETA: from the previous results' per-cell times, sensible from the first
update (longest-first ordering made an episodes-per-second ETA show 27 hours for 15 minutes)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from baselines import registry
from bench.progress import Eta, Progress, format_eta, measured_seconds
from bench.protocol import cost_from_previous, jobs_for, longest_first

REPO = Path(__file__).resolve().parents[1]
TASK = "supply_chain/Serial-v1"


def _rec(seconds: float) -> dict:
    return {"sim_time_s": seconds, "decision_time_per_agent_step_s": 0.0, "agent_steps": 1}


def test_eta_from_seconds_estimates_is_shown_before_any_episode_and_calibrates():
    jobs = [(TASK, "p", "s", "c", i) for i in range(6)]
    cost = {j: c for j, c in zip(jobs, (40.0, 20.0, 10.0, 10.0, 10.0, 10.0))}.__getitem__
    eta = Eta(jobs, cost, workers=2, cost_in_seconds=True)
    assert eta.seconds() == pytest.approx(100.0 / 2)
    eta.done(jobs[0], _rec(80.0))  # this machine is twice as slow as the estimates
    assert eta.factor == pytest.approx(2.0)
    assert eta.seconds() == pytest.approx(2.0 * 60.0 / 2)
    for j in jobs[1:5]:
        eta.done(j, _rec(2 * cost(j)))
    assert eta.seconds() == pytest.approx(2.0 * 10.0), "one job left runs on one worker"
    eta.drop(lambda j: True)
    assert eta.seconds() == 0.0


def test_eta_from_agent_step_estimates_waits_for_the_first_episode():
    jobs = [(TASK, "p", "s", "c", i) for i in range(3)]
    eta = Eta(jobs, lambda j: 1000.0, workers=1, cost_in_seconds=False)
    assert eta.seconds() is None and format_eta(None) == "ETA after the first episode"
    eta.done(jobs[0], _rec(3.0))
    assert eta.seconds() == pytest.approx(6.0)
    assert format_eta(6.0) == "ETA 0:06" and format_eta(3725.0) == "ETA 1:02:05"


def test_first_update_of_a_real_sweep_is_within_a_factor_two():
    """Replays the committed full-protocol Serial-v1 results: ordered longest first by their own
    cell times, the ETA after the first episode (from its measured time) is compared with the
    measured time of everything left, shared by two workers. An episodes-per-second estimate at
    the same point is shown to be far off, which is what the bar used to do."""
    previous, records = {}, {}
    for name in registry.names():
        if not registry.applies_to(name, TASK):
            continue
        doc = json.loads((REPO / "leaderboard" / "submissions" / TASK / f"{name}.json").read_text())
        previous[(TASK, name)] = doc
        for ep in doc["episodes"]:
            records[(TASK, name, ep["scale"], ep["scenario"], ep["seed"])] = ep
    jobs = [j for (t, name) in previous for j in jobs_for(t, name, "full") if j in records]
    assert len(jobs) > 500
    cost = cost_from_previous(previous)
    order = longest_first(jobs, cost)
    eta = Eta(order, cost, workers=2, cost_in_seconds=True)
    first = order[0]
    eta.done(first, records[first])
    truth = sum(measured_seconds(records[j]) for j in order[1:]) / 2
    assert 0.5 < eta.seconds() / truth < 2.0
    naive = (len(order) - 1) / (1 / measured_seconds(records[first]))  # episodes left / (episodes/s)
    assert naive / truth > 10, "the old episodes-per-second ETA at the first update"


def test_bar_shows_the_eta_from_its_first_draw():
    jobs = [(TASK, "p", "s", "c", i) for i in range(4)]
    buf = io.StringIO()
    bar = Progress(jobs, 4, "test", cost=lambda j: 30.0, workers=2, cost_in_seconds=True, file=buf)
    assert "ETA 1:00" in buf.getvalue()
    bar.update(jobs[0], _rec(60.0))
    bar.bar.refresh()
    assert "ETA 1:30" in buf.getvalue()
    bar.close()
