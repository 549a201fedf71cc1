"""TorchRL and BenchMARL on RAO-Bench tasks (optional ``[benchmarl]`` extra; docs/learners.md).

Why here: BenchMARL trains on TorchRL envs it builds itself; to count what it spends and breaks,
those envs must be the harness's :class:`bench.training.TrainingEnv` (training seeds only, one
budget, the violation ledger). This module

* wraps a training env as a TorchRL env (``torchrl.envs.PettingZooWrapper``, global state
  included) — :func:`torchrl_env`;
* makes a BenchMARL task whose every env comes from the harness's ``make_env`` — :class:`RaoTask`;
* offers BenchMARL's MAPPO as an outside learner with the documented signature, so that it runs
  through ``rao-bench train bench.torchrl_adapter:train_mappo TASK --env-steps N``
  (:func:`train_mappo`): BenchMARL's own configuration, its frame budget set to the harness's;
* evaluates what it trained through ``rao-bench evaluate TASK --policy
  bench.torchrl_adapter:BenchmarlPolicy --checkpoint-dir DIR`` (:class:`BenchmarlPolicy`): the
  greedy actor exported at the end of training, played on local observations only.

BenchMARL resets envs without a seed, so each episode draws the next training seed of the run;
TorchRL's ``set_seed`` passes an explicit seed, which the training env accepts only from the
task's training range. Checked by ``tests/test_torchrl_adapter.py`` (skipped without the extra).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
from benchmarl.environments.pettingzoo.common import PettingZooClass
from gymnasium import spaces
from torchrl.envs import EnvBase, PettingZooWrapper

from bench.policy import PolicyInfo
from bench.training import TrainingEnv

#: the file :func:`train_mappo` writes under ``out_dir`` and :class:`BenchmarlPolicy` reads
ACTOR_FILE = "benchmarl_actor.pt"


def torchrl_env(env: TrainingEnv, device: str = "cpu") -> EnvBase:
    """``env`` as a TorchRL env: one group per PettingZoo agent-name prefix (TorchRL's default),
    the global ``state()`` under ``"state"``, action masks where the task has them."""
    masked = any(isinstance(env.observation_space(a), spaces.Dict) for a in env.possible_agents)
    return PettingZooWrapper(env=env, return_state=True, use_mask=masked, categorical_actions=True,
                             device=device)


def symlog(x: torch.Tensor) -> torch.Tensor:
    """sign(x) log(1 + |x|): a stateless squash of unbounded observations (inventories of
    thousands of units saturate a tanh network's first layer; Hafner et al. 2023, DreamerV3)."""
    return torch.sign(x) * torch.log1p(x.abs())


def _symlog_transform(keys: list) -> Any:
    from torchrl.envs.transforms import Transform

    class SymLog(Transform):
        """:func:`symlog` on ``keys`` (monotone, 0 -> 0: the specs' bounds stay valid)."""

        def _apply_transform(self, obs: torch.Tensor) -> torch.Tensor:
            return symlog(obs)

        def _reset(self, tensordict: Any, tensordict_reset: Any) -> Any:
            return self._call(tensordict_reset)

    return SymLog(in_keys=keys, out_keys=keys)


def _action_kind(env: TrainingEnv) -> str:
    kinds = {type(env.action_space(a)) for a in env.possible_agents}
    if kinds <= {spaces.Box}:
        return "continuous"
    if kinds <= {spaces.Discrete, spaces.MultiDiscrete}:
        return "discrete"
    raise ValueError(f"{env.spec.id}: mixed action spaces {sorted(k.__name__ for k in kinds)} are "
                     "not supported by the BenchMARL adapter")


class RaoTask(PettingZooClass):
    """A BenchMARL task on one RAO-Bench task cell; every env it builds is ``make_env()``'s (so on
    the harness's run). Specs come from TorchRL's PettingZoo wrapper, as for BenchMARL's own
    PettingZoo tasks."""

    def __init__(self, make_env: Callable[[], TrainingEnv], reward_scale: float | None = None,
                 obs_symlog: bool = False) -> None:
        self._make_env = make_env
        self._reward_scale = reward_scale
        self._obs_symlog = bool(obs_symlog)
        self._probe = self._spare = make_env()
        super().__init__(name=self._probe.spec.id.replace("/", "_").upper(), config={})
        self._kind = _action_kind(self._probe)
        self._horizon = self._probe.horizon

    def __deepcopy__(self, memo: dict) -> "RaoTask":
        return self  # BenchMARL copies its task; the copy must stay on the same run

    def __getstate__(self) -> dict[str, Any]:
        # BenchMARL pickles its task beside the checkpoint (for resuming): the harness's envs
        # cannot go along (they count this run's budget), so a reloaded task builds no env
        return {"name": self.name, "config": self.config, "_kind": self._kind,
                "_horizon": self._horizon, "_reward_scale": self._reward_scale,
                "_obs_symlog": self._obs_symlog,
                "_make_env": None, "_probe": None, "_spare": None}

    def get_env_fun(self, num_envs: int, continuous_actions: bool, seed: int | None,
                    device: Any) -> Callable[[], EnvBase]:
        def build() -> EnvBase:
            if self._make_env is None:
                raise RuntimeError("a RaoTask reloaded from a pickle has no harness to build envs "
                                   "from; train again through rao-bench train")
            # the probe serves as the first env built (once: two TorchRL envs must not share one)
            env, self._spare = (self._spare, None) if self._spare is not None else (self._make_env(), None)
            return torchrl_env(env, device=str(device))

        return build

    def supports_continuous_actions(self) -> bool:
        return self._kind == "continuous"

    def supports_discrete_actions(self) -> bool:
        return self._kind == "discrete"

    def has_state(self) -> bool:
        return True

    def get_env_transforms(self, env: EnvBase) -> list:
        """Rewards x ``reward_scale`` when one is set, :func:`symlog` on every group's observation
        and the state with ``obs_symlog`` (what the learner sees; the harness's ledger and the
        task's score are untouched)."""
        out: list = []
        if self._reward_scale is not None:
            from torchrl.envs import RewardScaling

            keys = list(env.reward_keys)
            out.append(RewardScaling(loc=0.0, scale=float(self._reward_scale), in_keys=keys,
                                     out_keys=keys))
        if self._obs_symlog:
            keys = [k for k in env.observation_spec.keys(True, True)
                    if k == "state" or (isinstance(k, tuple) and k[-1] == "observation")]
            out.append(_symlog_transform(keys))
        return out

    def has_render(self, env: EnvBase) -> bool:
        return False

    def max_steps(self, env: EnvBase) -> int:
        return self._horizon


def train_mappo(make_env: Callable[[], TrainingEnv], out_dir: Path, seed: int, *,
                frames_per_batch: int | None = None, n_envs: int = 2,
                overrides: dict[str, Any] | None = None, algorithm: dict[str, Any] | None = None,
                num_cells: list[int] | None = None, reward_scale: float | None = None,
                obs_symlog: bool = False, normalize_advantage: bool = False,
                num_threads: int | None = 1, run: bool = True) -> Any:
    """BenchMARL's MAPPO (its YAML defaults, MLP actor and critic) on the harness's envs, for
    exactly the run's env-step budget: ``max_n_frames`` = the budget, collected
    ``frames_per_batch`` at a time (default: two episodes per env) from ``n_envs`` envs of the
    run (frames are env steps: one per env and step, as the harness counts them); no evaluation rollouts (they would spend training steps), no loggers, the final
    checkpoint under ``out_dir``, and the greedy actor :class:`BenchmarlPolicy` plays
    (``out_dir/benchmarl_actor.pt``). ``overrides`` sets further ``ExperimentConfig`` fields,
    ``algorithm`` further ``MappoConfig`` fields, ``num_cells`` the hidden layer widths of actor
    and critic (BenchMARL's default: 256, 256); ``reward_scale`` multiplies the rewards the
    learner sees (BenchMARL normalises neither rewards nor advantages); ``obs_symlog`` squashes
    observations and state with :func:`symlog` (BenchMARL does not normalise them; the exported
    actor applies it too); ``normalize_advantage`` standardises advantages per minibatch
    (TorchRL's ``ClipPPOLoss`` option, which BenchMARL's MAPPO leaves off). ``num_threads`` caps torch's intra-op threads
    (1, as the reference learners: one core per run; None leaves torch's default). Returns the
    BenchMARL ``Experiment`` (its ``policy`` is the trained actor); with ``run=False`` it is built
    but not trained yet (``experiment.run()`` trains it; then call :func:`export_actor`)."""
    from benchmarl.algorithms import MappoConfig
    from benchmarl.experiment import Experiment, ExperimentConfig
    from benchmarl.models.mlp import MlpConfig

    if num_threads:
        torch.set_num_threads(int(num_threads))
    task = RaoTask(make_env, reward_scale=reward_scale, obs_symlog=obs_symlog)
    budget = task._probe.steps_left
    per_batch = int(frames_per_batch or 2 * n_envs * task._horizon)
    cfg = ExperimentConfig.get_from_yaml()
    cfg.sampling_device = cfg.train_device = cfg.buffer_device = "cpu"
    cfg.max_n_frames = budget // per_batch * per_batch   # whole batches within the budget
    cfg.max_n_iters = None
    cfg.on_policy_collected_frames_per_batch = per_batch
    cfg.on_policy_n_envs_per_worker = int(n_envs)
    cfg.on_policy_minibatch_size = min(cfg.on_policy_minibatch_size, per_batch)
    cfg.evaluation = False
    cfg.render = False
    cfg.loggers = []
    cfg.create_json = False
    cfg.save_folder = str(Path(out_dir))
    cfg.checkpoint_interval = 0
    cfg.checkpoint_at_end = True
    cfg.keep_checkpoints_num = 1
    for key, value in (overrides or {}).items():
        setattr(cfg, key, value)
    if cfg.max_n_frames < per_batch:
        raise ValueError(f"budget of {budget} env steps is below one batch of {per_batch} frames; "
                         "raise --env-steps or pass a smaller frames_per_batch")
    algo_cfg = MappoConfig.get_from_yaml()
    for key, value in (algorithm or {}).items():
        setattr(algo_cfg, key, value)
    model_cfg = MlpConfig.get_from_yaml()
    if num_cells is not None:
        model_cfg.num_cells = [int(n) for n in num_cells]
    experiment = Experiment(task=task, algorithm_config=algo_cfg, model_config=model_cfg,
                            critic_model_config=copy.deepcopy(model_cfg),
                            seed=int(seed), config=cfg)
    if normalize_advantage:
        for loss in experiment.losses.values():
            loss.normalize_advantage = True
    if run:
        experiment.run()
        export_actor(experiment, Path(out_dir) / ACTOR_FILE)
    return experiment


#: Our MAPPO's PPO settings (baselines/learners/ippo.py ``Args`` defaults) where BenchMARL has
#: the same knob: one env, 256-step rollouts, 8 epochs of 4 minibatches, Adam 3e-4 (eps 1e-5),
#: GAE lambda 0.95, value-loss weight 0.5, grad-norm clip 0.5, two hidden layers of 64. What it
#: cannot match (observation, return and advantage normalisation, learning-rate annealing, the
#: agent-id feature, the clipped Gaussian) is listed in docs/benchmarl_crosscheck.md.
MATCHED_TO_OURS: dict[str, Any] = {
    "frames_per_batch": 256, "n_envs": 1, "num_cells": [64, 64],
    "overrides": {"on_policy_n_minibatch_iters": 8, "on_policy_minibatch_size": 64, "lr": 3e-4,
                  "adam_eps": 1e-5, "clip_grad_norm": True, "clip_grad_val": 0.5, "gamma": 0.99},
    "algorithm": {"lmbda": 0.95, "critic_coef": 0.5, "clip_epsilon": 0.2, "entropy_coef": 0.0},
}


def train_mappo_defaults(make_env: Callable[[], TrainingEnv], out_dir: Path, seed: int) -> Any:
    """BenchMARL's MAPPO with every YAML default, its 6000-frame batches from 10 envs included
    (the budget must hold at least one batch)."""
    return train_mappo(make_env, out_dir, seed, frames_per_batch=6000, n_envs=10)


def train_mappo_matched(make_env: Callable[[], TrainingEnv], out_dir: Path, seed: int) -> Any:
    """BenchMARL's MAPPO with our MAPPO's settings where it has them (:data:`MATCHED_TO_OURS`)."""
    return train_mappo(make_env, out_dir, seed, **copy.deepcopy(MATCHED_TO_OURS))


def train_mappo_matched_scaled(make_env: Callable[[], TrainingEnv], out_dir: Path, seed: int) -> Any:
    """:func:`train_mappo_matched` on rewards x 1e-3: our MAPPO normalises returns and advantages,
    BenchMARL neither, and Serial's per-period team cost runs from ~50 (optimal) to thousands
    (an untrained policy); x 1e-3 brings per-step rewards to order 0.1-1."""
    return train_mappo(make_env, out_dir, seed, reward_scale=1e-3, **copy.deepcopy(MATCHED_TO_OURS))


def train_mappo_matched_symlog(make_env: Callable[[], TrainingEnv], out_dir: Path, seed: int) -> Any:
    """:func:`train_mappo_matched_scaled` on :func:`symlog` observations and state: a stateless
    stand-in for our running observation normalisation (unnormalised inventories saturate the
    tanh actor, which then orders the maximum every period)."""
    return train_mappo(make_env, out_dir, seed, reward_scale=1e-3, obs_symlog=True,
                       **copy.deepcopy(MATCHED_TO_OURS))


def train_mappo_matched_normalised(make_env: Callable[[], TrainingEnv], out_dir: Path,
                                   seed: int) -> Any:
    """:func:`train_mappo_matched_symlog` with advantages standardised per minibatch, as ours: all
    three of our normalisations (observations, returns, advantages) have a stand-in."""
    return train_mappo(make_env, out_dir, seed, reward_scale=1e-3, obs_symlog=True,
                       normalize_advantage=True, **copy.deepcopy(MATCHED_TO_OURS))


# ---------------------------------------------------------------------------------------------
# evaluation: the trained actor, outside BenchMARL
# ---------------------------------------------------------------------------------------------
def _group_of(agent: str) -> str:
    """TorchRL's default PettingZoo grouping (``PettingZooWrapper._get_default_group_map``):
    ``name_<int>`` joins group ``name``; any other name is a group of its own."""
    head, _, tail = agent.rpartition("_")
    return head if head and tail.lstrip("-").isdigit() else agent


def export_actor(experiment: Any, path: Path) -> dict[str, Any]:
    """Write the greedy actor of a trained MAPPO ``experiment`` to ``path``: per agent group the
    shared MLP's weights and sizes, the action kind and bounds. Why not BenchMARL's checkpoint:
    that one rebuilds the whole experiment (envs included) and fixes the number of agents, while
    the evaluation plays every scale of the task with the same shared network."""
    from torchrl.modules import MLP

    groups = {}
    for group, agents in experiment.group_map.items():
        actor = experiment.group_policies[group]
        if list(actor.in_keys) != [(group, "observation")]:
            raise ValueError(f"group {group!r}: the actor reads {actor.in_keys}; export_actor "
                             "supports actors on (group, 'observation') alone")
        model = actor.module[0].module[0] if experiment.algorithm.action_spec[group, "action"] \
            .domain == "continuous" else actor.module[0]
        mam = model.mlp
        if not mam.share_params or mam.centralized:
            raise ValueError(f"group {group!r}: export_actor needs a decentralised actor shared "
                             "by the group (share_policy_params=True)")
        net = mam._empty_net
        if not isinstance(net, MLP) or not all(isinstance(m, (torch.nn.Linear, torch.nn.Tanh))
                                               for m in net):
            raise ValueError(f"group {group!r}: export_actor supports Linear/Tanh MLP actors")
        state = {k: v.detach().clone() for k, v in mam.params.flatten_keys(".").items()}
        spec = experiment.algorithm.action_spec[group, "action"]
        entry: dict[str, Any] = {
            "agents": list(agents), "state_dict": state,
            "in_features": int(mam.n_agent_inputs), "out_features": int(mam.n_agent_outputs),
            "num_cells": [int(m.out_features) for m in net if isinstance(m, torch.nn.Linear)][:-1],
        }
        if spec.domain == "continuous":
            entry.update(kind="continuous", scale_mapping=experiment.algorithm.scale_mapping,
                         tanh_normal=bool(experiment.algorithm.use_tanh_normal),
                         low=spec.space.low[0].clone(), high=spec.space.high[0].clone())
        else:
            entry.update(kind="discrete", n=int(spec.space.n))
        groups[group] = entry
    doc = {"format": 1, "groups": groups,
           "obs_transform": "symlog" if getattr(experiment.task, "_obs_symlog", False) else None}
    path = Path(path)
    tmp = path.with_suffix(".tmp")
    torch.save(doc, tmp)
    tmp.replace(path)
    return doc


class BenchmarlPolicy:
    """BenchMARL MAPPO's trained actor (:func:`train_mappo`), greedy as BenchMARL evaluates it
    (``ExplorationType.DETERMINISTIC``: the TanhNormal's transformed mean, or the most likely
    allowed category), on each agent's own observation. The network is shared within a group,
    so it plays any scale whose agents fall in the groups it was trained on.

    ``rao-bench evaluate TASK --policy bench.torchrl_adapter:BenchmarlPolicy --checkpoint-dir D``
    """

    info = PolicyInfo(name="benchmarl_mappo", version="1.5.2", paradigm="CTDE",
                      description="BenchMARL 1.5.2's MAPPO (its YAML defaults: MLP actor and "
                                  "critic, parameters shared per group, centralised critic on the "
                                  "global state), trained through rao-bench train's harness.",
                      url="https://github.com/facebookresearch/BenchMARL")

    def __init__(self, env: Any, checkpoint_dir: Path) -> None:
        from torchrl.modules import MLP

        torch.set_num_threads(1)  # as the reference learners' policies: tiny nets, shared cores
        path = Path(checkpoint_dir) / ACTOR_FILE
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: train with bench.torchrl_adapter:train_mappo "
                                    "(it writes the actor there at the end of training)")
        doc = torch.load(path, weights_only=True)
        self.symlog = doc.get("obs_transform") == "symlog"
        self.groups: list[tuple[list[str], dict[str, Any], torch.nn.Module]] = []
        members: dict[str, list[str]] = {}
        for agent in env.possible_agents:
            members.setdefault(_group_of(agent), []).append(agent)
        for group, agents in members.items():
            if group not in doc["groups"]:
                raise ValueError(f"agent group {group!r} of {env.possible_agents} was not trained "
                                 f"(trained groups: {sorted(doc['groups'])})")
            entry = doc["groups"][group]
            net = MLP(in_features=entry["in_features"], out_features=entry["out_features"],
                      num_cells=entry["num_cells"], activation_class=torch.nn.Tanh)
            net.load_state_dict(entry["state_dict"])
            net.eval()
            self.groups.append((agents, entry, net))

    def reset(self, seed: int) -> None:
        """The greedy actor is stateless."""

    @torch.no_grad()
    def act(self, observations: Mapping[str, Any]) -> dict[str, Any]:
        from tensordict.nn import NormalParamExtractor
        from torchrl.modules import MaskedCategorical, TanhNormal

        if torch.get_num_threads() != 1:
            torch.set_num_threads(1)  # worker processes start with torch's default
        actions: dict[str, Any] = {}
        for agents, entry, net in self.groups:
            live = [a for a in agents if a in observations]
            if not live:
                continue
            obs = [observations[a] for a in live]
            mask = None
            if isinstance(obs[0], Mapping):
                mask = torch.as_tensor(np.stack([o["action_mask"] for o in obs]), dtype=torch.bool)
                obs = [o["observation"] for o in obs]
            x = torch.as_tensor(np.stack([np.asarray(o, np.float32).ravel() for o in obs]))
            logits = net(symlog(x) if self.symlog else x)
            if entry["kind"] == "continuous":
                loc, scale = NormalParamExtractor(scale_mapping=entry["scale_mapping"])(logits)
                if entry["tanh_normal"]:
                    a = TanhNormal(loc, scale, low=entry["low"], high=entry["high"]).deterministic_sample
                else:
                    a = loc
                out = a.numpy().astype(np.float32)
                actions.update({agent: out[i] for i, agent in enumerate(live)})
            else:
                if mask is not None:
                    a = MaskedCategorical(logits=logits, mask=mask).deterministic_sample
                else:
                    a = logits.argmax(-1)
                actions.update({agent: int(a[i]) for i, agent in enumerate(live)})
        return actions
