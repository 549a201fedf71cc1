"""``power_grid/IEEE33-v2``: no reward for collapsing the feeder (monotone failure scoring), the
Newton-Raphson fallback against pandapower around the nose of the PV curve, IEEE 1547 trips
scored on the commanded state with the lost PV counted as curtailment, the Q-at-night switch, the
SimBench day pools, and the no-foresight check of v1 and v2 at every scale."""

from __future__ import annotations

import warnings

import numpy as np
import pandapower as pp
import pytest

import bench
from bench.checks import check_no_foresight, check_task
from tasks.power_grid import solve_power_flow
from tasks.power_grid.simbench_profiles import load_profiles, pool_days
from tasks.power_grid.voltage_control import TRIP_OV_PU, VoltageControlEnv
from tests.power_grid.test_powerflow import NET, run_pandapower

TASK = "power_grid/IEEE33-v2"
SPEC = bench.get_spec(TASK)
EVENING = 75                     # 18:45, the evening peak of eval seed 200001


def make(task: str = TASK, **kw) -> VoltageControlEnv:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # v1 is out of date (a DeprecatedTaskWarning)
        return bench.make(task, **kw)


def team_reward_at(t: int, aq: float, seed: int = 200001, task: str = TASK, **kw) -> tuple[float, dict]:
    """Idle until interval ``t``, then every inverter plays reactive action ``aq`` (no
    curtailment); the team reward (sum over agents) of that interval and the first agent's KPIs."""
    env = make(task, **kw)
    env.reset(seed=seed)
    for _ in range(t):
        env.step({a: np.zeros(2, np.float32) for a in env.agents})
    _, rew, _, _, inf = env.step({a: np.array([aq, 0.0], np.float32) for a in env.agents})
    return float(sum(rew.values())), inf[env.possible_agents[0]]["kpi"]


# -- failure scoring -------------------------------------------------------------------------------

@pytest.mark.parametrize("protection", ["ieee1547_cat2", "none"])
def test_pushing_the_evening_feeder_to_collapse_never_pays(protection: str) -> None:
    """All six inverters absorb harder and harder at 18:45 (a_q from -0.9 to -1.0, then larger
    inverters, s_max_ratio 1.2 -> 1.6, until the flow has no solution): the team reward never
    rises, up to and past the collapse, and the collapse is the worst of all."""
    ladder = [(aq, 1.2) for aq in np.linspace(-0.9, -1.0, 6)] + [(-1.0, s) for s in (1.3, 1.4, 1.5, 1.6)]
    rewards, failed = [], []
    for aq, smax in ladder:
        r, kpi = team_reward_at(EVENING, float(aq), s_max_ratio=smax, inverter_protection=protection)
        rewards.append(r)
        failed.append(kpi["pf_failures"])
    assert failed[0] == 0 and failed[-1] == 1, "the ladder must go from a solvable state past collapse"
    assert all(b <= a for a, b in zip(rewards, rewards[1:])), rewards
    converged = [r for r, f in zip(rewards, failed) if not f]
    assert max(r for r, f in zip(rewards, failed) if f) < min(converged)


def test_v1_had_the_cliff_that_v2_removes() -> None:
    """The bug the v2 scoring fixes, reproduced on v1 (so the monotonicity test can fail): on
    v1 the flow 'fails' at a_q = -1 and the reward jumps up by hundreds."""
    r_99, _ = team_reward_at(EVENING, -0.99, task="power_grid/IEEE33-v1")
    r_100, kpi = team_reward_at(EVENING, -1.0, task="power_grid/IEEE33-v1")
    assert kpi["pf_failures"] == 1 and r_100 > r_99 + 100


def test_collapsed_interval_is_scored_dead() -> None:
    """A collapsed feeder: every bus dead (exceedance v_min each), the band and failure costs, all
    its available PV curtailed, nothing delivered."""
    env = make(s_max_ratio=1.6)
    env.reset(seed=200001)
    for _ in range(EVENING):
        env.step({a: np.zeros(2, np.float32) for a in env.agents})
    _, rew, _, _, inf = env.step({a: np.array([-1.0, 0.0], np.float32) for a in env.agents})
    p, q = env.last_output
    assert inf[env.possible_agents[0]]["kpi"]["pf_failures"] == 1
    assert not p.any() and not q.any()
    pv_av = sum(i["kpi"]["pv_available_mwh"] for i in inf.values())
    assert sum(i["kpi"]["curtailed_mwh"] for i in inf.values()) == pytest.approx(pv_av)
    expect = -(32 * env.v_min / 0.01 + env.w_band + env.w_fail + env.w_energy * pv_av / env.dt_h)
    assert rew[env.possible_agents[0]] == pytest.approx(expect, rel=1e-12)


# -- IEEE 1547 protection -----------------------------------------------------------------------

def _first_trip(**kw):
    env = make(pv_scale=1.4, **kw)
    env.reset(seed=200001)
    while env.agents:
        t = env.t
        _, rew, _, _, inf = env.step({a: np.zeros(2, np.float32) for a in env.agents})
        if any(i["kpi"].get("inverter_trips") for i in inf.values()):
            return env, t, rew, inf
    raise AssertionError("no trip on this day")


def test_overvoltage_trips_and_lost_pv_is_curtailment() -> None:
    """At the first trip of a sunny day (PV 1.4x), the tripped inverter's bus was above 1.10
    p.u. in the commanded state, it delivers nothing, and its PV counts as curtailed although no
    agent curtailed."""
    env, t, rew, inf = _first_trip()
    ref = make(pv_scale=1.4, inverter_protection="none")
    ref.reset(seed=200001)
    for _ in range(t + 1):
        _, rew_ref, _, _, inf_ref = ref.step({a: np.zeros(2, np.float32) for a in ref.agents})
    v_cmd = ref._meas[-1]["v"]
    p, _ = env.last_output
    lost = 0.0
    for i, a in enumerate(env.possible_agents):
        k = inf[a]["kpi"]
        if k["inverter_trips"]:
            assert v_cmd[env.network.pv_bus[i]] > TRIP_OV_PU and p[i] == 0.0
            assert k["curtailed_mwh"] == pytest.approx(k["pv_available_mwh"]) and k["curtailed_mwh"] > 0
            lost += k["curtailed_mwh"] / env.dt_h
        else:
            assert v_cmd[env.network.pv_bus[i]] <= TRIP_OV_PU
    # scored on the commanded state, less the PV the trip lost: a trip never pays
    a0 = env.possible_agents[0]
    assert rew[a0] == pytest.approx(rew_ref[a0] - env.w_energy * lost, rel=1e-9)


def test_q_at_night_switch() -> None:
    """Without Q at night an inverter with no PV delivers no reactive power (at 02:00)."""
    for night_q, expect_q in ((True, True), (False, False)):
        env = make(q_at_night=night_q)
        env.reset(seed=200001)
        for _ in range(8):
            env.step({a: np.array([0.5, 0.0], np.float32) for a in env.agents})
        assert not env.day.pv_mw[8].any()
        assert bool(np.abs(env.last_output[1]).sum() > 0) is expect_q


# -- the Newton-Raphson fallback against pandapower around the nose -------------------------------

@pytest.mark.parametrize("lam", [3.0, 3.5, 3.59, 3.6, 3.61, 3.62])
def test_states_pandapower_solves_are_solved(lam: float) -> None:
    """Load scaling lambda up to the nose (~3.622): the sweep alone gives up from ~3.6, the
    Newton fallback solves every state and agrees with pandapower's Newton-Raphson."""
    p, q = lam * NET.load_p_mw, lam * NET.load_q_mvar
    vm_ref, loss_ref = run_pandapower(NET, p, q)
    res = solve_power_flow(NET, p, q, newton_fallback=True)
    # near the nose the sweep contracts slowly, so its step criterion (1e-9) leaves ~1e-8 of error
    assert np.abs(res.vm_pu - vm_ref).max() < 1e-7
    assert res.loss_mw == pytest.approx(loss_ref, rel=1e-6)


@pytest.mark.parametrize("lam", [3.6225, 3.65, 4.0])
def test_beyond_the_nose_both_fail(lam: float) -> None:
    p, q = lam * NET.load_p_mw, lam * NET.load_q_mvar
    with pytest.raises(pp.LoadflowNotConverged):
        run_pandapower(NET, p, q)
    assert not solve_power_flow(NET, p, q, newton_fallback=True, on_failure="flag").converged


def test_v2_env_solves_near_the_nose() -> None:
    """Inside the env: a state the v1 sweep called failed (load x3.6 at the evening peak) is
    solved by v2 and agrees with pandapower."""
    env = make(load_scale=3.6, inverter_protection="none")
    env.reset(seed=200001)
    t = 0
    while env.agents:
        _, _, _, _, inf = env.step({a: np.zeros(2, np.float32) for a in env.agents})
        t += 1
        if env._meas[-1]["v"][:-1].min() < 0.6:
            break
    assert inf[env.possible_agents[0]]["kpi"]["pf_failures"] == 0
    p, q = env.last_output
    pl, ql = env.day.load_p_mw[t].copy(), env.day.load_q_mvar[t].copy()
    pl[env.network.pv_bus] -= p
    ql[env.network.pv_bus] -= q
    vm_ref, _ = run_pandapower(env.network, pl, ql)
    assert np.abs(env._meas[-1]["v"][:-1] - vm_ref).max() < 1e-7


# -- SimBench days ------------------------------------------------------------------------------

def test_day_pools_are_disjoint_and_seed_picks_the_pool() -> None:
    train, ev = set(pool_days("train").tolist()), set(pool_days("eval").tolist())
    assert not train & ev and len(train | ev) == 366 and len(ev) == 91
    assert {d * 4 // 366 for d in ev} == {0, 1, 2, 3}          # every season is evaluated
    env = make()
    for seed in SPEC.seeds.eval:
        env.reset(seed=seed)
        assert env.day.profiles.day_of_year - 1 in ev
    for seed in (0, 1, 2, 199_999):
        env.reset(seed=seed)
        assert env.day.profiles.day_of_year - 1 in train


def test_shipped_profiles_are_simbench_package_data() -> None:
    """The shipped npz is the simbench package's 2016 series (normalised by its annual max)."""
    simbench = pytest.importorskip("simbench")
    import pandas as pd
    from pathlib import Path
    src = Path(simbench.__file__).parent / "networks" / "1-complete_data-mixed-all-2-sw"
    res = pd.read_csv(src / "RESProfile.csv", sep=";", usecols=["PV3"])["PV3"].to_numpy()
    data = load_profiles()
    col = data["pv_types"].index("PV3")
    assert np.allclose(data["pv"][:, col], res / res.max(), rtol=1e-6, atol=1e-7)


# -- harness checks -----------------------------------------------------------------------------

@pytest.mark.parametrize("task", ["power_grid/IEEE33-v1", TASK])
@pytest.mark.parametrize("scale", ["f1", "f4", "f16", "f64"])
def test_no_foresight(task: str, scale: str) -> None:
    assert check_no_foresight(lambda: make(task, scale=scale), seed=200003, t0=40) == []


@pytest.mark.parametrize("scenario", ["cloud_transients", "inverter_failure", "noisy_measurements"])
def test_no_foresight_under_random_shifts(scenario: str) -> None:
    assert check_no_foresight(lambda: make(scenario=scenario), seed=7, t0=50) == []


def test_check_task_passes() -> None:
    assert check_task(TASK, max_steps=12) == []


def test_v2_nominal_anchors_match_the_measuring_script() -> None:
    from tests.power_grid.test_power_grid_baselines import _check, _measure_module
    _check(_measure_module().measure(["f1"], TASK), ["f1"], SPEC)
