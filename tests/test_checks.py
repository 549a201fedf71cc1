"""The determinism check must catch envs that are not deterministic (a check that cannot fail
is no check)."""

import pytest

from bench.checks import check_contract, check_determinism, check_env
from tests.toy_envs import CoinEnv, GlobalRngEnv, LateDivergenceEnv, StaleStateEnv


def test_conforming_env_passes_every_check():
    assert check_env(CoinEnv, n_agents=2, constraints=("too_high",)) == []


@pytest.mark.parametrize("env_cls", [GlobalRngEnv, StaleStateEnv, LateDivergenceEnv],
                         ids=lambda c: c.__name__)
def test_nondeterministic_envs_are_caught(env_cls):
    problems = check_determinism(env_cls)
    assert problems and "not deterministic" in problems[0]


def test_contract_names_missing_constraint_and_agent_count():
    problems = check_contract(CoinEnv(), n_agents=3, constraints=("too_high", "too_low"))
    assert any("declares 3 agents" in p for p in problems)
    assert any("too_low" in p for p in problems)

