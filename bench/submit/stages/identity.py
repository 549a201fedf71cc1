"""Stage ``identity``: the entry's name, paradigm and task agree with leaderboard/entries.yaml
(:mod:`bench.submit.identity`): contradictions are errors, unregistered names do not rank."""

from __future__ import annotations

from bench.submit.common import WARNING, Run
from bench.submit.identity import identity_problems


def stage_identity(run: Run) -> None:
    for path, message, is_error in identity_problems(run.doc):
        if is_error:
            run.add(path, message)
        else:
            run.add(path, message, WARNING)
