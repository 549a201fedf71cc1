"""Retrain every reference MARL learner and re-evaluate it through the full protocol.

    .venv/bin/python scripts/train_learners.py --jobs 2          # what `make learners` runs
    .venv/bin/python scripts/train_learners.py --only ippo --task supply_chain/Serial-v1

For each (learner, task) pair of ``baselines.registry.LEARNERS`` this runs exactly the commands a
researcher would: ``rao-bench train LEARNER TASK`` (the checkpoints land in baselines/learners/checkpoints/,
replacing the pair's old ones) and then ``rao-bench evaluate TASK --policy LEARNER --protocol full``
into leaderboard/submissions/. Pairs run ``--jobs`` at a time, each on one core; the slowest tasks
start first. A failed pair is reported and the others go on; the exit status says if any failed.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from baselines import registry  # noqa: E402
from baselines.learners.marl_common import CHECKPOINT_DIR, task_slug  # noqa: E402
from bench.cli import SUBMISSIONS, submission_path  # noqa: E402

# rough cost order (slowest first) so that the last pairs to finish are short ones
_COST = {"supply_chain/ThreeTier-v1": 0, "spectrum/Interference-v1": 1, "power_grid/IEEE33-v1": 2,
         "supply_chain/Serial-v1": 3, "compute/EdgeCluster-v1": 4}


def run_pair(name: str, task: str, out_dir: Path, evaluate: bool) -> tuple[str, str, float, str]:
    """Train then evaluate one pair; returns (name, task, seconds, error or '')."""
    t0 = time.perf_counter()
    rao = [sys.executable, "-m", "bench.cli"]
    algo_dir = CHECKPOINT_DIR / name / task_slug(task)
    shutil.rmtree(algo_dir, ignore_errors=True)
    steps = [rao + ["train", name, task, "--no-progress"]]
    if evaluate:
        out = submission_path(out_dir, task, name)
        steps.append(rao + ["evaluate", task, "--policy", name, "--protocol", "full", "--out", str(out),
                            "--no-progress"])
    for cmd in steps:
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        if proc.returncode != 0:
            return name, task, time.perf_counter() - t0, (proc.stderr or proc.stdout)[-2000:]
        print(proc.stdout.strip(), flush=True)
    return name, task, time.perf_counter() - t0, ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="pairs trained at once (one core each)")
    parser.add_argument("--only", help="comma-separated learner names (default: every learner)")
    parser.add_argument("--task", help="only this task")
    parser.add_argument("--out-dir", default=str(SUBMISSIONS), help="where result JSONs go")
    parser.add_argument("--no-evaluate", action="store_true", help="train only")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else registry.learner_names()
    pairs = [(n, t) for n in names for t in registry.learner_tasks(n) if args.task in (None, t)]
    if not pairs:
        parser.error("no (learner, task) pair matches --only/--task")
    pairs.sort(key=lambda p: (_COST.get(p[1], 9), p[0]))
    failed = []
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(run_pair, n, t, Path(args.out_dir), not args.no_evaluate) for n, t in pairs]
        for fut in as_completed(futures):
            name, task, seconds, error = fut.result()
            status = "FAILED" if error else "done"
            print(f"[{status}] {name} on {task} in {seconds:.0f} s", flush=True)
            if error:
                print(error, file=sys.stderr)
                failed.append((name, task))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
