"""Every released task, at every scale, passes PettingZoo's API and seed tests and our stricter
contract and whole-episode determinism checks (bench.checks)."""

import pytest

import bench.registry as reg
from bench.checks import check_env

CASES = [(s.id, sc.name, sc.agents) for s in reg.all_specs() for sc in s.scales]


@pytest.mark.parametrize("task_id, scale, agents", CASES, ids=[f"{t}[{s}]" for t, s, _ in CASES])
def test_task_conforms(task_id, scale, agents):
    spec = reg.get_spec(task_id)
    problems = check_env(lambda: reg.make(task_id, scale=scale), n_agents=agents,
                         constraints=tuple(c.name for c in spec.constraints))
    assert problems == []


SCENARIOS = [(s.id, sc.name) for s in reg.all_specs() for sc in s.shift_scenarios]


@pytest.mark.parametrize("task_id, scenario", SCENARIOS, ids=[f"{t}[{s}]" for t, s in SCENARIOS])
def test_shift_scenario_is_deterministic(task_id, scenario):
    from bench.checks import check_determinism

    assert check_determinism(lambda: reg.make(task_id, scenario=scenario)) == []
