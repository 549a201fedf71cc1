"""``power_grid/IEEE33-v1``: spaces, timing, each safety constraint and shift firing in a scenario
built to trigger it, KPI counters, the reward, and power-flow failures handled inside the episode."""

from __future__ import annotations

import math

import numpy as np
import pytest

import bench
from tasks.power_grid.powerflow import solve_power_flow
from tasks.power_grid.voltage_control import OBS_HEAD, OBS_PER_BUS, VoltageControlEnv

TASK = "power_grid/IEEE33-v1"
SPEC = bench.get_spec(TASK)
SCALES = [s.name for s in SPEC.scales]
SCENARIOS = [s.name for s in SPEC.scenarios]
N_BUS, N_PV, N_LINES = 33, 6, 37
LINE0 = 5 * N_BUS + 2 * N_PV            # where the line loadings start in state()


def make(**kw) -> VoltageControlEnv:
    return bench.make(TASK, **kw)


def zeros(env) -> dict[str, np.ndarray]:
    return {a: np.zeros(env.action_space(a).shape, dtype=np.float32) for a in env.agents}


def rollout(env, seed: int, policy=None, steps: int | None = None) -> list[tuple]:
    """Play ``steps`` intervals (default: the episode); returns (obs, rewards, infos, state)."""
    obs, _ = env.reset(seed=seed)
    out = []
    while env.agents and (steps is None or len(out) < steps):
        acts = zeros(env) if policy is None else policy(env, obs)
        nobs, rew, _, _, inf = env.step(acts)
        out.append((obs, rew, inf, env.state() if env.agents else None))
        obs = nobs
    return out


# -- construction -----------------------------------------------------------------------------

@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("scale", SCALES)
def test_every_scale_and_scenario_builds(scale: str, scenario: str) -> None:
    env = make(scale=scale, scenario=scenario)
    obs, _ = env.reset(seed=0)
    n = SPEC.scale(scale).agents
    assert len(env.possible_agents) == n == 6 * env.n_feeders
    assert all(env.observation_space(a).contains(o) for a, o in obs.items())
    assert env.state().shape == env.state_space.shape
    assert env.observation_space(env.possible_agents[0]) == make(scale=scale).observation_space(
        env.possible_agents[0])


def test_agents_layout_and_zones() -> None:
    env = make()
    assert env.possible_agents == ["f0_pv13", "f0_pv18", "f0_pv22", "f0_pv25", "f0_pv29", "f0_pv33"]
    zone_of = {a: sorted(env.network.bus_names[b] for b in row if b < N_BUS)
               for a, row in zip(env.possible_agents, env.layout.zone_bus)}
    assert zone_of["f0_pv13"] == zone_of["f0_pv18"] == sorted(str(b) for b in range(2, 19))
    assert zone_of["f0_pv22"] == ["19", "20", "21", "22"]
    assert zone_of["f0_pv33"] == sorted(str(b) for b in range(26, 34))
    big = make(scale="f4")
    assert big.possible_agents[6:8] == ["f1_pv13", "f1_pv18"]


def test_bad_parameters_name_the_fix() -> None:
    with pytest.raises(ValueError, match="n_feeders"):
        make(n_feeders=0)
    with pytest.raises(ValueError, match="step_minutes"):
        make(step_minutes=7)
    with pytest.raises(ValueError, match="day_of_year"):
        make(day_of_year=400)
    with pytest.raises(ValueError, match="v_min"):
        make(v_min=1.2)
    with pytest.raises(ValueError, match="horizon"):
        make(horizon=200)


def test_episode_is_one_day_and_observation_fields() -> None:
    env = make(day_of_year=172)
    obs, _ = env.reset(seed=1)
    assert env.horizon == 96 and env.step_minutes == 15
    o = obs["f0_pv18"]
    # time of day of interval 0 (00:00-00:15), status, rating
    assert o[0] == pytest.approx(math.sin(2 * math.pi * 0.125 / 24), abs=1e-6)
    assert o[2] == 1.0 and o[3] == pytest.approx(1.5)
    # the observation reports interval -1 (no control): q = 0, its voltage and the zone slots
    m = env._meas[0]
    assert o[6] == 0.0 and o[7] == pytest.approx(m["v"][env.network.bus("18")], abs=1e-6)
    slots = o[OBS_HEAD:].reshape(-1, OBS_PER_BUS)
    assert slots[:17, 5].all() and not slots[17:].any()       # trunk zone has all 17 slots
    b2 = env.network.bus("2")
    assert slots[0, 1] == pytest.approx(env.day.load_p_mw[0, b2], rel=1e-6)


# -- timing and physics of a step ------------------------------------------------------------

def test_step_solves_the_interval_with_the_inverter_outputs() -> None:
    env = make(day_of_year=172)
    obs, _ = env.reset(seed=2)
    for _ in range(50):                                         # to 12:30
        obs, *_ = env.step(zeros(env))
    acts = {a: np.array([0.5, 0.25], dtype=np.float32) for a in env.agents}
    p_ref = env.last_output[0]
    row = env.t + 1
    env.step(acts)
    p, q = env.last_output
    avail = np.minimum(env.day.pv_mw[row], env.s_max)
    assert np.allclose(p, 0.75 * avail)
    q_cmd = 0.5 * np.sqrt(env.s_max ** 2 - p_ref ** 2)
    assert np.allclose(q, np.minimum(q_cmd, np.sqrt(env.s_max ** 2 - p ** 2)))
    lp = env.day.load_p_mw[row].copy()
    lq = env.day.load_q_mvar[row].copy()
    lp[env.network.pv_bus] -= p
    lq[env.network.pv_bus] -= q
    ref = solve_power_flow(env.network, lp, lq)
    assert np.abs(env._meas[-1]["v"][:-1] - ref.vm_pu).max() < 1e-9


# -- every safety constraint fires in a scenario built to trigger it --------------------------------

def test_bus_voltage_fires_on_a_winter_evening_without_control() -> None:
    env = make(day_of_year=15)
    steps = rollout(env, seed=5)[:-1]                 # (the last step has no state to compare)
    ev = np.array([inf["f0_pv18"]["violations"]["bus_voltage"] for _, _, inf, _ in steps])
    assert ev[72:84].min() > 0.0                                  # 18:00-21:00
    t = int(np.argmax(ev))
    trunk = [env.network.bus(str(b)) for b in range(2, 19)]
    v = steps[t][3][:N_BUS]                                       # state(): bus voltages first
    assert ev[t] == pytest.approx(0.95 - v[trunk].min(), abs=1e-12)
    lateral = [env.network.bus(str(b)) for b in range(19, 23)]
    e22 = steps[t][2]["f0_pv22"]["violations"]["bus_voltage"]
    assert e22 == pytest.approx(max(0.0, 0.95 - v[lateral].min()), abs=1e-12)


def test_line_current_fires_under_an_overload() -> None:
    env = make(day_of_year=15, load_scale=2.5)
    steps = rollout(env, seed=5)[:-1]
    worst = np.array([inf["f0_pv13"]["violations"]["line_current"] for _, _, inf, _ in steps])
    assert worst.max() > 0.0
    t = int(np.argmax(worst))
    loading = steps[t][3][LINE0:LINE0 + N_LINES]
    trunk = [env.network.line(str(b), str(b + 1)) for b in range(1, 18)]
    assert worst[t] == pytest.approx(loading[trunk].max() - 1.0, abs=1e-12)


def test_inverter_apparent_power_fires_when_the_sun_comes_out() -> None:
    """A full reactive command set on the dawn headroom no longer fits once the PV ramps up."""
    env = make(day_of_year=172)
    env.reset(seed=3)
    s_max = env.s_max
    fired = []
    for _ in range(44):
        p_ref = env.last_output[0]
        acts = {a: np.array([1.0, 0.0], dtype=np.float32) for a in env.agents}
        *_, inf = env.step(acts)
        p, q = env.last_output
        q_cmd = np.sqrt(s_max ** 2 - p_ref ** 2)
        expect = np.maximum(np.hypot(p, q_cmd) - s_max, 0.0) / s_max
        got = np.array([inf[a]["violations"]["inverter_apparent_power"] for a in env.possible_agents])
        assert np.allclose(got, expect, atol=1e-12)
        assert np.all(np.hypot(p, q) <= s_max + 1e-9)              # the inverter clipped it
        fired.append(got.max())
    assert max(fired) > 0.0 and fired[0] == 0.0                   # at night nothing is clipped


def test_no_violation_in_quiet_conditions() -> None:
    env = make(day_of_year=100, load_scale=0.6)
    _, _, inf, _ = rollout(env, seed=4, steps=8)[-1]
    for a in env.possible_agents:
        assert inf[a]["violations"] == {"bus_voltage": 0.0, "line_current": 0.0,
                                        "inverter_apparent_power": 0.0}


# -- every shift fires --------------------------------------------------------------------------------

def _days(scenario: str, seed: int = 11, **kw):
    nominal = make(**kw)
    shifted = make(scenario=scenario, **kw)
    nominal.reset(seed=seed)
    shifted.reset(seed=seed)
    onset = SPEC.scenario(scenario).onset
    return nominal, shifted, onset


def test_pv_surge() -> None:
    nom, sh, onset = _days("pv_surge", day_of_year=172)
    r0 = onset + 1
    assert np.array_equal(nom.day.pv_mw[:r0], sh.day.pv_mw[:r0])
    assert np.allclose(sh.day.pv_mw[r0:r0 + 8], 1.3 * sh.day.profiles.pv_clear_sky_mw[r0:r0 + 8])
    assert np.array_equal(nom.day.pv_mw[r0 + 8:], sh.day.pv_mw[r0 + 8:])
    assert (sh.day.pv_mw[r0:r0 + 8] > nom.day.pv_mw[r0:r0 + 8]).any()
    # no headroom is left at full output: a reactive command is clipped and reported
    steps = rollout(sh, seed=11, policy=lambda env, obs: {a: np.array([-0.5, 0.0], np.float32)
                                                         for a in env.agents})
    inv = [max(inf[a]["violations"]["inverter_apparent_power"] for a in inf)
           for _, _, inf, _ in steps[onset:onset + 8]]
    assert max(inv) > 0.0


def test_cloud_transients() -> None:
    nom, sh, onset = _days("cloud_transients", day_of_year=172)
    r0 = onset + 1
    assert np.array_equal(nom.day.pv_mw[:r0], sh.day.pv_mw[:r0])
    k = sh.day.pv_mw[r0:r0 + 24] / sh.day.profiles.pv_clear_sky_mw[r0:r0 + 24]
    jumps = np.abs(np.diff(k[:, 0]))
    assert (jumps > 0.5).sum() >= 4                     # repeated clear <-> shaded swings
    assert k.min() < 0.35 and k.max() > 0.9


def test_heat_wave() -> None:
    nom, sh, onset = _days("heat_wave")
    r0 = onset + 1
    assert np.array_equal(nom.day.load_p_mw[:r0], sh.day.load_p_mw[:r0])
    assert np.allclose(sh.day.load_p_mw[r0:], 1.5 * nom.day.load_p_mw[r0:])
    assert np.allclose(sh.day.load_q_mvar[r0:], 1.5 * nom.day.load_q_mvar[r0:])


def test_line_outage_reconfigures_the_feeder() -> None:
    env = make(scenario="line_outage", day_of_year=15)
    onset = SPEC.scenario("line_outage").onset
    trip, tie = env.network.line("28", "29"), env.network.line("25", "29")
    steps = rollout(env, seed=12)
    before = steps[onset - 1][3][LINE0:LINE0 + N_LINES]
    after = steps[onset][3][LINE0:LINE0 + N_LINES]
    assert before[trip] > 0 and before[tie] == 0
    assert after[trip] == 0 and after[tie] > 0
    assert env.network_at(onset) is not env.network and env.network_at(onset - 1) is env.network
    # buses 29-33 now hang below bus 25
    topo = env.network_at(onset).topology
    assert env.network.bus_names[topo.parent[env.network.bus("29")]] == "25"


def test_inverter_failure() -> None:
    env = make(scenario="inverter_failure", day_of_year=172)
    onset = SPEC.scenario("inverter_failure").onset
    steps = rollout(env, seed=13, policy=lambda e, o: {a: np.array([0.3, 0.0], np.float32)
                                                       for a in e.agents})
    failed = ~env.day.inverter_ok[onset + 1]
    assert failed.sum() == 2 and env.day.inverter_ok[:onset + 1].all()
    obs_after = steps[onset + 1][0]
    status = np.array([obs_after[a][2] for a in env.possible_agents])
    assert np.array_equal(status == 0, failed)
    p, q = env.last_output
    assert np.all(p[failed] == 0) and np.all(q[failed] == 0)
    inf = steps[onset + 1][2]
    for i, a in enumerate(env.possible_agents):
        if failed[i]:
            assert inf[a]["kpi"]["pv_available_mwh"] == 0.0 and inf[a]["kpi"]["q_mvarh"] == 0.0


def test_noisy_measurements() -> None:
    nom, sh, onset = _days("noisy_measurements")
    o_nom, o_sh = nom._obs_matrix(), sh._obs_matrix()
    assert np.array_equal(o_nom, o_sh)                         # before the onset: clean
    for env in (nom, sh):
        for _ in range(onset + 1):
            env.step(zeros(env))
    o_nom, o_sh = nom._obs_matrix(), sh._obs_matrix()
    assert np.array_equal(o_nom[:, :7], o_sh[:, :7])           # own inverter values stay exact
    assert not np.allclose(o_nom[:, 7], o_sh[:, 7])            # own voltage is measured: noisy
    assert not np.allclose(o_nom[:, OBS_HEAD:], o_sh[:, OBS_HEAD:])
    dv = (o_sh - o_nom)[:, OBS_HEAD::OBS_PER_BUS]
    assert 0.005 < np.std(dv[o_nom[:, OBS_HEAD::OBS_PER_BUS] > 0]) < 0.05
    assert np.array_equal(nom.state(), sh.state())            # the true state is not noisy


def test_delayed_measurements() -> None:
    delay = SPEC.scenario("delayed_measurements").shift["delay"]
    nom, sh, onset = _days("delayed_measurements")
    history = [nom._obs_matrix()]
    for _ in range(onset + 3):
        nom.step(zeros(nom))
        sh.step(zeros(sh))
        history.append(nom._obs_matrix())
    t = nom.t
    o_sh = sh._obs_matrix()
    assert np.array_equal(o_sh[:, OBS_HEAD:], history[t - delay][:, OBS_HEAD:])
    assert np.array_equal(o_sh[:, :OBS_HEAD], history[t][:, :OBS_HEAD])   # local values current
    assert not np.array_equal(o_sh[:, OBS_HEAD:], history[t][:, OBS_HEAD:])


def test_shift_draws_come_after_the_day() -> None:
    """A seed gives the same day in every scenario up to the onset (paired evaluation)."""
    base = make()
    base.reset(seed=21)
    for name in SCENARIOS[1:]:
        env = make(scenario=name)
        env.reset(seed=21)
        assert env.day.profiles.day_of_year == base.day.profiles.day_of_year
        assert np.array_equal(env.day.profiles.load_p_mw, base.day.profiles.load_p_mw)


# -- KPI counters and reward --------------------------------------------------------------------

def test_kpi_counters_and_reward() -> None:
    env = make(day_of_year=172)
    env.reset(seed=6)
    for _ in range(52):
        env.step(zeros(env))
    acts = {a: np.array([-0.4, 0.2], dtype=np.float32) for a in env.agents}
    row = env.t + 1
    _, rew, _, _, inf = env.step(acts)
    p, q = env.last_output
    avail = np.minimum(env.day.pv_mw[row], env.s_max)
    dt = 0.25
    kp = {k: sum(inf[a]["kpi"].get(k, 0.0) for a in env.possible_agents)
          for k in ("q_mvarh", "curtailed_mwh", "pv_available_mwh", "loss_mwh", "in_band",
                    "feeder_steps", "pf_failures")}
    assert kp["q_mvarh"] == pytest.approx(np.abs(q).sum() * dt)
    assert kp["curtailed_mwh"] == pytest.approx(0.2 * avail.sum() * dt)
    assert kp["pv_available_mwh"] == pytest.approx(avail.sum() * dt)
    assert kp["feeder_steps"] == 1.0 and kp["pf_failures"] == 0.0
    lp = env.day.load_p_mw[row].copy()
    lq = env.day.load_q_mvar[row].copy()
    lp[env.network.pv_bus] -= p
    lq[env.network.pv_bus] -= q
    ref = solve_power_flow(env.network, lp, lq)
    assert kp["loss_mwh"] == pytest.approx(ref.loss_mw * dt, rel=1e-9)
    exceed = np.maximum(np.maximum(0.95 - ref.vm_pu, ref.vm_pu - 1.05), 0.0)
    assert kp["in_band"] == float(not (exceed > 0).any())
    expect = (-(exceed / 0.01).sum() - 1.0 * (exceed > 0).any()
              - 1.0 * (ref.loss_mw + 0.2 * avail.sum()) - 0.1 * np.abs(q).sum())
    assert all(r == pytest.approx(expect, rel=1e-6) for r in rew.values())


def test_controllable_rate_is_per_feeder() -> None:
    env = make(scale="f4", day_of_year=15)
    steps = rollout(env, seed=7, steps=80)
    _, _, inf, _ = steps[-1]                                     # 19:45, evening peak
    firsts = [env.possible_agents[i] for i in env.layout.feeder_first]
    assert sum(inf[a]["kpi"]["feeder_steps"] for a in firsts) == 4.0
    assert all("feeder_steps" not in inf[a]["kpi"] for a in env.possible_agents if a not in firsts)
    for f, a in enumerate(firsts):
        agents = [x for x in env.possible_agents if x.startswith(f"f{f}_")]
        out = max(inf[x]["violations"]["bus_voltage"] for x in agents) > 0
        assert inf[a]["kpi"]["in_band"] == float(not out)


# -- power-flow failure inside an episode: counted, handled, never fatal -------------------------------

def test_voltage_collapse_trips_the_inverters_and_continues() -> None:
    """Every inverter absorbing its full rating at night drives the feeder past its loadability:
    the flow fails, is counted, the inverters trip for the interval and the loads are served."""
    env = make(day_of_year=15)
    env.reset(seed=3)
    acts = {a: np.array([-1.0, 0.0], dtype=np.float32) for a in env.agents}
    failures = 0
    while env.agents:
        _, rew, _, _, inf = env.step(acts)
        f = inf["f0_pv13"]["kpi"]["pf_failures"]
        failures += f
        if f:
            p, q = env.last_output
            assert np.all(p == 0) and np.all(q == 0)            # tripped
            v = env._meas[-1]["v"][:-1]
            assert v[1:].min() > 0.8                              # loads alone solve
            assert inf["f0_pv13"]["kpi"]["in_band"] == 0.0
            assert all(np.isfinite(r) for r in rew.values())
    assert failures > 0


def test_absurd_load_opens_the_feeder_breaker() -> None:
    env = make(load_scale=20.0)
    env.reset(seed=3)
    _, rew, _, _, inf = env.step(zeros(env))
    assert inf["f0_pv13"]["kpi"]["pf_failures"] == 1.0
    assert env._meas[-1]["v"][1:-1].max() == 0.0                 # dead feeder
    assert inf["f0_pv13"]["violations"]["bus_voltage"] == pytest.approx(0.95)
    assert all(np.isfinite(r) for r in rew.values())
