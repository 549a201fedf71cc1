"""QMIX: monotonic value-function factorisation for cooperative MARL with discrete actions (CTDE).

Rashid et al. 2018, "QMIX: Monotonic Value Function Factorisation for Deep Multi-Agent
Reinforcement Learning", https://arxiv.org/abs/1803.11485. VDN's sum (``baselines/learners/vdn.py``) is
replaced by a mixing network whose weights are produced from the global state ``s`` by
hypernetworks and kept non-negative, so that

    Q_tot(s, a) = w2(s)^T elu(W1(s)^T q + b1(s)) + V(s),   q = (Q_1(o_1, a_1), ..., Q_N(o_N, a_N)),
    W1(s) = |hyper_W1(s)| (N x embed),  w2(s) = |hyper_w2(s)| (embed),           (QMIX, Sec. 4)

is monotone in every agent's utility: dQ_tot / dQ_i >= 0. Monotonicity is what keeps execution
decentralised: the joint action of per-agent greedy choices maximises Q_tot (the IGM property),
while the mixer can weight agents and interact with the state in ways a plain sum cannot.

Everything else is VDN's, reused from ``baselines/learners/vdn.py``: the per-agent utility networks shared
per group (factored heads for MultiDiscrete, masked heads for Discrete), the replay buffer (here
it also stores ``TrainingEnv.state()``), the double-Q TD target with a target network (and a
target mixer), epsilon-greedy exploration, reward standardisation, the per-task discount
(``vdn.TASK_GAMMA``) and the declared budgets (``vdn.VDN_BUDGETS``). Only the agents' networks are
saved: the mixer is a training device, so a checkpoint runs at any agent count with the same
per-agent spaces, as VDN's does.

One simplification of the paper's hypernetworks: the four of them (W1, b1, w2, V) read one shared
ReLU embedding of the normalised state (``hypernet_hidden`` wide) instead of each its own first
layer; with spectrum's 2,359-dimensional k50 state this cuts the mixer's cost by ~3x.

Train: ``rao-bench train qmix TASK --seed 1``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from baselines.learners import vdn
from bench.policy import PolicyInfo


#: QMIX's default discount per task (VDN's table is vdn.TASK_GAMMA), chosen on validation seeds
#: from the TRAINING range: on compute n10 (30,000 steps) QMIX at VDN's gamma 0.95 and lr 5e-4
#: reached validation V 0.233; at gamma 0.8 and lr 1e-3, 0.600 (VDN's 0.595). Spectrum keeps
#: VDN's 0.5 (almost myopic reward; see vdn.TASK_GAMMA).
QMIX_GAMMA: dict[str, float] = {"compute/EdgeCluster-v1": 0.8, "spectrum/Interference-v1": 0.5,
                                "compute/EdgeCluster-v2": 0.8, "spectrum/Interference-v2": 0.5}  # v2: v1's


@dataclass
class Args(vdn.Args):
    """QMIX hyperparameters: VDN's (see baselines/learners/vdn.py) plus the mixing network's; ``gamma``
    None means QMIX_GAMMA's value for the task."""

    lr: float = 1e-3
    """Adam learning rate (VDN's 5e-4 learned the mixer too slowly within the budget)."""

    mixing_embed: int = 32
    """Width of the mixing network's hidden layer (the paper's 32)."""
    hypernet_hidden: int = 64
    """Width of the shared ReLU state embedding the hypernetworks read."""

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("mixing_embed", "hypernet_hidden"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"Args.{name} must be a positive integer, got {getattr(self, name)!r}")


class QMixer(nn.Module):
    """``Q_tot = mixer(q [B, N], s [B, state_dim]) -> [B]``, monotone in every entry of q."""

    def __init__(self, n_agents: int, state_dim: int, embed: int = 32, hidden: int = 64) -> None:
        super().__init__()
        self.n_agents, self.embed = int(n_agents), int(embed)
        self.state_embed = nn.Sequential(nn.Linear(state_dim, hidden), nn.ReLU())
        self.hyper_w1 = nn.Linear(hidden, self.n_agents * self.embed)
        self.hyper_b1 = nn.Linear(hidden, self.embed)
        self.hyper_w2 = nn.Linear(hidden, self.embed)
        self.hyper_v = nn.Sequential(nn.Linear(hidden, self.embed), nn.ReLU(), nn.Linear(self.embed, 1))

    @classmethod
    def from_args(cls, n_agents: int, state_dim: int, args: Args) -> "QMixer":
        return cls(n_agents, state_dim, args.mixing_embed, args.hypernet_hidden)

    def forward(self, q: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        if q.shape[-1] != self.n_agents:
            raise ValueError(f"mixer built for {self.n_agents} agents, got utilities of {q.shape[-1]}")
        h = self.state_embed(s)
        w1 = torch.abs(self.hyper_w1(h)).view(-1, self.n_agents, self.embed)
        b1 = self.hyper_b1(h).view(-1, 1, self.embed)
        hidden = nn.functional.elu(torch.bmm(q.view(-1, 1, self.n_agents), w1) + b1)
        w2 = torch.abs(self.hyper_w2(h)).view(-1, self.embed, 1)
        return (torch.bmm(hidden, w2).view(-1) + self.hyper_v(h).view(-1))


def train(task_id: str, args: Args, *, out_dir: Path | None = None, scales: list[str] | None = None,
          progress: bool = True) -> list[dict]:
    """Train QMIX on every scale ``scales_to_train`` names (or ``scales``); save checkpoints and
    training records under ``out_dir`` (default baselines/learners/checkpoints); return the records."""
    if not isinstance(args, Args):
        raise ValueError("qmix.train needs baselines.learners.qmix.Args (VDN's fields plus the mixer's)")
    if args.gamma is None and task_id in QMIX_GAMMA:
        args = replace(args, gamma=QMIX_GAMMA[task_id])
    return vdn.train(task_id, args, out_dir=out_dir, scales=scales, progress=progress, algo="qmix",
                     mixer_factory=QMixer.from_args)


class QMIXPolicy(vdn.VDNPolicy):
    """Greedy QMIX agents from baselines/learners/checkpoints/qmix/ (trained by ``rao-bench train qmix``):
    each agent takes the argmax of its own utility, which maximises the monotone Q_tot."""

    algo = "qmix"
    info = PolicyInfo(name="qmix", version="1.0", paradigm="CTDE",
                      description="QMIX: per-agent utilities (shared per agent group, factored heads "
                                  "for MultiDiscrete actions) mixed by a monotone network whose "
                                  "weights come from hypernetworks on the global state; Double-Q "
                                  "TD targets, epsilon-greedy exploration; greedy decentralised "
                                  "execution.",
                      url="https://arxiv.org/abs/1803.11485")
