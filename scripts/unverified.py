"""Print the committed result files whose exact bytes the verification ledger does not vouch for.

    .venv/bin/python scripts/unverified.py | xargs .venv/bin/rao-bench verify --record --no-rerun
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.submit.ledger import verified  # noqa: E402

SUBMISSIONS = REPO / "leaderboard" / "submissions"

if __name__ == "__main__":
    for path in sorted(SUBMISSIONS.glob("*/*/*.json")):
        ok, _why = verified(path)
        if not ok:
            print(path.relative_to(REPO))
