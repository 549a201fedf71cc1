"""``rao-bench``: list tasks, evaluate a policy, run the reference baselines, train a reference
learner, validate results, build the leaderboard, lock released specs, and check an env against
the contract."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

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
    """Write ``result`` atomically, its action logs moved to a sidecar beside it
    (``actions/<sha256>.bin``, bench.submit.actionlog.split_logs) written first; unless ``out``
    already holds a result it reproduces (``bench.reproduce.result_reproduces``): then the file
    is left as it is, timings included."""
    from bench.journal import atomic_write_text
    from bench.reproduce import result_reproduces
    from bench.results import dumps
    from bench.submit.actionlog import split_logs

    result, blob = split_logs(result)
    earlier = _read_json(out) if out.exists() else None
    if earlier is not None and result_reproduces(result, earlier):
        print(f"  {out}: reproduces the existing file (floats within 1e-9 relative); left unchanged")
        # a log kept out of git (ThreeTier's, .gitignore) comes back when this run's is the same
        if blob and (earlier.get("action_log") or {}).get("sha256") == result["action_log"]["sha256"]:
            _write_sidecar(out.parent / result["action_log"]["file"], blob)
    else:
        if blob:
            _write_sidecar(out.parent / result["action_log"]["file"], blob)
        atomic_write_text(out, dumps(result))
    if journal is not None and journal.exists():
        journal.unlink()  # the result file now holds every episode


def _write_sidecar(side: Path, blob: bytes) -> None:
    """Write an action-log sidecar atomically unless it is already there (it is named by its
    content's sha256, so an existing file is the same bytes)."""
    if side.exists():
        return
    side.parent.mkdir(parents=True, exist_ok=True)
    tmp = side.with_name(side.name + ".tmp")
    tmp.write_bytes(blob)
    tmp.replace(side)


def _evaluate_to(task_id: str, policy: str, protocol: str, out: Path | None, args: argparse.Namespace,
                 command: str) -> dict:
    from bench.protocol import evaluate

    from bench.policy import load_policy

    source = load_policy(policy)
    if out is not None and not source.declared:
        raise ValueError(f"policy {policy} declares no `info` (see the warning above), so the "
                         f"result file {out} would carry a guessed name, version and paradigm. "
                         "Declare info = PolicyInfo(...) on it and run again")
    journal = None
    if out is not None and not args.no_journal:
        journal = _journal_path(out)
    result = evaluate(task_id, source, protocol, workers=args.workers, executor=args.executor,
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
    policy = args.policy
    if args.checkpoint_dir:
        ckpt = Path(args.checkpoint_dir).resolve()
        if not ckpt.is_dir():
            raise FileNotFoundError(f"--checkpoint-dir {args.checkpoint_dir}: no such directory")
        policy = f"{policy}@{ckpt}"  # bench.policy.load_policy: REF@DIR (workers load it too)
    result = _evaluate_to(args.task, policy, args.protocol, out, args, _command_line(args.argv))
    _print_summary(result, out)
    return 0


def _cmd_episode(args: argparse.Namespace) -> int:
    """One evaluation episode, in this process, with the full traceback on error: what an
    error report's re-run command runs."""
    from bench.protocol import run_job
    from bench.registry import env_config, get_spec

    spec = get_spec(args.task)
    config = env_config(spec.id, args.scale, args.scenario)  # names a typo before running
    seed = args.seed if args.seed is not None else spec.seeds.eval[0]
    rec = run_job((spec.id, args.policy, config.scale.name, config.scenario.name, seed))
    print(f"{spec.id}  {args.policy}  scale {rec['scale']}, scenario {rec['scenario']}, seed {seed}: "
          f"{rec['steps']} steps, V {rec['V']:.4f}, HyperScore {rec['hyperscore']:.3f}")
    for k, v in rec["kpis"].items():
        print(f"  {k:<22} {v:.6g}")
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
                         "(rao-bench train --list shows the learners), or MODULE:FUNCTION and TASK "
                         "for your own learner (docs/learners.md)")
    if ":" in args.algo:
        return _train_outside(args)
    module_name, variant = registry.learner(args.algo)
    module = importlib.import_module(module_name)
    overrides = dict(variant)
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.reward is not None:
        overrides["reward"] = args.reward
    if args.env_steps is not None:
        overrides["env_steps"] = args.env_steps
    if args.wall_time_s is not None:
        overrides["wall_time_s"] = args.wall_time_s
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


def _train_outside(args: argparse.Namespace) -> int:
    """``rao-bench train MODULE:FUNCTION TASK``: an outside learner through the harness."""
    from bench.registry import get_spec
    from bench.training import Budget, train_function

    if args.env_steps is None:
        raise ValueError(f"{args.algo}: declare the training budget with --env-steps N (env steps "
                         "per trained scale); it is recorded in the result's training block")
    spec = get_spec(args.task)
    domain, _, name = spec.id.partition("/")
    fn_name = args.algo.partition(":")[2]
    out_dir = Path(args.out_dir) if args.out_dir else RUNS / "train" / fn_name / f"{domain}__{name}"
    budget = Budget(args.env_steps, args.wall_time_s if args.wall_time_s is not None else 3600.0)
    seed = args.seed if args.seed is not None else 0
    block = train_function(args.algo, spec.id, seed=seed, budget=budget, out_dir=out_dir,
                           scales=args.scale or None, reward=args.reward or "env",
                           command=_command_line(args.argv))
    for r in block["runs"]:
        v = sum(int(x["agent_steps"]) for x in r["violations"].values())
        print(f"{spec.id} {args.algo} scale {r['scale']}: {r['env_steps']} env steps, "
              f"{r['episodes']} episodes, {r['wall_time_s']:.1f} s, {v} violating agent-steps, "
              f"stopped by {r['stopped_by']}")
    print(f"  checkpoints and training record in {out_dir}; evaluate with:\n  rao-bench evaluate "
          f"{spec.id} --policy MODULE:POLICY --checkpoint-dir {out_dir}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from bench.validate import main_validate

    return main_validate(args.files)


def _cmd_merge_runs(args: argparse.Namespace) -> int:
    """Join single-run result files of one learner into one entry with the run as the unit."""
    from bench.runs import MergeError, merge_runs

    try:
        from bench.submit.actionlog import inline_logs

        docs = [inline_logs(json.loads(Path(f).read_text(encoding="utf-8")), Path(f).parent)
                for f in args.files]
        merged = merge_runs(docs, command=_command_line())
    except (OSError, ValueError, KeyError) as exc:
        print(f"rao-bench: error: {exc}", file=sys.stderr)
        return 2
    _write_result(Path(args.out), None, merged)
    _print_summary(merged, Path(args.out))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    """Result files as marl-eval raw data (``--format marl-eval``) or a tidy CSV (``--format csv``)."""
    from bench import export

    paths = args.files or sorted(str(p) for p in Path(args.submissions).glob("**/*.json"))
    if not paths:
        print(f"rao-bench: error: no result files given and none under {args.submissions}", file=sys.stderr)
        return 2
    if args.format == "marl-eval":
        export.write_marl_eval(paths, args.out)
    else:
        from bench.journal import atomic_write_text

        atomic_write_text(Path(args.out), export.to_frame(paths).to_csv(index=False))
    print(f"wrote {args.out} ({args.format}, {len(paths)} result files)")
    return 0
def _cmd_verify(args: argparse.Namespace) -> int:
    from bench.submit.verify import main_verify

    return main_verify(args.files, workers=args.workers, policy=args.policy, fresh=args.fresh,
                       sample_seed=args.sample_seed, record=args.record, all_checks=args.all,
                       rerun=not args.no_rerun, replay=not args.no_replay)


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


def _command_line(argv: list[str] | None = None) -> str:
    """The command as typed: ``argv`` as given to :func:`main` (default: the process's)."""
    return "rao-bench " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))


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
    p.add_argument("--debug", action="store_true",
                   help="run the episodes in this process, one after another (sets --workers 1 "
                        "--executor local); evaluate stops at the first error with Python's own "
                        "traceback, baselines reports each failed run's re-run command at the end")


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
    p.add_argument("--checkpoint-dir", default=None, metavar="DIR",
                   help="load the trained policy from DIR: a reference learner's --out-dir, or the "
                        "--out-dir of rao-bench train MODULE:FUNCTION (the policy is then built as "
                        "POLICY(env, DIR) and the training block is read from DIR/training.json)")
    p.add_argument("--out", help="write the result JSON here (atomically)")
    p.add_argument("--isolate", action="store_true",
                   help="run the policy in its own process, exchanging only observations, actions "
                        "and the seed (slower; same results for an honest policy)")
    _add_run_options(p)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("episode", help="run ONE evaluation episode in the foreground (full traceback)",
                       description="Runs exactly one episode of the evaluation protocol in this "
                                   "process, as an error report's re-run command does; prints its "
                                   "V, HyperScore and KPIs. Writes nothing.")
    p.add_argument("task", help="task id, e.g. supply_chain/Serial-v1")
    p.add_argument("--policy", required=True,
                   help="a reference baseline's name (rao-bench baselines --list) or module:attr")
    p.add_argument("--scale", default=None, help="scale name (default: the nominal scale)")
    p.add_argument("--scenario", default=None, help="scenario name (default: the nominal scenario)")
    p.add_argument("--seed", type=int, default=None, help="episode seed (default: the first eval seed)")
    p.set_defaults(func=_cmd_episode, debug=True)

    p = sub.add_parser("baselines", help="evaluate every reference baseline; write leaderboard/submissions/")
    p.add_argument("--task", help="only this task (default: every released task)")
    p.add_argument("--only", help="comma-separated baseline names (default: all that apply)")
    p.add_argument("--list", action="store_true", help="list the registered baseline names")
    p.add_argument("--out-dir", default=str(SUBMISSIONS),
                   help="where result files go, one folder per task (default: leaderboard/submissions)")
    _add_run_options(p)
    p.set_defaults(func=_cmd_baselines)

    p = sub.add_parser("train", help="train a reference MARL learner, or your own MODULE:FUNCTION, "
                                     "on a task's training seeds",
                       description="Trains on the task's training seed range only (never the eval "
                                   "seeds) within a declared budget, counting every constraint "
                                   "violation during training. ALGO is a reference learner (it "
                                   "writes one checkpoint per trained scale under "
                                   "baselines/learners/checkpoints/, or --out-dir; the same command and seed "
                                   "reproduce them) or MODULE:FUNCTION, your own learner "
                                   "train(make_env, out_dir, seed) (docs/learners.md): the harness "
                                   "hands it training envs that stop at the budget and writes its "
                                   "training record to OUT_DIR/training.json.")
    p.add_argument("algo", nargs="?", help="learner name (rao-bench train --list) or MODULE:FUNCTION")
    p.add_argument("task", nargs="?", help="task id, e.g. supply_chain/Serial-v1")
    p.add_argument("--seed", type=int, default=None,
                   help="learner seed; seeds the stream of training seeds (default: the learner's; "
                        "0 for MODULE:FUNCTION)")
    p.add_argument("--reward", choices=("env", "hyperscore"), default=None,
                   help="env reward, or the HyperScore feedback loop of the founding paper")
    p.add_argument("--env-steps", type=int, default=None,
                   help="budget: env steps per trained scale (overrides a reference learner's; "
                        "required for MODULE:FUNCTION)")
    p.add_argument("--wall-time-s", type=float, default=None,
                   help="budget: wall-time cap in seconds per trained scale (default: the "
                        "learner's; 3600 for MODULE:FUNCTION)")
    p.add_argument("--scale", action="append",
                   help="only this scale (repeatable; MODULE:FUNCTION default: the nominal scale)")
    p.add_argument("--out-dir", default=None,
                   help="checkpoint directory (default baselines/learners/checkpoints; for MODULE:FUNCTION "
                        "runs/train/FUNCTION/DOMAIN__TASK)")
    p.add_argument("--list", action="store_true", help="list the registered learners")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("validate", help="check result JSON files; lists every problem; non-zero exit on any")
    p.add_argument("files", nargs="+", help="result JSON files to check")
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("merge-runs", help="join result files of independent training runs of one "
                       "learner (distinct learner seeds, same protocol) into one entry")
    p.add_argument("files", nargs="+", help="one result JSON per training run; run k = the k-th file")
    p.add_argument("--out", required=True, help="the merged result file")
    p.set_defaults(func=_cmd_merge_runs)

    p = sub.add_parser("export", help="write result files as marl-eval raw data or a tidy CSV "
                       "(one row per episode)")
    p.add_argument("files", nargs="*", help="result JSON files (default: every file under --submissions)")
    p.add_argument("--format", choices=("marl-eval", "csv"), default="marl-eval",
                   help="marl-eval: environment -> task -> algorithm -> run_k -> step_0/absolute_metrics; "
                        "csv: bench.export.to_frame as CSV")
    p.add_argument("--out", required=True, help="output file")
    p.add_argument("--submissions", default="leaderboard/submissions",
                   help="where to find result files when none are given")
    p.set_defaults(func=_cmd_export)
    p = sub.add_parser("verify", help="replay every episode of result files on the released env, "
                       "re-run a sample with the named policy, optionally run fresh seeds",
                       description="(1) replays every episode's action log on the released, "
                                   "un-overridden env in a clean process; (2) re-runs at least one "
                                   "episode per (scale, scenario) cell with the policy the result "
                                   "names (a registered reference baseline, or --policy), isolated "
                                   "in its own process; (3) with --fresh N, runs the policy on N "
                                   "unseen seeds and checks V against the submission's CI. Exit 0 "
                                   "only if every check passes.")
    p.add_argument("files", nargs="+", help="result JSON files to verify")
    p.add_argument("--policy", help="module:attr of the policy to re-run (default: the registered "
                                    "reference baseline the result is named after)")
    p.add_argument("--fresh", type=int, default=0, metavar="N", help="also run N unseen seeds")
    p.add_argument("--sample-seed", type=int, default=None, help="seed of the rerun sample (default random)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--record", action="store_true", help="record verified files in leaderboard/verified.json")
    p.add_argument("--all", action="store_true", help="list every check, not only the failed ones")
    p.add_argument("--no-rerun", action="store_true",
                   help="skip check (2), the isolated re-run of a sample: for reference entries that "
                        "the harness itself has just re-run in full (`rao-bench baselines`)")
    p.add_argument("--no-replay", action="store_true",
                   help="skip check (1) for a file whose exact bytes leaderboard/verified.json already "
                        "records as replayed (a file it does not is replayed anyway)")
    p.set_defaults(func=_cmd_verify)

    p = sub.add_parser("entries", help="print leaderboard/entries.yaml regenerated from the baselines registry")
    p.add_argument("--write", action="store_true", help="write it (maintainers)")
    p.add_argument("--check", action="store_true", help="exit non-zero if the committed file is stale")
    p.set_defaults(func=_cmd_entries)

    p = sub.add_parser("check-owner", help="check that AUTHOR owns the entry name of every file (CI)")
    p.add_argument("--author", required=True, help="GitHub login of the pull request's author")
    p.add_argument("files", nargs="+", help="result JSON files whose entry names to check")
    p.set_defaults(func=_cmd_check_owner)

    p = sub.add_parser("leaderboard", help="rebuild leaderboard/ (Markdown, HTML, CSV, plots)")
    p.add_argument("--check", action="store_true", help="exit non-zero if the committed outputs are stale")
    p.add_argument("--submissions", default=str(SUBMISSIONS),
                   help="directory of result JSON files, one folder per task (default: leaderboard/submissions)")
    p.add_argument("--out", default=str(REPO / "leaderboard"),
                   help="where to write README.md, index.html, csv/ and plots/ (default: leaderboard/)")
    p.set_defaults(func=_cmd_leaderboard)

    p = sub.add_parser("lock", help="record released specs' hashes in tasks/specs.lock.json")
    p.add_argument("--check", action="store_true", help="only check; non-zero exit on drift")
    p.set_defaults(func=_cmd_lock)

    p = sub.add_parser("check-env", help="run the API and determinism checks on a task")
    p.add_argument("task", help="task id, e.g. supply_chain/Serial-v1")
    p.add_argument("--scale", action="append", help="only this scale (repeatable)")
    p.set_defaults(func=_cmd_check_env)
    return parser


def episode_error_report(exc: Any) -> str:
    """What a failed episode prints: the original traceback, where it happened, and the one
    command that re-runs exactly that episode in the foreground."""
    import re

    from bench.protocol import rerun_command

    ctx = exc.context
    if ctx.get("short"):
        return f"rao-bench: error: {ctx['error'].partition(': ')[2] or ctx['error']}"
    m = re.search(r"-v(\d+)$", str(ctx.get("task", "")))
    step = "" if ctx.get("step") is None else f", step {ctx['step']}"
    return "\n".join([
        ctx.get("traceback", "").rstrip(),
        f"rao-bench: error: {ctx['error']}",
        f"  in {ctx['where']}: task {ctx.get('task')} (version {m.group(1) if m else '?'}), "
        f"scale {ctx.get('scale')}, scenario {ctx.get('scenario')}, seed {ctx.get('seed')}{step}",
        f"  policy {ctx.get('policy')}",
        "re-run exactly this episode in the foreground (full traceback; for a debugger, write "
        "`python -m pdb -m bench.cli` in place of `rao-bench`):",
        f"  {rerun_command(ctx)}"])


def _interrupted_line(exc: Any) -> str:
    if exc.journaled:
        return (f"rao-bench: interrupted: {exc.journaled} of {exc.total} episodes are journaled; "
                f"run the same command again to resume: {_command_line()}")
    return (f"rao-bench: interrupted: {exc.done} of {exc.total} episodes finished, none journaled "
            "(no --out, or --no-journal), so a re-run starts afresh")


def main(argv: list[str] | None = None) -> int:
    from bench.episode import EpisodeError
    from bench.protocol import Interrupted

    args = build_parser().parse_args(argv)
    args.argv = list(argv) if argv is not None else None  # for the command recorded in results
    if getattr(args, "debug", False) and hasattr(args, "workers"):
        args.workers, args.executor = 1, "local"
    try:
        return int(args.func(args) or 0)
    except EpisodeError as exc:
        if getattr(args, "debug", False) and not exc.context.get("short"):
            raise  # the chained original traceback, in-process
        print(episode_error_report(exc), file=sys.stderr)
        return 1
    except Interrupted as exc:
        print(_interrupted_line(exc), file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("rao-bench: interrupted", file=sys.stderr)
        return 130
    except (ValueError, KeyError, FileNotFoundError) as exc:
        print(f"rao-bench: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
