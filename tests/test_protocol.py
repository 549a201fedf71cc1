"""The evaluation protocol: executor-independent results, crash-safe resumable runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.episode import TIMING_FIELDS
from bench.reproduce import assert_reproduces
from bench.journal import Journal, JournalMismatch
from bench.protocol import evaluate

REPO = Path(__file__).resolve().parents[1]
TASK = "supply_chain/Serial-v1"


def _strip(result: dict) -> list[dict]:
    return [{k: v for k, v in ep.items() if k not in TIMING_FIELDS} for ep in result["episodes"]]


def test_results_identical_across_worker_counts():
    one = evaluate(TASK, "base_stock", "quick", workers=1, progress=False)
    two = evaluate(TASK, "base_stock", "quick", workers=2, progress=False)
    assert _strip(one) == _strip(two)
    assert {k: v for k, v in one["summary"].items() if k != "scalability"} == \
           {k: v for k, v in two["summary"].items() if k != "scalability"}


def _journal_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") - 1 if path.exists() else 0


def test_killed_run_resumes_without_rerunning_or_duplicating(tmp_path):
    out = tmp_path / "result.json"
    journal = tmp_path / "result.json.journal.jsonl"
    cmd = [sys.executable, "-m", "bench.cli", "evaluate", TASK, "--policy",
           "tests.toy_policies:SlowRandom", "--protocol", "full", "--out", str(out), "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while _journal_lines(journal) < 12 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed: slow the policy down"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists(), "no partial result file may appear before the run completes"
    before = {}
    for line in journal.read_text().splitlines()[1:]:
        rec = json.loads(line)
        before[(rec["scale"], rec["scenario"], rec["seed"])] = rec
    assert 12 <= len(before) < 80

    subprocess.run(cmd, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
    result = json.loads(out.read_text())
    keys = [(e["scale"], e["scenario"], e["seed"]) for e in result["episodes"]]
    assert len(keys) == 80 and len(set(keys)) == 80
    for ep in result["episodes"]:
        key = (ep["scale"], ep["scenario"], ep["seed"])
        if key in before:  # timings differ on a re-run, so identical timings prove no re-run
            # the file keeps the action log in its sidecar, the journal inline: compare digests
            assert ep["actions"]["sha256"] == before[key]["actions"]["sha256"]
            assert {**ep, "actions": None} == {**before[key], "actions": None}
    assert not journal.exists(), "the journal is removed once the result file holds every episode"
    from bench.validate import validate_file

    report = validate_file(out)  # a file: its action-log sidecar is checked too
    assert not [p for p in report.problems if p.stage not in ("task", "identity")]  # lock checked elsewhere; the toy name is unregistered


def test_journal_from_another_run_is_refused(tmp_path):
    path = tmp_path / "j.jsonl"
    Journal(path, {"task": TASK, "policy": "a", "protocol": "full"})
    with pytest.raises(JournalMismatch, match="differs in: policy"):
        Journal(path, {"task": TASK, "policy": "b", "protocol": "full"})


def test_torn_last_line_is_dropped(tmp_path):
    path = tmp_path / "j.jsonl"
    j = Journal(path, {"task": TASK})
    j.append({"scale": "n3", "scenario": "nominal", "seed": 1, "V": 0.5})
    with open(path, "a") as fh:
        fh.write('{"scale": "n3", "scenario": "nom')  # killed mid-write
    j2 = Journal(path, {"task": TASK})
    assert list(j2.records) == [("n3", "nominal", 1)]
    j2.append({"scale": "n3", "scenario": "nominal", "seed": 2, "V": 0.1})
    assert len(Journal(path, {"task": TASK}).records) == 2


# ---- sweeps: many evaluations on one pool (rao-bench baselines) ------------------------------

from bench import protocol  # noqa: E402
from bench.protocol import Run, cost_from_previous, job_cost, jobs_for, longest_first, sweep  # noqa: E402

SWEEP = [(TASK, "base_stock"), (TASK, "random"), ("spectrum/Interference-v1", "full_power")]


def _sweep(tmp_path: Path | None, workers: int, **kw) -> dict[tuple[str, str], dict]:
    results: dict[tuple[str, str], dict] = {}
    runs = [Run(t, p, "quick", None if tmp_path is None else tmp_path / f"{t.replace('/', '_')}-{p}.jsonl")
            for t, p in SWEEP]

    def on_result(run: Run, result: dict) -> None:
        assert run.key not in results, "a run's result is assembled exactly once"
        results[run.key] = result

    sweep(runs, on_result, workers=workers, progress=False, **kw)
    return results


def test_sweep_matches_separate_evaluations_for_any_worker_count():
    one = _sweep(None, 1)
    two = _sweep(None, 2)
    assert set(one) == set(two) == {(t, load_ref(p)) for t, p in SWEEP}
    for (task, name) in SWEEP:
        key = (task, load_ref(name))
        alone = evaluate(task, name, "quick", workers=1, progress=False)
        assert _strip(one[key]) == _strip(two[key]) == _strip(alone)
        assert [e["seed"] for e in one[key]["episodes"]] == [e["seed"] for e in alone["episodes"]]
        assert one[key]["summary"]["nominal"] == alone["summary"]["nominal"]
        assert one[key]["algorithm"] == alone["algorithm"]


def load_ref(name: str) -> str:
    from bench.policy import load_policy

    return load_policy(name).ref


def test_interrupted_sweep_resumes_every_run_without_rerunning(tmp_path, monkeypatch):
    """A sweep that dies mid-way (here: an episode raises after 9 jobs) leaves each run's
    journal; the next sweep re-runs only what is missing and assembles every result once."""
    real = protocol.run_job
    calls = {"n": 0}

    def dying(job):
        calls["n"] += 1
        if calls["n"] > 9:
            raise KeyboardInterrupt("killed")
        return real(job)

    monkeypatch.setattr(protocol, "run_job", dying)
    with pytest.raises(KeyboardInterrupt):
        _sweep(tmp_path, 1)
    journaled = {}
    for f in tmp_path.glob("*.jsonl"):
        for line in f.read_text().splitlines()[1:]:
            rec = json.loads(line)
            journaled[(f.name, rec["scale"], rec["scenario"], rec["seed"])] = rec
    assert len(journaled) == 9

    monkeypatch.setattr(protocol, "run_job", real)
    seen = []
    monkeypatch.setattr(protocol, "run_job", lambda job: seen.append(job) or real(job))
    results = _sweep(tmp_path, 1)
    total = sum(len(jobs_for(t, load_ref(p), "quick")) for t, p in SWEEP)
    assert len(seen) == total - 9, "journaled episodes must not run again"
    for (task, name) in SWEEP:
        doc = results[(task, load_ref(name))]
        keys = [(e["scale"], e["scenario"], e["seed"]) for e in doc["episodes"]]
        assert len(keys) == len(set(keys)) == len(jobs_for(task, load_ref(name), "quick"))
        jname = f"{task.replace('/', '_')}-{name}.jsonl"
        for ep in doc["episodes"]:
            old = journaled.get((jname, ep["scale"], ep["scenario"], ep["seed"]))
            if old is not None:  # identical timings prove the journaled record was reused
                assert ep == old


def test_sweep_of_fully_journaled_runs_runs_nothing(tmp_path, monkeypatch):
    first = _sweep(tmp_path, 1)  # journals stay: only the CLI removes them after writing results
    monkeypatch.setattr(protocol, "run_job", lambda job: pytest.fail(f"re-ran {job}"))
    again = _sweep(tmp_path, 1)
    assert {k: v["episodes"] for k, v in again.items()} == {k: v["episodes"] for k, v in first.items()}


def test_sweep_refuses_a_run_listed_twice():
    with pytest.raises(ValueError, match="listed twice"):
        sweep([Run(TASK, "random", "quick"), Run(TASK, "random", "quick")], lambda r, d: None,
              progress=False)


def test_longest_first_orders_by_cost_and_keeps_cells_together():
    jobs = jobs_for(TASK, "a", "full") + jobs_for("power_grid/IEEE33-v1", "b", "full")
    ordered = longest_first(jobs)
    assert sorted(ordered) == sorted(jobs)
    costs = [job_cost(j) for j in ordered]
    assert costs == sorted(costs, reverse=True)
    assert ordered[0][0] == "power_grid/IEEE33-v1" and ordered[0][2] == "f64"
    cells = [(j[0], j[2], j[3]) for j in ordered]
    # each cell's jobs are contiguous (a worker's cached env is reused)
    changes = sum(1 for a, b in zip(cells, cells[1:]) if a != b)
    assert changes == len(set(cells)) - 1


def test_cost_from_previous_uses_measured_cell_times():
    eps = [{"scale": "n3", "scenario": "nominal", "seed": s, "sim_time_s": 1.0,
            "decision_time_per_agent_step_s": 0.01, "agent_steps": 300} for s in (1, 2)]
    cost = cost_from_previous({(TASK, "slow"): {"episodes": eps}})
    assert cost((TASK, "slow", "n3", "nominal", 7)) == pytest.approx(4.0)
    # unknown cells: agent-steps x the median measured seconds per agent-step (4 s / 300)
    assert cost((TASK, "other", "n20", "nominal", 7)) == pytest.approx(20 * 104 * 4.0 / 300)
    assert cost_from_previous({})((TASK, "x", "n2", "nominal", 1)) == pytest.approx(2 * 104 * 1e-4)


# ---- the random baseline: one Generator call for all agents draws what the loop drew --------

import numpy as np  # noqa: E402
from gymnasium import spaces  # noqa: E402

import bench  # noqa: E402
from baselines.random_policy import RandomPolicy, _sample  # noqa: E402
from bench.registry import get_spec, task_ids  # noqa: E402


def _reference_act(policy: RandomPolicy, obs: dict) -> dict:
    return {a: _sample(policy._spaces[a], policy._rng, obs[a]) for a in obs}


def _same_actions(a, b) -> bool:
    """Equal values, types, dtypes and shapes, recursively (dict actions of Dict spaces)."""
    if isinstance(a, dict) or isinstance(b, dict):
        return (isinstance(a, dict) and isinstance(b, dict) and list(a) == list(b)
                and all(_same_actions(a[k], b[k]) for k in a))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype
                and a.shape == b.shape and np.array_equal(a, b))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("task_id", task_ids())
def test_random_policy_batched_draws_equal_agent_by_agent(task_id):
    """Every scale: the batched draws equal the reference loop's, step after step (same
    Generator state), on the env's real observations (incl. action masks)."""
    for scale in get_spec(task_id).scales:
        env = bench.make(task_id, scale=scale.name)
        fast, ref = RandomPolicy(env), RandomPolicy(env)
        assert fast._batch is not None, "every released task's spaces take the batched path"
        obs, _ = env.reset(seed=3)
        fast.reset(3)
        ref.reset(3)
        for _ in range(5):
            got, want = fast.act(obs), _reference_act(ref, obs)
            assert _same_actions(got, want), (task_id, scale.name)
            obs, *_ = env.step(got)
        assert fast._rng.bit_generator.state == ref._rng.bit_generator.state


class _Env:
    def __init__(self, spaces_: list[spaces.Space]) -> None:
        self.possible_agents = [f"a{i}" for i in range(len(spaces_))]
        self._s = dict(zip(self.possible_agents, spaces_))

    def action_space(self, a: str) -> spaces.Space:
        return self._s[a]


@pytest.mark.parametrize("case", ["box_mixed", "multidiscrete_mixed", "discrete_masks", "discrete",
                                  "dict", "mixed_kinds"])
def test_random_policy_batched_draws_on_awkward_spaces(case):
    box = [spaces.Box(-np.inf, np.inf, shape=(2,), dtype=np.float32),
           spaces.Box(np.array([0.0, -1.0, 2.0]), np.array([1.0, np.inf, 3.0]), dtype=np.float64),
           spaces.Box(0, 5, shape=(2, 2), dtype=np.float32)]
    md = [spaces.MultiDiscrete([3, 1, 7]), spaces.MultiDiscrete([[2, 2], [5, 1]])]
    disc = [spaces.Discrete(6, start=-2) for _ in range(40)]
    sp = {"box_mixed": box, "multidiscrete_mixed": md, "discrete_masks": disc, "discrete": disc,
          "dict": [spaces.Dict({"x": spaces.Discrete(3), "y": box[0]})] * 3,
          "mixed_kinds": [box[0], disc[0]]}[case]
    env = _Env(sp)
    fast, ref = RandomPolicy(env), RandomPolicy(env)
    fast.reset(11)
    ref.reset(11)
    rng = np.random.default_rng(0)
    for _ in range(20):
        if case == "discrete_masks":   # random masks, incl. exactly one allowed action
            masks = rng.random((len(sp), 6)) < 0.4
            masks[np.arange(len(sp)), rng.integers(0, 6, len(sp))] = True
            masks[0] = False
            masks[0, 4] = True
            obs = {a: {"observation": np.zeros(2), "action_mask": m.astype(np.int8)}
                   for a, m in zip(env.possible_agents, masks)}
        else:
            obs = {a: np.zeros(2) for a in env.possible_agents}
        got, want = fast.act(obs), _reference_act(ref, obs)
        assert _same_actions(got, want), case
        if case == "discrete_masks":
            assert all(obs[a]["action_mask"][got[a] + 2] for a in got)
    assert fast._rng.bit_generator.state == ref._rng.bit_generator.state


@pytest.mark.parametrize("task_id", task_ids())
def test_committed_random_episodes_reproduce_at_the_largest_scale(task_id):
    """The committed leaderboard's random-baseline episode at each task's largest scale (first
    eval seed) reproduces it within the cross-machine tolerance (``bench.reproduce``)."""
    from bench.cli import SUBMISSIONS, submission_path
    from bench.protocol import run_job

    doc = json.loads(submission_path(SUBMISSIONS, task_id, "random").read_text())
    largest = get_spec(task_id).scales[-1].name
    committed = next(e for e in doc["episodes"] if e["scale"] == largest)
    record = run_job((task_id, "random", largest, committed["scenario"], committed["seed"]))
    if "actions" not in committed:  # committed before action logs existed (issue 14)
        record.pop("actions")
    elif committed["actions"] is not None and "sidecar" in committed["actions"]:
        assert record["actions"]["sha256"] == committed["actions"]["sha256"]
        record["actions"] = committed["actions"]
    assert_reproduces(record, committed)


class _Broken:
    """A policy whose construction fails on one scale only (like a learner missing a checkpoint)."""

    from bench.policy import PolicyInfo as _PI

    info = _PI(name="broken", version="1", paradigm="heuristic", description="fails at n5 (tests)")

    def __init__(self, env):
        if env.config.scale.name == "n5":
            raise ValueError("no checkpoint for n5")
        self._inner = RandomPolicy(env)

    def reset(self, seed):
        self._inner.reset(seed)

    def act(self, obs):
        return self._inner.act(obs)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_run_does_not_stop_the_sweep(workers, tmp_path):
    runs = [Run(TASK, "tests.test_protocol:_Broken", "quick", tmp_path / "broken.jsonl"),
            Run(TASK, "base_stock", "quick", tmp_path / "ok.jsonl")]
    got = {}
    failed = sweep(runs, lambda run, doc: got.__setitem__(run.key, doc), workers=workers,
                   progress=False)
    assert list(failed) == [runs[0].key] and "no checkpoint for n5" in failed[runs[0].key]
    assert list(got) == [runs[1].key], "the healthy run completes; the failed one writes no result"
    assert len(got[runs[1].key]["episodes"]) == len(runs[1].jobs)
