"""Full reference sweep time: every non-learning reference baseline on every task, full protocol
— what ``make leaderboard`` runs before it rebuilds the tables, less the MARL learners (whose
evaluation depends on trained checkpoints) — with 1 and with 2 workers.

* ``test_full_sweep[1]``, ``test_full_sweep[2]`` (group ``sweep``): ``rao-bench baselines
  --workers N --no-progress --only <every non-learner> --out-dir <tmp>`` in a fresh interpreter
  (start-up and imports included, as a user runs it), one round each (minutes). ``extra_info``: ``seconds``,
  ``episodes``, ``job_seconds`` (the episodes' own simulation + decision times summed, i.e. the
  work), ``loadavg_before``/``loadavg_after`` (1-minute load averages: the machine may be shared),
  and for 2 workers ``speedup_vs_1_worker`` when the 1-worker case ran in the same session.
  Targets (issue 8): under 10 minutes on 2 cores; at least 1.7x from the second worker.
* The two sweeps must write the same results (timing fields aside): asserted.

Run with ``.venv/bin/pytest -m benchmark_suite --benchmark-enable tests/benchmarks/test_sweep_speed.py -s``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.episode import TIMING_FIELDS

pytestmark = pytest.mark.benchmark_suite

REPO = Path(__file__).resolve().parents[2]
_DONE: dict[int, tuple[float, Path]] = {}


def non_learning_baselines() -> list[str]:
    from baselines import registry

    learners = set(getattr(registry, "learner_names", lambda: [])())
    return [n for n in registry.names() if n not in learners]


def run_sweep(workers: int, out: Path) -> float:
    """Wall seconds of one full reference sweep into ``out``."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bench.cli", "baselines", "--workers", str(workers),
                    "--no-progress", "--only", ",".join(non_learning_baselines()),
                    "--out-dir", str(out)], cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(REPO)})
    return time.perf_counter() - t0


def episodes(out: Path) -> dict[str, list[dict]]:
    return {str(p.relative_to(out)): json.loads(p.read_text())["episodes"]
            for p in sorted(out.glob("*/*/*.json"))}


def strip(eps: list[dict]) -> list[dict]:
    return [{k: v for k, v in e.items() if k not in TIMING_FIELDS} for e in eps]


@pytest.mark.benchmark(group="sweep")
@pytest.mark.parametrize("workers", [1, 2])
def test_full_sweep(benchmark, tmp_path_factory, workers: int) -> None:
    out = tmp_path_factory.mktemp(f"sweep{workers}")
    load0 = os.getloadavg()[0]
    seconds = benchmark.pedantic(run_sweep, args=(workers, out), rounds=1, iterations=1)
    load1 = os.getloadavg()[0]
    eps = episodes(out)
    assert len(eps) >= 25, "every applicable (task, baseline) pair writes its result"
    _DONE[workers] = (seconds, out)
    job_seconds = sum(e["sim_time_s"] + e["decision_time_per_agent_step_s"] * e["agent_steps"]
                      for es in eps.values() for e in es)
    info = dict(seconds=seconds, episodes=sum(map(len, eps.values())), job_seconds=job_seconds,
                loadavg_before=load0, loadavg_after=load1, cpus=os.cpu_count())
    if workers > 1 and 1 in _DONE:
        one_s, one_out = _DONE[1]
        info["speedup_vs_1_worker"] = one_s / seconds
        ref = episodes(one_out)
        assert ref.keys() == eps.keys()
        for name in ref:
            assert strip(ref[name]) == strip(eps[name]), f"{name}: results depend on the worker count"
    print(f"\nfull reference sweep, {workers} worker(s): {seconds:.0f} s "
          f"({info['episodes']} episodes, {job_seconds:.0f} s of episode work; load "
          f"{load0:.2f} -> {load1:.2f})"
          + (f"; speed-up {info['speedup_vs_1_worker']:.2f}x" if "speedup_vs_1_worker" in info else ""))
    benchmark.extra_info.update(info)
