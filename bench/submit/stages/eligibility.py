"""Stage ``eligibility``: a valid result that may still not rank (quick protocol, oracle)."""

from __future__ import annotations

from bench.submit.common import WARNING, Run, dget


def stage_eligibility(run: Run) -> None:
    if dget(run.doc, "protocol", "name") == "quick":
        run.add(("protocol", "name"), "a quick-protocol result is valid but not eligible to rank; "
                                      "run the full protocol for the leaderboard", WARNING)
    if dget(run.doc, "algorithm", "paradigm") == "oracle":
        run.add(("algorithm", "paradigm"), "an oracle uses information a real controller lacks: "
                                           "valid, but not eligible to rank", WARNING)

