"""Replayable episodes, policy isolation and ``rao-bench verify`` (issue 14).

A genuine reference entry verifies; copies that stay self-consistent for the validator (one
episode's KPIs edited with V, HyperScore and summary recomputed; an episode run on an easier env;
a policy that tampered with the harness in-process) are valid files that verify refuses.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pytest

import bench.registry as reg
from bench import metrics
from bench.cli import main as cli_main
from bench.episode import run_episode
from bench.policy import load_policy
from bench.reproduce import assert_reproduces
from bench.results import dumps
from bench.submit import actionlog, ledger
from bench.submit.actionlog import ActionLogError, ActionRecorder, LogPolicy, decode, unpack_raw
from bench.submit.isolation import run_isolated_job
from bench.submit.validator import validate_file
from bench.submit.verify import main_verify, verify_file
from bench.summary import summarise

TASK = "supply_chain/Serial-v1"
REF = "order_up_to"


class Tamper:
    """Plays order_up_to but wraps env.step to halve every reported total_cost (the in-process
    attack of issue 14)."""

    def __init__(self, env: Any) -> None:
        self.inner = load_policy(REF).build(env)
        self.info = self.inner.info if hasattr(self.inner, "info") else None
        step = env.step

        def halved(actions: Any) -> Any:
            obs, rew, term, trunc, infos = step(actions)
            for info in infos.values():
                if "total_cost" in info.get("kpi", {}):
                    info["kpi"]["total_cost"] *= 0.5
            return obs, rew, term, trunc, infos

        env.step = halved

    def reset(self, seed: int) -> None:
        self.inner.reset(seed)

    def act(self, observations: Mapping[str, Any]) -> dict[str, Any]:
        return self.inner.act(observations)


@pytest.fixture(scope="module")
def entry(tmp_path_factory) -> Path:
    """A reference entry written by `rao-bench evaluate` (full protocol) in a submissions tree."""
    root = tmp_path_factory.mktemp("verify") / "submissions"
    out = root / TASK / f"{REF}.json"
    assert cli_main(["evaluate", TASK, "--policy", REF, "--out", str(out), "--no-progress",
                     "--no-journal"]) == 0
    return out


def copy_entry(entry: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "submissions" / TASK
    shutil.copytree(entry.parent, dest)
    return dest / entry.name


def rewrite(path: Path, doc: dict) -> None:
    spec = reg.get_spec(TASK)
    doc["summary"] = summarise(spec, doc["episodes"])
    path.write_text(dumps(doc), encoding="utf-8")


def run(paths: list[Path], **kw: Any) -> tuple[int, str]:
    out = io.StringIO()
    code = main_verify([str(p) for p in paths], sample_seed=0, out=out, **kw)
    return code, out.getvalue()


# ------------------------------------------------------------------------------------ verify


def test_reference_entry_verifies(entry):
    code, text = run([entry])
    assert code == 0, text
    v = verify_file(entry, sample_seed=0)
    kinds = {c.kind for c in v.checks}
    assert kinds == {"replay", "rerun"}
    spec = reg.get_spec(TASK)
    doc = json.loads(entry.read_text())
    assert sum(c.kind == "replay" for c in v.checks) == len(doc["episodes"])
    cells = {(e["scale"], e["scenario"]) for e in doc["episodes"]}
    assert {c.cell for c in v.checks if c.kind == "rerun"} == {f"{a}/{b}" for a, b in cells}
    assert len(spec.scales) > 1


def test_one_edited_episode_is_refused_whatever_its_v_says(entry, tmp_path):
    path = copy_entry(entry, tmp_path)
    doc = json.loads(path.read_text())
    spec = reg.get_spec(TASK)
    i = next(j for j, e in enumerate(doc["episodes"]) if e["scenario"] != "nominal")
    ep = doc["episodes"][i]
    kpi = next(iter(spec.weights))  # a weighted KPI, moved 3% toward its better anchor
    ep["kpis"][kpi] *= 0.97 if spec.kpi(kpi).direction == "min" else 1.03
    ep["V"] = metrics.value_score(ep["kpis"], spec.anchors_at(ep["scale"]), spec.weights)
    hp = spec.hyperscore
    ep["hyperscore"] = float(metrics.hyperscore(ep["V"], hp.beta, hp.gamma, hp.kappa))
    rewrite(path, doc)
    assert validate_file(path).ok, "the edit must be self-consistent for the validator"
    code, text = run([path])
    assert code == 1, text
    v = verify_file(path, sample_seed=0)
    failed = [c for c in v.checks if not c.ok]
    assert [(c.kind, c.index) for c in failed if c.kind == "replay"] == [("replay", i)], text
    assert "kpis" in failed[0].detail


def test_episode_run_on_an_easier_env_is_refused(entry, tmp_path):
    path = copy_entry(entry, tmp_path)
    doc = json.loads(path.read_text())
    spec = reg.get_spec(TASK)
    i = next(j for j, e in enumerate(doc["episodes"]) if e["scenario"] == "nominal")
    ep = doc["episodes"][i]
    env = reg.make(TASK, scale=ep["scale"], scenario="nominal", demand_sd=0.2)  # hidden override
    env.reset(seed=ep["seed"])
    record = run_episode(env, load_policy(REF).build(env), ep["seed"], spec)
    doc["episodes"][i] = record
    doc.pop("action_log")  # the edited file carries its logs inline
    for j, e in enumerate(doc["episodes"]):
        if j != i:
            e["actions"] = None
    rewrite(path, doc)
    assert validate_file(path).ok
    v = verify_file(path, sample_seed=0)
    bad = {c.index for c in v.checks if c.kind == "replay" and not c.ok}
    assert i in bad and not v.ok


def test_in_process_tampering_is_caught_by_replay_and_blocked_by_isolation(tmp_path):
    from bench.protocol import evaluate

    doc = evaluate(TASK, "tests.test_verify:Tamper", "quick", progress=False)
    honest = evaluate(TASK, REF, "quick", progress=False)
    assert doc["episodes"][0]["kpis"] != honest["episodes"][0]["kpis"], "the tamper must bite in-process"
    path = tmp_path / "t.json"
    path.write_text(dumps(doc))
    assert validate_file(path).ok
    v = verify_file(path, rerun=False)
    assert not v.ok and all(not c.ok for c in v.checks if c.kind == "replay")
    ep = honest["episodes"][0]
    isolated = run_isolated_job((TASK, "tests.test_verify:Tamper", ep["scale"], ep["scenario"], ep["seed"]))
    assert_reproduces(isolated, ep)  # the wrapper hit the policy's replica, not the harness's env


def test_isolated_run_reproduces_the_in_process_record(entry):
    doc = json.loads(entry.read_text())
    ep = next(e for e in doc["episodes"] if e["scenario"] != "nominal")
    record = run_isolated_job((TASK, REF, ep["scale"], ep["scenario"], ep["seed"]))
    assert record["actions"]["sha256"] == ep["actions"]["sha256"]
    assert_reproduces({k: v for k, v in record.items() if k != "actions"},
                      {k: v for k, v in ep.items() if k != "actions"})


def test_fresh_seeds_refuse_a_lookup_table(entry, tmp_path):
    """A policy that plays the reference on the public eval seeds and does nothing useful on
    others passes replay and rerun (it is what it says), but not --fresh."""
    code, text = run([entry], fresh=6)
    assert code == 0, text
    path = copy_entry(entry, tmp_path)
    code, text = run([path], fresh=6, policy="tests.test_verify:LookupTable")
    assert code == 1 and "do not overlap" in text, text


class LookupTable:
    """Knows the public eval seeds: plays order_up_to on them, orders nothing otherwise."""

    def __init__(self, env: Any) -> None:
        self.inner = load_policy(REF).build(env)
        self.public = set(reg.get_spec(TASK).seeds.eval)
        self.on = True

    def reset(self, seed: int) -> None:
        self.on = seed in self.public
        self.inner.reset(seed)

    def act(self, observations: Mapping[str, Any]) -> dict[str, Any]:
        acts = self.inner.act(observations)
        return acts if self.on else {a: np.zeros_like(v) for a, v in acts.items()}


def test_results_without_logs_are_valid_but_not_verifiable(entry, tmp_path):
    path = copy_entry(entry, tmp_path)
    doc = json.loads(path.read_text())
    doc.pop("action_log")
    for e in doc["episodes"]:
        e.pop("actions")
    rewrite(path, doc)
    report = validate_file(path)
    assert report.ok and any("no action log" in p.message for p in report.warnings)
    assert not verify_file(path, rerun=False).ok


def test_damaged_sidecar_is_refused(entry, tmp_path):
    path = copy_entry(entry, tmp_path)
    side = next((path.parent / "actions").glob("*.bin"))
    data = bytearray(side.read_bytes())
    data[len(data) // 2] ^= 0xFF
    side.write_bytes(bytes(data))
    report = validate_file(path)
    assert not report.ok and "$.action_log.file" in {p.path for p in report.errors}


def test_ledger_marks_exact_bytes(entry, tmp_path):
    path = copy_entry(entry, tmp_path)
    root = tmp_path / "submissions"
    book = tmp_path / "verified.json"
    assert not ledger.verified(path, root, book)[0]
    ledger.record([path], book, root)
    assert ledger.verified(path, root, book) == (True, "")
    path.write_text(path.read_text() + " ")
    assert not ledger.verified(path, root, book)[0]


# ------------------------------------------------------------------------------- action log codec


def test_action_log_round_trip_keeps_kinds_dtypes_and_absent_agents():
    rec = ActionRecorder(["a", "b", "c"])
    steps = [{"a": 3, "b": np.array([0.5, 1.25], dtype=np.float32), "c": np.int64(2)},
             {"a": -1, "b": np.array([1e-9, 2.0], dtype=np.float32)},
             {"a": 7, "b": np.array([3.0, 4.0], dtype=np.float32), "c": np.int64(5)}]
    for s in steps:
        rec.add(s)
    packed = rec.pack()
    back = decode(unpack_raw(packed))
    assert len(back) == 3 and "c" not in back[1]
    for want, got in zip(steps, back):
        assert set(want) == set(got)
        for k in want:
            assert type(want[k]) is type(got[k])
            assert np.array_equal(want[k], got[k]) and np.asarray(want[k]).dtype == np.asarray(got[k]).dtype
    policy = LogPolicy(back)
    policy.reset(0)
    assert policy.act({}) is back[0]


def test_action_log_refuses_damage_and_bombs():
    rec = ActionRecorder(["a"])
    rec.add({"a": 1})
    good = rec.pack()
    for bad in ({**good, "sha256": "0" * 64}, {**good, "data": "!!"}, {**good, "data": good["data"][:-8]},
                {**good, "codec": "x"}):
        with pytest.raises(ActionLogError):
            unpack_raw(bad)
    import base64
    import lzma
    bomb = {"codec": actionlog.CODEC, "sha256": "0" * 64,
            "data": base64.b64encode(lzma.compress(b"\0" * (2 * 1024 * 1024))).decode()}
    with pytest.raises(ActionLogError, match="more than"):
        unpack_raw(bomb, max_raw=1024 * 1024)
    with pytest.raises(ActionLogError):
        ActionRecorder(["a"]).add({"a": {"nested": 1}})
    with pytest.raises(ActionLogError):
        ActionRecorder(["a"]).add({"z": 1})


# --------------------------------------------------------------- the committed reference entries

def _committed_references() -> list[Path]:
    from bench.submit.identity import lookup
    from bench.submit.location import SUBMISSIONS

    out = []
    for p in sorted(SUBMISSIONS.glob("*/*/*.json")):
        entry = lookup(p.stem)
        if entry is not None and entry.kind in ("reference", "oracle"):
            out.append(p)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("path", _committed_references(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_committed_reference_entry_verifies(path):
    """Every committed reference entry replays and reruns (``-m slow``; minutes per entry). Files
    written before action logs existed are skipped, naming the fix: re-run the sweep."""
    doc = json.loads(path.read_text())
    if "action_log" not in doc:
        pytest.skip("committed before action logs existed: re-run `rao-bench baselines --workers 1`")
    v = verify_file(path, sample_seed=0)
    assert v.ok, "\n".join(map(str, [c for c in v.checks if not c.ok][:10])) or v.refused


def test_evaluate_isolated_gives_the_in_process_result():
    from bench.protocol import evaluate

    a = evaluate(TASK, REF, "quick", progress=False)
    b = evaluate(TASK, REF, "quick", progress=False, isolate=True)
    assert_reproduces([{k: v for k, v in e.items() if k != "actions"} for e in a["episodes"]],
                      [{k: v for k, v in e.items() if k != "actions"} for e in b["episodes"]])
    assert [e["actions"]["sha256"] for e in a["episodes"]] == [e["actions"]["sha256"] for e in b["episodes"]]


def test_a_result_whose_sidecar_is_absent_is_valid_but_cannot_be_verified(tmp_path):
    """ThreeTier's logs are kept out of git: on a fresh clone such a result must stay valid (the
    ledger vouches for the bytes verified with the log present), while `rao-bench verify` there
    refuses it until the log is restored."""
    from bench.submit.validator import validate_file
    from bench.submit.verify import verify_file

    src = Path(__file__).resolve().parents[1] / "leaderboard" / "submissions" / "supply_chain" / "Serial-v2"
    dst = tmp_path / "supply_chain" / "Serial-v2"
    dst.mkdir(parents=True)
    shutil.copy(src / "lot_for_lot.json", dst / "lot_for_lot.json")
    report = validate_file(dst / "lot_for_lot.json")
    assert report.ok, [str(p) for p in report.problems]
    assert any(p.stage == "actions" and "not present here" in p.message for p in report.warnings)
    assert not verify_file(dst / "lot_for_lot.json", rerun=False).ok


def test_replay_ignores_the_run_label_of_a_merged_entry():
    """merge-runs labels a learner's episodes with their training run; a replay record has no
    label, and the label is not an outcome of the episode, so it is not compared."""
    from bench.submit.replay import compare

    ep = {"seed": 1, "V": 0.5, "kpis": {"x": 1.0}, "run": 2}
    assert compare({"seed": 1, "V": 0.5, "kpis": {"x": 1.0}}, ep) == []
    assert compare({"seed": 1, "V": 0.6, "kpis": {"x": 1.0}}, ep)


def test_ledger_records_which_checks_passed_and_keeps_them_for_the_same_bytes(entry, tmp_path):
    path = copy_entry(entry, tmp_path)
    root = tmp_path / "submissions"
    book = tmp_path / "verified.json"
    ledger.record([path], book, root, checks=["replay", "rerun"])
    ledger.record([path], book, root, checks=["replay"])          # a later replay-only pass
    key = f"{TASK}/{REF}.json"
    assert ledger.read(book)[key]["checks"] == ["replay", "rerun"]
    path.write_text(path.read_text() + " ")                         # new bytes: start afresh
    ledger.record([path], book, root, checks=["replay"])
    assert ledger.read(book)[key]["checks"] == ["replay"]


def test_a_merged_learner_entry_reruns_each_run_from_its_own_checkpoints():
    """Run r of a merged reference learner was trained with the seed its training block records;
    verify re-runs run r's episodes from ``run<seed>/`` and samples every (run, cell)."""
    from baselines import registry
    from bench.submit.verify import run_refs, sample_per_run_and_cell

    doc = {"episodes": [{"run": r, "scale": s, "scenario": "nominal", "seed": i}
                        for r in (0, 1) for i, s in enumerate(("a", "a", "b"))],
           "algorithm": {"training": {"runs": [{"run": 0, "seed": 4}, {"run": 1, "seed": 7},
                                               {"run": 1, "seed": 7}]}}}
    refs = run_refs(doc, "ippo", explicit=False)
    assert refs == {0: f"ippo@{registry.run_checkpoint_dir(4)}", 1: f"ippo@{registry.run_checkpoint_dir(7)}"}
    assert registry.run_checkpoint_dir(4).name == "run4"
    assert run_refs(doc, "ippo", explicit=True) == {}                 # --policy given: as named
    assert run_refs(doc, "order_up_to", explicit=False) == {}         # not a learner
    idx = sample_per_run_and_cell(doc["episodes"], np.random.default_rng(0))
    cells = sorted((doc["episodes"][i]["run"], doc["episodes"][i]["scale"]) for i in idx)
    assert cells == [(0, "a"), (0, "b"), (1, "a"), (1, "b")]


def test_an_oracle_deciding_through_an_env_hook_is_rerun_in_the_harness():
    """EdgeCluster-v2's clairvoyant oracle places each job through the env's privileged
    ``dispatch_hook``, not through its actions: its log cannot replay the episode, so verify
    re-runs every episode of that registered oracle in the harness; only registered oracles
    that declare a hook the env lists get this path."""
    from bench.submit.actionlog import read_sidecar
    from bench.submit.replay import replay_job
    from bench.submit.verify import hook_decisions, inprocess_job

    v2 = "compute/EdgeCluster-v2"
    assert hook_decisions(v2, "clairvoyant_greedy", explicit=False) == ("dispatch_hook",)
    assert hook_decisions("compute/EdgeCluster-v1", "clairvoyant_greedy", explicit=False) == ()
    assert hook_decisions(v2, "jsq", explicit=False) == ()
    assert hook_decisions(v2, "clairvoyant_greedy", explicit=True) == ()   # --policy: replayed
    path = Path(__file__).resolve().parents[1] / "leaderboard" / "submissions" / v2 / "clairvoyant_greedy.json"
    doc = json.loads(path.read_text())
    ep = doc["episodes"][0]
    assert inprocess_job((v2, "clairvoyant_greedy", 0, ep)).ok
    raw = actionlog.episode_raw(ep["actions"], read_sidecar(doc, path.parent))
    assert not replay_job((v2, 0, ep, raw)).ok          # the hook's decisions are not in the log


def test_no_replay_skips_only_bytes_the_ledger_records_as_replayed(entry, tmp_path):
    path = copy_entry(entry, tmp_path)
    root = tmp_path / "submissions"
    book = tmp_path / "verified.json"
    v = verify_file(path, rerun=False, replay=False, ledger=book, ledger_root=root)   # not in it: replayed
    assert v.ok and {c.kind for c in v.checks} == {"replay"}
    book.write_text(json.dumps({f"{TASK}/{REF}.json": {"sha256": ledger._digest(path)}}))  # an old row
    assert ledger.passed_checks(ledger.read(book)[f"{TASK}/{REF}.json"]) == {"replay"}
    v = verify_file(path, rerun=True, replay=False, ledger=book, ledger_root=root, sample_seed=0)
    assert v.ok and {c.kind for c in v.checks} == {"rerun"}
    assert any("replay: skipped" in n for n in v.notes)
