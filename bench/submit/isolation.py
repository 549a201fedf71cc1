"""Run the policy in its own process: the harness keeps the env, the counters and the records,
and exchanges only observations, actions and the seed with the policy.

Why: in the harness's process a policy can reach everything (a 25-line policy that wraps
``env.step`` and halves ``total_cost`` produced a "valid" result from a genuine evaluation). Here
the policy process holds a *replica* env, built from the released spec and reset with the seed the
harness hands over, which the policy may read through its factory (``factory(env)``, for public
parameters; an oracle's declared privileged attributes) and which is stepped with the policy's own
actions to stay in step. Whatever the policy does to its replica never reaches the harness's env.

Messages: harness -> policy are pickled (the harness trusts itself); policy -> harness are
``bench.submit.actionlog`` bytes, decoded without pickle, so a hostile policy cannot run code in
the harness by what it sends. What isolation does not stop: a policy that rebuilds the env from
the seed it is given can foresee the episode; ``rao-bench verify --fresh`` hands policies a salted
seed for that reason, and replay (not isolation) is what makes a file trustworthy.

``run_isolated_job`` is the isolated counterpart of ``bench.protocol.run_job`` (in-process mode is
kept as the speed option: docs/performance.md measures the per-step overhead).
"""

from __future__ import annotations

import multiprocessing as mp
import traceback
from typing import Any, Mapping

from bench.submit.actionlog import ActionLogError, ActionRecorder, decode

_PROCS: dict[tuple[str, str, str, str], "PolicyProcess"] = {}


def _encode_step(agents: list[str], actions: Mapping[str, Any]) -> bytes:
    rec = ActionRecorder(agents)
    rec.add(actions)
    return rec.raw()


def _serve(conn: Any, task_id: str, ref: str, scale: str, scenario: str) -> None:
    """The policy process: a replica env and the policy; answers reset/act until closed."""
    from bench.policy import load_policy
    from bench.registry import make

    env = make(task_id, scale=scale, scenario=scenario)
    agents = list(env.possible_agents)
    policy = None
    source = load_policy(ref)
    while True:
        msg = conn.recv()
        try:
            if msg[0] == "close":
                return
            if msg[0] == "reset":
                _, env_seed, policy_seed = msg
                env.reset(seed=env_seed)
                policy = source.build(env)
                policy.reset(policy_seed)
                conn.send_bytes(b"ok")
            elif msg[0] == "act":
                _, obs, previous = msg
                if previous is not None:
                    env.step(previous)  # keep the replica where the harness's env is
                conn.send_bytes(b"A" + _encode_step(agents, policy.act(obs)))
        except Exception:
            conn.send_bytes(b"E" + traceback.format_exc(limit=8).encode("utf-8", "replace")[-4000:])


class PolicyProcess:
    """The harness's handle on one policy process (one per (task, policy, scale, scenario))."""

    def __init__(self, task_id: str, ref: str, scale: str, scenario: str) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, task_id, ref, scale, scenario), daemon=True)
        self.proc.start()
        child.close()

    def _reply(self) -> bytes:
        if not self.conn.poll(600):
            raise RuntimeError("the policy process did not answer within 600 s")
        data = self.conn.recv_bytes(maxlength=256 * 1024 * 1024)
        if data.startswith(b"E"):
            raise RuntimeError("the policy raised in its process:\n" + data[1:].decode("utf-8", "replace"))
        return data

    def reset(self, env_seed: int, policy_seed: int) -> None:
        self.conn.send(("reset", env_seed, policy_seed))
        self._reply()

    def act(self, obs: Any, previous: Mapping[str, Any] | None) -> dict[str, Any]:
        self.conn.send(("act", obs, previous))
        data = self._reply()
        if not data.startswith(b"A"):
            raise ActionLogError("the policy process sent something other than actions")
        steps = decode(data[1:])
        if len(steps) != 1:
            raise ActionLogError("the policy process sent other than one joint action")
        return steps[0]

    def close(self) -> None:
        try:
            self.conn.send(("close",))
        except (OSError, ValueError):
            pass
        self.proc.join(timeout=10)
        if self.proc.is_alive():
            self.proc.kill()


class RemotePolicy:
    """What ``bench.episode.run_episode`` sees: ``reset(seed)`` and ``act(obs)``, answered by a
    policy process. ``policy_seed`` (if given) is handed to the policy instead of the env's seed,
    and the replica is reset with it too."""

    def __init__(self, proc: PolicyProcess, policy_seed: int | None = None) -> None:
        self.proc = proc
        self.policy_seed = policy_seed
        self.previous: dict[str, Any] | None = None

    def reset(self, seed: int) -> None:
        s = seed if self.policy_seed is None else self.policy_seed
        self.previous = None
        self.proc.reset(s, s)

    def act(self, observations: Mapping[str, Any]) -> dict[str, Any]:
        actions = self.proc.act(dict(observations), self.previous)
        self.previous = actions
        return actions


def policy_process(task_id: str, ref: str, scale: str, scenario: str) -> PolicyProcess:
    """This worker's policy process for a cell (kept, like bench.protocol's env cache)."""
    key = (task_id, ref, scale, scenario)
    if key not in _PROCS:
        for p in _PROCS.values():
            p.close()
        _PROCS.clear()
        _PROCS[key] = PolicyProcess(*key)
    return _PROCS[key]


def run_isolated_job(job: tuple[str, str, str, str, int], policy_seed: int | None = None) -> dict[str, Any]:
    """``bench.protocol.run_job`` with the policy in its own process."""
    from bench.episode import run_episode
    from bench.registry import get_spec, make

    task_id, ref, scale, scenario, seed = job
    env = make(task_id, scale=scale, scenario=scenario)
    proc = policy_process(task_id, ref, scale, scenario)
    try:
        return run_episode(env, RemotePolicy(proc, policy_seed), seed, get_spec(task_id))
    except Exception:
        proc.close()
        _PROCS.pop((task_id, ref, scale, scenario), None)
        raise
