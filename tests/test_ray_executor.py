"""The Ray executor gives the same episodes as the local one (a real local Ray instance), for one
evaluation and for a sweep of several on one Ray instance."""

import pytest

from bench.episode import TIMING_FIELDS
from bench.protocol import Run, evaluate, sweep

ray = pytest.importorskip("ray", reason="Ray is the optional [ray] extra")


def strip(result: dict) -> list[dict]:
    return [{k: v for k, v in e.items() if k not in TIMING_FIELDS} for e in result["episodes"]]


@pytest.fixture(scope="module")
def ray_instance():
    """One local Ray instance for the module (run_ray leaves an instance it did not start up)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_matches_local_bit_for_bit(ray_instance):
    local = evaluate("supply_chain/Serial-v1", "base_stock", "quick", workers=1, progress=False)
    remote = evaluate("supply_chain/Serial-v1", "base_stock", "quick", workers=2, executor="ray",
                      progress=False)
    assert strip(local) == strip(remote)
    assert len(remote["episodes"]) == len(local["episodes"]) > 0


def test_ray_sweep_matches_local_sweep(ray_instance):
    pairs = [("supply_chain/Serial-v1", "random"), ("spectrum/Interference-v1", "full_power"),
             ("power_grid/IEEE33-v1", "no_control")]
    out = {}
    for executor in ("local", "ray"):
        got = out[executor] = {}
        sweep([Run(t, p, "quick") for t, p in pairs], lambda run, doc: got.__setitem__(run.key, doc),
              workers=2, executor=executor, progress=False)
    assert len(out["local"]) == len(out["ray"]) == len(pairs)
    for key, doc in out["local"].items():
        assert strip(doc) == strip(out["ray"][key])
        assert doc["summary"]["nominal"] == out["ray"][key]["summary"]["nominal"]


def test_ray_sweep_isolates_a_failing_run(ray_instance):
    pairs = [("supply_chain/Serial-v1", "tests.test_protocol:_Broken"),
             ("supply_chain/Serial-v1", "base_stock")]
    got = {}
    failed = sweep([Run(t, p, "quick") for t, p in pairs], lambda run, doc: got.__setitem__(run.key, doc),
                   workers=2, executor="ray", progress=False)
    assert len(failed) == 1 and "no checkpoint for n5" in next(iter(failed.values()))
    assert [k[1] for k in got] == ["baselines.base_stock:BaseStockPolicy"]
