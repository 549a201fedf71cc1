"""Reference baselines by name: ``rao-bench evaluate TASK --policy NAME``."""

from __future__ import annotations

import importlib.util

from bench.policy import PolicySource, load_policy

# name -> "module:Class". Each class carries ``info`` (PolicyInfo) and ``tasks`` ("*" or ids).
BASELINES: dict[str, str] = {
    "random": "baselines.random_policy:RandomPolicy",
    "order_up_to": "baselines.order_up_to:OrderUpToPolicy",
    "base_stock": "baselines.base_stock:BaseStockPolicy",
    "lp_static": "baselines.lp_static:StaticLPPolicy",
    "lp_rolling": "baselines.lp_rolling:RollingLPPolicy",
    "lp_hindsight": "baselines.lp_hindsight:HindsightLPPolicy",
    # power_grid/IEEE33-v1
    "no_control": "baselines.power_grid.no_control:NoControlPolicy",
    "volt_var": "baselines.power_grid.volt_var:VoltVarPolicy",
    "lindistflow": "baselines.power_grid.lindistflow:LinDistFlowPolicy",
    "hindsight_opf": "baselines.power_grid.hindsight:HindsightPolicy",
    # spectrum/Interference-v1
    "full_power": "baselines.spectrum.full_power:FullPowerRandomBandPolicy",
    "greedy_channel": "baselines.spectrum.greedy:GreedyChannelPolicy",
    "wmmse": "baselines.spectrum.wmmse_policy:WmmsePolicy",
    "joint_oracle": "baselines.spectrum.milp_oracle:JointOptimumOracle",
    # compute/EdgeCluster-v1
    "round_robin": "baselines.compute.round_robin:RoundRobinPolicy",
    "jsq": "baselines.compute.jsq:JSQPolicy",
    "power_of_two": "baselines.compute.power_of_two:PowerOfTwoPolicy",
    "lp_dispatch": "baselines.compute.lp_dispatch:LPDispatchPolicy",
    "clairvoyant_greedy": "baselines.compute.hindsight:ClairvoyantGreedyOracle",
    # MARL learners (issue 7): evaluated from the checkpoints `rao-bench train` writes; each
    # applies to the tasks it has checkpoints for (the `tasks` attribute of its policy class)
}

# learner name -> (module with Args and train(), Args overrides that make the variant)
LEARNERS: dict[str, tuple[str, dict[str, object]]] = {
    "ippo": ("baselines.ippo", {}),
    "ippo_hyperscore": ("baselines.ippo", {"reward": "hyperscore"}),
    "mappo": ("baselines.mappo", {}),
    "vdn": ("baselines.vdn", {}),
}


def names() -> list[str]:
    return list(BASELINES)


def learner_names() -> list[str]:
    return list(LEARNERS)


def learner(name: str) -> tuple[str, dict[str, object]]:
    """The module that trains learner ``name`` and the Args overrides of its variant."""
    if name not in LEARNERS:
        import difflib

        hint = difflib.get_close_matches(name, LEARNERS, n=1)
        raise ValueError(f"no learner named {name!r}." + (f" Did you mean {hint[0]!r}?" if hint else "")
                         + f" Known: {', '.join(LEARNERS)}.")
    return LEARNERS[name]


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
