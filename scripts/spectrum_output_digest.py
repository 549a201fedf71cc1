"""Exact digest of everything spectrum/Interference-v1 and -v2 hand out, for comparing two checkouts
bit for bit (a speed change must leave it unchanged).

Per task, scenario, scale (k4, k50) and path (compiled, numpy): three seeded episodes with a
seeded mix of random and mask-legal actions; hashed (SHA-256, first 16 hex digits printed) are the
reset's observations and infos, ``state()``, the episode's gains (``path_gain``, ``large_scale``,
``pu_gain``, the budget cap table), every step's observations, rewards, terminations,
truncations, infos (keys, order, values and types) and ``last_outcome``, and every tenth step's
``state()``, ``oracle_view()`` and ``delayed_csi()``. Run it in each checkout and ``diff`` the
outputs:

    PYTHONPATH=$PWD .venv/bin/python scripts/spectrum_output_digest.py > /tmp/after.txt
"""

from __future__ import annotations

import hashlib
import warnings
from typing import Any

import numpy as np

TASKS = ("spectrum/Interference-v1", "spectrum/Interference-v2")


def _update(h: Any, x: Any) -> None:
    if isinstance(x, np.ndarray):
        h.update(str((x.dtype, x.shape)).encode())
        h.update(np.ascontiguousarray(x).tobytes())
    elif isinstance(x, dict):
        h.update(b"{")
        for k, v in x.items():
            h.update(repr(k).encode())
            _update(h, v)
        h.update(b"}")
    elif isinstance(x, (list, tuple)):
        h.update(b"[")
        for v in x:
            _update(h, v)
        h.update(b"]")
    else:
        h.update(repr((type(x).__name__, x)).encode())


def digest(task: str, scenario: str, scale: str, compiled: bool) -> str:
    import bench

    env = bench.make(task, scale=scale, scenario=scenario)
    env.use_compiled(compiled)
    h = hashlib.sha256()
    rng = np.random.default_rng(1)
    for ep in range(3):
        obs, info = env.reset(seed=100 + ep)
        _update(h, (obs, info, env.state()))
        _update(h, [env.path_gain, env.large_scale, env.pu_gain, env._cap_of if env._cap_of is not None else 0])
        t = 0
        while env.agents:
            if t % 3 == 0:
                acts = {a: int(rng.integers(0, env.n_actions)) for a in env.agents}
            else:
                acts = {a: int(rng.choice(np.flatnonzero(obs[a]["action_mask"]))) for a in env.agents}
            out = env.step(acts)
            obs = out[0]
            _update(h, (out, env.last_outcome))
            if t % 10 == 0:
                _update(h, (env.state(), env.oracle_view().__dict__, env.delayed_csi().__dict__))
            t += 1
    return h.hexdigest()[:16]


def main() -> None:
    warnings.simplefilter("ignore")
    import bench

    for task in TASKS:
        for scenario in [s.name for s in bench.get_spec(task).scenarios]:
            for scale in ("k4", "k50"):
                for compiled in (True, False):
                    print(task, scenario, scale, "compiled" if compiled else "numpy",
                          digest(task, scenario, scale, compiled), flush=True)


if __name__ == "__main__":
    main()
