"""Results as data: the tidy frame and marl-eval's raw-data layout (round trip on committed files)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.cli import main
from bench.export import MARL_EVAL_METRICS, marl_eval, to_frame

SUB = Path(__file__).resolve().parents[1] / "leaderboard" / "submissions" / "supply_chain" / "Serial-v1"
FILES = [SUB / "random.json", SUB / "ippo.json", SUB / "base_stock.json"]


def test_frame_has_one_row_per_episode_with_identity_and_scores():
    frame = to_frame(FILES)
    docs = [json.loads(p.read_text()) for p in FILES]
    assert len(frame) == sum(len(d["episodes"]) for d in docs)
    for col in ("entry", "run", "task", "scale", "scenario", "seed", "V", "hyperscore", "kpi_cost_per_period"):
        assert col in frame.columns, col
    ippo = next(d for d in docs if d["algorithm"]["name"] == "ippo")
    e = ippo["episodes"][0]
    row = frame[(frame.entry == "ippo") & (frame.scale == e["scale"]) & (frame.scenario == e["scenario"])
                & (frame.seed == e["seed"])]
    assert len(row) == 1 and row.V.iloc[0] == e["V"] and row.run.iloc[0] == 0


def test_marl_eval_layout_round_trips(tmp_path):
    out = tmp_path / "raw.json"
    assert main(["export", "--format", "marl-eval", "--out", str(out), *map(str, FILES)]) == 0
    raw = json.loads(out.read_text())
    assert list(raw) == ["supply_chain"] and list(raw["supply_chain"]) == ["Serial-v1"]
    algos = raw["supply_chain"]["Serial-v1"]
    assert sorted(algos) == ["base_stock", "ippo", "random"]
    for path in FILES:
        doc = json.loads(path.read_text())
        nominal = sorted((e for e in doc["episodes"] if e["scale"] == "n3" and e["scenario"] == "nominal"),
                         key=lambda e: e["seed"])
        run = algos[doc["algorithm"]["name"]]["run_0"]
        assert set(run) == {"step_0", "absolute_metrics"}
        assert isinstance(run["step_0"]["step_count"], int)
        for m in MARL_EVAL_METRICS:
            assert run["step_0"][m] == [e[m] for e in nominal]  # back to the episodes, exactly
            assert run["absolute_metrics"][m] == run["step_0"][m]
    ippo = json.loads((SUB / "ippo.json").read_text())
    assert algos["ippo"]["run_0"]["step_0"]["step_count"] == ippo["algorithm"]["training"]["env_steps"]
    assert marl_eval(FILES) == raw
