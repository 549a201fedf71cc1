"""Validator throughput on a large submission: the genuine result with its episodes replicated
50 times (it fails the coverage checks, which still have to run over every episode)."""

from __future__ import annotations

import json

import pytest

from bench.validate import validate_file

pytestmark = pytest.mark.benchmark_suite

COPIES = 50


@pytest.fixture
def large_result(genuine_doc, tmp_path):
    genuine_doc["episodes"] = genuine_doc["episodes"] * COPIES
    path = tmp_path / "large.json"
    path.write_text(json.dumps(genuine_doc, indent=1), encoding="utf-8")
    return path, len(genuine_doc["episodes"])


def test_validate_large_submission(benchmark, large_result):
    path, n_episodes = large_result
    report = benchmark(validate_file, path)
    assert not report.ok  # duplicated episodes
    duplicates = [p for p in report.problems if p.message.startswith("duplicate episode")]
    assert len(duplicates) == n_episodes - n_episodes // COPIES
