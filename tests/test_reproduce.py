"""The cross-machine "reproduces" rule (bench/reproduce.py), on hand-made records."""

import math

import numpy as np
import pytest

from bench.reproduce import ABS_TOL, REL_TOL, assert_reproduces, differences, reproduces


def test_last_bit_float_noise_reproduces():
    # the pair observed between an Intel and an AMD host (issue 13)
    assert reproduces({"kpis": {"c": 5.4245614657722784e-05}}, {"kpis": {"c": 5.424561465772277e-05}})
    assert reproduces(504.31079774721644, 504.3107977472164)


def test_relative_tolerance_boundary():
    assert reproduces(1.0, 1.0 + 0.9 * REL_TOL)
    assert not reproduces(1.0, 1.0 + 2 * REL_TOL)
    assert reproduces(1e6, 1e6 * (1 + 0.5 * REL_TOL))
    assert not reproduces(1e6, 1e6 + 1.0)


def test_absolute_floor_for_values_zero_up_to_rounding():
    assert reproduces(0.0, 0.5 * ABS_TOL)
    assert not reproduces(0.0, 10 * ABS_TOL)


def test_integers_seeds_and_discrete_values_are_exact():
    assert not reproduces({"seed": 600001}, {"seed": 600002})
    assert not reproduces({"violating_steps": 12}, {"violating_steps": 12.0}), "int vs float differs"
    assert not reproduces([0, 1, 2], [0, 1, 3])
    assert not reproduces(True, False)
    assert not reproduces("n10", "n4")


def test_structure_must_match_and_timing_is_ignored():
    base = {"V": 0.5, "sim_time_s": 1.0, "kpis": {"a": 1.0}}
    assert reproduces(base, {**base, "sim_time_s": 9.0})
    assert not reproduces(base, {**base, "extra": 1})
    assert not reproduces([1.0], [1.0, 2.0])
    diffs = differences({"kpis": {"a": 1.0, "b": 2}}, {"kpis": {"a": 1.1, "b": 2}})
    assert diffs == ["$.kpis.a: 1.0 vs 1.1"]


def test_nan_inf_and_numpy_values():
    assert reproduces(math.nan, math.nan)
    assert not reproduces(math.inf, 1e308)
    assert reproduces(np.float64(0.1) + np.float64(0.2), 0.30000000000000004)
    assert reproduces(np.array([1, 2]), [1, 2])


def test_assert_form_lists_the_differences():
    with pytest.raises(AssertionError, match=r"\$\.V: 0.5 vs 0.6"):
        assert_reproduces({"V": 0.5}, {"V": 0.6})


def test_a_rerun_that_reproduces_leaves_the_committed_file_untouched(tmp_path, capsys):
    """`rao-bench evaluate/baselines` keep an existing result file whose non-timing numbers the
    re-run reproduces, so `make leaderboard` on a fresh clone leaves git status clean."""
    import copy
    import json

    from bench.cli import _write_result
    from bench.results import dumps

    committed = {"episodes": [{"V": 0.5, "seed": 1, "sim_time_s": 1.0}],
                 "provenance": {"utc_time": "2026-01-01T00:00:00Z"}}
    out = tmp_path / "r.json"
    out.write_text(dumps(committed))
    before = out.read_bytes()
    rerun = copy.deepcopy(committed)
    rerun["episodes"][0].update(V=0.5 * (1 + 1e-15), sim_time_s=2.0)
    rerun["provenance"]["utc_time"] = "2026-12-07T00:00:00Z"
    _write_result(out, None, rerun)
    assert out.read_bytes() == before and "left unchanged" in capsys.readouterr().out
    rerun["episodes"][0]["V"] = 0.6
    _write_result(out, None, rerun)
    assert json.loads(out.read_text())["episodes"][0]["V"] == 0.6


def test_action_log_digests_are_volatile_but_missing_logs_are_not():
    from bench.reproduce import result_reproduces

    committed = {"episodes": [{"V": 0.5, "actions": {"sha256": "a" * 64}}], "action_log": {"sha256": "x"}}
    rerun = {"episodes": [{"V": 0.5, "actions": {"sha256": "b" * 64}}], "action_log": {"sha256": "y"}}
    assert result_reproduces(rerun, committed), "last-bit action noise on another CPU keeps the file"
    old = {"episodes": [{"V": 0.5}]}
    assert not result_reproduces(rerun, old), "a file without action logs is rewritten with them"
