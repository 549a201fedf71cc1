"""Simulation speed of supply_chain/Serial-v1, and the side-by-side with stockpyl.

``test_periods_per_second`` benchmarks our env driven by the optimal base-stock policy (env
step + policy act, the same work stockpyl's simulator does per period) at every scale;
``extra_info["periods_per_second"]`` is the figure to read. ``test_faster_than_stockpyl`` runs
``scripts/stockpyl_peer.py speed`` inside ``.venv-peer`` (stockpyl needs NumPy < 2; see that
script for the one-line setup) and asserts we simulate Example 6.1 at least 10x faster than
stockpyl's simulator, each measured as the best of 3 runs of 2,000 periods.

Run with ``pytest -m benchmark_suite tests/benchmarks/test_serial_speed.py --benchmark-enable``.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

import bench
from baselines.base_stock import BaseStockPolicy

pytestmark = pytest.mark.benchmark_suite

TASK = "supply_chain/Serial-v1"
ROOT = Path(__file__).resolve().parents[2]
PEER_PYTHON = ROOT / ".venv-peer" / "bin" / "python"
PERIODS = 2000
SPEEDUP_REQUIRED = 10.0


def _runner(scale: str | None, periods: int):
    env = bench.make(TASK, scale=scale, horizon=periods)
    env.reset(seed=0)
    policy = BaseStockPolicy(env)

    def run() -> int:
        obs, _ = env.reset(seed=1)
        policy.reset(1)
        steps = 0
        while env.agents:
            obs, *_ = env.step(policy.act(obs))
            steps += 1
        return steps

    return run


def ours_periods_per_second(scale: str | None = None, periods: int = PERIODS, repeats: int = 3) -> float:
    """Best-of-``repeats`` periods per second of env + base-stock policy."""
    run = _runner(scale, periods)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
    return periods / best


@pytest.mark.parametrize("scale", [s.name for s in bench.get_spec(TASK).scales])
def test_periods_per_second(benchmark, scale: str) -> None:
    run = _runner(scale, PERIODS)
    steps = benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
    assert steps == PERIODS
    if benchmark.stats is not None:     # None under --benchmark-disable
        benchmark.extra_info["periods_per_second"] = PERIODS / benchmark.stats.stats.min
    assert ours_periods_per_second(scale, 500, 1) > 2000      # loose floor; the table is the measure


def test_faster_than_stockpyl() -> None:
    if not PEER_PYTHON.exists():
        pytest.skip(f"no stockpyl peer venv at {PEER_PYTHON}: create it with `python3 -m venv "
                    ".venv-peer && .venv-peer/bin/pip install stockpyl 'numpy<2'`")
    cmd = [str(PEER_PYTHON), str(ROOT / "scripts" / "stockpyl_peer.py"), "speed",
           "--periods", str(PERIODS), "--repeats", "3"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True)
    peer = json.loads(out.stdout.strip().splitlines()[-1])
    ours = ours_periods_per_second(None, PERIODS, 3)
    ratio = ours / peer["periods_per_second"]
    print(f"\nSerial-v1 Example 6.1, {PERIODS} periods, best of 3: ours {ours:,.0f} periods/s, "
          f"stockpyl {peer['stockpyl']} {peer['periods_per_second']:,.0f} periods/s "
          f"-> {ratio:.1f}x")
    assert 40 < peer["mean_cost"] < 56          # the peer really simulated Example 6.1
    assert ratio >= SPEEDUP_REQUIRED, (f"ours {ours:.0f} vs stockpyl {peer['periods_per_second']:.0f} "
                                       f"periods/s: only {ratio:.1f}x")
