"""VDN: value-decomposition networks for cooperative MARL with discrete actions (CTDE).

Sunehag et al. 2017, "Value-Decomposition Networks For Cooperative Multi-Agent Learning",
https://arxiv.org/abs/1706.05296. The team's action value is the sum of per-agent utilities,

    Q_tot(s, a) = sum_i Q_i(o_i, a_i)                                   (VDN, eq. 1 of the paper)

learned end to end from the TEAM reward r_t (the mean of the agents' rewards, which in both tasks
are all equal, cooperative; standardised by the exploration phase's mean and s.d.) with the
one-step TD target of a target network (Mnih et al. 2015), Double-Q by default (van Hasselt et
al. 2016):

    y_t = r_t + gamma * sum_i Q_i^target(o'_i, argmax_a Q_i^online(o'_i, a))          (double_q)
    loss = mean over the minibatch of (Q_tot(s_t, a_t) - y_t)^2

Because the sum is monotone in every Q_i, each agent's greedy action on its own utility is the
greedy joint action of Q_tot: training is centralised (one TD error for the team), execution is
decentralised (each agent acts on its own observation) — the CTDE paradigm.

Action spaces (the task's discrete ones):

* ``Discrete(n)`` with an ``action_mask`` in a Dict observation (spectrum/Interference-v1): one
  head of n utilities; masked actions are never chosen by the greedy or the random action and are
  excluded from the max of the target.
* ``MultiDiscrete(nvec)`` (compute/EdgeCluster-v1, ``[6,6,6,6,6,4]``): a FACTORED utility, one
  head per action dimension, ``Q_i(o, a) = sum_d Q_{i,d}(o, a_d)`` (the same additive
  decomposition as VDN's, applied inside the agent; cf. Tavakoli et al. 2018, "Action Branching
  Architectures"). It keeps the output at ``sum(nvec) = 34`` values instead of
  ``prod(nvec) = 31,104`` and its greedy action is the per-dimension argmax.

Parameters are shared within each agent group (agents with identical observation and action
spaces, ``baselines.learners.marl_common``), with the scale-free agent-id feature when ``agent_id``.
Observations are normalised by running mean/std (statistics saved in the checkpoint); the replay
buffer stores raw observations and normalises them with the current statistics when sampled.

Time limits: every episode of these tasks ends by truncation at the horizon, which is not a state
of the world, so the TD target bootstraps through it (Pardo et al. 2018, "Time Limits in
Reinforcement Learning"); only a true termination cuts the bootstrap.

Train: ``rao-bench train vdn TASK --seed 1`` (checkpoints in baselines/learners/checkpoints/vdn/; the
declared budget is ``VDN_BUDGETS``). Everything env-side (training seeds, budget, violation counts,
the optional HyperScore reward) is the harness's ``bench.training.TrainingEnv``.

The file reads top to bottom as in CleanRL: hyperparameters (``Args``), networks, replay buffer,
the TD update, the training loop, then the evaluation policy.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from baselines.learners.curves import Curve, GreedyPolicy, StopRule, save_run
from baselines.learners.marl_common import (
    AgentGroup, RunningMeanStd, TrainedPolicy, agent_groups, group_meta, masked_argmax,
    scales_to_train, seed_everything, validates,
)
from bench.policy import PolicyInfo
from bench.training import REWARDS, Budget, TrainingEnv

#: The discrete-action tasks VDN applies to (the policy's ``tasks`` is this intersected with the
#: tasks that have checkpoints).
DISCRETE_TASKS = ("compute/EdgeCluster-v1", "spectrum/Interference-v1", "compute/EdgeCluster-v2",
                  "spectrum/Interference-v2")

#: Declared training budget of the VDN reference entries, per trained scale: env steps (the
#: reproducible stop) and a wall-time cap in seconds (a guard against a stalled machine; a run it
#: stops says so in its record). VDN makes one gradient update per env step on a minibatch of
#: joint transitions (every agent's utility), so an env step costs it more CPU than PPO's and
#: marl_common.BUDGETS would take it well past the 2-3 minutes per task on one core. Measured CPU
#: time per env step (process time, 2-core machine under load): compute n10 4.1 ms, spectrum k50
#: 7.0 ms and k4 ~3-4 ms; so compute (n10 only: every scale has the nominal's spaces) ~2 min, and
#: spectrum (k50, then k4 whose 2-band spaces differ) ~2 min.
VDN_BUDGETS: dict[str, Budget] = {
    "compute/EdgeCluster-v1": Budget(env_steps=30_000, wall_time_s=900.0),
    "spectrum/Interference-v1": Budget(env_steps=12_000, wall_time_s=600.0),
    # v2: the same step costs; caps, with the plateau rule (curves.StopRule) ending runs earlier
    "compute/EdgeCluster-v2": Budget(env_steps=20_000, wall_time_s=900.0),
    "spectrum/Interference-v2": Budget(env_steps=8_000, wall_time_s=600.0),
}

#: Default discount per task, chosen on validation seeds from the TRAINING range (never the
#: eval seeds). Spectrum: the channel evolves independently of the actions, which reach later
#: slots only through one-slot-old measurements, so the reward is almost myopic and a short
#: horizon (1 / (1 - 0.5) = 2 slots) learns faster: after 5,000 k50 steps the validation return
#: was 160 at gamma 0.5 vs 114 at 0.8. Compute: a dispatched job's delay cost and deadline
#: penalty are booked over the following epochs; after 30,000 n10 steps validation V was 0.595 at
#: gamma 0.95, 0.579 at 0.8 and 0.540 at 0.5.
TASK_GAMMA: dict[str, float] = {"compute/EdgeCluster-v1": 0.95, "spectrum/Interference-v1": 0.5,
                                "compute/EdgeCluster-v2": 0.95, "spectrum/Interference-v2": 0.5}  # v2: v1's


# ---------------------------------------------------------------------------------------------
# Hyperparameters
# ---------------------------------------------------------------------------------------------
@dataclass
class Args:
    """VDN hyperparameters (defaults are the ones the reference checkpoints were trained with)."""

    seed: int = 1
    """Run seed: torch init, the training-seed stream of TrainingEnv, exploration and minibatches."""
    reward: str = "env"
    """'env' (the task's reward) or 'hyperscore' (the founding paper's HyperScore feedback)."""
    agent_id: bool = True
    """Append the scale-free agent-id feature (index within the group / (group size - 1))."""
    hidden: int = 64
    """Width of the two hidden layers of the utility network."""
    lr: float = 5e-4
    """Adam learning rate."""
    gamma: float | None = None
    """Discount per decision step; None = the task's value in TASK_GAMMA."""
    buffer_size: int = 20_000
    """Replay capacity in joint transitions (env steps; whole episodes are evicted, oldest first)."""
    batch_size: int = 32
    """Joint transitions per minibatch (each carries every agent's observation and action)."""
    learning_starts: int = 1_000
    """Env steps of pure exploration before the first update (also fixes the reward scale)."""
    train_frequency: int = 1
    """Env steps between gradient updates."""
    target_update_interval: int = 250
    """Gradient updates between hard copies of the online network into the target network."""
    double_q: bool = True
    """Double-Q target: the online network picks the next action, the target network scores it."""
    eps_start: float = 1.0
    """Initial exploration rate (probability that an agent acts uniformly at random)."""
    eps_end: float = 0.05
    """Final exploration rate."""
    eps_fraction: float = 0.5
    """Share of the env-step budget over which epsilon decays linearly from start to end."""
    max_grad_norm: float = 10.0
    """Gradient-norm clip of each update."""
    obs_clip: float = 10.0
    """Normalised observations are clipped to [-obs_clip, obs_clip]."""
    env_steps: int | None = None
    """Env steps per trained scale; None = the task's declared budget (VDN_BUDGETS)."""
    wall_time_s: float | None = None
    validate: bool | None = None
    """greedy validation on held-out training seeds (curves.StopRule, with no plateau stop before
    exploration has decayed): learning curve, best-validation network saved, plateau stop;
    None = on, except on the v1 tasks (marl_common.UNVALIDATED_TASKS)"""
    """Wall-time cap per trained scale, s; None = the task's declared budget."""

    def __post_init__(self) -> None:
        if self.reward not in REWARDS:
            raise ValueError(f"Args.reward must be one of {REWARDS}, got {self.reward!r}")
        for name in ("hidden", "buffer_size", "batch_size", "train_frequency",
                     "target_update_interval"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"Args.{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.learning_starts < 0:
            raise ValueError(f"Args.learning_starts must be >= 0 env steps, got {self.learning_starts!r}")
        if self.gamma is not None and not 0.0 <= self.gamma < 1.0:
            raise ValueError(f"Args.gamma must be in [0, 1), got {self.gamma!r}")
        if not (0.0 <= self.eps_end <= self.eps_start <= 1.0):
            raise ValueError("Args.eps_start/eps_end must satisfy 0 <= eps_end <= eps_start <= 1, "
                             f"got {self.eps_start!r}/{self.eps_end!r}")
        if not 0.0 < self.eps_fraction <= 1.0:
            raise ValueError(f"Args.eps_fraction must be in (0, 1], got {self.eps_fraction!r}")
        if not self.lr > 0 or not self.max_grad_norm > 0 or not self.obs_clip > 0:
            raise ValueError("Args.lr, Args.max_grad_norm and Args.obs_clip must be > 0")


def resolve(args: Args, task_id: str) -> Args:
    """``args`` with the task's defaults filled in where a field is None (what gets stored)."""
    if args.gamma is not None:
        return args
    if task_id not in TASK_GAMMA:
        raise ValueError(f"no default gamma for task {task_id!r}; pass Args(gamma=...)")
    return replace(args, gamma=TASK_GAMMA[task_id])


def epsilon(step: int, total: int, args: Args) -> float:
    """Linear decay from ``eps_start`` to ``eps_end`` over ``eps_fraction * total`` env steps,
    constant afterwards (the schedule of Mnih et al. 2015)."""
    span = max(1.0, args.eps_fraction * total)
    frac = min(1.0, step / span)
    return args.eps_start + frac * (args.eps_end - args.eps_start)


# ---------------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------------
def heads_of(space: spaces.Space | Mapping[str, Any]) -> tuple[int, ...]:
    """Utility heads of an action space (or its ``action_head_spec``): ``(n,)`` for Discrete(n),
    ``nvec`` for MultiDiscrete."""
    if isinstance(space, Mapping):
        if space.get("kind") != "categorical":
            raise ValueError(f"VDN needs discrete actions; got an action head {space!r}")
        return tuple(int(n) for n in space["nvec"])
    if isinstance(space, spaces.Discrete):
        return (int(space.n),)
    if isinstance(space, spaces.MultiDiscrete):
        return tuple(int(n) for n in space.nvec.ravel())
    raise ValueError(f"VDN needs Discrete or MultiDiscrete actions, got {space}; use ippo or "
                     "mappo for continuous actions")


def utility_of(q: torch.Tensor, heads: Sequence[int], actions: torch.Tensor) -> torch.Tensor:
    """``Q_i(o, a) = sum_d Q_{i,d}(o, a_d)``: utilities (..., sum(heads)) at actions
    (..., len(heads)) int64 → (...)."""
    offsets = torch.as_tensor(np.concatenate([[0], np.cumsum(heads)[:-1]]), dtype=torch.int64)
    return q.gather(-1, actions + offsets).sum(dim=-1)


def greedy_of(q: torch.Tensor, heads: Sequence[int], mask: torch.Tensor | None) -> torch.Tensor:
    """Per-dimension argmax (..., len(heads)) int64; ``mask`` (..., n) bool restricts a single
    Discrete head to the allowed actions."""
    if mask is not None:
        if len(heads) != 1:
            raise ValueError("an action mask needs a single Discrete head")
        return masked_argmax(q, mask)[..., None]
    return torch.stack([p.argmax(dim=-1) for p in torch.split(q, list(heads), dim=-1)], dim=-1)


class UtilityNet(nn.Module):
    """The agents' utilities ``Q_i(o_i, .)``: per group one MLP shared by the group's agents (two
    ReLU hidden layers, PyTorch's default initialisation, as in DQN) with ``sum(heads)`` outputs.

    Tensors are agent-major as in marl_common: inputs [N, B, in_dim] → utilities
    [N, B, sum(heads)]. ``greedy`` is the actor interface ``TrainedPolicy`` calls. (ReLU rather
    than marl_common.AgentMLP's tanh: the usual choice for Q-networks, whose outputs are
    unbounded, and ~9x cheaper than tanh on this CPU, where the update is VDN's main cost.)
    """

    def __init__(self, in_dims: Sequence[int], heads: Sequence[Sequence[int]], hidden: int) -> None:
        super().__init__()
        self.heads = [tuple(int(n) for n in h) for h in heads]
        self.mlps = nn.ModuleList(
            nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                          nn.Linear(hidden, sum(h)))
            for d, h in zip(in_dims, self.heads))

    def q(self, g: int, x: torch.Tensor) -> torch.Tensor:
        return self.mlps[g](x)

    def greedy(self, g: int, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return greedy_of(self.q(g, x), self.heads[g], mask)


# ---------------------------------------------------------------------------------------------
# Replay buffer
# ---------------------------------------------------------------------------------------------
class EpisodeReplay:
    """Joint transitions stored episode by episode, so that ``o_{t+1}`` is stored once (it is the
    next step's ``o_t``). Per group: raw observations (E, T+1, N, d) float32, actions
    (E, T, N, k) int16, action masks (E, T+1, N, A) bool; team rewards and terminations (E, T);
    with ``state_dim`` > 0 also the global state (E, T+1, state_dim) float32 (QMIX's mixer).

    ``E = max(2, ceil(capacity / T))`` episode slots, overwritten oldest first. ``sample`` draws
    (episode, step) pairs uniformly over the stored steps from the run's numpy Generator.
    """

    def __init__(self, capacity: int, horizon: int, groups: Sequence[AgentGroup],
                 heads: Sequence[Sequence[int]], rng: np.random.Generator, state_dim: int = 0) -> None:
        self.T = int(horizon)
        self.E = max(2, math.ceil(capacity / self.T))
        self.rng = rng
        self.obs = [np.zeros((self.E, self.T + 1, g.n_agents, g.obs_dim), np.float32) for g in groups]
        self.act = [np.zeros((self.E, self.T, g.n_agents, len(h)), np.int16)
                    for g, h in zip(groups, heads)]
        self.mask = [None if g.mask_dim is None else
                     np.ones((self.E, self.T + 1, g.n_agents, g.mask_dim), bool) for g in groups]
        self.state = np.zeros((self.E, self.T + 1, state_dim), np.float32) if state_dim else None
        self.rew = np.zeros((self.E, self.T), np.float64)
        self.term = np.zeros((self.E, self.T), bool)
        self.length = np.zeros(self.E, np.int64)
        self.cur = -1

    def start(self, obs: Sequence[np.ndarray], masks: Sequence[np.ndarray | None],
              state: np.ndarray | None = None) -> None:
        """Open a new episode (evicting the oldest) with its first observations."""
        self.cur = (self.cur + 1) % self.E
        self.length[self.cur] = 0
        self._put(0, obs, masks, state)

    def _put(self, t: int, obs: Sequence[np.ndarray], masks: Sequence[np.ndarray | None],
             state: np.ndarray | None) -> None:
        if self.state is not None:
            self.state[self.cur, t] = state
        for g, o in enumerate(obs):
            self.obs[g][self.cur, t] = o
            if self.mask[g] is not None:
                self.mask[g][self.cur, t] = masks[g]

    def add(self, actions: Sequence[np.ndarray], reward: float, terminated: bool,
            next_obs: Sequence[np.ndarray], next_masks: Sequence[np.ndarray | None],
            next_state: np.ndarray | None = None) -> None:
        """Append one joint transition to the open episode."""
        e, t = self.cur, int(self.length[self.cur])
        if t >= self.T:
            raise ValueError(f"episode longer than the replay horizon T={self.T} steps")
        for g, a in enumerate(actions):
            self.act[g][e, t] = a
        self.rew[e, t] = reward
        self.term[e, t] = terminated
        self._put(t + 1, next_obs, next_masks, next_state)
        self.length[e] = t + 1

    def rewards(self) -> np.ndarray:
        """Every stored team reward (in storage order)."""
        return np.concatenate([self.rew[e, :n] for e, n in enumerate(self.length) if n])

    def sample(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
        """(episode, step) indices of ``batch`` stored transitions, uniform over stored steps."""
        e = self.rng.choice(self.E, size=batch, p=self.length / self.length.sum())
        t = np.floor(self.rng.random(batch) * self.length[e]).astype(np.int64)
        return e, t


# ---------------------------------------------------------------------------------------------
# The TD update
# ---------------------------------------------------------------------------------------------
def td_loss(net: UtilityNet, target: UtilityNet, batch: Mapping[str, Any], gamma: float,
            double_q: bool, mixer: nn.Module | None = None, target_mixer: nn.Module | None = None
            ) -> torch.Tensor:
    """Mean squared TD error of ``Q_tot = sum over groups and agents of Q_i(o_i, a_i)`` (VDN), or
    of ``Q_tot = mixer(Q_1..Q_N; s)`` when a mixer is given (QMIX, ``baselines/learners/qmix.py``; the
    target uses ``target_mixer`` on the next state).

    ``batch``: per group lists ``x``/``x_next`` of inputs [N, B, in_dim], ``a`` actions
    [N, B, k] int64, ``mask_next`` [N, B, A] bool or None; ``r`` team rewards (B,) and ``term``
    (B,) = 1.0 where the episode terminated (no bootstrap); with a mixer also ``s``/``s_next``,
    normalised global states [B, state_dim]."""
    chosen, best_next = [], []  # per group: utilities of the taken / next greedy actions [N, B]
    for g, heads in enumerate(net.heads):
        chosen.append(utility_of(net.q(g, batch["x"][g]), heads, batch["a"][g]))
        with torch.no_grad():
            q_next = target.q(g, batch["x_next"][g])
            chooser = net.q(g, batch["x_next"][g]) if double_q else q_next
            a_next = greedy_of(chooser, heads, batch["mask_next"][g])
            best_next.append(utility_of(q_next, heads, a_next))
    if mixer is None:
        q_tot = torch.zeros_like(batch["r"])
        next_tot = torch.zeros_like(batch["r"])
        for u, u_next in zip(chosen, best_next):
            q_tot = q_tot + u.sum(dim=0)
            next_tot = next_tot + u_next.sum(dim=0)
    else:
        if target_mixer is None:
            raise ValueError("td_loss: a mixer needs its target_mixer")
        q_tot = mixer(torch.cat(chosen, dim=0).T, batch["s"])
        with torch.no_grad():
            next_tot = target_mixer(torch.cat(best_next, dim=0).T, batch["s_next"])
    y = batch["r"] + gamma * (1.0 - batch["term"]) * next_tot
    return torch.mean((q_tot - y) ** 2)


def reward_standardiser(rewards: np.ndarray) -> tuple[float, float]:
    """Mean and s.d. of the exploration phase's team rewards. Rewards are standardised with these
    FIXED numbers for the rest of the run: a constant shift and scale of every reward leaves the
    greedy policy unchanged (episodes have a fixed horizon) and keeps the TD targets stationary,
    while the tasks' reward scales differ by orders of magnitude."""
    sd = float(np.std(rewards))
    return float(np.mean(rewards)), (sd if sd > 1e-8 else 1.0)


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------
def vdn_budget(task_id: str, env_steps: int | None = None, wall_time_s: float | None = None) -> Budget:
    """The declared VDN budget of ``task_id`` with optional overrides (None keeps the default)."""
    if task_id not in VDN_BUDGETS:
        raise ValueError(f"value decomposition (VDN, QMIX) applies to the discrete-action tasks "
                         f"{', '.join(VDN_BUDGETS)}; got "
                         f"{task_id!r} (use ippo or mappo there)")
    base = VDN_BUDGETS[task_id]
    return Budget(env_steps=int(env_steps) if env_steps is not None else base.env_steps,
                  wall_time_s=float(wall_time_s) if wall_time_s is not None else base.wall_time_s)


def training_command(task_id: str, args: Args, algo: str = "vdn") -> str:
    """The one command that retrains the entry (stored in every training record)."""
    cmd = f"rao-bench train {algo} {task_id} --seed {int(args.seed)}"
    if args.reward != "env":
        cmd += f" --reward {args.reward}"
    if args.env_steps is not None and args.env_steps != VDN_BUDGETS[task_id].env_steps:
        cmd += f" --env-steps {int(args.env_steps)}"
    return cmd


#: ``mixer_factory(n_agents, state_dim, args) -> nn.Module`` builds QMIX's mixing network.
MixerFactory = Callable[[int, int, Any], nn.Module]


def train(task_id: str, args: Args, *, out_dir: Path | None = None, scales: list[str] | None = None,
          progress: bool = True, algo: str = "vdn", mixer_factory: MixerFactory | None = None
          ) -> list[dict]:
    """Train VDN on every scale ``scales_to_train`` names (or ``scales``); save checkpoints and
    training records under ``out_dir`` (default baselines/learners/checkpoints); return the records.
    (``algo``/``mixer_factory`` are how baselines/learners/qmix.py reuses this loop with a mixer.)"""
    budget = vdn_budget(task_id, args.env_steps, args.wall_time_s)
    args = resolve(args, task_id)
    todo = scales if scales is not None else scales_to_train(task_id, args.agent_id, share=True)
    command = training_command(task_id, args, algo)
    records = []
    for scale in todo:
        env = TrainingEnv(task_id, seed=args.seed, budget=budget, scale=scale, reward=args.reward,
                          holdout=validates(task_id, args.validate))
        meta, state, curve = train_scale(env, args, progress=progress, mixer_factory=mixer_factory,
                                         desc=algo)
        records.append(save_run(algo, env, curve, meta=meta, actor_state=state, command=command,
                                root=out_dir))
    return records


def _inputs(x: np.ndarray, rms: RunningMeanStd, group: AgentGroup, args: Args) -> torch.Tensor:
    """Agent-major network input [N, ..., in_dim]: normalised observations x [N, ..., d], then
    the agent-id feature when ``agent_id``."""
    z = rms.normalize(x, args.obs_clip)
    if args.agent_id:
        ids = group.agent_ids().reshape((group.n_agents,) + (1,) * (z.ndim - 1))
        z = np.concatenate([z, np.broadcast_to(ids, z.shape[:-1] + (1,))], axis=-1)
    return torch.from_numpy(np.ascontiguousarray(z, dtype=np.float32))


def _explore(net: UtilityNet, g: int, x: torch.Tensor, mask: np.ndarray | None, eps: float,
             gen: torch.Generator) -> np.ndarray:
    """Epsilon-greedy actions [N, k] of group g: each agent independently acts uniformly at random
    (among allowed actions) with probability eps, greedily on its utility otherwise."""
    heads = net.heads[g]
    m = None if mask is None else torch.from_numpy(mask)
    a = net.greedy(g, x[:, None], None if m is None else m[:, None])[:, 0]
    n = x.shape[0]
    explore = torch.rand(n, generator=gen) < eps
    if m is not None:
        rand = torch.multinomial(m.float(), 1, generator=gen)
    else:
        rand = (torch.rand(n, len(heads), generator=gen) * torch.tensor(heads)).long()
    return torch.where(explore[:, None], rand, a).numpy()


def train_scale(env: TrainingEnv, args: Args, progress: bool = True,
                mixer_factory: MixerFactory | None = None, desc: str = "vdn"
                ) -> tuple[dict[str, Any], dict[str, torch.Tensor], Curve | None]:
    """Train VDN (or, with ``mixer_factory``, QMIX) on one TrainingEnv until its budget is spent;
    returns (checkpoint meta, agents' network state dict). Only the agents' networks are saved:
    execution is decentralised, the mixer is a training device."""
    args = resolve(args, env.spec.id)
    gen, rng = seed_everything(args.seed)
    groups = agent_groups(env)
    heads = [heads_of(g.action_space) for g in groups]
    rms = [RunningMeanStd(g.obs_dim) for g in groups]
    in_dims = [g.obs_dim + int(args.agent_id) for g in groups]
    net = UtilityNet(in_dims, heads, args.hidden)
    target = copy.deepcopy(net)
    params = list(net.parameters())
    mixer = target_mixer = state_rms = None
    state_dim = 0
    if mixer_factory is not None:
        state_dim = int(env.state().shape[0])
        mixer = mixer_factory(sum(g.n_agents for g in groups), state_dim, args)
        target_mixer = copy.deepcopy(mixer)
        params += list(mixer.parameters())
        state_rms = RunningMeanStd(state_dim)
    opt = torch.optim.Adam(params, lr=args.lr)
    buf = EpisodeReplay(args.buffer_size, env.horizon, groups, heads, rng, state_dim)
    total = env.budget.env_steps
    r_mu, r_sd = 0.0, 1.0
    step = updates = 0
    losses: list[float] = []
    bar = _progress(total, progress, f"{desc} {env.spec.id} {env.scale}")
    curve = None
    if validates(env.spec.id, args.validate):
        rule = StopRule(min_frac=max(StopRule.min_frac, args.eps_fraction))
        curve = Curve(env, rule, GreedyPolicy(groups, net, rms, args.agent_id, args.obs_clip,
                                              lambda g, raw: g.to_env(raw)))
    ep_return, ep_losses = 0.0, 0
    while not env.exhausted():
        if curve is not None and step:
            curve.log(train_return=ep_return, epsilon=epsilon(step, total, args),
                      td_loss=float(np.mean(losses[-ep_losses:])) if ep_losses else float("nan"),
                      updates=updates)
            if curve.due():
                curve.validate()
                if env.exhausted():
                    break
        ep_return, ep_losses = 0.0, 0
        obs, _ = env.reset()
        enc = [g.encode(obs) for g in groups]
        for r, (x, _m) in zip(rms, enc):
            r.update(x)
        state = _state(env, state_rms)
        buf.start([x for x, _ in enc], [m for _, m in enc], state)
        while env.agents:
            eps = epsilon(step, total, args)
            taken, actions = [], {}
            with torch.no_grad():
                for gi, (g, (x, m)) in enumerate(zip(groups, enc)):
                    a = _explore(net, gi, _inputs(x, rms[gi], g, args), m, eps, gen)
                    taken.append(a)
                    actions.update(g.to_env(a))
            obs, rewards, terms, _truncs, _infos = env.step(actions)
            enc = [g.encode(obs) for g in groups]
            for r, (x, _m) in zip(rms, enc):
                r.update(x)
            team_r = float(np.mean([rewards[a] for a in env.possible_agents]))
            ep_return += team_r
            terminated = all(terms.get(a, False) for a in env.possible_agents)
            state = _state(env, state_rms)
            buf.add(taken, team_r, terminated, [x for x, _ in enc], [m for _, m in enc], state)
            step += 1
            bar.update(1)
            if step < max(args.learning_starts, 1) or step % args.train_frequency:
                continue
            if updates == 0:
                r_mu, r_sd = reward_standardiser(buf.rewards())
            batch = _batch(buf, groups, rms, args, r_mu, r_sd, state_rms)
            loss = td_loss(net, target, batch, args.gamma, args.double_q, mixer, target_mixer)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(params, args.max_grad_norm)
            opt.step()
            updates += 1
            losses.append(float(loss.detach()))
            ep_losses += 1
            if updates % args.target_update_interval == 0:
                target.load_state_dict(net.state_dict())
                if mixer is not None:
                    target_mixer.load_state_dict(mixer.state_dict())
    bar.close()
    gmeta = [{**group_meta(g, 1, r), "heads": list(h), "in_dim": d}
             for g, r, h, d in zip(groups, rms, heads, in_dims)]
    if curve is not None:
        if not curve.points or curve.points[-1][0] < env.env_steps:
            curve.validate()  # the final network is a candidate too
        best_state, norm_states = curve.best  # type: ignore[misc]
        net.load_state_dict(best_state)  # the saved network is the best-validation one
        for m, st in zip(gmeta, norm_states):
            m["obs_norm"] = st
    meta = {"args": asdict(args), "agent_id": bool(args.agent_id),
            "groups": gmeta,
            "extra": {"updates": updates, "reward_standardiser": [r_mu, r_sd],
                      "final_td_loss": float(np.mean(losses[-200:])) if losses else None}}
    return meta, net.state_dict(), curve


def _state(env: TrainingEnv, state_rms: RunningMeanStd | None) -> np.ndarray | None:
    """The global state (float32) for the mixer, folded into its running statistics; None (and
    not computed) without a mixer."""
    if state_rms is None:
        return None
    s = np.clip(np.nan_to_num(env.state(), nan=0.0, posinf=1e6, neginf=-1e6), -1e6, 1e6)
    state_rms.update(s[None])
    return s


def _batch(buf: EpisodeReplay, groups: Sequence[AgentGroup], rms: Sequence[RunningMeanStd],
           args: Args, r_mu: float, r_sd: float, state_rms: RunningMeanStd | None = None
           ) -> dict[str, Any]:
    """A minibatch of joint transitions, agent-major, observations (and global states, for a
    mixer) normalised with the current running statistics."""
    e, t = buf.sample(args.batch_size)
    out: dict[str, Any] = {"x": [], "x_next": [], "a": [], "mask_next": []}
    for gi, g in enumerate(groups):
        out["x"].append(_inputs(buf.obs[gi][e, t].swapaxes(0, 1), rms[gi], g, args))
        out["x_next"].append(_inputs(buf.obs[gi][e, t + 1].swapaxes(0, 1), rms[gi], g, args))
        out["a"].append(torch.from_numpy(buf.act[gi][e, t].swapaxes(0, 1).astype(np.int64)))
        mask = buf.mask[gi]
        out["mask_next"].append(None if mask is None else
                                torch.from_numpy(np.ascontiguousarray(mask[e, t + 1].swapaxes(0, 1))))
    out["r"] = torch.as_tensor((buf.rew[e, t] - r_mu) / r_sd, dtype=torch.float32)
    out["term"] = torch.as_tensor(buf.term[e, t], dtype=torch.float32)
    if state_rms is not None:
        out["s"] = torch.from_numpy(state_rms.normalize(buf.state[e, t], args.obs_clip))
        out["s_next"] = torch.from_numpy(state_rms.normalize(buf.state[e, t + 1], args.obs_clip))
    return out


def _progress(total: int, enabled: bool, desc: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc=desc, unit="step", leave=False)


# ---------------------------------------------------------------------------------------------
# The evaluation policy
# ---------------------------------------------------------------------------------------------
class VDNPolicy(TrainedPolicy):
    """Greedy VDN agents from baselines/learners/checkpoints/vdn/ (trained by ``rao-bench train vdn``):
    every agent takes the argmax of its own utility (per action dimension), which is the argmax
    of Q_tot because the decomposition is additive."""

    algo = "vdn"
    info = PolicyInfo(name="vdn", version="1.0", paradigm="CTDE",
                      description="VDN (value-decomposition networks): Q_tot = sum of per-agent "
                                  "utilities, shared per agent group, factored heads for "
                                  "MultiDiscrete actions, Double-Q TD targets, epsilon-greedy "
                                  "exploration; greedy decentralised execution.",
                      url="https://arxiv.org/abs/1706.05296")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.tasks = tuple(t for t in cls.tasks if t in DISCRETE_TASKS)

    @classmethod
    def build_actor(cls, meta: Mapping[str, Any]) -> nn.Module:
        groups = meta["groups"]
        return UtilityNet([g["in_dim"] for g in groups], [g["heads"] for g in groups],
                          int(meta["args"]["hidden"]))


VDNPolicy.tasks = tuple(t for t in VDNPolicy.tasks if t in DISCRETE_TASKS)
