"""The validator accepts a genuine result and rejects each kind of tampering at the right stage and
path, listing every problem at once (bench/validate.py)."""

from __future__ import annotations

import copy
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

import bench.registry as reg
from bench import metrics
from bench.results import dumps
from bench.spec import TaskSpec
from bench.summary import protocol_seeds, summarise
from bench.validate import (ERROR, SKIPPED, WARNING, Report, hyperscore_range, main_validate,
                            validate_document, validate_file)


def spec_of(doc: dict) -> TaskSpec:
    return reg.get_spec(doc["task"]["id"])


def write(tmp_path: Path, content: Any, name: str = "result.json") -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(json.dumps(content, indent=1, allow_nan=True), encoding="utf-8")
    return path


def errors_at(report: Report, stage: str, path: str) -> list[str]:
    return [p.message for p in report.problems
            if p.severity == ERROR and p.stage == stage and p.path == path]


def describe(report: Report) -> str:
    return "\n".join(map(str, report.problems)) or "(no problems)"


# ------------------------------------------------------------------------------------------------
# A genuine result passes
# ------------------------------------------------------------------------------------------------


def test_genuine_result_passes_every_stage(genuine_doc, tmp_path):
    report = validate_file(write(tmp_path, genuine_doc))
    # the genuine run is on Serial-v1, superseded by Serial-v2: that warning is the only finding
    others = [p for p in report.problems if not (p.path == "$.task.id" and "out of date" in p.message)]
    assert others == [], describe(report)
    assert report.ok and report.eligible


def test_genuine_result_passes_as_a_document(genuine_doc):
    before = copy.deepcopy(genuine_doc)
    report = validate_document(genuine_doc)
    assert report.ok, describe(report)
    assert genuine_doc == before, "the validator must not modify the document it checks"


def test_hyperscore_range_is_the_attainable_one(genuine_doc):
    hp = spec_of(genuine_doc).hyperscore
    lo, hi = hyperscore_range(spec_of(genuine_doc))
    assert lo == pytest.approx(metrics.hyperscore(0.0, hp.beta, hp.gamma, hp.kappa))
    assert hi == pytest.approx(metrics.hyperscore(1.0, hp.beta, hp.gamma, hp.kappa))
    if (hp.beta, hp.gamma, hp.kappa) == (6.0, -math.log(2.0), 2.5):
        assert (lo, hi) == pytest.approx((100.0, 100.0 * (1 + 3 ** -2.5)))  # docs/metrics.md


# ------------------------------------------------------------------------------------------------
# Tamper suite: each edit is rejected by the stage meant to catch it, at the edited path
# ------------------------------------------------------------------------------------------------


def _index(doc: dict, spec: TaskSpec, scale: str | None = None, scenario: str | None = None) -> int:
    scale = scale or spec.nominal_scale.name
    scenario = scenario or spec.nominal_scenario.name
    return next(i for i, e in enumerate(doc["episodes"])
                if e["scale"] == scale and e["scenario"] == scenario)


def _other_scale(spec: TaskSpec) -> str:
    others = [s.name for s in spec.scales if not s.nominal]
    if not others:
        pytest.skip(f"{spec.id} has a single scale")
    return others[-1]


def _shift(spec: TaskSpec) -> str:
    if not spec.shift_scenarios:
        pytest.skip(f"{spec.id} has no shift scenario")
    return spec.shift_scenarios[0].name


def _constraint(spec: TaskSpec) -> str:
    if not spec.constraints:
        pytest.skip(f"{spec.id} declares no constraint")
    return spec.constraints[0].name


def _drop_seed(doc: dict, spec: TaskSpec) -> str:
    seed = doc["protocol"]["seeds"].pop()
    doc["episodes"] = [e for e in doc["episodes"] if e["seed"] != seed]
    return "$.protocol.seeds"


def _drop_cell(doc: dict, scale: str, scenario: str) -> str:
    doc["episodes"] = [e for e in doc["episodes"] if (e["scale"], e["scenario"]) != (scale, scenario)]
    return "$.episodes"


def _edit_kpi(doc: dict, spec: TaskSpec) -> str:
    """Move a weighted KPI to a point inside its anchors where V must change."""
    i = _index(doc, spec)
    name = next(k for k, w in spec.weights.items() if w > 0)
    zero, one = spec.anchors[name]
    now = metrics.normalise_kpi(doc["episodes"][i]["kpis"][name], zero, one)
    target = 0.25 if abs(now - 0.25) > 0.1 else 0.75
    doc["episodes"][i]["kpis"][name] = zero + target * (one - zero)
    return f"$.episodes[{i}].V"


def _wrong_hyperscore(doc: dict, spec: TaskSpec) -> str:
    i = _index(doc, spec)
    lo, hi = hyperscore_range(spec)
    ep = doc["episodes"][i]
    ep["hyperscore"] = lo + 0.5 * (hi - lo) if abs(ep["hyperscore"] - (lo + 0.5 * (hi - lo))) > 1e-3 else hi
    return f"$.episodes[{i}].hyperscore"


def _bump_summary_rate(doc: dict, spec: TaskSpec) -> str:
    c = _constraint(spec)
    s = doc["summary"]["safety"][c]
    s["rate"] = s["rate"] + 0.05 if s["rate"] < 0.5 else s["rate"] - 0.05
    return f"$.summary.safety.{c}.rate"


def _bump_episode_rate(doc: dict, spec: TaskSpec) -> str:
    c = _constraint(spec)
    i = _index(doc, spec)
    s = doc["episodes"][i]["safety"][c]
    s["rate"] = 1.0 if s["rate"] < 0.5 else 0.0
    return f"$.episodes[{i}].safety.{c}.rate"


def _too_many_violations(doc: dict, spec: TaskSpec) -> str:
    c = _constraint(spec)
    ep = doc["episodes"][0]
    ep["safety"][c].update(violating_steps=ep["agent_steps"] + 1, any=True,
                           severity=max(ep["safety"][c]["severity"], 1.0))
    return f"$.episodes[0].safety.{c}.violating_steps"


def _constraint_agent_steps(doc: dict, spec: TaskSpec) -> str:
    c = _constraint(spec)
    doc["episodes"][0]["safety"][c]["agent_steps"] *= 2  # would dilute the pooled summary rate
    return f"$.episodes[0].safety.{c}.agent_steps"


def _overflowing_number(doc: dict, spec: TaskSpec) -> tuple[bytes, str]:
    """1e400 is valid JSON, but Python reads it as inf."""
    doc["episodes"][0]["mean_return"] = 123456.789
    text = dumps(doc)
    assert text.count("123456.789") == 1
    return text.replace("123456.789", "1e400").encode(), "$.episodes[0].mean_return"


def _duplicate_key(doc: dict, spec: TaskSpec) -> bytes:
    text = dumps(doc)
    entry = '"schema_version": "1.0"'
    assert entry in text
    return text.replace(entry, entry + ", " + entry, 1).encode()


def _set(path: tuple, value: Any) -> Callable[[dict, TaskSpec], str]:
    def apply(doc: dict, spec: TaskSpec) -> str:
        obj = doc
        for k in path[:-1]:
            obj = obj[k]
        obj[path[-1]] = value(obj[path[-1]]) if callable(value) else value
        return "$" + "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in path)
    return apply


def _delete(path: tuple) -> Callable[[dict, TaskSpec], str]:
    def apply(doc: dict, spec: TaskSpec) -> str:
        obj = doc
        for k in path[:-1]:
            obj = obj[k]
        del obj[path[-1]]
        return "$" + "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in path)
    return apply


@dataclass(frozen=True)
class Tamper:
    """``apply`` edits the document in place and returns the JSON path that must be blamed; it
    may instead return ``(content, path)`` to write other content (raw bytes, another value)."""

    id: str
    stage: str
    apply: Callable[[dict, TaskSpec], Any]
    max_bytes: int | None = None
    message: str = ""  # a word the message must contain


def _append_seed(value: Callable[[dict], int]) -> Callable[[dict, TaskSpec], str]:
    def apply(doc: dict, spec: TaskSpec) -> str:
        doc["protocol"]["seeds"].append(value(doc))
        return f"$.protocol.seeds[{len(doc['protocol']['seeds']) - 1}]"
    return apply


def _append_episode(edit: Callable[[dict], None], field: str = "") -> Callable[[dict, TaskSpec], str]:
    def apply(doc: dict, spec: TaskSpec) -> str:
        ep = copy.deepcopy(doc["episodes"][0])
        edit(ep)
        doc["episodes"].append(ep)
        return f"$.episodes[{len(doc['episodes']) - 1}]{field}"
    return apply


def _nominal(edit: Callable[[dict], Any], field: str) -> Callable[[dict, TaskSpec], str]:
    def apply(doc: dict, spec: TaskSpec) -> str:
        i = _index(doc, spec)
        edit(doc["episodes"][i])
        return f"$.episodes[{i}]{field}"
    return apply


def _infinite_kpi(doc: dict, spec: TaskSpec) -> str:
    i, name = _index(doc, spec), spec.kpis[0].name
    doc["episodes"][i]["kpis"][name] = math.inf
    return f"$.episodes[{i}].kpis.{name}"


def _rename_task(doc: dict, spec: TaskSpec) -> str:
    ns, name, v = reg.parse_id(spec.id)
    typo = name[0] + name[2] + name[1] + name[3:] if len(name) > 3 else name + "x"
    doc["task"]["id"] = f"{ns}/{typo}-v{v}"
    return "$.task.id"


TAMPERS = [
    # 1. file
    Tamper("not-json", "file", lambda d, s: (b'{"schema_version": "1.0", "task": ', "$"), message="line 1"),
    Tamper("not-utf8", "file", lambda d, s: (b'{"schema_version": "1.0\xff"}', "$"), message="UTF-8"),
    Tamper("oversized", "file", lambda d, s: "$", max_bytes=1000, message="bytes"),
    Tamper("top-level-list", "file", lambda d, s: ([d], "$"), message="array"),
    Tamper("duplicate-key", "file", lambda d, s: (_duplicate_key(d, s), "$"), message="schema_version"),
    # 2. schema
    Tamper("schema-missing-field", "schema", _delete(("algorithm", "name")), message="required"),
    Tamper("schema-wrong-type", "schema", _set(("episodes", 0, "seed"), "7"), message="integer"),
    Tamper("schema-extra-field", "schema", _set(("episodes", 0, "bonus"), 1.0), message="unexpected"),
    Tamper("V-out-of-range", "schema", _set(("episodes", 0, "V"), 1.5), message="at most 1"),
    Tamper("missing-provenance-field", "schema", _delete(("provenance", "utc_time")), message="required"),
    Tamper("empty-command", "schema", _set(("provenance", "command"), ""), message="character"),
    # 3. task
    Tamper("unknown-task-id", "task", _rename_task, message="Did you mean"),
    Tamper("unreleased-version", "task", lambda d, s: _set(("task", "id"), s.id.rsplit("-v", 1)[0] + "-v99")(d, s),
           message="not released"),
    Tamper("wrong-spec-hash", "task", _set(("task", "spec_sha256"), "0" * 64), message="different spec"),
    # 4. seeds and coverage
    Tamper("missing-seed", "coverage", _drop_seed, message="missing"),
    Tamper("duplicated-seed", "coverage", _append_seed(lambda d: d["protocol"]["seeds"][0]), message="more than once"),
    Tamper("extra-seed", "coverage", _append_seed(lambda d: 987_654), message="extra"),
    Tamper("duplicate-episode", "coverage", _append_episode(lambda e: None), message="duplicate"),
    Tamper("episode-with-foreign-seed", "coverage", _append_episode(lambda e: e.update(seed=987_654), ".seed"),
           message="not an evaluation seed"),
    Tamper("missing-scale-cell", "coverage", lambda d, s: _drop_cell(d, _other_scale(s), s.nominal_scenario.name),
           message="missing cell"),
    Tamper("missing-scenario-cell", "coverage", lambda d, s: _drop_cell(d, s.nominal_scale.name, _shift(s)),
           message="missing cell"),
    Tamper("unknown-scale", "coverage", _nominal(lambda e: e.update(scale="gigantic"), ".scale"), message="expected a scale"),
    Tamper("wrong-n-agents", "coverage", _nominal(lambda e: e.update(n_agents=e["n_agents"] + 1), ".n_agents"),
           message="agents"),
    Tamper("missing-kpi", "coverage", _nominal(lambda e: e["kpis"].popitem(), ".kpis"), message="is missing"),
    Tamper("unknown-kpi", "coverage", _nominal(lambda e: e["kpis"].update(bogus=1.0), ".kpis.bogus"), message="unknown KPI"),
    Tamper("missing-constraint", "coverage", _nominal(lambda e: e["safety"].clear(), ".safety"), message="constraint"),
    # 5. numbers
    Tamper("NaN-V", "numbers", _nominal(lambda e: e.update(V=math.nan), ".V"), message="found nan"),
    Tamper("infinite-kpi", "numbers", _infinite_kpi, message="finite"),
    Tamper("number-overflowing-a-double", "numbers", _overflowing_number, message="too large"),
    Tamper("huge-integer-seed", "numbers", _set(("protocol", "seeds", 0), 10**30), message="2^53"),
    Tamper("hyperscore-out-of-range", "numbers", _nominal(lambda e: e.update(hyperscore=150.0), ".hyperscore"),
           message="attainable"),
    Tamper("steps-not-horizon", "numbers", _nominal(lambda e: e.update(steps=e["steps"] - 1), ".steps"),
           message="horizon"),
    Tamper("agent-steps-wrong", "numbers", _nominal(lambda e: e.update(agent_steps=e["agent_steps"] + 1),
                                                     ".agent_steps"), message="n_agents * steps"),
    Tamper("episode-safety-rate-inconsistent", "numbers", _bump_episode_rate, message="violating_steps / agent_steps"),
    Tamper("constraint-agent-steps-edited", "numbers", _constraint_agent_steps, message="n_agents * steps"),
    Tamper("violating-steps-exceed-agent-steps", "numbers", _too_many_violations, message="at most"),
    Tamper("recovery-on-nominal", "numbers", _nominal(lambda e: e.update(recovery_steps=3, recovered=True),
                                                       ".recovery_steps"), message="null"),
    # 6. recompute
    Tamper("hyperscore-inconsistent-with-V", "recompute", _wrong_hyperscore, message="recomputed"),
    Tamper("V-inconsistent-with-KPIs", "recompute", _edit_kpi, message="KPIs"),
    Tamper("summary-mean-edited", "recompute", _set(("summary", "nominal", "V", "mean"), lambda x: x + 0.01),
           message="recomputed"),
    Tamper("summary-CI-edited", "recompute", _set(("summary", "nominal", "hyperscore", "ci_high"),
                                                   lambda x: x + 0.5), message="recomputed"),
    Tamper("summary-safety-rate-edited", "recompute", _bump_summary_rate, message="recomputed"),
    Tamper("summary-n-episodes-edited", "recompute", _set(("summary", "nominal", "n_episodes"), lambda n: n + 1),
           message="recomputed"),
    # 7. provenance
    Tamper("utc-time-not-iso", "provenance", _set(("provenance", "utc_time"), "last Tuesday"), message="ISO-8601"),
    Tamper("utc-time-not-utc", "provenance", _set(("provenance", "utc_time"), "2025-01-31T12:00:00+02:00"),
           message="UTC"),
    Tamper("blank-command", "provenance", _set(("provenance", "command"), "   "), message="non-blank"),
    Tamper("bad-package-version", "provenance", _set(("provenance", "package_version"), "latest"),
           message="version"),
]


@pytest.mark.parametrize("tamper", TAMPERS, ids=[t.id for t in TAMPERS])
def test_tampered_result_is_rejected(tamper: Tamper, genuine_doc, tmp_path):
    spec = spec_of(genuine_doc)
    out = tamper.apply(genuine_doc, spec)
    content, path = out if isinstance(out, tuple) else (genuine_doc, out)
    kwargs = {"max_bytes": tamper.max_bytes} if tamper.max_bytes else {}
    report = validate_file(write(tmp_path, content), **kwargs)
    assert not report.ok, f"{tamper.id} was accepted"
    hits = errors_at(report, tamper.stage, path)
    assert hits, f"expected a [{tamper.stage}] error at {path}; got:\n{describe(report)}"
    assert any(tamper.message in m for m in hits), (
        f"no [{tamper.stage}] {path} message mentions {tamper.message!r}:\n{describe(report)}")


def test_nan_literal_is_what_the_file_contains(genuine_doc, tmp_path):
    """The NaN tamper really writes the non-standard literal that Python's json reads back."""
    genuine_doc["episodes"][0]["V"] = math.nan
    assert '"V": NaN' in write(tmp_path, genuine_doc).read_text()


def test_every_problem_is_listed_at_once(genuine_doc):
    genuine_doc["episodes"][0]["bonus"] = 1  # schema
    genuine_doc["protocol"]["seeds"].append(987_654)  # coverage
    genuine_doc["summary"]["nominal"]["V"]["iqm"] += 0.01  # recompute
    genuine_doc["provenance"]["utc_time"] = "noon"  # provenance
    report = validate_document(genuine_doc)
    assert len(report.errors) >= 4, describe(report)
    assert {"schema", "coverage", "recompute", "provenance"} <= {p.stage for p in report.errors}


def test_structurally_broken_document_blocks_dependent_stages_with_errors(genuine_doc):
    """A stage that cannot run is an error at the field that stops it, once per stage; never a
    silent skip (issue 14: a skipped summary check let a pasted summary through)."""
    genuine_doc["task"] = "Serial"
    genuine_doc["episodes"] = {"not": "a list"}
    report = validate_document(genuine_doc)
    assert not report.ok
    assert not [p for p in report.problems if p.severity == SKIPPED]
    blocked = [(p.stage, p.path) for p in report.errors if "cannot be checked" in p.message]
    assert blocked == [("task", "$.task.id"), ("coverage", "$.task.id"), ("numbers", "$.task.id"),
                       ("recompute", "$.task.id")], describe(report)


def test_task_missing_from_lock_is_an_error(genuine_doc, monkeypatch):
    monkeypatch.setattr(reg, "read_lock", lambda: {})
    report = validate_document(genuine_doc)
    assert any("not in the spec lock" in m for m in errors_at(report, "task", "$.task.id")), describe(report)


def test_edited_installation_spec_is_an_error(genuine_doc, monkeypatch):
    tid = genuine_doc["task"]["id"]
    monkeypatch.setattr(reg, "read_lock", lambda: {tid: "f" * 64})
    report = validate_document(genuine_doc)
    assert errors_at(report, "task", "$.task.id"), describe(report)
    assert errors_at(report, "task", "$.task.spec_sha256"), describe(report)


def test_summary_edit_reports_each_differing_leaf(genuine_doc):
    nominal = genuine_doc["summary"]["nominal"]
    nominal["V"]["mean"] += 0.01
    nominal["V"]["ci_low"] -= 0.01
    report = validate_document(genuine_doc)
    paths = {p.path for p in report.errors if p.stage == "recompute"}
    assert paths == {"$.summary.nominal.V.mean", "$.summary.nominal.V.ci_low"}, describe(report)


def test_tolerance_accepts_float_noise_only(genuine_doc):
    ep = genuine_doc["episodes"][0]
    ep["V"] = ep["V"] * (1 + 1e-12) if ep["V"] > 0 else 1e-12
    assert validate_document(genuine_doc).ok
    ep["V"] = ep["V"] + 1e-6 if ep["V"] < 0.5 else ep["V"] - 1e-6
    assert not validate_document(genuine_doc).ok


# ------------------------------------------------------------------------------------------------
# Eligibility: valid, but not for the leaderboard
# ------------------------------------------------------------------------------------------------


def _as_quick(doc: dict) -> dict:
    spec = spec_of(doc)
    seeds = protocol_seeds(spec, "quick")
    doc["protocol"]["name"] = "quick"
    doc["protocol"]["seeds"] = list(seeds)
    doc["episodes"] = [e for e in doc["episodes"] if e["seed"] in seeds]
    doc["summary"] = json.loads(json.dumps(summarise(spec, doc["episodes"])))
    return doc


def test_quick_protocol_is_valid_but_not_eligible(genuine_doc):
    report = validate_document(_as_quick(genuine_doc))
    assert report.ok, describe(report)
    assert not report.eligible
    # (a genuine Serial-v1 run: v1 is superseded, which is a warning of its own at $.task.id)
    warns = [p for p in report.warnings if p.path != "$.task.id"]
    assert [p.path for p in warns] == ["$.protocol.name"]
    assert "not eligible to rank" in warns[0].message


def test_oracle_is_valid_but_not_eligible(genuine_doc):
    genuine_doc["algorithm"].update(name="my_oracle", paradigm="oracle")
    report = validate_document(genuine_doc)
    assert report.ok and not report.eligible
    assert any(p.severity == WARNING and "not eligible to rank" in p.message for p in report.problems)


def test_full_seeds_in_a_quick_result_are_extra(genuine_doc):
    genuine_doc["protocol"]["name"] = "quick"
    report = validate_document(genuine_doc)
    assert not report.ok
    assert any(p.path.startswith("$.protocol.seeds[") for p in report.errors), describe(report)


# ------------------------------------------------------------------------------------------------
# CLI glue
# ------------------------------------------------------------------------------------------------


def test_main_validate_reports_each_file_and_a_tally(genuine_doc, tmp_path):
    good = write(tmp_path, genuine_doc, "good.json")
    bad_doc = copy.deepcopy(genuine_doc)
    bad_doc["episodes"][0]["V"] = 1.5
    del bad_doc["provenance"]["command"]
    bad = write(tmp_path, bad_doc, "bad.json")
    out = io.StringIO()
    code = main_validate([str(good), str(bad)], out=out)
    lines = out.getvalue().splitlines()
    assert code == 1
    assert lines[0] == f"OK {good}" or lines[0].startswith(f"OK {good}: ")  # warnings counted
    fail = next(i for i, line in enumerate(lines) if line.startswith("FAIL "))
    assert lines[fail].startswith(f"FAIL {bad}")
    assert any(line.startswith("  ") and "[schema] $.episodes[0].V:" in line for line in lines)
    assert any(line.startswith("  2. [schema] $.provenance.command:") for line in lines)
    assert lines[-1] == "2 files: 1 valid, 1 invalid"
    assert "OK" not in "\n".join(lines[fail:-1])


def test_main_validate_exit_codes(genuine_doc, tmp_path):
    good = write(tmp_path, genuine_doc)
    assert main_validate([str(good)], out=io.StringIO()) == 0
    assert main_validate([str(good), str(tmp_path / "absent.json")], out=io.StringIO()) == 1
    assert main_validate([], out=io.StringIO()) == 2


def test_missing_file_is_a_file_problem(tmp_path):
    report = validate_file(tmp_path / "absent.json")
    assert [(p.stage, p.path) for p in report.errors] == [("file", "$")]
