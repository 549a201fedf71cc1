"""TorchRL and BenchMARL on RAO-Bench tasks (optional ``[benchmarl]`` extra; docs/learners.md).

Why here: BenchMARL trains on TorchRL envs it builds itself; to count what it spends and breaks,
those envs must be the harness's :class:`bench.training.TrainingEnv` (training seeds only, one
budget, the violation ledger). This module

* wraps a training env as a TorchRL env (``torchrl.envs.PettingZooWrapper``, global state
  included) — :func:`torchrl_env`;
* makes a BenchMARL task whose every env comes from the harness's ``make_env`` — :class:`RaoTask`;
* offers BenchMARL's MAPPO as an outside learner with the documented signature, so that it runs
  through ``rao-bench train bench.torchrl_adapter:train_mappo TASK --env-steps N``
  (:func:`train_mappo`): BenchMARL's own configuration, its frame budget set to the harness's.

BenchMARL resets envs without a seed, so each episode draws the next training seed of the run;
TorchRL's ``set_seed`` passes an explicit seed, which the training env accepts only from the
task's training range. Checked by ``tests/test_torchrl_adapter.py`` (skipped without the extra).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

from benchmarl.environments.pettingzoo.common import PettingZooClass
from gymnasium import spaces
from torchrl.envs import EnvBase, PettingZooWrapper

from bench.training import TrainingEnv


def torchrl_env(env: TrainingEnv, device: str = "cpu") -> EnvBase:
    """``env`` as a TorchRL env: one group per PettingZoo agent-name prefix (TorchRL's default),
    the global ``state()`` under ``"state"``, action masks where the task has them."""
    masked = any(isinstance(env.observation_space(a), spaces.Dict) for a in env.possible_agents)
    return PettingZooWrapper(env=env, return_state=True, use_mask=masked, categorical_actions=True,
                             device=device)


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

    def __init__(self, make_env: Callable[[], TrainingEnv]) -> None:
        self._make_env = make_env
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
                "_horizon": self._horizon, "_make_env": None, "_probe": None, "_spare": None}

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

    def has_render(self, env: EnvBase) -> bool:
        return False

    def max_steps(self, env: EnvBase) -> int:
        return self._horizon


def train_mappo(make_env: Callable[[], TrainingEnv], out_dir: Path, seed: int, *,
                frames_per_batch: int | None = None, n_envs: int = 2,
                overrides: dict[str, Any] | None = None, run: bool = True) -> Any:
    """BenchMARL's MAPPO (its YAML defaults, MLP actor and critic) on the harness's envs, for
    exactly the run's env-step budget: ``max_n_frames`` = the budget, collected
    ``frames_per_batch`` at a time (default: two episodes per env) from ``n_envs`` envs of the
    run (frames are env steps: one per env and step, as the harness counts them); no evaluation rollouts (they would spend training steps), no loggers, the final
    checkpoint under ``out_dir``. ``overrides`` sets further ``ExperimentConfig`` fields.
    Returns the BenchMARL ``Experiment`` (its ``policy`` is the trained actor); with
    ``run=False`` it is built but not trained yet (``experiment.run()`` trains it)."""
    from benchmarl.algorithms import MappoConfig
    from benchmarl.experiment import Experiment, ExperimentConfig
    from benchmarl.models.mlp import MlpConfig

    task = RaoTask(make_env)
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
    experiment = Experiment(task=task, algorithm_config=MappoConfig.get_from_yaml(),
                            model_config=MlpConfig.get_from_yaml(),
                            critic_model_config=copy.deepcopy(MlpConfig.get_from_yaml()),
                            seed=int(seed), config=cfg)
    if run:
        experiment.run()
    return experiment
