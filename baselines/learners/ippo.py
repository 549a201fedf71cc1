"""IPPO: independent PPO learners, one per agent group (de Witt et al. 2020, arXiv:2011.09533).

Every agent runs PPO (Schulman et al. 2017, arXiv:1707.06347) on its own observation: an actor
pi(a | o_i) and a critic V(o_i), trained with

* GAE(lambda) advantages (Schulman et al. 2016, arXiv:1506.02438):
  ``A_t = sum_l (gamma lambda)^l delta_{t+l}``, ``delta_t = r_t + gamma V(o_{t+1}) - V(o_t)``;
* the clipped surrogate ``L = E[min(rho A, clip(rho, 1 - eps, 1 + eps) A)]``, rho the
  probability ratio of the new to the behaviour policy, advantages normalised per minibatch;
* a value loss on normalised returns (running mean/std of the GAE returns, as MAPPO's
  "ValueNorm"; Yu et al. 2022), because the tasks' rewards differ by orders of magnitude
  (Serial's reward is minus the period cost, ~-50 to -2000); optional value clipping;
* an entropy bonus, Adam with a linearly annealed learning rate, gradient-norm clipping, several
  epochs of minibatches over each rollout, running mean/std observation normalisation.

The horizon ends an episode by truncation; observations carry no clock, so the return is
bootstrapped there (r_T += gamma V(o_T); Pardo et al. 2018, "Time Limits in RL").

Parameters are shared within each agent group (agents with the same observation and action
spaces; ``baselines.learners.marl_common.agent_groups``), with the scale-free agent-id feature, so a network
trained at the nominal scale also runs at the other scales. ``share_parameters=False`` gives every
agent its own weights (batched matmuls, so 100+ agents stay cheap) and trains every scale.

Rollouts come from one task env, or, on a task with a vectorised engine (ThreeTier-v2), from
``num_envs`` episodes stepped at once (``bench.training.VectorTrainingEnv``); the loop is the same,
every rollout array carries an episode axis E ([N agents, T steps, E episodes]; E = 1 for one env).

Train: ``rao-bench train ippo TASK --seed 1`` (``--reward hyperscore`` for the founding paper's
HyperScore feedback loop, evaluated as ``ippo_hyperscore``). Everything env-side (training seeds,
budget, violation counts, the HyperScore reward) is the harness's ``bench.training.TrainingEnv``.
MAPPO (``baselines/learners/mappo.py``) reuses this file's training loop with a centralised critic.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from baselines.learners.curves import Curve, GreedyPolicy, StopRule, save_run
from baselines.learners.marl_common import (
    VECTOR_ENVS, AgentGroup, AgentMLP, BoxHead, RunningMeanStd, TrainedPolicy, agent_groups, budget_for,
    discount, group_meta, make_action_head, scales_to_train, seed_everything,
    training_command, validates,
)
from bench.policy import PolicyInfo
from bench.registry import get_spec
from bench.training import REWARDS, TrainingEnv, VectorTrainingEnv, has_vector_engine


@dataclass
class Args:
    """IPPO hyperparameters (defaults are the reference entries')."""

    seed: int = 1
    """run seed: network initialisation, action sampling, minibatch order and training-seed stream"""
    reward: str = "env"
    """'env' (the task's reward) or 'hyperscore' (the founding paper's HyperScore feedback loop)"""
    env_steps: int | None = None
    """env steps per trained scale; None = the task's declared budget (marl_common.BUDGETS)"""
    wall_time_s: float | None = None
    """wall-time cap per trained scale in seconds; None = the declared budget's"""
    share_parameters: bool = True
    """one network per agent group (True) or one per agent (False; then every scale is trained)"""
    agent_id: bool = True
    """append the scale-free agent-id feature (index in group / (group size - 1)) to observations"""
    hidden: int = 64
    """width of the two tanh hidden layers of actor and critic"""
    num_envs: int | None = None
    """episodes stepped at once through the task's vectorised engine (bench.training.
    VectorTrainingEnv); None = the task's default (marl_common.VECTOR_ENVS, else 1: the task env)"""
    rollout_steps: int | None = None
    """env steps per episode collected per PPO update (episodes continue across rollouts); None =
    256 on one env, the task's VECTOR_ENVS entry when vectorised"""
    update_epochs: int = 8
    """passes over each rollout"""
    num_minibatches: int = 4
    """minibatches per epoch; each holds rollout_steps / num_minibatches time steps of every agent"""
    lr: float = 3e-4
    """Adam learning rate (eps 1e-5)"""
    anneal_lr: bool = True
    """anneal the learning rate linearly to 0 over the budget"""
    gamma: float | None = None
    """discount per env step; None = the task's (marl_common.discount: 0.99, spectrum 0.9)"""
    gae_lambda: float = 0.95
    """GAE lambda"""
    clip_coef: float = 0.2
    """PPO ratio clip epsilon"""
    clip_vloss: bool = False
    """clip the value update to +-clip_coef around the behaviour value (normalised units)"""
    ent_coef: float = 0.01
    """entropy bonus of categorical (Discrete, MultiDiscrete) actions; mean per action dimension"""
    ent_coef_box: float = 0.0
    """entropy bonus of Gaussian (Box) actions; 0 as in CleanRL: a Gaussian's entropy is
    unbounded, and a bonus on it widens the policy wherever advantages are noisy"""
    vf_coef: float = 0.5
    """value-loss coefficient"""
    max_grad_norm: float = 0.5
    """gradient-norm clip, per agent group"""
    norm_adv: bool = True
    """normalise advantages per minibatch"""
    init_log_std: float = -0.5
    """initial log std of Gaussian (Box) actions, in units of half the box width"""
    box_squash: str = "clip"
    """Box action map from the Gaussian pre-activation: 'clip' or 'tanh' (marl_common.box_to_env)"""
    obs_clip: float = 10.0
    """normalised observations are clipped to +-obs_clip"""
    bootstrap_truncation: bool = True
    """bootstrap the value at the horizon (time-limit truncation) instead of treating it as terminal"""
    validate: bool | None = None
    """greedy validation on held-out training seeds (curves.StopRule): learning curve, the
    best-validation network is the one saved, and a plateau ends the run before the budget;
    None = on, except on the v1 tasks (marl_common.UNVALIDATED_TASKS)"""

    def __post_init__(self) -> None:
        if self.reward not in REWARDS:
            raise ValueError(f"reward must be one of {REWARDS}, got {self.reward!r}")
        if self.rollout_steps is not None and self.rollout_steps % self.num_minibatches:
            raise ValueError(f"rollout_steps ({self.rollout_steps}) must be a multiple of "
                             f"num_minibatches ({self.num_minibatches})")
        if self.box_squash not in ("clip", "tanh"):
            raise ValueError(f"box_squash must be 'clip' or 'tanh', got {self.box_squash!r}")


# ---------------------------------------------------------------------------------------------
# networks
# ---------------------------------------------------------------------------------------------
class Actor(nn.Module):
    """pi(a | o_i) per group: AgentMLP -> action head. Tensors are agent-major [N, B, ...]."""

    def __init__(self, groups: Sequence[Mapping[str, Any]], in_dims: Sequence[int], hidden: int,
                 init_log_std: float) -> None:
        super().__init__()
        self.heads = nn.ModuleList(make_action_head(g["action"], g["n_models"], init_log_std)
                                   for g in groups)
        self.nets = nn.ModuleList(AgentMLP(g["n_models"], d, [hidden, hidden], h.n_outputs,
                                           out_gain=0.01)
                                  for g, d, h in zip(groups, in_dims, self.heads))

    def dist(self, g: int, x: torch.Tensor, mask: torch.Tensor | None = None):
        return self.heads[g].dist(self.nets[g](x), mask)

    def greedy(self, g: int, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.dist(g, x, mask).mode()


class Critic(nn.Module):
    """V(o_i) per group, in normalised-return units. ``state`` is unused (IPPO is decentralised);
    the argument is there so MAPPO's centralised critic drops into the same training loop."""

    uses_state = False

    def __init__(self, groups: Sequence[Mapping[str, Any]], in_dims: Sequence[int], hidden: int,
                 state_dim: int = 0) -> None:
        super().__init__()
        self.nets = nn.ModuleList(AgentMLP(g["n_models"], d, [hidden, hidden], 1, out_gain=1.0)
                                  for g, d in zip(groups, in_dims))

    def forward(self, g: int, state: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
        return self.nets[g](x).squeeze(-1)


def actor_in_dims(groups: Sequence[Mapping[str, Any]], agent_id: bool) -> list[int]:
    return [int(g["obs_dim"]) + int(agent_id) for g in groups]


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------
CriticFactory = Callable[[Sequence[Mapping[str, Any]], Sequence[int], int, int], nn.Module]


def train(task_id: str, args: Args, *, out_dir: Path | None = None, scales: list[str] | None = None,
          progress: bool = True) -> list[dict]:
    """Train IPPO on every scale ``scales_to_train`` names (or ``scales``); save checkpoints and
    training records under ``out_dir`` (default baselines/learners/checkpoints); return the records."""
    algo = "ippo_hyperscore" if args.reward == "hyperscore" else "ippo"
    return train_ppo(task_id, args, algo=algo, cli_algo="ippo", critic_factory=Critic,
                     out_dir=out_dir, scales=scales, progress=progress)


def train_ppo(task_id: str, args: Any, *, algo: str, cli_algo: str, critic_factory: CriticFactory,
              out_dir: Path | None, scales: list[str] | None, progress: bool) -> list[dict]:
    """The PPO loop shared by IPPO and MAPPO (they differ only in the critic)."""
    budget = budget_for(task_id, args.env_steps, args.wall_time_s)
    todo = scales or scales_to_train(task_id, args.agent_id, args.share_parameters)
    command = training_command(cli_algo, task_id, args.seed, args.reward, args.env_steps)
    records = []
    validate = validates(task_id, getattr(args, "validate", None))
    args = resolve_rollout(task_id, args)
    for scale in todo:
        if args.num_envs > 1:  # B episodes at once through the task's vectorised engine
            env: Any = VectorTrainingEnv(task_id, num_envs=args.num_envs, seed=args.seed, budget=budget,
                                         scale=scale, reward=args.reward, holdout=validate)
        else:
            env = TrainingEnv(task_id, seed=args.seed, budget=budget, scale=scale, reward=args.reward,
                              holdout=validate)
        meta, actor_state, curve = _train_scale(env, args, critic_factory, progress, validate,
                                                desc=f"{algo} {task_id} {scale}")
        records.append(save_run(algo, env, curve, meta=meta, actor_state=actor_state,
                                command=command, root=out_dir))
    return records


def resolve_rollout(task_id: str, args: Any) -> Any:
    """``args`` with ``num_envs`` and ``rollout_steps`` resolved from the task's defaults
    (VECTOR_ENVS for tasks with a vectorised engine; one env and 256-step rollouts elsewhere)."""
    n_default, t_default = VECTOR_ENVS.get(get_spec(task_id).id, (1, 256))
    num_envs = n_default if args.num_envs is None else int(args.num_envs)
    if num_envs > 1 and not has_vector_engine(task_id):
        raise ValueError(f"num_envs={num_envs}: {task_id} has no vectorised engine "
                         "(bench.training.VECTOR_ENGINES); use num_envs=1")
    rollout = args.rollout_steps if args.rollout_steps is not None else (t_default if num_envs > 1 else 256)
    return dataclasses.replace(args, num_envs=num_envs, rollout_steps=int(rollout))


def _train_scale(env: Any, args: Any, critic_factory: CriticFactory, progress: bool,
                 validate: bool, desc: str) -> tuple[dict, dict, Curve | None]:
    gen, rng = seed_everything(args.seed)
    gamma = args.gamma if args.gamma is not None else discount(env.spec.id)
    groups: list[AgentGroup] = agent_groups(env)
    n_models = [1 if args.share_parameters else g.n_agents for g in groups]
    obs_rms = [RunningMeanStd(g.obs_dim) for g in groups]
    ret_rms = [RunningMeanStd(()) for _ in groups]
    gmeta = [group_meta(g, m, r) for g, m, r in zip(groups, n_models, obs_rms)]
    in_dims = actor_in_dims(gmeta, args.agent_id)
    actor = Actor(gmeta, in_dims, args.hidden, args.init_log_std)
    next_obs, _ = env.reset()  # the first training episode; also makes state() available
    state_dim = int(np.asarray(env.state()).reshape(getattr(env, "num_envs", 1), -1).shape[1])
    critic = critic_factory(gmeta, in_dims, args.hidden, state_dim)
    state_rms = RunningMeanStd(state_dim) if critic.uses_state else None
    params = list(actor.parameters()) + list(critic.parameters())
    optimizer = torch.optim.Adam(params, lr=args.lr, eps=1e-5)
    group_params = [list(actor.nets[i].parameters()) + list(actor.heads[i].parameters())
                    + list(critic.nets[i].parameters()) for i in range(len(groups))]

    ent_coef = [args.ent_coef_box if isinstance(h, BoxHead) else args.ent_coef for h in actor.heads]
    T = args.rollout_steps
    E = getattr(env, "num_envs", 1)  # episodes stepped at once (a VectorTrainingEnv's batch)
    n_groups = len(groups)
    # rollout storage (numpy: cheap per-step writes), agent-major per group: [N, T, E, ...]
    X = [np.zeros((g.n_agents, T, E, d), np.float32) for g, d in zip(groups, in_dims)]
    M = [None if g.mask_dim is None else np.zeros((g.n_agents, T, E, g.mask_dim), bool) for g in groups]
    A = [np.zeros((g.n_agents, T, E, *actor.heads[i].raw_shape),
                  np.float32 if actor.heads[i].raw_dtype.is_floating_point else np.int64)
         for i, g in enumerate(groups)]
    LOGP = [np.zeros((g.n_agents, T, E), np.float32) for g in groups]
    VAL = [np.zeros((g.n_agents, T, E), np.float64) for g in groups]  # raw (denormalised) values
    REW = [np.zeros((g.n_agents, T, E), np.float64) for g in groups]
    DONE = np.zeros(T, np.float64)  # the E episodes start and end together
    S = np.zeros((T, E, state_dim), np.float32) if state_rms is not None else None

    def observe(obs: Mapping[str, Any], update: bool):
        """Per group: (actor input [N, E, in], mask [N, E, m] | None) as numpy; the normalised
        state [E, S]. One env's observations are a batch of E = 1."""
        out = []
        for i, g in enumerate(groups):
            if E == 1:
                x, mask = g.encode(obs)
                x, mask = x[:, None], None if mask is None else mask[:, None]
            else:
                x, mask = g.encode_batch(obs)
            if update:
                obs_rms[i].update(x.reshape(-1, x.shape[-1]))
            x = obs_rms[i].normalize(x, args.obs_clip)
            if args.agent_id:
                x = np.concatenate([x, np.broadcast_to(g.agent_ids()[:, None], (*x.shape[:2], 1))], axis=2)
            out.append((x, mask))
        s = None
        if state_rms is not None:
            raw = env.state().reshape(E, -1)
            if update:
                state_rms.update(raw)
            s = state_rms.normalize(raw, args.obs_clip)
        return out, s

    def value_raw(i: int, s: np.ndarray | None, x: np.ndarray) -> np.ndarray:
        """Critic value of group i's agents [N, E] in reward units (ValueNorm undone)."""
        v = critic(i, None if s is None else torch.from_numpy(s), torch.from_numpy(x))
        return v.numpy().astype(np.float64) * float(ret_rms[i].std) + float(ret_rms[i].mean)

    def to_env(g: AgentGroup, raw: np.ndarray) -> dict[str, Any]:
        """Raw actions [N, E, ...] in the env's format."""
        return g.to_env(raw[:, 0], args.box_squash) if E == 1 else g.to_env_batch(raw, args.box_squash)

    episode_returns: list[float] = []  # learning curve: mean over agents of each episode's return
    curve = None
    if validate:
        curve = Curve(env, StopRule(), GreedyPolicy(groups, actor, obs_rms, args.agent_id, args.obs_clip,
                                                     lambda g, raw: g.to_env(raw, args.box_squash)))
    ep_return = np.zeros(E)
    bar = _progress(env.budget.env_steps, progress, desc)
    while not env.exhausted():
        if args.anneal_lr:
            frac = max(0.0, 1.0 - env.env_steps / env.budget.env_steps)
            for pg in optimizer.param_groups:
                pg["lr"] = frac * args.lr
        # -- collect a rollout -------------------------------------------------------------
        with torch.no_grad():
            for t in range(T):
                feats, s = observe(next_obs, update=True)
                if S is not None:
                    S[t] = s
                actions: dict[str, Any] = {}
                for i, g in enumerate(groups):
                    x, mask = feats[i]
                    d = actor.dist(i, torch.from_numpy(x), None if mask is None else torch.from_numpy(mask))
                    a = d.sample(gen)
                    LOGP[i][:, t] = d.log_prob(a).numpy()
                    a = a.numpy()
                    X[i][:, t] = x
                    if mask is not None:
                        M[i][:, t] = mask
                    A[i][:, t] = a
                    VAL[i][:, t] = value_raw(i, s, x)
                    actions.update(to_env(g, a))
                next_obs, rewards, terms, _, _ = env.step(actions)
                for i, g in enumerate(groups):
                    REW[i][:, t] = np.reshape([rewards[a] for a in g.agents], (g.n_agents, E))
                ep_return += (sum(rewards.values()) / len(rewards)) if E == 1 else \
                    np.mean([rewards[a] for a in rewards], axis=0)
                done = not env.agents
                DONE[t] = float(done)
                if done:
                    episode_returns.extend(float(r) for r in ep_return)
                    ep_return = np.zeros(E)
                    if args.bootstrap_truncation and not any(np.any(v) for v in terms.values()):
                        feats, s = observe(next_obs, update=False)
                        for i in range(n_groups):
                            REW[i][:, t] += gamma * value_raw(i, s, feats[i][0])
                    next_obs, _ = env.reset()
            feats, s = observe(next_obs, update=False)
            last_v = [value_raw(i, s, feats[i][0]) for i in range(n_groups)]
        bar.update(T * E)
        if episode_returns:
            bar.set_postfix(episode_return=f"{np.mean(episode_returns[-10:]):.4g}", refresh=False)

        # -- GAE(lambda) in reward units, then return targets normalised by their running stats --
        ADV, RET_N, VAL_N = [], [], []
        for i in range(n_groups):
            adv = np.zeros_like(REW[i])
            gae = np.zeros((groups[i].n_agents, E))
            for t in reversed(range(T)):
                nonterminal = 1.0 - DONE[t]
                next_v = last_v[i] if t == T - 1 else VAL[i][:, t + 1]
                delta = REW[i][:, t] + gamma * next_v * nonterminal - VAL[i][:, t]
                gae = delta + gamma * args.gae_lambda * nonterminal * gae
                adv[:, t] = gae
            ret = adv + VAL[i]
            ret_rms[i].update(ret.ravel())
            mean, std = float(ret_rms[i].mean), float(ret_rms[i].std)
            n = groups[i].n_agents  # the update's batch axis: T x E samples, time-major
            ADV.append(torch.from_numpy(adv.reshape(n, T * E).astype(np.float32)))
            RET_N.append(torch.from_numpy(((ret - mean) / std).reshape(n, T * E).astype(np.float32)))
            VAL_N.append(torch.from_numpy(((VAL[i] - mean) / std).reshape(n, T * E).astype(np.float32)))
        Xt = [torch.from_numpy(x.reshape(x.shape[0], T * E, *x.shape[3:])) for x in X]
        Mt = [None if m is None else torch.from_numpy(m.reshape(m.shape[0], T * E, -1)) for m in M]
        At = [torch.from_numpy(a.reshape(a.shape[0], T * E, *a.shape[3:])) for a in A]
        LOGPt = [torch.from_numpy(lp.reshape(lp.shape[0], T * E)) for lp in LOGP]
        St = None if S is None else torch.from_numpy(S.reshape(T * E, -1))

        # -- PPO epochs over minibatches of time steps (every agent of the step) ---------------
        mb = T * E // args.num_minibatches
        diag = {"approx_kl": 0.0, "clipfrac": 0.0, "entropy": 0.0, "value_loss": 0.0, "policy_loss": 0.0}
        n_diag = 0
        for _ in range(args.update_epochs):
            order = torch.from_numpy(rng.permutation(T * E))
            for k in range(args.num_minibatches):
                idx = order[k * mb:(k + 1) * mb]
                s_mb = None if St is None else St[idx]
                loss = torch.zeros(())
                for i in range(n_groups):
                    x = Xt[i][:, idx]
                    mask = None if Mt[i] is None else Mt[i][:, idx]
                    d = actor.dist(i, x, mask)
                    logp = d.log_prob(At[i][:, idx])
                    ratio = (logp - LOGPt[i][:, idx]).exp()
                    adv = ADV[i][:, idx]
                    if args.norm_adv:
                        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                    pg_loss = torch.max(-adv * ratio,
                                        -adv * ratio.clamp(1 - args.clip_coef, 1 + args.clip_coef)).mean()
                    v = critic(i, s_mb, x)
                    target = RET_N[i][:, idx]
                    if args.clip_vloss:
                        v_old = VAL_N[i][:, idx]
                        v_clip = v_old + (v - v_old).clamp(-args.clip_coef, args.clip_coef)
                        v_loss = 0.5 * torch.max((v - target) ** 2, (v_clip - target) ** 2).mean()
                    else:
                        v_loss = 0.5 * ((v - target) ** 2).mean()
                    entropy = d.entropy().mean()
                    loss = loss + pg_loss - ent_coef[i] * entropy + args.vf_coef * v_loss
                    with torch.no_grad():  # diagnostics (CleanRL's): KL estimate k3, clip fraction
                        logratio = logp - LOGPt[i][:, idx]
                        diag["approx_kl"] += float(((logratio.exp() - 1) - logratio).mean())
                        diag["clipfrac"] += float(((ratio - 1.0).abs() > args.clip_coef).float().mean())
                        diag["entropy"] += float(entropy)
                        diag["value_loss"] += float(v_loss)
                        diag["policy_loss"] += float(pg_loss)
                        n_diag += 1
                optimizer.zero_grad()
                loss.backward()
                for p in group_params:
                    nn.utils.clip_grad_norm_(p, args.max_grad_norm)
                optimizer.step()
        if curve is not None:
            ret_all = np.concatenate([(ADV[i].numpy() + VAL[i].reshape(ADV[i].shape)).ravel()
                                      for i in range(n_groups)])
            val_all = np.concatenate([VAL[i].ravel() for i in range(n_groups)])
            var = float(np.var(ret_all))
            curve.log(train_return=float(np.mean(episode_returns[-10:])) if episode_returns else float("nan"),
                      lr=float(optimizer.param_groups[0]["lr"]),
                      explained_variance=1.0 - float(np.var(ret_all - val_all)) / var if var > 0 else float("nan"),
                      **{k: v / max(n_diag, 1) for k, v in diag.items()})
            if curve.due():
                curve.validate()
    bar.close()

    norm_states = [r.state() for r in obs_rms]  # final normaliser statistics
    if curve is not None:
        if not curve.points or curve.points[-1][0] < env.env_steps:
            curve.validate()  # the final network is a candidate too
        best_state, norm_states = curve.best  # type: ignore[misc]
        actor.load_state_dict(best_state)  # the saved network is the best-validation one
    for i, m in enumerate(gmeta):
        m["obs_norm"] = norm_states[i]
    meta = {"args": dataclasses.asdict(args), "gamma": gamma, "agent_id": bool(args.agent_id),
            "box_squash": args.box_squash, "groups": gmeta,
            "budget": {"env_steps": env.budget.env_steps, "wall_time_s": env.budget.wall_time_s},
            "extra": {"episode_returns": [float(f"{r:.6g}") for r in episode_returns],
                      "return_norm": [r.state() for r in ret_rms],
                      "state_norm": state_rms.state() if state_rms is not None else None}}
    return meta, actor.state_dict(), curve


def _progress(total: int, enabled: bool, desc: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc=desc, unit="step", leave=False)


# ---------------------------------------------------------------------------------------------
# evaluation policies
# ---------------------------------------------------------------------------------------------
class IPPOPolicy(TrainedPolicy):
    """Greedy IPPO actor from baselines/learners/checkpoints/ippo/ (trained by ``rao-bench train ippo``)."""

    algo = "ippo"
    info = PolicyInfo(name="ippo", version="1.0", paradigm="DTDE",
                      description="Independent PPO, parameters shared per agent group with an agent-id "
                                  "feature; GAE, clipped surrogate, value and observation "
                                  "normalisation; trained on training seeds within a declared budget.",
                      url="https://arxiv.org/abs/2011.09533")

    @classmethod
    def build_actor(cls, meta: Mapping[str, Any]) -> nn.Module:
        groups = meta["groups"]
        return Actor(groups, actor_in_dims(groups, meta["agent_id"]), meta["args"]["hidden"],
                     meta["args"]["init_log_std"])


class IPPOHyperScorePolicy(IPPOPolicy):
    """IPPO trained on the founding paper's HyperScore feedback reward (the ablation of IPPO)."""

    algo = "ippo_hyperscore"
    info = PolicyInfo(name="ippo_hyperscore", version="1.0", paradigm="DTDE",
                      description="IPPO trained with the founding paper's HyperScore feedback loop as "
                                  "reward (a rolling-window HyperScore of the task's KPIs) instead of "
                                  "the env reward.",
                      url="https://arxiv.org/abs/2011.09533")
