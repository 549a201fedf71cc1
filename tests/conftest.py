"""Shared pytest fixtures."""

from __future__ import annotations

import json
import os

import pytest

# ==== validator fixtures (tests/test_validate*.py, tests/benchmarks/test_validate_speed.py) ====
#: The task whose genuine submission the validator tests use (override to check another task).
VALIDATOR_TASK = os.environ.get("RAO_VALIDATE_TASK", "supply_chain/Serial-v1")


@pytest.fixture(scope="session")
def genuine_result_text() -> str:
    """A real result file: the random baseline run through the full protocol by the evaluator."""
    from bench.protocol import evaluate
    from bench.results import dumps

    doc = evaluate(VALIDATOR_TASK, "random", "full", workers=1, progress=False,
                   command=f"rao-bench evaluate {VALIDATOR_TASK} --policy random")
    return dumps(doc)


@pytest.fixture
def genuine_doc(genuine_result_text: str) -> dict:
    """A fresh, mutable copy of the genuine result."""
    return json.loads(genuine_result_text)
# ==== end validator fixtures ====
