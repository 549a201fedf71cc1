"""Where the reference learners stand on the newest tasks: the table in docs/learners.md.

    .venv/bin/python scripts/learner_standing.py > /tmp/standing.md

One row per (newest task, learner entry): nominal V, mean [95% CI over runs and eval seeds], each
run's nominal mean, and the paired floor verdicts the leaderboard prints (constant, then the
domain's naive policy; ``bench.leaderboard.floor_checks``: beaten when the CI's low end is > 0).
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.leaderboard import floor_checks, load_submissions  # noqa: E402
from bench.registry import get_spec, newest_task_ids  # noqa: E402
from bench.submit.location import SUBMISSIONS  # noqa: E402


def verdict(name: str, d: float, lo: float, hi: float) -> str:
    ok = lo > 0
    word = "yes" if ok else "**no**"
    return f"{word} vs {name} ({d:+.3f} [{lo:+.3f}, {hi:+.3f}])"


def main() -> None:
    entries, _ = load_submissions(SUBMISSIONS)
    print("| task | entry | V | runs | beats constant? | beats the naive floor? |")
    print("|---|---|---|---|---|---|")
    for task in newest_task_ids():
        spec = get_spec(task)
        pool = [e for e in entries if e.task == task]
        for e in sorted(pool, key=lambda x: x.name):
            if not e.result["algorithm"].get("training"):
                continue
            v = e.result["summary"]["nominal"]["V"]
            runs, _seeds = e.nominal_matrix(spec)
            per_run = ", ".join(f"{x:.3f}" for x in runs.mean(axis=1))
            floors = {name: (d, lo, hi) for name, d, lo, hi in floor_checks(e, pool, spec)}
            const = floors.pop("constant", None)
            cells = [verdict("constant", *const) if const else "—",
                     "; ".join(verdict(n, *x) for n, x in floors.items()) or "—"]
            print(f"| {task} | {e.name} | {v['mean']:.3f} [{v['ci_low']:.3f}, {v['ci_high']:.3f}] | "
                  f"{per_run} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
