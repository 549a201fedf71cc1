"""Measure the KPI anchors of ``power_grid/IEEE33-v1`` / ``-v2`` (reproducible; re-run at release).

    .venv/bin/python scripts/measure_anchors_power_grid.py            # prints JSON (v1)
    .venv/bin/python scripts/measure_anchors_power_grid.py --scales f1   # one scale only
    .venv/bin/python scripts/measure_anchors_power_grid.py --task power_grid/IEEE33-v2

v2 adds ``inverter_trips`` (not weighted): zero = the random baseline's mean, one = 0.

How each anchor is obtained (the spec's ``anchors.source`` says the same), over the spec's eval
seeds, nominal scenario, with the harness's own ``bench.episode.run_episode``:

* ``controllable_rate`` (weight 0.7): zero = the random baseline's mean at each scale; one = 1.0,
  every feeder in band in every interval, which the hindsight oracle attains (its measured mean is
  printed under ``_measured``).
* ``line_loss`` (MWh per day, weight 0.15): zero = the random baseline's mean, one = the hindsight
  oracle's mean (the least loss found that keeps the band) — at each scale, since the loss grows
  with the number of feeders.
* ``pv_curtailment`` (share of available PV energy, weight 0.15): zero = the random baseline's
  mean (nominal scale; a share does not grow with the network), one = 0 (no curtailment).
* ``reactive_energy`` (Mvarh, not weighted): zero = the random baseline's mean at each scale,
  one = 0.
* ``pf_failures`` (not weighted): zero = 1 failure per episode, one = 0 (natural).

``--task power_grid/SimBenchMV-v1`` (one scale) anchors V on a naive policy instead of random
(``measure_simbench_mv``): ``controllable_rate`` zero = the no_control baseline's mean, one = 1.0;
``line_loss`` zero = random's mean, one = the hindsight oracle's mean (no_control loses less than
the oracle, which absorbs reactive power to hold the band, so it cannot be the loss zero: it is
clipped to 1 there); ``pv_curtailment`` zero = random's mean, one = 0; ``reactive_energy`` zero =
random's mean, one = 0; ``inverter_trips`` zero = max(random's mean, 1), one = 0. With weights
0.8 / 0.1 / 0.1, no_control scores 0.2 and the oracle 1.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench  # noqa: E402
from baselines.power_grid.hindsight import HindsightPolicy  # noqa: E402
from baselines.random_policy import RandomPolicy  # noqa: E402
from bench.episode import mean_kpis as episode_mean_kpis  # noqa: E402

TASK = "power_grid/IEEE33-v1"


def measure(scales: list[str] | None = None, task: str = TASK) -> dict[str, dict]:
    """The KPIs' (zero, one) anchors as described in the module docstring."""
    mean_kpis = functools.partial(episode_mean_kpis, task)
    spec = bench.get_spec(task)
    nominal = spec.nominal_scale.name
    names = scales or [s.name for s in spec.scales]
    rnd = {s: mean_kpis(RandomPolicy, s) for s in names}
    orc = {s: mean_kpis(HindsightPolicy, s) for s in names}
    others = [s for s in names if s != nominal]

    def per_scale(kpi: str, one: dict[str, float] | None = None) -> dict[str, dict[str, float]]:
        return {s: {"zero": rnd[s][kpi], "one": (one or {}).get(s, 0.0)} for s in others}

    out: dict[str, dict] = {}
    if nominal in names:
        out["controllable_rate"] = {"zero": rnd[nominal]["controllable_rate"], "one": 1.0}
        out["line_loss"] = {"zero": rnd[nominal]["line_loss"], "one": orc[nominal]["line_loss"]}
        out["pv_curtailment"] = {"zero": rnd[nominal]["pv_curtailment"], "one": 0.0}
        out["reactive_energy"] = {"zero": rnd[nominal]["reactive_energy"], "one": 0.0}
    else:
        for k in ("controllable_rate", "line_loss", "pv_curtailment", "reactive_energy"):
            out[k] = {}
    out["controllable_rate"]["scales"] = {s: {"zero": rnd[s]["controllable_rate"], "one": 1.0}
                                          for s in others}
    out["line_loss"]["scales"] = per_scale("line_loss", {s: orc[s]["line_loss"] for s in others})
    out["reactive_energy"]["scales"] = per_scale("reactive_energy")
    out["pf_failures"] = {"zero": 1.0, "one": 0.0}
    if any(k.name == "inverter_trips" for k in spec.kpis) and nominal in names:
        out["inverter_trips"] = {"zero": rnd[nominal]["inverter_trips"], "one": 0.0,
                                 "scales": per_scale("inverter_trips")}
    out["_measured"] = {"random": rnd, "hindsight": orc}
    return out


def measure_simbench_mv(task: str = "power_grid/SimBenchMV-v1") -> dict[str, dict]:
    """The anchors of SimBenchMV-v1 as described in the module docstring."""
    from baselines.power_grid.no_control import NoControlPolicy

    mean_kpis = functools.partial(episode_mean_kpis, task)
    nc, rnd, orc = mean_kpis(NoControlPolicy), mean_kpis(RandomPolicy), mean_kpis(HindsightPolicy)
    return {
        "controllable_rate": {"zero": nc["controllable_rate"], "one": 1.0},
        "line_loss": {"zero": rnd["line_loss"], "one": orc["line_loss"]},
        "pv_curtailment": {"zero": rnd["pv_curtailment"], "one": 0.0},
        "reactive_energy": {"zero": rnd["reactive_energy"], "one": 0.0},
        "pf_failures": {"zero": 1.0, "one": 0.0},
        "inverter_trips": {"zero": max(rnd["inverter_trips"], 1.0), "one": 0.0},
        "_measured": {"no_control": nc, "random": rnd, "hindsight": orc},
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", nargs="*", default=None, help="scale names (default: all)")
    ap.add_argument("--task", default=TASK, help="power_grid/IEEE33-v1 (default), -v2 or SimBenchMV-v1")
    args = ap.parse_args()
    if args.task.startswith("power_grid/SimBenchMV"):
        print(json.dumps(measure_simbench_mv(args.task), indent=2))
    else:
        print(json.dumps(measure(args.scales, args.task), indent=2))
