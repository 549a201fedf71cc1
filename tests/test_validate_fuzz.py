"""Malformed input never makes the validator raise: it only ever returns problems.

The inputs are random JSON values, random edits of a genuine result (deleted keys, changed types,
NaN, huge numbers, long strings) and damaged bytes of its file. Every run must also end without the
validator's last-resort "could not finish this stage" error, which would mean a check crashed.
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.validate import ERROR, SKIPPED, STAGES, Report, validate_document, validate_file

FUZZ = settings(max_examples=200, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

SPECIAL = [math.nan, math.inf, -math.inf, 10**30, -(10**30), 1e308, -1, 0, -0.0, 0.5,
           "", "x" * 5000, None, True, False, [], {}, [1, "a"], {"": None}]

# an integer too long for str() (Python's 4300-digit limit); mapped so hypothesis never repr()s it
too_long = st.just(5000).map(lambda digits: 10**digits)
scalars = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
           | st.sampled_from(SPECIAL) | too_long)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def assert_only_problems(report: Any) -> None:
    assert isinstance(report, Report)
    for p in report.problems:
        assert p.stage in STAGES and p.path.startswith("$") and p.message, p
        assert "could not finish" not in p.message, f"a check crashed: {p}"
        assert p.severity != SKIPPED, f"a stage was skipped instead of refusing: {p}"
    if report.ok:
        assert report.summary is not None, "a valid report must carry the recomputed summary"


def paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += paths(v, prefix + (i,))
    return out


@st.composite
def mutated(draw: st.DrawFn, doc: dict, where: list[tuple]) -> dict:
    """Up to three random edits of a copy of ``doc``: delete, replace or insert."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(where))
        parent: Any = doc
        try:
            for k in path[:-1]:
                parent = parent[k]
            if path:
                parent[path[-1]]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed this path
        op = draw(st.sampled_from(["delete", "replace", "insert"]))
        if not path:
            if op == "replace":
                return draw(json_values)
            continue
        last = path[-1]
        try:
            if op == "delete":
                del parent[last]
            elif op == "replace":
                parent[last] = draw(json_values)
            elif isinstance(parent[last], dict):
                parent[last][draw(st.text(max_size=8))] = draw(json_values)
            elif isinstance(parent[last], list):
                parent[last].insert(draw(st.integers(0, len(parent[last]))), draw(json_values))
        except (KeyError, IndexError, TypeError):
            continue
    return doc


@FUZZ
@given(value=json_values)
def test_random_json_values_only_yield_problems(value):
    report = validate_document(value)
    assert_only_problems(report)
    if not isinstance(value, dict):
        assert not report.ok


@pytest.fixture(scope="module")
def genuine(genuine_result_text):
    doc = json.loads(genuine_result_text)
    return doc, paths(doc)


@FUZZ
@given(data=st.data())
def test_mutated_genuine_result_only_yields_problems(genuine, data):
    doc, where = genuine
    assert_only_problems(validate_document(data.draw(mutated(doc, where))))


@FUZZ
@given(data=st.data())
def test_damaged_file_only_yields_problems(genuine_result_text, tmp_path_factory, data):
    raw = bytearray(genuine_result_text.encode())
    body = len(raw.rstrip())
    if data.draw(st.booleans(), label="truncate"):
        cut = data.draw(st.integers(0, body - 1), label="cut")
        raw = raw[:cut]
        truncated = True
    else:
        for _ in range(data.draw(st.integers(1, 4), label="flips")):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
        truncated = False
    path = tmp_path_factory.mktemp("fuzz") / "result.json"
    path.write_bytes(bytes(raw))
    report = validate_file(path)
    assert_only_problems(report)
    if truncated:
        assert not report.ok and any(p.stage == "file" and p.severity == ERROR for p in report.problems)


MANY = settings(max_examples=10_000, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.mark.slow
@MANY
@given(data=st.data())
def test_ten_thousand_mutants_only_yield_clear_rejections(genuine, data):
    """Issue 14's bar: >= 10,000 mutants of a genuine result, no internal error, no skipped stage
    (run with ``-m slow``)."""
    doc, where = genuine
    assert_only_problems(validate_document(data.draw(mutated(doc, where))))
