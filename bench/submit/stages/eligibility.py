"""Stage ``eligibility``: a valid result that may still not rank (quick protocol, oracle, a learner without
its training block)."""

from __future__ import annotations

from bench.submit.common import WARNING, Run, dget
from bench.submit.training import LEARNING_PARADIGMS


def stage_eligibility(run: Run) -> None:
    if dget(run.doc, "protocol", "name") == "quick":
        run.add(("protocol", "name"), "a quick-protocol result is valid but not eligible to rank; "
                                      "run the full protocol for the leaderboard", WARNING)
    if dget(run.doc, "algorithm", "paradigm") == "oracle":
        run.add(("algorithm", "paradigm"), "an oracle uses information a real controller lacks: "
                                           "valid, but not eligible to rank", WARNING)

    alg = run.doc.get("algorithm")
    if isinstance(alg, dict) and alg.get("paradigm") in LEARNING_PARADIGMS and alg.get("training") is None:
        run.add(("algorithm", "training"), f"a {alg['paradigm']} learner without its training block "
                                           "(budget, seeds, training-time violations) is valid but not "
                                           "eligible to rank; evaluate it with a policy class that has "
                                           "training_record() (docs/learners.md)", WARNING)
