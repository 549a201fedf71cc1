"""bench.evaluate: the protocol's episodes from Python, on training seeds unless asked otherwise."""

from __future__ import annotations

import numpy as np
import pytest

import bench
from bench.api import EvalSeedsWarning, training_seeds
from bench.episode import TIMING_FIELDS
from bench.protocol import evaluate as protocol_evaluate
from bench.summary import protocol_cells

TASK = "supply_chain/Serial-v1"


class ConstantOrder:
    """A tunable policy object: every stage orders ``level`` units each period."""

    def __init__(self, level: float) -> None:
        self.level = level
        self.resets: list[int] = []

    def reset(self, seed: int) -> None:
        self.resets.append(seed)

    def act(self, observations):
        return {a: np.array([self.level], dtype=np.float32) for a in observations}


def _strip(records):
    return [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in records]


def test_default_seeds_come_from_the_training_range_only():
    spec = bench.get_spec(TASK)
    ev = bench.evaluate("base_stock", TASK, n=3)
    lo, hi = spec.seeds.train_start, spec.seeds.train_stop
    assert ev.seeds == training_seeds(TASK, 3) and all(lo <= s < hi for s in ev.seeds)
    assert not set(ev.seeds) & set(spec.seeds.eval)
    cells = protocol_cells(spec, "quick")
    assert len(ev.records) == 3 * len(cells)
    assert {r["seed"] for r in ev.records} == set(ev.seeds)
    nominal = [r["V"] for r in ev.records
               if (r["scale"], r["scenario"]) == (spec.nominal_scale.name, spec.nominal_scenario.name)]
    assert ev.V == pytest.approx(float(np.mean(nominal)), rel=1e-12)


def test_a_policy_object_can_be_tuned_and_is_reset_before_every_episode():
    low, good = ConstantOrder(0.0), ConstantOrder(10.0)
    ev_low = bench.evaluate(low, TASK, n=2, offset=5)
    ev_good = bench.evaluate(good, TASK, n=2, offset=5)
    assert ev_low.seeds == ev_good.seeds == training_seeds(TASK, 2, offset=5)
    assert len(low.resets) == len(ev_low.records)
    cost = lambda ev: ev.summary["nominal"]["kpis"]["cost_per_period"]["mean"]  # noqa: E731
    assert cost(ev_good) != cost(ev_low), "a parameter that changes the orders changes the outcome"


def test_eval_seeds_need_an_explicit_opt_in_and_match_the_harness():
    spec = bench.get_spec(TASK)
    with pytest.raises(ValueError, match="outside .*training range.*seeds='eval'"):
        bench.evaluate("base_stock", TASK, seeds=[spec.seeds.eval[0]])
    with pytest.warns(EvalSeedsWarning, match="tune with seeds='train'"):
        ev = bench.evaluate("base_stock", TASK, seeds="eval")
    harness = protocol_evaluate(TASK, "base_stock", "quick", progress=False)
    key = lambda r: (r["scale"], r["scenario"], r["seed"])  # noqa: E731
    assert sorted(_strip(ev.records), key=key) == sorted(_strip(harness["episodes"]), key=key)


def test_seeds_past_the_training_range_are_refused():
    spec = bench.get_spec(TASK)
    size = spec.seeds.train_stop - spec.seeds.train_start
    with pytest.raises(ValueError, match="leave the training range"):
        bench.evaluate("base_stock", TASK, n=2, offset=size - 1)
