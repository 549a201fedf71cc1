"""Several training runs as one entry: merging, the run as the statistical unit, and the table."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from bench import stats
from bench.runs import MergeError, merge_runs
from bench.summary import runs_matrix

SUB = Path(__file__).resolve().parents[1] / "leaderboard" / "submissions" / "supply_chain" / "Serial-v1"


def fake_runs(shifts=(0.0, -0.01, -0.02)):
    """Copies of the committed IPPO entry standing for runs with learner seeds 1, 2, 3 whose V is
    shifted by ``shifts`` (clipped to [0, 1])."""
    base = json.loads((SUB / "ippo.json").read_text())
    out = []
    for k, d in enumerate(shifts):
        doc = copy.deepcopy(base)
        for e in doc["episodes"]:
            e["V"] = min(1.0, max(0.0, e["V"] + d))
        for r in doc["algorithm"]["training"]["runs"]:
            r["seed"] = k + 1
        out.append(doc)
    return out


def test_merge_tags_runs_and_makes_the_run_the_unit():
    runs = fake_runs()
    merged = merge_runs(runs)
    assert [e["run"] for e in merged["episodes"]] == [k for k in range(3) for _ in runs[k]["episodes"]]
    nominal = merged["summary"]["nominal"]
    assert nominal["n_runs"] == 3 and nominal["V"]["n"] == 3
    eps = [e for e in merged["episodes"] if e["scale"] == "n3" and e["scenario"] == "nominal"]
    m, seeds = runs_matrix(eps, "V")
    assert m.shape == (3, len(seeds))
    assert nominal["V"]["mean"] == pytest.approx(m.mean())
    assert nominal["V"]["iqm"] == pytest.approx(float(stats.iqm(m.mean(axis=1))))
    lo, hi = stats.runs_seeds_bootstrap_ci(m, np.random.default_rng(0))
    assert (nominal["V"]["ci_low"], nominal["V"]["ci_high"]) == (lo, hi)
    tr = merged["algorithm"]["training"]
    assert tr["env_steps"] == 3 * runs[0]["algorithm"]["training"]["env_steps"]
    assert sorted({r["run"] for r in tr["runs"]}) == [0, 1, 2]


def test_merge_refuses_runs_that_are_not_independent_or_not_alike():
    runs = fake_runs()
    same_seed = copy.deepcopy(runs)
    same_seed[2]["algorithm"]["training"]["runs"][0]["seed"] = 1
    with pytest.raises(MergeError, match="same learner seed"):
        merge_runs(same_seed)
    other = copy.deepcopy(runs)
    other[1]["algorithm"]["version"] = "2.0"
    with pytest.raises(MergeError, match=r"\$\.algorithm\.version"):
        merge_runs(other)
    with pytest.raises(MergeError, match="at least two"):
        merge_runs(runs[:1])
    baseline = json.loads((SUB / "base_stock.json").read_text())
    with pytest.raises(MergeError, match="only learners"):
        merge_runs([baseline, baseline])


def test_leaderboard_states_the_unit_of_a_multi_run_entry():
    from bench import leaderboard as lb

    merged = merge_runs(fake_runs())
    e = lb.Entry(source="supply_chain/Serial-v1/ippo.json", result=merged, status=lb.RANKED)
    assert e.n_runs == 3 and e.unit.startswith("3 runs × 10 seeds")
    single = lb.Entry(source="x", result=json.loads((SUB / "ippo.json").read_text()), status=lb.RANKED)
    assert single.unit == "10 episodes (1 training run)"


def test_merge_runs_carries_every_runs_action_logs_into_one_sidecar(tmp_path):
    """Run files keep their logs in sidecars beside them; the merged entry gets one sidecar with
    every run's episodes, each slice decompressing to its episode's digest (replayable)."""
    from bench.cli import main
    from bench.submit.actionlog import SIDECAR_CODEC, episode_raw, read_sidecar

    base = json.loads((SUB / "ippo.json").read_text())
    if not isinstance(base.get("action_log"), dict):
        pytest.skip("the committed entry has no action-log sidecar")
    files = []
    for k in (1, 2):
        d = tmp_path / f"run{k}"
        (d / "actions").mkdir(parents=True)
        (d / base["action_log"]["file"]).write_bytes((SUB / base["action_log"]["file"]).read_bytes())
        doc = copy.deepcopy(base)
        for r in doc["algorithm"]["training"]["runs"]:
            r["seed"] = k
        (d / "r.json").write_text(json.dumps(doc))
        files.append(str(d / "r.json"))
    out = tmp_path / "merged" / "ippo.json"
    assert main(["merge-runs", *files, "--out", str(out)]) == 0
    merged = json.loads(out.read_text())
    blob = read_sidecar(merged, out.parent)
    assert len(merged["episodes"]) == 2 * len(base["episodes"])
    for ep in merged["episodes"]:
        raw = episode_raw(ep["actions"], blob)
        assert raw and ep["actions"]["codec"] == SIDECAR_CODEC
    assert {ep["run"] for ep in merged["episodes"]} == {0, 1}


def test_a_merged_entry_is_a_valid_result():
    """The validator accepts what merge-runs writes (the summary's n_runs included) and refuses a
    merged summary whose n_runs was edited."""
    from bench.submit.validator import validate_document

    merged = merge_runs(fake_runs())
    assert merged["summary"]["nominal"]["n_runs"] == 3
    report = validate_document(merged)
    assert not [p for p in report.problems if p.stage == "schema"], report.problems[:3]
    bad = copy.deepcopy(merged)
    bad["summary"]["nominal"]["n_runs"] = 5
    assert not validate_document(bad).ok
