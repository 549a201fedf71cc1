"""Size of a full-protocol action log per task and policy: one episode per cell, times the cell's seeds
(docs/submitting.md). Usage: PYTHONPATH=$PWD python scripts/measure_action_log_size.py POLICY..."""
import sys
from bench.registry import all_specs, make
from bench.policy import load_policy
from bench.episode import run_episode
from bench.summary import protocol_cells
for s in all_specs():
    cells = protocol_cells(s, "full")
    for pol in sys.argv[1:]:
        from baselines import registry
        if not registry.applies_to(pol, s.id):
            continue
        total_b64 = total_raw = 0; n = 0
        for c in cells:  # one episode per cell, times the cell's seeds
            env = make(s.id, scale=c.scale, scenario=c.scenario); env.reset(seed=c.seeds[0])
            p = load_policy(pol).build(env)
            rec = run_episode(env, p, c.seeds[0], s)
            b = len(rec["actions"]["data"]); total_b64 += b * len(c.seeds)
            n += len(c.seeds)
        print(f"{s.id:28s} {pol:14s} episodes {n:4d}  sidecar ~{total_b64*3/4/1e6:7.2f} MB (xz; inline base64 {total_b64/1e6:.2f} MB)", flush=True)
