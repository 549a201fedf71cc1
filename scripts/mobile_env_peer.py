"""Side-by-side peer for spectrum/Interference-v1's speed: mobile-env (Schneider et al., "mobile-env:
An Open Platform for Reinforcement Learning in Wireless Mobile Networks", NOMS 2022), the
simulator issue 5 names ("tens of steps per second at thirty users").

Runs inside the peer venv (``.venv-peer``, built by ``make bench``; mobile-env 2.1.0 there):

    .venv-peer/bin/python scripts/mobile_env_peer.py --episodes 3

Times mobile-env's largest bundled scenario, ``mobile-large-ma-v0`` (13 base stations, 30 user
equipments, one agent per UE choosing a station to connect to or disconnect from, or no-op;
episodes of 100 steps), with its multi-agent handler: ``reset`` plus 100 ``step`` calls on the
unwrapped env (no Gymnasium checker wrappers), with uniformly random actions drawn before the
clock starts — the same protocol as ``test_env_steps_per_second`` on our side. Prints one JSON
line: mobile-env's version, the scenario's agents and stations, steps per CPU-second (best of
``--episodes`` episodes) and the mean reward, which shows the peer really simulated.
"""

from __future__ import annotations

import argparse
import json
import time
from importlib.metadata import version

import gymnasium
import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--episodes", type=int, default=3, help="timed episodes (best is reported)")
    ap.add_argument("--scenario", default="mobile-large-ma-v0", help="mobile-env Gymnasium id")
    args = ap.parse_args()

    import mobile_env  # noqa: F401  (registers the mobile-* ids)

    env = gymnasium.make(args.scenario).unwrapped
    ues = sorted(env.users)
    n_actions = env.NUM_STATIONS + 1
    horizon = int(env.EP_MAX_TIME)
    rng = np.random.default_rng(0)
    best, rewards = float("inf"), []
    for ep in range(args.episodes + 1):                     # the first episode is a warm-up
        acts = rng.integers(0, n_actions, size=(horizon, len(ues))).tolist()
        plans = [dict(zip(ues, row)) for row in acts]
        t0 = time.process_time()
        env.reset(seed=ep)
        total, steps, done = 0.0, 0, False
        while not done:
            _, reward, term, trunc, _ = env.step(plans[steps])
            total += float(np.mean(list(reward.values()))) if isinstance(reward, dict) else float(reward)
            steps += 1
            done = term or trunc or steps >= horizon
        dt = time.process_time() - t0
        if ep:
            best = min(best, dt / steps)
            rewards.append(total / steps)
    print(json.dumps({"mobile_env": version("mobile-env"), "scenario": args.scenario,
                      "agents": len(ues), "stations": env.NUM_STATIONS, "steps": horizon,
                      "steps_per_second": 1.0 / best, "mean_reward": float(np.mean(rewards))}))


if __name__ == "__main__":
    main()
