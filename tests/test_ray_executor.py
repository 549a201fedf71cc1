"""The Ray executor gives the same episodes as the local one (a real local Ray instance)."""

import pytest

from bench.episode import TIMING_FIELDS
from bench.protocol import evaluate

ray = pytest.importorskip("ray", reason="Ray is the optional [ray] extra")


def test_ray_matches_local_bit_for_bit():
    local = evaluate("supply_chain/Serial-v1", "base_stock", "quick", workers=1, progress=False)
    remote = evaluate("supply_chain/Serial-v1", "base_stock", "quick", workers=2, executor="ray",
                      progress=False)
    strip = lambda r: [{k: v for k, v in e.items() if k not in TIMING_FIELDS} for e in r["episodes"]]  # noqa: E731
    assert strip(local) == strip(remote)
    assert len(remote["episodes"]) == len(local["episodes"]) > 0
