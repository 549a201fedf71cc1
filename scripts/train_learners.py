"""Train every reference MARL learner N times (independent runs) and publish one entry per pair.

    .venv/bin/python scripts/train_learners.py --jobs 2                  # what `make learners` runs
    .venv/bin/python scripts/train_learners.py --only ippo --task supply_chain/Serial-v2 --runs 5

For each (learner, task) pair of ``baselines.registry.LEARNERS`` (the newest task versions) and
each run k = 1..N (learner seed k) this runs exactly the commands a researcher would:

    rao-bench train LEARNER TASK --seed k --out-dir baselines/learners/checkpoints/run<k>
    rao-bench evaluate TASK --policy LEARNER --checkpoint-dir baselines/learners/checkpoints/run<k> \\
        --protocol full --out build/learner-runs/<task>/<learner>/run<k>.json

and then ``rao-bench merge-runs`` joins the N result files into
``leaderboard/submissions/<task>/<learner>.json`` (the run is the statistical unit). Every step
is skipped when its output is already there (a crashed sweep resumes; delete a run's checkpoint
folder to retrain it). Jobs (one per run) go ``--jobs`` at a time, each on one core, cheapest
tasks first; a failed job is reported and the others go on; the exit status says if any failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from baselines import registry  # noqa: E402
from baselines.learners.marl_common import CHECKPOINT_DIR, task_slug  # noqa: E402
from bench.cli import SUBMISSIONS, submission_path  # noqa: E402

RUNS_DIR = REPO / "build" / "learner-runs"
# rough cost order (0 = slowest)
_COST = {"supply_chain/ThreeTier": 0, "spectrum/Interference": 1, "power_grid": 2,
         "supply_chain/Serial": 3, "compute/EdgeCluster": 4}


_TIER = {"ippo": 0, "mappo": 0, "vdn": 1, "qmix": 1, "ippo_hyperscore": 2}


def _cost(task: str) -> int:
    return next((c for prefix, c in _COST.items() if task.startswith(prefix)), 9)


def run_dir(k: int) -> Path:
    """Checkpoint root of run k (learner seed k)."""
    return CHECKPOINT_DIR / f"run{k}"


def run_result(task: str, name: str, k: int) -> Path:
    return RUNS_DIR / task_slug(task) / name / f"run{k}.json"


def run_job(name: str, task: str, k: int) -> tuple[str, str, int, float, str]:
    """Train (unless its checkpoints exist) then evaluate (unless its result exists) run k."""
    t0 = time.perf_counter()
    rao = [sys.executable, "-m", "bench.cli"]
    ckpt = run_dir(k)
    out = run_result(task, name, k)
    steps = []
    if not any((ckpt / name / task_slug(task)).glob("*.pt")):
        steps.append(rao + ["train", name, task, "--seed", str(k), "--out-dir", str(ckpt), "--no-progress"])
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        steps.append(rao + ["evaluate", task, "--policy", name, "--checkpoint-dir", str(ckpt),
                            "--protocol", "full", "--out", str(out), "--no-progress"])
    for cmd in steps:
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        if proc.returncode != 0:
            return name, task, k, time.perf_counter() - t0, (proc.stderr or proc.stdout)[-2000:]
        print(proc.stdout.strip().splitlines()[0] if proc.stdout.strip() else "", flush=True)
    return name, task, k, time.perf_counter() - t0, ""


def merge(name: str, task: str, runs: int, out_dir: Path) -> str:
    """Join the pair's run results into its leaderboard entry; '' or the error."""
    files = [str(run_result(task, name, k)) for k in range(1, runs + 1)]
    cmd = [sys.executable, "-m", "bench.cli", "merge-runs", *files,
           "--out", str(submission_path(out_dir, task, name))]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    print(proc.stdout.strip(), flush=True)
    return "" if proc.returncode == 0 else (proc.stderr or proc.stdout)[-2000:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="runs trained at once (one core each)")
    parser.add_argument("--runs", type=int, default=5, help="independent runs per pair (seeds 1..N)")
    parser.add_argument("--only", help="comma-separated learner names (default: every learner)")
    parser.add_argument("--task", help="only this task")
    parser.add_argument("--out-dir", default=str(SUBMISSIONS), help="where the merged entries go")
    args = parser.parse_args()
    if args.runs < 2:
        parser.error("--runs must be >= 2 (an entry's statistics are over its runs)")
    names = args.only.split(",") if args.only else registry.learner_names()
    pairs = [(n, t) for n in names for t in registry.learner_tasks(n) if args.task in (None, t)]
    if not pairs:
        parser.error("no (learner, task) pair matches --only/--task")
    # PPO learners (every task) first, then value decomposition, then the HyperScore ablation;
    # within that, cheapest tasks first and one pair's runs together: entries complete one by one
    jobs = sorted(((n, t, k) for n, t in pairs for k in range(1, args.runs + 1)),
                  key=lambda j: (_TIER.get(j[0], 3), -_cost(j[1]), j[1], j[0], j[2]))
    done: dict[tuple[str, str], int] = defaultdict(int)
    failed = []
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = [pool.submit(run_job, *j) for j in jobs]
        for fut in as_completed(futures):
            name, task, k, seconds, error = fut.result()
            print(f"[{'FAILED' if error else 'done'}] {name} on {task} run {k} in {seconds:.0f} s", flush=True)
            if error:
                print(error, file=sys.stderr)
                failed.append((name, task, k))
                continue
            done[(name, task)] += 1
            if done[(name, task)] == args.runs:
                error = merge(name, task, args.runs, Path(args.out_dir))
                if error:
                    print(f"[FAILED] merging {name} on {task}: {error}", file=sys.stderr)
                    failed.append((name, task, 0))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
