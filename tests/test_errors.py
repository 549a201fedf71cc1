"""What a researcher sees when something goes wrong: errors that point at the bug (task, cell,
seed, step, traceback, the command that re-runs that one episode), a clean Ctrl-C, messages
that name only flags that exist, and one rule for out-of-range continuous actions."""

from __future__ import annotations

import argparse
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from bench import cli
from bench.episode import ActionRangeError, EpisodeError, box_groups, check_box_actions
from bench.journal import Journal, JournalMismatch
from bench.policy import PolicyInfoWarning, load_policy
from bench.registry import make

REPO = Path(__file__).resolve().parents[1]
TASK = "supply_chain/Serial-v1"
QUICK = ["--protocol", "quick", "--no-progress"]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_raising_policy_reports_where_and_how_to_rerun(workers, capsys):
    code = cli.main(["evaluate", TASK, "--policy", "tests.toy_policies:RaisesAtStep5",
                     "--workers", workers, *QUICK])
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback (most recent call last)" in err and "toy_policies.py" in err, \
        "the policy's own traceback, even from a worker process"
    assert "RuntimeError: my bug at step 5" in err
    m = re.search(r"in policy\.act: task supply_chain/Serial-v1 \(version 1\), scale (\S+), "
                  r"scenario (\S+), seed (\d+), step 5", err)
    assert m, err
    rerun = err.strip().splitlines()[-1].strip()
    assert rerun == (f"rao-bench episode {TASK} --policy tests.toy_policies:RaisesAtStep5 "
                     f"--scale {m.group(1)} --scenario {m.group(2)} --seed {m.group(3)}")
    # the re-run command runs exactly that episode, in this process, raising the original error
    with pytest.raises(EpisodeError) as info:
        cli.main(shlex.split(rerun)[1:])
    assert isinstance(info.value.__cause__, RuntimeError)
    assert (info.value.context["seed"], info.value.context["step"]) == (int(m.group(3)), 5)


def test_debug_runs_in_process_and_raises_the_original(capsys):
    with pytest.raises(EpisodeError) as info:
        cli.main(["evaluate", TASK, "--policy", "tests.toy_policies:RaisesAtStep5", "--workers", "2",
                  "--debug", *QUICK])
    assert str(info.value.__cause__) == "my bug at step 5"
    assert info.value.context["where"] == "policy.act"


def test_episode_command_runs_one_healthy_episode(capsys):
    assert cli.main(["episode", TASK, "--policy", "base_stock"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"seed \d+: \d+ steps, V [01]\.\d{4}, HyperScore 1\d\d\.\d{3}", out), out


def test_a_factory_of_the_wrong_type_gives_a_short_message(capsys):
    code = cli.main(["evaluate", TASK, "--policy", "tests.toy_policies:wrong_type_factory", *QUICK])
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "factory(env) returned a int, not a policy" in err and "reset(seed) and act(" in err


def test_a_policy_without_info_is_warned_and_not_written(tmp_path, capsys):
    with pytest.warns(PolicyInfoWarning, match=r"declares no `info`.*info = PolicyInfo\(name="):
        source = load_policy("tests.toy_policies:NoInfo")
    assert not source.declared
    out = tmp_path / "r.json"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PolicyInfoWarning)
        code = cli.main(["evaluate", TASK, "--policy", "tests.toy_policies:NoInfo", "--out", str(out),
                         *QUICK])
    assert code == 2 and not out.exists()
    assert "declares no `info`" in capsys.readouterr().err


def test_an_unimportable_package_says_how_to_make_it_importable(capsys):
    assert cli.main(["evaluate", TASK, "--policy", "my_marl:Policy", *QUICK]) == 2
    err = capsys.readouterr().err
    assert "No module named 'my_marl'" in err and "pip install -e ." in err and "PYTHONPATH" in err


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path):
    out = tmp_path / "result.json"
    journal = tmp_path / "result.json.journal.jsonl"
    cmd = [sys.executable, "-m", "bench.cli", "evaluate", TASK, "--policy",
           "tests.toy_policies:SlowRandom", "--out", str(out), "--no-progress", "--workers", "2"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # its own process group, as a terminal's Ctrl-C reaches the main process and every worker
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.monotonic() + 180
    lines = 0
    while lines < 5 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
        lines = journal.read_bytes().count(b"\n") - 1 if journal.exists() else 0
    assert proc.poll() is None, "the run ended before it could be interrupted"
    os.killpg(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    err = stderr.decode()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    m = re.search(r"interrupted: (\d+) of 80 episodes are journaled; run the same command again to "
                  r"resume: rao-bench evaluate", err)
    assert m, err
    assert int(m.group(1)) == journal.read_bytes().count(b"\n") - 1
    assert not out.exists()


def _flags(parser: argparse.ArgumentParser, command: str) -> set[str]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {o for a in sub.choices[command]._actions for o in a.option_strings}


def test_journal_mismatch_names_only_flags_that_exist(tmp_path):
    path = tmp_path / "j.jsonl"
    Journal(path, {"task": TASK, "policy": "a", "protocol": "full"})
    with pytest.raises(JournalMismatch) as info:
        Journal(path, {"task": TASK, "policy": "b", "protocol": "full"})
    named = set(re.findall(r"--[a-z][a-z-]*", str(info.value)))
    assert named and named <= _flags(cli.build_parser(), "evaluate"), named


def test_every_cli_option_has_help_text():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = [f"{name} {a.option_strings or a.dest}" for name, p in sub.choices.items()
               for a in p._actions if not isinstance(a, argparse._HelpAction) and not a.help]
    assert not missing


def test_validate_counts_what_it_lists():
    from bench.validate import ERROR, WARNING, Problem, Report, format_report

    report = Report("x.json", [Problem("a", "$", "bad"), Problem("b", "$", "worse"),
                               Problem("c", "$", "hmm", WARNING)])
    text = format_report(report)
    assert text.splitlines()[0] == "FAIL x.json: 2 errors, 1 warning"
    assert len(text.splitlines()) == 1 + 3 and report.errors[0].severity == ERROR


# -------------------------------------------------------------------- out-of-range actions


def test_out_of_range_continuous_actions_are_rejected_on_every_box_task():
    env = make(TASK)
    env.reset(seed=1)
    groups = box_groups(env, list(env.possible_agents))
    space = env.action_space(env.possible_agents[0])
    ok = {a: np.array(space.high, dtype=np.float64) * (1 + 1e-9) for a in env.possible_agents}
    check_box_actions(ok, groups)  # float rounding at the bound is accepted (the env clips it)
    for bad in (space.high + 1.0, space.low - 3.0, np.full(space.shape, np.nan)):
        acts = dict(ok)
        acts[env.possible_agents[-1]] = bad
        with pytest.raises(ActionRangeError, match=f"agent '{env.possible_agents[-1]}'.*outside"):
            check_box_actions(acts, groups)


def test_out_of_range_actions_fail_the_episode_with_a_clear_error(capsys):
    assert cli.main(["evaluate", TASK, "--policy", "tests.toy_policies:OutOfRange", *QUICK]) == 1
    err = capsys.readouterr().err
    assert "ActionRangeError" in err and "outside its action space" in err and "np.clip" in err
    assert "in action check:" in err and "step 0" in err


@pytest.mark.parametrize("form", [float, lambda v: [v], np.float32, lambda v: np.array([v])])
def test_the_range_check_sees_every_action_form(form):
    env = make(TASK)
    env.reset(seed=1)
    groups = box_groups(env, list(env.possible_agents))
    high = float(env.action_space(env.possible_agents[0]).high[0])
    check_box_actions({a: form(high / 2) for a in env.possible_agents}, groups)
    with pytest.raises(ActionRangeError):
        check_box_actions({a: form(high + 5.0) for a in env.possible_agents}, groups)
