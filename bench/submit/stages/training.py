"""Stage ``training`` (the checks live in :mod:`bench.submit.training`)."""

from __future__ import annotations

from bench.submit.common import WARNING, Run
from bench.submit.training import check_training


def stage_training(run: Run) -> None:
    check_training(run.doc, run.spec, run.add, WARNING)

