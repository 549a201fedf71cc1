"""``rao-bench``: list tasks, evaluate a policy, run the reference baselines, train a reference
learner, validate results, build the leaderboard, lock released specs, and check an env against
the contract."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SUBMISSIONS = REPO / "leaderboard" / "submissions"
RUNS = REPO / "runs"


def submission_path(root: Path, task_id: str, name: str) -> Path:
    domain, _, task = task_id.partition("/")
    return root / domain / task / f"{name}.json"


def _cmd_tasks(args: argparse.Namespace) -> int:
    from bench.registry import all_specs

    specs = all_specs()
    if args.json:
        print(json.dumps([s.summary() for s in specs], indent=2))
    else:
        for s in specs:
            print(s.id)
    return 0


def _journal_path(out: Path) -> Path:
    return out.with_name(out.name + ".journal.jsonl")


def _write_result(out: Path, journal: Path | None, result: dict) -> None:
    """The result JSON, with every episode's action log moved to a sidecar beside it
    (``actions/<sha256>.bin``, bench.submit.actionlog.split_logs), written first."""
    from bench.journal import atomic_write_text
    from bench.results import dumps
    from bench.submit.actionlog import split_logs

    result, blob = split_logs(result)
    if blob:
        side = out.parent / result["action_log"]["file"]
        side.parent.mkdir(parents=True, exist_ok=True)
        if not side.exists():
            tmp = side.with_name(side.name + ".tmp")
            tmp.write_bytes(blob)
            tmp.replace(side)
    atomic_write_text(out, dumps(result))
    if journal is not None and journal.exists():
        journal.unlink()  # the result file now holds every episode


def _evaluate_to(task_id: str, policy: str, protocol: str, out: Path | None, args: argparse.Namespace,
                 command: str) -> dict:
    from bench.protocol import evaluate

    journal = None
    if out is not None and not args.no_journal:
        journal = _journal_path(out)
    result = evaluate(task_id, policy, protocol, workers=args.workers, executor=args.executor,
                      journal=journal, progress=not args.no_progress, command=command,
                      address=getattr(args, "address", None), isolate=getattr(args, "isolate", False))
    if out is not None:
        _write_result(out, journal, result)
    return result


def _print_summary(result: dict, out: Path | None) -> None:
    s = result["summary"]["nominal"]
    hs, v = s["hyperscore"], s["V"]
    print(f"{result['task']['id']}  {result['algorithm']['name']}  ({result['protocol']['name']} protocol, "
          f"{len(result['episodes'])} episodes)")
    print(f"  HyperScore {hs['mean']:.3f} [{hs['ci_low']:.3f}, {hs['ci_high']:.3f}]   "
          f"V {v['mean']:.4f} [{v['ci_low']:.4f}, {v['ci_high']:.4f}]")
    for k, stat in s["kpis"].items():
        print(f"  {k:<22} {stat['mean']:.6g}")
    if out is not None:
        print(f"  written to {out}")


def _cmd_evaluate(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out else None
    result = _evaluate_to(args.task, args.policy, args.protocol, out, args, _command_line())
    _print_summary(result, out)
    return 0


def _cmd_baselines(args: argparse.Namespace) -> int:
    """Every (task, baseline) evaluation as one sweep on one pool (``bench.protocol.sweep``),
    longest jobs first by the timings of the results already there; each result file is
    written (and its journal removed) as soon as its last episode finishes. An evaluation whose
    episode fails is reported at the end (exit status 1) without stopping the others."""
    from baselines import registry
    from bench.protocol import Run, cost_from_previous, sweep
    from bench.registry import task_ids

    if args.list:
        for name in registry.names():
            print(name)
        return 0
    tasks = [args.task] if args.task else task_ids()
    names = args.only.split(",") if args.only else registry.names()
    root = Path(args.out_dir)
    runs, outs, previous = [], {}, {}
    for task in tasks:
        for name in names:
            if not registry.applies_to(name, task):
                continue
            out = submission_path(root, task, name)
            cmd = f"rao-bench evaluate {task} --policy {name} --protocol {args.protocol} --out {out}"
            journal = None if args.no_journal else _journal_path(out)
            run = Run(task, name, args.protocol, journal, cmd)
            runs.append(run)
            outs[run.key] = out
            earlier = _read_json(out) or _read_json(submission_path(SUBMISSIONS, task, name))
            if earlier is not None:
                previous[run.key] = earlier

    def on_result(run: Run, result: dict) -> None:
        out = outs[run.key]
        _write_result(out, run.journal, result)
        _print_summary(result, out)

    failed = sweep(runs, on_result, workers=args.workers, executor=args.executor,
                   address=getattr(args, "address", None), progress=not args.no_progress,
                   cost=cost_from_previous(previous))
    for (task, ref), message in failed.items():
        print(f"rao-bench: error: {ref} on {task} failed, no result written (its finished "
              f"episodes are journaled; rerun to resume): {message}", file=sys.stderr)
    return 1 if failed else 0


def _read_json(path: Path) -> dict | None:
    """An earlier result file (only its timings are used, to order the jobs), or None."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _cmd_train(args: argparse.Namespace) -> int:
    """Train a reference learner; the checkpoints it writes are what ``evaluate --policy ALGO`` loads."""
    import dataclasses
    import importlib

    from baselines import registry

    if args.list:
        for name in registry.learner_names():
            print(name)
        return 0
    if not args.algo or not args.task:
        raise ValueError("train needs ALGO and TASK, e.g. rao-bench train ippo supply_chain/Serial-v1 "
                         "(rao-bench train --list shows the learners)")
    module_name, variant = registry.learner(args.algo)
    module = importlib.import_module(module_name)
    overrides = dict(variant)
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.reward is not None:
        overrides["reward"] = args.reward
    if args.env_steps is not None:
        overrides["env_steps"] = args.env_steps
    fields = {f.name for f in dataclasses.fields(module.Args)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"{args.algo}: Args has no field(s) {unknown}; fields: {sorted(fields)}")
    train_args = module.Args(**overrides)
    out_dir = Path(args.out_dir) if args.out_dir else None
    records = module.train(args.task, train_args, out_dir=out_dir, scales=args.scale or None,
                           progress=not args.no_progress)
    for r in records:
        v = sum(int(x["agent_steps"]) for x in r["violations"].values())
        print(f"{args.task} {args.algo} scale {r['scale']}: {r['env_steps']} env steps, "
              f"{r['episodes']} episodes, {r['wall_time_s']:.1f} s, {v} violating agent-steps, "
              f"stopped by {r['stopped_by']}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from bench.validate import main_validate

    return main_validate(args.files)


def _cmd_verify(args: argparse.Namespace) -> int:
    from bench.submit.verify import main_verify

    return main_verify(args.files, workers=args.workers, policy=args.policy, fresh=args.fresh,
                       sample_seed=args.sample_seed, record=args.record, all_checks=args.all)


def _cmd_entries(args: argparse.Namespace) -> int:
    from bench.submit.identity import ENTRIES_PATH, render_entries

    text = render_entries()
    if args.write:
        ENTRIES_PATH.write_text(text, encoding="utf-8")
        print(f"written {ENTRIES_PATH}")
        return 0
    stale = not ENTRIES_PATH.is_file() or ENTRIES_PATH.read_text(encoding="utf-8") != text
    print(text, end="")
    return 1 if stale and args.check else 0


def _cmd_check_owner(args: argparse.Namespace) -> int:
    from bench.submit.identity import owner_problem

    bad = 0
    for f in args.files:
        try:
            doc = json.loads(Path(f).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            why = f"cannot be read: {exc}"
        else:
            why = owner_problem(doc, args.author) if isinstance(doc, dict) else "not a result document"
        print(f"{'FAIL' if why else 'OK'} {f}" + (f": {why}" if why else ""))
        bad += bool(why)
    return 1 if bad else 0


def _cmd_leaderboard(args: argparse.Namespace) -> int:
    from bench.leaderboard import main_leaderboard

    return main_leaderboard(args.submissions, args.out, args.check)


def _cmd_lock(args: argparse.Namespace) -> int:
    from bench.registry import all_specs, read_lock, write_lock

    if args.check:
        lock = read_lock()
        bad = [s.id for s in all_specs() if lock.get(s.id) != s.sha256]
        for tid in bad:
            print(f"{tid}: spec content differs from tasks/specs.lock.json (or is not locked)")
        return 1 if bad else 0
    for tid, digest in write_lock().items():
        print(f"{digest}  {tid}")
    return 0


def _cmd_check_env(args: argparse.Namespace) -> int:
    from bench.checks import check_task

    problems = check_task(args.task, scales=args.scale or None)
    for p in problems:
        print(p)
    print("OK" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


def _command_line() -> str:
    return "rao-bench " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--protocol", choices=("quick", "full"), default="full",
                   help="quick = smoke run on 2 seeds (does not rank); full = every eval seed (default)")
    p.add_argument("--workers", type=int, default=1, help="parallel episode workers (default 1)")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local process pool, or Ray (needs the [ray] extra)")
    p.add_argument("--address", default=None, help="address of an existing Ray cluster")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--no-journal", action="store_true",
                   help="do not journal finished episodes (a crash then loses the run)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rao-bench",
        description="RAO-Bench: versioned MARL tasks for resource allocation, a fixed evaluation "
                    "protocol, a submission validator and a leaderboard.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("tasks", help="list released task ids")
    p.add_argument("--json", action="store_true", help="details as JSON")
    p.set_defaults(func=_cmd_tasks)

    p = sub.add_parser("evaluate", help="run the evaluation protocol for one policy on one task",
                       description="Runs nominal (every eval seed), scalability (every scale) and "
                                   "adaptability (every held-out shift) episodes, counting safety "
                                   "violations everywhere. With --out, finished episodes are "
                                   "journaled beside the output so an interrupted run resumes.")
    p.add_argument("task", help="task id, e.g. supply_chain/Serial-v1")
    p.add_argument("--policy", required=True,
                   help="a reference baseline's name (rao-bench baselines --list) or module:attr")
    p.add_argument("--out", help="write the result JSON here (atomically)")
    p.add_argument("--isolate", action="store_true",
                   help="run the policy in its own process, exchanging only observations, actions "
                        "and the seed (slower; same results for an honest policy)")
    _add_run_options(p)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("baselines", help="evaluate every reference baseline; write leaderboard/submissions/")
    p.add_argument("--task", help="only this task (default: every released task)")
    p.add_argument("--only", help="comma-separated baseline names (default: all that apply)")
    p.add_argument("--list", action="store_true", help="list the registered baseline names")
    p.add_argument("--out-dir", default=str(SUBMISSIONS), help="default: leaderboard/submissions")
    _add_run_options(p)
    p.set_defaults(func=_cmd_baselines)

    p = sub.add_parser("train", help="train a reference MARL learner on a task's training seeds",
                       description="Trains on the task's training seed range only (never the eval "
                                   "seeds) within the learner's declared budget, counting every "
                                   "constraint violation during training; writes one checkpoint "
                                   "per trained scale under baselines/checkpoints/ (or --out-dir). "
                                   "The same command and seed reproduce the checkpoints.")
    p.add_argument("algo", nargs="?", help="learner name (rao-bench train --list)")
    p.add_argument("task", nargs="?", help="task id, e.g. supply_chain/Serial-v1")
    p.add_argument("--seed", type=int, default=None, help="training seed (default: the learner's)")
    p.add_argument("--reward", choices=("env", "hyperscore"), default=None,
                   help="env reward, or the HyperScore feedback loop of the founding paper")
    p.add_argument("--env-steps", type=int, default=None, help="override the budget's env steps per scale")
    p.add_argument("--scale", action="append", help="only this scale (repeatable)")
    p.add_argument("--out-dir", default=None, help="checkpoint directory (default baselines/checkpoints)")
    p.add_argument("--list", action="store_true", help="list the registered learners")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("validate", help="check result JSON files; lists every problem; non-zero exit on any")
    p.add_argument("files", nargs="+")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("verify", help="replay every episode of result files on the released env, "
                       "re-run a sample with the named policy, optionally run fresh seeds",
                       description="(1) replays every episode's action log on the released, "
                                   "un-overridden env in a clean process; (2) re-runs at least one "
                                   "episode per (scale, scenario) cell with the policy the result "
                                   "names (a registered reference baseline, or --policy), isolated "
                                   "in its own process; (3) with --fresh N, runs the policy on N "
                                   "unseen seeds and checks V against the submission's CI. Exit 0 "
                                   "only if every check passes.")
    p.add_argument("files", nargs="+")
    p.add_argument("--policy", help="module:attr of the policy to re-run (default: the registered "
                                    "reference baseline the result is named after)")
    p.add_argument("--fresh", type=int, default=0, metavar="N", help="also run N unseen seeds")
    p.add_argument("--sample-seed", type=int, default=None, help="seed of the rerun sample (default random)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--record", action="store_true", help="record verified files in leaderboard/verified.json")
    p.add_argument("--all", action="store_true", help="list every check, not only the failed ones")
    p.set_defaults(func=_cmd_verify)

    p = sub.add_parser("entries", help="print leaderboard/entries.yaml regenerated from the baselines registry")
    p.add_argument("--write", action="store_true", help="write it (maintainers)")
    p.add_argument("--check", action="store_true", help="exit non-zero if the committed file is stale")
    p.set_defaults(func=_cmd_entries)

    p = sub.add_parser("check-owner", help="check that AUTHOR owns the entry name of every file (CI)")
    p.add_argument("--author", required=True, help="GitHub login of the pull request's author")
    p.add_argument("files", nargs="+")
    p.set_defaults(func=_cmd_check_owner)

    p = sub.add_parser("leaderboard", help="rebuild leaderboard/ (Markdown, HTML, CSV, plots)")
    p.add_argument("--check", action="store_true", help="exit non-zero if the committed outputs are stale")
    p.add_argument("--submissions", default=str(SUBMISSIONS))
    p.add_argument("--out", default=str(REPO / "leaderboard"))
    p.set_defaults(func=_cmd_leaderboard)

    p = sub.add_parser("lock", help="record released specs' hashes in tasks/specs.lock.json")
    p.add_argument("--check", action="store_true", help="only check; non-zero exit on drift")
    p.set_defaults(func=_cmd_lock)

    p = sub.add_parser("check-env", help="run the API and determinism checks on a task")
    p.add_argument("task")
    p.add_argument("--scale", action="append", help="only this scale (repeatable)")
    p.set_defaults(func=_cmd_check_env)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, KeyError, FileNotFoundError) as exc:
        print(f"rao-bench: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
