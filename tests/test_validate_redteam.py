"""The red-team classes of issue 14, each a test: every tampered or hostile submission is refused
with a message at the field, or valid but not eligible to rank with its reason; none crashes.

The fabrications that stay self-consistent (KPIs moved with V and summary recomputed, an easier
env, an in-process tamper) cannot be seen in the file: ``tests/test_verify.py`` shows that replay
refuses them.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

import bench.registry as reg
from bench.submit.common import SKIPPED, Report
from bench.submit.text import csv_cell, name_key
from bench.submit.validator import load_valid, validate_document, validate_file
from bench.summary import summarise


def describe(report: Report) -> str:
    return "\n".join(map(str, report.problems)) or "(no problems)"


def error_paths(report: Report) -> set[str]:
    return {p.path for p in report.errors}


def refused_at(report: Report, path: str) -> None:
    assert not report.ok, describe(report)
    assert path in error_paths(report), f"expected an error at {path}:\n{describe(report)}"
    assert not [p for p in report.problems if p.severity == SKIPPED], describe(report)
    assert not [p for p in report.problems if "could not finish" in p.message], describe(report)


def nominal_index(doc: dict, offset: int = 0) -> int:
    spec = reg.get_spec(doc["task"]["id"])
    hits = [i for i, e in enumerate(doc["episodes"])
            if e["scale"] == spec.nominal_scale.name and e["scenario"] == "nominal"]
    return hits[offset]


def unweighted_kpi(doc: dict) -> str:
    spec = reg.get_spec(doc["task"]["id"])
    return next(k.name for k in spec.kpis if k.name not in spec.weights)


# -------------------------------------------------------------- the summary check cannot be switched off


@pytest.mark.parametrize("edit", ["kpi_1e308", "agent_steps_float", "decision_time_1e308"])
def test_pasted_summary_after_a_blocking_edit_is_refused(genuine_doc, edit):
    doc = genuine_doc
    i = nominal_index(doc)
    ep = doc["episodes"][i]
    if edit == "kpi_1e308":
        where = f"$.episodes[{i}].kpis.{unweighted_kpi(doc)}"
        ep["kpis"][unweighted_kpi(doc)] = 1e308
    elif edit == "agent_steps_float":
        c = next(iter(ep["safety"]))
        where = f"$.episodes[{i}].safety.{c}.agent_steps"
        ep["safety"][c]["agent_steps"] = 1.0
    else:
        where = f"$.episodes[{i}].decision_time_per_agent_step_s"
        ep["decision_time_per_agent_step_s"] = 1e308
    # paste a "better" summary: every V statistic at its best
    for stat in ("mean", "iqm", "ci_low", "ci_high"):
        doc["summary"]["nominal"]["V"][stat] = 0.99
    report = validate_document(doc)
    refused_at(report, where)
    assert report.summary is None


def test_summary_missing_a_kpi_is_refused_and_never_crashes_load_valid(genuine_doc, tmp_path):
    kpi = next(iter(genuine_doc["summary"]["nominal"]["kpis"]))
    del genuine_doc["summary"]["nominal"]["kpis"][kpi]
    report = validate_document(genuine_doc)
    refused_at(report, f"$.summary.nominal.kpis.{kpi}")
    path = tmp_path / "r.json"
    path.write_text(json.dumps(genuine_doc))
    result, problems = load_valid(path, submissions_root=None)
    assert result is None and problems


def test_load_valid_returns_the_recomputed_summary(genuine_doc, tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(genuine_doc))
    result, problems = load_valid(path, submissions_root=None)
    assert result is not None, problems
    spec = reg.get_spec(genuine_doc["task"]["id"])
    assert result["summary"] == summarise(spec, genuine_doc["episodes"])
    assert result["summary"] is not genuine_doc["summary"]


# ---------------------------------------------------------------------- whole-number floats as integers


def _float_edits(doc: dict) -> list[tuple[str, Any]]:
    i = nominal_index(doc)
    ep = doc["episodes"][i]
    c = next(iter(ep["safety"]))
    shift = next(j for j, e in enumerate(doc["episodes"]) if e["recovery_steps"] is not None)
    return [
        (f"$.episodes[{i}].seed", lambda d: d["episodes"][i].__setitem__("seed", float(ep["seed"]))),
        (f"$.episodes[{i}].steps", lambda d: d["episodes"][i].__setitem__("steps", float(ep["steps"]))),
        (f"$.episodes[{i}].n_agents", lambda d: d["episodes"][i].__setitem__("n_agents", float(ep["n_agents"]))),
        (f"$.episodes[{i}].agent_steps",
         lambda d: d["episodes"][i].__setitem__("agent_steps", float(ep["agent_steps"]) * 1000)),
        (f"$.episodes[{i}].safety.{c}.violating_steps",
         lambda d: d["episodes"][i]["safety"][c].__setitem__("violating_steps", 12.0)),
        (f"$.episodes[{shift}].recovery_steps",
         lambda d: d["episodes"][shift].__setitem__("recovery_steps", 0.0)),
        ("$.protocol.seeds[0]", lambda d: d["protocol"].__setitem__(
            "seeds", [float(d["protocol"]["seeds"][0])] + d["protocol"]["seeds"][1:])),
    ]


def test_whole_number_floats_are_refused_where_integers_are_required(genuine_doc):
    for where, edit in _float_edits(genuine_doc):
        doc = copy.deepcopy(genuine_doc)
        edit(doc)
        refused_at(validate_document(doc), where)


def test_extra_episode_with_a_float_seed_is_refused(genuine_doc):
    ep = copy.deepcopy(genuine_doc["episodes"][nominal_index(genuine_doc)])
    ep["seed"] = 1.0
    genuine_doc["episodes"].append(ep)
    refused_at(validate_document(genuine_doc), f"$.episodes[{len(genuine_doc['episodes']) - 1}].seed")


def _training_block(spec: Any) -> dict:
    seeds = [spec.seeds.train_start + k for k in range(3)]
    return {"env_steps": 300, "agent_steps": 600, "episodes": 3, "wall_time_s": 1.0, "seeds": seeds,
            "violations": {c.name: {"agent_steps": 0, "exceedance": 0.0} for c in spec.constraints}}


def test_training_on_an_eval_seed_written_as_a_float_is_refused(genuine_doc):
    spec = reg.get_spec(genuine_doc["task"]["id"])
    block = _training_block(spec)
    genuine_doc["algorithm"].update(name="my_learner", paradigm="DTDE", training=block)
    assert validate_document(copy.deepcopy(genuine_doc)).ok
    block["seeds"][0] = float(spec.seeds.eval[0])
    refused_at(validate_document(genuine_doc), "$.algorithm.training.seeds[0]")


def test_unknown_field_in_training_block_is_refused(genuine_doc):
    spec = reg.get_spec(genuine_doc["task"]["id"])
    genuine_doc["algorithm"].update(name="my_learner", paradigm="DTDE",
                                    training=_training_block(spec) | {"verified": True})
    refused_at(validate_document(genuine_doc), "$.algorithm.training.verified")


# ------------------------------------------------------------------------- physically impossible KPIs


def test_impossible_kpis_are_refused_off_nominal_too(genuine_doc):
    spec = reg.get_spec(genuine_doc["task"]["id"])
    from bench.submit.kpi_ranges import kpi_range

    off = next(j for j, e in enumerate(genuine_doc["episodes"]) if e["scenario"] != "nominal")
    for kpi in (k.name for k in spec.kpis):
        lo, hi = kpi_range(spec.id, kpi)
        for bad in (lo - 1.0, hi * 11 if hi < 1e12 else 1e13):
            doc = copy.deepcopy(genuine_doc)
            doc["episodes"][off]["kpis"][kpi] = bad
            refused_at(validate_document(doc), f"$.episodes[{off}].kpis.{kpi}")


def test_mean_return_and_sim_time_are_range_checked(genuine_doc):
    i = nominal_index(genuine_doc)
    for key, bad in (("mean_return", 1e300), ("sim_time_s", 1e300), ("sim_time_s", -1.0)):
        doc = copy.deepcopy(genuine_doc)
        doc["episodes"][i][key] = bad
        refused_at(validate_document(doc), f"$.episodes[{i}].{key}")


# ------------------------------------------------------------------------------------------- identity


@pytest.mark.parametrize("name", ["ja\u200bsq", "\u200b", "\u202eqsj", "jsq\u0000", "ｊｓｑ", " jsq", "",
                                  "x" * 65, "jsq\n", "JSQ"])
def test_hostile_names_are_refused(genuine_doc, name):
    genuine_doc["algorithm"]["name"] = name
    refused_at(validate_document(genuine_doc), "$.algorithm.name")


def test_huge_version_and_hidden_characters_elsewhere_are_refused(genuine_doc):
    doc = copy.deepcopy(genuine_doc)
    doc["algorithm"]["version"] = "1" * 1_000_000
    refused_at(validate_document(doc), "$.algorithm.version")
    doc = copy.deepcopy(genuine_doc)
    doc["algorithm"]["description"] = "fine \u202e enil"
    refused_at(validate_document(doc), "$.algorithm.description")
    doc = copy.deepcopy(genuine_doc)
    doc["algorithm"]["authors"] = ["A\u200dB"]
    refused_at(validate_document(doc), "$.algorithm.authors[0]")
    doc = copy.deepcopy(genuine_doc)
    doc["algorithm"]["url"] = "javascript:alert(1)"
    refused_at(validate_document(doc), "$.algorithm.url")


def test_csv_cells_are_escaped_against_formulas():
    assert csv_cell('=HYPERLINK("http://x","y")') == '\'=HYPERLINK("http://x","y")'
    for s in ("+1", "-1+2", "@SUM(A1)", "\tx", "\rx"):
        assert csv_cell(s).startswith("'")
    assert csv_cell("jsq") == "jsq" and csv_cell(0.5) == "0.5" and csv_cell(-3) == "-3"
    assert name_key("JSQ") == name_key("jsq") == name_key("ｊｓｑ")


# ----------------------------------------------------------------------------------------- location


def _tree(tmp_path: Path, doc: dict, rel: str) -> Path:
    path = tmp_path / "submissions" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def test_file_must_sit_in_its_own_tasks_folder(genuine_doc, tmp_path):
    root = tmp_path / "submissions"
    tid = genuine_doc["task"]["id"]
    good = _tree(tmp_path, genuine_doc, f"{tid}/random.json")
    assert validate_file(good, submissions_root=root).ok
    for rel in ("compute/EdgeCluster-v1/random.json", "random.json", f"{tid}/sub/random.json"):
        report = validate_file(_tree(tmp_path, genuine_doc, rel), submissions_root=root)
        assert not report.ok and report.errors[0].stage == "file", describe(report)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks on this platform")
def test_symlinks_are_refused(genuine_doc, tmp_path):
    root = tmp_path / "submissions"
    tid = genuine_doc["task"]["id"]
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps(genuine_doc))
    link = root / tid / "random.json"
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)
    assert not validate_file(link, submissions_root=root).ok
    assert not validate_file(link).ok  # a link is refused wherever it is
    folder = root / "supply_chain" / "linked"
    folder.symlink_to(outside.parent)
    result, problems = load_valid(root / "supply_chain" / "linked" / "outside.json", submissions_root=root)
    assert result is None and problems


# ------------------------------------------------------------------------------------ eligibility


def test_learner_without_training_block_is_valid_but_not_eligible(genuine_doc):
    genuine_doc["algorithm"].update(name="my_learner", paradigm="CTDE", training=None)
    report = validate_document(genuine_doc)
    assert report.ok and not report.eligible, describe(report)
    assert any("not eligible to rank" in p.message for p in report.warnings)


# --------------------------------------------------------------------- identity (entries.yaml)


def test_oracle_relabelled_heuristic_is_refused(genuine_doc):
    from bench.submit.identity import lookup

    oracle = next(n for n in ("lp_hindsight", "clairvoyant_greedy") if lookup(n))
    genuine_doc["algorithm"].update(name=oracle, paradigm="heuristic")
    refused_at(validate_document(genuine_doc), "$.algorithm.paradigm")


def test_reference_name_on_a_foreign_task_or_in_another_spelling(genuine_doc):
    genuine_doc["algorithm"].update(name="jsq", paradigm="heuristic")  # jsq is EdgeCluster's
    report = validate_document(genuine_doc)
    assert report.ok and not report.eligible
    assert any(p.stage == "identity" and p.path == "$.task.id" for p in report.warnings), describe(report)
    genuine_doc["algorithm"].update(name="Random", paradigm="random")
    refused_at(validate_document(genuine_doc), "$.algorithm.name")


def test_unregistered_name_is_valid_but_unranked_and_owners_are_checked(genuine_doc):
    from bench.submit.identity import owner_problem, random_reference

    assert random_reference() == "random"
    assert owner_problem(genuine_doc, "rao-bench-maintainers") == ""
    assert "owned by maintainers" in owner_problem(genuine_doc, "mallory")
    genuine_doc["algorithm"].update(name="my_policy", paradigm="heuristic")
    report = validate_document(genuine_doc)
    assert report.ok and not report.eligible, describe(report)
    assert "not registered" in owner_problem(genuine_doc, "mallory")


def test_entries_registry_matches_the_baselines_and_their_privileged_declarations():
    """leaderboard/entries.yaml is what `rao-bench entries --write` generates: every registered
    baseline, kind oracle exactly when its class declares privileged information."""
    from bench.submit.identity import ENTRIES_PATH, render_entries

    assert ENTRIES_PATH.read_text(encoding="utf-8") == render_entries(), \
        "leaderboard/entries.yaml is stale: run `rao-bench entries --write`"


def test_harness_marks_privileged_policies_oracle_whatever_they_say():
    from bench.policy import PolicyInfo, PolicySource, harness_paradigm

    class Sneaky:
        info = PolicyInfo(name="sneaky", version="1", paradigm="heuristic", description="")
        privileged = ("demand_path",)

    class Plain:
        info = PolicyInfo(name="plain", version="1", paradigm="heuristic", description="")

    assert harness_paradigm(PolicySource(Sneaky, Sneaky.info, "x:Sneaky")) == "oracle"
    assert harness_paradigm(PolicySource(Plain, Plain.info, "x:Plain")) == "heuristic"


# ------------------------------------------------------------------------ the leaderboard's hook


def test_admit_gives_the_recomputed_summary_identity_and_verified_flag(genuine_doc, tmp_path):
    from bench.submit import ledger
    from bench.submit.board import admit

    root = tmp_path / "submissions"
    path = _tree(tmp_path, genuine_doc, f"{genuine_doc['task']['id']}/random.json")
    book = tmp_path / "verified.json"
    a = admit(path, root, ledger=book)
    assert a.result is not None and a.kind == "reference" and a.is_random_reference
    assert not a.verified and a.rank_block.startswith("not verified")
    assert a.result["summary"] == summarise(reg.get_spec(genuine_doc["task"]["id"]), genuine_doc["episodes"])
    ledger.record([path], book, root)
    a = admit(path, root, ledger=book)
    assert a.verified and a.rank_block == ""
    other = _tree(tmp_path, dict(genuine_doc, algorithm=dict(genuine_doc["algorithm"], name="random2")),
                  f"{genuine_doc['task']['id']}/random2.json")
    b = admit(other, root, ledger=book)
    assert b.result is not None and not b.is_random_reference and "not registered" in b.rank_block
    broken = _tree(tmp_path, {"summary": {}}, f"{genuine_doc['task']['id']}/broken.json")
    c = admit(broken, root, ledger=book)
    assert c.result is None and c.errors


def test_value_outside_an_enum_is_a_clear_error(genuine_doc):
    """Found by the 10,000-mutant fuzz: the enum message once crashed the schema stage."""
    genuine_doc["algorithm"]["paradigm"] = "magic"
    report = validate_document(genuine_doc)
    refused_at(report, "$.algorithm.paradigm")
