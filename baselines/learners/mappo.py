"""MAPPO: PPO actors on local observations with a centralised critic (Yu et al. 2022,
"The Surprising Effectiveness of PPO in Cooperative Multi-Agent Games", arXiv:2103.01955).

Centralised training, decentralised execution (CTDE): each agent's actor pi(a | o_i) is IPPO's
(``baselines/learners/ippo.py``: same network, action heads, observation normalisation), and so is the PPO
update (GAE(lambda), clipped surrogate, value normalisation, entropy bonus, gradient clipping,
minibatch epochs). Only the critic differs: during training it sees the env's global state
``s = TrainingEnv.state()`` (running mean/std normalised) and estimates

    V(s, id_i, o_i)   — the paper's "agent-specific global state" when ``critic_obs`` is True,
    V(s, id_i)        — the plain global state (plus the agent-id feature) otherwise,

one critic per agent group. The first layer is split as ``W_s s + W_l [o_i, id_i]`` (the same
function as a linear layer on the concatenation), so the state, which every agent of a step shares,
is stored once per step rather than once per agent. At evaluation only the actor runs, on local
observations; the checkpoint holds the actor alone.

Train: ``rao-bench train mappo TASK --seed 1``. Env-side matters (training seeds, budget,
violation counts) belong to ``bench.training.TrainingEnv``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from baselines.learners import ippo
from baselines.learners.ippo import train_ppo
from baselines.learners.marl_common import AgentLinear, AgentMLP
from bench.policy import PolicyInfo


@dataclass
class Args(ippo.Args):
    """MAPPO hyperparameters: IPPO's (see baselines/learners/ippo.py) plus the critic's input."""

    critic_obs: bool = True
    """feed the critic the agent's own observation besides the global state and agent id"""


# ---------------------------------------------------------------------------------------------
# networks: the actor is ippo.Actor; the centralised critic
# ---------------------------------------------------------------------------------------------
class GroupCentralCritic(nn.Module):
    """V(s, local_i) for one group: tanh(W_s s + W_l local_i + b) -> tanh MLP -> scalar."""

    def __init__(self, n_models: int, state_dim: int, local_dim: int, hidden: int) -> None:
        super().__init__()
        self.state_in = nn.Linear(state_dim, hidden)  # shared by the group's agents
        nn.init.orthogonal_(self.state_in.weight, math.sqrt(2))
        nn.init.zeros_(self.state_in.bias)
        self.local_in = AgentLinear(n_models, local_dim, hidden) if local_dim else None
        self.body = AgentMLP(n_models, hidden, [hidden], 1, out_gain=1.0)

    def forward(self, state: torch.Tensor, local: torch.Tensor | None, n_agents: int) -> torch.Tensor:
        h = self.state_in(state)[None]  # [1, B, hidden]: computed once, shared by the N agents
        if self.local_in is not None:
            h = h + self.local_in(local)  # [N, B, hidden]
        return self.body(torch.tanh(h).expand(n_agents, -1, -1)).squeeze(-1)  # [N, B]


class CentralCritic(nn.Module):
    """One GroupCentralCritic per agent group; ``forward(g, state [B, S], x [N, B, in])`` returns
    values [N, B] in normalised-return units (x is the actor's input: observation, then id)."""

    uses_state = True

    def __init__(self, groups: Sequence[Mapping[str, Any]], in_dims: Sequence[int], hidden: int,
                 state_dim: int, *, critic_obs: bool, agent_id: bool) -> None:
        super().__init__()
        self.critic_obs, self.agent_id = critic_obs, agent_id
        local_dims = [d if critic_obs else int(agent_id) for d in in_dims]
        self.nets = nn.ModuleList(GroupCentralCritic(g["n_models"], state_dim, ld, hidden)
                                  for g, ld in zip(groups, local_dims))

    def forward(self, g: int, state: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        local = x if self.critic_obs else (x[..., -1:] if self.agent_id else None)
        return self.nets[g](state, local, x.shape[0])


# ---------------------------------------------------------------------------------------------
# training: IPPO's PPO loop with the centralised critic
# ---------------------------------------------------------------------------------------------
def train(task_id: str, args: Args, *, out_dir: Path | None = None, scales: list[str] | None = None,
          progress: bool = True) -> list[dict]:
    """Train MAPPO on every scale ``scales_to_train`` names (or ``scales``); save checkpoints and
    training records under ``out_dir`` (default baselines/learners/checkpoints); return the records."""
    algo = "mappo_hyperscore" if args.reward == "hyperscore" else "mappo"

    def critic_factory(groups: Sequence[Mapping[str, Any]], in_dims: Sequence[int], hidden: int,
                       state_dim: int) -> CentralCritic:
        return CentralCritic(groups, in_dims, hidden, state_dim, critic_obs=args.critic_obs,
                             agent_id=args.agent_id)

    return train_ppo(task_id, args, algo=algo, cli_algo="mappo", critic_factory=critic_factory,
                     out_dir=out_dir, scales=scales, progress=progress)


# ---------------------------------------------------------------------------------------------
# evaluation policy
# ---------------------------------------------------------------------------------------------
class MAPPOPolicy(ippo.IPPOPolicy):
    """Greedy MAPPO actor from baselines/learners/checkpoints/mappo/ (``rao-bench train mappo``); the
    actor is IPPO's (only the critic, which is not kept, differs), so is its construction."""

    algo = "mappo"
    info = PolicyInfo(name="mappo", version="1.0", paradigm="CTDE",
                      description="MAPPO: PPO actors on local observations (shared per agent group, "
                                  "agent-id feature) with a centralised critic on the global state; "
                                  "trained on training seeds within a declared budget.",
                      url="https://arxiv.org/abs/2103.01955")
