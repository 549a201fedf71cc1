"""Job dispatches per second of EdgeCluster-v1 or -v2 at the nominal scale, every job local
(best of 3 repeats of seeds 1-3). Run v1 and v2 back to back so that machine load hits both:

    PYTHONPATH=. .venv/bin/python scripts/compute_speed_v1_v2.py compute/EdgeCluster-v2
    PYTHONPATH=. .venv/bin/python scripts/compute_speed_v1_v2.py compute/EdgeCluster-v1

Prints: task, jobs over the 3 episodes, best wall time (s), job dispatches per second. In v2 every
arrived job is dispatched at its arrival; in v1 every arrived job but the last epoch's."""
import time, numpy as np, bench, sys
task=sys.argv[1]
env = bench.make(task)
env.reset(seed=0)
if 'v2' in task:
    L=len(env.unwrapped.levels); act={a:np.array([L+1]*3+[0]*3+[0]) for a in env.possible_agents}
else:
    act={a:np.zeros(env.unwrapped.W+2,np.int64) for a in env.possible_agents}
best=1e9
for rep in range(3):
    t=time.perf_counter(); n=0
    for s in (1,2,3):
        env.reset(seed=s)
        while env.agents: env.step(act)
        n+=env.ledger()['arrived']
    best=min(best,time.perf_counter()-t)
print(task, n, best, n/best)
