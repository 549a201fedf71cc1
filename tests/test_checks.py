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



def test_no_foresight_check_passes_an_honest_env_and_catches_a_leak():
    from bench.checks import check_no_foresight
    from tests.toy_envs import LeakyPathEnv, PathEnv

    assert check_no_foresight(PathEnv, seed=5, t0=6) == []
    problems = check_no_foresight(LeakyPathEnv, seed=5, t0=6)
    assert len(problems) == 1 and "foresight" in problems[0] and "at step 1." in problems[0]  # level is 0 at reset


def test_no_foresight_check_refuses_to_be_vacuous():
    from bench.checks import check_no_foresight
    from tests.toy_envs import CoinEnv, InertPerturbEnv

    assert "changed nothing" in check_no_foresight(InertPerturbEnv, seed=5, t0=6)[0]
    assert "has no perturb_future" in check_no_foresight(CoinEnv, seed=5, t0=6)[0]
