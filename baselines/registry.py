"""Reference baselines by name: ``rao-bench evaluate TASK --policy NAME``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from bench.policy import PolicySource, load_policy

# name -> "module:Class". Each class carries ``info`` (PolicyInfo) and ``tasks`` ("*" or ids).
BASELINES: dict[str, str] = {
    "random": "baselines.random_policy:RandomPolicy",
    "constant": "baselines.constant:ConstantPolicy",   # the no-intelligence floor (newest tasks)
    "order_up_to": "baselines.order_up_to:OrderUpToPolicy",
    "base_stock": "baselines.base_stock:BaseStockPolicy",
    "lp_static": "baselines.lp_static:StaticLPPolicy",
    "lp_rolling": "baselines.lp_rolling:RollingLPPolicy",
    "lp_hindsight": "baselines.lp_hindsight:HindsightLPPolicy",
    "lot_for_lot": "baselines.lot_for_lot:LotForLotPolicy",   # supply-chain v2 naive floor
    # power_grid/IEEE33-v1, -v2 and SimBenchMV-v1
    "no_control": "baselines.power_grid.no_control:NoControlPolicy",
    "volt_var": "baselines.power_grid.volt_var:VoltVarPolicy",
    "lindistflow": "baselines.power_grid.lindistflow:LinDistFlowPolicy",
    "hindsight_opf": "baselines.power_grid.hindsight:HindsightPolicy",
    # spectrum/Interference-v1
    "full_power": "baselines.spectrum.full_power:FullPowerRandomBandPolicy",
    "greedy_channel": "baselines.spectrum.greedy:GreedyChannelPolicy",
    "wmmse": "baselines.spectrum.wmmse_policy:WmmsePolicy",
    "joint_oracle": "baselines.spectrum.milp_oracle:JointOptimumOracle",
    # spectrum/Interference-v2: its score's zero and one anchors
    "safe_random": "baselines.spectrum.safe_random:SafeRandomBandPolicy",
    "wmmse_delayed": "baselines.spectrum.wmmse_delayed:DelayedWmmsePolicy",
    # compute/EdgeCluster-v1
    "round_robin": "baselines.compute.round_robin:RoundRobinPolicy",
    "jsq": "baselines.compute.jsq:JSQPolicy",
    "power_of_two": "baselines.compute.power_of_two:PowerOfTwoPolicy",
    "lp_dispatch": "baselines.compute.lp_dispatch:LPDispatchPolicy",
    "clairvoyant_greedy": "baselines.compute.hindsight:ClairvoyantGreedyOracle",
    # MARL learners (issue 7; docs/learners.md), evaluated from the checkpoints `rao-bench train`
    # writes: each applies to the tasks it has checkpoints for (its policy class's `tasks`)
    "ippo": "baselines.learners.ippo:IPPOPolicy",
    "ippo_hyperscore": "baselines.learners.ippo:IPPOHyperScorePolicy",
    "mappo": "baselines.learners.mappo:MAPPOPolicy",
    "vdn": "baselines.learners.vdn:VDNPolicy",
    "qmix": "baselines.learners.qmix:QMIXPolicy",
}

SUPPLY_CHAIN = ("supply_chain/ThreeTier-v2",)  # the founding paper's task (its ablation)
DISCRETE = ("compute/EdgeCluster-v2", "spectrum/Interference-v2")

# learner name -> (module with Args and train(), Args overrides that make the variant, the tasks
# its reference entry is trained on: "*" = every released task). The HyperScore variant is the
# founding paper's ablation, so it is trained on the supply-chain tasks; value decomposition
# needs discrete actions.
LEARNERS: dict[str, tuple[str, dict[str, object], str | tuple[str, ...]]] = {
    "ippo": ("baselines.learners.ippo", {}, "*"),
    "ippo_hyperscore": ("baselines.learners.ippo", {"reward": "hyperscore"}, SUPPLY_CHAIN),
    "mappo": ("baselines.learners.mappo", {}, "*"),
    "vdn": ("baselines.learners.vdn", {}, DISCRETE),
    "qmix": ("baselines.learners.qmix", {}, DISCRETE),
}


def run_checkpoint_dir(seed: int) -> Path:
    """Where run ``k`` of a reference learner keeps its checkpoints: ``run<k>`` under the learners'
    checkpoint root, trained with learner seed ``k`` (``scripts/train_learners.py``)."""
    from baselines.learners.marl_common import CHECKPOINT_DIR

    return CHECKPOINT_DIR / f"run{int(seed)}"


def names() -> list[str]:
    return list(BASELINES)


def learner_names() -> list[str]:
    return list(LEARNERS)


def learner_tasks(name: str) -> list[str]:
    """The tasks learner ``name``'s reference entry is trained on ("*": the newest version of
    every task; older versions keep their archived entries)."""
    from bench.registry import newest_task_ids, task_ids

    tasks = LEARNERS[name][2] if name in LEARNERS else ()
    return newest_task_ids() if tasks == "*" else [t for t in task_ids() if t in tasks]


def learner(name: str) -> tuple[str, dict[str, object]]:
    """The module that trains learner ``name`` and the Args overrides of its variant."""
    if name not in LEARNERS:
        import difflib

        hint = difflib.get_close_matches(name, LEARNERS, n=1)
        raise ValueError(f"no learner named {name!r}." + (f" Did you mean {hint[0]!r}?" if hint else "")
                         + f" Known: {', '.join(LEARNERS)}.")
    module, overrides, _ = LEARNERS[name]
    return module, overrides


def get(name: str) -> PolicySource:
    if name not in BASELINES:
        import difflib

        hint = difflib.get_close_matches(name, BASELINES, n=1)
        raise ValueError(f"no reference baseline named {name!r}."
                         + (f" Did you mean {hint[0]!r}?" if hint else "")
                         + f" Known: {', '.join(BASELINES)}; or pass 'module:attr'.")
    return load_policy(BASELINES[name])


def applies_to(name: str, task_id: str) -> bool:
    """Whether baseline ``name`` is meant for ``task_id`` (its class's ``tasks`` attribute)."""
    if name in LEARNERS and importlib.util.find_spec("torch") is None:
        return False  # learners need the optional [marl] extra (torch)
    cls = get(name).factory
    tasks = getattr(cls, "tasks", "*")
    return tasks == "*" or task_id in tasks
